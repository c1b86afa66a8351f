/* cert_check.h: the certificate checks the device makes with what its firmware holds: a
 * certificate chains to the root in the program area, carries the expected identity, and matches
 * a private key; plus the conversions the checks and the TLS identities need (PEM to DER, a DER
 * key to PEM in memory, the verification values of PACK.md). */
#ifndef CERTLINE_CERT_CHECK_H
#define CERTLINE_CERT_CHECK_H

#include <stddef.h>

#include "pack.h"
#include "peer.h"

/* What a certificate must be used for, besides chaining to the root. */
enum cc_usage {
    CC_CLIENT,        /* a device certificate: EKU clientAuth */
    CC_CLIENT_SERVER, /* the common certificate: EKU serverAuth and clientAuth */
};

/* Verifies leaf_pem (exactly one certificate) with chain_pem as intermediates (may be NULL)
 * against root_pem as the only trust anchor, at the current time, and its extended key usage.
 * Fills *peer (may be NULL) from its subject and serial. On failure returns CL_ERR_CRYPTO (or
 * CL_ERR_PARSE if a PEM does not parse) and writes a one-line reason, e.g. "certificate does not
 * chain to this device's root (the certificate is not correctly signed by the trusted CA)". */
int cc_verify(const char *leaf_pem, const char *chain_pem, const char *root_pem,
              enum cc_usage usage, struct cl_peer *peer, char *reason, size_t len);

/* cc_verify, knowing a chain already verified against the same root_pem (leaf first; may be
 * NULL): when chain_pem starts with the certificate that follows that chain's leaf (the same DER
 * bytes: the same issuing CA) and it is inside its validity period, its signature is not checked
 * again: leaf_pem is verified with that one certificate as the trust anchor (its own signature,
 * its validity, the issuer's CA rights). Any other chain_pem is verified in full against
 * root_pem. */
int cc_verify_known(const char *leaf_pem, const char *chain_pem, const char *root_pem,
                    const struct mbedtls_x509_crt *known, enum cc_usage usage, struct cl_peer *peer,
                    char *reason, size_t len);

/* CL_OK if key_der (a DER private key) is the key of cert_pem's public key; CL_ERR_CRYPTO if
 * not, CL_ERR_PARSE if either does not parse. */
int cc_key_matches(const char *cert_pem, const unsigned char *key_der, size_t key_len);

/* The DER of the single certificate in pem; *der is malloc'd. */
int cc_cert_der(const char *pem, unsigned char **der, size_t *der_len);

/* The verification values (PACK.md) of (device number, serial, certificate, key) for a pack of
 * version (1 or 2; version 2's server value needs the pre-write key). Either output may be
 * NULL. Returns CL_OK or CL_ERR_PARSE if cert_pem (or, version 2, the key) does not parse. */
int cc_verify_values(int version, const char *device_number, const char *serial_hex,
                     const char *cert_pem, const unsigned char *key_der, size_t key_len,
                     const unsigned char *prewrite_key, char device_value[CL_VERIFY_HEX + 1],
                     char server_value[CL_VERIFY_HEX + 1]);

/* A PEM key (e.g. from the firmware bundle) as DER (malloc'd); the caller wipes and frees it
 * (cl_secret_free with *der_len). */
int cc_key_pem_to_der(const char *pem, unsigned char **der, size_t *der_len);

/* 1 if a and b are equal, in time independent of where they differ (for verification values). */
int cc_equal(const char *a, const char *b, size_t len);

#endif
