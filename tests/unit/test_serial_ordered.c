/* test_serial_ordered.c: time-ordered serials (issue 18) are positive 16-octet upper-case hex,
 * their time part grows strictly from call to call in a process, their last 64 bits come from the
 * CSPRNG, and they are unique within a process and across two processes at the same time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "input_check.h"
#include "x509_issue_internal.h"

enum { N = 20000, HEX = 2 * SERIAL_RANDOM_OCTETS, TIME_HEX = 2 * SERIAL_ORDERED_TIME_OCTETS };

static int cmp_serial(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static uint64_t time_part(const char *hex)
{
    char lead[TIME_HEX + 1];
    memcpy(lead, hex, TIME_HEX);
    lead[TIME_HEX] = '\0';
    return strtoull(lead, NULL, 16);
}

static void test_serial_ordered_form(void **state)
{
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = calloc(N, sizeof(*serials));
    struct timespec before, after;
    (void)state;

    assert_non_null(serials);
    assert_int_equal(cl_serial_ordered(NULL), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &before), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cl_serial_ordered(serials[i]), CL_OK);
        assert_int_equal(strlen(serials[i]), HEX); /* as long as a random serial */
        assert_true(cl_serial_ok(serials[i]));
        /* positive and minimally encoded: the DER INTEGER is exactly 16 octets */
        assert_memory_equal(serials[i], "40", 2);
        if (i > 0) {
            /* the time part grows strictly, so the whole serial sorts after the last one */
            assert_true(time_part(serials[i]) > time_part(serials[i - 1]));
            assert_true(strcmp(serials[i], serials[i - 1]) > 0);
            /* the 64 random bits differ from the last call's */
            assert_memory_not_equal(serials[i] + TIME_HEX, serials[i - 1] + TIME_HEX,
                                    HEX - TIME_HEX);
        }
    }
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &after), 0);
    /* the time part is the clock in microseconds (0x40 above 56 bits); N calls at most 1 us each
     * beyond the clock when the clock stood */
    uint64_t lo = (uint64_t)before.tv_sec * 1000000u + (uint64_t)before.tv_nsec / 1000u;
    uint64_t hi = (uint64_t)after.tv_sec * 1000000u + (uint64_t)after.tv_nsec / 1000u;
    assert_true((time_part(serials[0]) & 0xffffffffffffffu) >= lo);
    assert_true((time_part(serials[N - 1]) & 0xffffffffffffffu) <= hi + N);
    qsort(serials, N, sizeof(*serials), cmp_serial);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(serials[i - 1], serials[i]);
    free(serials);
}

/* A clock that stands still or steps back gives the last time plus one: never a repeat. */
static void test_serial_ordered_clock_back(void **state)
{
    unsigned char a[SERIAL_RANDOM_OCTETS], b[SERIAL_RANDOM_OCTETS], c[SERIAL_RANDOM_OCTETS];
    char ha[HEX + 1], hb[HEX + 1], hc[HEX + 1];
    const uint64_t future = (uint64_t)1 << 55; /* after any clock in this test run */
    (void)state;

    assert_int_equal(cl_x509i_ordered_serial(a, future), CL_OK);
    assert_int_equal(cl_x509i_ordered_serial(b, future), CL_OK);
    assert_int_equal(cl_x509i_ordered_serial(c, future - 1000000), CL_OK);
    cl_x509i_to_hex_upper(a, sizeof(a), ha);
    cl_x509i_to_hex_upper(b, sizeof(b), hb);
    cl_x509i_to_hex_upper(c, sizeof(c), hc);
    assert_true(time_part(ha) == (0x40ull << 56 | future));
    assert_true(time_part(hb) == time_part(ha) + 1);
    assert_true(time_part(hc) == time_part(hb) + 1);
}

/* Two processes drawing at the very same microseconds (the same clock given to both, from the
 * same last time inherited at fork) get the same time parts and still no serial in common. */
static void test_serial_ordered_two_processes(void **state)
{
    enum { M = 2000 };
    const uint64_t at = ((uint64_t)1 << 55) + 10000000;
    char(*all)[CL_SERIAL_HEX_MAX + 1] = calloc(2 * M, sizeof(*all));
    int fds[2][2];
    pid_t pid[2];
    (void)state;

    assert_non_null(all);
    for (int p = 0; p < 2; p++) {
        assert_int_equal(pipe(fds[p]), 0);
        pid[p] = fork();
        assert_true(pid[p] >= 0);
        if (pid[p] == 0) {
            close(fds[p][0]);
            for (int i = 0; i < M; i++) {
                unsigned char serial[SERIAL_RANDOM_OCTETS];
                char hex[CL_SERIAL_HEX_MAX + 1] = {0};
                if (cl_x509i_ordered_serial(serial, at + (uint64_t)(i / 10)) != CL_OK)
                    _exit(1);
                cl_x509i_to_hex_upper(serial, sizeof(serial), hex);
                if (write(fds[p][1], hex, sizeof(hex)) != (ssize_t)sizeof(hex))
                    _exit(1);
            }
            _exit(0);
        }
        close(fds[p][1]);
    }
    for (int p = 0; p < 2; p++) {
        int status = 0;
        for (int i = 0; i < M; i++) {
            size_t got = 0;
            while (got < sizeof(all[0])) {
                ssize_t n = read(fds[p][0], (char *)all[p * M + i] + got, sizeof(all[0]) - got);
                assert_true(n > 0);
                got += (size_t)n;
            }
        }
        close(fds[p][0]);
        assert_int_equal(waitpid(pid[p], &status, 0), pid[p]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int i = 0; i < M; i++) /* the same time parts in both processes */
        assert_memory_equal(all[i], all[M + i], TIME_HEX);
    qsort(all, 2 * M, sizeof(*all), cmp_serial);
    for (int i = 1; i < 2 * M; i++)
        assert_string_not_equal(all[i - 1], all[i]);
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_ordered_form),
        cmocka_unit_test(test_serial_ordered_clock_back),
        cmocka_unit_test(test_serial_ordered_two_processes),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
