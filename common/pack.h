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

#define CL_PACK_VERSION 2       /* the highest read; 1 is read too, and written in file-key mode */
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

/* Builds a version 2 pack (PACK.md) for a key born in a PKCS#11 token that left it only wrapped:
 * wrapped_key is the token's CKM_AES_KEY_WRAP_PAD (RFC 5649) of the key's PKCS#8 under the
 * model's pre-write key; spki_der the key's SubjectPublicKeyInfo (the certificate's); proof_key
 * the 32 bytes cl_pack_proof_input and the pre-write key give (computed in the token). The
 * device value is over the certificate and SPKI, the server value over the certificate and the
 * proof key: ca-server never needs the private key, nor the pre-write key in clear. */
int cl_pack_build_wrapped(const struct cl_pack_contents *contents, const unsigned char *cert_der,
                          size_t cert_len, const unsigned char *wrapped_key, size_t wrapped_len,
                          const unsigned char *spki_der, size_t spki_len,
                          const unsigned char proof_key[32], char **pack_json,
                          char server_value[CL_VERIFY_HEX + 1]);

/* Version 2's proof key: AES-256-ECB under the pre-write key of the two halves of
 *   T = SHA-256("certline proof-key v2" 00 device_number 00 serial 00 certificate DER).
 * cl_pack_proof_input gives T (for a token to encrypt); cl_pack_proof_key does both steps in
 * software (the device). */
void cl_pack_proof_input(const char *device_number, const char *serial_hex,
                         const unsigned char *cert_der, size_t cert_len, unsigned char t[32]);
int cl_pack_proof_key(const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES],
                      const char *device_number, const char *serial_hex,
                      const unsigned char *cert_der, size_t cert_len, unsigned char out[32]);

/* A private key's (DER: SEC1, PKCS#1 or PKCS#8) SubjectPublicKeyInfo DER into out (cap bytes);
 * *len gets its length. CL_ERR_PARSE if the key does not parse. */
int cl_pack_key_spki(const unsigned char *key_der, size_t key_len, unsigned char *out, size_t cap,
                     size_t *len);

/* The device's values of an opened pack key (key_der as cl_pack_open_key returns it) for a pack
 * of version (1 or 2): device value, and server value (may be NULL; needs prewrite_key for
 * version 2). CL_ERR_PARSE if the key does not parse (version 2). */
int cl_pack_device_values(int version, const char *device_number, const char *serial_hex,
                          const unsigned char *cert_der, size_t cert_len,
                          const unsigned char *key_der, size_t key_len,
                          const unsigned char *prewrite_key, char device_value[CL_VERIFY_HEX + 1],
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
    unsigned char *sealed_key; /* v1: iv || ciphertext || tag; v2: RFC 5649 wrap of PKCS#8 */
    size_t sealed_key_len;
};

/* Parses and validates a pack (bounded: CL_PACK_MAX_BYTES, every field checked); err says what
 * is wrong. Does not decrypt. */
int cl_pack_parse(const char *json, struct cl_pack *pack, char *err, size_t errlen);
void cl_pack_free(struct cl_pack *pack);

/* Device side: decrypts the key with the pre-write key (version 1: the associated data binds the
 * device number and serial, so a key cannot be moved to another pack; version 2: RFC 5649
 * unwrap, the PKCS#8 key; what binds it is that it must match the pack's certificate, PACK.md).
 * *key_der is malloc'd; the caller zeroises and frees it. Returns CL_ERR_CRYPTO if it does not
 * authenticate. */
int cl_pack_open_key(const struct cl_pack *pack,
                     const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES],
                     unsigned char **key_der, size_t *key_len);

/* The verification values for (device number, serial, certificate DER, key DER): the device's
 * check of the pack (CL_VERIFY_DEVICE) and its proof of installation (CL_VERIFY_SERVER). */
enum cl_verify_kind {
    CL_VERIFY_DEVICE,
    CL_VERIFY_SERVER,
    CL_VERIFY_DEVICE_V2, /* version 2: key_der is the SubjectPublicKeyInfo */
    CL_VERIFY_SERVER_V2  /* version 2: key_der is the proof key (32 bytes) */
};
void cl_verify_value(enum cl_verify_kind kind, const char *device_number, const char *serial_hex,
                     const unsigned char *cert_der, size_t cert_len, const unsigned char *key_der,
                     size_t key_len, char out[CL_VERIFY_HEX + 1]);
/* The same by the older names, which the tests still call. */
#define cl_verify_value_device(...) cl_verify_value(CL_VERIFY_DEVICE, __VA_ARGS__)
#define cl_verify_value_server(...) cl_verify_value(CL_VERIFY_SERVER, __VA_ARGS__)

#endif
