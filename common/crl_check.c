/* crl_check.c: parses and verifies a v2 CRL into a sorted array of revoked serials (see
 * crl_check.h). One pass checks the whole structure and counts the entries, a second fills the
 * array (one allocation), then it is sorted once. Entries keep offsets into the CRL's own copy
 * of the DER; a revocation date is decoded only when a lookup finds its entry. */
#include "crl_check.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform.h>

#include "atomic_file.h"
#include "crl_reason.h"
#include "error.h"

#define SEQUENCE (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define EXPLICIT(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))
#define OID_REASON_CODE MBEDTLS_OID_ID_CE "\x15"     /* 2.5.29.21 */
#define OID_DELTA_CRL MBEDTLS_OID_ID_CE "\x1B"       /* 2.5.29.27 */
#define OID_INVALIDITY_DATE MBEDTLS_OID_ID_CE "\x18" /* 2.5.29.24 */
#define PEM_BEGIN "-----BEGIN X509 CRL-----"
#define PEM_END "-----END X509 CRL-----"

struct entry {
    uint32_t serial_off; /* into der: the magnitude, leading zero octets skipped */
    uint32_t time_off;   /* into der: the revocationDate */
    uint8_t serial_len;
    uint8_t reason;
};

struct cl_crl {
    atomic_int refs;
    atomic_int noticed;
    unsigned char *der; /* own copy; entries point into it */
    size_t der_len;
    const unsigned char *issuer; /* into der: the issuer Name */
    size_t issuer_len;
    char issuer_text[256];
    unsigned long long number;
    time_t this_update, next_update;
    struct entry *entries; /* sorted by (serial_len, serial) */
    size_t count;
};

/* Where parsing is and what failed. */
struct reader {
    unsigned char *p;
    const unsigned char *end;
    const char *what; /* the part being read, for the message */
};

/* An X.509 time (UTC) as seconds since 1970; -1 outside 1970..9999 or not a date. */
static time_t time_of(const mbedtls_x509_time *t)
{
    struct tm tm = {.tm_year = t->year - 1900,
                    .tm_mon = t->mon - 1,
                    .tm_mday = t->day,
                    .tm_hour = t->hour,
                    .tm_min = t->min,
                    .tm_sec = t->sec};
    if (t->year < 1970 || t->year > 9999 || t->mon < 1 || t->mon > 12 || t->day < 1 || t->day > 31)
        return -1;
    return timegm(&tm);
}

/* The INTEGER content at *p as a magnitude: leading zero octets skipped. 0, or -1 if it is not
 * a positive INTEGER of 1..20 octets. */
static int read_serial(struct reader *r, const unsigned char **mag, size_t *mag_len)
{
    size_t len;

    if (mbedtls_asn1_get_tag(&r->p, r->end, &len, MBEDTLS_ASN1_INTEGER) != 0 || len == 0 ||
        (r->p[0] & 0x80))
        return -1;
    *mag = r->p;
    *mag_len = len;
    r->p += len;
    while (*mag_len > 1 && (*mag)[0] == 0) {
        (*mag)++;
        (*mag_len)--;
    }
    return *mag_len <= CL_CRL_SERIAL_MAX && (*mag)[0] != 0 ? 0 : -1;
}

/* One Extension: its OID, critical flag and value (the OCTET STRING's content). */
static int read_extension(struct reader *r, mbedtls_asn1_buf *oid, int *critical,
                          struct reader *value)
{
    unsigned char *ext_end;
    size_t len;

    *critical = 0;
    if (mbedtls_asn1_get_tag(&r->p, r->end, &len, SEQUENCE) != 0)
        return -1;
    ext_end = r->p + len;
    if (mbedtls_asn1_get_tag(&r->p, ext_end, &oid->len, MBEDTLS_ASN1_OID) != 0)
        return -1;
    oid->p = r->p;
    r->p += oid->len;
    if (r->p < ext_end && *r->p == MBEDTLS_ASN1_BOOLEAN &&
        mbedtls_asn1_get_bool(&r->p, ext_end, critical) != 0)
        return -1;
    if (mbedtls_asn1_get_tag(&r->p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 ||
        r->p + len != ext_end)
        return -1;
    value->p = r->p;
    value->end = ext_end;
    r->p = ext_end;
    return 0;
}

#define OID_IS(oid, name) (MBEDTLS_OID_CMP(name, oid) == 0)

/* One revokedCertificates entry; into e (if not NULL) relative to base. */
static int read_entry(struct reader *r, const unsigned char *base, struct entry *e)
{
    unsigned char *entry_end;
    const unsigned char *mag;
    size_t len, mag_len;
    mbedtls_x509_time when;
    int reason = CL_CRL_REASON_UNSPECIFIED;
    struct reader sub = {.what = "entry"};

    if (mbedtls_asn1_get_tag(&r->p, r->end, &len, SEQUENCE) != 0)
        return -1;
    entry_end = r->p + len;
    sub.p = r->p;
    sub.end = entry_end;
    if (read_serial(&sub, &mag, &mag_len) != 0)
        return -1;
    if (e != NULL) {
        e->serial_off = (uint32_t)(mag - base);
        e->serial_len = (uint8_t)mag_len;
        e->time_off = (uint32_t)(sub.p - base);
    }
    if (mbedtls_x509_get_time(&sub.p, entry_end, &when) != 0)
        return -1;
    if (sub.p < entry_end) { /* crlEntryExtensions */
        if (mbedtls_asn1_get_tag(&sub.p, entry_end, &len, SEQUENCE) != 0 ||
            sub.p + len != entry_end)
            return -1;
        while (sub.p < entry_end) {
            mbedtls_asn1_buf oid;
            struct reader value;
            int critical;
            if (read_extension(&sub, &oid, &critical, &value) != 0)
                return -1;
            if (OID_IS(&oid, OID_REASON_CODE)) {
                if (mbedtls_asn1_get_enum(&value.p, value.end, &reason) != 0 ||
                    value.p != value.end || !cl_crl_reason_valid(reason))
                    return -1;
            } else if (critical && !OID_IS(&oid, OID_INVALIDITY_DATE)) {
                return -1; /* certificateIssuer (an indirect CRL) or unknown */
            }
        }
    }
    if (e != NULL)
        e->reason = (uint8_t)reason;
    r->p = entry_end;
    return 0;
}

/* crlExtensions: the cRLNumber is required; a delta CRL or an unknown critical extension is
 * refused. */
static int read_crl_extensions(struct reader *r, struct cl_crl *crl, char *err, size_t errlen)
{
    unsigned char *seq_end;
    size_t len;
    int have_number = 0;

    if (mbedtls_asn1_get_tag(&r->p, r->end, &len, EXPLICIT(0)) != 0 ||
        mbedtls_asn1_get_tag(&r->p, r->end, &len, SEQUENCE) != 0)
        return -1;
    seq_end = r->p + len;
    while (r->p < seq_end) {
        mbedtls_asn1_buf oid;
        struct reader value;
        int critical;
        if (read_extension(r, &oid, &critical, &value) != 0)
            return -1;
        if (OID_IS(&oid, MBEDTLS_OID_CRL_NUMBER)) {
            if (mbedtls_asn1_get_tag(&value.p, value.end, &len, MBEDTLS_ASN1_INTEGER) != 0 ||
                len == 0 || value.p + len != value.end || (value.p[0] & 0x80) ||
                len > (value.p[0] == 0 ? 9u : 8u))
                return -1;
            crl->number = 0;
            for (size_t i = 0; i < len; i++)
                crl->number = crl->number << 8 | value.p[i];
            have_number = 1;
        } else if (OID_IS(&oid, OID_DELTA_CRL)) {
            cl_err_set(err, errlen, "delta CRLs are not supported");
            return -2;
        } else if (critical && !OID_IS(&oid, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER)) {
            cl_err_set(err, errlen, "the CRL has a critical extension certline does not know");
            return -2;
        }
    }
    if (!have_number) {
        cl_err_set(err, errlen, "the CRL has no cRLNumber");
        return -2;
    }
    return r->p == r->end ? 0 : -1;
}

static int compare_serials(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

/* qsort over entries of the CRL being built (qsort has no context argument). */
static _Thread_local const unsigned char *sort_base;

static int compare_entries(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return compare_serials(sort_base + x->serial_off, x->serial_len, sort_base + y->serial_off,
                           y->serial_len);
}

/* The TBSCertList: fields into crl, entries counted (crl->entries NULL) or filled. */
static int read_tbs(struct reader *r, struct cl_crl *crl, mbedtls_x509_buf *sig_alg, char *err,
                    size_t errlen)
{
    mbedtls_x509_buf params;
    mbedtls_x509_time t;
    size_t len;
    int version = 0, rc;

    r->what = "version";
    if (mbedtls_asn1_get_int(&r->p, r->end, &version) != 0 || version != 1) {
        cl_err_set(err, errlen, "only version 2 CRLs are accepted");
        return -2;
    }
    r->what = "signature";
    sig_alg->p = r->p;
    if (mbedtls_x509_get_alg(&r->p, r->end, &params, &params) != 0)
        return -1;
    sig_alg->len = (size_t)(r->p - sig_alg->p);
    r->what = "issuer";
    crl->issuer = r->p;
    if (mbedtls_asn1_get_tag(&r->p, r->end, &len, SEQUENCE) != 0)
        return -1;
    r->p += len;
    crl->issuer_len = (size_t)(r->p - crl->issuer);
    r->what = "thisUpdate";
    if (mbedtls_x509_get_time(&r->p, r->end, &t) != 0 || (crl->this_update = time_of(&t)) < 0)
        return -1;
    r->what = "nextUpdate";
    if (r->p >= r->end ||
        (*r->p != MBEDTLS_ASN1_UTC_TIME && *r->p != MBEDTLS_ASN1_GENERALIZED_TIME)) {
        cl_err_set(err, errlen, "the CRL has no nextUpdate");
        return -2;
    }
    if (mbedtls_x509_get_time(&r->p, r->end, &t) != 0 || (crl->next_update = time_of(&t)) < 0)
        return -1;
    r->what = "revokedCertificates";
    if (r->p < r->end && *r->p == SEQUENCE) {
        struct reader list = {.what = r->what};
        size_t n = 0;
        if (mbedtls_asn1_get_tag(&r->p, r->end, &len, SEQUENCE) != 0)
            return -1;
        list.p = r->p;
        list.end = r->p + len;
        while (list.p < list.end) {
            if (read_entry(&list, crl->der, crl->entries != NULL ? &crl->entries[n] : NULL) != 0)
                return -1;
            n++;
        }
        crl->count = n;
        r->p = list.p;
    }
    r->what = "crlExtensions";
    if ((rc = read_crl_extensions(r, crl, err, errlen)) != 0)
        return rc;
    return 0;
}

/* The whole CertificateList; with crl->entries NULL only counts. Returns 0, -1 (malformed, err
 * not set) or -2 (err set). */
static int read_crl(struct cl_crl *crl, mbedtls_x509_buf *tbs, mbedtls_x509_buf *sig_alg,
                    mbedtls_x509_buf *sig, char *err, size_t errlen)
{
    struct reader r = {.p = crl->der, .end = crl->der + crl->der_len, .what = "CertificateList"};
    struct reader t = {.what = "TBSCertList"};
    mbedtls_x509_buf outer_alg, params;
    size_t len;
    int rc;

    if (mbedtls_asn1_get_tag(&r.p, r.end, &len, SEQUENCE) != 0 || r.p + len != r.end)
        goto malformed;
    tbs->p = r.p;
    if (mbedtls_asn1_get_tag(&r.p, r.end, &len, SEQUENCE) != 0)
        goto malformed;
    t.p = r.p;
    t.end = r.p + len;
    tbs->len = (size_t)(t.end - tbs->p);
    if ((rc = read_tbs(&t, crl, sig_alg, err, errlen)) == -2)
        return -2;
    if (rc != 0 || t.p != t.end) {
        r.what = t.what;
        goto malformed;
    }
    r.p = t.p;
    r.what = "signatureAlgorithm";
    outer_alg.p = r.p;
    if (mbedtls_x509_get_alg(&r.p, r.end, &params, &params) != 0)
        goto malformed;
    outer_alg.len = (size_t)(r.p - outer_alg.p);
    if (outer_alg.len != sig_alg->len || memcmp(outer_alg.p, sig_alg->p, sig_alg->len) != 0) {
        cl_err_set(err, errlen, "the CRL's two signature algorithms differ");
        return -2;
    }
    r.what = "signatureValue";
    if (mbedtls_x509_get_sig(&r.p, r.end, sig) != 0 || r.p != r.end)
        goto malformed;
    return 0;
malformed:
    cl_err_set(err, errlen, "the CRL is malformed (at its %s)", r.what);
    return -1;
}

/* The CA of cas that issued the CRL and whose key verifies its signature. */
static int verify_signature(struct cl_crl *crl, mbedtls_x509_crt *cas, const mbedtls_x509_buf *tbs,
                            const mbedtls_x509_buf *sig_alg, const mbedtls_x509_buf *sig, char *err,
                            size_t errlen)
{
    unsigned char hash[MBEDTLS_MD_MAX_SIZE], *p = sig_alg->p;
    mbedtls_x509_buf oid, params;
    mbedtls_md_type_t md_alg;
    mbedtls_pk_type_t pk_alg;
    void *opts = NULL;
    const mbedtls_md_info_t *md;
    int issuer_known = 0;

    if (mbedtls_x509_get_alg(&p, sig_alg->p + sig_alg->len, &oid, &params) != 0 ||
        mbedtls_x509_get_sig_alg(&oid, &params, &md_alg, &pk_alg, &opts) != 0 ||
        (md = mbedtls_md_info_from_type(md_alg)) == NULL ||
        mbedtls_md(md, tbs->p, tbs->len, hash) != 0) {
        mbedtls_free(opts);
        cl_err_set(err, errlen, "the CRL's signature algorithm is not supported");
        return CL_ERR_PARSE;
    }
    for (mbedtls_x509_crt *ca = cas; ca != NULL && ca->raw.p != NULL; ca = ca->next) {
        if (ca->subject_raw.len != crl->issuer_len ||
            memcmp(ca->subject_raw.p, crl->issuer, crl->issuer_len) != 0)
            continue;
        issuer_known = 1;
        if (!ca->ca_istrue || mbedtls_x509_crt_check_key_usage(ca, MBEDTLS_X509_KU_CRL_SIGN) != 0)
            continue;
        if (mbedtls_pk_verify_ext(pk_alg, opts, &ca->pk, md_alg, hash, mbedtls_md_get_size(md),
                                  sig->p, sig->len) == 0) {
            mbedtls_free(opts);
            mbedtls_x509_dn_gets(crl->issuer_text, sizeof(crl->issuer_text), &ca->subject);
            return CL_OK;
        }
    }
    mbedtls_free(opts);
    cl_err_set(err, errlen,
               issuer_known ? "the CRL's signature does not verify with its issuer's key (or "
                              "the issuer may not sign CRLs)"
                            : "the CRL's issuer is not a trusted CA");
    return CL_ERR_PERMISSION;
}

/* data as DER in a new buffer: decoded from PEM, or copied. */
static int to_der(const unsigned char *data, size_t len, unsigned char **der, size_t *der_len,
                  char *err, size_t errlen)
{
    mbedtls_pem_context pem;
    unsigned char *text;
    size_t used;
    int ret;

    if (len > 0 && data[0] == 0x30) {
        if ((*der = malloc(len)) == NULL)
            return CL_ERR_NOMEM;
        memcpy(*der, data, len);
        *der_len = len;
        return CL_OK;
    }
    if ((text = malloc(len + 1)) == NULL)
        return CL_ERR_NOMEM;
    memcpy(text, data, len);
    text[len] = '\0';
    mbedtls_pem_init(&pem);
    ret = mbedtls_pem_read_buffer(&pem, PEM_BEGIN, PEM_END, text, NULL, 0, &used);
    free(text);
    if (ret != 0 || (*der = malloc(pem.buflen)) == NULL) {
        mbedtls_pem_free(&pem);
        if (ret == 0)
            return CL_ERR_NOMEM;
        cl_err_set(err, errlen, "the CRL is neither DER nor PEM \"X509 CRL\"");
        return CL_ERR_PARSE;
    }
    memcpy(*der, pem.buf, pem.buflen);
    *der_len = pem.buflen;
    mbedtls_pem_free(&pem);
    return CL_OK;
}

int cl_crl_parse(const unsigned char *data, size_t len, mbedtls_x509_crt *cas, struct cl_crl **out,
                 char *err, size_t errlen)
{
    mbedtls_x509_buf tbs, sig_alg, sig;
    struct cl_crl *crl;
    int rc;

    *out = NULL;
    if (data == NULL || len == 0 || cas == NULL) {
        cl_err_set(err, errlen, "no CRL or no CA certificate to verify it");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (len > CL_CRL_INPUT_MAX) {
        cl_err_set(err, errlen, "the CRL is larger than %u bytes", CL_CRL_INPUT_MAX);
        return CL_ERR_TOO_LARGE;
    }
    if ((crl = calloc(1, sizeof(*crl))) == NULL)
        return CL_ERR_NOMEM;
    atomic_init(&crl->refs, 1);
    if ((rc = to_der(data, len, &crl->der, &crl->der_len, err, errlen)) != CL_OK)
        goto fail;
    rc = CL_ERR_PARSE;
    if (read_crl(crl, &tbs, &sig_alg, &sig, err, errlen) != 0)
        goto fail;
    if ((rc = verify_signature(crl, cas, &tbs, &sig_alg, &sig, err, errlen)) != CL_OK)
        goto fail;
    if (crl->count > 0) {
        if ((crl->entries = calloc(crl->count, sizeof(*crl->entries))) == NULL) {
            rc = CL_ERR_NOMEM;
            goto fail;
        }
        /* the second pass fills the entries (the structure is known good) */
        if (read_crl(crl, &tbs, &sig_alg, &sig, err, errlen) != 0) {
            rc = CL_ERR_INTERNAL;
            goto fail;
        }
        sort_base = crl->der;
        qsort(crl->entries, crl->count, sizeof(*crl->entries), compare_entries);
    }
    *out = crl;
    return CL_OK;
fail:
    crl->count = 0;
    cl_crl_release(crl);
    return rc;
}

struct cl_crl *cl_crl_retain(struct cl_crl *crl)
{
    if (crl != NULL)
        atomic_fetch_add(&crl->refs, 1);
    return crl;
}

void cl_crl_release(struct cl_crl *crl)
{
    if (crl == NULL || atomic_fetch_sub(&crl->refs, 1) != 1)
        return;
    free(crl->entries);
    free(crl->der);
    free(crl);
}

unsigned long long cl_crl_number(const struct cl_crl *crl)
{
    return crl->number;
}

time_t cl_crl_this_update(const struct cl_crl *crl)
{
    return crl->this_update;
}

time_t cl_crl_next_update(const struct cl_crl *crl)
{
    return crl->next_update;
}

size_t cl_crl_count(const struct cl_crl *crl)
{
    return crl->count;
}

const unsigned char *cl_crl_issuer_der(const struct cl_crl *crl, size_t *len)
{
    *len = crl->issuer_len;
    return crl->issuer;
}

void cl_crl_issuer_text(const struct cl_crl *crl, char *buf, size_t len)
{
    snprintf(buf, len, "%s", crl->issuer_text);
}

int cl_crl_first_notice(struct cl_crl *crl)
{
    return atomic_exchange(&crl->noticed, 1) == 0;
}

int cl_crl_lookup(const struct cl_crl *crl, const unsigned char *serial, size_t len,
                  struct cl_crl_revoked *out)
{
    size_t lo = 0, hi = crl->count;

    while (len > 1 && serial[0] == 0) {
        serial++;
        len--;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct entry *e = &crl->entries[mid];
        int c = compare_serials(crl->der + e->serial_off, e->serial_len, serial, len);
        if (c == 0) {
            if (out != NULL) {
                unsigned char *p = crl->der + e->time_off;
                mbedtls_x509_time t;
                out->reason = e->reason;
                out->revoked_at =
                    mbedtls_x509_get_time(&p, crl->der + crl->der_len, &t) == 0 ? time_of(&t) : 0;
            }
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int cl_crl_serial_parse(const char *hex, unsigned char out[CL_CRL_SERIAL_MAX], size_t *len)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = hex != NULL ? strlen(hex) : 0, zeros = 0;

    *len = 0;
    if (n == 0 || n % 2 != 0 || n > 2 * (CL_CRL_SERIAL_MAX + 1))
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        const char *hi = hex[i] != '\0' ? strchr(digits, tolower((unsigned char)hex[i])) : NULL;
        const char *lo =
            hex[i + 1] != '\0' ? strchr(digits, tolower((unsigned char)hex[i + 1])) : NULL;
        unsigned char octet;
        if (hi == NULL || lo == NULL)
            return -1;
        octet = (unsigned char)((hi - digits) << 4 | (lo - digits));
        if (octet == 0 && *len == 0)
            zeros++;
        else if (*len == CL_CRL_SERIAL_MAX)
            return -1;
        else
            out[(*len)++] = octet;
    }
    return *len > 0 && zeros <= 1 ? 0 : -1;
}

int cl_crl_lookup_hex(const struct cl_crl *crl, const char *serial_hex, struct cl_crl_revoked *out)
{
    unsigned char serial[CL_CRL_SERIAL_MAX];
    size_t len;

    return cl_crl_serial_parse(serial_hex, serial, &len) == 0 &&
           cl_crl_lookup(crl, serial, len, out);
}

int cl_crl_covers(const struct cl_crl *crl, const mbedtls_x509_crt *crt)
{
    return crt->issuer_raw.len == crl->issuer_len &&
           memcmp(crt->issuer_raw.p, crl->issuer, crl->issuer_len) == 0;
}

int cl_crl_lists(const struct cl_crl *crl, const mbedtls_x509_crt *crt, struct cl_crl_revoked *out)
{
    return cl_crl_covers(crl, crt) && cl_crl_lookup(crl, crt->serial.p, crt->serial.len, out);
}

int cl_crl_read_file(const char *path, unsigned char **data, size_t *len, char *err, size_t errlen)
{
    char *text = NULL;
    int rc = cl_read_file_capped(path, CL_CRL_INPUT_MAX, &text, len);

    *data = (unsigned char *)text;
    if (rc == CL_ERR_TOO_LARGE)
        cl_err_set(err, errlen, "the CRL %s is larger than %u bytes", path, CL_CRL_INPUT_MAX);
    else if (rc != CL_OK)
        cl_err_set(err, errlen, "cannot read the CRL %s: %s", path, strerror(errno));
    return rc;
}
