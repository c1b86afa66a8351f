/* x509_fixture.h: what the X.509 issuance tests share: a CA pair and its signer made once per
 * test program, a private folder for the openssl and Python checks, and independent checks of
 * an issued certificate's DER (x509_check.c). */
#ifndef CERTLINE_X509_FIXTURE_H
#define CERTLINE_X509_FIXTURE_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "x509_issue.h"

#define ORG "certline test"
#define MODEL "3012"

/* ---- x509_fixture.c: the CA pair, the signer and the folder ---- */

extern struct cl_issued root, issuing;
extern struct cl_signer *signer;
extern mbedtls_x509_crt root_crt, issuing_crt;
extern time_t now;
extern char tmpdir[64];

/* cmocka group setup and teardown: make (and free) all of the above. */
int x509_group_setup(void **state);
int x509_group_teardown(void **state);

double seconds_since(const struct timespec *t0);

/* Writes issued's certificate as PEM to tmpdir/name. */
void write_pem(const char *name, const struct cl_issued *issued);

/* Runs argv (argv[0] from PATH) in tmpdir with stdout and stderr into *output (malloc'd);
 * returns the exit status, or -1. */
int run(char *const argv[], char **output);

/* openssl verify -x509_strict -purpose purpose accepts tmpdir/leaf over issuing.pem to root.pem
 * (written by the caller). */
void assert_openssl_verifies(char *purpose, char *leaf);

/* Python's cryptography loads tmpdir/name without a warning. */
void assert_python_loads(char *name);

/* ---- x509_check.c: checks of certificate DER, independent of the code under test ---- */

/* The signature AlgorithmIdentifiers, DER: ecdsa-with-SHA256 without parameters (RFC 5758 3.2),
 * sha256WithRSAEncryption with NULL parameters (RFC 4055 5). */
extern const unsigned char ECDSA_SHA256[12];
extern const unsigned char RSA_SHA256[15];
/* The start of an RSA-2048 subjectPublicKeyInfo: rsaEncryption keeps its NULL parameters. */
extern const unsigned char RSA2048_SPKI_HEAD[19];

/* The parts of a certificate's DER, found by walking it independently of mbedTLS's certificate
 * parser: the TBSCertificate (whole element), its version and serial (whole elements, together),
 * its signature AlgorithmIdentifier (whole element) and the TBS from its issuer on (the rest),
 * the outer signatureAlgorithm (whole element). */
struct cert_parts {
    unsigned char *tbs, *version_serial, *tbs_alg, *tbs_rest, *alg;
    size_t tbs_len, version_serial_len, tbs_alg_len, tbs_rest_len, alg_len;
};

void parse_der(mbedtls_x509_crt *crt, const unsigned char *der, size_t len);

/* Finds extension oid in crt: its criticality and extnValue content. Independent of the
 * library's own walker. Returns 0 if found. */
int ext_find(const mbedtls_x509_crt *crt, const char *oid, int *critical, unsigned char **val,
             size_t *val_len);

/* The subject's attribute OIDs in DER order must be exactly expected[0..n); values likewise. */
void assert_subject(const mbedtls_x509_crt *crt, const char *const *oids, const char *const *values,
                    const int *tags, size_t n);

/* SKI is the SHA-1 of crt's key, AKI that of issuer's; neither critical. */
void assert_ski_aki(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *issuer);

void assert_critical(const mbedtls_x509_crt *crt, const char *oid, int expected);
void assert_time(const mbedtls_x509_time *t, time_t expected);

/* The serial: positive, at most 20 octets, as hex equal to expected_hex. */
void assert_serial(const mbedtls_x509_crt *crt, const char *expected_hex, size_t octets);

/* The key in issued matches its certificate and is of the expected type. */
void assert_key_pair(const struct cl_issued *issued, const mbedtls_x509_crt *crt,
                     mbedtls_pk_type_t type, size_t bits);

/* crt (a leaf) verifies with the issuing CA as an intermediate and the root as trust anchor,
 * and with the issuing CA itself as trust anchor. */
void assert_chains(const struct cl_issued *leaf);

/* The next element at *p (tag expected): *p moves past it, its whole length is returned. */
size_t skip_element(unsigned char **p, const unsigned char *end, int tag);

void split_cert(unsigned char *der, size_t der_len, struct cert_parts *parts);

/* Both signature AlgorithmIdentifiers of the certificate (tbsCertificate.signature and
 * signatureAlgorithm) are exactly alg. */
void assert_sig_alg(unsigned char *der, size_t der_len, const unsigned char *alg, size_t alg_len);

#define ASSERT_ECDSA_SHA256(der, len) assert_sig_alg(der, len, ECDSA_SHA256, sizeof(ECDSA_SHA256))

#endif
