/* test_x509_writer.c: certline's certificate writer (cl_x509write_crt_der) against
 * mbedtls_x509write_crt_der: the same TBSCertificate but for the ECDSA signature
 * AlgorithmIdentifier, valid signatures, UTCTime before 2050, and too small buffers refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "x509_der.h"
#include "x509_fixture.h"

#define WRITER_BUF 8192

/* A context with a small certificate profile: issuer_key signs, subject_key is certified. */
static void writer_ctx(mbedtls_x509write_cert *ctx, mbedtls_mpi *serial,
                       mbedtls_pk_context *issuer_key, mbedtls_pk_context *subject_key,
                       const char *from, const char *to)
{
    mbedtls_x509write_crt_init(ctx);
    mbedtls_mpi_init(serial);
    mbedtls_x509write_crt_set_version(ctx, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(ctx, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(ctx, subject_key);
    mbedtls_x509write_crt_set_issuer_key(ctx, issuer_key);
    assert_int_equal(mbedtls_mpi_read_string(serial, 16, "7F0102030405060708090A0B0C0D0E0F"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_serial(ctx, serial), 0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(ctx, "CN=subject,O=" ORG), 0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(ctx, "CN=issuer,O=" ORG), 0);
    assert_int_equal(mbedtls_x509write_crt_set_validity(ctx, from, to), 0);
    assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(ctx, 0, -1), 0);
    assert_int_equal(mbedtls_x509write_crt_set_key_usage(ctx, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
                     0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_key_identifier(ctx), 0);
}

/* The certificate at the end of buf (n octets) parses and its signature verifies with key. */
static void assert_signed_by(const unsigned char *buf, int n, mbedtls_pk_context *key)
{
    mbedtls_x509_crt crt;
    unsigned char hash[32];

    assert_true(n > 0);
    parse_der(&crt, buf + WRITER_BUF - n, (size_t)n);
    assert_int_equal(mbedtls_sha256_ret(crt.tbs.p, crt.tbs.len, hash, 0), 0);
    assert_int_equal(
        mbedtls_pk_verify(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), crt.sig.p, crt.sig.len), 0);
    mbedtls_x509_crt_free(&crt);
}

/* cl_x509write_crt_der and mbedtls_x509write_crt_der from one context: the TBSCertificates are
 * byte for byte the same but for the signature AlgorithmIdentifier, which only 2.28 gives a
 * NULL for ECDSA; with an RSA issuer key they are the same throughout. Both signatures verify. */
static void compare_writers(mbedtls_pk_context *issuer_key, mbedtls_pk_context *subject_key)
{
    static const unsigned char ECDSA_SHA256_NULL[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                                      0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
    unsigned char *ours = malloc(WRITER_BUF), *theirs = malloc(WRITER_BUF);
    int rsa = mbedtls_pk_can_do(issuer_key, MBEDTLS_PK_RSA), n_ours, n_theirs;
    mbedtls_x509write_cert ctx;
    mbedtls_mpi serial;
    struct cert_parts a, b;

    assert_non_null(ours);
    assert_non_null(theirs);
    /* UTCTime and, from 2050, GeneralizedTime */
    writer_ctx(&ctx, &serial, issuer_key, subject_key, "20250101000000", "20991231235959");
    n_ours = cl_x509write_crt_der(&ctx, ours, WRITER_BUF, cl_rng, NULL);
    n_theirs = mbedtls_x509write_crt_der(&ctx, theirs, WRITER_BUF, cl_rng, NULL);
    assert_signed_by(ours, n_ours, issuer_key);
    assert_signed_by(theirs, n_theirs, issuer_key);
    split_cert(ours + WRITER_BUF - n_ours, (size_t)n_ours, &a);
    split_cert(theirs + WRITER_BUF - n_theirs, (size_t)n_theirs, &b);
    assert_int_equal(a.version_serial_len, b.version_serial_len);
    assert_memory_equal(a.version_serial, b.version_serial, a.version_serial_len);
    assert_int_equal(a.tbs_rest_len, b.tbs_rest_len);
    assert_memory_equal(a.tbs_rest, b.tbs_rest, a.tbs_rest_len);
    if (rsa) {
        assert_sig_alg(ours + WRITER_BUF - n_ours, (size_t)n_ours, RSA_SHA256, sizeof(RSA_SHA256));
        assert_int_equal(a.tbs_len, b.tbs_len);
        assert_memory_equal(a.tbs, b.tbs, a.tbs_len);
    } else {
        ASSERT_ECDSA_SHA256(ours + WRITER_BUF - n_ours, (size_t)n_ours);
        assert_sig_alg(theirs + WRITER_BUF - n_theirs, (size_t)n_theirs, ECDSA_SHA256_NULL,
                       sizeof(ECDSA_SHA256_NULL));
    }
    /* too little room for the TBSCertificate, or for the signature after it */
    assert_int_equal(cl_x509write_crt_der(&ctx, ours, 100, cl_rng, NULL),
                     MBEDTLS_ERR_ASN1_BUF_TOO_SMALL);
    assert_int_equal(cl_x509write_crt_der(&ctx, ours, a.tbs_len + 8, cl_rng, NULL),
                     MBEDTLS_ERR_ASN1_BUF_TOO_SMALL);
    mbedtls_x509write_crt_free(&ctx);
    mbedtls_mpi_free(&serial);
    free(ours);
    free(theirs);
}

static void test_der_writer(void **state)
{
    /* Validity 1990..2000: UTCTime, as RFC 5280 wants up to 2049 (2.28 writes GeneralizedTime
     * before 2000); the TBS from the issuer on is: issuer Name, then this Validity. */
    static const unsigned char validity_1990[] = {
        0x30, 0x1e, 0x17, 0x0d, '9', '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0',
        'Z',  0x17, 0x0d, '0',  '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z'};
    mbedtls_pk_context ec_key, subject_key, rsa_key;
    unsigned char *buf = malloc(WRITER_BUF), *p;
    mbedtls_x509write_cert ctx;
    mbedtls_mpi serial;
    mbedtls_x509_crt crt;
    struct cert_parts parts;
    int n;
    (void)state;

    assert_non_null(buf);
    mbedtls_pk_init(&ec_key);
    mbedtls_pk_init(&subject_key);
    mbedtls_pk_init(&rsa_key);
    assert_int_equal(mbedtls_pk_parse_key(&ec_key, issuing.key_der, issuing.key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_parse_key(&subject_key, root.key_der, root.key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_setup(&rsa_key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
    assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(rsa_key), cl_rng, NULL, 1024, 65537), 0);

    compare_writers(&ec_key, &subject_key);
    compare_writers(&rsa_key, &subject_key);
    compare_writers(&ec_key, &rsa_key);

    writer_ctx(&ctx, &serial, &ec_key, &subject_key, "19900101000000", "20000101000000");
    n = cl_x509write_crt_der(&ctx, buf, WRITER_BUF, cl_rng, NULL);
    assert_signed_by(buf, n, &ec_key);
    split_cert(buf + WRITER_BUF - n, (size_t)n, &parts);
    p = parts.tbs_rest;
    (void)skip_element(&p, parts.tbs_rest + parts.tbs_rest_len,
                       MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    assert_memory_equal(p, validity_1990, sizeof(validity_1990));
    parse_der(&crt, buf + WRITER_BUF - n, (size_t)n);
    assert_int_equal(crt.valid_from.year, 1990);
    assert_int_equal(crt.valid_to.year, 2000);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509write_crt_free(&ctx);
    mbedtls_mpi_free(&serial);

    mbedtls_pk_free(&ec_key);
    mbedtls_pk_free(&subject_key);
    mbedtls_pk_free(&rsa_key);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_der_writer),
    };
    return cmocka_run_group_tests(tests, x509_group_setup, x509_group_teardown);
}
