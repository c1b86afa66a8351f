/* x509_issue.c: issues certline certificates with mbedTLS 2.28 (the CA pair, service and device
 * certificates; profiles in x509_issue.h) and owns the process-wide random generator that every
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
 * basicConstraints for cA false, authorityKeyIdentifier from the CA's own SKI) are encoded here
 * with the ASN.1 writer; all of them are a few dozen bytes, and the output buffer is generous
 * (2.28 has a heap overflow when writing large extension lengths). The certificate itself is
 * written and signed by x509_der.c, whose ECDSA signature AlgorithmIdentifiers have no
 * parameters (2.28's mbedtls_x509write_crt_der writes a NULL there).
 * mbedTLS 3.6 note: the subject/issuer name lists are set on mbedtls_x509write_cert directly
 * (ctx.subject, ctx.issuer) and the SHA functions are the *_ret ones; both change in 3.x. */
#include "x509_issue.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "log.h"
#include "x509_der.h"

#define ORGANISATION_MAX 64  /* ub-organization-name */
#define NAME_MAX_LEN 64      /* ub-common-name, CL_PEER_NAME_MAX */
#define NUMBER_MAX_LEN 32    /* CL_PEER_NUMBER_MAX */
#define DEVICE_NUMBER_MAX 31 /* struct cl_pack.device_number */
#define MODEL_CODE_MAX 15    /* struct cl_pack.model_code */
#define VALIDITY_DAYS_MAX 36500
#define SERIAL_RANDOM_OCTETS 16
#define DEVICE_SERIAL_MIN_OCTETS 8 /* 64 bits */
#define CA_CERT_INPUT_MAX 65536
#define CA_KEY_INPUT_MAX 16384
#define DER_BUF 8192 /* certificates and keys written here are far smaller */
#define KEY_ID_MAX 64
#define RSA_EXPONENT 65537

/* ---- random numbers ---- */

#define RNG_CHUNK MBEDTLS_CTR_DRBG_MAX_REQUEST

static pthread_once_t rng_once = PTHREAD_ONCE_INIT;
/* Serialises the generator and keeps it out of fork(): no thread is inside it when the child
 * is created, so the child can reseed it safely. */
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_ready;  /* written once inside pthread_once */
static int rng_forked; /* under rng_lock: reseed before the next output */

static void rng_before_fork(void)
{
    pthread_mutex_lock(&rng_lock);
}

static void rng_after_fork_parent(void)
{
    pthread_mutex_unlock(&rng_lock);
}

static void rng_after_fork_child(void)
{
    rng_forked = 1; /* parent and child must never emit the same stream */
    pthread_mutex_unlock(&rng_lock);
}

static void rng_init(void)
{
    static const unsigned char personalisation[] = "certline crypto rng v1";

    mbedtls_entropy_init(&rng_entropy);
    mbedtls_ctr_drbg_init(&rng_drbg);
    if (mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy, personalisation,
                              sizeof(personalisation) - 1) != 0) {
        cl_log_error("cannot seed the random generator from the entropy source");
        return;
    }
    if (pthread_atfork(rng_before_fork, rng_after_fork_parent, rng_after_fork_child) != 0) {
        cl_log_error("cannot register the random generator's fork handlers");
        return;
    }
    rng_ready = 1;
}

int cl_rng(void *p_rng, unsigned char *out, size_t len)
{
    int ret = 0;

    (void)p_rng;
    if (pthread_once(&rng_once, rng_init) != 0 || !rng_ready)
        return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
    if (out == NULL && len > 0)
        return MBEDTLS_ERR_CTR_DRBG_INPUT_TOO_BIG;
    pthread_mutex_lock(&rng_lock);
    if (rng_forked) {
        ret = mbedtls_ctr_drbg_reseed(&rng_drbg, NULL, 0);
        if (ret == 0)
            rng_forked = 0;
    }
    while (ret == 0 && len > 0) {
        size_t n = len < RNG_CHUNK ? len : RNG_CHUNK;
        ret = mbedtls_ctr_drbg_random(&rng_drbg, out, n);
        out += n;
        len -= n;
    }
    pthread_mutex_unlock(&rng_lock);
    return ret;
}

int cl_random_bytes(unsigned char *out, size_t len)
{
    return cl_rng(NULL, out, len) == 0 ? CL_OK : CL_ERR_CRYPTO;
}

/* ---- the shared P-256 group ---- */

static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
static mbedtls_ecp_group p256; /* process lifetime; read-only after p256_init */
static int p256_ready;

static void p256_init(void)
{
    mbedtls_mpi d;
    mbedtls_ecp_point q;

    mbedtls_ecp_group_init(&p256);
    mbedtls_mpi_init(&d);
    mbedtls_ecp_point_init(&q);
    /* The first multiplication by G computes the fixed-point table and keeps it in the group;
     * later ones only read it, so the group can be shared by threads from here on. */
    if (mbedtls_ecp_group_load(&p256, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
        mbedtls_ecp_gen_privkey(&p256, &d, cl_rng, NULL) == 0 &&
        mbedtls_ecp_mul(&p256, &q, &d, &p256.G, cl_rng, NULL) == 0)
        p256_ready = 1;
    else
        cl_log_error("cannot prepare the P-256 group");
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&q);
}

static int p256_get(void)
{
    if (pthread_once(&p256_once, p256_init) != 0 || !p256_ready)
        return CL_ERR_CRYPTO;
    return CL_OK;
}

/* ---- key types ---- */

const char *cl_key_type_name(enum cl_key_type type)
{
    switch (type) {
    case CL_KEY_P256:
        return "p256";
    case CL_KEY_RSA2048:
        return "rsa2048";
    case CL_KEY_RSA3072:
        return "rsa3072";
    }
    return "unknown";
}

int cl_key_type_parse(const char *name, enum cl_key_type *out)
{
    static const enum cl_key_type types[] = {CL_KEY_P256, CL_KEY_RSA2048, CL_KEY_RSA3072};

    if (name == NULL || out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(name, cl_key_type_name(types[i])) == 0) {
            *out = types[i];
            return CL_OK;
        }
    return CL_ERR_INVALID_ARGUMENT;
}

/* Generates a new key of type into key (initialised, empty). */
static int generate_key(enum cl_key_type type, mbedtls_pk_context *key)
{
    unsigned bits;

    switch (type) {
    case CL_KEY_P256: {
        mbedtls_ecp_keypair *kp;
        int rc = p256_get();
        if (rc != CL_OK)
            return rc;
        if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
            return CL_ERR_NOMEM;
        if ((kp = mbedtls_pk_ec(*key)) == NULL)
            return CL_ERR_INTERNAL;
        /* Loading the curve constants is cheap (no table); d and Q come from the shared group. */
        if (mbedtls_ecp_group_load(&kp->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
            mbedtls_ecp_gen_privkey(&p256, &kp->d, cl_rng, NULL) != 0 ||
            mbedtls_ecp_mul(&p256, &kp->Q, &kp->d, &p256.G, cl_rng, NULL) != 0)
            return CL_ERR_CRYPTO;
        return CL_OK;
    }
    case CL_KEY_RSA2048:
        bits = 2048;
        break;
    case CL_KEY_RSA3072:
        bits = 3072;
        break;
    default:
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0)
        return CL_ERR_NOMEM;
    if (mbedtls_rsa_gen_key(mbedtls_pk_rsa(*key), cl_rng, NULL, bits, RSA_EXPONENT) != 0)
        return CL_ERR_CRYPTO;
    return CL_OK;
}

/* ---- input rules ---- */

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1..max characters of [0-9A-Za-z.-], the first a letter or digit (PrintableString-safe). */
static int valid_code(const char *s, size_t max)
{
    size_t n;

    if (s == NULL || !is_alnum(s[0]))
        return 0;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= max || !(is_alnum(s[n]) || s[n] == '-' || s[n] == '.'))
            return 0;
    return 1;
}

int cl_device_number_valid(const char *device_number)
{
    return valid_code(device_number, DEVICE_NUMBER_MAX);
}

int cl_model_code_valid(const char *model_code)
{
    return valid_code(model_code, MODEL_CODE_MAX);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cl_serial_hex_valid(const char *serial_hex)
{
    size_t n;

    if (serial_hex == NULL)
        return 0;
    for (n = 0; serial_hex[n] != '\0'; n++)
        if (n >= CL_SERIAL_HEX_MAX || hex_value(serial_hex[n]) < 0)
            return 0;
    return n >= 2 && n % 2 == 0 && !(serial_hex[0] == '0' && serial_hex[1] == '0');
}

/* A DNS name of at most NAME_MAX_LEN characters: labels of 1..63 [A-Za-z0-9-], not starting or
 * ending with '-', separated by single dots, no trailing dot. */
static int valid_dns_name(const char *s)
{
    size_t n = 0, label = 0;

    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= NAME_MAX_LEN)
            return 0;
        if (c == '.') {
            if (label == 0 || s[n - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alnum(c) || c == '-') {
            if (c == '-' && label == 0)
                return 0;
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return n > 0 && label > 0 && s[n - 1] != '-';
}

/* Printable ASCII text of 1..max characters without leading or trailing space, and without the
 * characters that have a meaning in textual DNs (, + = " \ < > ; #), for names that are not DNS
 * names (organisation, a common certificate's CN). */
static int valid_text(const char *s, size_t max)
{
    size_t n;

    if (s == NULL || s[0] == ' ')
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || c < 0x20 || c > 0x7e || strchr(",+=\"\\<>;#", c) != NULL)
            return 0;
    }
    return n > 0 && s[n - 1] != ' ';
}

static int valid_days(int days)
{
    return days >= 1 && days <= VALIDITY_DAYS_MAX;
}

/* ---- serial numbers ---- */

static void to_hex_upper(const unsigned char *in, size_t len, char *out)
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
static int random_serial(unsigned char serial[SERIAL_RANDOM_OCTETS])
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
    if (random_serial(serial) != CL_OK)
        return CL_ERR_CRYPTO;
    to_hex_upper(serial, sizeof(serial), serial_hex);
    return CL_OK;
}

/* Decodes a serial for issuing: cl_serial_hex_valid, at least min_octets, positive (first
 * octet below 0x80, so that the DER INTEGER needs no sign octet and stays within 20 octets). */
static int decode_serial(const char *hex, size_t min_octets, unsigned char *out, size_t *len)
{
    size_t n;

    if (!cl_serial_hex_valid(hex))
        return CL_ERR_INVALID_ARGUMENT;
    n = strlen(hex) / 2;
    if (n < min_octets || hex_value(hex[0]) >= 8)
        return CL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    *len = n;
    return CL_OK;
}

/* ---- names ---- */

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

/* Builds a name list in DER order (the first attribute is the first RDN). 2.28's writer emits
 * the list head last, and mbedtls_asn1_store_named_data prepends, so storing in order gives
 * the order given. Each OID appears once. */
static int build_name(const struct name_attr *attrs, size_t count, mbedtls_asn1_named_data **out)
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
static int copy_name(const mbedtls_x509_name *name, mbedtls_asn1_named_data **out, char *err,
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
static int key_identifier(const mbedtls_pk_context *key, unsigned char id[20])
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
static int ca_key_identifier(const mbedtls_x509_crt *crt, unsigned char id[KEY_ID_MAX],
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
    return key_identifier(&crt->pk, id);
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

#define EKU_SERVER 1
#define EKU_CLIENT 2

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

/* subjectAltName (not critical; the subject is not empty): one dNSName. */
static int ext_san_dns(mbedtls_x509write_cert *crt, const char *dns)
{
    unsigned char buf[NAME_MAX_LEN + 16], *p = buf + sizeof(buf);
    size_t len = 0;

    CHK(mbedtls_asn1_write_raw_buffer(&p, buf, (const unsigned char *)dns, strlen(dns)));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return set_ext(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, p, len);
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
    unsigned char buf[KEY_ID_MAX + 8], *p = buf + sizeof(buf);
    size_t len = 0;

    CHK(mbedtls_asn1_write_raw_buffer(&p, buf, id, id_len));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0));
    CHK(mbedtls_asn1_write_len(&p, buf, len));
    CHK(mbedtls_asn1_write_tag(&p, buf, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return set_ext(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                   MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, p, len);
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
static int write_cert(const struct profile *pr, mbedtls_pk_context *subject_key,
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
    if ((rc = key_identifier(subject_key, ski)) != CL_OK ||
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
static int export_key(mbedtls_pk_context *key, struct cl_issued *out)
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

/* ---- the signer ---- */

struct cl_signer {
    mbedtls_x509_crt cert;
    mbedtls_pk_context key; /* MBEDTLS_PK_ECDSA or MBEDTLS_PK_RSA; read-only once built */
    mbedtls_asn1_named_data *name;
    unsigned char key_id[KEY_ID_MAX];
    size_t key_id_len;
    char organisation[ORGANISATION_MAX + 1];
    time_t not_before, not_after; /* the CA certificate's validity */
};

/* An X.509 time (UTC) as seconds since 1970; -1 if it is not a valid time after 1970. */
static time_t x509_time_unix(const mbedtls_x509_time *t)
{
    struct tm tm = {0};
    time_t out;

    if (t->year < 1970 || t->year > 9999 || t->mon < 1 || t->mon > 12 || t->day < 1 ||
        t->day > 31 || t->hour < 0 || t->hour > 23 || t->min < 0 || t->min > 59 || t->sec < 0 ||
        t->sec > 60)
        return -1;
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    out = timegm(&tm);
    return out < 0 ? -1 : out;
}

int cl_cert_validity(const unsigned char *cert, size_t len, time_t *not_before, time_t *not_after)
{
    mbedtls_x509_crt crt;
    int rc = CL_ERR_PARSE;

    if (cert == NULL || len == 0 || not_before == NULL || not_after == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, cert, len) == 0) {
        *not_before = x509_time_unix(&crt.valid_from);
        *not_after = x509_time_unix(&crt.valid_to);
        if (*not_before >= 0 && *not_after >= 0)
            rc = CL_OK;
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

static int sign_hash(mbedtls_pk_context *key, const unsigned char hash[32],
                     unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], size_t *sig_len)
{
    return mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len, cl_rng, NULL) == 0
               ? CL_OK
               : CL_ERR_CRYPTO;
}

/* Moves the parsed CA key into signer->key in a context of its own type: an EC key becomes
 * MBEDTLS_PK_ECDSA (signing then works on it directly, with the table it keeps). */
static int adopt_key(struct cl_signer *s, mbedtls_pk_context *parsed, char *err, size_t errlen)
{
    switch (mbedtls_pk_get_type(parsed)) {
    case MBEDTLS_PK_ECKEY:
    case MBEDTLS_PK_ECDSA:
        if (mbedtls_pk_setup(&s->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA)) != 0 ||
            mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(s->key), mbedtls_pk_ec(*parsed)) != 0) {
            snprintf(err, errlen, "cannot set up the CA key");
            return CL_ERR_NOMEM;
        }
        return CL_OK;
    case MBEDTLS_PK_RSA:
        s->key = *parsed; /* the context is a pointer pair: ownership moves */
        mbedtls_pk_init(parsed);
        return CL_OK;
    default:
        snprintf(err, errlen, "the CA key is neither EC nor RSA");
        return CL_ERR_INVALID_ARGUMENT;
    }
}

int cl_signer_new(const unsigned char *ca_cert, size_t ca_cert_len, const unsigned char *ca_key_der,
                  size_t ca_key_len, const char *organisation, struct cl_signer **out, char *err,
                  size_t errlen)
{
    static const unsigned char probe[32] = "certline signer self-test";
    struct cl_signer *s = NULL;
    mbedtls_pk_context parsed;
    unsigned char *cert_copy = NULL, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    char dummy[8];
    int rc, ret;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (out == NULL) {
        snprintf(err, errlen, "no place for the signer");
        return CL_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    if (ca_cert == NULL || ca_cert_len == 0 || ca_cert_len > CA_CERT_INPUT_MAX) {
        snprintf(err, errlen, "the CA certificate is missing or longer than %d bytes",
                 CA_CERT_INPUT_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (ca_key_der == NULL || ca_key_len == 0 || ca_key_len > CA_KEY_INPUT_MAX) {
        snprintf(err, errlen, "the CA key is missing or longer than %d bytes", CA_KEY_INPUT_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_text(organisation, ORGANISATION_MAX)) {
        snprintf(err, errlen,
                 "organisation must be 1 to %d printable characters without , + = \" \\ < > ; #",
                 ORGANISATION_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    mbedtls_x509_crt_init(&s->cert);
    mbedtls_pk_init(&s->key);
    mbedtls_pk_init(&parsed);
    strcpy(s->organisation, organisation);

    /* PEM must reach mbedTLS NUL-terminated, its NUL counted in the length; DER starts with a
     * SEQUENCE tag, anything else is taken as text. */
    if (ca_cert[ca_cert_len - 1] != '\0' && ca_cert[0] != 0x30) {
        if ((cert_copy = malloc(ca_cert_len + 1)) == NULL) {
            rc = CL_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(cert_copy, ca_cert, ca_cert_len);
        cert_copy[ca_cert_len] = '\0';
        ret = mbedtls_x509_crt_parse(&s->cert, cert_copy, ca_cert_len + 1);
    } else {
        ret = mbedtls_x509_crt_parse(&s->cert, ca_cert, ca_cert_len);
    }
    free(cert_copy);
    if (ret != 0 || s->cert.raw.p == NULL) {
        snprintf(err, errlen, "the CA certificate does not parse (mbedTLS -0x%04x)",
                 (unsigned)(ret < 0 ? -ret : 0));
        rc = CL_ERR_PARSE;
        goto fail;
    }
    if (!s->cert.ca_istrue ||
        mbedtls_x509_crt_check_key_usage(&s->cert, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
        snprintf(err, errlen,
                 "the CA certificate is not a CA (basicConstraints cA and keyUsage "
                 "keyCertSign are required)");
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    s->not_before = x509_time_unix(&s->cert.valid_from);
    s->not_after = x509_time_unix(&s->cert.valid_to);
    if (s->not_before < 0 || s->not_after <= s->not_before) {
        snprintf(err, errlen, "the CA certificate's validity is not a period after 1970");
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    if (mbedtls_x509_time_is_future(&s->cert.valid_from))
        cl_log_warn("the CA certificate is not valid yet: certificates it issues will not verify "
                    "until it is");
    if (mbedtls_x509_time_is_past(&s->cert.valid_to))
        cl_log_warn("the CA certificate has expired: it issues nothing more");
    if (mbedtls_pk_parse_key(&parsed, ca_key_der, ca_key_len, NULL, 0) != 0) {
        snprintf(err, errlen, "the CA private key does not parse");
        rc = CL_ERR_PARSE;
        goto fail;
    }
    if (mbedtls_pk_check_pair(&s->cert.pk, &parsed) != 0) {
        snprintf(err, errlen, "the CA private key does not belong to the CA certificate");
        rc = CL_ERR_CRYPTO;
        goto fail;
    }
    if ((rc = adopt_key(s, &parsed, err, errlen)) != CL_OK)
        goto fail;
    if ((rc = copy_name(&s->cert.subject, &s->name, err, errlen)) != CL_OK)
        goto fail;
    if ((rc = ca_key_identifier(&s->cert, s->key_id, &s->key_id_len)) != CL_OK) {
        snprintf(err, errlen, "cannot compute the CA key identifier");
        goto fail;
    }
    /* One signature now builds the key's fixed-point table before threads share it; checking
     * it against the certificate proves the adopted key. The shared P-256 group is prepared
     * here too. */
    if (sign_hash(&s->key, probe, sig, &sig_len) != CL_OK ||
        mbedtls_pk_verify(&s->cert.pk, MBEDTLS_MD_SHA256, probe, sizeof(probe), sig, sig_len) !=
            0 ||
        p256_get() != CL_OK) {
        snprintf(err, errlen, "the CA key failed its self-test signature");
        rc = CL_ERR_CRYPTO;
        goto fail;
    }
    mbedtls_pk_free(&parsed);
    *out = s;
    return CL_OK;
fail:
    mbedtls_pk_free(&parsed);
    cl_signer_free(s);
    return rc;
}

void cl_signer_free(struct cl_signer *signer)
{
    if (signer == NULL)
        return;
    mbedtls_x509_crt_free(&signer->cert);
    mbedtls_pk_free(&signer->key);
    mbedtls_asn1_free_named_data_list(&signer->name);
    mbedtls_platform_zeroize(signer, sizeof(*signer));
    free(signer);
}

time_t cl_signer_not_after(const struct cl_signer *signer)
{
    return signer != NULL ? signer->not_after : 0;
}

const unsigned char *cl_signer_cert_der(const struct cl_signer *signer, size_t *len)
{
    if (signer == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = signer->cert.raw.len;
    return signer->cert.raw.p;
}

int cl_signer_sign(struct cl_signer *signer, const unsigned char *data, size_t len,
                   unsigned char sig[CL_SIGNATURE_MAX], size_t *sig_len)
{
    unsigned char hash[32], buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t n = 0;
    int rc;

    if (signer == NULL || (data == NULL && len > 0) || sig == NULL || sig_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    *sig_len = 0;
    if (mbedtls_sha256_ret(data, len, hash, 0) != 0)
        return CL_ERR_CRYPTO;
    rc = sign_hash(&signer->key, hash, buf, &n);
    if (rc == CL_OK && n > CL_SIGNATURE_MAX)
        rc = CL_ERR_CRYPTO;
    if (rc == CL_OK) {
        memcpy(sig, buf, n);
        *sig_len = n;
    }
    return rc;
}

/* ---- issuing ---- */

static struct issuer signer_issuer(struct cl_signer *s)
{
    return (struct issuer){&s->key, s->name, s->key_id, s->key_id_len};
}

/* Nests pr's validity in the signer's; refuses (CL_ERR_STATE, logged) once the signer has
 * ended: nothing it signed from not_before on could be valid. */
static int nest_in_signer(const struct cl_signer *s, struct profile *pr, const char *what,
                          const char *name)
{
    char end[32];
    struct tm tm;

    pr->issuer_not_before = s->not_before;
    pr->issuer_not_after = s->not_after;
    if (pr->not_before < s->not_after && s->not_before < s->not_after)
        return CL_OK;
    gmtime_r(&s->not_after, &tm);
    strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cl_log_warn("%s certificate for %s refused: the CA that would sign it ended at %s", what, name,
                end);
    return CL_ERR_STATE;
}

/* New key of type, certificate by profile, both into out. */
static int issue(enum cl_key_type type, struct profile *pr, const struct issuer *is,
                 struct cl_issued *out)
{
    mbedtls_pk_context key;
    int rc;

    mbedtls_pk_init(&key);
    rc = generate_key(type, &key);
    if (rc == CL_OK)
        rc = write_cert(pr, &key, is, &out->cert_der, &out->cert_len);
    if (rc == CL_OK)
        rc = export_key(&key, out);
    if (rc == CL_OK)
        to_hex_upper(pr->serial, pr->serial_len, out->serial_hex);
    else
        cl_issued_free(out);
    mbedtls_pk_free(&key); /* zeroises the private key */
    return rc;
}

int cl_issue_device(struct cl_signer *signer, const char *device_number, const char *model_code,
                    enum cl_key_type key_type, const char *serial_hex, time_t not_before,
                    int validity_days, struct cl_issued *out)
{
    unsigned char serial[CL_SERIAL_HEX_MAX / 2];
    size_t serial_len = 0;
    struct profile pr;
    struct issuer is;
    enum cl_key_type parsed;
    int rc;

    if (out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (signer == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_device_number_valid(device_number)) {
        cl_log_warn("device certificate refused: the device number is not 1 to %d characters "
                    "0-9 A-Z a-z . -",
                    DEVICE_NUMBER_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_model_code_valid(model_code)) {
        cl_log_warn("device certificate for %s refused: the model code is not 1 to %d "
                    "characters 0-9 A-Z a-z . -",
                    device_number, MODEL_CODE_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (cl_key_type_parse(cl_key_type_name(key_type), &parsed) != CL_OK) {
        cl_log_warn("device certificate for %s refused: unknown key type %d", device_number,
                    (int)key_type);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (decode_serial(serial_hex, DEVICE_SERIAL_MIN_OCTETS, serial, &serial_len) != CL_OK) {
        cl_log_warn("device certificate for %s refused: the serial must be %d to %d upper-case "
                    "hex octets, positive, without a leading 00",
                    device_number, DEVICE_SERIAL_MIN_OCTETS, CL_SERIAL_HEX_MAX / 2);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_days(validity_days) || not_before < 0) {
        cl_log_warn("device certificate for %s refused: validity must be 1 to %d days from a "
                    "time after 1970",
                    device_number, VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    const struct name_attr attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, device_number),
        ATTR(MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_ASN1_PRINTABLE_STRING, device_number),
        ATTR(MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_ASN1_UTF8_STRING, cl_role_name(CL_ROLE_DEVICE)),
        ATTR(MBEDTLS_OID_AT_TITLE, MBEDTLS_ASN1_UTF8_STRING, model_code),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, signer->organisation),
    };
    pr = (struct profile){
        .serial = serial,
        .serial_len = serial_len,
        .not_before = not_before,
        .days = validity_days,
        .key_usage = key_type == CL_KEY_P256
                         ? MBEDTLS_X509_KU_DIGITAL_SIGNATURE
                         : MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT,
        .eku = EKU_CLIENT,
    };
    if ((rc = nest_in_signer(signer, &pr, "device", device_number)) != CL_OK)
        return rc;
    if ((rc = build_name(attrs, sizeof(attrs) / sizeof(attrs[0]), &pr.subject)) != CL_OK)
        return rc;
    is = signer_issuer(signer);
    rc = issue(key_type, &pr, &is, out);
    mbedtls_asn1_free_named_data_list(&pr.subject);
    if (rc != CL_OK)
        cl_log_warn("device certificate for %s failed: %s", device_number, cl_err_str(rc));
    return rc;
}

int cl_issue_service(struct cl_signer *signer, enum cl_role role, const char *name,
                     const char *number, time_t not_before, int validity_days,
                     struct cl_issued *out)
{
    unsigned char serial[SERIAL_RANDOM_OCTETS];
    int server = role == CL_ROLE_CA_SERVER || role == CL_ROLE_COMM_TERMINAL ||
                 role == CL_ROLE_FACTORY_TERMINAL;
    int needs_number = role == CL_ROLE_FACTORY_TERMINAL || role == CL_ROLE_DEVICE_COMMON;
    struct profile pr;
    struct issuer is;
    int rc;

    if (out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (signer == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!server && role != CL_ROLE_DEVICE_COMMON) {
        cl_log_warn("service certificate refused: role %s is not ca-server, comm-terminal, "
                    "factory-terminal or device-common",
                    cl_role_name(role));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (server ? !valid_dns_name(name) : !valid_text(name, NAME_MAX_LEN)) {
        cl_log_warn("%s certificate refused: the name must be %s of at most %d characters",
                    cl_role_name(role), server ? "a DNS name" : "printable text", NAME_MAX_LEN);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (number != NULL && number[0] == '\0')
        number = NULL;
    if ((number == NULL && needs_number) ||
        (number != NULL && !valid_code(number, NUMBER_MAX_LEN))) {
        cl_log_warn("%s certificate for %s refused: %s", cl_role_name(role), name,
                    number == NULL ? "the number (line id or model code) is required"
                                   : "the number must be 1 to 32 characters 0-9 A-Z a-z . -");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_days(validity_days) || not_before < 0) {
        cl_log_warn("%s certificate for %s refused: validity must be 1 to %d days from a time "
                    "after 1970",
                    cl_role_name(role), name, VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (random_serial(serial) != CL_OK)
        return CL_ERR_CRYPTO;
    const struct name_attr attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, name),
        ATTR(MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_ASN1_UTF8_STRING, cl_role_name(role)),
        ATTR(MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_ASN1_PRINTABLE_STRING, number),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, signer->organisation),
    };
    pr = (struct profile){
        .serial = serial,
        .serial_len = sizeof(serial),
        .not_before = not_before,
        .days = validity_days,
        .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
        /* A device serves its writing interface to the factory terminal with its model's common
         * certificate, so device-common is a server too (but has no DNS name). */
        .eku = EKU_SERVER | EKU_CLIENT,
        .san_dns = server ? name : NULL,
    };
    if ((rc = nest_in_signer(signer, &pr, cl_role_name(role), name)) != CL_OK)
        return rc;
    if ((rc = build_name(attrs, sizeof(attrs) / sizeof(attrs[0]), &pr.subject)) != CL_OK)
        return rc;
    is = signer_issuer(signer);
    rc = issue(CL_KEY_P256, &pr, &is, out);
    mbedtls_asn1_free_named_data_list(&pr.subject);
    if (rc != CL_OK)
        cl_log_warn("%s certificate for %s failed: %s", cl_role_name(role), name, cl_err_str(rc));
    return rc;
}

/* The issuing CA profile under is: "CN=certline issuing CA <tag>, O=<organisation>", cA true,
 * pathlen 0, validity nested in the issuer's [issuer_not_before, issuer_not_after]. */
static int issue_issuing(const char *organisation, const struct issuer *is,
                         time_t issuer_not_before, time_t issuer_not_after, time_t not_before,
                         int days, struct cl_issued *out)
{
    unsigned char serial[SERIAL_RANDOM_OCTETS];
    char cn[48], hex[9];
    mbedtls_asn1_named_data *name = NULL;
    mbedtls_pk_context key;
    struct profile pr;
    int rc;

    if (random_serial(serial) != CL_OK)
        return CL_ERR_CRYPTO;
    /* A generation tag in the CN (from the serial) tells CAs made again, or rolled over, apart
     * by name. */
    to_hex_upper(serial, 4, hex);
    snprintf(cn, sizeof(cn), "certline issuing CA %s", hex);
    const struct name_attr attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, cn),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, organisation),
    };
    mbedtls_pk_init(&key);
    if ((rc = build_name(attrs, 2, &name)) != CL_OK ||
        (rc = generate_key(CL_KEY_P256, &key)) != CL_OK)
        goto out;
    pr = (struct profile){
        .subject = name,
        .serial = serial,
        .serial_len = sizeof(serial),
        .not_before = not_before,
        .days = days,
        .issuer_not_before = issuer_not_before,
        .issuer_not_after = issuer_not_after,
        .is_ca = 1,
        .pathlen = 0,
        .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN,
    };
    if ((rc = write_cert(&pr, &key, is, &out->cert_der, &out->cert_len)) != CL_OK ||
        (rc = export_key(&key, out)) != CL_OK)
        goto out;
    to_hex_upper(serial, sizeof(serial), out->serial_hex);
out:
    if (rc != CL_OK)
        cl_issued_free(out);
    mbedtls_asn1_free_named_data_list(&name);
    mbedtls_pk_free(&key);
    return rc;
}

int cl_issue_ca_pair(const char *organisation, time_t not_before, int root_days, int issuing_days,
                     struct cl_issued *root, struct cl_issued *issuing)
{
    unsigned char root_serial[SERIAL_RANDOM_OCTETS];
    unsigned char root_id[20];
    char root_cn[48], hex[9];
    mbedtls_pk_context root_key;
    struct profile pr;
    struct issuer is;
    int rc;

    if (root == NULL || issuing == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(root, 0, sizeof(*root));
    memset(issuing, 0, sizeof(*issuing));
    if (!valid_text(organisation, ORGANISATION_MAX)) {
        cl_log_warn("CA refused: the organisation must be 1 to %d printable characters without "
                    ", + = \" \\ < > ; #",
                    ORGANISATION_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_days(root_days) || !valid_days(issuing_days) || not_before < 0) {
        cl_log_warn("CA refused: validity must be 1 to %d days from a time after 1970",
                    VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (random_serial(root_serial) != CL_OK)
        return CL_ERR_CRYPTO;
    to_hex_upper(root_serial, 4, hex);
    snprintf(root_cn, sizeof(root_cn), "certline root CA %s", hex);
    const struct name_attr root_attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, root_cn),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, organisation),
    };
    mbedtls_asn1_named_data *root_name = NULL;

    mbedtls_pk_init(&root_key);
    if ((rc = build_name(root_attrs, 2, &root_name)) != CL_OK)
        goto out;

    /* Root: self-signed, pathlen 1. */
    if ((rc = generate_key(CL_KEY_P256, &root_key)) != CL_OK ||
        (rc = key_identifier(&root_key, root_id)) != CL_OK)
        goto out;
    pr = (struct profile){
        .subject = root_name,
        .serial = root_serial,
        .serial_len = sizeof(root_serial),
        .not_before = not_before,
        .days = root_days,
        .is_ca = 1,
        .pathlen = 1,
        .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN,
    };
    is = (struct issuer){&root_key, root_name, NULL, 0};
    if ((rc = write_cert(&pr, &root_key, &is, &root->cert_der, &root->cert_len)) != CL_OK ||
        (rc = export_key(&root_key, root)) != CL_OK)
        goto out;
    to_hex_upper(root_serial, sizeof(root_serial), root->serial_hex);

    /* Issuing CA: signed by the root, ending no later than the root. */
    is = (struct issuer){&root_key, root_name, root_id, sizeof(root_id)};
    rc = issue_issuing(organisation, &is, not_before, not_before + (time_t)root_days * 86400,
                       not_before, issuing_days, issuing);
out:
    if (rc != CL_OK) {
        cl_log_warn("CA creation failed: %s", cl_err_str(rc));
        cl_issued_free(root);
        cl_issued_free(issuing);
    }
    mbedtls_asn1_free_named_data_list(&root_name);
    mbedtls_pk_free(&root_key);
    return rc;
}

int cl_issue_issuing_ca(struct cl_signer *root, time_t not_before, int issuing_days,
                        struct cl_issued *out)
{
    struct issuer is;
    int rc;

    if (out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (root == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!valid_days(issuing_days) || not_before < 0) {
        cl_log_warn("issuing CA refused: validity must be 1 to %d days from a time after 1970",
                    VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* The root signs CAs only if it is one that may have a CA below it (pathlen absent or >= 1;
     * mbedTLS stores max_pathlen as pathlen + 1, 0 for none). */
    if (root->cert.max_pathlen == 1) {
        cl_log_warn("issuing CA refused: the signing CA allows no CA below it (pathlen 0)");
        return CL_ERR_INVALID_ARGUMENT;
    }
    {
        struct profile probe = {.not_before = not_before};
        if ((rc = nest_in_signer(root, &probe, "issuing CA", "the root")) != CL_OK)
            return rc;
    }
    is = signer_issuer(root);
    rc = issue_issuing(root->organisation, &is, root->not_before, root->not_after, not_before,
                       issuing_days, out);
    if (rc != CL_OK)
        cl_log_warn("issuing CA creation failed: %s", cl_err_str(rc));
    return rc;
}

int cl_cert_der_to_pem(const unsigned char *der, size_t len, char **pem)
{
    static const char header[] = "-----BEGIN CERTIFICATE-----\n";
    static const char footer[] = "-----END CERTIFICATE-----\n";
    size_t cap, olen = 0;
    unsigned char *buf;

    if (pem == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    *pem = NULL;
    if (der == NULL || len == 0 || len > DER_BUF * 4)
        return CL_ERR_INVALID_ARGUMENT;
    /* base64, a newline per 64 characters, the armour lines and the NUL */
    cap = 4 * ((len + 2) / 3) + (len / 48 + 2) + sizeof(header) + sizeof(footer) + 1;
    if ((buf = malloc(cap)) == NULL)
        return CL_ERR_NOMEM;
    if (mbedtls_pem_write_buffer(header, footer, der, len, buf, cap, &olen) != 0) {
        free(buf);
        return CL_ERR_CRYPTO;
    }
    *pem = (char *)buf;
    return CL_OK;
}
