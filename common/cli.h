/* cli.h: the options every certline program takes, in the same spelling everywhere:
 *   -c FILE   configuration file (default: /etc/certline/<program>.json)
 *   -n        check the configuration, print "<file>: configuration OK" and exit
 *   -l LEVEL  log level: error, warn, info (default) or debug
 *   -h        help (the options, then every configuration key)
 *   -V        version
 * Options come before a program's subcommand ("ca-server -c ca.json serve"). */
#ifndef CERTLINE_CLI_H
#define CERTLINE_CLI_H

#include <stdio.h>

#include "config.h"
#include "log.h"

struct cl_program {
    const char *name;    /* "ca-server" */
    const char *summary; /* one line for -h */
    const char *usage;   /* subcommands, e.g. "serve | init | issue ..." */
    const struct cl_cfg_table *config_table;
    /* Optional deeper check of a loaded configuration for -n (files readable, keys matching
     * certificates, ...); returns CL_OK or writes why into err. Subcommands that create those
     * files (e.g. init) must still run without them, so it is not run otherwise. */
    int (*check_config)(const void *config, char *err, size_t errlen);
};

struct cl_cli {
    char config_path[4096];
    int check_only;
    int help_shown; /* -h: the caller may add its own list of subcommands */
    enum cl_log_level log_level;
    int first_argument; /* index in argv of the subcommand (== argc if none) */
};

/* What the caller does next. */
enum cl_cli_outcome {
    CL_CLI_RUN,       /* configuration loaded: run */
    CL_CLI_EXIT_OK,   /* -h, -V or -n done: exit 0 */
    CL_CLI_EXIT_USAGE /* bad options or configuration, reported on err: exit 2 or 1 */
};

/* Parses the options, sets up logging (program name, level) and, unless -h or -V, loads the
 * configuration into config. Messages go to out (help, version, "configuration OK") and err
 * (problems, naming the file and key). Returns the outcome; *exit_code is what main returns
 * when the outcome is not CL_CLI_RUN (0, 1 for a bad configuration, 2 for bad options). */
enum cl_cli_outcome cl_cli_start(const struct cl_program *program, int argc, char **argv,
                                 struct cl_cli *cli, void *config, FILE *out, FILE *err,
                                 int *exit_code);

/* A subcommand's options (argv[0] is the subcommand): the value after "--name", or NULL; and
 * whether a bare "--flag" is present. */
const char *cl_arg_value(int argc, char **argv, const char *name);
int cl_arg_flag(int argc, char **argv, const char *name);

#endif
