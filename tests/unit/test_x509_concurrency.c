/* test_x509_concurrency.c: random serials are well-formed and unique, a forked child draws other
 * random bytes than its parent, and two threads issue at once through one signer (run under
 * ASan) while the issuance rate is measured and printed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "x509_fixture.h"

static int cmp_serial(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_serial_random(void **state)
{
    enum { N = 1000 };
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = calloc(N, sizeof(*serials));
    (void)state;

    assert_non_null(serials);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cl_serial_random(serials[i]), CL_OK);
        assert_int_equal(strlen(serials[i]), 32);
        assert_true(cl_serial_hex_valid(serials[i]));
        assert_non_null(strchr("01234567", serials[i][0])); /* top bit clear */
        assert_false(serials[i][0] == '0' && serials[i][1] == '0');
    }
    qsort(serials, N, sizeof(*serials), cmp_serial);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(serials[i - 1], serials[i]);
    free(serials);
}

/* After fork() parent and child must not draw the same bytes from the shared generator. */
static void test_rng_fork(void **state)
{
    unsigned char parent[32], child[32];
    int fds[2], status = 0;
    pid_t pid;
    (void)state;

    assert_int_equal(cl_random_bytes(parent, 1), CL_OK); /* the generator exists before fork */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char bytes[32];
        close(fds[0]);
        if (cl_random_bytes(bytes, sizeof(bytes)) != CL_OK ||
            write(fds[1], bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(cl_random_bytes(parent, sizeof(parent)), CL_OK);
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(parent, child, sizeof(parent));
    /* and a large request (over one CTR_DRBG request) works */
    unsigned char *big = malloc(5000);
    assert_non_null(big);
    assert_int_equal(cl_random_bytes(big, 5000), CL_OK);
    free(big);
}

struct worker {
    int first, count;
    struct cl_issued *issued;
    char (*serials)[CL_SERIAL_HEX_MAX + 1];
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char number[32];

    for (int i = 0; i < w->count; i++) {
        int n = w->first + i;
        snprintf(number, sizeof(number), "3012-%06d", n);
        if (cl_serial_random(w->serials[n]) != CL_OK ||
            cl_issue_device(signer, number, MODEL, CL_KEY_P256, w->serials[n], now, 365,
                            &w->issued[n]) != CL_OK ||
            strcmp(w->issued[n].serial_hex, w->serials[n]) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_threads_and_rate(void **state)
{
    enum { ONE = 500, EACH = 300, TOTAL = ONE + 2 * EACH };
    struct cl_issued *issued = calloc(TOTAL, sizeof(*issued));
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = calloc(TOTAL, sizeof(*serials));
    struct worker one = {0, ONE, issued, serials, 0};
    struct worker two[2] = {{ONE, EACH, issued, serials, 0},
                            {ONE + EACH, EACH, issued, serials, 0}};
    pthread_t threads[2];
    struct timespec t0;
    double t;
    (void)state;

    assert_non_null(issued);
    assert_non_null(serials);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    worker_main(&one);
    t = seconds_since(&t0);
    assert_int_equal(one.failures, 0);
    printf("[ RATE     ] P-256 device issuance, 1 thread:  %d in %.3f s = %.0f/s\n", ONE, t,
           ONE / t);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &two[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    t = seconds_since(&t0);
    assert_int_equal(two[0].failures + two[1].failures, 0);
    printf("[ RATE     ] P-256 device issuance, 2 threads: %d in %.3f s = %.0f/s\n", 2 * EACH, t,
           2 * EACH / t);

    /* every certificate from the concurrent run is well-formed, for its device, and chains;
     * every key matches its certificate */
    for (int n = ONE; n < TOTAL; n++) {
        mbedtls_x509_crt crt;
        char cn[32];
        parse_der(&crt, issued[n].cert_der, issued[n].cert_len);
        snprintf(cn, sizeof(cn), "3012-%06d", n);
        assert_int_equal(crt.subject.val.len, strlen(cn));
        assert_memory_equal(crt.subject.val.p, cn, strlen(cn));
        assert_serial(&crt, serials[n], 16);
        assert_key_pair(&issued[n], &crt, MBEDTLS_PK_ECKEY, 256);
        mbedtls_x509_crt_free(&crt);
        assert_chains(&issued[n]);
    }
    /* serials unique over all issuances */
    qsort(serials, TOTAL, sizeof(*serials), cmp_serial);
    for (int n = 1; n < TOTAL; n++)
        assert_string_not_equal(serials[n - 1], serials[n]);
    for (int n = 0; n < TOTAL; n++)
        cl_issued_free(&issued[n]);
    free(issued);
    free(serials);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_random),
        cmocka_unit_test(test_rng_fork),
        cmocka_unit_test(test_threads_and_rate),
    };
    return cmocka_run_group_tests(tests, x509_group_setup, x509_group_teardown);
}
