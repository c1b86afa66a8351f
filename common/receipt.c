/* receipt.c: the dated installation receipt: its canonical text, signed with the issuing CA key
 * and checked against the root (ca_signature.c), alone or a batch at once under one signed
 * manifest of the receipts' digests. Verification failures say why in err. */
#include "receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "ca_signature.h"
#include "error.h"
#include "pack.h"
#include "x509_issue.h"

#define TEXT_MAX 256
#define DIGEST_HEX 64
#define HEADER_LEN (sizeof(CL_RECEIPT_MANIFEST_HEADER) - 1)

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

/* ---- batch-signed receipts ---- */

/* The lower-case hex SHA-256 of the receipt's canonical text into hex (NUL-terminated); 0, or -1
 * with err saying why. */
static int receipt_digest(const struct cl_receipt *r, char hex[DIGEST_HEX + 1], char *err,
                          size_t errlen)
{
    static const char digits[] = "0123456789abcdef";
    char text[TEXT_MAX];
    unsigned char hash[32];
    size_t len = canonical_text(r, text, err, errlen);

    if (len == 0)
        return -1;
    if (mbedtls_sha256_ret((const unsigned char *)text, len, hash, 0) != 0) {
        snprintf(err, errlen, "the receipt could not be hashed");
        return -1;
    }
    for (size_t i = 0; i < sizeof(hash); i++) {
        hex[2 * i] = digits[hash[i] >> 4];
        hex[2 * i + 1] = digits[hash[i] & 0xf];
    }
    hex[DIGEST_HEX] = '\0';
    return 0;
}

int cl_receipt_manifest(const struct cl_receipt *receipts, size_t count, char **manifest, char *err,
                        size_t errlen)
{
    char why[256], *out;
    size_t at = HEADER_LEN;

    if (manifest != NULL)
        *manifest = NULL;
    if (manifest == NULL || (receipts == NULL && count > 0)) {
        snprintf(err, errlen, "no receipts");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count < 1 || count > CL_RECEIPT_BATCH_MAX) {
        snprintf(err, errlen, "a receipt manifest holds 1 to %d receipts, not %zu",
                 CL_RECEIPT_BATCH_MAX, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((out = malloc(HEADER_LEN + count * (DIGEST_HEX + 1) + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    memcpy(out, CL_RECEIPT_MANIFEST_HEADER, HEADER_LEN);
    for (size_t i = 0; i < count; i++, at += DIGEST_HEX + 1) {
        if (receipt_digest(&receipts[i], out + at, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "receipt %zu of the batch: %s", i + 1, why);
            free(out);
            return CL_ERR_INVALID_ARGUMENT;
        }
        out[at + DIGEST_HEX] = '\n';
    }
    out[at] = '\0';
    *manifest = out;
    return CL_OK;
}

int cl_receipt_batch_sign(struct cl_signer *signer, const struct cl_receipt *receipts, size_t count,
                          char **manifest, char **signature_b64, char *err, size_t errlen)
{
    int rc;

    if (signature_b64 != NULL)
        *signature_b64 = NULL;
    if (signer == NULL || signature_b64 == NULL) {
        snprintf(err, errlen, "no signer");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_receipt_manifest(receipts, count, manifest, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_ca_sign_text(signer, *manifest, strlen(*manifest), signature_b64)) != CL_OK) {
        snprintf(err, errlen, "the receipt manifest could not be signed");
        free(*manifest);
        *manifest = NULL;
    }
    return rc;
}

int cl_receipt_batch_verify(struct cl_ca_verifier *signer, const struct cl_receipt *receipts,
                            size_t count, const char *signature_b64, char **manifest, char *err,
                            size_t errlen)
{
    char *text = NULL, why[256];
    int rc;

    if (manifest != NULL)
        *manifest = NULL;
    if (signer == NULL || signature_b64 == NULL) {
        snprintf(err, errlen, "receipts refused: no signer or no batch signature");
        return CL_ERR_CRYPTO;
    }
    if ((rc = cl_receipt_manifest(receipts, count, &text, why, sizeof(why))) != CL_OK) {
        snprintf(err, errlen, "receipts refused: %s", why);
        return rc == CL_ERR_NOMEM ? rc : CL_ERR_CRYPTO;
    }
    rc = cl_ca_verifier_check(signer, text, strlen(text), signature_b64, "receipts refused", err,
                              errlen);
    if (rc == CL_OK && manifest != NULL)
        *manifest = text;
    else
        free(text);
    return rc;
}

/* Whether manifest is well formed (header, 1 to CL_RECEIPT_BATCH_MAX digest lines, nothing
 * else) and names digest; 0, or -1 with err saying why. */
static int manifest_names(const char *manifest, const char *digest, char *err, size_t errlen)
{
    size_t len = strlen(manifest), lines, found = 0;

    if (len < HEADER_LEN || memcmp(manifest, CL_RECEIPT_MANIFEST_HEADER, HEADER_LEN) != 0 ||
        (len - HEADER_LEN) % (DIGEST_HEX + 1) != 0 ||
        (lines = (len - HEADER_LEN) / (DIGEST_HEX + 1)) < 1 || lines > CL_RECEIPT_BATCH_MAX) {
        snprintf(err, errlen, "the manifest is not a certline-receipt-batch v1 of 1 to %d lines",
                 CL_RECEIPT_BATCH_MAX);
        return -1;
    }
    for (size_t i = 0; i < lines; i++) {
        const char *line = manifest + HEADER_LEN + i * (DIGEST_HEX + 1);
        for (size_t k = 0; k < DIGEST_HEX; k++)
            if (!((line[k] >= '0' && line[k] <= '9') || (line[k] >= 'a' && line[k] <= 'f'))) {
                snprintf(err, errlen, "line %zu of the manifest is not a SHA-256 in hex", i + 1);
                return -1;
            }
        if (line[DIGEST_HEX] != '\n') {
            snprintf(err, errlen, "line %zu of the manifest is not a SHA-256 in hex", i + 1);
            return -1;
        }
        found |= memcmp(line, digest, DIGEST_HEX) == 0;
    }
    if (!found) {
        snprintf(err, errlen, "the receipt is not in the manifest");
        return -1;
    }
    return 0;
}

int cl_receipt_verify_in_manifest(const struct cl_receipt *receipt, const char *manifest,
                                  const char *signature_b64, const char *signer_cert_pem,
                                  const char *trust_pem, char *err, size_t errlen)
{
    char digest[DIGEST_HEX + 1], dummy[8], why[256];

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (receipt == NULL || manifest == NULL || signature_b64 == NULL || signer_cert_pem == NULL ||
        trust_pem == NULL) {
        snprintf(err, errlen,
                 "receipt, manifest, signature, signer certificate and trust are required");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (receipt_digest(receipt, digest, why, sizeof(why)) != 0 ||
        manifest_names(manifest, digest, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "receipt refused: %s", why);
        return CL_ERR_CRYPTO;
    }
    return cl_ca_verify_text(manifest, strlen(manifest), signature_b64, signer_cert_pem, trust_pem,
                             "receipt refused", err, errlen);
}
