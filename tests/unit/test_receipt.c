/* test_receipt.c: a receipt signed with the issuing CA key verifies against the root; the
 * signature covers the canonical text receipt.h documents (checked by signing that text here);
 * any changed field or signature byte, a signer from another root, a signer that is no CA (a
 * device key) and malformed input fail with CL_ERR_CRYPTO and a reason; two threads sign through
 * one signer at once; a batch's receipts verify with one signer check (cl_ca_verifier).
 * Batch-signed receipts: the manifest is the documented text, a batch
 * verifies with one signature and each receipt alone within its manifest; a changed field, a
 * receipt moved to another manifest, a reordered batch, another CA's signature, a malformed
 * manifest and a batch of 0 or more than CL_RECEIPT_BATCH_MAX receipts are refused. */
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

/* ---- batch-signed receipts ---- */

/* Three receipts of one batch (distinct devices), signed by ca_a as one manifest. */
static void batch_of(struct cl_receipt r[3], const char *numbers[3], char **manifest, char **sig)
{
    char err[256] = "";

    for (int i = 0; i < 3; i++) {
        r[i] = good();
        r[i].device_number = numbers[i];
    }
    assert_int_equal(cl_receipt_batch_sign(ca_a.signer, r, 3, manifest, sig, err, sizeof(err)),
                     CL_OK);
}

static struct cl_ca_verifier *verifier_of(const struct ca *ca)
{
    struct cl_ca_verifier *v = NULL;
    char err[256];

    assert_int_equal(
        cl_ca_verifier_new(ca->issuing_pem, ca->root_pem, "receipts refused", &v, err, sizeof(err)),
        CL_OK);
    return v;
}

static void expect_batch_refused(struct cl_ca_verifier *v, const struct cl_receipt *r, size_t n,
                                 const char *sig, const char *needle)
{
    char err[512] = "", *manifest = (char *)"untouched";

    assert_int_equal(cl_receipt_batch_verify(v, r, n, sig, &manifest, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    assert_null(manifest);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void expect_alone_refused(const struct cl_receipt *r, const char *manifest, const char *sig,
                                 const char *signer_pem, const char *needle)
{
    char err[512] = "";

    assert_int_equal(cl_receipt_verify_in_manifest(r, manifest, sig, signer_pem, ca_a.root_pem, err,
                                                   sizeof(err)),
                     CL_ERR_CRYPTO);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static const char *batch_numbers[3] = {"3012-000001", "3012-000002", "3012-000003"};

/* The manifest is the documented text (built here from SHA-256 of each canonical text); the
 * batch verifies with one signature over it, and each receipt alone within it. */
static void test_batch_good(void **state)
{
    struct cl_receipt r[3];
    char *manifest = NULL, *sig = NULL, *verified = NULL, err[256] = "", text[256];
    char expected[CL_RECEIPT_MANIFEST_MAX + 1] = "certline-receipt-batch v1\n";
    unsigned char hash[32];
    struct cl_ca_verifier *v = verifier_of(&ca_a);
    (void)state;

    batch_of(r, batch_numbers, &manifest, &sig);
    for (int i = 0; i < 3; i++) {
        snprintf(text, sizeof(text), "certline-receipt v1\n%s\n%s\n%s\n1795000000\n",
                 batch_numbers[i], serial, VV);
        assert_int_equal(mbedtls_sha256_ret((unsigned char *)text, strlen(text), hash, 0), 0);
        for (int k = 0; k < 32; k++)
            snprintf(expected + strlen(expected), 3, "%02x", hash[k]);
        strcat(expected, "\n");
    }
    assert_string_equal(manifest, expected);
    assert_int_equal(cl_receipt_batch_verify(v, r, 3, sig, &verified, err, sizeof(err)), CL_OK);
    assert_string_equal(verified, expected);
    assert_int_equal(cl_receipt_batch_verify(v, r, 3, sig, NULL, err, sizeof(err)), CL_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cl_receipt_verify_in_manifest(&r[i], manifest, sig, ca_a.issuing_pem,
                                                       ca_a.root_pem, err, sizeof(err)),
                         CL_OK);
    /* the signature covers exactly the manifest text */
    char *direct = sign_text_with(ca_a.issuing.key_der, ca_a.issuing.key_len, expected);
    assert_int_equal(cl_receipt_batch_verify(v, r, 3, direct, NULL, err, sizeof(err)), CL_OK);
    /* the manifest's signature is no receipt's signature */
    expect_refused(&r[0], sig, ca_a.issuing_pem, ca_a.root_pem, "signature does not match");
    free(direct);
    free(verified);
    free(manifest);
    free(sig);
    cl_ca_verifier_free(v);
}

/* Any changed field of any receipt: the batch and that receipt alone are refused. */
static void test_batch_changed(void **state)
{
    struct cl_receipt r[3];
    char *manifest = NULL, *sig = NULL;
    struct cl_ca_verifier *v = verifier_of(&ca_a);
    (void)state;

    batch_of(r, batch_numbers, &manifest, &sig);
    for (int field = 0; field < 4; field++) {
        struct cl_receipt changed[3] = {r[0], r[1], r[2]};
        if (field == 0)
            changed[1].device_number = "3012-000009";
        else if (field == 1)
            changed[1].serial_hex = "0A";
        else if (field == 2)
            changed[1].verification_value =
                "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        else
            changed[1].received_at += 1;
        expect_batch_refused(v, changed, 3, sig, "signature does not match");
        expect_alone_refused(&changed[1], manifest, sig, ca_a.issuing_pem, "not in the manifest");
    }
    /* a receipt left out, or one more */
    expect_batch_refused(v, r, 2, sig, "signature does not match");
    /* the manifest changed: its signature no longer verifies */
    manifest[strlen(manifest) - 2] = manifest[strlen(manifest) - 2] == '0' ? '1' : '0';
    expect_alone_refused(&r[0], manifest, sig, ca_a.issuing_pem, "signature does not match");
    free(manifest);
    free(sig);
    cl_ca_verifier_free(v);
}

/* A receipt of one batch is not proven by another batch's manifest and signature. */
static void test_batch_moved(void **state)
{
    static const char *other[3] = {"3012-000004", "3012-000005", "3012-000006"};
    struct cl_receipt a[3], b[3];
    char *manifest_a = NULL, *sig_a = NULL, *manifest_b = NULL, *sig_b = NULL;
    struct cl_ca_verifier *v = verifier_of(&ca_a);
    (void)state;

    batch_of(a, batch_numbers, &manifest_a, &sig_a);
    batch_of(b, other, &manifest_b, &sig_b);
    expect_alone_refused(&a[0], manifest_b, sig_b, ca_a.issuing_pem, "not in the manifest");
    expect_alone_refused(&a[0], manifest_a, sig_b, ca_a.issuing_pem, "signature does not match");
    struct cl_receipt mixed[3] = {b[0], a[1], b[2]};
    expect_batch_refused(v, mixed, 3, sig_b, "signature does not match");
    free(manifest_a);
    free(sig_a);
    free(manifest_b);
    free(sig_b);
    cl_ca_verifier_free(v);
}

/* The same receipts in another order are another manifest. */
static void test_batch_reordered(void **state)
{
    struct cl_receipt r[3];
    char *manifest = NULL, *sig = NULL;
    struct cl_ca_verifier *v = verifier_of(&ca_a);
    (void)state;

    batch_of(r, batch_numbers, &manifest, &sig);
    struct cl_receipt swapped[3] = {r[1], r[0], r[2]};
    expect_batch_refused(v, swapped, 3, sig, "signature does not match");
    free(manifest);
    free(sig);
    cl_ca_verifier_free(v);
}

/* A manifest signed by another CA: refused by our verifier, and alone whether its own signer
 * (which does not chain to our root) or ours is named. */
static void test_batch_other_ca(void **state)
{
    struct cl_receipt r[3];
    char *manifest = NULL, *sig = NULL, *foreign = NULL, *foreign_manifest = NULL, err[256];
    struct cl_ca_verifier *v = verifier_of(&ca_a);
    (void)state;

    batch_of(r, batch_numbers, &manifest, &sig);
    assert_int_equal(
        cl_receipt_batch_sign(ca_b.signer, r, 3, &foreign_manifest, &foreign, err, sizeof(err)),
        CL_OK);
    assert_string_equal(foreign_manifest, manifest);
    expect_batch_refused(v, r, 3, foreign, "signature does not match");
    expect_alone_refused(&r[0], manifest, foreign, ca_a.issuing_pem, "signature does not match");
    expect_alone_refused(&r[0], manifest, foreign, ca_b.issuing_pem,
                         "does not chain to the trusted root");
    expect_alone_refused(&r[0], manifest, sig, device_pem, "not a CA certificate");
    free(manifest);
    free(sig);
    free(foreign);
    free(foreign_manifest);
    cl_ca_verifier_free(v);
}

/* A batch holds 1 to CL_RECEIPT_BATCH_MAX receipts, each well formed; a manifest is exactly the
 * header and its digest lines. */
static void test_batch_bounds(void **state)
{
    struct cl_receipt *many = calloc(CL_RECEIPT_BATCH_MAX + 1, sizeof(*many));
    char *manifest = NULL, *sig = NULL, err[256] = "", *bad;
    struct cl_ca_verifier *v = verifier_of(&ca_a);
    size_t len;
    (void)state;

    assert_non_null(many);
    for (size_t i = 0; i <= CL_RECEIPT_BATCH_MAX; i++)
        many[i] = good();
    assert_int_equal(cl_receipt_batch_sign(ca_a.signer, many, 0, &manifest, &sig, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(manifest);
    assert_null(sig);
    assert_non_null(strstr(err, "1 to 200 receipts, not 0"));
    assert_int_equal(cl_receipt_batch_sign(ca_a.signer, many, CL_RECEIPT_BATCH_MAX + 1, &manifest,
                                           &sig, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "not 201"));
    expect_batch_refused(v, many, 0, "MEUCIQ==", "1 to 200 receipts");
    many[5].verification_value = "not hex";
    assert_int_equal(cl_receipt_manifest(many, 10, &manifest, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "receipt 6 of the batch"));
    many[5] = good();
    assert_int_equal(cl_receipt_batch_sign(ca_a.signer, many, CL_RECEIPT_BATCH_MAX, &manifest, &sig,
                                           err, sizeof(err)),
                     CL_OK);
    assert_int_equal(strlen(manifest), CL_RECEIPT_MANIFEST_MAX);
    assert_int_equal(
        cl_receipt_batch_verify(v, many, CL_RECEIPT_BATCH_MAX, sig, NULL, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_receipt_verify_in_manifest(&many[0], manifest, sig, ca_a.issuing_pem,
                                                   ca_a.root_pem, err, sizeof(err)),
                     CL_OK);
    /* malformed manifests, each refused before any signature check */
    len = strlen(manifest);
    assert_non_null(bad = malloc(len + 80));
    const char *header = "certline-receipt-batch v1\n";
    snprintf(bad, len + 80, "certline-receipt-batch v2\n%s", manifest + strlen(header));
    expect_alone_refused(&many[0], bad, sig, ca_a.issuing_pem, "not a certline-receipt-batch v1");
    snprintf(bad, len + 80, "%sextra\n", manifest);
    expect_alone_refused(&many[0], bad, sig, ca_a.issuing_pem, "not a certline-receipt-batch v1");
    snprintf(bad, len + 80, "%s%.65s", manifest, manifest + strlen(header)); /* 201 lines */
    expect_alone_refused(&many[0], bad, sig, ca_a.issuing_pem, "not a certline-receipt-batch v1");
    expect_alone_refused(&many[0], header, sig, ca_a.issuing_pem,
                         "not a certline-receipt-batch v1");
    snprintf(bad, len + 80, "%s", manifest);
    for (size_t k = strlen(header); k < strlen(header) + 64; k++)
        bad[k] = bad[k] >= 'a' ? (char)(bad[k] - 'a' + 'A') : bad[k];
    expect_alone_refused(&many[0], bad, sig, ca_a.issuing_pem, "not a SHA-256 in hex");
    free(bad);
    free(manifest);
    free(sig);
    free(many);
    cl_ca_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_changed_fields),  cmocka_unit_test(test_signature_bytes),
        cmocka_unit_test(test_other_root),      cmocka_unit_test(test_signer_not_a_ca),
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_verifier),        cmocka_unit_test(test_batch_good),
        cmocka_unit_test(test_batch_changed),   cmocka_unit_test(test_batch_moved),
        cmocka_unit_test(test_batch_reordered), cmocka_unit_test(test_batch_other_ca),
        cmocka_unit_test(test_batch_bounds),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
