/* test_key_files.c: private keys in files and in memory: the PEM of a key file written without
 * mbedtls_pk_write_key_pem (same text, parses back), a TLS key file refused when its group or
 * others can read it (message naming file and mode), and a key handed to TLS as DER. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/pk.h>

#include "atomic_file.h"
#include "error.h"
#include "key_pem.h"
#include "keyfile.h"
#include "test_util.h"
#include "tls.h"
#include "x509_issue.h"

static struct cl_issued root, issuing, rsa_device;
static char *dir;

static int setup(void **state)
{
    struct cl_signer *signer = NULL;
    char *pem = NULL, err[256], serial[CL_SERIAL_HEX_MAX + 1];
    (void)state;
    if (cl_serial_random(serial) != CL_OK ||
        cl_issue_ca_pair("certline test maker", time(NULL) - 60, 30, 20, &root, &issuing) !=
            CL_OK ||
        cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &pem) != CL_OK ||
        cl_signer_new((const unsigned char *)pem, strlen(pem) + 1, issuing.key_der, issuing.key_len,
                      "certline test maker", &signer, err, sizeof(err)) != CL_OK ||
        cl_issue_device(signer, "3012-000001", "3012", CL_KEY_RSA2048, serial, time(NULL) - 60, 10,
                        &rsa_device) != CL_OK)
        return -1;
    free(pem);
    cl_signer_free(signer);
    dir = cl_test_dir_new("certline-key-files");
    return dir != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    cl_issued_free(&rsa_device);
    cl_test_dir_free(dir);
    return 0;
}

/* cl_key_der_to_pem writes what mbedtls_pk_write_key_pem wrote, and it parses back to the key. */
static void expect_same_pem(const struct cl_issued *issued, const char *label)
{
    unsigned char reference[8192];
    mbedtls_pk_context key, again;
    char *pem = NULL;
    size_t pem_size = 0;

    mbedtls_pk_init(&key);
    mbedtls_pk_init(&again);
    assert_int_equal(mbedtls_pk_parse_key(&key, issued->key_der, issued->key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_write_key_pem(&key, reference, sizeof(reference)), 0);
    assert_int_equal(cl_key_der_to_pem(issued->key_der, issued->key_len, &pem, &pem_size), CL_OK);
    assert_string_equal(pem, (const char *)reference);
    assert_non_null(strstr(pem, label));
    assert_true(strlen(pem) < pem_size);
    assert_int_equal(
        mbedtls_pk_parse_key(&again, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_check_pair(&key, &again), 0);
    cl_secret_free(pem, pem_size);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&again);
}

static void test_key_pem(void **state)
{
    static const unsigned char not_a_key[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    char *pem = (char *)"x";
    size_t pem_size = 1;
    (void)state;

    expect_same_pem(&issuing, "-----BEGIN EC PRIVATE KEY-----\n");
    expect_same_pem(&rsa_device, "-----BEGIN RSA PRIVATE KEY-----\n");
    assert_int_equal(cl_key_der_to_pem(not_a_key, sizeof(not_a_key), &pem, &pem_size),
                     CL_ERR_PARSE);
    assert_null(pem);
    assert_int_equal(pem_size, 0);
}

/* The issuing CA's certificate and key as files (key at mode), and TLS settings naming them. */
static void write_identity(const char *name, mode_t mode, struct cl_tls_settings *settings,
                           char cert[PATH_MAX], char key[PATH_MAX], char trust[PATH_MAX])
{
    char file[64], *cert_pem = NULL, *root_pem = NULL, *key_pem = NULL;
    size_t key_pem_size = 0;

    snprintf(file, sizeof(file), "%s.crt", name);
    cl_test_path(cert, PATH_MAX, dir, file);
    snprintf(file, sizeof(file), "%s.key", name);
    cl_test_path(key, PATH_MAX, dir, file);
    cl_test_path(trust, PATH_MAX, dir, "root.crt");
    assert_int_equal(cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &cert_pem), CL_OK);
    assert_int_equal(cl_cert_der_to_pem(root.cert_der, root.cert_len, &root_pem), CL_OK);
    assert_int_equal(cl_key_der_to_pem(issuing.key_der, issuing.key_len, &key_pem, &key_pem_size),
                     CL_OK);
    assert_int_equal(cl_atomic_write(cert, cert_pem, strlen(cert_pem), 0644), CL_OK);
    assert_int_equal(cl_atomic_write(trust, root_pem, strlen(root_pem), 0644), CL_OK);
    assert_int_equal(cl_atomic_write(key, key_pem, strlen(key_pem), mode), CL_OK);
    free(cert_pem);
    free(root_pem);
    cl_secret_free(key_pem, key_pem_size);
    *settings = (struct cl_tls_settings){.cert_file = cert, .key_file = key, .trust_file = trust};
}

static void test_key_file_modes(void **state)
{
    static const mode_t refused[] = {0640, 0604, 0644, 0660, 0700 | 0040, 0400 | 0004};
    char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX], err[512], mode[16];
    struct cl_tls_settings settings;
    struct cl_tls *tls = NULL;
    (void)state;

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        write_identity("loose", refused[i], &settings, cert, key, trust);
        err[0] = '\0';
        assert_int_equal(cl_tls_new(CL_TLS_SERVER, &settings, &tls, err, sizeof(err)),
                         CL_ERR_PERMISSION);
        assert_null(tls);
        snprintf(mode, sizeof(mode), "mode %04o", (unsigned)refused[i]);
        print_message("%s\n", err);
        assert_non_null(strstr(err, key));
        assert_non_null(strstr(err, mode));
        assert_non_null(strstr(err, "group or others"));
    }
    for (mode_t ok = 0400; ok <= 0600; ok += 0200) {
        write_identity("private", ok, &settings, cert, key, trust);
        assert_int_equal(cl_tls_new(CL_TLS_SERVER, &settings, &tls, err, sizeof(err)), CL_OK);
        cl_tls_free(tls);
        tls = NULL;
    }
}

/* In memory the key goes to mbedTLS as DER: no PEM text of it is made. */
static void test_key_in_memory_as_der(void **state)
{
    char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX], err[512];
    struct cl_tls_settings settings;
    struct cl_tls *tls = NULL;
    (void)state;

    write_identity("memory", 0600, &settings, cert, key, trust);
    settings.key_file = NULL;
    settings.key_der = issuing.key_der;
    settings.key_der_len = issuing.key_len;
    assert_int_equal(cl_tls_new(CL_TLS_CLIENT, &settings, &tls, err, sizeof(err)), CL_OK);
    cl_tls_free(tls);
    tls = NULL;
    settings.key_der = rsa_device.key_der; /* not the certificate's key */
    settings.key_der_len = rsa_device.key_len;
    assert_int_equal(cl_tls_new(CL_TLS_CLIENT, &settings, &tls, err, sizeof(err)),
                     CL_ERR_TLS_SETUP);
    assert_non_null(strstr(err, "does not match"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_pem),
        cmocka_unit_test(test_key_file_modes),
        cmocka_unit_test(test_key_in_memory_as_der),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
