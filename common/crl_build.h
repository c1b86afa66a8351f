/* crl_build.h: writes the issuing CA's certificate revocation list, an RFC 5280 v2 CRL in DER
 * signed by the signer (x509_issue.h), for ca-server to publish. mbedTLS 2.28 has no CRL writer;
 * the DER is written with its ASN.1 writer, its length computed first and the buffer allocated
 * once, so a CRL of a million entries costs one pass and about 50 bytes per entry.
 *
 * What a CRL built here holds: version v2; signature ecdsa-with-SHA256 (P-256 CA) or
 * sha256WithRSAEncryption (RSA CA); issuer = the CA certificate's subject, byte for byte;
 * thisUpdate, nextUpdate; the entries in the order given, each with its serial, revocation date
 * and a reasonCode extension (left out for unspecified, as RFC 5280 5.3.1 asks); CRL extensions
 * authorityKeyIdentifier (the CA's key identifier) and cRLNumber. Times are UTCTime up to 2049
 * and GeneralizedTime after (RFC 5280 5.1.2.4). */
#ifndef CERTLINE_CRL_BUILD_H
#define CERTLINE_CRL_BUILD_H

#include <stddef.h>
#include <time.h>

#include "crl_reason.h"
#include "x509_issue.h"

/* One revoked certificate. */
struct cl_crl_entry {
    const char *serial_hex; /* 1..20 octets of hex, either case (cl_crl_serial_parse) */
    time_t revoked_at;      /* revocationDate, 1950..9999 */
    int reason;             /* enum cl_crl_reason; cl_crl_reason_valid */
};

struct cl_crl_params {
    time_t this_update; /* 1950..9999 */
    time_t next_update; /* after this_update, before 10000 */
    /* cRLNumber: grows with every CRL the CA publishes (RFC 5280 5.2.3); readers install only a
     * higher number than the one they hold (crl_check.h). */
    unsigned long long number;
};

/* The most entries one CRL may carry (a million per CA is the design target). */
#define CL_CRL_ENTRIES_MAX 10000000u

/* Builds and signs the CRL. *der is malloc'd (the caller frees it), *der_len its length.
 * Thread-safe for one signer (the signature is the signer's, cl_signer_sign). Returns CL_OK;
 * CL_ERR_INVALID_ARGUMENT with the first bad input named in err (an entry by its index and
 * serial); CL_ERR_TOO_LARGE beyond CL_CRL_ENTRIES_MAX; CL_ERR_NOMEM; CL_ERR_CRYPTO. */
int cl_crl_build(struct cl_signer *signer, const struct cl_crl_params *params,
                 const struct cl_crl_entry *entries, size_t count, unsigned char **der,
                 size_t *der_len, char *err, size_t errlen);

/* DER to PEM ("X509 CRL"); *pem is malloc'd and NUL-terminated. CL_OK, CL_ERR_INVALID_ARGUMENT,
 * CL_ERR_NOMEM or CL_ERR_CRYPTO. */
int cl_crl_der_to_pem(const unsigned char *der, size_t len, char **pem);

#endif
