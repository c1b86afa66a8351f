/* cli.h: the options every certline program takes, in the same spelling everywhere:
 *   -c FILE   configuration file (default: /etc/certline/<program>.json)
 *   -n        check the configuration, print "<file>: configuration OK" and exit
 *   -l LEVEL  log level: error, warn, info (default) or debug
 *   -h        help (the options, then every configuration key)
 *   -V        version
 * Options come before a program's subcommand ("ca-server -c ca.json serve"). */
#ifndef CERTLINE_CLI_H
#define CERTLINE_CLI_H

#include <stddef.h>
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

/* A program's table of subcommands, whatever its entry type: an array ending with a NULL name,
 * each entry holding its name, argument synopsis and one-line summary as const char *. */
struct cl_command_table {
    const void *entries;
    size_t entry_size;
    size_t name, usage, summary; /* offsetof each field in the entry */
};
#define CL_COMMAND_TABLE(array, type)                                                              \
    {                                                                                              \
        (array), sizeof(type), offsetof(type, name), offsetof(type, usage),                        \
            offsetof(type, summary)                                                                \
    }

/* How a program dispatches to a subcommand. */
struct cl_dispatch {
    struct cl_program program;
    struct cl_command_table commands;
    const char *help_options; /* options in a command's --help line, e.g. "[-c FILE]" */
    const char *list_heading; /* the line before the list of commands */
    int name_width;           /* the column of the commands' names in that list */
    const char *list_footer;  /* after the list, or NULL */
    /* Optional: words after a command's name and summary in the list, and after its synopsis
     * in its --help (NULL for none). */
    const char *(*list_tag)(const void *command);
    const char *(*help_tag)(const void *command);
};

/* The subcommand to run: its entry in the table, its arguments (argv[0] is its name). */
struct cl_call {
    struct cl_cli cli;
    const void *command;
    int argc;
    char **argv;
};

/* cl_cli_start, then the subcommand: the list of commands after -h; "a command is needed" or
 * "unknown command" and the list on err (exit 2); "usage: ..." and its summary on out for
 * --help or -h after the command (exit 0). CL_CLI_RUN fills call. */
enum cl_cli_outcome cl_dispatch_start(const struct cl_dispatch *dispatch, int argc, char **argv,
                                      void *config, FILE *out, FILE *err, struct cl_call *call,
                                      int *exit_code);

/* The list of commands, as after -h. */
void cl_dispatch_list(const struct cl_dispatch *dispatch, FILE *out);

/* The entry named name in the table, or NULL. */
const void *cl_command_find(const struct cl_command_table *table, const char *name);

#endif
