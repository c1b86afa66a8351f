/* key_wrap.c: AES key wrap with padding (RFC 5649) on mbedTLS's AES-ECB block function. */
#include "key_wrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/platform_util.h>

#include "error.h"

/* The alternative initial value's constant half (RFC 5649 section 3). */
static const unsigned char AIV[4] = {0xA6, 0x59, 0x59, 0xA6};

size_t cl_kwp_wrapped_len(size_t in_len)
{
    return 8 + (in_len + 7) / 8 * 8;
}

static int kek_ok(size_t kek_len)
{
    return kek_len == 16 || kek_len == 24 || kek_len == 32;
}

/* RFC 3394 W over a (8 bytes) and r (n 64-bit blocks, n >= 2), in place. */
static int wrap_blocks(mbedtls_aes_context *aes, unsigned char a[8], unsigned char *r, size_t n)
{
    unsigned char b[16];
    int rc = 0;

    for (uint64_t j = 0; j <= 5 && rc == 0; j++)
        for (size_t i = 0; i < n && rc == 0; i++) {
            uint64_t t = n * j + i + 1;
            memcpy(b, a, 8);
            memcpy(b + 8, r + 8 * i, 8);
            rc = mbedtls_aes_crypt_ecb(aes, MBEDTLS_AES_ENCRYPT, b, b);
            for (int k = 0; k < 8; k++)
                a[k] = b[k] ^ (unsigned char)(t >> (56 - 8 * k));
            memcpy(r + 8 * i, b + 8, 8);
        }
    mbedtls_platform_zeroize(b, sizeof(b));
    return rc;
}

/* RFC 3394 W^-1, in place. */
static int unwrap_blocks(mbedtls_aes_context *aes, unsigned char a[8], unsigned char *r, size_t n)
{
    unsigned char b[16];
    int rc = 0;

    for (uint64_t j = 6; j-- > 0 && rc == 0;)
        for (size_t i = n; i-- > 0 && rc == 0;) {
            uint64_t t = n * j + i + 1;
            for (int k = 0; k < 8; k++)
                b[k] = a[k] ^ (unsigned char)(t >> (56 - 8 * k));
            memcpy(b + 8, r + 8 * i, 8);
            rc = mbedtls_aes_crypt_ecb(aes, MBEDTLS_AES_DECRYPT, b, b);
            memcpy(a, b, 8);
            memcpy(r + 8 * i, b + 8, 8);
        }
    mbedtls_platform_zeroize(b, sizeof(b));
    return rc;
}

int cl_kwp_wrap(const unsigned char *kek, size_t kek_len, const unsigned char *in, size_t in_len,
                unsigned char *out, size_t *out_len)
{
    size_t padded = (in_len + 7) / 8 * 8;
    mbedtls_aes_context aes;
    unsigned char a[8];
    int rc;

    if (kek == NULL || !kek_ok(kek_len) || in == NULL || in_len == 0 || in_len > CL_KWP_MAX_INPUT ||
        out == NULL || out_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memcpy(a, AIV, 4);
    for (int k = 0; k < 4; k++)
        a[4 + k] = (unsigned char)(in_len >> (24 - 8 * k));
    memset(out + 8, 0, padded);
    memcpy(out + 8, in, in_len);
    mbedtls_aes_init(&aes);
    rc = mbedtls_aes_setkey_enc(&aes, kek, (unsigned)kek_len * 8);
    if (rc == 0 && padded == 8) { /* one block: AES(AIV || P) */
        memcpy(out, a, 8);
        rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, out, out);
    } else if (rc == 0) {
        rc = wrap_blocks(&aes, a, out + 8, padded / 8);
        memcpy(out, a, 8);
    }
    mbedtls_aes_free(&aes);
    if (rc != 0) {
        mbedtls_platform_zeroize(out, 8 + padded);
        return CL_ERR_CRYPTO;
    }
    *out_len = 8 + padded;
    return CL_OK;
}

int cl_kwp_unwrap(const unsigned char *kek, size_t kek_len, const unsigned char *in, size_t in_len,
                  unsigned char **out, size_t *out_len)
{
    size_t n, mli = 0;
    unsigned char a[8], *r, bad = 0;
    mbedtls_aes_context aes;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out_len != NULL)
        *out_len = 0;
    if (kek == NULL || !kek_ok(kek_len) || in == NULL || out == NULL || out_len == NULL ||
        in_len < 16 || in_len > CL_KWP_MAX_INPUT + 8 || in_len % 8 != 0)
        return CL_ERR_INVALID_ARGUMENT;
    n = in_len / 8 - 1;
    if ((r = malloc(in_len)) == NULL)
        return CL_ERR_NOMEM;
    mbedtls_aes_init(&aes);
    rc = mbedtls_aes_setkey_dec(&aes, kek, (unsigned)kek_len * 8);
    if (rc == 0 && n == 1) { /* one block */
        rc = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_DECRYPT, in, r);
        memcpy(a, r, 8);
        memmove(r, r + 8, 8);
    } else if (rc == 0) {
        memcpy(a, in, 8);
        memcpy(r, in + 8, 8 * n);
        rc = unwrap_blocks(&aes, a, r, n);
    }
    mbedtls_aes_free(&aes);
    /* The checks of RFC 5649 section 3: the AIV, the length within the last block, zero padding. */
    for (int k = 0; k < 4; k++) {
        bad |= (unsigned char)(a[k] ^ AIV[k]);
        mli = (mli << 8) | a[4 + k];
    }
    if (rc != 0 || bad != 0 || mli <= 8 * (n - 1) || mli > 8 * n) {
        rc = CL_ERR_CRYPTO;
    } else {
        for (size_t i = mli; i < 8 * n; i++)
            bad |= r[i];
        rc = bad != 0 ? CL_ERR_CRYPTO : CL_OK;
    }
    mbedtls_platform_zeroize(a, sizeof(a));
    if (rc != CL_OK) {
        mbedtls_platform_zeroize(r, in_len);
        free(r);
        return rc;
    }
    mbedtls_platform_zeroize(r + mli, in_len - mli);
    *out = r;
    *out_len = mli;
    return CL_OK;
}
