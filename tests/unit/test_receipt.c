/* test_receipt.c: a receipt signed with the issuing CA key verifies against the root; the
 * signature covers the canonical text receipt.h documents (checked by signing that text here);
 * any changed field or signature byte, a signer from another root, a signer that is no CA (a
 * device key) and malformed input fail with CL_ERR_CRYPTO and a reason; two threads sign through
 * one signer at once; a batch's receipts verify with one signer check (cl_ca_verifier). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "ca_signature.h"
#include "error.h"
#include "log.h"
#include "receipt.h"
#include "x509_issue.h"

#define VV "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct ca {
    struct cl_issued root, issuing;
    struct cl_signer *signer;
    char *root_pem, *issuing_pem;
};

static struct ca ca_a, ca_b;
static struct cl_issued device;
static char *device_pem;
static char serial[CL_SERIAL_HEX_MAX + 1];

static int make_ca(struct ca *ca, const char *org)
{
    char err[256];
    time_t now = time(NULL) - 60;
    return cl_issue_ca_pair(org, now, 3650, 1825, &ca->root, &ca->issuing) == CL_OK &&
                   cl_signer_new(ca->issuing.cert_der, ca->issuing.cert_len, ca->issuing.key_der,
                                 ca->issuing.key_len, org, &ca->signer, err,
                                 sizeof(err)) == CL_OK &&
                   cl_cert_der_to_pem(ca->root.cert_der, ca->root.cert_len, &ca->root_pem) ==
                       CL_OK &&
                   cl_cert_der_to_pem(ca->issuing.cert_der, ca->issuing.cert_len,
                                      &ca->issuing_pem) == CL_OK
               ? 0
               : -1;
}

static void free_ca(struct ca *ca)
{
    cl_signer_free(ca->signer);
    cl_issued_free(&ca->root);
    cl_issued_free(&ca->issuing);
    free(ca->root_pem);
    free(ca->issuing_pem);
}

static int group_setup(void **state)
{
    (void)state;
    cl_log_set_level(CL_LOG_ERROR);
    if (make_ca(&ca_a, "certline test") != 0 || make_ca(&ca_b, "other test") != 0 ||
        cl_serial_random(serial) != CL_OK ||
        cl_issue_device(ca_a.signer, "3012-000001", "3012", CL_KEY_P256, serial, time(NULL) - 60,
                        365, &device) != CL_OK ||
        cl_cert_der_to_pem(device.cert_der, device.cert_len, &device_pem) != CL_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free_ca(&ca_a);
    free_ca(&ca_b);
    cl_issued_free(&device);
    free(device_pem);
    return 0;
}

static struct cl_receipt good(void)
{
    return (struct cl_receipt){"3012-000001", serial, VV, 1795000000};
}

static void expect_refused(const struct cl_receipt *r, const char *sig, const char *signer_pem,
                           const char *trust_pem, const char *needle)
{
    char err[512] = "";
    assert_int_equal(cl_receipt_verify(r, sig, signer_pem, trust_pem, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

/* Signs text with the private key in der (ECDSA SHA-256), base64. */
static char *sign_text_with(const unsigned char *der, size_t der_len, const char *text)
{
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0, b64_len = 0;
    char *b64 = malloc(1024);
    mbedtls_pk_context pk;

    assert_non_null(b64);
    mbedtls_pk_init(&pk);
    assert_int_equal(mbedtls_pk_parse_key(&pk, der, der_len, NULL, 0), 0);
    assert_int_equal(mbedtls_sha256_ret((const unsigned char *)text, strlen(text), hash, 0), 0);
    assert_int_equal(mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, 32, sig, &sig_len, cl_rng, NULL),
                     0);
    assert_int_equal(mbedtls_base64_encode((unsigned char *)b64, 1024, &b64_len, sig, sig_len), 0);
    mbedtls_pk_free(&pk);
    return b64;
}

static void test_round_trip(void **state)
{
    struct cl_receipt r = good();
    char *sig = NULL, err[256] = "x";
    (void)state;

    assert_int_equal(cl_receipt_sign(ca_a.signer, &r, &sig), CL_OK);
    assert_non_null(sig);
    assert_int_equal(cl_receipt_verify(&r, sig, ca_a.issuing_pem, ca_a.root_pem, err, sizeof(err)),
                     CL_OK);
    assert_string_equal(err, "");
    /* no error buffer is needed */
    assert_int_equal(cl_receipt_verify(&r, sig, ca_a.issuing_pem, ca_a.root_pem, NULL, 0), CL_OK);
    free(sig);
}

/* The signature covers exactly the documented canonical text. */
static void test_canonical_text(void **state)
{
    struct cl_receipt r = good();
    char text[256], err[256] = "";
    (void)state;

    snprintf(text, sizeof(text), "certline-receipt v1\n3012-000001\n%s\n%s\n1795000000\n", serial,
             VV);
    char *sig = sign_text_with(ca_a.issuing.key_der, ca_a.issuing.key_len, text);
    assert_int_equal(cl_receipt_verify(&r, sig, ca_a.issuing_pem, ca_a.root_pem, err, sizeof(err)),
                     CL_OK);
    free(sig);
    /* without the final newline it is another text */
    text[strlen(text) - 1] = '\0';
    sig = sign_text_with(ca_a.issuing.key_der, ca_a.issuing.key_len, text);
    expect_refused(&r, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    free(sig);
}

static void test_changed_fields(void **state)
{
    struct cl_receipt r = good(), changed;
    char *sig = NULL, other_serial[CL_SERIAL_HEX_MAX + 1];
    (void)state;

    assert_int_equal(cl_receipt_sign(ca_a.signer, &r, &sig), CL_OK);
    changed = r;
    changed.device_number = "3012-000002";
    expect_refused(&changed, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    changed = r;
    strcpy(other_serial, serial);
    other_serial[3] = other_serial[3] == 'A' ? 'B' : 'A';
    changed.serial_hex = other_serial;
    expect_refused(&changed, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    changed = r;
    changed.verification_value = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    expect_refused(&changed, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    changed = r;
    changed.received_at += 1;
    expect_refused(&changed, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    changed.received_at -= 2;
    expect_refused(&changed, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    free(sig);
}

static void test_signature_bytes(void **state)
{
    struct cl_receipt r = good();
    unsigned char raw[256];
    char *sig = NULL, b64[512];
    size_t raw_len = 0, b64_len;
    (void)state;

    assert_int_equal(cl_receipt_sign(ca_a.signer, &r, &sig), CL_OK);
    assert_int_equal(
        mbedtls_base64_decode(raw, sizeof(raw), &raw_len, (unsigned char *)sig, strlen(sig)), 0);
    assert_true(raw_len >= 8 && raw_len <= 72); /* an ECDSA P-256 signature, DER */
    for (size_t i = 0; i < raw_len; i++) {
        raw[i] ^= 0x01;
        assert_int_equal(
            mbedtls_base64_encode((unsigned char *)b64, sizeof(b64), &b64_len, raw, raw_len), 0);
        expect_refused(&r, b64, ca_a.issuing_pem, ca_a.root_pem, "signature");
        raw[i] ^= 0x01;
    }
    /* shortened, lengthened */
    assert_int_equal(
        mbedtls_base64_encode((unsigned char *)b64, sizeof(b64), &b64_len, raw, raw_len - 1), 0);
    expect_refused(&r, b64, ca_a.issuing_pem, ca_a.root_pem, "signature");
    raw[raw_len] = 0;
    assert_int_equal(
        mbedtls_base64_encode((unsigned char *)b64, sizeof(b64), &b64_len, raw, raw_len + 1), 0);
    expect_refused(&r, b64, ca_a.issuing_pem, ca_a.root_pem, "signature");
    /* not base64 */
    expect_refused(&r, "!!!!", ca_a.issuing_pem, ca_a.root_pem, "not base64");
    expect_refused(&r, "", ca_a.issuing_pem, ca_a.root_pem, "not base64");
    expect_refused(&r, "QUJD QUJD", ca_a.issuing_pem, ca_a.root_pem, "not base64");
    char *long_sig = malloc(2000);
    memset(long_sig, 'A', 1999);
    long_sig[1999] = '\0';
    expect_refused(&r, long_sig, ca_a.issuing_pem, ca_a.root_pem, "not base64");
    free(long_sig);
    free(sig);
}

static void test_other_root(void **state)
{
    struct cl_receipt r = good();
    char *sig = NULL, err[256];
    (void)state;

    assert_int_equal(cl_receipt_sign(ca_b.signer, &r, &sig), CL_OK);
    /* fine within its own PKI */
    assert_int_equal(cl_receipt_verify(&r, sig, ca_b.issuing_pem, ca_b.root_pem, err, sizeof(err)),
                     CL_OK);
    /* but its signer does not chain to our root */
    expect_refused(&r, sig, ca_b.issuing_pem, ca_a.root_pem, "does not chain to the trusted root");
    expect_refused(&r, sig, ca_b.issuing_pem, ca_a.root_pem, "not correctly signed");
    /* and it is not our issuing CA's signature */
    expect_refused(&r, sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    free(sig);
}

/* A device certificate chains to the root too, but a device key must not sign receipts. */
static void test_signer_not_a_ca(void **state)
{
    struct cl_receipt r = good();
    char text[256];
    (void)state;

    snprintf(text, sizeof(text), "certline-receipt v1\n3012-000001\n%s\n%s\n1795000000\n", serial,
             VV);
    char *sig = sign_text_with(device.key_der, device.key_len, text);
    expect_refused(&r, sig, device_pem, ca_a.root_pem, "not a CA certificate");
    free(sig);
}

static void test_malformed(void **state)
{
    struct cl_receipt r = good(), bad;
    char *sig = NULL, err[256];
    (void)state;

    assert_int_equal(cl_receipt_sign(ca_a.signer, &r, &sig), CL_OK);
    bad = r;
    bad.device_number = "3012 1";
    expect_refused(&bad, sig, ca_a.issuing_pem, ca_a.root_pem, "device number");
    char *s = NULL;
    assert_int_equal(cl_receipt_sign(ca_a.signer, &bad, &s), CL_ERR_INVALID_ARGUMENT);
    assert_null(s);
    bad = r;
    bad.serial_hex = "abcd";
    expect_refused(&bad, sig, ca_a.issuing_pem, ca_a.root_pem, "serial");
    assert_int_equal(cl_receipt_sign(ca_a.signer, &bad, &s), CL_ERR_INVALID_ARGUMENT);
    bad = r;
    bad.verification_value = "0123";
    expect_refused(&bad, sig, ca_a.issuing_pem, ca_a.root_pem, "verification value");
    assert_int_equal(cl_receipt_sign(ca_a.signer, &bad, &s), CL_ERR_INVALID_ARGUMENT);
    bad = r;
    bad.verification_value = NULL;
    assert_int_equal(cl_receipt_sign(ca_a.signer, &bad, &s), CL_ERR_INVALID_ARGUMENT);
    bad = r;
    bad.received_at = -1;
    expect_refused(&bad, sig, ca_a.issuing_pem, ca_a.root_pem, "before 1970");
    assert_int_equal(cl_receipt_sign(ca_a.signer, &bad, &s), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_receipt_sign(NULL, &r, &s), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_receipt_sign(ca_a.signer, NULL, &s), CL_ERR_INVALID_ARGUMENT);

    expect_refused(&r, sig, "garbage", ca_a.root_pem, "signer certificate does not parse");
    expect_refused(&r, sig, ca_a.issuing_pem, "garbage", "trusted root does not parse");
    expect_refused(&r, sig, ca_a.issuing_pem, "", "trusted root does not parse");
    assert_int_equal(
        cl_receipt_verify(NULL, sig, ca_a.issuing_pem, ca_a.root_pem, err, sizeof(err)),
        CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_receipt_verify(&r, sig, NULL, ca_a.root_pem, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    free(sig);
}

static void *sign_many(void *arg)
{
    long *failures = arg;
    char number[32];
    for (int i = 0; i < 40; i++) {
        char *sig = NULL;
        snprintf(number, sizeof(number), "3012-%06d", i);
        struct cl_receipt r = {number, serial, VV, 1795000000 + i};
        if (cl_receipt_sign(ca_a.signer, &r, &sig) != CL_OK ||
            cl_receipt_verify(&r, sig, ca_a.issuing_pem, ca_a.root_pem, NULL, 0) != CL_OK)
            (*failures)++;
        free(sig);
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    pthread_t t[2];
    long failures[2] = {0, 0};
    (void)state;

    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sign_many, &failures[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(failures[0] + failures[1], 0);
}

/* A batch's receipts checked with one verifier (the signer checked against the root once): each
 * good receipt verifies, a changed one fails as with cl_receipt_verify; a signer that does not
 * chain, or is no CA, gets no verifier. */
static void test_verifier(void **state)
{
    struct cl_receipt r[3] = {good(), good(), good()};
    struct cl_ca_verifier *v = NULL;
    char *sig[3] = {NULL, NULL, NULL}, err[256];
    (void)state;

    r[1].device_number = "3012-000002";
    r[2].received_at += 1;
    for (int i = 0; i < 3; i++)
        assert_int_equal(cl_receipt_sign(ca_a.signer, &r[i], &sig[i]), CL_OK);
    assert_int_equal(cl_ca_verifier_new(ca_a.issuing_pem, ca_a.root_pem, "receipt refused", &v, err,
                                        sizeof(err)),
                     CL_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cl_receipt_verify_with(v, &r[i], sig[i], err, sizeof(err)), CL_OK);
    /* another receipt's signature */
    assert_int_equal(cl_receipt_verify_with(v, &r[1], sig[0], err, sizeof(err)), CL_ERR_CRYPTO);
    assert_non_null(strstr(err, "signature does not match"));
    assert_int_equal(cl_receipt_verify_with(v, &r[0], "not base64!", err, sizeof(err)),
                     CL_ERR_CRYPTO);
    cl_ca_verifier_free(v);
    cl_ca_verifier_free(NULL);
    /* signers refused once, before any receipt */
    assert_int_equal(cl_ca_verifier_new(ca_b.issuing_pem, ca_a.root_pem, "receipt refused", &v, err,
                                        sizeof(err)),
                     CL_ERR_CRYPTO);
    assert_null(v);
    assert_non_null(strstr(err, "does not chain to the trusted root"));
    assert_int_equal(
        cl_ca_verifier_new(device_pem, ca_a.root_pem, "receipt refused", &v, err, sizeof(err)),
        CL_ERR_CRYPTO);
    assert_non_null(strstr(err, "not a CA certificate"));
    for (int i = 0; i < 3; i++)
        free(sig[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_changed_fields), cmocka_unit_test(test_signature_bytes),
        cmocka_unit_test(test_other_root),     cmocka_unit_test(test_signer_not_a_ca),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_verifier),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
