/* ca_signature.h: a text signed with the issuing CA key and checked against the root: what a
 * receipt (receipt.h) and an offline batch file (batch_file.h) carry. ECDSA (or RSA) over
 * SHA-256 of the text, DER signature, base64 in files and on the wire; the signer's certificate
 * travels with it and must be a CA certificate that chains to the root. */
#ifndef CERTLINE_CA_SIGNATURE_H
#define CERTLINE_CA_SIGNATURE_H

#include <stddef.h>

struct cl_signer;

/* Signs text with the signer's CA key; *signature_b64 is malloc'd. Thread-safe. */
int cl_ca_sign_text(struct cl_signer *signer, const char *text, size_t len, char **signature_b64);

/* Verifies signature_b64 over text with the public key of signer_cert_pem, which must be a CA
 * certificate that chains to trust_pem (the root). Returns CL_OK, or CL_ERR_CRYPTO with a reason
 * in err that begins with what (e.g. "receipt refused"). */
int cl_ca_verify_text(const char *text, size_t len, const char *signature_b64,
                      const char *signer_cert_pem, const char *trust_pem, const char *what,
                      char *err, size_t errlen);

/* The same check split for many texts by one signer (a batch of receipts): the signer
 * certificate parsed and checked against the root once (new), then each signature (check).
 * Errors as cl_ca_verify_text's. free(NULL) is a no-op. */
struct cl_ca_verifier;
int cl_ca_verifier_new(const char *signer_cert_pem, const char *trust_pem, const char *what,
                       struct cl_ca_verifier **verifier, char *err, size_t errlen);
int cl_ca_verifier_check(struct cl_ca_verifier *verifier, const char *text, size_t len,
                         const char *signature_b64, const char *what, char *err, size_t errlen);
void cl_ca_verifier_free(struct cl_ca_verifier *verifier);

#endif
