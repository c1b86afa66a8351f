/* crl_build.c: writes and signs the issuing CA's v2 CRL in DER (see crl_build.h).
 *
 * The DER is written backwards with mbedTLS's ASN.1 writer. The entries' exact length is summed
 * first, and the buffer is allocated once with room for that, the fixed fields (bounded) and the
 * signature; the TBSCertList is written so that it ends where the signature's room starts, is
 * signed in place, and the finished CRL moves to the start of the buffer. */
#include "crl_build.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>

#include "crl_check.h"
#include "error.h"
#include "x509_der.h"
#include "x509_issue_internal.h"

#define SEQUENCE (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define EXPLICIT(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))
#define OID_REASON_CODE MBEDTLS_OID_ID_CE "\x15" /* id-ce-cRLReasons, 2.5.29.21 */
/* An entry: SEQUENCE header 2, INTEGER 2 + 21, GeneralizedTime 2 + 15, reasonCode 14. */
#define ENTRY_MAX 56
/* Everything but the entries: version, two AlgorithmIdentifiers, the issuer (the CA's subject,
 * at most CA_CERT_INPUT_MAX), three times, the extensions, the headers and the signature. */
#define FIXED_ROOM(issuer_len) ((issuer_len) + 512 + 2 * CL_SIGNATURE_MAX)

/* The octets of a non-negative INTEGER with this magnitude (a 00 in front of a top bit). */
static size_t integer_len(const unsigned char *mag, size_t len)
{
    return len + ((mag[0] & 0x80) ? 1 : 0);
}

/* INTEGER with this magnitude (len >= 1, no leading zero octet unless it is 0 itself). */
static int write_unsigned(unsigned char **p, unsigned char *start, const unsigned char *mag,
                          size_t len)
{
    int ret;
    size_t out = 0;

    MBEDTLS_ASN1_CHK_ADD(out, mbedtls_asn1_write_raw_buffer(p, start, mag, len));
    if (mag[0] & 0x80) {
        if (*p - start < 1)
            return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
        *--(*p) = 0x00;
        out++;
    }
    MBEDTLS_ASN1_CHK_ADD(out, cl_der_write_header(p, start, out, MBEDTLS_ASN1_INTEGER));
    return (int)out;
}

/* t as UTCTime or GeneralizedTime; -1 outside 1950..9999. */
static int write_time_t(unsigned char **p, unsigned char *start, time_t t)
{
    char text[32];
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 50 || tm.tm_year > 9999 - 1900)
        return -1;
    strftime(text, sizeof(text), "%Y%m%d%H%M%SZ", &tm);
    return cl_der_write_time(p, start, text);
}

/* 1 if t is a time a CRL can carry. */
static int time_ok(time_t t)
{
    struct tm tm;
    return gmtime_r(&t, &tm) != NULL && tm.tm_year >= 50 && tm.tm_year <= 9999 - 1900;
}

/* Extension ::= SEQUENCE { extnID, extnValue OCTET STRING } around the len octets of the value
 * just written at *p (not critical); returns the whole Extension's length, the value included. */
static int wrap_extension(unsigned char **p, unsigned char *start, size_t len, const char *oid,
                          size_t oid_len)
{
    int ret;

    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, MBEDTLS_ASN1_OCTET_STRING));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(p, start, oid, oid_len));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, SEQUENCE));
    return (int)len;
}

/* revokedCertificates entry: SEQUENCE { userCertificate, revocationDate, [reasonCode] }. */
static int write_entry(unsigned char **p, unsigned char *start, const unsigned char *serial,
                       size_t serial_len, time_t revoked_at, int reason)
{
    int ret;
    size_t len = 0, value = 0, ext = 0;

    if (reason != CL_CRL_REASON_UNSPECIFIED) {
        MBEDTLS_ASN1_CHK_ADD(value, mbedtls_asn1_write_enum(p, start, reason));
        MBEDTLS_ASN1_CHK_ADD(ext, wrap_extension(p, start, value, OID_REASON_CODE,
                                                 MBEDTLS_OID_SIZE(OID_REASON_CODE)));
        MBEDTLS_ASN1_CHK_ADD(ext, cl_der_write_header(p, start, ext, SEQUENCE));
        len += ext;
    }
    MBEDTLS_ASN1_CHK_ADD(len, write_time_t(p, start, revoked_at));
    MBEDTLS_ASN1_CHK_ADD(len, write_unsigned(p, start, serial, serial_len));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, SEQUENCE));
    return (int)len;
}

/* crlExtensions [0] EXPLICIT: authorityKeyIdentifier { [0] keyIdentifier } and cRLNumber. */
static int write_crl_extensions(unsigned char **p, unsigned char *start,
                                const struct cl_signer *signer, unsigned long long number)
{
    unsigned char num[8];
    size_t num_len = 0, len = 0, sub = 0;
    int ret;

    for (int shift = 56; shift >= 0; shift -= 8)
        if (num_len > 0 || (number >> shift) != 0 || shift == 0)
            num[num_len++] = (unsigned char)(number >> shift);
    MBEDTLS_ASN1_CHK_ADD(sub, write_unsigned(p, start, num, num_len));
    MBEDTLS_ASN1_CHK_ADD(len, wrap_extension(p, start, sub, MBEDTLS_OID_CRL_NUMBER,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER)));
    sub = 0;
    MBEDTLS_ASN1_CHK_ADD(
        sub, mbedtls_asn1_write_raw_buffer(p, start, signer->key_id, signer->key_id_len));
    MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_header(p, start, sub, MBEDTLS_ASN1_CONTEXT_SPECIFIC));
    MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_header(p, start, sub, SEQUENCE));
    MBEDTLS_ASN1_CHK_ADD(len,
                         wrap_extension(p, start, sub, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER)));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, SEQUENCE));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, EXPLICIT(0)));
    return (int)len;
}

/* The octets one entry takes (for the allocation); 0 if the entry is invalid. */
static size_t entry_len(const struct cl_crl_entry *e, unsigned char serial[CL_CRL_SERIAL_MAX],
                        size_t *serial_len)
{
    struct tm tm;
    size_t len;

    if (cl_crl_serial_parse(e->serial_hex, serial, serial_len) != 0 || !time_ok(e->revoked_at) ||
        !cl_crl_reason_valid(e->reason))
        return 0;
    gmtime_r(&e->revoked_at, &tm);
    len = 2 + integer_len(serial, *serial_len) + (tm.tm_year < 150 ? 15 : 17);
    if (e->reason != CL_CRL_REASON_UNSPECIFIED)
        len += 14;
    return 2 + len;
}

/* Checks the inputs and sums the entries' length. */
static int check_inputs(const struct cl_crl_params *params, const struct cl_crl_entry *entries,
                        size_t count, size_t *entries_len, char *err, size_t errlen)
{
    unsigned char serial[CL_CRL_SERIAL_MAX];
    size_t serial_len, sum = 0;

    if (count > CL_CRL_ENTRIES_MAX) {
        cl_err_set(err, errlen, "a CRL carries at most %u entries, not %zu", CL_CRL_ENTRIES_MAX,
                   count);
        return CL_ERR_TOO_LARGE;
    }
    if (!time_ok(params->this_update) || !time_ok(params->next_update) ||
        params->next_update <= params->this_update) {
        cl_err_set(err, errlen,
                   "the CRL's nextUpdate must come after its thisUpdate, both "
                   "between 1950 and 9999");
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++) {
        size_t n = entry_len(&entries[i], serial, &serial_len);
        if (n == 0) {
            cl_err_set(err, errlen,
                       "CRL entry %zu (serial %.42s): the serial must be 1 to 20 octets of "
                       "hex, the date between 1950 and 9999 and the reason an RFC 5280 code",
                       i, entries[i].serial_hex != NULL ? entries[i].serial_hex : "(none)");
            return CL_ERR_INVALID_ARGUMENT;
        }
        sum += n;
    }
    *entries_len = sum;
    return CL_OK;
}

/* TBSCertList (RFC 5280 5.1.2), written backwards from *p. */
static int write_tbs(unsigned char **p, unsigned char *start, struct cl_signer *signer,
                     const struct cl_crl_params *params, const struct cl_crl_entry *entries,
                     size_t count, const char *sig_oid, size_t sig_oid_len, int rsa)
{
    unsigned char serial[CL_CRL_SERIAL_MAX];
    size_t serial_len, len = 0, list = 0;
    int ret;

    MBEDTLS_ASN1_CHK_ADD(len, write_crl_extensions(p, start, signer, params->number));
    for (size_t i = count; i-- > 0;) {
        (void)cl_crl_serial_parse(entries[i].serial_hex, serial, &serial_len); /* checked before */
        MBEDTLS_ASN1_CHK_ADD(list, write_entry(p, start, serial, serial_len, entries[i].revoked_at,
                                               entries[i].reason));
    }
    if (count > 0) /* SIZE (1..MAX): no list at all when nothing is revoked */
        MBEDTLS_ASN1_CHK_ADD(list, cl_der_write_header(p, start, list, SEQUENCE));
    len += list;
    MBEDTLS_ASN1_CHK_ADD(len, write_time_t(p, start, params->next_update));
    MBEDTLS_ASN1_CHK_ADD(len, write_time_t(p, start, params->this_update));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_raw_buffer(p, start, signer->cert.subject_raw.p,
                                                            signer->cert.subject_raw.len));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_sig_alg(p, start, sig_oid, sig_oid_len, rsa));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_int(p, start, 1)); /* v2 */
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, SEQUENCE));
    return (int)len;
}

int cl_crl_build(struct cl_signer *signer, const struct cl_crl_params *params,
                 const struct cl_crl_entry *entries, size_t count, unsigned char **der,
                 size_t *der_len, char *err, size_t errlen)
{
    unsigned char sig[CL_SIGNATURE_MAX], *buf = NULL, *p, *tail_start, *tail;
    size_t entries_len = 0, cap, sig_len = 0, tbs_len, len;
    const char *sig_oid;
    size_t sig_oid_len;
    int rsa, ret, rc;

    if (der == NULL || der_len == NULL || signer == NULL || params == NULL ||
        (entries == NULL && count > 0)) {
        cl_err_set(err, errlen, "building a CRL needs a signer, its parameters and a place for it");
        return CL_ERR_INVALID_ARGUMENT;
    }
    *der = NULL;
    *der_len = 0;
    if ((rc = check_inputs(params, entries, count, &entries_len, err, errlen)) != CL_OK)
        return rc;
    rsa = mbedtls_pk_can_do(&signer->key, MBEDTLS_PK_RSA);
    if (mbedtls_oid_get_oid_by_sig_alg(rsa ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECDSA, MBEDTLS_MD_SHA256,
                                       &sig_oid, &sig_oid_len) != 0) {
        cl_err_set(err, errlen, "no signature algorithm for the CA key");
        return CL_ERR_CRYPTO;
    }
    cap = entries_len + FIXED_ROOM(signer->cert.subject_raw.len);
    if ((buf = malloc(cap)) == NULL) {
        cl_err_set(err, errlen, "out of memory for a CRL of %zu entries", count);
        return CL_ERR_NOMEM;
    }
    /* the TBSCertList ends where the room for the signature starts */
    tail_start = buf + cap - 2 * CL_SIGNATURE_MAX;
    p = tail_start;
    ret = write_tbs(&p, buf, signer, params, entries, count, sig_oid, sig_oid_len, rsa);
    if (ret < 0)
        goto crypto;
    tbs_len = (size_t)ret;
    if (cl_signer_sign(signer, p, tbs_len, sig, &sig_len) != CL_OK)
        goto crypto;
    /* signatureAlgorithm and signatureValue, written backwards from the buffer's end, then moved
     * to follow the TBSCertList */
    tail = buf + cap;
    len = 0;
    if ((ret = mbedtls_asn1_write_bitstring(&tail, tail_start, sig, sig_len * 8)) < 0)
        goto crypto;
    len += (size_t)ret;
    if ((ret = cl_der_write_sig_alg(&tail, tail_start, sig_oid, sig_oid_len, rsa)) < 0)
        goto crypto;
    len += (size_t)ret;
    memmove(tail_start, tail, len);
    len += tbs_len;
    if ((ret = cl_der_write_header(&p, buf, len, SEQUENCE)) < 0)
        goto crypto;
    len += (size_t)ret;
    memmove(buf, p, len);
    *der = buf;
    *der_len = len;
    if ((p = realloc(buf, len)) != NULL) /* give back the room not used */
        *der = p;
    return CL_OK;
crypto:
    free(buf);
    cl_err_set(err, errlen, "writing or signing the CRL failed (mbedTLS -0x%04x)",
               (unsigned)(ret < 0 ? -ret : 0));
    return CL_ERR_CRYPTO;
}

int cl_crl_der_to_pem(const unsigned char *der, size_t len, char **pem)
{
    return cl_x509i_der_to_pem(der, len, SIZE_MAX / 2, "X509 CRL", pem);
}
