/* transmission_key.h: the per-transmission key that binds a device's write result (S10) to the
 * certificate transmission (S7) it answers [FIG 23A/B].
 *
 * For each S7 the factory terminal draws a fresh key (256 bits) and a transmission id (128 bits)
 * from the process CSPRNG and sends both inside S7's TLS. The device keeps the key in memory for
 * that one write and sends in S10 the transmission id and
 *
 *   HMAC-SHA256(key, "certline write-result v1" 0x00
 *                    || u32be(len) transmission id || u32be(len) device number
 *                    || u32be(len) "OK" or "NG"   || u32be(len) reason
 *                    || u32be(len) certificate serial || u32be(len) verification value)
 *
 * as lower-case hex, each field as the text on the wire (an absent field is empty). The factory
 * terminal accepts the S10 only if the MAC verifies under the key of the S7 it sent for that
 * device: another device of the same model (which holds the same common certificate) cannot
 * write one. The key never goes into a log, a message or a file; cl_transmission_wipe clears it. */
#ifndef CERTLINE_TRANSMISSION_KEY_H
#define CERTLINE_TRANSMISSION_KEY_H

#include <stddef.h>

#define CL_TRANSMISSION_KEY_BYTES 32
#define CL_TRANSMISSION_KEY_HEX (2 * CL_TRANSMISSION_KEY_BYTES)
#define CL_TRANSMISSION_ID_BYTES 16
#define CL_TRANSMISSION_ID_HEX (2 * CL_TRANSMISSION_ID_BYTES)
#define CL_WRITE_RESULT_MAC_HEX 64 /* HMAC-SHA256, lower-case hex */

/* One S7's id (not secret, lower-case hex) and key (secret). */
struct cl_transmission {
    char id[CL_TRANSMISSION_ID_HEX + 1];
    unsigned char key[CL_TRANSMISSION_KEY_BYTES];
};

/* The fields of an S10 the MAC covers, as on the wire (NULL: absent, encoded as empty). */
struct cl_write_result_fields {
    const char *transmission_id;
    const char *device_number;
    int ok;
    const char *reason;
    const char *certificate_serial;
    const char *verification_value;
};

/* Factory terminal: a fresh id and key from the CSPRNG. Returns CL_OK or CL_ERR_CRYPTO. */
int cl_transmission_new(struct cl_transmission *t);

/* The key as lower-case hex for S7 (out: CL_TRANSMISSION_KEY_HEX + 1 bytes; wipe it after use). */
void cl_transmission_key_hex(const struct cl_transmission *t, char *out);

/* Device: the id and key as S7 carried them (exactly the lengths above, lower-case hex).
 * Returns CL_OK, or CL_ERR_INVALID_ARGUMENT (nothing of the key is kept). */
int cl_transmission_parse(const char *id_hex, const char *key_hex, struct cl_transmission *t);

/* Device: the MAC of an S10 under t's key, lower-case hex (out: CL_WRITE_RESULT_MAC_HEX + 1). The
 * fields' transmission id is the caller's (normally t->id). Returns CL_OK or CL_ERR_CRYPTO. */
int cl_write_result_mac(const struct cl_transmission *t, const struct cl_write_result_fields *f,
                        char *out);

/* Factory terminal: 1 if mac_hex is the MAC of f under t's key (compared in constant time), else
 * 0 (also for a malformed or missing MAC). */
int cl_write_result_mac_ok(const struct cl_transmission *t, const struct cl_write_result_fields *f,
                           const char *mac_hex);

/* 1 if s is exactly len lower-case hex digits (the wire form of ids, keys and MACs). */
int cl_lower_hex_ok(const char *s, size_t len);

/* Zeroises t (the key and the id). */
void cl_transmission_wipe(struct cl_transmission *t);

#endif
