/* lifecycle.h: the issuing CA's remaining lifetime: the warning when less than
 * issuing_ca_warn_days are left (serve's log, every operator command), the refusal to issue once
 * it has ended, and the operator commands `ca-status` and `rollover` (rollover.h). */
#ifndef CERTLINE_CA_LIFECYCLE_H
#define CERTLINE_CA_LIFECYCLE_H

#include <stddef.h>
#include <time.h>

#include "ca_config.h"

enum ca_life { CA_LIFE_OK, CA_LIFE_ENDING, CA_LIFE_ENDED };

/* Where an issuing CA ending at not_after stands at now, with a one-line message for operators
 * (what is left and what to do) in msg. */
enum ca_life ca_life_of(const struct ca_config *config, time_t not_after, time_t now, char *msg,
                        size_t len);

/* For issuing: CL_ERR_STATE with err set once the issuing CA ending at not_after has ended;
 * while it is ending, logs the warning (at most once a day per process). CL_OK otherwise. */
int ca_life_check_issuing(const struct ca_config *config, time_t not_after, char *err,
                          size_t errlen);

/* Operator commands (commands.c's table). */
int ca_command_status(const struct ca_config *config, const char *passphrase, int argc,
                      char **argv);
int ca_command_rollover(const struct ca_config *config, const char *passphrase, int argc,
                        char **argv);

#endif
