/* test_token_device.c: device keys born in a private SoftHSM2 token (common/device_key_token.c)
 * and their version 2 packs. The issuing path is linked with the functions that would make or
 * write a private key in this process wrapped (-Wl,--wrap): key generation in software, private
 * key DER/PEM writers, and version 1's GCM sealing; the test fails if any is called while packs
 * are issued, so the clear key provably never exists here. The packs then open in software
 * (RFC 5649 under the pre-write key, as a device does): the PKCS#8 key matches the certificate,
 * both values are the device's; P-256 and RSA-2048; two threads sharing the token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "device_key_token.h"
#include "error.h"
#include "log.h"
#include "p11.h"
#include "pack.h"
#include "softhsm_fixture.h"

/* ---- the functions that must not run while a token issues ---- */

static atomic_int forbidden_calls;
static atomic_int watching;

int __real_cl_x509i_generate_key(enum cl_key_type type, mbedtls_pk_context *key);
int __wrap_cl_x509i_generate_key(enum cl_key_type type, mbedtls_pk_context *key);
int __wrap_cl_x509i_generate_key(enum cl_key_type type, mbedtls_pk_context *key)
{
    if (atomic_load(&watching))
        atomic_fetch_add(&forbidden_calls, 1);
    return __real_cl_x509i_generate_key(type, key);
}

int __real_mbedtls_pk_write_key_der(mbedtls_pk_context *ctx, unsigned char *buf, size_t size);
int __wrap_mbedtls_pk_write_key_der(mbedtls_pk_context *ctx, unsigned char *buf, size_t size);
int __wrap_mbedtls_pk_write_key_der(mbedtls_pk_context *ctx, unsigned char *buf, size_t size)
{
    if (atomic_load(&watching))
        atomic_fetch_add(&forbidden_calls, 1);
    return __real_mbedtls_pk_write_key_der(ctx, buf, size);
}

int __real_mbedtls_pk_write_key_pem(mbedtls_pk_context *ctx, unsigned char *buf, size_t size);
int __wrap_mbedtls_pk_write_key_pem(mbedtls_pk_context *ctx, unsigned char *buf, size_t size);
int __wrap_mbedtls_pk_write_key_pem(mbedtls_pk_context *ctx, unsigned char *buf, size_t size)
{
    if (atomic_load(&watching))
        atomic_fetch_add(&forbidden_calls, 1);
    return __real_mbedtls_pk_write_key_pem(ctx, buf, size);
}

int __real_mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length,
                                     const unsigned char *iv, size_t iv_len,
                                     const unsigned char *add, size_t add_len,
                                     const unsigned char *input, unsigned char *output,
                                     size_t tag_len, unsigned char *tag);
int __wrap_mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length,
                                     const unsigned char *iv, size_t iv_len,
                                     const unsigned char *add, size_t add_len,
                                     const unsigned char *input, unsigned char *output,
                                     size_t tag_len, unsigned char *tag);
int __wrap_mbedtls_gcm_crypt_and_tag(mbedtls_gcm_context *ctx, int mode, size_t length,
                                     const unsigned char *iv, size_t iv_len,
                                     const unsigned char *add, size_t add_len,
                                     const unsigned char *input, unsigned char *output,
                                     size_t tag_len, unsigned char *tag)
{
    if (atomic_load(&watching))
        atomic_fetch_add(&forbidden_calls, 1);
    return __real_mbedtls_gcm_crypt_and_tag(ctx, mode, length, iv, iv_len, add, add_len, input,
                                            output, tag_len, tag);
}

/* ---- fixture: a token, a pre-write key in it, a software CA ---- */

#define ORG "certline test"
static struct cl_test_softhsm hsm;
static struct cl_p11_token *token;
static cl_p11_handle prewrite_handle;
static unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
static struct cl_issued root, issuing;
static struct cl_signer *signer;
static char *chain_pem;

static int setup(void **state)
{
    static const char *const labels[] = {"certline-devices", NULL};
    char uri[1024], err[256], *root_pem = NULL, *issuing_pem = NULL;
    struct cl_p11_uri u;
    (void)state;

    cl_log_set_level(CL_LOG_ERROR);
    for (size_t i = 0; i < sizeof(prewrite); i++)
        prewrite[i] = (unsigned char)(0x5a ^ i);
    if (cl_test_softhsm_make(&hsm, labels) != 0 ||
        cl_p11_uri_parse(cl_test_softhsm_uri(&hsm, "certline-devices", "devices", uri, sizeof(uri)),
                         &u, err, sizeof(err)) != CL_OK ||
        cl_p11_token_open(&u, 3, &token, err, sizeof(err)) != CL_OK ||
        cl_p11_aes_key(token, prewrite, sizeof(prewrite), "prewrite:3012-test", NULL, 0,
                       CL_P11_SESSION_OBJECT, &prewrite_handle, err, sizeof(err)) != CL_OK ||
        cl_issue_ca_pair(ORG, time(NULL) - 60, 3650, 1825, &root, &issuing) != CL_OK ||
        cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, issuing.key_len, ORG,
                      &signer, err, sizeof(err)) != CL_OK ||
        cl_cert_der_to_pem(root.cert_der, root.cert_len, &root_pem) != CL_OK ||
        cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &issuing_pem) != CL_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    chain_pem = malloc(strlen(root_pem) + strlen(issuing_pem) + 1);
    strcpy(chain_pem, issuing_pem);
    strcat(chain_pem, root_pem);
    free(root_pem);
    free(issuing_pem);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_p11_token_close(token);
    cl_signer_free(signer);
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    free(chain_pem);
    cl_test_softhsm_free(&hsm);
    return 0;
}

struct issued_pack {
    char number[32];
    enum cl_key_type type;
    char *pack;
    char server_value[CL_VERIFY_HEX + 1];
    int rc;
};

/* What ca-server's token mode does for one device: key in the token, certificate, pack v2. */
static void issue_one(struct issued_pack *p)
{
    struct cl_token_device d;
    char serial[CL_SERIAL_HEX_MAX + 1], err[256] = "", *cert_pem = NULL;
    struct cl_pack_contents c;

    p->rc = cl_serial_random(serial);
    if (p->rc == CL_OK)
        p->rc = cl_token_device_issue(token, prewrite_handle, signer, p->number, "3012", p->type,
                                      serial, time(NULL) - 60, 365, &d, err, sizeof(err));
    if (p->rc != CL_OK) {
        fprintf(stderr, "issue %s: %s\n", p->number, err);
        return;
    }
    assert_null(d.issued.key_der);
    p->rc = cl_cert_der_to_pem(d.issued.cert_der, d.issued.cert_len, &cert_pem);
    c = (struct cl_pack_contents){.device_number = p->number,
                                  .model_code = "3012",
                                  .serial_hex = d.issued.serial_hex,
                                  .key_type = cl_key_type_name(p->type),
                                  .chain_pem = chain_pem,
                                  .certificate_pem = cert_pem,
                                  .key_id = "3012-test"};
    if (p->rc == CL_OK)
        p->rc = cl_pack_build_wrapped(&c, d.issued.cert_der, d.issued.cert_len, d.wrapped,
                                      d.wrapped_len, d.spki, d.spki_len, d.proof_key, &p->pack,
                                      p->server_value);
    free(cert_pem);
    cl_token_device_free(&d);
}

/* The device's side, in software: unwrap, parse the PKCS#8 key, match, recompute both values. */
static void open_as_device(const struct issued_pack *p)
{
    char err[256], device_value[CL_VERIFY_HEX + 1], server_value[CL_VERIFY_HEX + 1];
    unsigned char *key = NULL;
    size_t key_len = 0;
    struct cl_pack pack;
    mbedtls_x509_crt crt;
    mbedtls_pk_context pk;

    assert_int_equal(cl_pack_parse(p->pack, &pack, err, sizeof(err)), CL_OK);
    assert_int_equal(pack.version, 2);
    assert_null(strstr(p->pack, "PRIVATE KEY"));
    assert_int_equal(cl_pack_open_key(&pack, prewrite, &key, &key_len), CL_OK);
    assert_int_equal(key[0], 0x30); /* PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER 0, ... } */
    mbedtls_x509_crt_init(&crt);
    mbedtls_pk_init(&pk);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pack.certificate_pem,
                                            strlen(pack.certificate_pem) + 1),
                     0);
    assert_int_equal(mbedtls_pk_parse_key(&pk, key, key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_check_pair(&crt.pk, &pk), 0);
    assert_int_equal(cl_pack_device_values(2, pack.device_number, pack.serial_hex, crt.raw.p,
                                           crt.raw.len, key, key_len, prewrite, device_value,
                                           server_value),
                     CL_OK);
    assert_string_equal(device_value, pack.device_value);
    assert_string_equal(server_value, p->server_value);
    mbedtls_pk_free(&pk);
    mbedtls_x509_crt_free(&crt);
    free(key);
    cl_pack_free(&pack);
}

static void *issue_thread(void *arg)
{
    struct issued_pack *list = arg;
    for (size_t i = 0; i < 4; i++)
        issue_one(&list[i]);
    return NULL;
}

static void test_no_clear_key_in_process(void **state)
{
    struct issued_pack packs[2][4];
    pthread_t threads[2];
    (void)state;

    memset(packs, 0, sizeof(packs));
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) {
            snprintf(packs[t][i].number, sizeof(packs[t][i].number), "3012-%06d", t * 10 + i);
            packs[t][i].type = i == 3 ? CL_KEY_RSA2048 : CL_KEY_P256;
        }
    atomic_store(&forbidden_calls, 0);
    atomic_store(&watching, 1);
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&threads[t], NULL, issue_thread, packs[t]), 0);
    for (int t = 0; t < 2; t++)
        pthread_join(threads[t], NULL);
    atomic_store(&watching, 0);
    assert_int_equal(atomic_load(&forbidden_calls), 0);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) {
            assert_int_equal(packs[t][i].rc, CL_OK);
            open_as_device(&packs[t][i]);
            free(packs[t][i].pack);
        }
}

/* The wrap really is watched: software issuance trips it. */
static void test_watch_works(void **state)
{
    struct cl_issued d;
    char serial[CL_SERIAL_HEX_MAX + 1];
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    atomic_store(&forbidden_calls, 0);
    atomic_store(&watching, 1);
    assert_int_equal(cl_issue_device(signer, "3012-000099", "3012", CL_KEY_P256, serial,
                                     time(NULL) - 60, 365, &d),
                     CL_OK);
    atomic_store(&watching, 0);
    assert_true(atomic_load(&forbidden_calls) >= 2); /* generated, and written as DER */
    cl_issued_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_works),
        cmocka_unit_test(test_no_clear_key_in_process),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
