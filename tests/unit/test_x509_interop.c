/* test_x509_interop.c: other tools accept what certline issues and certline accepts what they
 * make: the openssl CLI verifies and prints the issued certificates, Python's cryptography loads
 * them without a warning, and a CA made by openssl (EC or RSA) signs through cl_signer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "error.h"
#include "x509_fixture.h"

static void test_openssl_cli(void **state)
{
    struct cl_issued dev, svc;
    char serial[CL_SERIAL_HEX_MAX + 1], *out = NULL;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(signer, "3012-000003", MODEL, CL_KEY_P256, serial, now, 365, &dev), CL_OK);
    assert_int_equal(
        cl_issue_service(signer, CL_ROLE_CA_SERVER, "ca.certline.test", NULL, now, 730, &svc),
        CL_OK);
    write_pem("root.pem", &root);
    write_pem("issuing.pem", &issuing);
    write_pem("device.pem", &dev);
    write_pem("server.pem", &svc);

    assert_openssl_verifies("sslclient", "device.pem");
    assert_openssl_verifies("sslserver", "server.pem");

    /* a device certificate is no server certificate */
    char *verify_dev_as_server[] = {"openssl",    "verify",   "-purpose",   "sslserver",
                                    "-CAfile",    "root.pem", "-untrusted", "issuing.pem",
                                    "device.pem", NULL};
    assert_int_not_equal(run(verify_dev_as_server, &out), 0);
    free(out);

    char *text_dev[] = {"openssl", "x509", "-in", "device.pem", "-noout", "-text", NULL};
    assert_int_equal(run(text_dev, &out), 0);
    assert_non_null(strstr(out, "TLS Web Client Authentication"));
    assert_null(strstr(out, "TLS Web Server Authentication"));
    assert_non_null(strstr(out, "X509v3 Basic Constraints: critical"));
    assert_non_null(strstr(out, "CA:FALSE"));
    assert_non_null(strstr(out, "X509v3 Key Usage: critical"));
    assert_non_null(strstr(out, "Digital Signature"));
    assert_non_null(strstr(out, "X509v3 Subject Key Identifier"));
    assert_non_null(strstr(out, "X509v3 Authority Key Identifier"));
    assert_non_null(strstr(out, "Subject: CN = 3012-000003, serialNumber = 3012-000003, "
                                "OU = device, title = 3012, O = certline test"));
    assert_non_null(strstr(out, "ecdsa-with-SHA256"));
    assert_null(strstr(out, "Subject Alternative Name"));
    free(out);
    assert_python_loads("root.pem");
    assert_python_loads("issuing.pem");
    assert_python_loads("device.pem");
    assert_python_loads("server.pem");

    char *text_svc[] = {"openssl", "x509", "-in", "server.pem", "-noout", "-text", NULL};
    assert_int_equal(run(text_svc, &out), 0);
    assert_non_null(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication"));
    assert_non_null(strstr(out, "DNS:ca.certline.test"));
    assert_non_null(
        strstr(out, "Subject: CN = ca.certline.test, OU = ca-server, O = certline test"));
    free(out);

    cl_issued_free(&dev);
    cl_issued_free(&svc);
}

/* A CA made by openssl (PEM without its NUL, PKCS#8 key converted to DER) is accepted: the
 * issuer name is copied exactly, AKI takes openssl's SKI, and openssl verifies the result. */
static void signer_from_openssl_ca(char *algorithm, char *keyopt)
{
    char *key_pem_path = "ossl-ca.key", *out = NULL, *ca_pem = NULL, path[256];
    char *key_der = NULL;
    struct cl_signer *other = NULL;
    struct cl_issued dev;
    mbedtls_x509_crt ca, crt;
    char serial[CL_SERIAL_HEX_MAX + 1], err[256];
    size_t ca_len = 0, key_len = 0;

    char *genkey[] = {"openssl", "genpkey", "-algorithm", algorithm, "-pkeyopt",
                      keyopt,    "-out",    key_pem_path, NULL};
    assert_int_equal(run(genkey, &out), 0);
    free(out);
    char *req[] = {"openssl",
                   "req",
                   "-new",
                   "-x509",
                   "-key",
                   key_pem_path,
                   "-subj",
                   "/O=openssl org/OU=pki/CN=openssl issuing",
                   "-days",
                   "30",
                   "-sha256",
                   "-addext",
                   "basicConstraints=critical,CA:TRUE,pathlen:0",
                   "-addext",
                   "keyUsage=critical,keyCertSign,cRLSign",
                   "-addext",
                   "subjectKeyIdentifier=hash",
                   "-out",
                   "ossl-ca.pem",
                   NULL};
    assert_int_equal(run(req, &out), 0);
    free(out);
    char *to_der[] = {"openssl", "pkey", "-in",         key_pem_path, "-outform",
                      "DER",     "-out", "ossl-ca.der", NULL};
    assert_int_equal(run(to_der, &out), 0);
    free(out);

    snprintf(path, sizeof(path), "%s/ossl-ca.pem", tmpdir);
    assert_int_equal(cl_read_file_capped(path, 65536, &ca_pem, &ca_len), CL_OK);
    snprintf(path, sizeof(path), "%s/ossl-ca.der", tmpdir);
    assert_int_equal(cl_read_file_capped(path, 65536, &key_der, &key_len), CL_OK);
    /* PEM passed without its NUL */
    assert_int_equal(cl_signer_new((const unsigned char *)ca_pem, ca_len,
                                   (const unsigned char *)key_der, key_len, "openssl org", &other,
                                   err, sizeof(err)),
                     CL_OK);
    memset(key_der, 0, key_len);
    free(key_der);

    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(other, "3012-000009", MODEL, CL_KEY_P256, serial, now, 10, &dev), CL_OK);
    mbedtls_x509_crt_init(&ca);
    assert_int_equal(mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, ca_len + 1), 0);
    parse_der(&crt, dev.cert_der, dev.cert_len);
    assert_int_equal(crt.issuer_raw.len, ca.subject_raw.len);
    assert_memory_equal(crt.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len);
    assert_ski_aki(&crt, &ca);
    uint32_t flags = 0xffffffff;
    assert_int_equal(mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    write_pem("ossl-device.pem", &dev);
    char *verify[] = {"openssl",         "verify", "-x509_strict", "-CAfile", "ossl-ca.pem",
                      "ossl-device.pem", NULL};
    assert_int_equal(run(verify, &out), 0);
    assert_non_null(strstr(out, "ossl-device.pem: OK"));
    free(out);
    /* the signature AlgorithmIdentifier follows the CA key: NULL parameters for RSA only */
    if (strcmp(algorithm, "RSA") == 0) {
        assert_int_equal(crt.sig_pk, MBEDTLS_PK_RSA);
        assert_sig_alg(dev.cert_der, dev.cert_len, RSA_SHA256, sizeof(RSA_SHA256));
    } else {
        assert_int_equal(crt.sig_pk, MBEDTLS_PK_ECDSA);
        ASSERT_ECDSA_SHA256(dev.cert_der, dev.cert_len);
    }
    assert_python_loads("ossl-device.pem");
    /* and our own root does not vouch for it */
    flags = 0;
    assert_int_not_equal(mbedtls_x509_crt_verify(&crt, &root_crt, NULL, NULL, &flags, NULL, NULL),
                         0);
    assert_true(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);

    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
    cl_signer_free(other);
    free(ca_pem);
}

static void test_signer_from_openssl_ca(void **state)
{
    (void)state;
    signer_from_openssl_ca("EC", "ec_paramgen_curve:P-256");
    /* an RSA CA key stays RSA-typed (its own type) and signs as well */
    signer_from_openssl_ca("RSA", "rsa_keygen_bits:2048");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openssl_cli),
        cmocka_unit_test(test_signer_from_openssl_ca),
    };
    return cmocka_run_group_tests(tests, x509_group_setup, x509_group_teardown);
}
