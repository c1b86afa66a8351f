/* pack_install.h: the write module of seed 004 [steps 60-70, 90-110]: the acceptance checks a
 * pack must pass before the device answers S8 OK (nothing is changed by them), and the write
 * itself: the key opened with the pre-write key, re-sealed under the board's peculiar key,
 * written with the power-fail-safe slot scheme, read back from the flash file, opened again and
 * proven (device-side value recomputed and compared; server-side value computed as the proof). */
#ifndef CERTLINE_PACK_INSTALL_H
#define CERTLINE_PACK_INSTALL_H

#include <stddef.h>

#include "nv_image.h"
#include "pack.h"

struct mbedtls_x509_crt;

/* The exit status of a simulated power cut (the process stops dead, no cleanup). */
#define PI_POWER_CUT_EXIT 75

#define PI_REASON_MAX 256 /* the wire contract's bound on a reason */

/* S7 checks, in this order, each refusing with a one-line reason: the device number the request
 * names (claimed; NULL when there is none, e.g. `install`), the pack's and NVRAM's agree
 * ("device number mismatch: the plate says X, this device is Y"); model and key type are the
 * firmware's, the key id one it holds ("unknown pre-write key id: ... this firmware accepts A,
 * B"); the certificate chains to the firmware's root ("certificate does not chain to
 * this device's root"), is a device certificate whose subject carries this device number; the key
 * opens with the pre-write key and matches the certificate ("key does not match certificate");
 * the pack's device value is the one recomputed. known (may be NULL): a chain verified against
 * the same root just now (S7's factory terminal chain); if the pack's chain is its issuing CA,
 * byte for byte, only the certificate's own signature is checked (cc_verify_known). Returns
 * CL_OK, or a cl_err code with reason. */
int pi_accept(const struct nv_device *device, const char *claimed, const struct cl_pack *pack,
              const struct mbedtls_x509_crt *known, char *reason, size_t len);

/* The firmware's pre-write key named key_id (its first key or one of the next ones), or NULL:
 * a pack under any other key id is refused ("unknown pre-write key id ..."). */
const unsigned char *pi_prewrite_key(const struct nv_firmware *fw, const char *key_id);

struct pi_result {
    char serial_hex[NV_SERIAL_HEX_MAX + 1];
    char server_value[CL_VERIFY_HEX + 1]; /* the proof of installation */
    int slot;                             /* the slot now current */
};

/* Writes an accepted pack (see above). hooks (may be NULL) are nv_image's test hooks; a
 * simulated power cut ends the process at once with PI_POWER_CUT_EXIT. On any failure the NG is
 * counted in NVRAM (nv_count_failure) and reason says what failed, e.g. "flash write failed
 * (test hook)". Every clear copy of the key is wiped before returning. */
int pi_write(struct nv_device *device, const struct cl_pack *pack,
             const struct nv_write_hooks *hooks, struct pi_result *result, char *reason,
             size_t len);

#endif
