/* test_pool.c: the pool of database connections and the console's share of it (common/pool.c):
 * the share holds at most its limit and gives up after its short wait (never blocking), the
 * rest stays for production, production waiting comes first, the share works again once given
 * back, and a share request waiting is woken for what production leaves (two connections
 * given back while production waits: one for it, the other for the share at once); and the share a
 * console section asks for (common/console_config.c), with the configurations refused that would
 * leave production nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console_config.h"
#include "error.h"
#include "pool.h"

/* Resources are small numbered cells; closing one frees it. */
static int open_cell(const void *arg, void **resource, char *err, size_t errlen)
{
    static atomic_int next;
    int *cell = malloc(sizeof(*cell));
    (void)arg;
    (void)err;
    (void)errlen;
    if (cell == NULL)
        return CL_ERR_NOMEM;
    *cell = atomic_fetch_add(&next, 1);
    *resource = cell;
    return CL_OK;
}

static void close_cell(void *resource)
{
    free(resource);
}

static struct cl_pool *pool_of(size_t count, size_t share)
{
    struct cl_pool *pool = NULL;
    char err[128];
    assert_int_equal(cl_pool_new(count, open_cell, close_cell, NULL, &pool, err, sizeof(err)),
                     CL_OK);
    cl_pool_set_share(pool, share);
    return pool;
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A share of 2 of 4: a third request of the share gives up after its wait, not before and not
 * much later; production still takes the other 2 at once; once one is given back the share
 * takes it again. */
static void test_share_bounded(void **state)
{
    struct cl_pool *pool = pool_of(4, 2);
    struct timespec t0;
    (void)state;

    void *a = cl_pool_acquire_share(pool, 200);
    void *b = cl_pool_acquire_share(pool, 200);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(cl_pool_acquire_share(pool, 300));
    long waited = ms_since(&t0);
    assert_true(waited >= 280 && waited < 2000);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    void *p = cl_pool_acquire(pool);
    void *q = cl_pool_acquire(pool);
    assert_true(ms_since(&t0) < 200); /* production did not wait behind the share */
    assert_non_null(p);
    assert_non_null(q);

    /* The pool is all in use: the share's limit is not the only bound. */
    cl_pool_release_share(pool, a);
    cl_pool_release(pool, p);
    void *c = cl_pool_acquire_share(pool, 200);
    assert_non_null(c);
    cl_pool_release_share(pool, b);
    cl_pool_release_share(pool, c);
    cl_pool_release(pool, q);
    cl_pool_free(pool);
}

/* No share set (0): the console gets nothing, production everything. */
static void test_no_share(void **state)
{
    struct cl_pool *pool = pool_of(2, 0);
    (void)state;
    assert_null(cl_pool_acquire_share(pool, 50));
    void *p = cl_pool_acquire(pool);
    void *q = cl_pool_acquire(pool);
    assert_non_null(p);
    assert_non_null(q);
    cl_pool_release(pool, p);
    cl_pool_release(pool, q);
    cl_pool_free(pool);
}

struct waiter {
    struct cl_pool *pool;
    void *got;
    atomic_int done;
};

static void *production_waits(void *arg)
{
    struct waiter *w = arg;
    w->got = cl_pool_acquire(w->pool);
    atomic_store(&w->done, 1);
    return NULL;
}

struct asker {
    struct cl_pool *pool;
    void *got;
};

static void *share_asks(void *arg)
{
    struct asker *a = arg;
    a->got = cl_pool_acquire_share(a->pool, 1500);
    return NULL;
}

/* Production waiting for a connection comes first: the share neither takes the one given back
 * nor one free while production waits; a share request that waited through it gets the next. */
static void test_production_first(void **state)
{
    struct cl_pool *pool = pool_of(2, 1);
    struct waiter w = {.pool = pool};
    struct asker a = {.pool = pool};
    pthread_t wt, at;
    (void)state;

    void *p = cl_pool_acquire(pool);
    void *q = cl_pool_acquire(pool);
    assert_int_equal(pthread_create(&wt, NULL, production_waits, &w), 0);
    usleep(100000); /* production waits now */
    assert_int_equal(atomic_load(&w.done), 0);
    assert_int_equal(pthread_create(&at, NULL, share_asks, &a), 0);
    usleep(100000); /* and the share asks too */
    cl_pool_release(pool, p);
    pthread_join(wt, NULL);
    assert_ptr_equal(w.got, p); /* production got it, not the share */
    cl_pool_release(pool, q);   /* nobody of production waits: the share's */
    pthread_join(at, NULL);
    assert_ptr_equal(a.got, q);
    cl_pool_release_share(pool, a.got);
    cl_pool_release(pool, w.got);
    cl_pool_free(pool);
}

static int share_of(long long port, long long asked, long long pool_size, size_t *share, char *err,
                    size_t errlen)
{
    struct cs_console_config cc;
    memset(&cc, 0, sizeof(cc));
    cc.port = port;
    cc.db_connections = asked;
    return cs_console_db_share(&cc, pool_size, share, err, errlen);
}

/* console.db_connections: a quarter of the pool (at least 1) by default, what is asked when it
 * leaves production at least one, refused with a reason otherwise; no console, no share. */
static void test_console_share_config(void **state)
{
    size_t share = 99;
    char err[256] = "";
    (void)state;

    assert_int_equal(share_of(8443, 0, 8, &share, err, sizeof(err)), CL_OK);
    assert_int_equal(share, 2);
    assert_int_equal(share_of(8443, 0, 3, &share, err, sizeof(err)), CL_OK);
    assert_int_equal(share, 1);
    assert_int_equal(share_of(8443, 0, 2, &share, err, sizeof(err)), CL_OK);
    assert_int_equal(share, 1);
    assert_int_equal(share_of(8443, 7, 8, &share, err, sizeof(err)), CL_OK);
    assert_int_equal(share, 7);
    assert_int_equal(share_of(0, 5, 8, &share, err, sizeof(err)), CL_OK);
    assert_int_equal(share, 0);

    assert_int_equal(share_of(8443, 8, 8, &share, err, sizeof(err)), CL_ERR_CONFIG);
    assert_non_null(strstr(err, "console.db_connections 8 must be less than db_connections 8"));
    assert_int_equal(share_of(8443, 20, 8, &share, err, sizeof(err)), CL_ERR_CONFIG);
    assert_non_null(strstr(err, "console.db_connections 20"));
    err[0] = '\0';
    assert_int_equal(share_of(8443, 0, 1, &share, err, sizeof(err)), CL_ERR_CONFIG);
    assert_non_null(strstr(err, "db_connections 1 leaves no database connection for the console"));
}

/* Polls until *flag is set or ms have passed: 1 if set. */
static int wait_for_flag(const atomic_int *flag, long ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!atomic_load(flag) && ms_since(&t0) < ms)
        usleep(1000);
    return atomic_load(flag);
}

/* Polls the pool until the waiters counted are production and share: 1, or 0 after 5 s. */
static int wait_for_waiters(struct cl_pool *pool, size_t production, size_t share)
{
    struct cl_pool_state st;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        cl_pool_state(pool, &st);
        if (st.waiting == production && st.share_waiting == share)
            return 1;
        usleep(1000);
    } while (ms_since(&t0) < 5000);
    return 0;
}

/* A production waiter held in a signal handler (SIGUSR1) while it waits, so that the test gives
 * back connections before it can take one: the interleaving of two returns arriving before the
 * woken production thread runs, made certain. */
static atomic_int production_held, production_let_go;

static void hold_production(int sig)
{
    const struct timespec ms = {0, 1000000L};
    (void)sig;
    atomic_store(&production_held, 1);
    while (!atomic_load(&production_let_go))
        nanosleep(&ms, NULL);
}

struct late_asker {
    struct cl_pool *pool;
    long wait_ms;
    void *got;
    atomic_int done;
};

static void *share_asks_long(void *arg)
{
    struct late_asker *a = arg;
    a->got = cl_pool_acquire_share(a->pool, a->wait_ms);
    atomic_store(&a->done, 1);
    return NULL;
}

/* Two connections come back while one production thread waits (and before it runs): production
 * takes one, and the share's waiter, eligible for the other as soon as production has taken its
 * own, is woken for it then, not left asleep until its wait (here 5 s) runs out. */
static void test_share_woken_after_production(void **state)
{
    struct cl_pool *pool = pool_of(2, 1);
    struct waiter w = {.pool = pool};
    struct late_asker a = {.pool = pool, .wait_ms = 5000};
    struct sigaction hold = {.sa_handler = hold_production}, before;
    struct cl_pool_state st;
    pthread_t wt, at;
    (void)state;

    atomic_store(&production_held, 0);
    atomic_store(&production_let_go, 0);
    sigemptyset(&hold.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &hold, &before), 0);
    void *p = cl_pool_acquire(pool);
    void *q = cl_pool_acquire(pool);
    assert_int_equal(pthread_create(&at, NULL, share_asks_long, &a), 0);
    assert_true(wait_for_waiters(pool, 0, 1)); /* the share's request waits (none free) */
    assert_int_equal(pthread_create(&wt, NULL, production_waits, &w), 0);
    assert_true(wait_for_waiters(pool, 1, 1)); /* and production waits too */
    assert_int_equal(pthread_kill(wt, SIGUSR1), 0);
    assert_true(wait_for_flag(&production_held, 5000));

    cl_pool_release(pool, p);
    cl_pool_release(pool, q);
    cl_pool_state(pool, &st); /* both came back while production still waited */
    assert_int_equal(st.free, 2);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(atomic_load(&a.done), 0); /* production first: the share took neither */

    atomic_store(&production_let_go, 1);
    pthread_join(wt, NULL);
    assert_true(w.got == p || w.got == q);
    /* Production has its connection and nobody of it waits: the other is the share's now. A
     * request asleep while it is free would be served only when its own wait runs out. */
    int served = wait_for_flag(&a.done, 1000);
    cl_pool_state(pool, &st);
    if (!served)
        print_message("the share's waiter sleeps while a connection is free for it: %zu free, "
                      "%zu production waiting, %zu share waiting, share holds %zu of 1\n",
                      st.free, st.waiting, st.share_waiting, st.share_held);
    assert_true(served);
    pthread_join(at, NULL);
    assert_non_null(a.got);
    assert_ptr_not_equal(a.got, w.got); /* each got its own */
    assert_true(a.got == p || a.got == q);
    cl_pool_state(pool, &st);
    assert_int_equal(st.free, 0);
    assert_int_equal(st.share_held, 1);
    assert_int_equal(st.waiting + st.share_waiting, 0);

    cl_pool_release_share(pool, a.got);
    cl_pool_release(pool, w.got);
    assert_int_equal(sigaction(SIGUSR1, &before, NULL), 0);
    cl_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_bounded),
        cmocka_unit_test(test_no_share),
        cmocka_unit_test(test_production_first),
        cmocka_unit_test(test_console_share_config),
        cmocka_unit_test(test_share_woken_after_production),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
