/* x509_issue.h: issues certline certificates with mbedTLS: the private PKI (root and issuing CA),
 * service certificates with their role, and device certificates, fast enough for a day's batch.
 *
 * Device certificate profile: subject "CN=<device number>, serialNumber=<device number>,
 * OU=device, title=<model code>, O=<organisation>"; extendedKeyUsage clientAuth; basicConstraints
 * cA false (critical); keyUsage digitalSignature (P-256) or digitalSignature+keyEncipherment
 * (RSA) (critical); subjectKeyIdentifier and authorityKeyIdentifier; serial number positive,
 * at most 20 octets, 64 or more random bits (the first octet's top bit cleared, never zero).
 * Service certificates: "CN=<name>, OU=<role>[, serialNumber=<number>], O=<organisation>",
 * subjectAltName dNSName=<name> (servers, not device-common), EKU serverAuth+clientAuth (also
 * device-common: a device serves its writing interface to the factory terminal with it; the
 * factory terminal names it "<model code> common", checked against the CN).
 * Identity conventions are those of peer.h: OU = role, CN = name, serialNumber = number. */
#ifndef CERTLINE_X509_ISSUE_H
#define CERTLINE_X509_ISSUE_H

#include <stddef.h>
#include <time.h>

#include <mbedtls/pk.h>

#include "peer.h"

enum cl_key_type { CL_KEY_P256, CL_KEY_RSA2048, CL_KEY_RSA3072 };

/* "p256", "rsa2048", "rsa3072"; parse returns CL_ERR_INVALID_ARGUMENT for anything else. */
const char *cl_key_type_name(enum cl_key_type type);
int cl_key_type_parse(const char *name, enum cl_key_type *out);

#define CL_SERIAL_HEX_MAX 40 /* 20 octets */

/* A freshly issued certificate and its private key, DER. cl_issued_free zeroises the key. */
struct cl_issued {
    unsigned char *cert_der;
    size_t cert_len;
    unsigned char *key_der; /* PKCS#8 or SEC1 DER as mbedtls_pk_write_key_der writes it */
    size_t key_len;
    char serial_hex[CL_SERIAL_HEX_MAX + 1]; /* upper-case hex, even length */
};
void cl_issued_free(struct cl_issued *issued);

/* The issuing CA, loaded once and shared by issuing threads. Holds the CA key in a context of
 * the key's own type (ECDSA: with its fixed-point table computed before sharing), so that
 * concurrent issuance from several threads is safe and fast. */
struct cl_signer;

/* From the issuing CA certificate (PEM or DER) and its private key (DER, already decrypted by
 * the caller; the caller zeroises its copy). organisation goes into every subject it issues. */
int cl_signer_new(const unsigned char *ca_cert, size_t ca_cert_len, const unsigned char *ca_key_der,
                  size_t ca_key_len, const char *organisation, struct cl_signer **out, char *err,
                  size_t errlen);
/* The same for a key held elsewhere (a token key as an mbedtls_pk_context, p11.h): *key moves
 * into the signer (it is left empty); what it points to (the token) must outlive the signer.
 * The key is proven by a self-test signature checked against the certificate. */
int cl_signer_new_with_key(const unsigned char *ca_cert, size_t ca_cert_len,
                           mbedtls_pk_context *key, const char *organisation,
                           struct cl_signer **out, char *err, size_t errlen);
void cl_signer_free(struct cl_signer *signer);

/* The issuing CA certificate, DER. */
const unsigned char *cl_signer_cert_der(const struct cl_signer *signer, size_t *len);

/* The CA certificate's notAfter (seconds since 1970; 0 for NULL). */
time_t cl_signer_not_after(const struct cl_signer *signer);

/* A certificate's (PEM NUL-terminated with the NUL counted, or DER) validity period. Returns
 * CL_OK, CL_ERR_PARSE or CL_ERR_INVALID_ARGUMENT. */
int cl_cert_validity(const unsigned char *cert, size_t len, time_t *not_before, time_t *not_after);

/* A random serial (hex): 16 octets, all but the sign bit random (ca-server's key ids take its
 * leading digits). The caller retries on a uniqueness collision. */
int cl_serial_random(char serial_hex[CL_SERIAL_HEX_MAX + 1]);
/* A time-ordered serial (hex, 16 octets like a random one) for the certificates a store keeps by
 * the million: 0x40, the time in microseconds (8 octets in all; later calls of a process give
 * larger ones), then 64 bits from the CSPRNG (CA/Browser Forum). The caller retries on a
 * uniqueness collision. Leading digits follow time: never use them as a random identifier. */
int cl_serial_ordered(char serial_hex[CL_SERIAL_HEX_MAX + 1]);

/* Validity nests: every certificate issued here (device, service, device-common, the issuing CA
 * under its root) starts no earlier and ends no later than the certificate of the CA that signs
 * it; validity_days is the longest it may have. Once the signing CA has ended (not_before at or
 * after its notAfter) issuing is refused with CL_ERR_STATE (logged).
 *
 * Issues a device certificate: generates a key of key_type, signs with serial_hex (from
 * cl_serial_ordered), valid from not_before for validity_days. Thread-safe for one signer.
 * Refused with CL_ERR_INVALID_ARGUMENT (the reason is logged): inputs outside the rules below,
 * a serial of fewer than 8 or more than 20 octets or with the first octet's top bit set, a
 * validity outside 1..36500 days or ending after 9999. On failure *out is left empty. */
int cl_issue_device(struct cl_signer *signer, const char *device_number, const char *model_code,
                    enum cl_key_type key_type, const char *serial_hex, time_t not_before,
                    int validity_days, struct cl_issued *out);

/* cl_issue_device for a key held elsewhere (a PKCS#11 token, p11.h): public_key (of key_type)
 * is certified; out gets the certificate only (key_der NULL). public_key NULL: as
 * cl_issue_device. */
int cl_issue_device_key(struct cl_signer *signer, const char *device_number, const char *model_code,
                        enum cl_key_type key_type, const mbedtls_pk_context *public_key,
                        const char *serial_hex, time_t not_before, int validity_days,
                        struct cl_issued *out);

/* Issues a service certificate (ca-server, comm-terminal, factory-terminal with number = line id;
 * also device-common with number = model code) with a new P-256 key. Servers' names must be DNS
 * names of at most 64 characters; a device-common name is printable text (e.g. "3012 common");
 * number is 1..32 characters of [0-9A-Za-z.-], required for factory-terminal and device-common.
 * The organisation (here and in cl_signer_new, cl_issue_ca_pair) is 1..64 printable characters
 * without , + = " \ < > ; # and without leading or trailing space. */
int cl_issue_service(struct cl_signer *signer, enum cl_role role, const char *name,
                     const char *number, time_t not_before, int validity_days,
                     struct cl_issued *out);

/* Creates a self-signed root ("route certificate") and an issuing CA it signs, P-256, with the
 * CA profile (basicConstraints cA true, pathlen 1 / 0; keyUsage keyCertSign+cRLSign; SKI/AKI).
 * The issuing CA ends no later than the root. */
int cl_issue_ca_pair(const char *organisation, time_t not_before, int root_days, int issuing_days,
                     struct cl_issued *root, struct cl_issued *issuing);

/* A new issuing CA (P-256, pathlen 0, CN "certline issuing CA <tag>", O of root's signer) signed
 * by an existing root, held as a signer (cl_signer_new with the root certificate and key): the
 * rollover of the issuing CA. Nested in the root's validity; CL_ERR_STATE once the root ended. */
int cl_issue_issuing_ca(struct cl_signer *root, time_t not_before, int issuing_days,
                        struct cl_issued *out);

/* A CA key held outside this process (a PKCS#11 token, p11.h): its public key, and for a key
 * that signs here (a root), an mbedtls_pk_context whose signing goes to where the key is. */
struct cl_ca_key {
    mbedtls_pk_context *public_key; /* P-256 */
    mbedtls_pk_context *sign;       /* NULL: not needed (an issuing CA's key when made) */
};

/* cl_issue_ca_pair with keys held elsewhere: root_key (public_key and sign) and/or issuing_key
 * (public_key); a NULL one is made here as before. A certificate whose key is held elsewhere
 * comes with no key_der (NULL, 0). */
int cl_issue_ca_pair_keys(const char *organisation, time_t not_before, int root_days,
                          int issuing_days, const struct cl_ca_key *root_key,
                          const struct cl_ca_key *issuing_key, struct cl_issued *root,
                          struct cl_issued *issuing);

/* The key identifier certline writes as a certificate's subjectKeyIdentifier: SHA-1 over the
 * subjectPublicKey bits (RFC 5280 4.2.1.2 (1)); a key held in a token carries it as CKA_ID. */
#define CL_KEY_ID_LEN 20
int cl_key_identifier(const mbedtls_pk_context *key, unsigned char id[CL_KEY_ID_LEN]);
/* A CA certificate's (PEM NUL-terminated with the NUL counted, or DER) subjectKeyIdentifier,
 * else the key identifier of its key; at most 64 octets. */
int cl_cert_key_identifier(const unsigned char *cert, size_t len, unsigned char id[64],
                           size_t *id_len);

/* cl_issue_issuing_ca for a key held elsewhere (key->public_key; NULL: a new key made here). */
int cl_issue_issuing_ca_key(struct cl_signer *root, time_t not_before, int issuing_days,
                            const struct cl_ca_key *key, struct cl_issued *out);

/* DER to PEM ("CERTIFICATE"); *pem is malloc'd and NUL-terminated. */
int cl_cert_der_to_pem(const unsigned char *der, size_t len, char **pem);

/* ---- Added with the implementation: shared by pack.c, keyfile.c, receipt.c and callers ---- */

/* The process-wide random generator: one CTR_DRBG seeded from the entropy source on first use
 * (pthread_once), safe from any thread, reseeded in a child after fork(). cl_random_bytes returns
 * CL_OK or CL_ERR_CRYPTO; cl_rng is the same generator as an mbedTLS f_rng callback (p_rng is
 * ignored; returns 0 or an mbedTLS error code). */
int cl_random_bytes(unsigned char *out, size_t len);
int cl_rng(void *p_rng, unsigned char *out, size_t len);

/* Signs SHA-256(data) with the signer's CA key (ECDSA: DER Ecdsa-Sig-Value; RSA: PKCS#1 v1.5).
 * Thread-safe. Returns CL_OK or CL_ERR_CRYPTO. */
#define CL_SIGNATURE_MAX 1024
int cl_signer_sign(struct cl_signer *signer, const unsigned char *data, size_t len,
                   unsigned char sig[CL_SIGNATURE_MAX], size_t *sig_len);

/* Input rules shared by issuing, packs and receipts; each returns 1 if valid, else 0.
 *   device number: 1..31 characters of [0-9A-Za-z.-], the first a letter or digit;
 *   model code:    1..15 characters, the same rule;
 *   serial hex:    upper-case hex, even length 2..40 (1..20 octets), first octet not 00. */
int cl_device_number_valid(const char *device_number);
int cl_model_code_valid(const char *model_code);
int cl_serial_hex_valid(const char *serial_hex);

#endif
