/* ct_commands.h: comm-terminal's subcommands. */
#ifndef CERTLINE_CT_COMMANDS_H
#define CERTLINE_CT_COMMANDS_H

#include "ct_runtime.h"

struct ct_command {
    const char *name;
    const char *usage;
    const char *summary;
    int operator_action; /* needs an operator id and password, and is audited */
    int needs_ca;        /* talks to ca-server */
    int (*run)(struct ct_runtime *runtime, int argc, char **argv);
};

extern const struct ct_command ct_commands[];

int ct_command_serve(struct ct_runtime *runtime, int argc, char **argv);        /* ct_serve.c */
int ct_command_operator_add(struct ct_runtime *runtime, int argc, char **argv); /* ct_operators.c */

/* Checks --operator ID and its password (ct_operators.c); sets ct_operator. */
int ct_login(struct ct_runtime *runtime, int argc, char **argv, char *err, size_t errlen);

/* The operator who authenticated for this command ("" for none). */
extern char ct_operator[64];

#endif
