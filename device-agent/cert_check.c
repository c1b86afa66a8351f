/* cert_check.c: certificate checks against the device's own root (mbedTLS X.509), key pair
 * matching, and the key and certificate conversions the device needs in memory. */
#include "cert_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "keyfile.h"

#define KEY_DER_MAX 4096

static int parse_pem(mbedtls_x509_crt *crt, const char *pem)
{
    return mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, strlen(pem) + 1) == 0
               ? CL_OK
               : CL_ERR_PARSE;
}

/* mbedTLS's verification text on one line, without its final newline. */
static void verify_text(uint32_t flags, char *out, size_t len)
{
    char buf[512];
    size_t n = 0;

    if (mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", flags) < 0)
        snprintf(buf, sizeof(buf), "verification flags 0x%08x", (unsigned)flags);
    for (const char *p = buf; *p != '\0' && n + 3 < len; p++) {
        if (*p == '\n') {
            if (p[1] != '\0') {
                out[n++] = ';';
                out[n++] = ' ';
            }
        } else {
            out[n++] = *p;
        }
    }
    if (len > 0)
        out[n < len ? n : len - 1] = '\0';
    if (n > 0 && out[0] >= 'A' && out[0] <= 'Z')
        out[0] = (char)(out[0] - 'A' + 'a');
}

/* 1 with *issuer parsed (one certificate) if the certificate that follows chain's leaf is, DER for
 * DER, the one that follows known's leaf (the issuing CA verified against the root with known)
 * and is inside its validity period now; else 0. */
static int known_issuer(const mbedtls_x509_crt *chain, const mbedtls_x509_crt *known,
                        mbedtls_x509_crt *issuer)
{
    const mbedtls_x509_crt *a = chain->next, *b = known != NULL ? known->next : NULL;

    if (a == NULL || a->raw.p == NULL || b == NULL || b->raw.p == NULL ||
        a->raw.len != b->raw.len || memcmp(a->raw.p, b->raw.p, a->raw.len) != 0 ||
        mbedtls_x509_time_is_past(&a->valid_to) || mbedtls_x509_time_is_future(&a->valid_from))
        return 0;
    return mbedtls_x509_crt_parse_der(issuer, a->raw.p, a->raw.len) == 0;
}

int cc_verify(const char *leaf_pem, const char *chain_pem, const char *root_pem,
              enum cc_usage usage, struct cl_peer *peer, char *reason, size_t len)
{
    return cc_verify_known(leaf_pem, chain_pem, root_pem, NULL, usage, peer, reason, len);
}

int cc_verify_known(const char *leaf_pem, const char *chain_pem, const char *root_pem,
                    const struct mbedtls_x509_crt *known, enum cc_usage usage, struct cl_peer *peer,
                    char *reason, size_t len)
{
    mbedtls_x509_crt chain, root, issuer;
    uint32_t flags = 0;
    char info[400];
    int rc = CL_ERR_PARSE;

    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&root);
    mbedtls_x509_crt_init(&issuer);
    if (leaf_pem == NULL || parse_pem(&chain, leaf_pem) != CL_OK || chain.next != NULL) {
        snprintf(reason, len, "the certificate does not parse (or is not exactly one)");
        goto out;
    }
    if (chain_pem != NULL && chain_pem[0] != '\0' && parse_pem(&chain, chain_pem) != CL_OK) {
        snprintf(reason, len, "the certificate chain does not parse");
        goto out;
    }
    if (root_pem == NULL || parse_pem(&root, root_pem) != CL_OK) {
        snprintf(reason, len, "this device's root certificate does not parse");
        goto out;
    }
    rc = CL_ERR_CRYPTO;
    /* The issuing CA verified against this root moments ago, alone as the trust anchor: only
     * the leaf's signature is checked. */
    if (mbedtls_x509_crt_verify(&chain, known_issuer(&chain, known, &issuer) ? &issuer : &root,
                                NULL, NULL, &flags, NULL, NULL) != 0) {
        verify_text(flags, info, sizeof(info));
        snprintf(reason, len, "certificate does not chain to this device's root (%s)", info);
        goto out;
    }
    if (mbedtls_x509_crt_check_extended_key_usage(&chain, MBEDTLS_OID_CLIENT_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)) != 0 ||
        (usage == CC_CLIENT_SERVER &&
         mbedtls_x509_crt_check_extended_key_usage(
             &chain, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0)) {
        snprintf(reason, len, "certificate is not for %s",
                 usage == CC_CLIENT ? "TLS clients" : "TLS clients and servers");
        goto out;
    }
    if (peer != NULL)
        cl_peer_from_cert(&chain, peer);
    rc = CL_OK;
out:
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&root);
    mbedtls_x509_crt_free(&issuer);
    return rc;
}

int cc_key_matches(const char *cert_pem, const unsigned char *key_der, size_t key_len)
{
    mbedtls_x509_crt crt;
    mbedtls_pk_context key;
    int rc = CL_ERR_PARSE;

    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&key);
    if (cert_pem == NULL || key_der == NULL || parse_pem(&crt, cert_pem) != CL_OK ||
        mbedtls_pk_parse_key(&key, key_der, key_len, NULL, 0) != 0)
        goto out;
    rc = mbedtls_pk_check_pair(&crt.pk, &key) == 0 ? CL_OK : CL_ERR_CRYPTO;
out:
    mbedtls_pk_free(&key); /* zeroises the key */
    mbedtls_x509_crt_free(&crt);
    return rc;
}

int cc_cert_der(const char *pem, unsigned char **der, size_t *der_len)
{
    mbedtls_x509_crt crt;
    int rc = CL_ERR_PARSE;

    *der = NULL;
    *der_len = 0;
    mbedtls_x509_crt_init(&crt);
    if (pem != NULL && parse_pem(&crt, pem) == CL_OK && crt.next == NULL) {
        rc = CL_ERR_NOMEM;
        if ((*der = malloc(crt.raw.len)) != NULL) {
            memcpy(*der, crt.raw.p, crt.raw.len);
            *der_len = crt.raw.len;
            rc = CL_OK;
        }
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

int cc_verify_values(int version, const char *device_number, const char *serial_hex,
                     const char *cert_pem, const unsigned char *key_der, size_t key_len,
                     const unsigned char *prewrite_key, char device_value[CL_VERIFY_HEX + 1],
                     char server_value[CL_VERIFY_HEX + 1])
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    int rc = cc_cert_der(cert_pem, &der, &der_len);

    if (rc != CL_OK)
        return rc;
    rc = cl_pack_device_values(version, device_number, serial_hex, der, der_len, key_der, key_len,
                               prewrite_key, device_value, server_value);
    free(der);
    return rc;
}

int cc_key_pem_to_der(const char *pem, unsigned char **der, size_t *der_len)
{
    mbedtls_pk_context key;
    unsigned char *buf, *out;
    int ret, rc = CL_ERR_PARSE;

    *der = NULL;
    *der_len = 0;
    if ((buf = calloc(1, KEY_DER_MAX)) == NULL)
        return CL_ERR_NOMEM;
    mbedtls_pk_init(&key);
    if (pem != NULL &&
        mbedtls_pk_parse_key(&key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0) == 0) {
        /* The DER is written at the end of the buffer. */
        ret = mbedtls_pk_write_key_der(&key, buf, KEY_DER_MAX);
        rc = CL_ERR_CRYPTO;
        if (ret > 0) {
            rc = CL_ERR_NOMEM;
            if ((out = malloc((size_t)ret)) != NULL) {
                memcpy(out, buf + KEY_DER_MAX - (size_t)ret, (size_t)ret);
                *der = out;
                *der_len = (size_t)ret;
                rc = CL_OK;
            }
        }
    }
    mbedtls_pk_free(&key);
    cl_secret_free(buf, KEY_DER_MAX);
    return rc;
}

int cc_equal(const char *a, const char *b, size_t len)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
