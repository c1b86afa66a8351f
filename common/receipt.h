/* receipt.h: the dated installation receipt ca-server signs and the comm-terminal verifies
 * [seed 004]. The signature covers the canonical text
 *   "certline-receipt v1\n" device number "\n" serial hex "\n" verification value "\n"
 *   received-at (decimal seconds since the epoch) "\n"
 * signed with the issuing CA key (ECDSA with SHA-256, DER signature, base64 on the wire). */
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

#endif
