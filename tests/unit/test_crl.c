/* test_crl.c: the CRL writer, reader and holder (common/crl_build.c, crl_check.c, crl_holder.c,
 * crl_reason.c) with a CA pair made in memory: reason names, a CRL built, read back and looked
 * up, refusals (bad inputs, a changed signature or body, an untrusted issuer, an older or the
 * same CRL number, a malformed CRL), the stale and missing-CRL policies, PEM, a CRL of 100,000
 * entries, and threads checking chains while newer CRLs are installed. */
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

#include <mbedtls/x509_crt.h>

#include "crl_build.h"
#include "crl_check.h"
#include "crl_holder.h"
#include "crl_reason.h"
#include "error.h"
#include "log.h"
#include "x509_issue.h"

#define ORG "certline test"
#define DAY 86400L

struct pki {
    struct cl_issued root, issuing, device, other_root, other_issuing;
    struct cl_signer *signer, *other_signer;
    char *ca_pem; /* issuing CA then root */
    mbedtls_x509_crt device_crt, issuing_crt;
};

static struct pki pki;
static time_t now;

static struct cl_signer *signer_of(const struct cl_issued *ca)
{
    char err[256] = "";
    struct cl_signer *s = NULL;
    int rc = cl_signer_new(ca->cert_der, ca->cert_len, ca->key_der, ca->key_len, ORG, &s, err,
                           sizeof(err));
    if (rc != CL_OK)
        fail_msg("signer: %s", err);
    return s;
}

static char *pem_of(const struct cl_issued *c)
{
    char *pem = NULL;
    assert_int_equal(cl_cert_der_to_pem(c->cert_der, c->cert_len, &pem), CL_OK);
    return pem;
}

static int setup(void **state)
{
    char serial[CL_SERIAL_HEX_MAX + 1], *a, *b;

    (void)state;
    cl_log_set_level(CL_LOG_ERROR);
    now = time(NULL);
    if (cl_issue_ca_pair(ORG, now - DAY, 3650, 1825, &pki.root, &pki.issuing) != CL_OK ||
        cl_issue_ca_pair(ORG, now - DAY, 3650, 1825, &pki.other_root, &pki.other_issuing) != CL_OK)
        return -1;
    pki.signer = signer_of(&pki.issuing);
    pki.other_signer = signer_of(&pki.other_issuing);
    if (cl_serial_random(serial) != CL_OK ||
        cl_issue_device(pki.signer, "3012-000001", "3012", CL_KEY_P256, serial, now - DAY, 365,
                        &pki.device) != CL_OK)
        return -1;
    a = pem_of(&pki.issuing);
    b = pem_of(&pki.root);
    pki.ca_pem = malloc(strlen(a) + strlen(b) + 1);
    strcpy(pki.ca_pem, a);
    strcat(pki.ca_pem, b);
    free(a);
    free(b);
    mbedtls_x509_crt_init(&pki.device_crt);
    mbedtls_x509_crt_init(&pki.issuing_crt);
    if (mbedtls_x509_crt_parse_der(&pki.device_crt, pki.device.cert_der, pki.device.cert_len) !=
            0 ||
        mbedtls_x509_crt_parse_der(&pki.issuing_crt, pki.issuing.cert_der, pki.issuing.cert_len) !=
            0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    struct cl_issued *all[] = {&pki.root, &pki.issuing, &pki.device, &pki.other_root,
                               &pki.other_issuing};

    (void)state;
    mbedtls_x509_crt_free(&pki.device_crt);
    mbedtls_x509_crt_free(&pki.issuing_crt);
    free(pki.ca_pem);
    cl_signer_free(pki.signer);
    cl_signer_free(pki.other_signer);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        cl_issued_free(all[i]);
    return 0;
}

/* A CRL numbered number, valid from this_update for days, listing entries. */
static void build(struct cl_signer *signer, unsigned long long number, time_t this_update,
                  long days, const struct cl_crl_entry *entries, size_t count, unsigned char **der,
                  size_t *len)
{
    struct cl_crl_params params = {this_update, this_update + days * DAY, number};
    char err[256] = "";
    int rc = cl_crl_build(signer, &params, entries, count, der, len, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("cl_crl_build: %s: %s", cl_err_name(rc), err);
}

static struct cl_crl_holder *holder_new(enum cl_crl_stale_policy stale,
                                        enum cl_crl_missing_policy missing)
{
    struct cl_crl_policy policy = {stale, missing};
    struct cl_crl_holder *h = NULL;
    char err[256] = "";
    if (cl_crl_holder_new(&policy, NULL, pki.ca_pem, &h, err, sizeof(err)) != CL_OK)
        fail_msg("cl_crl_holder_new: %s", err);
    return h;
}

/* Installs a CRL of number listing the device (reason) or not. */
static int install(struct cl_crl_holder *h, unsigned long long number, int list_device,
                   time_t this_update, long days, char *err, size_t errlen)
{
    const struct cl_crl_entry entries[] = {
        {"0A1B2C3D4E5F6071", now - DAY, CL_CRL_REASON_SUPERSEDED},
        {pki.device.serial_hex, now - 3600, CL_CRL_REASON_KEY_COMPROMISE},
    };
    unsigned char *der = NULL;
    size_t len = 0;
    int rc;

    build(pki.signer, number, this_update, days, entries, list_device ? 2 : 1, &der, &len);
    rc = cl_crl_holder_install(h, der, len, err, errlen);
    free(der);
    return rc;
}

static void test_reason_names(void **state)
{
    enum cl_crl_reason r = CL_CRL_REASON_UNSPECIFIED;
    char err[256] = "";

    (void)state;
    assert_int_equal(cl_crl_reason_parse("keyCompromise", &r, err, sizeof(err)), CL_OK);
    assert_int_equal(r, CL_CRL_REASON_KEY_COMPROMISE);
    assert_int_equal(cl_crl_reason_parse("SUPERSEDED", &r, err, sizeof(err)), CL_OK);
    assert_int_equal(r, 4);
    assert_int_equal(cl_crl_reason_parse("cessationofoperation", &r, err, sizeof(err)), CL_OK);
    assert_int_equal(r, 5);
    assert_int_equal(cl_crl_reason_parse("privilegeWithdrawn", &r, err, sizeof(err)), CL_OK);
    assert_int_equal(r, 9);
    assert_int_equal(cl_crl_reason_parse("cACompromise", &r, err, sizeof(err)), CL_OK);
    assert_int_equal(r, 2);
    assert_int_equal(cl_crl_reason_parse("stolen", &r, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "unknown revocation reason \"stolen\""));
    assert_non_null(strstr(err, "keyCompromise"));
    assert_int_equal(cl_crl_reason_parse(NULL, &r, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_crl_reason_parse("removeFromCRL", &r, NULL, 0), CL_ERR_INVALID_ARGUMENT);
    assert_string_equal(cl_crl_reason_name(6), "certificateHold");
    assert_string_equal(cl_crl_reason_name(3), "affiliationChanged");
    assert_null(cl_crl_reason_name(7));
    assert_null(cl_crl_reason_name(8));
    assert_false(cl_crl_reason_valid(11));
}

static void test_build_parse_lookup(void **state)
{
    const struct cl_crl_entry entries[] = {
        {"7F00000000000001", now - 10 * DAY, CL_CRL_REASON_UNSPECIFIED},
        {"80ff", now - 5 * DAY, CL_CRL_REASON_SUPERSEDED},             /* top bit: 00 in front */
        {"0001", now - 2 * DAY, CL_CRL_REASON_CESSATION_OF_OPERATION}, /* leading zero dropped */
        {pki.device.serial_hex, now - 3600, CL_CRL_REASON_KEY_COMPROMISE},
        {"01", (time_t)4102444800 + DAY, CL_CRL_REASON_PRIVILEGE_WITHDRAWN}, /* 2050: GenTime */
    };
    struct cl_crl_revoked rev;
    struct cl_crl *crl = NULL;
    mbedtls_x509_crt cas;
    unsigned char *der = NULL;
    size_t len = 0;
    char err[256] = "", issuer[256];

    (void)state;
    build(pki.signer, 42, now - 60, 7, entries, 5, &der, &len);
    mbedtls_x509_crt_init(&cas);
    assert_int_equal(
        mbedtls_x509_crt_parse(&cas, (const unsigned char *)pki.ca_pem, strlen(pki.ca_pem) + 1), 0);
    if (cl_crl_parse(der, len, &cas, &crl, err, sizeof(err)) != CL_OK)
        fail_msg("cl_crl_parse: %s", err);
    assert_int_equal(cl_crl_number(crl), 42);
    assert_int_equal(cl_crl_count(crl), 5);
    assert_int_equal(cl_crl_this_update(crl), now - 60);
    assert_int_equal(cl_crl_next_update(crl), now - 60 + 7 * DAY);
    cl_crl_issuer_text(crl, issuer, sizeof(issuer));
    assert_non_null(strstr(issuer, "issuing CA"));

    assert_true(cl_crl_lookup_hex(crl, pki.device.serial_hex, &rev));
    assert_int_equal(rev.reason, CL_CRL_REASON_KEY_COMPROMISE);
    assert_int_equal(rev.revoked_at, now - 3600);
    assert_true(cl_crl_lookup_hex(crl, "80FF", &rev));
    assert_int_equal(rev.reason, CL_CRL_REASON_SUPERSEDED);
    assert_true(cl_crl_lookup_hex(crl, "0080FF", NULL)); /* the same magnitude */
    assert_true(cl_crl_lookup_hex(crl, "01", &rev));
    assert_int_equal(rev.reason, CL_CRL_REASON_PRIVILEGE_WITHDRAWN);
    assert_int_equal(rev.revoked_at, (time_t)4102444800 + DAY);
    assert_true(cl_crl_lookup_hex(crl, "7F00000000000001", &rev));
    assert_int_equal(rev.reason, CL_CRL_REASON_UNSPECIFIED);
    assert_false(cl_crl_lookup_hex(crl, "7F00000000000002", NULL));
    assert_false(cl_crl_lookup_hex(crl, "02", NULL));
    /* by certificate: the device's issuer is the CRL's; the issuing CA's is the root */
    assert_true(cl_crl_covers(crl, &pki.device_crt));
    assert_true(cl_crl_lists(crl, &pki.device_crt, &rev));
    assert_false(cl_crl_covers(crl, &pki.issuing_crt));
    assert_false(cl_crl_lists(crl, &pki.issuing_crt, NULL));
    cl_crl_release(crl);

    /* no entries at all: no revokedCertificates field */
    free(der);
    build(pki.signer, 1, now, 1, NULL, 0, &der, &len);
    assert_int_equal(cl_crl_parse(der, len, &cas, &crl, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_crl_count(crl), 0);
    assert_false(cl_crl_lookup_hex(crl, pki.device.serial_hex, NULL));
    cl_crl_release(crl);
    free(der);
    mbedtls_x509_crt_free(&cas);
}

static void test_build_refuses_bad_input(void **state)
{
    struct cl_crl_entry e = {"0A0B", 0, CL_CRL_REASON_SUPERSEDED};
    struct cl_crl_params params = {now, now + DAY, 1};
    unsigned char *der = NULL;
    size_t len = 0;
    char err[256] = "";
    const char *bad_serials[] = {"ABC",
                                 "",
                                 "XY12",
                                 "0000",
                                 "00",
                                 "00000A0B",
                                 "0102030405060708091011121314151617181920212223"};

    (void)state;
    e.revoked_at = now;
    for (size_t i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++) {
        e.serial_hex = bad_serials[i];
        assert_int_equal(cl_crl_build(pki.signer, &params, &e, 1, &der, &len, err, sizeof(err)),
                         CL_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(err, "CRL entry 0"));
        assert_null(der);
    }
    e.serial_hex = "0A0B";
    e.reason = 7;
    assert_int_equal(cl_crl_build(pki.signer, &params, &e, 1, &der, &len, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    e.reason = CL_CRL_REASON_SUPERSEDED;
    params.next_update = now;
    assert_int_equal(cl_crl_build(pki.signer, &params, &e, 1, &der, &len, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "nextUpdate"));
    params.next_update = now + DAY;
    assert_int_equal(cl_crl_build(NULL, &params, &e, 1, &der, &len, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_crl_build(pki.signer, &params, NULL, 1, &der, &len, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
}

static void test_refuses_changed_or_untrusted(void **state)
{
    struct cl_crl_entry e = {"0A0B", now, CL_CRL_REASON_SUPERSEDED};
    struct cl_crl_holder *h = holder_new(CL_CRL_STALE_WARN, CL_CRL_MISSING_ALLOW);
    unsigned char *der = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    /* the last octet is in the signature, one near the middle in the serial or date */
    build(pki.signer, 3, now, 1, &e, 1, &der, &len);
    der[len - 1] ^= 0x01;
    assert_int_equal(cl_crl_holder_install(h, der, len, err, sizeof(err)), CL_ERR_PERMISSION);
    assert_non_null(strstr(err, "does not verify"));
    der[len - 1] ^= 0x01;
    for (size_t i = 0; i + 4 < len; i++) /* the entry's serial 0A 0B: make it 0A 0C */
        if (der[i] == 0x02 && der[i + 1] == 0x02 && der[i + 2] == 0x0A && der[i + 3] == 0x0B) {
            der[i + 3] = 0x0C;
            break;
        }
    assert_int_equal(cl_crl_holder_install(h, der, len, err, sizeof(err)), CL_ERR_PERMISSION);
    free(der);
    /* a CRL of another CA, and a malformed one */
    build(pki.other_signer, 4, now, 1, &e, 1, &der, &len);
    assert_int_equal(cl_crl_holder_install(h, der, len, err, sizeof(err)), CL_ERR_PERMISSION);
    assert_non_null(strstr(err, "not a trusted CA"));
    assert_int_equal(cl_crl_holder_install(h, der, len / 2, err, sizeof(err)), CL_ERR_PARSE);
    assert_non_null(strstr(err, "malformed"));
    assert_int_equal(cl_crl_holder_install(h, (const unsigned char *)"hello", 5, err, sizeof(err)),
                     CL_ERR_PARSE);
    free(der);
    assert_null(cl_crl_holder_current(h));
    cl_crl_holder_free(h);
}

static void test_holder_refuses_unchained_cas(void **state)
{
    struct cl_crl_holder *h = NULL;
    char *a = pem_of(&pki.issuing), *b = pem_of(&pki.other_root), err[256] = "";
    char *both = malloc(strlen(a) + strlen(b) + 1);

    (void)state;
    strcpy(both, a);
    strcat(both, b);
    assert_int_equal(cl_crl_holder_new(NULL, NULL, both, &h, err, sizeof(err)), CL_ERR_PERMISSION);
    assert_non_null(strstr(err, "does not chain"));
    assert_null(h);
    assert_int_equal(cl_crl_holder_new(NULL, NULL, "junk", &h, err, sizeof(err)), CL_ERR_TLS_SETUP);
    free(a);
    free(b);
    free(both);
}

static void test_newer_only(void **state)
{
    struct cl_crl_holder *h = holder_new(CL_CRL_STALE_WARN, CL_CRL_MISSING_ALLOW);
    struct cl_crl_status st;
    struct cl_crl *crl;
    uint32_t flags = 0;
    char err[256] = "";

    (void)state;
    assert_int_equal(install(h, 5, 0, now, 1, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_crl_holder_check_chain(h, &pki.device_crt, "client", &flags), 0);
    assert_int_equal(install(h, 4, 1, now, 1, err, sizeof(err)), CL_ERR_STATE);
    assert_non_null(strstr(err, "CRL number 4 is older than the installed number 5"));
    assert_int_equal(install(h, 5, 1, now, 1, err, sizeof(err)), CL_ERR_EXISTS);
    assert_int_equal(cl_crl_holder_check_chain(h, &pki.device_crt, "client", &flags), 0);
    assert_int_equal(flags, 0);
    assert_int_equal(install(h, 6, 1, now, 1, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_crl_holder_check_chain(h, &pki.device_crt, "client", &flags), -1);
    assert_true(flags & MBEDTLS_X509_BADCERT_REVOKED);
    crl = cl_crl_holder_current(h);
    assert_int_equal(cl_crl_number(crl), 6);
    cl_crl_release(crl);
    cl_crl_holder_status(h, &st);
    assert_int_equal(st.installed, 1);
    assert_int_equal(st.number, 6);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.stale, 0);
    cl_crl_holder_free(h);
}

static void test_stale_and_missing_policies(void **state)
{
    struct cl_crl_holder *warn = holder_new(CL_CRL_STALE_WARN, CL_CRL_MISSING_ALLOW);
    struct cl_crl_holder *refuse = holder_new(CL_CRL_STALE_REFUSE, CL_CRL_MISSING_REFUSE);
    enum cl_crl_stale_policy sp;
    enum cl_crl_missing_policy mp;
    struct cl_crl_status st;
    uint32_t flags = 0;
    char err[256] = "";

    (void)state;
    /* no CRL yet */
    assert_int_equal(cl_crl_holder_check_chain(warn, &pki.device_crt, "client", &flags), 0);
    assert_int_equal(cl_crl_holder_check_chain(refuse, &pki.issuing_crt, "client", &flags), -1);
    assert_int_equal(flags, MBEDTLS_X509_BADCRL_NOT_TRUSTED);
    /* a CRL ten days old with a one-day period: stale */
    assert_int_equal(install(warn, 1, 1, now - 10 * DAY, 1, err, sizeof(err)), CL_OK);
    assert_int_equal(install(refuse, 1, 0, now - 10 * DAY, 1, err, sizeof(err)), CL_OK);
    flags = 0;
    assert_int_equal(cl_crl_holder_check_chain(warn, &pki.issuing_crt, "client", &flags), 0);
    assert_int_equal(cl_crl_holder_check_chain(warn, &pki.device_crt, "client", &flags), -1);
    assert_int_equal(flags, MBEDTLS_X509_BADCERT_REVOKED); /* still enforced */
    flags = 0;
    assert_int_equal(cl_crl_holder_check_chain(refuse, &pki.device_crt, "client", &flags), -1);
    assert_int_equal(flags, MBEDTLS_X509_BADCRL_EXPIRED);
    cl_crl_holder_status(refuse, &st);
    assert_int_equal(st.stale, 1);
    assert_int_equal(st.policy.stale, CL_CRL_STALE_REFUSE);
    /* a current one: accepted again */
    assert_int_equal(install(refuse, 2, 0, now - 60, 1, err, sizeof(err)), CL_OK);
    flags = 0;
    assert_int_equal(cl_crl_holder_check_chain(refuse, &pki.device_crt, "client", &flags), 0);
    assert_int_equal(flags, 0);
    /* the names */
    assert_int_equal(cl_crl_stale_policy_parse("refuse", &sp, err, sizeof(err)), CL_OK);
    assert_int_equal(sp, CL_CRL_STALE_REFUSE);
    assert_int_equal(cl_crl_stale_policy_parse("ignore", &sp, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(err, "\"warn\" or \"refuse\""));
    assert_int_equal(cl_crl_missing_policy_parse("allow", &mp, err, sizeof(err)), CL_OK);
    assert_int_equal(mp, CL_CRL_MISSING_ALLOW);
    assert_string_equal(cl_crl_stale_policy_name(CL_CRL_STALE_WARN), "warn");
    assert_string_equal(cl_crl_missing_policy_name(CL_CRL_MISSING_REFUSE), "refuse");
    cl_crl_holder_free(warn);
    cl_crl_holder_free(refuse);
}

static void test_pem_and_file(void **state)
{
    struct cl_crl_entry e = {pki.device.serial_hex, now, CL_CRL_REASON_AFFILIATION_CHANGED};
    struct cl_crl_holder *h = holder_new(CL_CRL_STALE_WARN, CL_CRL_MISSING_ALLOW);
    char path[] = "/tmp/test_crl-XXXXXX", err[256] = "", *pem = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    uint32_t flags = 0;
    FILE *f;
    int fd;

    (void)state;
    build(pki.signer, 9, now, 1, &e, 1, &der, &len);
    assert_int_equal(cl_crl_der_to_pem(der, len, &pem), CL_OK);
    assert_non_null(strstr(pem, "-----BEGIN X509 CRL-----"));
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs(pem, f);
    fclose(f);
    assert_int_equal(cl_crl_holder_install_file(h, path, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_crl_holder_check_chain(h, &pki.device_crt, "server x", &flags), -1);
    assert_int_equal(cl_crl_holder_install_file(h, "/nonexistent/crl", err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "/nonexistent/crl"));
    remove(path);
    free(pem);
    free(der);
    cl_crl_holder_free(h);
}

static void test_hundred_thousand_entries(void **state)
{
    enum { N = 100000 };
    struct cl_crl_entry *entries = calloc(N, sizeof(*entries));
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = calloc(N, sizeof(*serials));
    struct cl_crl_holder *h = holder_new(CL_CRL_STALE_WARN, CL_CRL_MISSING_ALLOW);
    struct cl_crl_revoked rev;
    struct cl_crl *crl;
    unsigned char *der = NULL;
    size_t len = 0;
    char err[256] = "";

    (void)state;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(cl_serial_random(serials[i]), CL_OK);
        entries[i] = (struct cl_crl_entry){serials[i], now - (time_t)i, (int)(i % 6)};
    }
    build(pki.signer, 77, now, 1, entries, N, &der, &len);
    assert_true(len > N * 40 && len < N * 60);
    assert_int_equal(cl_crl_holder_install(h, der, len, err, sizeof(err)), CL_OK);
    crl = cl_crl_holder_current(h);
    assert_int_equal(cl_crl_count(crl), N);
    for (size_t i = 0; i < N; i += 997) {
        assert_true(cl_crl_lookup_hex(crl, serials[i], &rev));
        assert_int_equal(rev.reason, (int)(i % 6));
        assert_int_equal(rev.revoked_at, now - (time_t)i);
    }
    assert_false(cl_crl_lookup_hex(crl, pki.device.serial_hex, NULL));
    cl_crl_release(crl);
    cl_crl_holder_free(h);
    free(der);
    free(entries);
    free(serials);
}

struct reader_arg {
    struct cl_crl_holder *h;
    int revoked_seen;
};

static void *reader(void *arg)
{
    struct reader_arg *ra = arg;
    for (int i = 0; i < 2000; i++) {
        uint32_t flags = 0;
        if (cl_crl_holder_check_chain(ra->h, &pki.device_crt, "client", &flags) != 0)
            ra->revoked_seen = 1;
    }
    return NULL;
}

static void test_install_while_checking(void **state)
{
    struct cl_crl_holder *h = holder_new(CL_CRL_STALE_WARN, CL_CRL_MISSING_ALLOW);
    struct reader_arg args[4];
    pthread_t threads[4];
    char err[256];

    (void)state;
    for (int i = 0; i < 4; i++) {
        args[i] = (struct reader_arg){h, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, reader, &args[i]), 0);
    }
    for (unsigned long long n = 1; n <= 30; n++)
        assert_int_equal(install(h, n, n == 30, now, 1, err, sizeof(err)), CL_OK);
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    uint32_t flags = 0;
    assert_int_equal(cl_crl_holder_check_chain(h, &pki.device_crt, "client", &flags), -1);
    cl_crl_holder_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_names),
        cmocka_unit_test(test_build_parse_lookup),
        cmocka_unit_test(test_build_refuses_bad_input),
        cmocka_unit_test(test_refuses_changed_or_untrusted),
        cmocka_unit_test(test_holder_refuses_unchained_cas),
        cmocka_unit_test(test_newer_only),
        cmocka_unit_test(test_stale_and_missing_policies),
        cmocka_unit_test(test_pem_and_file),
        cmocka_unit_test(test_hundred_thousand_entries),
        cmocka_unit_test(test_install_while_checking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
