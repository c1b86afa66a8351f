/* da_commands.h: device-agent's subcommands, one function each, and the table main dispatches
 * from. Exit codes: 0 done (all checks pass, OK written, installed), 1 error, 2 usage, 3 a check
 * failed / the pack was refused (NG) / another state than installed, 75 a simulated power cut. */
#ifndef CERTLINE_DA_COMMANDS_H
#define CERTLINE_DA_COMMANDS_H

#include "da_config.h"

#define DA_EXIT_OK 0
#define DA_EXIT_ERROR 1
#define DA_EXIT_USAGE 2
#define DA_EXIT_FAILED 3

struct da_command {
    const char *name;
    const char *usage;                /* its arguments */
    const char *summary;              /* one line */
    const char *const *value_options; /* options taking a value (NULL-terminated) */
    const char *const *flag_options;  /* bare flags (NULL-terminated) */
    int positionals;                  /* positional arguments it needs */
    /* argv[0] is the command name; the options are already checked against the lists above. */
    int (*run)(const struct da_config *config, int argc, char **argv);
};

/* The table, ending with a NULL name. */
extern const struct da_command da_commands[];

int da_command_mkimage(const struct da_config *config, int argc, char **argv);
int da_command_install(const struct da_config *config, int argc, char **argv);
int da_command_check_in(const struct da_config *config, int argc, char **argv);
int da_command_show(const struct da_config *config, int argc, char **argv);  /* da_show.c */
int da_command_serve(const struct da_config *config, int argc, char **argv); /* da_serve.c */

/* An integer option's value within min..max; prints why not and returns -1. */
int da_int_option(const char *command, const char *name, const char *text, long long min,
                  long long max, long long *out);

/* The first positional argument (not an option nor an option's value), or NULL. */
const char *da_positional(const struct da_command *command, int argc, char **argv);

/* The command entry of name (for da_positional); NULL if none. */
const struct da_command *da_command_find(const char *name);

#endif
