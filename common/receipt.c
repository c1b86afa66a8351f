/* receipt.c: the dated installation receipt: its canonical text, signed with the issuing CA key
 * and checked against the root (ca_signature.c). Verification failures say why in err. */
#include "receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ca_signature.h"
#include "error.h"
#include "pack.h"
#include "x509_issue.h"

#define TEXT_MAX 256

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
    char text[TEXT_MAX], err[128];
    size_t text_len;

    if (signature_b64 != NULL)
        *signature_b64 = NULL;
    if (signer == NULL || signature_b64 == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((text_len = canonical_text(receipt, text, err, sizeof(err))) == 0)
        return CL_ERR_INVALID_ARGUMENT;
    return cl_ca_sign_text(signer, text, text_len, signature_b64);
}

int cl_receipt_verify(const struct cl_receipt *receipt, const char *signature_b64,
                      const char *signer_cert_pem, const char *trust_pem, char *err, size_t errlen)
{
    char text[TEXT_MAX], dummy[8], why[256];
    size_t text_len;

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
    return cl_ca_verify_text(text, text_len, signature_b64, signer_cert_pem, trust_pem,
                             "receipt refused", err, errlen);
}

int cl_receipt_verify_with(struct cl_ca_verifier *signer, const struct cl_receipt *receipt,
                           const char *signature_b64, char *err, size_t errlen)
{
    char text[TEXT_MAX], why[256];
    size_t text_len;

    if (receipt == NULL || signer == NULL) {
        snprintf(err, errlen, "receipt and signer are required");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((text_len = canonical_text(receipt, text, why, sizeof(why))) == 0) {
        snprintf(err, errlen, "receipt refused: %s", why);
        return CL_ERR_CRYPTO;
    }
    return cl_ca_verifier_check(signer, text, text_len, signature_b64, "receipt refused", err,
                                errlen);
}
