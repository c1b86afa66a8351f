/* x509_der.h: writes and signs an X.509 certificate from a configured mbedtls_x509write_cert,
 * in place of mbedtls_x509write_crt_der, with the signature AlgorithmIdentifier DER-correct.
 *
 * mbedTLS 2.28 writes a NULL parameters field into both signature AlgorithmIdentifiers
 * (tbsCertificate.signature and Certificate.signatureAlgorithm) whatever the algorithm. For
 * ecdsa-with-SHA256 the parameters field MUST be absent (RFC 5758 3.2), and strict parsers
 * (Python cryptography) warn about or reject the NULL. For sha256WithRSAEncryption the NULL is
 * required (RFC 4055 5) and stays. mbedTLS 3.x writes both correctly; with it,
 * mbedtls_x509write_crt_der can take this function's place again (its context fields are private
 * there). */
#ifndef CERTLINE_X509_DER_H
#define CERTLINE_X509_DER_H

#include <stddef.h>

#include <mbedtls/x509_crt.h>

/* Same contract as mbedtls_x509write_crt_der: writes the signed certificate at the end of buf
 * (size bytes) and returns its length, or a negative mbedTLS error code. ctx is read only; the
 * issuer key (RSA or ECDSA) signs the TBSCertificate once, with f_rng/p_rng.
 * Apart from the AlgorithmIdentifiers, the TBSCertificate is the one mbedTLS 2.28 writes, except
 * in two cases outside certline's use (certificates are valid from now and have extensions),
 * where this follows RFC 5280 and 2.28 does not:
 * validity times from 1950 to 1999 are UTCTime (4.1.2.5; 2.28: GeneralizedTime), and a version 3
 * certificate without extensions has no extensions field (4.1: SIZE (1..MAX); 2.28 writes an
 * empty SEQUENCE). */
int cl_x509write_crt_der(const mbedtls_x509write_cert *ctx, unsigned char *buf, size_t size,
                         int (*f_rng)(void *, unsigned char *, size_t), void *p_rng);

/* The DER pieces above, shared with crl_build.c. Each writes backwards in front of *p (not below
 * start), as mbedTLS's ASN.1 writer does, and returns the octets written or a negative mbedTLS
 * error code. */

/* Tag and length in front of the len octets just written at *p. */
int cl_der_write_header(unsigned char **p, unsigned char *start, size_t len, unsigned char tag);

/* AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }: the parameters
 * are NULL for sha*WithRSAEncryption (RFC 4055 5, null_params 1) and absent for ecdsa-with-SHA*
 * (RFC 5758 3.2). */
int cl_der_write_sig_alg(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len,
                         int null_params);

/* t is "YYYYMMDDhhmmssZ" as mbedtls_x509write_crt_set_validity stores it. RFC 5280 4.1.2.5:
 * UTCTime ("YYMMDDhhmmssZ") for the years 1950 to 2049, GeneralizedTime otherwise. */
int cl_der_write_time(unsigned char **p, unsigned char *start, const char *t);

#endif
