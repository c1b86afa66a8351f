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

/* The first argument that is neither an option nor an option's value (ct_commands.c). */
const char *ct_positional(int argc, char **argv);

/* offline_batch.c, offline_reports.c and service_part.c: the factory cut off from the service
 * centre [seed 004] and service parts [FIG 17 S1704/S1705]. */
int ct_command_import_batch(struct ct_runtime *runtime, int argc, char **argv);
int ct_command_export_reports(struct ct_runtime *runtime, int argc, char **argv);
int ct_command_import_receipts(struct ct_runtime *runtime, int argc, char **argv);
int ct_command_export_pack(struct ct_runtime *runtime, int argc, char **argv);
int ct_command_record_write(struct ct_runtime *runtime, int argc, char **argv);

/* This comm-terminal's name: the CN of its certificate (tls.cert_file), which ca-server knows
 * its factory by (offline_batch.c). */
int ct_factory_name(const struct ct_config *config, char *name, size_t len, char *err,
                    size_t errlen);

/* The root this comm-terminal trusts (tls.trust_file), malloc'd (offline_batch.c). */
int ct_trusted_root(const struct ct_config *config, char **pem, char *err, size_t errlen);

/* Checks --operator ID and its password (ct_operators.c); sets ct_operator. */
int ct_login(struct ct_runtime *runtime, int argc, char **argv, char *err, size_t errlen);

/* The operator who authenticated for this command ("" for none). */
extern char ct_operator[64];

#endif
