/* receipt.c: the dated installation receipt: ca-server signs its canonical text with the issuing
 * CA key, the comm-terminal checks the signer certificate (a CA that chains to the root) and the
 * signature. Verification failures say why in err. */
#include "receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "pack.h"
#include "x509_issue.h"

#define TEXT_MAX 256
#define SIGNATURE_B64_MAX (4 * ((CL_SIGNATURE_MAX + 2) / 3))
#define SIGNER_PEM_MAX 16384
#define TRUST_PEM_MAX 65536

static int valid_verification_value(const char *s)
{
    size_t n;

    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= CL_VERIFY_HEX || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return 0;
    return n == CL_VERIFY_HEX;
}

/* The canonical text into text; its length, or 0 (with a reason in err) if a field is invalid. */
static size_t canonical_text(const struct cl_receipt *r, char text[TEXT_MAX], char *err,
                             size_t errlen)
{
    int n;

    if (r == NULL) {
        snprintf(err, errlen, "no receipt");
        return 0;
    }
    if (!cl_device_number_valid(r->device_number)) {
        snprintf(err, errlen, "the device number is not 1 to 31 characters 0-9 A-Z a-z . -");
        return 0;
    }
    if (!cl_serial_hex_valid(r->serial_hex)) {
        snprintf(err, errlen, "the serial is not 2 to 40 upper-case hex digits");
        return 0;
    }
    if (!valid_verification_value(r->verification_value)) {
        snprintf(err, errlen, "the verification value is not %d lower-case hex digits",
                 CL_VERIFY_HEX);
        return 0;
    }
    if (r->received_at < 0) {
        snprintf(err, errlen, "the reception time is before 1970");
        return 0;
    }
    n = snprintf(text, TEXT_MAX, "certline-receipt v1\n%s\n%s\n%s\n%" PRIdMAX "\n",
                 r->device_number, r->serial_hex, r->verification_value, (intmax_t)r->received_at);
    if (n <= 0 || n >= TEXT_MAX) {
        snprintf(err, errlen, "the receipt text is too long");
        return 0;
    }
    return (size_t)n;
}

int cl_receipt_sign(struct cl_signer *signer, const struct cl_receipt *receipt,
                    char **signature_b64)
{
    unsigned char sig[CL_SIGNATURE_MAX];
    char text[TEXT_MAX], err[128], *b64;
    size_t text_len, sig_len = 0, b64_len;
    int rc;

    if (signature_b64 != NULL)
        *signature_b64 = NULL;
    if (signer == NULL || signature_b64 == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((text_len = canonical_text(receipt, text, err, sizeof(err))) == 0)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_signer_sign(signer, (const unsigned char *)text, text_len, sig, &sig_len)) !=
        CL_OK)
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

int cl_receipt_verify(const struct cl_receipt *receipt, const char *signature_b64,
                      const char *signer_cert_pem, const char *trust_pem, char *err, size_t errlen)
{
    unsigned char sig[CL_SIGNATURE_MAX], hash[32];
    char text[TEXT_MAX], dummy[8], why[256];
    mbedtls_x509_crt signer, trust;
    size_t text_len, b64_len, sig_len = 0;
    uint32_t flags = 0;
    int rc = CL_ERR_CRYPTO;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (receipt == NULL || signature_b64 == NULL || signer_cert_pem == NULL || trust_pem == NULL) {
        snprintf(err, errlen, "receipt, signature, signer certificate and trust are required");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((text_len = canonical_text(receipt, text, why, sizeof(why))) == 0) {
        snprintf(err, errlen, "receipt refused: %s", why);
        return CL_ERR_CRYPTO;
    }
    b64_len = strnlen(signature_b64, SIGNATURE_B64_MAX + 1);
    if (b64_len == 0 || b64_len > SIGNATURE_B64_MAX || b64_len % 4 != 0 ||
        strcspn(signature_b64, " \t\r\n") != b64_len ||
        mbedtls_base64_decode(sig, sizeof(sig), &sig_len, (const unsigned char *)signature_b64,
                              b64_len) != 0 ||
        sig_len == 0) {
        snprintf(err, errlen, "receipt refused: the signature is not base64 of at most %d bytes",
                 CL_SIGNATURE_MAX);
        return CL_ERR_CRYPTO;
    }
    mbedtls_x509_crt_init(&signer);
    mbedtls_x509_crt_init(&trust);
    if (parse_pem(&signer, signer_cert_pem, SIGNER_PEM_MAX) != 0) {
        snprintf(err, errlen, "receipt refused: the signer certificate does not parse");
        goto out;
    }
    if (parse_pem(&trust, trust_pem, TRUST_PEM_MAX) != 0) {
        snprintf(err, errlen, "receipt refused: the trusted root does not parse");
        goto out;
    }
    /* Only a CA may sign receipts: a device or service certificate also chains to the root, and
     * its key must not be able to vouch for an installation. */
    if (!signer.ca_istrue ||
        mbedtls_x509_crt_check_key_usage(&signer, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
        snprintf(err, errlen, "receipt refused: the signer certificate is not a CA certificate");
        goto out;
    }
    if (mbedtls_x509_crt_verify(&signer, &trust, NULL, NULL, &flags, NULL, NULL) != 0) {
        int n = mbedtls_x509_crt_verify_info(why, sizeof(why), "", flags);
        if (n > 0 && why[n - 1] == '\n')
            why[n - 1] = '\0';
        for (char *p = why; *p != '\0'; p++)
            if (*p == '\n')
                *p = ';';
        snprintf(err, errlen,
                 "receipt refused: the signer certificate does not chain to the "
                 "trusted root (%s)",
                 n > 0 ? why : "unknown reason");
        goto out;
    }
    if (mbedtls_sha256_ret((const unsigned char *)text, text_len, hash, 0) != 0 ||
        mbedtls_pk_verify(&signer.pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len) != 0) {
        snprintf(err, errlen,
                 "receipt refused: the signature does not match the receipt and the "
                 "signer's key");
        goto out;
    }
    rc = CL_OK;
out:
    mbedtls_x509_crt_free(&signer);
    mbedtls_x509_crt_free(&trust);
    return rc;
}
