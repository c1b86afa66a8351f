/* test_x509_refusals.c: bad inputs and wrong CA material are refused by cl_signer_new,
 * cl_issue_device, cl_issue_service and cl_issue_ca_pair, leaving nothing behind; the edges that
 * are allowed (serial lengths, 100 years, the longest DNS name) are issued. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "x509_fixture.h"

static void test_signer_refusals(void **state)
{
    struct cl_signer *s = (struct cl_signer *)&s; /* must come back NULL */
    struct cl_issued dev;
    char err[256], serial[CL_SERIAL_HEX_MAX + 1], *pem = NULL;
    static const unsigned char garbage[] = "not a certificate at all";
    (void)state;

    /* the root's key with the issuing certificate */
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, root.key_der, root.key_len,
                                   ORG, &s, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    assert_null(s);
    assert_non_null(strstr(err, "does not belong"));
    /* a leaf is not a CA */
    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(signer, "3012-000004", MODEL, CL_KEY_P256, serial, now, 365, &dev), CL_OK);
    assert_int_equal(cl_signer_new(dev.cert_der, dev.cert_len, dev.key_der, dev.key_len, ORG, &s,
                                   err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(s);
    assert_non_null(strstr(err, "not a CA"));
    cl_issued_free(&dev);
    /* garbage in either place */
    assert_int_equal(cl_signer_new(garbage, sizeof(garbage), issuing.key_der, issuing.key_len, ORG,
                                   &s, err, sizeof(err)),
                     CL_ERR_PARSE);
    assert_non_null(strstr(err, "certificate does not parse"));
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, garbage, sizeof(garbage),
                                   ORG, &s, err, sizeof(err)),
                     CL_ERR_PARSE);
    assert_non_null(strstr(err, "private key does not parse"));
    /* bounds and organisation */
    assert_int_equal(cl_signer_new(issuing.cert_der, 0, issuing.key_der, issuing.key_len, ORG, &s,
                                   err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, 0, ORG, &s,
                                   err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der,
                                   issuing.key_len, "evil, O=other", &s, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der,
                                   issuing.key_len, "", &s, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(s);
    /* PEM with its NUL is accepted as well */
    assert_int_equal(cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &pem), CL_OK);
    assert_int_equal(cl_signer_new((const unsigned char *)pem, strlen(pem) + 1, issuing.key_der,
                                   issuing.key_len, ORG, &s, err, sizeof(err)),
                     CL_OK);
    cl_signer_free(s);
    cl_signer_free(NULL);
    free(pem);
}

static void expect_device_refused(const char *number, const char *model, enum cl_key_type type,
                                  const char *serial, time_t not_before, int days)
{
    struct cl_issued dev;
    memset(&dev, 0x5a, sizeof(dev));
    assert_int_equal(cl_issue_device(signer, number, model, type, serial, not_before, days, &dev),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(dev.cert_der);
    assert_null(dev.key_der);
}

static void test_device_refusals(void **state)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    struct cl_issued dev;
    mbedtls_x509_crt crt;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    expect_device_refused(NULL, MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1,OU=ca-server", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012 1", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("12345678901234567890123456789012", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", NULL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", "", CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", "30/12", CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", "1234567890123456", CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", MODEL, (enum cl_key_type)7, serial, now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, NULL, now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "0102030405060708090", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "000102030405060708", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "8001020304050607", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "0a01020304050607", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "01020304050607", now, 365); /* 7 */
    expect_device_refused("3012-1", MODEL, CL_KEY_P256,
                          "7F0102030405060708090A0B0C0D0E0F1011121314", now, 365); /* 21 */
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "G102030405060708", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, now, 0);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, now, -1);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, now, 36501);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, -1, 365);
    /* starting after the issuing CA's end (here also near 9999): refused as such */
    memset(&dev, 0x5a, sizeof(dev));
    assert_int_equal(cl_issue_device(signer, "3012-1", MODEL, CL_KEY_P256, serial,
                                     (time_t)253402300799 - 3600, 1, &dev),
                     CL_ERR_STATE);
    assert_null(dev.cert_der);
    assert_int_equal(cl_issue_device(NULL, "3012-1", MODEL, CL_KEY_P256, serial, now, 1, &dev),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_device(signer, "3012-1", MODEL, CL_KEY_P256, serial, now, 1, NULL),
                     CL_ERR_INVALID_ARGUMENT);

    /* the edges that are allowed: 8 and 20 octets, 100 years (past 2050: GeneralizedTime)
     * under a CA that lasts as long */
    {
        struct cl_issued long_root, long_issuing;
        struct cl_signer *long_signer = NULL;
        char err[256];
        assert_int_equal(cl_issue_ca_pair(ORG, now, 36500, 36500, &long_root, &long_issuing),
                         CL_OK);
        assert_int_equal(cl_signer_new(long_issuing.cert_der, long_issuing.cert_len,
                                       long_issuing.key_der, long_issuing.key_len, ORG,
                                       &long_signer, err, sizeof(err)),
                         CL_OK);
        assert_int_equal(cl_issue_device(long_signer, "3012-1", MODEL, CL_KEY_P256,
                                         "0102030405060708", now, 36500, &dev),
                         CL_OK);
        parse_der(&crt, dev.cert_der, dev.cert_len);
        assert_serial(&crt, "0102030405060708", 8);
        assert_time(&crt.valid_to, now + 36500 * 86400L);
        mbedtls_x509_crt_free(&crt);
        cl_issued_free(&dev);
        cl_signer_free(long_signer);
        cl_issued_free(&long_root);
        cl_issued_free(&long_issuing);
    }
    assert_int_equal(cl_issue_device(signer, "3012-1", MODEL, CL_KEY_P256,
                                     "7F0102030405060708090A0B0C0D0E0F10111213", now, 1, &dev),
                     CL_OK);
    parse_der(&crt, dev.cert_der, dev.cert_len);
    assert_serial(&crt, "7F0102030405060708090A0B0C0D0E0F10111213", 20);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
}

static void expect_service_refused(enum cl_role role, const char *name, const char *number)
{
    struct cl_issued svc;
    memset(&svc, 0x5a, sizeof(svc));
    assert_int_equal(cl_issue_service(signer, role, name, number, now, 365, &svc),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(svc.cert_der);
    assert_null(svc.key_der);
}

static void test_service_refusals(void **state)
{
    char long_name[80];
    struct cl_issued svc;
    (void)state;

    expect_service_refused(CL_ROLE_DEVICE, "3012-1", NULL);
    expect_service_refused(CL_ROLE_NONE, "a.test", NULL);
    expect_service_refused((enum cl_role)99, "a.test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "not a dns name", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "-a.test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "a-.test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "a..test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "a.test.", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, NULL, NULL);
    memset(long_name, 'a', 60);
    strcpy(long_name + 60, ".test"); /* 65 characters */
    expect_service_refused(CL_ROLE_CA_SERVER, long_name, NULL);
    memset(long_name, 'b', 64);
    strcpy(long_name + 64, ".test"); /* a label of 64 characters */
    expect_service_refused(CL_ROLE_CA_SERVER, long_name, NULL);
    expect_service_refused(CL_ROLE_FACTORY_TERMINAL, "line-1.test", NULL);
    expect_service_refused(CL_ROLE_FACTORY_TERMINAL, "line-1.test", "");
    expect_service_refused(CL_ROLE_FACTORY_TERMINAL, "line-1.test", "10/01");
    expect_service_refused(CL_ROLE_DEVICE_COMMON, "3012 common", NULL);
    expect_service_refused(CL_ROLE_DEVICE_COMMON, "3012,OU=ca-server", "3012");
    expect_service_refused(CL_ROLE_DEVICE_COMMON, " 3012", "3012");
    assert_int_equal(cl_issue_service(signer, CL_ROLE_CA_SERVER, "ca.test", NULL, now, 0, &svc),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_service(NULL, CL_ROLE_CA_SERVER, "ca.test", NULL, now, 1, &svc),
                     CL_ERR_INVALID_ARGUMENT);
    /* a 64-character DNS name is the longest allowed */
    memset(long_name, 'c', 59);
    strcpy(long_name + 59, ".test");
    assert_int_equal(strlen(long_name), 64);
    assert_int_equal(cl_issue_service(signer, CL_ROLE_CA_SERVER, long_name, NULL, now, 1, &svc),
                     CL_OK);
    cl_issued_free(&svc);
}

static void test_ca_pair_refusals(void **state)
{
    struct cl_issued r, i;
    (void)state;
    assert_int_equal(cl_issue_ca_pair("", now, 10, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair(NULL, now, 10, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair("a+b", now, 10, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair(ORG, now, 0, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair(ORG, now, 10, 36501, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_null(r.cert_der);
    assert_null(i.key_der);
    assert_int_equal(cl_issue_ca_pair(ORG, now, 10, 10, NULL, &i), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signer_refusals),
        cmocka_unit_test(test_device_refusals),
        cmocka_unit_test(test_service_refusals),
        cmocka_unit_test(test_ca_pair_refusals),
    };
    return cmocka_run_group_tests(tests, x509_group_setup, x509_group_teardown);
}
