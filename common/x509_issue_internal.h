/* x509_issue_internal.h: private declarations shared by x509_issue.c, x509_build.c,
 * x509_signer.c and x509_keys.c, and read by crl_build.c, which signs CRLs with the signer's key
 * and names its certificate (not part of the public API in x509_issue.h).
 *
 * The files, by duty:
 *   - x509_issue.c: the public cl_issue_* entry points, with the profiles (what each certificate
 *     certline issues contains: device, device-common, service, issuing CA, root: subject,
 *     extensions, key usage, validity) and the input rules;
 *   - x509_build.c: the mechanics: serials, names, extensions, writing and signing with
 *     mbedtls_x509write, key export, DER to PEM;
 *   - x509_signer.c: the signer object (the issuing CA's certificate and key) and certificate
 *     validity;
 *   - x509_keys.c: the process-wide random generator, the shared P-256 group and key generation.
 * Names shared between them carry the cl_x509i_ prefix, as they are global in the static
 * library.
 *
 * Together they issue certline certificates with mbedTLS 2.28 (the CA pair, service and device
 * certificates; profiles in x509_issue.h) and own the process-wide random generator that every
 * crypto module draws from.
 *
 * Built for a day's batch from several threads at once:
 *   - the P-256 group is loaded once, with its fixed-point table for G computed before any thread
 *     shares it, and every new key is d*G on that group (2.28 would otherwise rebuild the table
 *     for each key);
 *   - the issuing key is held in an MBEDTLS_PK_ECDSA-typed context (2.28 copies an ECKEY-typed
 *     key into a temporary ECDSA context, and so rebuilds its table, on every signature), and one
 *     throwaway signature in cl_signer_new builds that table before the signer is shared. After
 *     that, mbedTLS only reads the group and the key, so concurrent issuance needs no lock.
 * Extensions 2.28 has no writer for (subjectAltName, extendedKeyUsage, a critical
 * basicConstraints for cA false, authorityKeyIdentifier from the CA's own SKI) are encoded in
 * x509_build.c with the ASN.1 writer; all of them are a few dozen bytes, and the output buffer is
 * generous (2.28 has a heap overflow when writing large extension lengths). The certificate itself
 * is written and signed by x509_der.c, whose ECDSA signature AlgorithmIdentifiers have no
 * parameters (2.28's mbedtls_x509write_crt_der writes a NULL there).
 * mbedTLS 3.6 note: the subject/issuer name lists are set on mbedtls_x509write_cert directly
 * (ctx.subject, ctx.issuer) and the SHA functions are the *_ret ones; both change in 3.x. */
#ifndef CERTLINE_X509_ISSUE_INTERNAL_H
#define CERTLINE_X509_ISSUE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "x509_issue.h"

#define ORGANISATION_MAX 64  /* ub-organization-name */
#define NAME_MAX_LEN 64      /* ub-common-name, CL_PEER_NAME_MAX */
#define NUMBER_MAX_LEN 32    /* CL_PEER_NUMBER_MAX */
#define DEVICE_NUMBER_MAX 31 /* struct cl_pack.device_number */
#define MODEL_CODE_MAX 15    /* struct cl_pack.model_code */
#define VALIDITY_DAYS_MAX 36500
#define SERIAL_RANDOM_OCTETS 16
#define DEVICE_SERIAL_MIN_OCTETS 8     /* 64 bits */
#define SERIAL_ORDERED_TIME_OCTETS 8   /* 0x40 and 56 bits of microseconds */
#define SERIAL_ORDERED_RANDOM_OCTETS 8 /* 64 bits from the CSPRNG */
#define CA_CERT_INPUT_MAX 65536
#define CA_KEY_INPUT_MAX 16384
#define DER_BUF 8192 /* certificates and keys written here are far smaller */
#define KEY_ID_MAX 64
#define RSA_EXPONENT 65537

struct name_attr {
    const char *oid;
    size_t oid_len;
    int tag;
    const char *value; /* NULL: left out */
};

#define ATTR(oid, tag, value)                                                                      \
    {                                                                                              \
        oid, MBEDTLS_OID_SIZE(oid), tag, value                                                     \
    }

#define EKU_SERVER 1
#define EKU_CLIENT 2

struct profile {
    mbedtls_asn1_named_data *subject;
    const unsigned char *serial;
    size_t serial_len;
    time_t not_before;
    int days;
    time_t issuer_not_before, issuer_not_after; /* the validity nests in these; 0: no bound */
    int is_ca, pathlen;
    unsigned key_usage;
    int eku;             /* EKU_* bits; 0: no extendedKeyUsage */
    const char *san_dns; /* NULL: no subjectAltName */
};

struct issuer {
    mbedtls_pk_context *key;
    mbedtls_asn1_named_data *name;
    const unsigned char *key_id; /* NULL: self-signed, AKI = own SKI */
    size_t key_id_len;
};

struct cl_signer {
    mbedtls_x509_crt cert;
    mbedtls_pk_context key; /* MBEDTLS_PK_ECDSA, MBEDTLS_PK_RSA or a token key (p11.h) */
    mbedtls_asn1_named_data *name;
    unsigned char key_id[KEY_ID_MAX];
    size_t key_id_len;
    char organisation[ORGANISATION_MAX + 1];
    time_t not_before, not_after; /* the CA certificate's validity */
};

/* x509_keys.c */

/* Prepares the shared P-256 group once (CL_ERR_CRYPTO if it cannot be). */
int cl_x509i_p256_get(void);
/* Generates a new key of type into key (initialised, empty). */
int cl_x509i_generate_key(enum cl_key_type type, mbedtls_pk_context *key);

/* x509_issue.c */

/* Printable ASCII text of 1..max characters without leading or trailing space, and without the
 * characters that have a meaning in textual DNs. */
int cl_x509i_valid_text(const char *s, size_t max);

/* x509_build.c */

void cl_x509i_to_hex_upper(const unsigned char *in, size_t len, char *out);
/* Random serial octets: positive, minimally encoded. */
int cl_x509i_random_serial(unsigned char serial[SERIAL_RANDOM_OCTETS]);
/* Time-ordered serial octets for the time now_us (microseconds since 1970): see cl_serial_ordered.
 */
int cl_x509i_ordered_serial(unsigned char serial[SERIAL_RANDOM_OCTETS], uint64_t now_us);
/* Builds a name list in DER order (the first attribute is the first RDN). */
int cl_x509i_build_name(const struct name_attr *attrs, size_t count, mbedtls_asn1_named_data **out);
/* Copies a parsed certificate name (its exact tags and values) into a list for the writer. */
int cl_x509i_copy_name(const mbedtls_x509_name *name, mbedtls_asn1_named_data **out, char *err,
                       size_t errlen);
/* SHA-1 over the subjectPublicKey bits. */
int cl_x509i_key_identifier(const mbedtls_pk_context *key, unsigned char id[20]);
/* The CA's own subjectKeyIdentifier if it has one, else the SHA-1 key identifier of its key. */
int cl_x509i_ca_key_identifier(const mbedtls_x509_crt *crt, unsigned char id[KEY_ID_MAX],
                               size_t *id_len);
/* Writes and signs a certificate; *der is malloc'd. */
int cl_x509i_write_cert(const struct profile *pr, mbedtls_pk_context *subject_key,
                        const struct issuer *is, unsigned char **der, size_t *der_len);
/* DER (at most max octets) to PEM with the armour label ("CERTIFICATE", "X509 CRL"); *pem is
 * malloc'd and NUL-terminated. CL_OK, CL_ERR_INVALID_ARGUMENT, CL_ERR_NOMEM or CL_ERR_CRYPTO. */
int cl_x509i_der_to_pem(const unsigned char *der, size_t len, size_t max, const char *label,
                        char **pem);
/* The private key as DER into out->key_der (malloc'd). */
int cl_x509i_export_key(mbedtls_pk_context *key, struct cl_issued *out);
/* The certificate by profile for key (generated by the caller), and the key, into out; out is
 * freed on failure. */
int cl_x509i_issue_with_key(mbedtls_pk_context *key, const struct profile *pr,
                            const struct issuer *is, struct cl_issued *out);
/* New key of type, certificate by profile, both into out. */
int cl_x509i_issue(enum cl_key_type type, struct profile *pr, const struct issuer *is,
                   struct cl_issued *out);

/* x509_signer.c */

struct issuer cl_x509i_signer_issuer(struct cl_signer *s);
/* Nests pr's validity in the signer's; refuses (CL_ERR_STATE, logged) once the signer has
 * ended. */
int cl_x509i_nest_in_signer(const struct cl_signer *s, struct profile *pr, const char *what,
                            const char *name);

#endif
