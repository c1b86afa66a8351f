/* x509_build.c: the mechanics of building a certificate: serials, names, extensions, writing and
 * signing with mbedtls_x509write, key export and DER to PEM. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "x509_der.h"
#include "x509_issue.h"
#include "x509_issue_internal.h"

/* ---- serial numbers ---- */

void cl_x509i_to_hex_upper(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

/* Serial octets: random, the first octet's top bit cleared (positive) and never zero
 * (minimal encoding, so the DER INTEGER is exactly SERIAL_RANDOM_OCTETS long). */
int cl_x509i_random_serial(unsigned char serial[SERIAL_RANDOM_OCTETS])
{
    if (cl_random_bytes(serial, SERIAL_RANDOM_OCTETS) != CL_OK)
        return CL_ERR_CRYPTO;
    serial[0] &= 0x7f;
    while (serial[0] == 0) {
        if (cl_random_bytes(serial, 1) != CL_OK)
            return CL_ERR_CRYPTO;
        serial[0] &= 0x7f;
    }
    return CL_OK;
}

int cl_serial_random(char serial_hex[CL_SERIAL_HEX_MAX + 1])
{
    unsigned char serial[SERIAL_RANDOM_OCTETS];

    if (serial_hex == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    serial_hex[0] = '\0';
    if (cl_x509i_random_serial(serial) != CL_OK)
        return CL_ERR_CRYPTO;
    cl_x509i_to_hex_upper(serial, sizeof(serial), serial_hex);
    return CL_OK;
}

/* Time-ordered serial octets (issue 18): 0x40, then the 56-bit big-endian microseconds since 1970
 * (until the year 4253), then SERIAL_ORDERED_RANDOM_OCTETS from the CSPRNG. Positive, first octet
 * never zero, SERIAL_RANDOM_OCTETS long like a random serial; later serials of a process sort after
 * earlier ones (the time never repeats nor goes back within a process: a clock that stands or
 * steps back gives the last time plus one), so a store's serial index takes its inserts on its
 * rightmost pages; two processes at the same microsecond differ by the 64 random bits. */
int cl_x509i_ordered_serial(unsigned char serial[SERIAL_RANDOM_OCTETS], uint64_t now_us)
{
    static _Atomic uint64_t last_us;
    uint64_t prev = atomic_load(&last_us), next;

    do
        next = now_us > prev ? now_us : prev + 1;
    while (!atomic_compare_exchange_weak(&last_us, &prev, next));
    if (cl_random_bytes(serial + SERIAL_ORDERED_TIME_OCTETS, SERIAL_ORDERED_RANDOM_OCTETS) != CL_OK)
        return CL_ERR_CRYPTO;
    serial[0] = 0x40;
    for (int i = SERIAL_ORDERED_TIME_OCTETS - 1; i >= 1; i--, next >>= 8)
        serial[i] = (unsigned char)(next & 0xff);
    return CL_OK;
}

int cl_serial_ordered(char serial_hex[CL_SERIAL_HEX_MAX + 1])
{
    unsigned char serial[SERIAL_RANDOM_OCTETS];
    struct timespec ts;

    if (serial_hex == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    serial_hex[0] = '\0';
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0 ||
        cl_x509i_ordered_serial(serial, (uint64_t)ts.tv_sec * 1000000u +
                                            (uint64_t)ts.tv_nsec / 1000u) != CL_OK)
        return CL_ERR_CRYPTO;
    cl_x509i_to_hex_upper(serial, sizeof(serial), serial_hex);
    return CL_OK;
}

/* ---- names ---- */

/* Builds a name list in DER order (the first attribute is the first RDN). 2.28's writer emits
 * the list head last, and mbedtls_asn1_store_named_data prepends, so storing in order gives
 * the order given. Each OID appears once. */
int cl_x509i_build_name(const struct name_attr *attrs, size_t count, mbedtls_asn1_named_data **out)
{
    *out = NULL;
    for (size_t i = 0; i < count; i++) {
        mbedtls_asn1_named_data *cur;
        if (attrs[i].value == NULL)
            continue;
        cur = mbedtls_asn1_store_named_data(out, attrs[i].oid, attrs[i].oid_len,
                                            (const unsigned char *)attrs[i].value,
                                            strlen(attrs[i].value));
        if (cur == NULL) {
            mbedtls_asn1_free_named_data_list(out);
            return CL_ERR_NOMEM;
        }
        cur->val.tag = attrs[i].tag;
    }
    return CL_OK;
}

/* Copies a parsed certificate name (its exact tags and values) into a list for the writer. */
int cl_x509i_copy_name(const mbedtls_x509_name *name, mbedtls_asn1_named_data **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    for (const mbedtls_x509_name *n = name; n != NULL; n = n->next) {
        mbedtls_asn1_named_data *cur;
        if (n->oid.p == NULL)
            continue;
        if (n->next_merged) {
            snprintf(err, errlen, "the CA certificate's subject has a multi-valued RDN");
            goto fail;
        }
        if (mbedtls_asn1_find_named_data(*out, (const char *)n->oid.p, n->oid.len) != NULL) {
            snprintf(err, errlen, "the CA certificate's subject repeats an attribute");
            goto fail;
        }
        cur = mbedtls_asn1_store_named_data(out, (const char *)n->oid.p, n->oid.len, n->val.p,
                                            n->val.len);
        if (cur == NULL) {
            snprintf(err, errlen, "out of memory");
            mbedtls_asn1_free_named_data_list(out);
            return CL_ERR_NOMEM;
        }
        cur->val.tag = n->val.tag;
    }
    if (*out != NULL)
        return CL_OK;
    snprintf(err, errlen, "the CA certificate has an empty subject");
fail:
    mbedtls_asn1_free_named_data_list(out);
    return CL_ERR_INVALID_ARGUMENT;
}

/* ---- extensions ---- */

/* SHA-1 over the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1, as OpenSSL does). */
int cl_x509i_key_identifier(const mbedtls_pk_context *key, unsigned char id[20])
{
    unsigned char buf[2 * MBEDTLS_MPI_MAX_SIZE + 64];
    unsigned char *p = buf + sizeof(buf);
    int len = mbedtls_pk_write_pubkey(&p, buf, key);

    if (len <= 0 || mbedtls_sha1_ret(p, (size_t)len, id) != 0)
        return CL_ERR_CRYPTO;
    return CL_OK;
}

/* The value of extension oid in crt (the content of extnValue); 0 if found. */
static int find_extension(const mbedtls_x509_crt *crt, const char *oid, size_t oid_len,
                          unsigned char **val, size_t *val_len)
{
    unsigned char *p = crt->v3_ext.p, *end;
    size_t len;

    if (p == NULL || crt->v3_ext.len == 0)
        return -1;
    end = p + crt->v3_ext.len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0 ||
        len != (size_t)(end - p))
        return -1;
    while (p < end) {
        unsigned char *ext_end, *id;
        size_t id_len;
        int critical = 0;
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) !=
            0)
            return -1;
        ext_end = p + len;
        if (mbedtls_asn1_get_tag(&p, ext_end, &id_len, MBEDTLS_ASN1_OID) != 0)
            return -1;
        id = p;
        p += id_len;
        (void)mbedtls_asn1_get_bool(&p, ext_end, &critical); /* optional */
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0)
            return -1;
        if (id_len == oid_len && memcmp(id, oid, oid_len) == 0) {
            *val = p;
            *val_len = len;
            return 0;
        }
        p = ext_end;
    }
    return -1;
}

/* The CA's own subjectKeyIdentifier if it has one (so that AKI matches it whoever made the CA),
 * else the SHA-1 key identifier of its public key. */
int cl_x509i_ca_key_identifier(const mbedtls_x509_crt *crt, unsigned char id[KEY_ID_MAX],
                               size_t *id_len)
{
    unsigned char *val;
    size_t len;

    if (find_extension(crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                       MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), &val, &len) == 0) {
        unsigned char *p = val;
        size_t key_len;
        if (mbedtls_asn1_get_tag(&p, val + len, &key_len, MBEDTLS_ASN1_OCTET_STRING) == 0 &&
            key_len >= 1 && key_len <= KEY_ID_MAX && p + key_len == val + len) {
            memcpy(id, p, key_len);
            *id_len = key_len;
            return CL_OK;
        }
    }
    *id_len = 20;
    return cl_x509i_key_identifier(&crt->pk, id);
}

#define CHK(f)                                                                                     \
    do {                                                                                           \
        int chk_ = (f);                                                                            \
        if (chk_ < 0)                                                                              \
            return CL_ERR_CRYPTO;                                                                  \
        len += (size_t)chk_;                                                                       \
    } while (0)

static int set_ext(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len, int critical,
                   const unsigned char *val, size_t len)
{
    return mbedtls_x509write_crt_set_extension(crt, oid, oid_len, critical, val, len) == 0
               ? CL_OK
               : CL_ERR_NOMEM;
}

/* basicConstraints, always critical: SEQUENCE {} for cA false, else {TRUE, pathlen}. */
static int ext_basic_constraints(mbedtls_x509write_cert *crt, int is_ca, int pathlen)
{
    unsigned char buf[16], *p = buf + sizeof(buf);
    size_t len = 0;

    if (is_ca) {
        CHK(mbedtls_asn1_write_int(&p, buf, pathlen));
        CHK(mbedtls_asn1_write_bool(&p, buf, 1));
    }
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return set_ext(crt, MBEDTLS_OID_BASIC_CONSTRAINTS,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS), 1, p, len);
}

/* extendedKeyUsage (not critical): serverAuth and/or clientAuth, in that order. */
static int ext_eku(mbedtls_x509write_cert *crt, int eku)
{
    unsigned char buf[32], *p = buf + sizeof(buf);
    size_t len = 0;

    if (eku & EKU_CLIENT)
        CHK(mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
    if (eku & EKU_SERVER)
        CHK(mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return set_ext(crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p, len);
}

/* A non-critical extension SEQUENCE { [tag] IMPLICIT value }: the form of a subjectAltName with
 * one dNSName ([2]) and of an authorityKeyIdentifier with only keyIdentifier ([0]). */
static int ext_one_tagged(mbedtls_x509write_cert *crt, const char *oid, size_t oid_len, int tag,
                          const unsigned char *value, size_t value_len)
{
    unsigned char buf[(NAME_MAX_LEN > KEY_ID_MAX ? NAME_MAX_LEN : KEY_ID_MAX) + 16];
    unsigned char *p = buf + sizeof(buf);
    size_t len = 0;

    CHK(mbedtls_asn1_write_raw_buffer(&p, buf, value, value_len));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, (unsigned char)(MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag)));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return set_ext(crt, oid, oid_len, 0, p, len);
}

/* subjectAltName (the subject is not empty): one dNSName. */
static int ext_san_dns(mbedtls_x509write_cert *crt, const char *dns)
{
    return ext_one_tagged(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                          MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 2,
                          (const unsigned char *)dns, strlen(dns));
}

static int ext_ski(mbedtls_x509write_cert *crt, const unsigned char *id, size_t id_len)
{
    unsigned char buf[KEY_ID_MAX + 8], *p = buf + sizeof(buf);
    size_t len = 0;

    CHK(mbedtls_asn1_write_octet_string(&p, buf, id, id_len));
    return set_ext(crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), 0, p, len);
}

static int ext_aki(mbedtls_x509write_cert *crt, const unsigned char *id, size_t id_len)
{
    return ext_one_tagged(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                          MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, id, id_len);
}

#undef CHK

/* ---- certificate writing ---- */

/* "YYYYMMDDhhmmss" (UTC) for mbedtls_x509write_crt_set_validity; years 1970..9999. */
static int format_time(time_t t, char out[15])
{
    struct tm tm;

    if (t < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999)
        return CL_ERR_INVALID_ARGUMENT;
    return strftime(out, 15, "%Y%m%d%H%M%S", &tm) == 14 ? CL_OK : CL_ERR_INVALID_ARGUMENT;
}

/* The validity written: not_before + days, nested in the issuer's: it starts no earlier and
 * ends no later than the issuer (a certificate never outlives the one that signed it). */
static int nested_validity(const struct profile *pr, time_t *not_before, time_t *not_after)
{
    *not_before = pr->not_before;
    *not_after = pr->not_before + (time_t)pr->days * 86400;
    if (pr->issuer_not_before != 0 && *not_before < pr->issuer_not_before)
        *not_before = pr->issuer_not_before;
    if (pr->issuer_not_after != 0 && *not_after > pr->issuer_not_after)
        *not_after = pr->issuer_not_after;
    return *not_after > *not_before ? CL_OK : CL_ERR_STATE;
}

/* Writes and signs a certificate; *der is malloc'd. */
int cl_x509i_write_cert(const struct profile *pr, mbedtls_pk_context *subject_key,
                        const struct issuer *is, unsigned char **der, size_t *der_len)
{
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char ski[20], *buf = NULL;
    char from[15], to[15];
    time_t not_before, not_after;
    int rc, n;

    *der = NULL;
    *der_len = 0;
    if (pr->days < 1 || pr->not_before > (time_t)253402300799 - (time_t)pr->days * 86400 ||
        nested_validity(pr, &not_before, &not_after) != CL_OK ||
        format_time(not_before, from) != CL_OK || format_time(not_after, to) != CL_OK)
        return CL_ERR_INVALID_ARGUMENT;
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
    /* The name lists belong to the caller: set here, taken back before mbedtls frees crt. */
    crt.subject = pr->subject;
    crt.issuer = is->name;
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, subject_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, is->key);
    rc = CL_ERR_CRYPTO;
    if (mbedtls_mpi_read_binary(&serial, pr->serial, pr->serial_len) != 0 ||
        mbedtls_x509write_crt_set_serial(&crt, &serial) != 0 ||
        mbedtls_x509write_crt_set_validity(&crt, from, to) != 0)
        goto out;
    if ((rc = cl_x509i_key_identifier(subject_key, ski)) != CL_OK ||
        (rc = ext_basic_constraints(&crt, pr->is_ca, pr->pathlen)) != CL_OK ||
        (rc = mbedtls_x509write_crt_set_key_usage(&crt, pr->key_usage) == 0
                  ? CL_OK
                  : CL_ERR_CRYPTO) != CL_OK ||
        (rc = ext_ski(&crt, ski, sizeof(ski))) != CL_OK ||
        (rc = is->key_id != NULL ? ext_aki(&crt, is->key_id, is->key_id_len)
                                 : ext_aki(&crt, ski, sizeof(ski))) != CL_OK ||
        (pr->eku != 0 && (rc = ext_eku(&crt, pr->eku)) != CL_OK) ||
        (pr->san_dns != NULL && (rc = ext_san_dns(&crt, pr->san_dns)) != CL_OK))
        goto out;
    if ((buf = malloc(DER_BUF)) == NULL) {
        rc = CL_ERR_NOMEM;
        goto out;
    }
    /* not mbedtls_x509write_crt_der: 2.28's writes a NULL into ECDSA AlgorithmIdentifiers */
    n = cl_x509write_crt_der(&crt, buf, DER_BUF, cl_rng, NULL);
    if (n <= 0) {
        rc = CL_ERR_CRYPTO;
        goto out;
    }
    if ((*der = malloc((size_t)n)) == NULL) {
        rc = CL_ERR_NOMEM;
        goto out;
    }
    memcpy(*der, buf + DER_BUF - n, (size_t)n);
    *der_len = (size_t)n;
    rc = CL_OK;
out:
    free(buf);
    crt.subject = NULL;
    crt.issuer = NULL;
    mbedtls_x509write_crt_free(&crt);
    mbedtls_mpi_free(&serial);
    return rc;
}

/* The private key as DER into out->key_der (malloc'd); the stack copy is wiped. */
int cl_x509i_export_key(mbedtls_pk_context *key, struct cl_issued *out)
{
    unsigned char buf[DER_BUF];
    int n = mbedtls_pk_write_key_der(key, buf, sizeof(buf));
    int rc = CL_ERR_CRYPTO;

    if (n > 0) {
        out->key_der = malloc((size_t)n);
        if (out->key_der == NULL) {
            rc = CL_ERR_NOMEM;
        } else {
            memcpy(out->key_der, buf + sizeof(buf) - n, (size_t)n);
            out->key_len = (size_t)n;
            rc = CL_OK;
        }
    }
    mbedtls_platform_zeroize(buf, sizeof(buf));
    return rc;
}

void cl_issued_free(struct cl_issued *issued)
{
    if (issued == NULL)
        return;
    free(issued->cert_der);
    if (issued->key_der != NULL) {
        mbedtls_platform_zeroize(issued->key_der, issued->key_len);
        free(issued->key_der);
    }
    memset(issued, 0, sizeof(*issued));
}

/* The certificate by profile for key (generated by the caller), and the key, into out. */
int cl_x509i_issue_with_key(mbedtls_pk_context *key, const struct profile *pr,
                            const struct issuer *is, struct cl_issued *out)
{
    int rc = cl_x509i_write_cert(pr, key, is, &out->cert_der, &out->cert_len);

    if (rc == CL_OK)
        rc = cl_x509i_export_key(key, out);
    if (rc == CL_OK)
        cl_x509i_to_hex_upper(pr->serial, pr->serial_len, out->serial_hex);
    else
        cl_issued_free(out);
    return rc;
}

/* New key of type, certificate by profile, both into out. */
int cl_x509i_issue(enum cl_key_type type, struct profile *pr, const struct issuer *is,
                   struct cl_issued *out)
{
    mbedtls_pk_context key;
    int rc;

    mbedtls_pk_init(&key);
    rc = cl_x509i_generate_key(type, &key);
    if (rc == CL_OK)
        rc = cl_x509i_issue_with_key(&key, pr, is, out);
    else
        cl_issued_free(out);
    mbedtls_pk_free(&key); /* zeroises the private key */
    return rc;
}

int cl_x509i_der_to_pem(const unsigned char *der, size_t len, size_t max, const char *label,
                        char **pem)
{
    char header[64], footer[64];
    size_t cap, olen = 0;
    unsigned char *buf;

    if (pem == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    *pem = NULL;
    if (der == NULL || len == 0 || len > max)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(header, sizeof(header), "-----BEGIN %s-----\n", label);
    snprintf(footer, sizeof(footer), "-----END %s-----\n", label);
    /* base64, a newline per 64 characters, the armour lines and the NUL */
    cap = 4 * ((len + 2) / 3) + (len / 48 + 2) + strlen(header) + strlen(footer) + 1;
    if ((buf = malloc(cap)) == NULL)
        return CL_ERR_NOMEM;
    if (mbedtls_pem_write_buffer(header, footer, der, len, buf, cap, &olen) != 0) {
        free(buf);
        return CL_ERR_CRYPTO;
    }
    *pem = (char *)buf;
    return CL_OK;
}

int cl_cert_der_to_pem(const unsigned char *der, size_t len, char **pem)
{
    return cl_x509i_der_to_pem(der, len, DER_BUF * 4, "CERTIFICATE", pem);
}
