/* pack.h: the certificate pack [FIG 20: route certificate, client certificate, coded key] that
 * travels from ca-server through the comm-terminal and the factory terminal to the device, and
 * the two verification values that prove an installation [seed 004]. Format: PACK.md.
 *
 * The private key inside is encrypted (AES-256-GCM) under the device model's pre-write key, with
 * the device number and certificate serial bound as associated data: only the device firmware,
 * which holds the pre-write key, can read it. Nothing here logs or returns a key in clear except
 * cl_pack_open_key, for the device. */
#ifndef CERTLINE_PACK_H
#define CERTLINE_PACK_H

#include <stddef.h>

#define CL_PACK_VERSION 1
#define CL_PACK_MAX_BYTES 32768 /* also the bound of the wire contract */
#define CL_PREWRITE_KEY_BYTES 32
#define CL_KEY_ID_MAX 64
#define CL_VERIFY_HEX 64 /* a verification value: SHA-256, lower-case hex */

/* What goes into a pack (all PEM strings NUL-terminated). */
struct cl_pack_contents {
    const char *device_number;
    const char *model_code;
    const char *serial_hex;
    const char *key_type;  /* "p256", "rsa2048", "rsa3072" */
    const char *chain_pem; /* issuing CA then root */
    const char *certificate_pem;
    const char *key_id; /* names the pre-write key */
};

/* Builds the pack JSON (malloc'd, NUL-terminated) for a key given as DER, and the two
 * verification values over (device number, serial, certificate DER, key DER):
 *   device_value: SHA-256 under the tag "certline device-check v1" -- inside the pack, so the
 *                 device can check what it wrote;
 *   server_value: SHA-256 under the tag "certline install-proof v1" -- kept by ca-server only;
 *                 the device computes it after writing and sends it as the proof.
 * Neither value can be computed without the private key. */
int cl_pack_build(const struct cl_pack_contents *contents, const unsigned char *cert_der,
                  size_t cert_len, const unsigned char *key_der, size_t key_len,
                  const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES], char **pack_json,
                  char server_value[CL_VERIFY_HEX + 1]);

/* A parsed pack (strings owned by it). */
struct cl_pack {
    int version;
    char device_number[32];
    char model_code[16];
    char serial_hex[48];
    char key_type[16];
    char key_id[CL_KEY_ID_MAX + 1];
    char *chain_pem;
    char *certificate_pem;
    char device_value[CL_VERIFY_HEX + 1];
    unsigned char *sealed_key; /* iv || ciphertext || tag */
    size_t sealed_key_len;
};

/* Parses and validates a pack (bounded: CL_PACK_MAX_BYTES, every field checked); err says what
 * is wrong. Does not decrypt. */
int cl_pack_parse(const char *json, struct cl_pack *pack, char *err, size_t errlen);
void cl_pack_free(struct cl_pack *pack);

/* Device side: decrypts the key with the pre-write key (the associated data binds the device
 * number and serial, so a key cannot be moved to another pack). *key_der is malloc'd; the
 * caller zeroises and frees it. Returns CL_ERR_CRYPTO if it does not authenticate. */
int cl_pack_open_key(const struct cl_pack *pack,
                     const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES],
                     unsigned char **key_der, size_t *key_len);

/* The verification values for (device number, serial, certificate DER, key DER): the device's
 * check of the pack (CL_VERIFY_DEVICE) and its proof of installation (CL_VERIFY_SERVER). */
enum cl_verify_kind { CL_VERIFY_DEVICE, CL_VERIFY_SERVER };
void cl_verify_value(enum cl_verify_kind kind, const char *device_number, const char *serial_hex,
                     const unsigned char *cert_der, size_t cert_len, const unsigned char *key_der,
                     size_t key_len, char out[CL_VERIFY_HEX + 1]);
/* The same by the older names, which the tests still call. */
#define cl_verify_value_device(...) cl_verify_value(CL_VERIFY_DEVICE, __VA_ARGS__)
#define cl_verify_value_server(...) cl_verify_value(CL_VERIFY_SERVER, __VA_ARGS__)

#endif
