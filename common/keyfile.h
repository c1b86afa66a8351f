/* keyfile.h: secrets at rest (CA private keys, a model's pre-write key, peculiar-key generator
 * and common-certificate key) in files encrypted under an operator passphrase: PBKDF2-HMAC-SHA256
 * (salt 16 bytes, iterations stored in the file, at least 100000) derives an AES-256-GCM key;
 * the file's label is bound as associated data. Files are written atomically with mode 0600.
 * Format (text, one line per field): "certline-keyfile v1", "label <label>", "kdf pbkdf2-sha256
 * <iterations> <salt hex>", "data <base64 of iv || ciphertext || tag>". The associated data is
 * "certline-keyfile v1" NUL label; iv is 12 bytes, tag 16, salt hex lower case. */
#ifndef CERTLINE_KEYFILE_H
#define CERTLINE_KEYFILE_H

#include <stddef.h>

#define CL_KEYFILE_MIN_ITERATIONS 100000
#define CL_KEYFILE_MAX_ITERATIONS 10000000 /* bounds the work a hostile file can ask for */
#define CL_KEYFILE_MAX_SECRET 16384
#define CL_PASSPHRASE_MAX 1024

/* Encrypts secret under passphrase and writes path (refusing to overwrite when exclusive). */
int cl_keyfile_write(const char *path, const char *label, const unsigned char *secret,
                     size_t secret_len, const char *passphrase, unsigned iterations, int exclusive);

/* Reads and decrypts path; label must match. *secret is malloc'd: the caller zeroises and frees
 * it. A wrong passphrase or a modified file gives CL_ERR_CRYPTO ("wrong passphrase or damaged
 * file"), never a partial secret. A well-formed file under another label gives
 * CL_ERR_INVALID_ARGUMENT (logged with both labels); the file's own errors come from
 * cl_read_file_capped (CL_ERR_NOT_FOUND, CL_ERR_PERMISSION, ...). */
int cl_keyfile_read(const char *path, const char *label, const char *passphrase,
                    unsigned char **secret, size_t *secret_len);

/* Reads a passphrase from a file (first line, without the newline; the file must not be readable
 * by group or others) or, when path is NULL, from the environment variable env_name, which is
 * then overwritten in place and removed from the environment (also when refused). Refuses an
 * empty or over-long passphrase. The result is malloc'd: zeroise and free it. */
int cl_passphrase_load(const char *path, const char *env_name, char **passphrase, char *err,
                       size_t errlen);

/* PBKDF2-HMAC-SHA256 of password (len bytes) with salt (salt_len bytes): out_len bytes into out.
 * CL_OK or CL_ERR_CRYPTO. */
int cl_pbkdf2_sha256(const void *password, size_t len, const unsigned char *salt, size_t salt_len,
                     unsigned iterations, unsigned char *out, size_t out_len);

/* Zeroises len bytes in a way the compiler keeps, then frees. */
void cl_secret_free(void *secret, size_t len);

#endif
