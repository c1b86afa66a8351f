/* peculiar_key.h: the device's peculiar key [seed 004, steps 64-66, 100-102]: a key unique to
 * this board, derived when needed from the model's peculiar-key generator (program area) and the
 * board's own data (MAC address, device number), used to seal the private keys the device keeps
 * at rest, and wiped right after use. The key itself never leaves this module.
 *
 *   key    = HKDF-SHA256(ikm = generator (32 bytes), salt = "certline peculiar-key v1",
 *                        info = MAC (6 bytes) || device number), 32 bytes
 *   sealed = 0x01 || IV (12 random bytes) || AES-256-GCM ciphertext || tag (16 bytes)
 *   AAD    = "certline peculiar-seal v1" 00 purpose 00 device number 00 serial
 * where purpose is "device-key" (serial: the certificate serial, upper-case hex) or "common-key"
 * (serial: empty). A sealed key moved to another board, another device number, another purpose
 * or another certificate does not open. */
#ifndef CERTLINE_PECULIAR_KEY_H
#define CERTLINE_PECULIAR_KEY_H

#include <stddef.h>

#define PECULIAR_KEY_BYTES 32
#define PECULIAR_GENERATOR_BYTES 32
#define PECULIAR_MAC_BYTES 6
#define PECULIAR_SEAL_VERSION 1
#define PECULIAR_IV_BYTES 12
#define PECULIAR_TAG_BYTES 16
#define PECULIAR_OVERHEAD (1 + PECULIAR_IV_BYTES + PECULIAR_TAG_BYTES)
#define PECULIAR_PLAIN_MAX 4000 /* a DER private key (RSA-3072 is about 1,800 bytes) */

/* What the key is derived from: all three belong to this board. */
struct peculiar_identity {
    const unsigned char *generator; /* PECULIAR_GENERATOR_BYTES, from the program area */
    const unsigned char *mac;       /* PECULIAR_MAC_BYTES, from the fixed parameter area */
    const char *device_number;      /* from NVRAM */
};

enum peculiar_purpose {
    PECULIAR_DEVICE_KEY, /* the device's own private key, bound to its certificate serial */
    PECULIAR_COMMON_KEY, /* the model's common-certificate key [S1703] */
};

/* Seals plain (a DER private key, 1..PECULIAR_PLAIN_MAX bytes) under the peculiar key of id.
 * serial_hex is the certificate serial for PECULIAR_DEVICE_KEY and must be NULL or "" for
 * PECULIAR_COMMON_KEY. *sealed is malloc'd (plain_len + PECULIAR_OVERHEAD bytes). Returns CL_OK,
 * CL_ERR_INVALID_ARGUMENT, CL_ERR_NOMEM or CL_ERR_CRYPTO. The peculiar key is wiped before
 * returning. */
int peculiar_seal(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                  const char *serial_hex, const unsigned char *plain, size_t plain_len,
                  unsigned char **sealed, size_t *sealed_len);

/* Opens what peculiar_seal made with the same id, purpose and serial. *plain is malloc'd: the
 * caller zeroises and frees it (cl_secret_free). Returns CL_ERR_CRYPTO if it does not
 * authenticate (other board, number, purpose or serial, or damaged), CL_ERR_PARSE if the blob
 * is not a version-1 sealed key, and never a partial key. */
int peculiar_open(const struct peculiar_identity *id, enum peculiar_purpose purpose,
                  const char *serial_hex, const unsigned char *sealed, size_t sealed_len,
                  unsigned char **plain, size_t *plain_len);

#endif
