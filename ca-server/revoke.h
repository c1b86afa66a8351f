/* revoke.h: revoking one certificate by its serial, as the `revoke` command and the console do. */
#ifndef CERTLINE_CA_REVOKE_H
#define CERTLINE_CA_REVOKE_H

#include "store.h"

/* Revokes the device certificate with this serial or, if no device certificate has it, the
 * service certificate (reason code and comment as ca_store_revoke_reason), audited under actor;
 * *kind says which ("device", "service"). CL_ERR_NOT_FOUND (no such serial), CL_ERR_STATE
 * (already superseded or revoked), or another cl_err code. A running serve's CRL publisher lists
 * it within CA_CRL_POLL_S (sooner when kicked). */
int ca_revoke(struct ca_store *store, const char *serial_hex, int reason_code, const char *comment,
              const char *actor, const char **kind);

#endif
