/* password_hash.c: operator password hashes (PBKDF2-HMAC-SHA256), made and checked. */
#include <string.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "keyfile.h"
#include "password_hash.h"
#include "x509_issue.h"

int cl_password_length_ok(const char *password)
{
    size_t n = password != NULL ? strnlen(password, CL_PASSWORD_MAX + 1) : 0;
    return n >= CL_PASSWORD_MIN && n <= CL_PASSWORD_MAX;
}

int cl_password_hash_new(const char *password, struct cl_password_hash *out)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (!cl_password_length_ok(password))
        return CL_ERR_INVALID_ARGUMENT;
    out->iterations = CL_PASSWORD_ITERATIONS;
    if ((rc = cl_random_bytes(out->salt, sizeof(out->salt))) != CL_OK ||
        (rc = cl_pbkdf2_sha256(password, strlen(password), out->salt, sizeof(out->salt),
                               out->iterations, out->hash, sizeof(out->hash))) != CL_OK)
        cl_password_hash_clear(out);
    return rc;
}

int cl_password_hash_read(const void *salt, size_t salt_len, const void *iterations_be,
                          size_t iterations_len, const void *hash, size_t hash_len,
                          struct cl_password_hash *out)
{
    const unsigned char *n = iterations_be;
    memset(out, 0, sizeof(*out));
    if (salt_len != CL_PASSWORD_SALT_LEN || iterations_len != 4 || hash_len != CL_PASSWORD_HASH_LEN)
        return 0;
    out->iterations =
        (unsigned)n[0] << 24 | (unsigned)n[1] << 16 | (unsigned)n[2] << 8 | (unsigned)n[3];
    if (out->iterations < CL_PASSWORD_ITERATIONS || out->iterations > CL_PASSWORD_ITERATIONS_MAX) {
        out->iterations = 0;
        return 0;
    }
    memcpy(out->salt, salt, CL_PASSWORD_SALT_LEN);
    memcpy(out->hash, hash, CL_PASSWORD_HASH_LEN);
    return 1;
}

int cl_password_matches(const char *password, const struct cl_password_hash *stored)
{
    /* An unknown or malformed id costs one hash too, with a salt no stored hash matches. */
    static const unsigned char dummy_salt[CL_PASSWORD_SALT_LEN] = "certline-nobody";
    const unsigned char *salt = stored != NULL ? stored->salt : dummy_salt;
    unsigned iterations = stored != NULL ? stored->iterations : CL_PASSWORD_ITERATIONS;
    unsigned char hash[CL_PASSWORD_HASH_LEN];
    size_t plen = password != NULL ? strnlen(password, CL_PASSWORD_MAX + 1) : 0;
    int too_long = plen > CL_PASSWORD_MAX;
    volatile unsigned char diff = 0;

    if (plen > CL_PASSWORD_MAX)
        plen = CL_PASSWORD_MAX; /* hashed all the same, refused below */
    int rc = cl_pbkdf2_sha256(password != NULL ? password : "", plen, salt, CL_PASSWORD_SALT_LEN,
                              iterations, hash, sizeof(hash));
    if (rc != CL_OK)
        return rc;
    for (size_t i = 0; i < sizeof(hash); i++)
        diff |= (unsigned char)(hash[i] ^ (stored != NULL ? stored->hash[i] : 0));
    mbedtls_platform_zeroize(hash, sizeof(hash));
    return stored != NULL && diff == 0 && plen >= 1 && !too_long;
}

void cl_password_hash_clear(struct cl_password_hash *hash)
{
    mbedtls_platform_zeroize(hash, sizeof(*hash));
}
