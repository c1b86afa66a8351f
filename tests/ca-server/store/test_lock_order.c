/* test_lock_order.c: ca-server store, an operator's assign racing an installation batch on the
 * same device numbers: both lock the numbers' certificates in one order, so PostgreSQL never
 * finds them waiting for each other in a circle (40P01), and the issuance counts stay right. */
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

#define EAST "comm-terminal-1" /* the requester of issue(): it owns what it asked for */
#define WEST "ct-west"
#define ACTOR "operator:test"
#define PAUSE_KEY "4242" /* the advisory lock the test holds to stop a batch mid-way */

/* 0 if the counts per day and factory equal what counting every certificate gives. */
static const char *const COUNTS_DIFFER =
    "WITH counted AS (SELECT day, factory, sum(issued) AS i, sum(installed) AS n,"
    "  sum(revoked) AS r FROM issuance_count GROUP BY 1, 2 HAVING sum(issued) > 0),"
    " scratch AS (SELECT (c.issued_at AT TIME ZONE (SELECT zone FROM issuance_zone))::date,"
    "  coalesce(o.factory, ''), count(*), count(*) FILTER (WHERE c.state = 'installed'),"
    "  count(*) FILTER (WHERE c.state = 'revoked') FROM certificate c"
    "  LEFT JOIN device_owner o ON o.device_number = c.device_number"
    "  WHERE c.issued_at IS NOT NULL GROUP BY 1, 2)"
    " SELECT count(*) FROM ((TABLE counted EXCEPT TABLE scratch)"
    "  UNION ALL (TABLE scratch EXCEPT TABLE counted)) d";

static void expect_row(PGconn *conn, const char *statement, const char *expected)
{
    char state[6], value[64];
    sql(conn, statement, state, value, sizeof(value));
    if (state[0] != '\0' || strcmp(value, expected) != 0)
        fail_msg("%s: SQLSTATE \"%s\", \"%s\" instead of \"%s\"", statement, state, value,
                 expected);
}

/* Waits (10 s at most) until at least n sessions wait for a lock of kind ("advisory": the
 * pause; "row": a row or the transaction holding it). */
static void await_waiting(PGconn *conn, const char *kind, int n)
{
    char statement[256], state[6], value[16];
    snprintf(statement, sizeof(statement),
             "SELECT count(*) >= %d FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
             " AND (wait_event = 'advisory') = ('%s' = 'advisory')",
             n, kind);
    for (int i = 0; i < 1000; i++) {
        sql(conn, statement, state, value, sizeof(value));
        if (state[0] == '\0' && strcmp(value, "t") == 0)
            return;
        nap_ms(10);
    }
    fail_msg("fewer than %d sessions wait for a lock of kind %s", n, kind);
}

/* One side of a race: an installation batch (items) or an assignment (numbers). */
struct side {
    struct ca_store *store;
    pthread_barrier_t *barrier; /* NULL: starts at once */
    struct ca_install_item *items;
    char **numbers;
    size_t count;
    const char *factory;
    int rc;
    char err[512];
};

static void *run_side(void *arg)
{
    struct side *s = arg;
    if (s->barrier != NULL)
        pthread_barrier_wait(s->barrier);
    if (s->items != NULL)
        s->rc = ca_store_install_batch(s->store, s->items, s->count, time(NULL), s->err,
                                       sizeof(s->err));
    else
        s->rc = ca_store_assign(s->store, CONST_LIST(s->numbers), s->count, s->factory, ACTOR,
                                s->err, sizeof(s->err));
    return NULL;
}

static void expect_ok(const struct side *s, const char *what)
{
    if (s->rc != CL_OK)
        fail_msg("%s: %s: %s", what, cl_err_name(s->rc), s->err);
    for (size_t i = 0; s->items != NULL && i < s->count; i++)
        if (s->items[i].rc != CL_OK)
            fail_msg("%s, report %zu: %s: %s", what, i, cl_err_name(s->items[i].rc),
                     s->items[i].err);
}

/* Reports of the n numbers' certificates (issued as items), in the order of order[]. */
static void reports_of(const struct ca_batch_item *items, const size_t *order, size_t n,
                       char proofs[][CA_VERIFY_HEX + 1], struct ca_install_item *reports)
{
    for (size_t k = 0; k < n; k++) {
        const struct ca_batch_item *item = &items[order[k]];
        fake_proof(item->device_number, proofs[k], CA_VERIFY_HEX);
        reports[k] = (struct ca_install_item){.device_number = item->device_number,
                                              .serial_hex = item->serial_hex,
                                              .value = proofs[k]};
    }
}

/* Where the test stops the batch: at the UPDATE of its first report (a trigger waits for an
 * advisory lock the test holds), or as it locks the second number's certificate (the test holds
 * it FOR KEY SHARE, which the batch's FOR UPDATE waits for and the assignment's FOR SHARE not). */
enum stop { AT_FIRST_UPDATE, AT_SECOND_LOCK };

static void stop_batch(PGconn *ctl, PGconn *holder, enum stop stop)
{
    char state[6];
    if (stop == AT_FIRST_UPDATE) {
        sql(ctl,
            "CREATE FUNCTION test_pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " PERFORM pg_advisory_lock(" PAUSE_KEY "); PERFORM pg_advisory_unlock(" PAUSE_KEY ");"
            " RETURN NEW; END $$",
            state, NULL, 0);
        assert_string_equal(state, "");
        sql(ctl,
            "CREATE TRIGGER test_pause BEFORE UPDATE ON certificate FOR EACH ROW"
            " EXECUTE FUNCTION test_pause()",
            state, NULL, 0);
        assert_string_equal(state, "");
        sql(ctl, "SELECT pg_advisory_lock(" PAUSE_KEY ")", state, NULL, 0);
    } else {
        sql(holder, "BEGIN", state, NULL, 0);
        sql(holder, "SELECT 1 FROM certificate WHERE device_number = '3012-000002' FOR KEY SHARE",
            state, NULL, 0);
    }
    assert_string_equal(state, "");
}

/* Two numbers issued to EAST, the first left unowned if unowned_first; the batch reports them in
 * the order given and the test stops it where stop says; the assignment of both to WEST starts
 * and waits; then the batch goes on. Before the fix, the batch then waited for a certificate the
 * assignment held (FOR SHARE) while the assignment waited for one the batch held: PostgreSQL
 * aborted one of them (40P01). */
static void sequenced(const char *db, const size_t order[2], int unowned_first, enum stop stop)
{
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store(db, conninfo, sizeof(conninfo)), *other = NULL;
    char **numbers = make_numbers("3012", 1, 2), proofs[2][CA_VERIFY_HEX + 1];
    struct ca_batch_item items[2];
    struct ca_install_item reports[2];
    PGconn *ctl = connect_raw(conninfo), *holder = connect_raw(conninfo);
    pthread_t ta, tb;
    char state[6];

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_service_issued(store, "7E01", "comm-terminal", WEST, "", ACTOR),
                     CL_OK);
    issue(store, "r-1", 1, numbers, 2, items);
    if (unowned_first)
        sql(ctl, "DELETE FROM device_owner WHERE device_number = '3012-000001'", state, NULL, 0);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    reports_of(items, order, 2, proofs, reports);

    struct side batch = {.store = store, .items = reports, .count = 2};
    struct side move = {.store = other, .numbers = numbers, .count = 2, .factory = WEST};
    stop_batch(ctl, holder, stop);
    assert_int_equal(pthread_create(&ta, NULL, run_side, &batch), 0);
    if (stop == AT_FIRST_UPDATE)
        await_waiting(ctl, "advisory", 1);
    else
        await_waiting(ctl, "row", 1);
    assert_int_equal(pthread_create(&tb, NULL, run_side, &move), 0);
    await_waiting(ctl, "row", stop == AT_FIRST_UPDATE ? 1 : 2);
    if (stop == AT_FIRST_UPDATE)
        sql(ctl, "SELECT pg_advisory_unlock(" PAUSE_KEY ")", state, NULL, 0);
    else
        sql(holder, "COMMIT", state, NULL, 0);
    assert_string_equal(state, "");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    expect_ok(&batch, "the installation batch");
    expect_ok(&move, "the assignment");
    expect_row(ctl, "SELECT count(*) FROM certificate WHERE state = 'installed'", "2");
    expect_row(ctl, "SELECT count(*) FROM device_owner WHERE factory = '" WEST "'", "2");
    expect_row(ctl, COUNTS_DIFFER, "0");

    PQfinish(holder);
    PQfinish(ctl);
    free_numbers(numbers, 2);
    ca_store_close(other);
    ca_store_close(store);
}

/* The batch reports the second number first; both numbers owned. */
static void test_reports_out_of_order(void **state)
{
    static const size_t order[2] = {1, 0};
    (void)state;
    sequenced("lock_order_reports", order, 0, AT_FIRST_UPDATE);
}

/* The batch reports in number order; the first number has no owner yet, so the assignment
 * inserts its owner row and updates the other's (PostgreSQL runs the update's statement trigger
 * first: before the fix, the assignment locked the second number's certificate before the
 * first's). */
static void test_new_and_changed_owners(void **state)
{
    static const size_t order[2] = {0, 1};
    (void)state;
    sequenced("lock_order_owners", order, 1, AT_SECOND_LOCK);
}

/* Many rounds of both at the same moment on the same numbers: the batch reports them in reverse
 * order, the assignment names them in order, half of them without an owner yet. */
static void test_rounds(void **state)
{
    enum { ROUNDS = 40, N = 8 };
    char conninfo[256], err[512], statement[160], sqlstate[6];
    struct ca_store *store = fresh_store("lock_order_rounds", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    PGconn *ctl = connect_raw(conninfo);
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_service_issued(store, "7E01", "comm-terminal", WEST, "", ACTOR),
                     CL_OK);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    for (unsigned round = 0; round < ROUNDS; round++) {
        char **numbers = make_numbers("3012", 1 + round * N, N), id[32];
        char proofs[N][CA_VERIFY_HEX + 1];
        struct ca_batch_item items[N];
        struct ca_install_item reports[N];
        size_t order[N];
        pthread_barrier_t barrier;
        pthread_t ta, tb;

        snprintf(id, sizeof(id), "round-%u", round);
        issue(store, id, round + 1, numbers, N, items);
        for (size_t k = 0; k < N; k++) {
            order[k] = N - 1 - k;
            if (k % 2 == 0) {
                snprintf(statement, sizeof(statement),
                         "DELETE FROM device_owner WHERE device_number = '%s'", numbers[k]);
                sql(ctl, statement, sqlstate, NULL, 0);
                assert_string_equal(sqlstate, "");
            }
        }
        reports_of(items, order, N, proofs, reports);
        pthread_barrier_init(&barrier, NULL, 2);
        struct side batch = {.store = store, .barrier = &barrier, .items = reports, .count = N};
        struct side move = {
            .store = other, .barrier = &barrier, .numbers = numbers, .count = N, .factory = WEST};
        assert_int_equal(pthread_create(&ta, NULL, run_side, &batch), 0);
        assert_int_equal(pthread_create(&tb, NULL, run_side, &move), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        expect_ok(&batch, "an installation batch");
        expect_ok(&move, "an assignment");
        free_numbers(numbers, N);
    }
    snprintf(statement, sizeof(statement),
             "SELECT count(*) FROM certificate WHERE state = 'installed' AND device_number IN"
             " (SELECT device_number FROM device_owner WHERE factory = '" WEST "')");
    snprintf(err, sizeof(err), "%d", ROUNDS * N);
    expect_row(ctl, statement, err);
    expect_row(ctl, COUNTS_DIFFER, "0");
    PQfinish(ctl);
    ca_store_close(other);
    ca_store_close(store);
}

int ca_store_lock_order_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_out_of_order),
        cmocka_unit_test(test_new_and_changed_owners),
        cmocka_unit_test(test_rounds),
    };
    return cmocka_run_group_tests_name("ca_store_lock_order", tests, NULL, NULL);
}
