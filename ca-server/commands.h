/* commands.h: ca-server's subcommands, one function each. */
#ifndef CERTLINE_CA_COMMANDS_H
#define CERTLINE_CA_COMMANDS_H

#include "ca_config.h"

struct ca_command {
    const char *name;
    const char *usage;   /* arguments */
    const char *summary; /* one line */
    int needs_passphrase;
    /* argv[0] is the command name. Returns the process exit code. */
    int (*run)(const struct ca_config *config, const char *passphrase, int argc, char **argv);
};

/* The table, ending with a NULL name. */
extern const struct ca_command ca_commands[];

/* "operator:<login>" for the audit log. */
const char *ca_operator_name(void);

/* serve (serve.c) */
int ca_command_serve(const struct ca_config *config, const char *passphrase, int argc, char **argv);

#endif
