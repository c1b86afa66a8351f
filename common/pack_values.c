/* pack_values.c: the two verification values of a pack [seed 004] (PACK.md): the device value,
 * which the device checks what it wrote against, and the server value, its proof of installation;
 * version 1 over the key DER, version 2 over what ca-server has of a key born in a token. */
#include <stdint.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "error.h"
#include "pack.h"

/* ---- verification values ---- */

static void put_u32(mbedtls_sha256_context *sha, size_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    mbedtls_sha256_update_ret(sha, b, sizeof(b));
}

/* SHA-256(tag NUL device_number NUL serial NUL u32be(cert_len) cert u32be(key_len) key), as
 * lower-case hex; "" if an input is missing or too large. */
static void verify_value(const char *tag, const char *device_number, const char *serial_hex,
                         const unsigned char *cert_der, size_t cert_len,
                         const unsigned char *key_der, size_t key_len, char out[CL_VERIFY_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    mbedtls_sha256_context sha;
    unsigned char hash[32];

    if (out == NULL)
        return;
    out[0] = '\0';
    if (device_number == NULL || serial_hex == NULL || (cert_der == NULL && cert_len > 0) ||
        (key_der == NULL && key_len > 0) || cert_len > UINT32_MAX || key_len > UINT32_MAX)
        return;
    mbedtls_sha256_init(&sha);
    if (mbedtls_sha256_starts_ret(&sha, 0) == 0 &&
        mbedtls_sha256_update_ret(&sha, (const unsigned char *)tag, strlen(tag) + 1) == 0 &&
        mbedtls_sha256_update_ret(&sha, (const unsigned char *)device_number,
                                  strlen(device_number) + 1) == 0 &&
        mbedtls_sha256_update_ret(&sha, (const unsigned char *)serial_hex,
                                  strlen(serial_hex) + 1) == 0) {
        put_u32(&sha, cert_len);
        mbedtls_sha256_update_ret(&sha, cert_der, cert_len);
        put_u32(&sha, key_len);
        mbedtls_sha256_update_ret(&sha, key_der, key_len);
        if (mbedtls_sha256_finish_ret(&sha, hash) == 0) {
            for (size_t i = 0; i < sizeof(hash); i++) {
                out[2 * i] = digits[hash[i] >> 4];
                out[2 * i + 1] = digits[hash[i] & 0x0f];
            }
            out[CL_VERIFY_HEX] = '\0';
        }
    }
    mbedtls_sha256_free(&sha);
    mbedtls_platform_zeroize(hash, sizeof(hash));
}

void cl_verify_value(enum cl_verify_kind kind, const char *device_number, const char *serial_hex,
                     const unsigned char *cert_der, size_t cert_len, const unsigned char *key_der,
                     size_t key_len, char out[CL_VERIFY_HEX + 1])
{
    static const char *const tags[] = {
        [CL_VERIFY_DEVICE] = "certline device-check v1",
        [CL_VERIFY_SERVER] = "certline install-proof v1",
        [CL_VERIFY_DEVICE_V2] = "certline device-check v2",
        [CL_VERIFY_SERVER_V2] = "certline install-proof v2",
    };
    if ((size_t)kind < sizeof(tags) / sizeof(tags[0]))
        verify_value(tags[kind], device_number, serial_hex, cert_der, cert_len, key_der, key_len,
                     out);
    else if (out != NULL)
        out[0] = '\0';
}

/* ---- version 2 (PACK.md): what a token-born key gives ca-server ---- */

#define PROOF_LABEL "certline proof-key v2"
#define SPKI_MAX 1024 /* an RSA-3072 SubjectPublicKeyInfo is 422 bytes */

void cl_pack_proof_input(const char *device_number, const char *serial_hex,
                         const unsigned char *cert_der, size_t cert_len, unsigned char t[32])
{
    mbedtls_sha256_context sha;

    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    mbedtls_sha256_update_ret(&sha, (const unsigned char *)PROOF_LABEL, sizeof(PROOF_LABEL));
    mbedtls_sha256_update_ret(&sha, (const unsigned char *)device_number,
                              strlen(device_number) + 1);
    mbedtls_sha256_update_ret(&sha, (const unsigned char *)serial_hex, strlen(serial_hex) + 1);
    mbedtls_sha256_update_ret(&sha, cert_der, cert_len);
    mbedtls_sha256_finish_ret(&sha, t);
    mbedtls_sha256_free(&sha);
}

int cl_pack_proof_key(const unsigned char prewrite_key[CL_PREWRITE_KEY_BYTES],
                      const char *device_number, const char *serial_hex,
                      const unsigned char *cert_der, size_t cert_len, unsigned char out[32])
{
    unsigned char t[32];
    mbedtls_aes_context aes;
    int ret;

    if (prewrite_key == NULL || device_number == NULL || serial_hex == NULL || cert_der == NULL ||
        out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    cl_pack_proof_input(device_number, serial_hex, cert_der, cert_len, t);
    mbedtls_aes_init(&aes);
    ret = mbedtls_aes_setkey_enc(&aes, prewrite_key, 256);
    if (ret == 0)
        ret = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, t, out);
    if (ret == 0)
        ret = mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, t + 16, out + 16);
    mbedtls_aes_free(&aes);
    mbedtls_platform_zeroize(t, sizeof(t));
    if (ret != 0) {
        mbedtls_platform_zeroize(out, 32);
        return CL_ERR_CRYPTO;
    }
    return CL_OK;
}

int cl_pack_key_spki(const unsigned char *key_der, size_t key_len, unsigned char *out, size_t cap,
                     size_t *len)
{
    mbedtls_pk_context pk;
    int n;

    mbedtls_pk_init(&pk);
    if (key_der == NULL || out == NULL || len == NULL ||
        mbedtls_pk_parse_key(&pk, key_der, key_len, NULL, 0) != 0) {
        mbedtls_pk_free(&pk);
        return CL_ERR_PARSE;
    }
    n = mbedtls_pk_write_pubkey_der(&pk, out, cap); /* written at the end of out */
    mbedtls_pk_free(&pk);                           /* zeroises the key */
    if (n <= 0)
        return CL_ERR_PARSE;
    memmove(out, out + cap - (size_t)n, (size_t)n);
    *len = (size_t)n;
    return CL_OK;
}

int cl_pack_device_values(int version, const char *device_number, const char *serial_hex,
                          const unsigned char *cert_der, size_t cert_len,
                          const unsigned char *key_der, size_t key_len,
                          const unsigned char *prewrite_key, char device_value[CL_VERIFY_HEX + 1],
                          char server_value[CL_VERIFY_HEX + 1])
{
    unsigned char spki[SPKI_MAX], proof[32];
    size_t spki_len = 0;
    int rc;

    if (version == 1) {
        if (device_value != NULL)
            cl_verify_value(CL_VERIFY_DEVICE, device_number, serial_hex, cert_der, cert_len,
                            key_der, key_len, device_value);
        if (server_value != NULL)
            cl_verify_value(CL_VERIFY_SERVER, device_number, serial_hex, cert_der, cert_len,
                            key_der, key_len, server_value);
        return CL_OK;
    }
    if (version != 2 || (server_value != NULL && prewrite_key == NULL))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pack_key_spki(key_der, key_len, spki, sizeof(spki), &spki_len)) != CL_OK)
        return rc;
    if (device_value != NULL)
        cl_verify_value(CL_VERIFY_DEVICE_V2, device_number, serial_hex, cert_der, cert_len, spki,
                        spki_len, device_value);
    if (server_value != NULL) {
        rc = cl_pack_proof_key(prewrite_key, device_number, serial_hex, cert_der, cert_len, proof);
        if (rc == CL_OK)
            cl_verify_value(CL_VERIFY_SERVER_V2, device_number, serial_hex, cert_der, cert_len,
                            proof, sizeof(proof), server_value);
        mbedtls_platform_zeroize(proof, sizeof(proof));
    }
    return rc;
}
