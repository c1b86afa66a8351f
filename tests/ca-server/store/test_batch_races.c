/* test_batch_races.c: ca-server store, two connections racing with FIG 21 batches for the same
 * device numbers and for the same request id. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ca_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"
#include "store.h"

/* ---- two connections at once ---- */

struct racer {
    struct ca_store *store;
    pthread_barrier_t *barrier;
    const char *request_id;
    unsigned seed;
    int replacement;
    char **numbers;
    size_t count;
    struct ca_batch_item *items;
    enum ca_batch_state state;
    int rc;
    char err[512];
};

/* A racer asking for a batch of the n numbers on store. */
static struct racer racer_for(struct ca_store *store, const char *request_id, unsigned seed,
                              int replacement, char **numbers, size_t n,
                              struct ca_batch_item *items)
{
    struct racer r = {.store = store,
                      .request_id = request_id,
                      .seed = seed,
                      .replacement = replacement,
                      .numbers = numbers,
                      .count = n,
                      .items = items};
    return r;
}

static void *race(void *arg)
{
    struct racer *r = arg;
    unsigned char hash[32];
    body_hash(r->seed, hash);
    pthread_barrier_wait(r->barrier);
    r->rc = ca_store_batch_begin(r->store, r->request_id, hash, r->replacement, "comm-terminal-1",
                                 (const char *const *)r->numbers, r->count, r->items, &r->state,
                                 r->err, sizeof(r->err));
    return NULL;
}

/* Runs two batch_begin calls at the same moment on two connections. */
static void run_race(struct racer *a, struct racer *b)
{
    pthread_barrier_t barrier;
    pthread_t ta, tb;
    assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
    a->barrier = b->barrier = &barrier;
    assert_int_equal(pthread_create(&ta, NULL, race, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
}

/* Where two batches race: a fresh database with model 3012, two connections to it, and the
 * items of a batch of n for each. */
struct ground {
    struct ca_store *store, *other;
    struct ca_batch_item *items_a, *items_b;
};

static void ground_open(struct ground *g, const char *db, size_t n)
{
    char conninfo[256], err[512];
    g->store = fresh_store(db, conninfo, sizeof(conninfo));
    g->other = NULL;
    g->items_a = calloc(n, sizeof(*g->items_a));
    g->items_b = calloc(n, sizeof(*g->items_b));
    assert_true(g->items_a != NULL && g->items_b != NULL);
    assert_int_equal(ca_store_open(conninfo, &g->other, err, sizeof(err)), CL_OK);
    add_model(g->store, "3012", "p256", 1);
}

static void ground_close(struct ground *g)
{
    free(g->items_a);
    free(g->items_b);
    ca_store_close(g->other);
    ca_store_close(g->store);
}

static void test_concurrent_overlap(void **state)
{
    enum { N = 200, ROUNDS = 6 };
    struct ground g;
    (void)state;

    ground_open(&g, "race_overlap", N);
    struct ca_store *store = g.store;
    for (int round = 0; round < ROUNDS; round++) {
        /* Odd rounds: all numbers already hold a certificate and both ask for replacements. */
        int replacement = round % 2;
        unsigned base = 1000u * (unsigned)round + 1;
        char id_a[32], id_b[32];
        char **numbers_a = make_numbers("3012", base, N);
        char **numbers_b = make_numbers("3012", base + N / 2, N); /* half overlaps */
        snprintf(id_a, sizeof(id_a), "a-%d", round);
        snprintf(id_b, sizeof(id_b), "b-%d", round);
        if (replacement) {
            char **all = make_numbers("3012", base, N + N / 2);
            struct ca_batch_item *setup = calloc(N + N / 2, sizeof(*setup));
            char setup_id[32];
            assert_non_null(setup);
            snprintf(setup_id, sizeof(setup_id), "setup-%d", round);
            begin(store, setup_id, 90u + (unsigned)round, 0, CONST_LIST(all), N + N / 2, setup,
                  CA_BATCH_NEW);
            free(setup);
            free_numbers(all, N + N / 2);
        }
        struct racer a =
            racer_for(store, id_a, 10u + (unsigned)round, replacement, numbers_a, N, g.items_a);
        struct racer b =
            racer_for(g.other, id_b, 50u + (unsigned)round, replacement, numbers_b, N, g.items_b);
        size_t before = count_certs(store, NULL, NULL);
        size_t superseded = count_certs(store, NULL, "superseded");
        run_race(&a, &b);
        if (!((a.rc == CL_OK) ^ (b.rc == CL_OK)))
            fail_msg("round %d: exactly one must win: a %s (%s), b %s (%s)", round,
                     cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
        struct racer *loser = a.rc == CL_OK ? &b : &a;
        struct racer *winner = a.rc == CL_OK ? &a : &b;
        assert_int_equal(loser->rc, CL_ERR_CONFLICT);
        assert_int_equal(winner->state, CA_BATCH_NEW);
        assert_contains(loser->err, "already holds a valid certificate");
        print_message("round %d (%s): the loser was told: %s\n", round,
                      replacement ? "replacement" : "plain", loser->err);
        /* It names a number both asked for. */
        int named = 0;
        for (size_t i = N / 2; i < N; i++)
            named |= strstr(loser->err, numbers_a[i]) != NULL;
        if (!named)
            fail_msg("round %d: \"%s\" names no number of the overlap", round, loser->err);
        /* The loser recorded nothing: only the winner's intents (and supersessions). */
        assert_int_equal(count_certs(store, NULL, NULL), before + N);
        assert_int_equal(count_certs(store, NULL, "superseded"),
                         superseded + (replacement ? N : 0));
        for (size_t i = 0; i < N; i++) {
            assert_int_equal(state_of(store, winner->numbers[i], winner->items[i].serial_hex),
                             CA_CERT_INTENT);
            assert_int_equal(count_certs(store, winner->numbers[i], "intent"), 1);
        }
        free_numbers(numbers_a, N);
        free_numbers(numbers_b, N);
    }
    ground_close(&g);
}

static void test_concurrent_same_id(void **state)
{
    enum { N = 100 };
    char err[512];
    char **numbers = make_numbers("3012", 1, N);
    struct ground g;
    (void)state;

    ground_open(&g, "race_same_id", N);
    struct ca_store *store = g.store, *other = g.other;
    struct ca_batch_item *items_a = g.items_a, *items_b = g.items_b;
    struct racer a = racer_for(store, "same", 5, 0, numbers, N, items_a);
    struct racer b = racer_for(other, "same", 5, 0, numbers, N, items_b);
    run_race(&a, &b);
    if (a.rc != CL_OK || b.rc != CL_OK)
        fail_msg("a %s (%s), b %s (%s)", cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
    assert_true((a.state == CA_BATCH_NEW && b.state == CA_BATCH_PENDING) ||
                (a.state == CA_BATCH_PENDING && b.state == CA_BATCH_NEW));
    for (size_t i = 0; i < N; i++)
        assert_string_equal(items_a[i].serial_hex, items_b[i].serial_hex);
    assert_int_equal(count_certs(store, NULL, NULL), N);

    /* Both sign; the first to complete wins, the second is told to ask again. */
    complete(store, "same", items_a, N);
    {
        struct ca_issued_item one = {items_b[0].serial_hex, (const unsigned char *)"x", 1, "p",
                                     "00112233445566778899aabbccddeeff"
                                     "00112233445566778899aabbccddeeff"};
        assert_int_equal(ca_store_batch_complete(other, "same", &one, 1, err, sizeof(err)),
                         CL_ERR_CONFLICT);
    }
    free_numbers(numbers, N);
    ground_close(&g);
}

int ca_store_batch_races_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_overlap),
        cmocka_unit_test(test_concurrent_same_id),
    };
    return cmocka_run_group_tests_name("ca_store batch races", tests, NULL, NULL);
}
