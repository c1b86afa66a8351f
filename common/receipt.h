/* receipt.h: the dated installation receipt ca-server signs and the comm-terminal verifies
 * [seed 004]. The signature covers the canonical text
 *   "certline-receipt v1\n" device number "\n" serial hex "\n" verification value "\n"
 *   received-at (decimal seconds since the epoch) "\n"
 * signed with the issuing CA key (ECDSA with SHA-256, DER signature, base64 on the wire).
 *
 * A batch of receipts (ca:ReportBatch when the comm-terminal asks for it) is signed once: the
 * signature covers the batch manifest
 *   "certline-receipt-batch v1\n" then, for each receipt of the batch in order, the lower-case
 *   hex SHA-256 of that receipt's v1 canonical text above, "\n" after each
 * (1 to CL_RECEIPT_BATCH_MAX receipts), signed like a receipt. A receipt of a batch stays
 * provable on its own from its fields, the manifest, the manifest's signature and the signer
 * certificate: its digest is one of the manifest's lines and the manifest's signature verifies. */
#ifndef CERTLINE_RECEIPT_H
#define CERTLINE_RECEIPT_H

#include <stddef.h>
#include <time.h>

struct cl_signer;

struct cl_receipt {
    const char *device_number;
    const char *serial_hex;
    const char *verification_value;
    time_t received_at;
};

/* Signs a receipt with the signer's CA key; *signature_b64 is malloc'd. Thread-safe. */
int cl_receipt_sign(struct cl_signer *signer, const struct cl_receipt *receipt,
                    char **signature_b64);

/* Verifies signature_b64 over receipt with the public key of signer_cert_pem, which must itself
 * chain to trust_pem (the root). Returns CL_OK or CL_ERR_CRYPTO with a reason in err. */
int cl_receipt_verify(const struct cl_receipt *receipt, const char *signature_b64,
                      const char *signer_cert_pem, const char *trust_pem, char *err, size_t errlen);

/* The same with a signer checked once for many receipts (ca_signature.h, cl_ca_verifier_new). */
struct cl_ca_verifier;
int cl_receipt_verify_with(struct cl_ca_verifier *signer, const struct cl_receipt *receipt,
                           const char *signature_b64, char *err, size_t errlen);

/* ---- batch-signed receipts ---- */

#define CL_RECEIPT_BATCH_MAX 200 /* receipts in one manifest (a ca:ReportBatch's reports) */
#define CL_RECEIPT_MANIFEST_HEADER "certline-receipt-batch v1\n"
/* The longest manifest: the header and CL_RECEIPT_BATCH_MAX lines of 64 hex digits. */
#define CL_RECEIPT_MANIFEST_MAX (sizeof(CL_RECEIPT_MANIFEST_HEADER) - 1 + CL_RECEIPT_BATCH_MAX * 65)

/* The manifest of count receipts (1 to CL_RECEIPT_BATCH_MAX), in order: *manifest is malloc'd
 * and NUL-terminated. CL_ERR_INVALID_ARGUMENT (a receipt malformed, or count out of bounds)
 * with err saying why, or CL_ERR_NOMEM. */
int cl_receipt_manifest(const struct cl_receipt *receipts, size_t count, char **manifest, char *err,
                        size_t errlen);

/* Builds the manifest of count receipts and signs it once with the signer's CA key (a key file
 * or a PKCS#11 token alike): *manifest and *signature_b64 are malloc'd. Thread-safe. */
int cl_receipt_batch_sign(struct cl_signer *signer, const struct cl_receipt *receipts, size_t count,
                          char **manifest, char **signature_b64, char *err, size_t errlen);

/* Verifies a whole batch with one signature check: the manifest rebuilt from the count receipts
 * in their order, signature_b64 over it by the signer (cl_ca_verifier_new checked it against the
 * root). With manifest non-NULL, *manifest (malloc'd) is the manifest verified, to be kept with
 * the receipts. CL_OK, or CL_ERR_CRYPTO with err saying why. */
int cl_receipt_batch_verify(struct cl_ca_verifier *signer, const struct cl_receipt *receipts,
                            size_t count, const char *signature_b64, char **manifest, char *err,
                            size_t errlen);

/* Verifies one receipt of a batch on its own: manifest is well formed (the header, 1 to
 * CL_RECEIPT_BATCH_MAX lines of 64 lower-case hex digits, nothing else), names the receipt's
 * digest, and signature_b64 over it verifies with signer_cert_pem, which must chain to
 * trust_pem. CL_OK, or CL_ERR_CRYPTO with err saying why. */
int cl_receipt_verify_in_manifest(const struct cl_receipt *receipt, const char *manifest,
                                  const char *signature_b64, const char *signer_cert_pem,
                                  const char *trust_pem, char *err, size_t errlen);

#endif
