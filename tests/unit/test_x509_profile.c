/* test_x509_profile.c: the issued certificates are parsed back and every profile item is checked
 * (subject, EKU, basicConstraints, keyUsage and their criticality, SKI/AKI, serial, validity, key
 * pair, chain to the issuing CA and the root) for the CA pair, P-256 and RSA-2048 devices and each
 * service role, with DER-exact signature AlgorithmIdentifiers; the input rules and PEM output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>

#include "error.h"
#include "x509_fixture.h"

static void test_key_type_names(void **state)
{
    enum cl_key_type t;
    (void)state;

    assert_string_equal(cl_key_type_name(CL_KEY_P256), "p256");
    assert_string_equal(cl_key_type_name(CL_KEY_RSA2048), "rsa2048");
    assert_string_equal(cl_key_type_name(CL_KEY_RSA3072), "rsa3072");
    assert_int_equal(cl_key_type_parse("rsa3072", &t), CL_OK);
    assert_int_equal(t, CL_KEY_RSA3072);
    assert_int_equal(cl_key_type_parse("p256", &t), CL_OK);
    assert_int_equal(t, CL_KEY_P256);
    assert_int_equal(cl_key_type_parse("P256", &t), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_key_type_parse("rsa4096", &t), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_key_type_parse("", &t), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_key_type_parse(NULL, &t), CL_ERR_INVALID_ARGUMENT);
}

static void test_input_rules(void **state)
{
    (void)state;
    assert_true(cl_device_number_valid("3012-000001"));
    assert_true(cl_device_number_valid("A"));
    assert_true(cl_device_number_valid("1234567890123456789012345678901"));
    assert_false(cl_device_number_valid("12345678901234567890123456789012"));
    assert_false(cl_device_number_valid(""));
    assert_false(cl_device_number_valid(NULL));
    assert_false(cl_device_number_valid("-3012"));
    assert_false(cl_device_number_valid("3012,OU=ca-server"));
    assert_false(cl_device_number_valid("3012 1"));
    assert_false(cl_device_number_valid("3012_1"));
    assert_true(cl_model_code_valid("3012"));
    assert_false(cl_model_code_valid("1234567890123456"));
    assert_true(cl_serial_hex_valid("01"));
    assert_true(cl_serial_hex_valid("FF00"));
    assert_false(cl_serial_hex_valid("00FF"));
    assert_false(cl_serial_hex_valid("ABC"));
    assert_false(cl_serial_hex_valid("abcd"));
    assert_false(cl_serial_hex_valid(""));
    assert_true(cl_serial_hex_valid("7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
    assert_false(cl_serial_hex_valid("7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
}

static void test_ca_pair_profile(void **state)
{
    static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING};
    const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORGANIZATION};
    char root_cn[64], issuing_cn[64];
    uint32_t flags = 0xffffffff;
    (void)state;

    /* root: self-signed CA, pathlen 1 */
    assert_int_equal(root_crt.version, 3);
    assert_int_equal(root_crt.subject_raw.len, root_crt.issuer_raw.len);
    assert_memory_equal(root_crt.subject_raw.p, root_crt.issuer_raw.p, root_crt.subject_raw.len);
    assert_int_equal(root_crt.ca_istrue, 1);
    assert_int_equal(root_crt.max_pathlen, 2); /* mbedTLS stores pathlen + 1 */
    assert_int_equal(root_crt.key_usage, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    assert_critical(&root_crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_critical(&root_crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_false(root_crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
    assert_ski_aki(&root_crt, &root_crt);
    assert_serial(&root_crt, root.serial_hex, 16);
    assert_int_equal(root_crt.sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(root_crt.sig_pk, MBEDTLS_PK_ECDSA);
    ASSERT_ECDSA_SHA256(root.cert_der, root.cert_len);
    snprintf(root_cn, sizeof(root_cn), "certline root CA %.8s", root.serial_hex);
    const char *root_values[] = {root_cn, ORG};
    assert_subject(&root_crt, oids, root_values, tags, 2);
    assert_time(&root_crt.valid_from, now);
    assert_time(&root_crt.valid_to, now + 3650 * 86400L);
    assert_key_pair(&root, &root_crt, MBEDTLS_PK_ECKEY, 256);
    assert_int_equal(mbedtls_x509_crt_verify(&root_crt, &root_crt, NULL, NULL, &flags, NULL, NULL),
                     0);

    /* issuing: signed by the root, pathlen 0 */
    assert_int_equal(issuing_crt.ca_istrue, 1);
    assert_int_equal(issuing_crt.max_pathlen, 1);
    ASSERT_ECDSA_SHA256(issuing.cert_der, issuing.cert_len);
    assert_int_equal(issuing_crt.key_usage,
                     MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    assert_critical(&issuing_crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_critical(&issuing_crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_ski_aki(&issuing_crt, &root_crt);
    assert_int_equal(issuing_crt.issuer_raw.len, root_crt.subject_raw.len);
    assert_memory_equal(issuing_crt.issuer_raw.p, root_crt.subject_raw.p, root_crt.subject_raw.len);
    assert_serial(&issuing_crt, issuing.serial_hex, 16);
    snprintf(issuing_cn, sizeof(issuing_cn), "certline issuing CA %.8s", issuing.serial_hex);
    const char *issuing_values[] = {issuing_cn, ORG};
    assert_subject(&issuing_crt, oids, issuing_values, tags, 2);
    assert_time(&issuing_crt.valid_to, now + 1825 * 86400L);
    assert_key_pair(&issuing, &issuing_crt, MBEDTLS_PK_ECKEY, 256);
    flags = 0xffffffff;
    assert_int_equal(
        mbedtls_x509_crt_verify(&issuing_crt, &root_crt, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    assert_string_not_equal(root.serial_hex, issuing.serial_hex);

    /* the signer hands back the issuing CA certificate */
    size_t len = 0;
    const unsigned char *der = cl_signer_cert_der(signer, &len);
    assert_int_equal(len, issuing.cert_len);
    assert_memory_equal(der, issuing.cert_der, len);
}

static void test_device_p256_profile(void **state)
{
    static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_PRINTABLE_STRING,
                               MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                               MBEDTLS_ASN1_UTF8_STRING};
    const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_OID_AT_ORG_UNIT,
                          MBEDTLS_OID_AT_TITLE, MBEDTLS_OID_AT_ORGANIZATION};
    const char *values[] = {"3012-000001", "3012-000001", "device", MODEL, ORG};
    struct cl_issued dev;
    mbedtls_x509_crt crt;
    char serial[CL_SERIAL_HEX_MAX + 1];
    unsigned char *val;
    size_t len;
    int critical;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(signer, "3012-000001", MODEL, CL_KEY_P256, serial, now, 365, &dev), CL_OK);
    assert_string_equal(dev.serial_hex, serial);
    parse_der(&crt, dev.cert_der, dev.cert_len);

    assert_int_equal(crt.version, 3);
    assert_subject(&crt, oids, values, tags, 5);
    assert_int_equal(crt.issuer_raw.len, issuing_crt.subject_raw.len);
    assert_memory_equal(crt.issuer_raw.p, issuing_crt.subject_raw.p, crt.issuer_raw.len);
    /* EKU: clientAuth only */
    assert_true(crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
    assert_int_equal(crt.ext_key_usage.buf.len, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_memory_equal(crt.ext_key_usage.buf.p, MBEDTLS_OID_CLIENT_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_null(crt.ext_key_usage.next);
    assert_int_not_equal(
        mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
        0);
    assert_critical(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE, 0);
    /* basicConstraints cA false, critical, encoded as an empty SEQUENCE */
    assert_true(crt.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
    assert_int_equal(crt.ca_istrue, 0);
    assert_int_equal(ext_find(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS, &critical, &val, &len), 0);
    assert_int_equal(critical, 1);
    assert_int_equal(len, 2);
    assert_int_equal(val[0], 0x30);
    assert_int_equal(val[1], 0x00);
    /* keyUsage digitalSignature, critical */
    assert_true(crt.ext_types & MBEDTLS_X509_EXT_KEY_USAGE);
    assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    assert_critical(&crt, MBEDTLS_OID_KEY_USAGE, 1);
    /* SKI and AKI; no SAN */
    assert_ski_aki(&crt, &issuing_crt);
    assert_false(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    /* serial: 16 octets, positive, the one asked for */
    assert_serial(&crt, serial, 16);
    /* validity */
    assert_time(&crt.valid_from, now);
    assert_time(&crt.valid_to, now + 365 * 86400L);
    /* signature and key */
    assert_int_equal(crt.sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(crt.sig_pk, MBEDTLS_PK_ECDSA);
    ASSERT_ECDSA_SHA256(dev.cert_der, dev.cert_len);
    assert_key_pair(&dev, &crt, MBEDTLS_PK_ECKEY, 256);
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(crt.pk);
    assert_non_null(ec);
    assert_int_equal(ec != NULL ? ec->grp.id : MBEDTLS_ECP_DP_NONE, MBEDTLS_ECP_DP_SECP256R1);
    assert_chains(&dev);

    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
    assert_null(dev.key_der);
    assert_null(dev.cert_der);
}

static void test_device_rsa2048(void **state)
{
    struct cl_issued dev;
    mbedtls_x509_crt crt;
    struct timespec t0;
    mbedtls_mpi e;
    char serial[CL_SERIAL_HEX_MAX + 1];
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(
        cl_issue_device(signer, "3012-000002", MODEL, CL_KEY_RSA2048, serial, now, 365, &dev),
        CL_OK);
    printf("[ RATE     ] RSA-2048 device certificate: one issuance took %.3f s\n",
           seconds_since(&t0));
    parse_der(&crt, dev.cert_der, dev.cert_len);
    assert_int_equal(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_RSA);
    assert_int_equal(mbedtls_pk_get_bitlen(&crt.pk), 2048);
    mbedtls_mpi_init(&e);
    assert_int_equal(mbedtls_rsa_export(mbedtls_pk_rsa(crt.pk), NULL, NULL, NULL, NULL, &e), 0);
    assert_int_equal(mbedtls_mpi_cmp_int(&e, 65537), 0);
    mbedtls_mpi_free(&e);
    assert_int_equal(crt.key_usage,
                     MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT);
    assert_critical(&crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_critical(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_int_equal(crt.ca_istrue, 0);
    assert_serial(&crt, serial, 16);
    assert_key_pair(&dev, &crt, MBEDTLS_PK_RSA, 2048);
    assert_chains(&dev);
    /* signed by the ECDSA issuing CA: no NULL in the signature algorithm; the RSA key's own
     * rsaEncryption AlgorithmIdentifier keeps its NULL */
    assert_int_equal(crt.sig_pk, MBEDTLS_PK_ECDSA);
    ASSERT_ECDSA_SHA256(dev.cert_der, dev.cert_len);
    assert_true(crt.pk_raw.len > sizeof(RSA2048_SPKI_HEAD));
    assert_memory_equal(crt.pk_raw.p, RSA2048_SPKI_HEAD, sizeof(RSA2048_SPKI_HEAD));
    write_pem("root.pem", &root);
    write_pem("issuing.pem", &issuing);
    write_pem("rsa-device.pem", &dev);
    assert_openssl_verifies("sslclient", "rsa-device.pem");
    assert_python_loads("rsa-device.pem");
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
}

/* Issues a service certificate and checks its subject, SAN and EKU. */
static void check_service(enum cl_role role, const char *ou, const char *name, const char *number,
                          int server)
{
    struct cl_issued svc;
    mbedtls_x509_crt crt;

    assert_int_equal(cl_issue_service(signer, role, name, number, now, 730, &svc), CL_OK);
    parse_der(&crt, svc.cert_der, svc.cert_len);
    if (number != NULL) {
        const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORG_UNIT,
                              MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_OID_AT_ORGANIZATION};
        const char *values[] = {name, ou, number, ORG};
        static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                                   MBEDTLS_ASN1_PRINTABLE_STRING, MBEDTLS_ASN1_UTF8_STRING};
        assert_subject(&crt, oids, values, tags, 4);
    } else {
        const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORG_UNIT,
                              MBEDTLS_OID_AT_ORGANIZATION};
        const char *values[] = {name, ou, ORG};
        static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                                   MBEDTLS_ASN1_UTF8_STRING};
        assert_subject(&crt, oids, values, tags, 3);
    }
    assert_int_equal(crt.ca_istrue, 0);
    assert_critical(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    assert_critical(&crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_ski_aki(&crt, &issuing_crt);
    assert_serial(&crt, svc.serial_hex, 16);
    ASSERT_ECDSA_SHA256(svc.cert_der, svc.cert_len);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    /* EKU serverAuth then clientAuth for every role: a device serves its writing interface
     * with its model's common certificate */
    assert_memory_equal(crt.ext_key_usage.buf.p, MBEDTLS_OID_SERVER_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    assert_non_null(crt.ext_key_usage.next);
    assert_memory_equal(crt.ext_key_usage.next->buf.p, MBEDTLS_OID_CLIENT_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_null(crt.ext_key_usage.next->next);
    if (server) {
        /* SAN dNSName = name */
        assert_true(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
        assert_int_equal(crt.subject_alt_names.buf.tag, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2);
        assert_int_equal(crt.subject_alt_names.buf.len, strlen(name));
        assert_memory_equal(crt.subject_alt_names.buf.p, name, strlen(name));
        assert_null(crt.subject_alt_names.next);
    } else {
        /* a common certificate's name is text, not a DNS name */
        assert_false(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    }
    assert_key_pair(&svc, &crt, MBEDTLS_PK_ECKEY, 256);
    assert_chains(&svc);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&svc);
}

static void test_service_profiles(void **state)
{
    (void)state;
    /* the OU spellings are those peer.c reads back */
    check_service(CL_ROLE_CA_SERVER, "ca-server", "ca.certline.test", NULL, 1);
    check_service(CL_ROLE_COMM_TERMINAL, "comm-terminal", "comm.certline.test", NULL, 1);
    check_service(CL_ROLE_FACTORY_TERMINAL, "factory-terminal", "line-1001.certline.test", "1001",
                  1);
    check_service(CL_ROLE_DEVICE_COMMON, "device-common", "3012 common", "3012", 0);
}

/* The production management system's certificate: a client only (EKU clientAuth alone), its
 * name text, OU production. */
static void test_production_profile(void **state)
{
    struct cl_issued svc;
    mbedtls_x509_crt crt;
    const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_OID_AT_ORGANIZATION};
    const char *values[] = {"mes.factory-e", "production", ORG};
    static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                               MBEDTLS_ASN1_UTF8_STRING};
    (void)state;

    assert_int_equal(
        cl_issue_service(signer, CL_ROLE_PRODUCTION, "mes.factory-e", NULL, now, 730, &svc), CL_OK);
    parse_der(&crt, svc.cert_der, svc.cert_len);
    assert_subject(&crt, oids, values, tags, 3);
    assert_int_equal(crt.ca_istrue, 0);
    assert_memory_equal(crt.ext_key_usage.buf.p, MBEDTLS_OID_CLIENT_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_null(crt.ext_key_usage.next);
    assert_false(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    assert_chains(&svc);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&svc);
}

static void test_der_to_pem(void **state)
{
    mbedtls_x509_crt crt;
    char *pem = NULL;
    (void)state;

    assert_int_equal(cl_cert_der_to_pem(root.cert_der, root.cert_len, &pem), CL_OK);
    assert_true(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    assert_non_null(strstr(pem, "-----END CERTIFICATE-----\n"));
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
    assert_int_equal(crt.raw.len, root.cert_len);
    assert_memory_equal(crt.raw.p, root.cert_der, root.cert_len);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    assert_int_equal(cl_cert_der_to_pem(NULL, 10, &pem), CL_ERR_INVALID_ARGUMENT);
    assert_null(pem);
    assert_int_equal(cl_cert_der_to_pem(root.cert_der, 0, &pem), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_type_names),     cmocka_unit_test(test_input_rules),
        cmocka_unit_test(test_ca_pair_profile),    cmocka_unit_test(test_device_p256_profile),
        cmocka_unit_test(test_device_rsa2048),     cmocka_unit_test(test_service_profiles),
        cmocka_unit_test(test_production_profile), cmocka_unit_test(test_der_to_pem),
    };
    return cmocka_run_group_tests(tests, x509_group_setup, x509_group_teardown);
}
