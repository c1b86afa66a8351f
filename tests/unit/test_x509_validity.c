/* test_x509_validity.c: validity nests: no certificate issued (device, service, device-common,
 * issuing CA under the root, a rolled-over issuing CA) starts before or ends after the CA that
 * signed it; issuing is refused once that CA has ended; a new issuing CA under the same root
 * verifies with certificates of the old one beside it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "error.h"
#include "log.h"
#include "receipt.h"
#include "x509_issue.h"

#define ORG "certline test"
#define MODEL "3012"
#define DAY 86400L

static time_t now;

/* ---- helpers ---- */

struct ca {
    struct cl_issued root, issuing;
    struct cl_signer *root_signer, *signer;
};

static struct cl_signer *signer_of(const struct cl_issued *ca)
{
    struct cl_signer *s = NULL;
    char err[256];
    assert_int_equal(
        cl_signer_new(ca->cert_der, ca->cert_len, ca->key_der, ca->key_len, ORG, &s, err, 256),
        CL_OK);
    return s;
}

static void ca_make(struct ca *ca, time_t not_before, int root_days, int issuing_days)
{
    memset(ca, 0, sizeof(*ca));
    assert_int_equal(
        cl_issue_ca_pair(ORG, not_before, root_days, issuing_days, &ca->root, &ca->issuing), CL_OK);
    ca->root_signer = signer_of(&ca->root);
    ca->signer = signer_of(&ca->issuing);
}

static void ca_free(struct ca *ca)
{
    cl_signer_free(ca->root_signer);
    cl_signer_free(ca->signer);
    cl_issued_free(&ca->root);
    cl_issued_free(&ca->issuing);
}

static void validity(const struct cl_issued *c, time_t *from, time_t *to)
{
    assert_int_equal(cl_cert_validity(c->cert_der, c->cert_len, from, to), CL_OK);
}

/* c starts no earlier and ends no later than its issuer. */
static void assert_nested(const struct cl_issued *c, const struct cl_issued *issuer)
{
    time_t from, to, issuer_from, issuer_to;
    validity(c, &from, &to);
    validity(issuer, &issuer_from, &issuer_to);
    assert_true(from >= issuer_from);
    assert_true(to <= issuer_to);
    assert_true(to > from);
}

/* leaf verifies (now) with intermediate presented beside it and only root trusted. */
static void assert_verifies(const struct cl_issued *leaf, const struct cl_issued *intermediate,
                            const struct cl_issued *root)
{
    mbedtls_x509_crt chain, trust;
    uint32_t flags = 0;
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&trust);
    assert_int_equal(mbedtls_x509_crt_parse_der(&chain, leaf->cert_der, leaf->cert_len), 0);
    assert_int_equal(
        mbedtls_x509_crt_parse_der(&chain, intermediate->cert_der, intermediate->cert_len), 0);
    assert_int_equal(mbedtls_x509_crt_parse_der(&trust, root->cert_der, root->cert_len), 0);
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &trust, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&trust);
}

static void device(struct cl_signer *s, const char *number, time_t not_before, int days,
                   struct cl_issued *out)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(cl_issue_device(s, number, MODEL, CL_KEY_P256, serial, not_before, days, out),
                     CL_OK);
}

/* ---- tests ---- */

/* An issuing CA of 30 days: device, service and device-common certificates asked for years end
 * with it, to the second; shorter ones keep their own end. */
static void test_capped_at_issuer(void **state)
{
    struct cl_issued dev, svc, common, shorter;
    time_t from, to, ca_from, ca_to;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 3650, 30);
    validity(&ca.issuing, &ca_from, &ca_to);
    assert_int_equal(ca_to, now + 30 * DAY);
    assert_int_equal(cl_signer_not_after(ca.signer), ca_to);

    device(ca.signer, "3012-000001", now, 3650, &dev);
    validity(&dev, &from, &to);
    assert_int_equal(from, now);
    assert_int_equal(to, ca_to);

    assert_int_equal(cl_issue_service(ca.signer, CL_ROLE_COMM_TERMINAL, "comm.certline.test", NULL,
                                      now, 825, &svc),
                     CL_OK);
    validity(&svc, &from, &to);
    assert_int_equal(to, ca_to);

    assert_int_equal(cl_issue_service(ca.signer, CL_ROLE_DEVICE_COMMON, "3012 common", MODEL, now,
                                      7300, &common),
                     CL_OK);
    validity(&common, &from, &to);
    assert_int_equal(to, ca_to);

    device(ca.signer, "3012-000002", now, 10, &shorter);
    validity(&shorter, &from, &to);
    assert_int_equal(to, now + 10 * DAY);

    assert_verifies(&dev, &ca.issuing, &ca.root);
    assert_verifies(&svc, &ca.issuing, &ca.root);
    assert_verifies(&common, &ca.issuing, &ca.root);
    cl_issued_free(&dev);
    cl_issued_free(&svc);
    cl_issued_free(&common);
    cl_issued_free(&shorter);
    ca_free(&ca);
}

/* Asked to start before its issuer (a CA made a minute ago, a certificate back-dated by an
 * hour), a certificate starts with its issuer. */
static void test_starts_with_issuer(void **state)
{
    struct cl_issued dev;
    time_t from, to;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 3650, 365);
    device(ca.signer, "3012-000003", now - 3600, 30, &dev);
    validity(&dev, &from, &to);
    assert_int_equal(from, now);
    assert_int_equal(to, now - 3600 + 30 * DAY);
    cl_issued_free(&dev);
    ca_free(&ca);
}

/* The issuing CA of a pair never ends after its root. */
static void test_issuing_capped_at_root(void **state)
{
    time_t root_from, root_to, from, to;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 10, 3650);
    validity(&ca.root, &root_from, &root_to);
    validity(&ca.issuing, &from, &to);
    assert_int_equal(root_to, now + 10 * DAY);
    assert_int_equal(to, root_to);
    assert_nested(&ca.issuing, &ca.root);
    ca_free(&ca);
}

/* Once the issuing CA has ended, nothing more is issued: refused with CL_ERR_STATE, out empty;
 * one second before its end, a certificate of one second. */
static void test_refused_after_issuer_end(void **state)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    struct cl_issued dev, svc;
    time_t from, to, end;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 3650, 1);
    end = cl_signer_not_after(ca.signer);
    assert_int_equal(cl_serial_random(serial), CL_OK);
    memset(&dev, 0x5a, sizeof(dev));
    assert_int_equal(
        cl_issue_device(ca.signer, "3012-000004", MODEL, CL_KEY_P256, serial, end, 365, &dev),
        CL_ERR_STATE);
    assert_null(dev.cert_der);
    assert_null(dev.key_der);
    assert_int_equal(cl_issue_device(ca.signer, "3012-000004", MODEL, CL_KEY_P256, serial,
                                     end + 400 * DAY, 365, &dev),
                     CL_ERR_STATE);
    memset(&svc, 0x5a, sizeof(svc));
    assert_int_equal(cl_issue_service(ca.signer, CL_ROLE_FACTORY_TERMINAL, "line.certline.test",
                                      "1001", end, 825, &svc),
                     CL_ERR_STATE);
    assert_null(svc.cert_der);

    device(ca.signer, "3012-000005", end - 1, 365, &dev);
    validity(&dev, &from, &to);
    assert_int_equal(from, end - 1);
    assert_int_equal(to, end);
    cl_issued_free(&dev);
    ca_free(&ca);
}

/* Over many start times and lifetimes, no certificate ends after (or starts before) its issuer,
 * and what is not capped keeps exactly the lifetime asked for. */
static void test_never_outlives_issuer(void **state)
{
    static const int days[] = {1, 29, 30, 31, 365, 3650, 36500};
    struct ca ca;
    time_t ca_from, ca_to;
    (void)state;

    ca_make(&ca, now, 3650, 30);
    validity(&ca.issuing, &ca_from, &ca_to);
    const time_t starts[] = {now, now + 15 * DAY, ca_to - DAY, ca_to - 1};
    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        for (size_t d = 0; d < sizeof(days) / sizeof(days[0]); d++) {
            struct cl_issued dev, svc;
            time_t from, to, want = starts[s] + days[d] * DAY;
            device(ca.signer, "3012-000006", starts[s], days[d], &dev);
            assert_int_equal(cl_issue_service(ca.signer, CL_ROLE_CA_SERVER, "ca.certline.test",
                                              NULL, starts[s], days[d], &svc),
                             CL_OK);
            assert_nested(&dev, &ca.issuing);
            assert_nested(&svc, &ca.issuing);
            validity(&dev, &from, &to);
            assert_int_equal(to, want < ca_to ? want : ca_to);
            validity(&svc, &from, &to);
            assert_int_equal(to, want < ca_to ? want : ca_to);
            cl_issued_free(&dev);
            cl_issued_free(&svc);
        }
    }
    ca_free(&ca);
}

/* Rollover: a new issuing CA under the same root, nested in the root; certificates of the old
 * and the new issuing CA both verify with only the root trusted; the new CA has another name. */
static void test_rollover_issuing_ca(void **state)
{
    struct cl_issued next, old_dev, new_dev;
    struct cl_signer *next_signer;
    time_t root_from, root_to, from, to;
    mbedtls_x509_crt a, b;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 400, 365);
    device(ca.signer, "3012-000007", now, 3650, &old_dev);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now + 300 * DAY, 365, &next), CL_OK);
    validity(&ca.root, &root_from, &root_to);
    validity(&next, &from, &to);
    assert_int_equal(from, now + 300 * DAY);
    assert_int_equal(to, root_to); /* asked for 365 days, the root ends after 100 */
    assert_nested(&next, &ca.root);

    next_signer = signer_of(&next);
    device(next_signer, "3012-000008", now + 300 * DAY, 3650, &new_dev);
    assert_nested(&new_dev, &next);
    assert_verifies(&old_dev, &ca.issuing, &ca.root);

    /* a device certificate of the new CA verifies once the new CA has started; check the
     * signatures and names now with the new CA's validity ignored (mbedTLS verifies at now) */
    mbedtls_x509_crt_init(&a);
    mbedtls_x509_crt_init(&b);
    assert_int_equal(mbedtls_x509_crt_parse_der(&a, next.cert_der, next.cert_len), 0);
    assert_int_equal(mbedtls_x509_crt_parse_der(&b, ca.issuing.cert_der, ca.issuing.cert_len), 0);
    assert_false(a.subject_raw.len == b.subject_raw.len &&
                 memcmp(a.subject_raw.p, b.subject_raw.p, a.subject_raw.len) == 0);
    assert_int_equal(a.issuer_raw.len, b.issuer_raw.len);
    assert_memory_equal(a.issuer_raw.p, b.issuer_raw.p, a.issuer_raw.len);
    assert_true(a.ca_istrue);
    assert_int_equal(a.max_pathlen, 1); /* pathlen 0 */
    mbedtls_x509_crt_free(&a);
    mbedtls_x509_crt_free(&b);

    cl_signer_free(next_signer);
    cl_issued_free(&next);
    cl_issued_free(&old_dev);
    cl_issued_free(&new_dev);
    ca_free(&ca);
}

/* A rolled-over issuing CA made now verifies now beside the old one's certificates. */
static void test_rollover_verifies_now(void **state)
{
    struct cl_issued next, old_dev, new_dev;
    struct cl_signer *next_signer;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 3650, 365);
    device(ca.signer, "3012-000009", now, 3650, &old_dev);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now, 3650, &next), CL_OK);
    next_signer = signer_of(&next);
    device(next_signer, "3012-000010", now, 3650, &new_dev);
    assert_verifies(&old_dev, &ca.issuing, &ca.root);
    assert_verifies(&new_dev, &next, &ca.root);
    cl_signer_free(next_signer);
    cl_issued_free(&next);
    cl_issued_free(&old_dev);
    cl_issued_free(&new_dev);
    ca_free(&ca);
}

/* Receipts signed by the old and by the rolled-over issuing CA both verify against the root
 * alone (as the comm-terminal checks them); a receipt is not accepted under the other CA. */
static void test_receipts_across_rollover(void **state)
{
    static const char vv[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const struct cl_receipt r = {"3012-000011", "0102030405060708", vv, 1795000000};
    char *old_sig = NULL, *new_sig = NULL, *old_pem = NULL, *new_pem = NULL, *root_pem = NULL;
    struct cl_signer *next_signer;
    struct cl_issued next;
    char err[512];
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 3650, 365);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now, 3650, &next), CL_OK);
    next_signer = signer_of(&next);
    assert_int_equal(cl_cert_der_to_pem(ca.issuing.cert_der, ca.issuing.cert_len, &old_pem), CL_OK);
    assert_int_equal(cl_cert_der_to_pem(next.cert_der, next.cert_len, &new_pem), CL_OK);
    assert_int_equal(cl_cert_der_to_pem(ca.root.cert_der, ca.root.cert_len, &root_pem), CL_OK);
    assert_int_equal(cl_receipt_sign(ca.signer, &r, &old_sig), CL_OK);
    assert_int_equal(cl_receipt_sign(next_signer, &r, &new_sig), CL_OK);
    assert_int_equal(cl_receipt_verify(&r, old_sig, old_pem, root_pem, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_receipt_verify(&r, new_sig, new_pem, root_pem, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_receipt_verify(&r, old_sig, new_pem, root_pem, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    free(old_sig);
    free(new_sig);
    free(old_pem);
    free(new_pem);
    free(root_pem);
    cl_signer_free(next_signer);
    cl_issued_free(&next);
    ca_free(&ca);
}

/* Refusals of a rollover: an issuing CA (pathlen 0) cannot sign another CA; an ended root signs
 * none; bad lifetimes; NULLs. */
static void test_rollover_refusals(void **state)
{
    struct cl_issued next;
    struct ca ca;
    (void)state;

    ca_make(&ca, now, 30, 30);
    memset(&next, 0x5a, sizeof(next));
    assert_int_equal(cl_issue_issuing_ca(ca.signer, now, 30, &next), CL_ERR_INVALID_ARGUMENT);
    assert_null(next.cert_der);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now + 30 * DAY, 30, &next), CL_ERR_STATE);
    assert_null(next.cert_der);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now, 0, &next), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now, 36501, &next),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_issuing_ca(NULL, now, 30, &next), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_issuing_ca(ca.root_signer, now, 30, NULL), CL_ERR_INVALID_ARGUMENT);
    ca_free(&ca);
}

static void test_cert_validity_refusals(void **state)
{
    static const unsigned char junk[] = "not a certificate";
    time_t from, to;
    (void)state;

    assert_int_equal(cl_cert_validity(junk, sizeof(junk), &from, &to), CL_ERR_PARSE);
    assert_int_equal(cl_cert_validity(NULL, 10, &from, &to), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_cert_validity(junk, 0, &from, &to), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_not_after(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capped_at_issuer),
        cmocka_unit_test(test_starts_with_issuer),
        cmocka_unit_test(test_issuing_capped_at_root),
        cmocka_unit_test(test_refused_after_issuer_end),
        cmocka_unit_test(test_never_outlives_issuer),
        cmocka_unit_test(test_rollover_issuing_ca),
        cmocka_unit_test(test_rollover_verifies_now),
        cmocka_unit_test(test_receipts_across_rollover),
        cmocka_unit_test(test_rollover_refusals),
        cmocka_unit_test(test_cert_validity_refusals),
    };
    cl_log_set_level(CL_LOG_ERROR); /* the refusal tests would otherwise log each refusal */
    now = time(NULL) - 60;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
