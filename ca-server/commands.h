/* commands.h: ca-server's subcommands, one function each, and what their files share. */
#ifndef CERTLINE_CA_COMMANDS_H
#define CERTLINE_CA_COMMANDS_H

#include <stddef.h>
#include <time.h>

#include "authority.h"
#include "ca_config.h"
#include "store.h"

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

/* "operator:<login of the real uid>" for the audit log, with " (sudo: <SUDO_USER>)" added when
 * that claims someone else. */
const char *ca_operator_name(void);

/* main.c: wipes and frees the passphrase main loaded for the command (the pointer the command
 * was given is then dangling): for serve, once the keys are open. */
void ca_passphrase_forget(void);

/* ---- shared by the commands' files ---- */

/* Open the store or the CA (the latter warns when the issuing CA is ending); on failure the
 * reason is on stderr and 1 is returned, else 0. */
int ca_open_store(const struct ca_config *config, struct ca_store **store);
int ca_open_authority(const struct ca_config *config, const char *passphrase,
                      struct ca_authority **authority);

/* The positional arguments: those not an option nor an option's value. values_of lists the
 * options that take a value. Up to max go to out; returns how many there are. */
int ca_positionals(int argc, char **argv, const char *const *values_of, char **out, int max);

/* number_list.c: the numbers in file (one a line, blank lines and # comments skipped; if file is
 * not NULL, at most max) or else the positional arguments
 * (values_of as for ca_positionals): 0, or the exit code (1, or 2 when none are given) after
 * saying why on stderr. Free *numbers and *buffer in either case. */
int ca_numbers_given(int argc, char **argv, const char *const *values_of, const char *file,
                     size_t max, char ***numbers, size_t *count, char **buffer);

/* t as "YYYY-MM-DDTHH:MM:SSZ", or "-" for 0. */
void ca_format_time(time_t t, char *buf, size_t len);

/* ---- the commands (argv[0] is the command's name; each returns the exit code) ---- */

/* commands_ca.c */
int ca_command_init(const struct ca_config *config, const char *passphrase, int argc, char **argv);
int ca_command_migrate(const struct ca_config *config, const char *passphrase, int argc,
                       char **argv);
int ca_command_issue_service(const struct ca_config *config, const char *passphrase, int argc,
                             char **argv);
/* commands_models.c */
int ca_command_model_add(const struct ca_config *config, const char *passphrase, int argc,
                         char **argv);
int ca_command_model_set(const struct ca_config *config, const char *passphrase, int argc,
                         char **argv);
int ca_command_model_list(const struct ca_config *config, const char *passphrase, int argc,
                          char **argv);
int ca_command_model_rotate(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv);
int ca_command_model_keys(const struct ca_config *config, const char *passphrase, int argc,
                          char **argv);
int ca_command_model_export(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv);
/* commands_batch.c */
int ca_command_batch(const struct ca_config *config, const char *passphrase, int argc, char **argv);
/* commands_reports.c */
int ca_command_import_reports(const struct ca_config *config, const char *passphrase, int argc,
                              char **argv);
/* commands_owners.c */
int ca_command_assign(const struct ca_config *config, const char *passphrase, int argc,
                      char **argv);
int ca_command_owners(const struct ca_config *config, const char *passphrase, int argc,
                      char **argv);
/* commands_certs.c */
int ca_command_list(const struct ca_config *config, const char *passphrase, int argc, char **argv);
int ca_command_show(const struct ca_config *config, const char *passphrase, int argc, char **argv);
int ca_command_revoke(const struct ca_config *config, const char *passphrase, int argc,
                      char **argv);
int ca_command_crl(const struct ca_config *config, const char *passphrase, int argc, char **argv);
int ca_command_audit(const struct ca_config *config, const char *passphrase, int argc, char **argv);
/* serve.c */
int ca_command_operator_add(const struct ca_config *config, const char *passphrase, int argc,
                            char **argv);
int ca_command_operator_state(const struct ca_config *config, const char *passphrase, int argc,
                              char **argv);
int ca_command_serve(const struct ca_config *config, const char *passphrase, int argc, char **argv);

#endif
