/* password_hash.h: operator passwords as both stores keep them (comm-terminal's operators,
 * ca-server's CA operators): PBKDF2-HMAC-SHA256 with a random salt, checked in time that tells
 * nothing of the stored hash, nor of whether the operator exists. */
#ifndef CERTLINE_PASSWORD_HASH_H
#define CERTLINE_PASSWORD_HASH_H

#include <stddef.h>

#define CL_PASSWORD_MIN 8    /* bytes */
#define CL_PASSWORD_MAX 1024 /* bytes */
#define CL_PASSWORD_ITERATIONS 200000
#define CL_PASSWORD_ITERATIONS_MAX 10000000
#define CL_PASSWORD_SALT_LEN 16
#define CL_PASSWORD_HASH_LEN 32

struct cl_password_hash {
    unsigned char salt[CL_PASSWORD_SALT_LEN];
    unsigned iterations;
    unsigned char hash[CL_PASSWORD_HASH_LEN];
};

/* 1 if password's length is within CL_PASSWORD_MIN..CL_PASSWORD_MAX. */
int cl_password_length_ok(const char *password);

/* Hashes password with a fresh salt at CL_PASSWORD_ITERATIONS. CL_OK or a cl_err code. */
int cl_password_hash_new(const char *password, struct cl_password_hash *out);

/* Reads a stored record: salt and hash as stored, iterations as 4 big-endian bytes; 0 if any
 * length or the iteration count is out of bounds. */
int cl_password_hash_read(const void *salt, size_t salt_len, const void *iterations_be,
                          size_t iterations_len, const void *hash, size_t hash_len,
                          struct cl_password_hash *out);

/* Whether password matches stored (NULL: no such operator; the same work is done against a
 * salt no record has, and it never matches). 1 match, 0 not, a negative cl_err code if the
 * hash could not be computed. */
int cl_password_matches(const char *password, const struct cl_password_hash *stored);

/* Zeroises a record. */
void cl_password_hash_clear(struct cl_password_hash *hash);

#endif
