/* test_p11.c: the PKCS#11 token layer against a private SoftHSM2 token: URIs and their refusals,
 * the PIN file, login, key generation, signing through an mbedTLS key, wrapping, and 2 and 4
 * threads signing at once on one token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "error.h"
#include "p11.h"
#include "softhsm_fixture.h"
#include "test_util.h"

static struct cl_test_softhsm hsm;

static int setup(void **state)
{
    static const char *const labels[] = {"certline-issuing", "certline-root", NULL};
    (void)state;
    return cl_test_softhsm_make(&hsm, labels);
}

static int teardown(void **state)
{
    (void)state;
    cl_test_softhsm_free(&hsm);
    return 0;
}

static void test_uri_parse(void **state)
{
    struct cl_p11_uri u;
    char err[256];
    (void)state;

    assert_int_equal(cl_p11_uri_parse("pkcs11:token=My%20CA;object=issuing;type=private;"
                                      "id=%01%ff?module-path=/usr/lib/m.so&pin-source=file:/p/pin",
                                      &u, err, sizeof(err)),
                     CL_OK);
    assert_string_equal(u.token, "My CA");
    assert_string_equal(u.object, "issuing");
    assert_int_equal(u.type, CL_P11_PRIVATE);
    assert_int_equal(u.id_len, 2);
    assert_int_equal(u.id[0], 0x01);
    assert_int_equal(u.id[1], 0xff);
    assert_string_equal(u.module_path, "/usr/lib/m.so");
    assert_string_equal(u.pin_source, "/p/pin");
    /* query attributes among the path attributes, file:/// and a bare path */
    assert_int_equal(cl_p11_uri_parse("pkcs11:token=t;module-path=/m.so;pin-source=file:///x", &u,
                                      err, sizeof(err)),
                     CL_OK);
    assert_string_equal(u.pin_source, "/x");
    assert_int_equal(u.type, CL_P11_ANY);
    assert_int_equal(
        cl_p11_uri_parse("pkcs11:?module-path=/m.so&pin-source=/x", &u, err, sizeof(err)),
        CL_ERR_INVALID_ARGUMENT); /* no token */
}

static void test_uri_refusals(void **state)
{
    static const char *const bad[] = {
        "pkcs12:token=t?module-path=/m.so",
        "token=t?module-path=/m.so",
        "pkcs11:token=t",                                      /* no module */
        "pkcs11:object=o?module-path=/m.so",                   /* no token */
        "pkcs11:token=t;token=u?module-path=/m.so",            /* twice */
        "pkcs11:token=t;colour=red?module-path=/m.so",         /* unknown */
        "pkcs11:token=t;object=?module-path=/m.so",            /* empty */
        "pkcs11:token=t;object=a%2?module-path=/m.so",         /* short escape */
        "pkcs11:token=t;object=a%zz?module-path=/m.so",        /* bad escape */
        "pkcs11:token=t;object=a%00b?module-path=/m.so",       /* NUL */
        "pkcs11:token=t;type=key?module-path=/m.so",           /* unknown type */
        "pkcs11:token=t?module-path=m.so",                     /* relative module */
        "pkcs11:token=t?module-path=/m.so&pin-source=pin.txt", /* relative pin file */
        "pkcs11:token=t?module-path=/m.so&pin-source=https://x/pin",
        "pkcs11:token=t?module-path=/m.so&pin-value=1234",
        "pkcs11:token=t?module-name=softhsm2",
        "pkcs11:token=t;object?module-path=/m.so", /* no = */
        "pkcs11:token=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "?module-path=/m.so", /* 65 characters */
        NULL};
    struct cl_p11_uri u;
    char err[256];
    size_t i;
    (void)state;

    for (i = 0; bad[i] != NULL; i++) {
        err[0] = '\0';
        assert_int_equal(cl_p11_uri_parse(bad[i], &u, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
        assert_true(strlen(err) > 0);
        assert_null(strstr(err, "1234")); /* a pin-value never reaches a message */
        assert_string_equal(u.token, "");
    }
}

static void test_pin_file(void **state)
{
    char path[320], pin[64], err[256];
    size_t len = 0;
    (void)state;

    cl_test_path(path, sizeof(path), hsm.dir, "pin-open");
    cl_test_write_file(path, "secret-9876\n");
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(cl_p11_pin_read(path, pin, sizeof(pin), &len, err, sizeof(err)),
                     CL_ERR_PERMISSION);
    assert_null(strstr(err, "secret-9876"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(cl_p11_pin_read(path, pin, sizeof(pin), &len, err, sizeof(err)), CL_OK);
    assert_string_equal(pin, "secret-9876");
    assert_int_equal(len, 11);
    cl_test_write_file(path, "");
    assert_int_equal(cl_p11_pin_read(path, pin, sizeof(pin), &len, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
}

static struct cl_p11_token *open_token(const char *label, int sessions)
{
    struct cl_p11_uri u;
    struct cl_p11_token *t = NULL;
    char uri[1024], err[256];

    cl_test_softhsm_uri(&hsm, label, NULL, uri, sizeof(uri));
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    if (cl_p11_token_open(&u, sessions, &t, err, sizeof(err)) != CL_OK)
        fail_msg("%s", err);
    return t;
}

static void test_login_refusals(void **state)
{
    struct cl_p11_uri u;
    struct cl_p11_token *t = NULL;
    char uri[1024], err[256];
    (void)state;

    assert_non_null(cl_test_softhsm_wrong_pin_uri(&hsm, "certline-issuing", "wrong-pin-5555", uri,
                                                  sizeof(uri)));
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_p11_token_open(&u, 1, &t, err, sizeof(err)), CL_ERR_PERMISSION);
    assert_null(t);
    assert_non_null(strstr(err, "CKR_PIN_INCORRECT"));
    assert_null(strstr(err, "wrong-pin-5555"));
    snprintf(uri, sizeof(uri), "pkcs11:token=no-such-token?module-path=%s&pin-source=%s",
             hsm.module, hsm.pin_file);
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_p11_token_open(&u, 1, &t, err, sizeof(err)), CL_ERR_NOT_FOUND);
    snprintf(uri, sizeof(uri), "pkcs11:token=certline-issuing?module-path=%s", hsm.module);
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_p11_token_open(&u, 1, &t, err, sizeof(err)), CL_ERR_CONFIG);
    snprintf(uri, sizeof(uri), "pkcs11:token=t?module-path=%s/none.so", hsm.dir);
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_p11_token_open(&u, 1, &t, err, sizeof(err)), CL_ERR_NOT_FOUND);
}

static void sign_and_verify(mbedtls_pk_context *key, const mbedtls_pk_context *pub, int n)
{
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len;
    int i;

    for (i = 0; i < n; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "message %d", i);
        assert_int_equal(mbedtls_sha256_ret((const unsigned char *)msg, strlen(msg), hash, 0), 0);
        assert_int_equal(
            mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &len, NULL, NULL), 0);
        assert_int_equal(mbedtls_pk_verify((mbedtls_pk_context *)(uintptr_t)pub, MBEDTLS_MD_SHA256,
                                           hash, sizeof(hash), sig, len),
                         0);
    }
}

static void test_keys_sign(void **state)
{
    struct cl_p11_token *t = open_token("certline-issuing", 1);
    cl_p11_handle pub, priv, found;
    mbedtls_pk_context pk, key;
    char err[256];
    static const unsigned char id[] = {0x42};
    (void)state;

    mbedtls_pk_init(&pk);
    mbedtls_pk_init(&key);
    assert_int_equal(cl_p11_generate_pair(t, CL_P11_EC_P256, "ec-ca", id, sizeof(id), 0, &pub,
                                          &priv, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_p11_find(t, CL_P11_PRIVATE, "ec-ca", NULL, 0, &found, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(found, priv);
    assert_int_equal(cl_p11_find(t, CL_P11_PUBLIC, NULL, id, sizeof(id), &found, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(found, pub);
    assert_int_equal(cl_p11_find(t, CL_P11_PRIVATE, "nothing", NULL, 0, &found, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_int_equal(cl_p11_public_key(t, pub, &pk, err, sizeof(err)), CL_OK);
    assert_true(mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECKEY));
    assert_int_equal(cl_p11_pk_setup(&key, t, priv, &pk, err, sizeof(err)), CL_OK);
    assert_true(mbedtls_pk_can_do(&key, MBEDTLS_PK_ECDSA));
    assert_false(mbedtls_pk_can_do(&key, MBEDTLS_PK_RSA));
    assert_int_equal(mbedtls_pk_get_bitlen(&key), 256);
    sign_and_verify(&key, &pk, 5);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pk);

    /* RSA, PKCS#1 v1.5 over the DigestInfo */
    mbedtls_pk_init(&pk);
    mbedtls_pk_init(&key);
    assert_int_equal(cl_p11_generate_pair(t, CL_P11_RSA2048, "rsa-ca", NULL, 0,
                                          CL_P11_SESSION_OBJECT, &pub, &priv, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_p11_public_key(t, pub, &pk, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_p11_pk_setup(&key, t, priv, &pk, err, sizeof(err)), CL_OK);
    assert_true(mbedtls_pk_can_do(&key, MBEDTLS_PK_RSA));
    assert_int_equal(mbedtls_pk_get_bitlen(&key), 2048);
    sign_and_verify(&key, &pk, 2);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pk);
    cl_p11_token_close(t);
}

static void test_wrap(void **state)
{
    struct cl_p11_token *t = open_token("certline-issuing", 2);
    cl_p11_handle aes, aes2, inner, back, pub, priv, ca_pub, ca_priv;
    unsigned char wrapped[2048], value[32];
    size_t len = 0;
    char err[256];
    (void)state;

    assert_int_equal(
        cl_p11_aes_key(t, NULL, 0, "prewrite-3012", NULL, 0, 0, &aes, err, sizeof(err)), CL_OK);
    memset(value, 0x5a, sizeof(value));
    assert_int_equal(cl_p11_aes_key(t, value, sizeof(value), "imported", NULL, 0,
                                    CL_P11_WRAPPABLE | CL_P11_SESSION_OBJECT, &aes2, err,
                                    sizeof(err)),
                     CL_OK);
    /* a device key, born in the token, leaves it only wrapped */
    assert_int_equal(cl_p11_generate_pair(t, CL_P11_EC_P256, "device", NULL, 0,
                                          CL_P11_WRAPPABLE | CL_P11_SESSION_OBJECT, &pub, &priv,
                                          err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_p11_wrap(t, aes, priv, wrapped, sizeof(wrapped), &len, err, sizeof(err)),
                     CL_OK);
    assert_true(len > 60 && len % 8 == 0);
    assert_int_equal(cl_p11_wrap(t, aes, priv, wrapped, 16, &len, err, sizeof(err)),
                     CL_ERR_TOO_LARGE);
    /* a CA key does not leave it, not even wrapped */
    assert_int_equal(cl_p11_generate_pair(t, CL_P11_EC_P256, "ca", NULL, 0, CL_P11_SESSION_OBJECT,
                                          &ca_pub, &ca_priv, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_p11_wrap(t, aes, ca_priv, wrapped, sizeof(wrapped), &len, err, sizeof(err)),
                     CL_ERR_PERMISSION);
    assert_non_null(strstr(err, "CKR_KEY_UNEXTRACTABLE"));
    /* a secret key wrapped and unwrapped */
    assert_int_equal(cl_p11_wrap(t, aes, aes2, wrapped, sizeof(wrapped), &len, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(len, 40);
    assert_int_equal(cl_p11_unwrap_aes(t, aes, wrapped, len, "unwrapped", CL_P11_SESSION_OBJECT,
                                       &inner, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_p11_wrap(t, aes, inner, wrapped, sizeof(wrapped), &len, err, sizeof(err)),
                     CL_ERR_PERMISSION);
    wrapped[3] ^= 1;
    assert_int_not_equal(cl_p11_unwrap_aes(t, aes, wrapped, 40, "bad", CL_P11_SESSION_OBJECT, &back,
                                           err, sizeof(err)),
                         CL_OK);
    assert_int_equal(cl_p11_destroy(t, aes, err, sizeof(err)), CL_OK);
    assert_int_equal(
        cl_p11_find(t, CL_P11_SECRET, "prewrite-3012", NULL, 0, &back, err, sizeof(err)),
        CL_ERR_NOT_FOUND);
    cl_p11_token_close(t);
}

struct worker {
    mbedtls_pk_context *key, *pub;
};

static void *sign_many(void *arg)
{
    struct worker *w = arg;
    unsigned char hash[32] = {1, 2, 3}, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len;
    int i, bad = 0;

    for (i = 0; i < 60; i++) {
        hash[31] = (unsigned char)i;
        if (mbedtls_pk_sign(w->key, MBEDTLS_MD_SHA256, hash, 32, sig, &len, NULL, NULL) != 0 ||
            mbedtls_pk_verify(w->pub, MBEDTLS_MD_SHA256, hash, 32, sig, len) != 0)
            bad++;
    }
    return bad != 0 ? (void *)1 : NULL;
}

/* Threads share one token: with as many sessions as threads, and with fewer (they wait). */
static void concurrent(int threads, int sessions)
{
    struct cl_p11_token *t = open_token("certline-root", sessions);
    mbedtls_pk_context pk, key;
    cl_p11_handle pub, priv;
    pthread_t th[4];
    struct worker w;
    void *res;
    char err[256];
    int i;

    mbedtls_pk_init(&pk);
    mbedtls_pk_init(&key);
    assert_int_equal(cl_p11_token_sessions(t), sessions);
    assert_int_equal(cl_p11_generate_pair(t, CL_P11_EC_P256, "shared", NULL, 0,
                                          CL_P11_SESSION_OBJECT, &pub, &priv, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(cl_p11_public_key(t, pub, &pk, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_p11_pk_setup(&key, t, priv, &pk, err, sizeof(err)), CL_OK);
    w.key = &key;
    w.pub = &pk;
    for (i = 0; i < threads; i++)
        assert_int_equal(pthread_create(&th[i], NULL, sign_many, &w), 0);
    for (i = 0; i < threads; i++) {
        assert_int_equal(pthread_join(th[i], &res), 0);
        assert_null(res);
    }
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pk);
    cl_p11_token_close(t);
}

static void test_two_workers(void **state)
{
    (void)state;
    concurrent(2, 2);
}

static void test_four_workers(void **state)
{
    (void)state;
    concurrent(4, 4);
    concurrent(4, 2);
}

/* Two tokens of one module open at once (the root and the issuing token); closing one leaves the
 * other working, and the module is initialised once. */
static void test_two_tokens(void **state)
{
    struct cl_p11_token *a = open_token("certline-issuing", 1), *b = open_token("certline-root", 1);
    struct cl_p11_token *a2 = open_token("certline-issuing", 1); /* already logged in: fine */
    cl_p11_handle pub, priv;
    char err[256];
    (void)state;

    cl_p11_token_close(a);
    assert_int_equal(cl_p11_generate_pair(b, CL_P11_EC_P256, "still", NULL, 0,
                                          CL_P11_SESSION_OBJECT, &pub, &priv, err, sizeof(err)),
                     CL_OK);
    cl_p11_token_close(b);
    assert_int_equal(cl_p11_find(a2, CL_P11_PRIVATE, "ec-ca", NULL, 0, &priv, err, sizeof(err)),
                     CL_OK);
    cl_p11_token_close(a2);
}

static void test_open_signing_key(void **state)
{
    struct cl_p11_token *t = NULL;
    mbedtls_pk_context key;
    char uri[1024], err[256];
    (void)state;

    mbedtls_pk_init(&key);
    cl_test_softhsm_uri(&hsm, "certline-issuing", "ec-ca", uri, sizeof(uri));
    assert_int_equal(cl_p11_open_signing_key(uri, 2, NULL, 0, &t, &key, err, sizeof(err)), CL_OK);
    assert_true(mbedtls_pk_can_do(&key, MBEDTLS_PK_ECDSA));
    mbedtls_pk_free(&key);
    cl_p11_token_close(t);
    cl_test_softhsm_uri(&hsm, "certline-issuing", "missing", uri, sizeof(uri));
    assert_int_equal(cl_p11_open_signing_key(uri, 2, NULL, 0, &t, &key, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_null(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_parse),   cmocka_unit_test(test_uri_refusals),
        cmocka_unit_test(test_pin_file),    cmocka_unit_test(test_login_refusals),
        cmocka_unit_test(test_keys_sign),   cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_two_workers), cmocka_unit_test(test_four_workers),
        cmocka_unit_test(test_two_tokens),  cmocka_unit_test(test_open_signing_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
