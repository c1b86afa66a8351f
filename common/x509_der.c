/* x509_der.c: a signed X.509 certificate from a configured mbedtls_x509write_cert, with the
 * signature AlgorithmIdentifier as RFC 5758 / RFC 4055 want it (see x509_der.h).
 *
 * The DER is written backwards, as mbedTLS's ASN.1 writer does: the TBSCertificate goes to the
 * end of the buffer, is hashed and signed once, and then moves down to make room after it for
 * the signatureAlgorithm and the signature BIT STRING (a copy of a few hundred bytes). The name
 * lists, the extensions, the public key and the serial are written by the same mbedTLS functions
 * mbedtls_x509write_crt_der uses, so they are byte-for-byte what it writes. */
#include "x509_der.h"

#include <string.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509.h>

#define SEQUENCE (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define EXPLICIT(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))
/* The signatureAlgorithm (at most 2 + 11 + 2 octets for the OIDs used here) and the signature
 * BIT STRING (at most 6 octets of header), with room to spare. */
#define TAIL_MAX (MBEDTLS_PK_SIGNATURE_MAX_SIZE + 64)

int cl_der_write_header(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
    int ret;
    size_t header = 0;

    MBEDTLS_ASN1_CHK_ADD(header, mbedtls_asn1_write_len(p, start, len));
    MBEDTLS_ASN1_CHK_ADD(header, mbedtls_asn1_write_tag(p, start, tag));
    return (int)header;
}

int cl_der_write_sig_alg(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len,
                         int null_params)
{
    int ret;
    size_t len = 0;

    if (null_params)
        MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_null(p, start));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(p, start, oid, oid_len));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, SEQUENCE));
    return (int)len;
}

int cl_der_write_time(unsigned char **p, unsigned char *start, const char *t)
{
    int ret, year = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0');
    int utc = year >= 1950 && year <= 2049;
    const char *value = utc ? t + 2 : t;
    size_t len = 0;

    MBEDTLS_ASN1_CHK_ADD(
        len, mbedtls_asn1_write_raw_buffer(p, start, (const unsigned char *)value, strlen(value)));
    MBEDTLS_ASN1_CHK_ADD(
        len, cl_der_write_header(p, start, len,
                                 utc ? MBEDTLS_ASN1_UTC_TIME : MBEDTLS_ASN1_GENERALIZED_TIME));
    return (int)len;
}

/* TBSCertificate ::= SEQUENCE { [0] version, serialNumber, signature, issuer, validity, subject,
 * subjectPublicKeyInfo, [3] extensions } (RFC 5280 4.1), written backwards from *p. */
static int write_tbs(unsigned char **p, unsigned char *start, const mbedtls_x509write_cert *ctx,
                     const char *sig_oid, size_t sig_oid_len, int null_params)
{
    int ret;
    size_t len = 0, sub = 0;

    /* extensions: version 3 only, and SIZE (1..MAX), so none at all when there are none */
    if (ctx->version == MBEDTLS_X509_CRT_VERSION_3 && ctx->extensions != NULL) {
        MBEDTLS_ASN1_CHK_ADD(sub, mbedtls_x509_write_extensions(p, start, ctx->extensions));
        MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_header(p, start, sub, SEQUENCE));
        MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_header(p, start, sub, EXPLICIT(3)));
        len += sub;
    }
    /* subjectPublicKeyInfo: mbedtls_pk_write_pubkey_der writes at the end of the room it is
     * given, which ends at *p */
    if ((ret = mbedtls_pk_write_pubkey_der(ctx->subject_key, start, (size_t)(*p - start))) < 0)
        return ret;
    *p -= ret;
    len += (size_t)ret;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_x509_write_names(p, start, ctx->subject));
    sub = 0;
    MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_time(p, start, ctx->not_after));
    MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_time(p, start, ctx->not_before));
    MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_header(p, start, sub, SEQUENCE));
    len += sub;
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_x509_write_names(p, start, ctx->issuer));
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_sig_alg(p, start, sig_oid, sig_oid_len, null_params));
    MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_mpi(p, start, &ctx->serial));
    /* version: DEFAULT v1, so left out for v1 */
    if (ctx->version != MBEDTLS_X509_CRT_VERSION_1) {
        sub = 0;
        MBEDTLS_ASN1_CHK_ADD(sub, mbedtls_asn1_write_int(p, start, ctx->version));
        MBEDTLS_ASN1_CHK_ADD(sub, cl_der_write_header(p, start, sub, EXPLICIT(0)));
        len += sub;
    }
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(p, start, len, SEQUENCE));
    return (int)len;
}

int cl_x509write_crt_der(const mbedtls_x509write_cert *ctx, unsigned char *buf, size_t size,
                         int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(ctx->md_alg);
    unsigned char hash[MBEDTLS_MD_MAX_SIZE], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    unsigned char tail[TAIL_MAX], *t = tail + sizeof(tail), *c = buf + size;
    mbedtls_pk_type_t pk_alg;
    const char *sig_oid;
    size_t sig_oid_len, sig_len = 0, tbs_len, tail_len = 0, len;
    int ret;

    if (mbedtls_pk_can_do(ctx->issuer_key, MBEDTLS_PK_RSA))
        pk_alg = MBEDTLS_PK_RSA;
    else if (mbedtls_pk_can_do(ctx->issuer_key, MBEDTLS_PK_ECDSA))
        pk_alg = MBEDTLS_PK_ECDSA;
    else
        return MBEDTLS_ERR_X509_INVALID_ALG;
    if (md == NULL)
        return MBEDTLS_ERR_X509_INVALID_ALG;
    if ((ret = mbedtls_oid_get_oid_by_sig_alg(pk_alg, ctx->md_alg, &sig_oid, &sig_oid_len)) != 0)
        return ret;

    /* the TBSCertificate at the end of buf, hashed and signed */
    if ((ret = write_tbs(&c, buf, ctx, sig_oid, sig_oid_len, pk_alg == MBEDTLS_PK_RSA)) < 0)
        return ret;
    tbs_len = (size_t)ret;
    if ((ret = mbedtls_md(md, c, tbs_len, hash)) != 0 ||
        (ret = mbedtls_pk_sign(ctx->issuer_key, ctx->md_alg, hash, mbedtls_md_get_size(md), sig,
                               &sig_len, f_rng, p_rng)) != 0)
        return ret;

    /* signatureAlgorithm and signatureValue, into tail */
    MBEDTLS_ASN1_CHK_ADD(tail_len, mbedtls_asn1_write_bitstring(&t, tail, sig, sig_len * 8));
    MBEDTLS_ASN1_CHK_ADD(
        tail_len, cl_der_write_sig_alg(&t, tail, sig_oid, sig_oid_len, pk_alg == MBEDTLS_PK_RSA));

    /* Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } */
    if ((size_t)(c - buf) < tail_len)
        return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
    memmove(c - tail_len, c, tbs_len);
    c -= tail_len;
    memcpy(c + tbs_len, t, tail_len);
    len = tbs_len + tail_len;
    MBEDTLS_ASN1_CHK_ADD(len, cl_der_write_header(&c, buf, len, SEQUENCE));
    return (int)len;
}
