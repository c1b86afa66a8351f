/* test_p11_processes.c: processes sharing one SoftHSM2 token, as two ca-server instances share
 * their issuing key's token: opened by many processes at once, every one finds its key and signs
 * (SoftHSM2's file store writes the token object on every login and shows a token that is being
 * written as missing, or fails the call: the open tries again); what is really wrong is not tried
 * again (a wrong PIN) or tried a bounded number of times (a token or key that is not there).
 * nanosleep is wrapped to count the waits between attempts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>

#include "error.h"
#include "p11.h"
#include "softhsm_fixture.h"
#include "test_util.h"

#define PROCESSES 8
#define ROUNDS 12

static struct cl_test_softhsm hsm;
static int waits;

int __real_nanosleep(const struct timespec *req, struct timespec *rem);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem);
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
    waits++;
    return __real_nanosleep(req, rem);
}

static int setup(void **state)
{
    static const char *const labels[] = {"shared-issuing", NULL};
    struct cl_p11_uri u;
    struct cl_p11_token *t = NULL;
    cl_p11_handle pub, priv;
    char uri[1024], err[256];
    (void)state;

    if (cl_test_softhsm_make(&hsm, labels) != 0)
        return -1;
    cl_test_softhsm_uri(&hsm, "shared-issuing", NULL, uri, sizeof(uri));
    if (cl_p11_uri_parse(uri, &u, err, sizeof(err)) != CL_OK ||
        cl_p11_token_open(&u, 1, &t, err, sizeof(err)) != CL_OK ||
        cl_p11_generate_pair(t, CL_P11_EC_P256, "issuing-ca", NULL, 0, 0, &pub, &priv, err,
                             sizeof(err)) != CL_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    cl_p11_token_close(t); /* the module goes with it: the children load their own */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_test_softhsm_free(&hsm);
    return 0;
}

/* One process's work: open the token (a login: a write of the token object), find the key,
 * sign a digest and check the signature with the public half. Its exit status: 0 done, 1 the
 * open failed, 2 the signature. The waits it took are written to fd. */
static int child(int fd)
{
    struct cl_p11_token *t = NULL;
    mbedtls_pk_context key, pub;
    cl_p11_handle pubh = 0;
    unsigned char hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len = 0;
    char uri[1024], err[256];
    int rc, failed = 0;

    memset(hash, 0x5a, sizeof(hash));
    mbedtls_pk_init(&key);
    mbedtls_pk_init(&pub);
    cl_test_softhsm_uri(&hsm, "shared-issuing", "issuing-ca", uri, sizeof(uri));
    rc = cl_p11_open_signing_key(uri, 1, NULL, 0, &t, &key, err, sizeof(err));
    if (rc != CL_OK) {
        fprintf(stderr, "process %d: %s\n", (int)getpid(), err);
        failed = 1;
    } else if (mbedtls_pk_sign(&key, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, &sig_len, NULL,
                               NULL) != 0 ||
               cl_p11_find(t, CL_P11_PUBLIC, "issuing-ca", NULL, 0, &pubh, err, sizeof(err)) !=
                   CL_OK ||
               cl_p11_public_key(t, pubh, &pub, err, sizeof(err)) != CL_OK ||
               mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len) != 0) {
        fprintf(stderr, "process %d: the signature failed\n", (int)getpid());
        failed = 2;
    }
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
    cl_p11_token_close(t);
    if (write(fd, &waits, sizeof(waits)) != (ssize_t)sizeof(waits))
        failed = failed != 0 ? failed : 3;
    return failed;
}

static void test_processes_open_at_once(void **state)
{
    int round, i, status, failed = 0, retried = 0, w;
    int fds[2];
    pid_t pids[PROCESSES];
    (void)state;

    assert_int_equal(pipe(fds), 0);
    for (round = 0; round < ROUNDS; round++) {
        for (i = 0; i < PROCESSES; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                close(fds[0]);
                _exit(child(fds[1]));
            }
        }
        for (i = 0; i < PROCESSES; i++) {
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                failed++;
            if (read(fds[0], &w, sizeof(w)) == (ssize_t)sizeof(w))
                retried += w;
        }
    }
    close(fds[0]);
    close(fds[1]);
    printf("%d processes x %d rounds opened the shared token; %d waits before trying again\n",
           PROCESSES, ROUNDS, retried);
    assert_int_equal(failed, 0);
}

/* A wrong PIN fails at once: a real token counts wrong PINs and locks. */
static void test_wrong_pin_not_tried_again(void **state)
{
    struct cl_p11_uri u;
    struct cl_p11_token *t = NULL;
    char uri[1024], err[256];
    (void)state;

    assert_non_null(
        cl_test_softhsm_wrong_pin_uri(&hsm, "shared-issuing", "not-the-pin\n", uri, sizeof(uri)));
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    waits = 0;
    assert_int_equal(cl_p11_token_open(&u, 1, &t, err, sizeof(err)), CL_ERR_PERMISSION);
    assert_non_null(strstr(err, "CKR_PIN_INCORRECT"));
    assert_null(t);
    assert_int_equal(waits, 0);
}

/* A token or a key that is not there is tried CL_P11_OPEN_ATTEMPTS times, then reported. */
static void test_missing_tried_a_bounded_number_of_times(void **state)
{
    struct cl_p11_uri u;
    struct cl_p11_token *t = NULL;
    mbedtls_pk_context key;
    char uri[1024], err[256];
    (void)state;

    cl_test_softhsm_uri(&hsm, "no-such-token", NULL, uri, sizeof(uri));
    assert_int_equal(cl_p11_uri_parse(uri, &u, err, sizeof(err)), CL_OK);
    waits = 0;
    assert_int_equal(cl_p11_token_open(&u, 1, &t, err, sizeof(err)), CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "no PKCS#11 token labelled \"no-such-token\""));
    assert_int_equal(waits, CL_P11_OPEN_ATTEMPTS - 1);

    mbedtls_pk_init(&key);
    cl_test_softhsm_uri(&hsm, "shared-issuing", "no-such-key", uri, sizeof(uri));
    waits = 0;
    assert_int_equal(cl_p11_open_signing_key(uri, 1, NULL, 0, &t, &key, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "no-such-key"));
    assert_null(t);
    assert_int_equal(waits, CL_P11_OPEN_ATTEMPTS - 1);

    /* the key is still found after all that: nothing was left open */
    cl_test_softhsm_uri(&hsm, "shared-issuing", "issuing-ca", uri, sizeof(uri));
    waits = 0;
    assert_int_equal(cl_p11_open_signing_key(uri, 1, NULL, 0, &t, &key, err, sizeof(err)), CL_OK);
    assert_int_equal(waits, 0);
    mbedtls_pk_free(&key);
    cl_p11_token_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_processes_open_at_once),
        cmocka_unit_test(test_wrong_pin_not_tried_again),
        cmocka_unit_test(test_missing_tried_a_bounded_number_of_times),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
