/* revoke.c: revoking one certificate by its serial, a device's or a service's. */
#include "revoke.h"

#include "error.h"

int ca_revoke(struct ca_store *store, const char *serial_hex, int reason_code, const char *comment,
              const char *actor, const char **kind)
{
    /* The serial names a device certificate or a service certificate, never both. */
    int rc = ca_store_revoke_reason(store, serial_hex, reason_code, comment, actor);
    *kind = "device";
    if (rc == CL_ERR_NOT_FOUND) {
        *kind = "service";
        rc = ca_store_service_revoke(store, serial_hex, reason_code, comment, actor);
    }
    return rc;
}
