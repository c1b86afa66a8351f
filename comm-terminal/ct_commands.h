/* ct_commands.h: comm-terminal's subcommands. */
#ifndef CERTLINE_CT_COMMANDS_H
#define CERTLINE_CT_COMMANDS_H

#include "ct_runtime.h"

/* Who may run a command [0076]: anyone who can read the configuration (migrate, serve), or an
 * operator who logs in with an id and a password and whose role reaches the level. */
enum ct_access { CT_OPEN, CT_VIEW, CT_ACT, CT_ADMIN };

struct ct_command {
    const char *name;
    const char *usage;
    const char *summary;
    enum ct_access operator_action; /* above CT_OPEN: needs a login (roles: ct_role_level) */
    int needs_ca;                   /* talks to ca-server */
    int (*run)(struct ct_runtime *runtime, int argc, char **argv);
};

extern const struct ct_command ct_commands[];

int ct_command_serve(struct ct_runtime *runtime, int argc, char **argv); /* ct_serve.c */
/* ct_operators.c */
int ct_command_operator_add(struct ct_runtime *runtime, int argc, char **argv);
int ct_command_operator_state(struct ct_runtime *runtime, int argc, char **argv);
/* ct_models.c */
int ct_command_model_set(struct ct_runtime *runtime, int argc, char **argv);
int ct_command_models_sync(struct ct_runtime *runtime, int argc, char **argv);
/* ct_enter.c */
int ct_command_enter(struct ct_runtime *runtime, int argc, char **argv);
/* The check of a manual entry against the plan [input device 156]: CL_OK with *in_plan (number
 * is planned for date) and planned (the day it is planned for, "" if none);
 * CL_ERR_INVALID_ARGUMENT for a malformed number, another cl_err code if the store failed. */
int ct_enter_check(struct ct_store *store, const char *number, const char *date, char planned[11],
                   int *in_plan);

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

/* ct_models.c: one line on out per model of the plan (models, or every model if NULL) that
 * ca-server does not manage or does not know; returns how many. */
int ct_models_warn(struct ct_runtime *runtime, struct ct_store *store, const char *day,
                   const char *const *models, size_t count, FILE *out);

/* The first argument that is neither an option nor an option's value (ct_commands.c). */
const char *ct_positional(int argc, char **argv);

/* Checks --operator ID and its password and that the operator's role reaches level
 * (ct_operators.c); sets ct_operator. */
int ct_login(struct ct_runtime *runtime, int argc, char **argv, enum ct_access level, char *err,
             size_t errlen);

/* The operator who authenticated for this command ("" for none). */
extern char ct_operator[64];

#endif
