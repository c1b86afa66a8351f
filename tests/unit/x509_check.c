/* x509_check.c: checks of an issued certificate's DER for the X.509 tests, walking it
 * independently of the code under test: subject, extensions, SKI/AKI, serial, validity, key
 * pair, chains and the signature AlgorithmIdentifiers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha1.h>

#include "x509_fixture.h"

void parse_der(mbedtls_x509_crt *crt, const unsigned char *der, size_t len)
{
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(crt, der, len), 0);
}

int ext_find(const mbedtls_x509_crt *crt, const char *oid, int *critical, unsigned char **val,
             size_t *val_len)
{
    size_t oid_len = strlen(oid), len;
    unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len;

    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
    while (p < end) {
        unsigned char *ext_end, *id;
        size_t id_len;
        int crit = 0;
        assert_int_equal(
            mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE),
            0);
        ext_end = p + len;
        assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &id_len, MBEDTLS_ASN1_OID), 0);
        id = p;
        p += id_len;
        (void)mbedtls_asn1_get_bool(&p, ext_end, &crit);
        assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING), 0);
        if (id_len == oid_len && memcmp(id, oid, oid_len) == 0) {
            *critical = crit;
            *val = p;
            *val_len = len;
            return 0;
        }
        p = ext_end;
    }
    return -1;
}

void assert_subject(const mbedtls_x509_crt *crt, const char *const *oids, const char *const *values,
                    const int *tags, size_t n)
{
    size_t i = 0;
    for (const mbedtls_x509_name *a = &crt->subject; a != NULL; a = a->next, i++) {
        assert_true(i < n);
        assert_int_equal(a->oid.len, strlen(oids[i]));
        assert_memory_equal(a->oid.p, oids[i], a->oid.len);
        assert_int_equal(a->val.len, strlen(values[i]));
        assert_memory_equal(a->val.p, values[i], a->val.len);
        assert_int_equal(a->val.tag, tags[i]);
        assert_int_equal(a->next_merged, 0);
    }
    assert_int_equal(i, n);
}

/* SHA-1 over the subjectPublicKey bits of crt (what SKI must hold). */
static void key_id_of(const mbedtls_x509_crt *crt, unsigned char id[20])
{
    unsigned char buf[2048], *p = buf + sizeof(buf);
    int len = mbedtls_pk_write_pubkey(&p, buf, &crt->pk);
    assert_true(len > 0);
    assert_int_equal(mbedtls_sha1_ret(p, (size_t)len, id), 0);
}

void assert_ski_aki(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *issuer)
{
    unsigned char *val, *p, id[20], issuer_id[20];
    size_t len, inner;
    int critical;

    key_id_of(crt, id);
    key_id_of(issuer, issuer_id);
    assert_int_equal(ext_find(crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER, &critical, &val, &len), 0);
    assert_int_equal(critical, 0);
    p = val;
    assert_int_equal(mbedtls_asn1_get_tag(&p, val + len, &inner, MBEDTLS_ASN1_OCTET_STRING), 0);
    assert_int_equal(inner, 20);
    assert_memory_equal(p, id, 20);
    assert_int_equal(ext_find(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER, &critical, &val, &len), 0);
    assert_int_equal(critical, 0);
    p = val;
    assert_int_equal(mbedtls_asn1_get_tag(&p, val + len, &inner,
                                          MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE),
                     0);
    assert_int_equal(mbedtls_asn1_get_tag(&p, val + len, &inner, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0),
                     0);
    assert_int_equal(inner, 20);
    assert_memory_equal(p, issuer_id, 20);
}

void assert_critical(const mbedtls_x509_crt *crt, const char *oid, int expected)
{
    unsigned char *val;
    size_t len;
    int critical;
    assert_int_equal(ext_find(crt, oid, &critical, &val, &len), 0);
    assert_int_equal(critical, expected);
}

void assert_time(const mbedtls_x509_time *t, time_t expected)
{
    struct tm tm;
    assert_non_null(gmtime_r(&expected, &tm));
    assert_int_equal(t->year, tm.tm_year + 1900);
    assert_int_equal(t->mon, tm.tm_mon + 1);
    assert_int_equal(t->day, tm.tm_mday);
    assert_int_equal(t->hour, tm.tm_hour);
    assert_int_equal(t->min, tm.tm_min);
    assert_int_equal(t->sec, tm.tm_sec);
}

void assert_serial(const mbedtls_x509_crt *crt, const char *expected_hex, size_t octets)
{
    char hex[2 * 21 + 1];
    assert_int_equal(crt->serial.len, octets);
    assert_true(crt->serial.p[0] >= 0x01 && crt->serial.p[0] <= 0x7f);
    for (size_t i = 0; i < crt->serial.len; i++)
        snprintf(hex + 2 * i, 3, "%02X", crt->serial.p[i]);
    assert_string_equal(hex, expected_hex);
}

void assert_key_pair(const struct cl_issued *issued, const mbedtls_x509_crt *crt,
                     mbedtls_pk_type_t type, size_t bits)
{
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    assert_int_equal(mbedtls_pk_parse_key(&key, issued->key_der, issued->key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_get_type(&key), type);
    assert_int_equal(mbedtls_pk_get_bitlen(&key), bits);
    assert_int_equal(mbedtls_pk_check_pair(&crt->pk, &key), 0);
    mbedtls_pk_free(&key);
}

void assert_chains(const struct cl_issued *leaf)
{
    mbedtls_x509_crt chain;
    uint32_t flags = 0xffffffff;

    parse_der(&chain, leaf->cert_der, leaf->cert_len);
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &issuing_crt, NULL, NULL, &flags, NULL, NULL),
                     0);
    assert_int_equal(flags, 0);
    assert_int_equal(mbedtls_x509_crt_parse_der(&chain, issuing.cert_der, issuing.cert_len), 0);
    flags = 0xffffffff;
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &root_crt, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    mbedtls_x509_crt_free(&chain);
}

const unsigned char ECDSA_SHA256[12] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                        0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
const unsigned char RSA_SHA256[15] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                      0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
/* The start of an RSA-2048 subjectPublicKeyInfo: rsaEncryption keeps its NULL parameters. */
const unsigned char RSA2048_SPKI_HEAD[19] = {0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06,
                                             0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                             0x01, 0x01, 0x01, 0x05, 0x00};

size_t skip_element(unsigned char **p, const unsigned char *end, int tag)
{
    unsigned char *start = *p;
    size_t len;
    assert_int_equal(mbedtls_asn1_get_tag(p, end, &len, tag), 0);
    *p += len;
    return (size_t)(*p - start);
}

void split_cert(unsigned char *der, size_t der_len, struct cert_parts *parts)
{
    unsigned char *p = der, *end = p + der_len, *tbs_end;
    size_t len;
    const int seq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;

    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, seq), 0);
    assert_true(p + len == end);
    parts->tbs = p;
    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, seq), 0);
    tbs_end = p + len;
    parts->tbs_len = (size_t)(tbs_end - parts->tbs);
    parts->version_serial = p;
    parts->version_serial_len =
        skip_element(&p, tbs_end, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0);
    parts->version_serial_len += skip_element(&p, tbs_end, MBEDTLS_ASN1_INTEGER);
    parts->tbs_alg = p;
    parts->tbs_alg_len = skip_element(&p, tbs_end, seq);
    parts->tbs_rest = p;
    parts->tbs_rest_len = (size_t)(tbs_end - p);
    p = tbs_end;
    parts->alg = p;
    parts->alg_len = skip_element(&p, end, seq);
    (void)skip_element(&p, end, MBEDTLS_ASN1_BIT_STRING);
    assert_true(p == end);
}

void assert_sig_alg(unsigned char *der, size_t der_len, const unsigned char *alg, size_t alg_len)
{
    struct cert_parts parts;
    split_cert(der, der_len, &parts);
    assert_int_equal(parts.tbs_alg_len, alg_len);
    assert_memory_equal(parts.tbs_alg, alg, alg_len);
    assert_int_equal(parts.alg_len, alg_len);
    assert_memory_equal(parts.alg, alg, alg_len);
}
