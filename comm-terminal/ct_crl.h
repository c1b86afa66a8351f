/* ct_crl.h: the CRL the comm-terminal holds for its lines (ct_crl.c): fetched from ca-server
 * (ca:RevocationList) or imported by an operator, verified by the holder, kept in the database,
 * enforced on both of the comm-terminal's TLS contexts and served to the factory terminals
 * (ct:RevocationList). */
#ifndef CERTLINE_CT_CRL_H
#define CERTLINE_CT_CRL_H

#include <cjson/cJSON.h>

#include "crl_holder.h"
#include "ct_runtime.h"

/* Makes the holder (policies and CAs from the configuration) and installs the CRL kept in the
 * database, if any. Does nothing if already done. CL_OK, or a cl_err code with err. */
int ct_crl_open(struct ct_runtime *runtime, char *err, size_t errlen);
void ct_crl_close(struct ct_runtime *runtime);

/* The holder, for cl_tls_check_revocation (NULL before ct_crl_open). */
struct cl_crl_holder *ct_crl_holder(struct ct_runtime *runtime);

/* One round: a newer CRL kept in the database (an operator's import) is installed, then
 * ca-server is asked for its current CRL; a newer one is verified, installed and kept. CL_OK
 * (newer or not), or a cl_err code with err (ca-server away, a CRL refused). */
int ct_crl_fetch(struct ct_runtime *runtime, char *err, size_t errlen);

/* Verifies a CRL (DER or PEM) as the holder does, installs it and keeps it. CL_OK,
 * CL_ERR_EXISTS (this number is already held), or the holder's refusal with err. */
int ct_crl_accept(struct ct_runtime *runtime, const unsigned char *data, size_t len, char *err,
                  size_t errlen);

/* What `status` shows: one line, or a JSON object. */
void ct_crl_print_status(struct ct_runtime *runtime);
cJSON *ct_crl_status_json(struct ct_runtime *runtime);

/* `comm-terminal crl-import FILE`: an operator's CRL (air-gapped sites). */
int ct_command_crl_import(struct ct_runtime *runtime, int argc, char **argv);

#endif
