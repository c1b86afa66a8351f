/* ca_signature.c: a text signed with the issuing CA key, and its check: the signer certificate
 * is a CA certificate that chains to the root, and the signature matches its key. */
#include "ca_signature.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "x509_issue.h"

#define SIGNATURE_B64_MAX (4 * ((CL_SIGNATURE_MAX + 2) / 3))
#define SIGNER_PEM_MAX 16384
#define TRUST_PEM_MAX 65536

int cl_ca_sign_text(struct cl_signer *signer, const char *text, size_t len, char **signature_b64)
{
    unsigned char sig[CL_SIGNATURE_MAX];
    size_t sig_len = 0, b64_len;
    char *b64;
    int rc;

    if (signature_b64 != NULL)
        *signature_b64 = NULL;
    if (signer == NULL || text == NULL || signature_b64 == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_signer_sign(signer, (const unsigned char *)text, len, sig, &sig_len)) != CL_OK)
        return rc;
    b64_len = 4 * ((sig_len + 2) / 3) + 1;
    if ((b64 = malloc(b64_len)) == NULL)
        return CL_ERR_NOMEM;
    if (mbedtls_base64_encode((unsigned char *)b64, b64_len, &b64_len, sig, sig_len) != 0) {
        free(b64);
        return CL_ERR_INTERNAL;
    }
    *signature_b64 = b64;
    return CL_OK;
}

/* Parses PEM text of at most max characters into chain. */
static int parse_pem(mbedtls_x509_crt *chain, const char *pem, size_t max)
{
    size_t len;

    if (pem == NULL || (len = strnlen(pem, max + 1)) == 0 || len > max)
        return -1;
    return mbedtls_x509_crt_parse(chain, (const unsigned char *)pem, len + 1) == 0 ? 0 : -1;
}

struct cl_ca_verifier {
    mbedtls_x509_crt signer;
};

/* Decodes a base64 signature of at most CL_SIGNATURE_MAX bytes into sig; CL_ERR_CRYPTO if it is
 * not one. */
static int decode_signature(const char *signature_b64, unsigned char sig[CL_SIGNATURE_MAX],
                            size_t *sig_len, const char *what, char *err, size_t errlen)
{
    size_t b64_len = strnlen(signature_b64, SIGNATURE_B64_MAX + 1);

    *sig_len = 0;
    if (b64_len == 0 || b64_len > SIGNATURE_B64_MAX || b64_len % 4 != 0 ||
        strcspn(signature_b64, " \t\r\n") != b64_len ||
        mbedtls_base64_decode(sig, CL_SIGNATURE_MAX, sig_len, (const unsigned char *)signature_b64,
                              b64_len) != 0 ||
        *sig_len == 0) {
        snprintf(err, errlen, "%s: the signature is not base64 of at most %d bytes", what,
                 CL_SIGNATURE_MAX);
        return CL_ERR_CRYPTO;
    }
    return CL_OK;
}

int cl_ca_verifier_new(const char *signer_cert_pem, const char *trust_pem, const char *what,
                       struct cl_ca_verifier **out, char *err, size_t errlen)
{
    struct cl_ca_verifier *v;
    mbedtls_x509_crt trust;
    char why[256];
    uint32_t flags = 0;
    int rc = CL_ERR_CRYPTO;

    *out = NULL;
    if (signer_cert_pem == NULL || trust_pem == NULL) {
        snprintf(err, errlen, "%s: signer certificate and trust are required", what);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((v = calloc(1, sizeof(*v))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", what);
        return CL_ERR_NOMEM;
    }
    mbedtls_x509_crt_init(&v->signer);
    mbedtls_x509_crt_init(&trust);
    if (parse_pem(&v->signer, signer_cert_pem, SIGNER_PEM_MAX) != 0) {
        snprintf(err, errlen, "%s: the signer certificate does not parse", what);
        goto out;
    }
    if (parse_pem(&trust, trust_pem, TRUST_PEM_MAX) != 0) {
        snprintf(err, errlen, "%s: the trusted root does not parse", what);
        goto out;
    }
    /* Only a CA may sign: a device or service certificate also chains to the root, and its key
     * must not be able to vouch for an installation or a batch. */
    if (!v->signer.ca_istrue ||
        mbedtls_x509_crt_check_key_usage(&v->signer, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
        snprintf(err, errlen, "%s: the signer certificate is not a CA certificate", what);
        goto out;
    }
    if (mbedtls_x509_crt_verify(&v->signer, &trust, NULL, NULL, &flags, NULL, NULL) != 0) {
        int n = mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
        if (n > 0 && why[n - 1] == '\n')
            why[n - 1] = '\0';
        for (char *p = why; *p != '\0'; p++)
            if (*p == '\n')
                *p = ';';
        snprintf(err, errlen, "%s: the signer certificate does not chain to the trusted root (%s)",
                 what, n > 0 ? why : "unknown reason");
        goto out;
    }
    rc = CL_OK;
out:
    mbedtls_x509_crt_free(&trust);
    if (rc == CL_OK)
        *out = v;
    else
        cl_ca_verifier_free(v);
    return rc;
}

int cl_ca_verifier_check(struct cl_ca_verifier *v, const char *text, size_t len,
                         const char *signature_b64, const char *what, char *err, size_t errlen)
{
    unsigned char sig[CL_SIGNATURE_MAX], hash[32];
    size_t sig_len;
    int rc;

    if (v == NULL || text == NULL || signature_b64 == NULL) {
        snprintf(err, errlen, "%s: text and signature are required", what);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = decode_signature(signature_b64, sig, &sig_len, what, err, errlen)) != CL_OK)
        return rc;
    if (mbedtls_sha256_ret((const unsigned char *)text, len, hash, 0) != 0 ||
        mbedtls_pk_verify(&v->signer.pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len) !=
            0) {
        snprintf(err, errlen, "%s: the signature does not match the %s and the signer's key", what,
                 strncmp(what, "receipt", 7) == 0 ? "receipt" : "signed text");
        return CL_ERR_CRYPTO;
    }
    return CL_OK;
}

void cl_ca_verifier_free(struct cl_ca_verifier *v)
{
    if (v == NULL)
        return;
    mbedtls_x509_crt_free(&v->signer);
    free(v);
}

int cl_ca_verify_text(const char *text, size_t len, const char *signature_b64,
                      const char *signer_cert_pem, const char *trust_pem, const char *what,
                      char *err, size_t errlen)
{
    unsigned char sig[CL_SIGNATURE_MAX];
    struct cl_ca_verifier *v = NULL;
    char dummy[8];
    size_t sig_len;
    int rc;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (text == NULL || signature_b64 == NULL || signer_cert_pem == NULL || trust_pem == NULL) {
        snprintf(err, errlen, "%s: text, signature, signer certificate and trust are required",
                 what);
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* The signature's form first, then the signer, then the signature itself. */
    if ((rc = decode_signature(signature_b64, sig, &sig_len, what, err, errlen)) != CL_OK ||
        (rc = cl_ca_verifier_new(signer_cert_pem, trust_pem, what, &v, err, errlen)) != CL_OK)
        return rc;
    rc = cl_ca_verifier_check(v, text, len, signature_b64, what, err, errlen);
    cl_ca_verifier_free(v);
    return rc;
}
