/* test_lock_order.c: ca-server store, an operator's assign racing the writers that lock several
 * certificates (an installation batch, a signing batch, a retirement, the pack purge) on the same
 * device numbers: all lock the numbers' certificates in one order, so PostgreSQL never finds two
 * waiting for each other in a circle (40P01), and the issuance counts stay right. */
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

/* The end of a run of rounds: rounds x n certificates of WEST's numbers in state, the issuance
 * counts equal to a count from scratch; closes the connections. */
static void expect_rounds_done(PGconn *ctl, struct ca_store *store, struct ca_store *other,
                               const char *state, int certificates)
{
    char statement[256], expected[24];

    snprintf(statement, sizeof(statement),
             "SELECT count(*) FROM certificate WHERE state = '%s' AND device_number IN"
             " (SELECT device_number FROM device_owner WHERE factory = '" WEST "')",
             state);
    snprintf(expected, sizeof(expected), "%d", certificates);
    expect_row(ctl, statement, expected);
    expect_row(ctl, COUNTS_DIFFER, "0");
    PQfinish(ctl);
    ca_store_close(other);
    ca_store_close(store);
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

/* The writers raced here. */
enum writer { INSTALL, ASSIGN, SIGN, RETIRE, PURGE, BATCH };

/* One side of a race. */
struct side {
    enum writer kind;
    struct ca_store *store;
    pthread_barrier_t *barrier;          /* NULL: starts at once */
    struct ca_install_item *items;       /* INSTALL: the reports */
    char **numbers;                      /* ASSIGN */
    const struct ca_batch_item *intents; /* SIGN: the intents, in the order they are stored */
    const char *const *serials;          /* RETIRE */
    const char *request_id;              /* SIGN, BATCH: the request; RETIRE: the requester */
    size_t count, chunk;                 /* SIGN: chunk items per ca_store_complete_add */
    long sign_ms;                        /* SIGN: the signing, between begin and the first add */
    const char *factory;
    double store_ms; /* SIGN, ASSIGN: time spent in the store's calls, waits included */
    long purged;     /* PURGE */
    int rc;
    char err[512];
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* SIGN: the issuer's path (issuer.c): begin, sign (a nap), store the signed items in chunks in
 * the given order, commit; abort on a failure. */
static void sign(struct side *s)
{
    struct ca_issued_item *issued = calloc(s->count, sizeof(*issued));
    char(*packs)[128] = calloc(s->count, sizeof(*packs));
    char(*values)[CA_VERIFY_HEX + 1] = calloc(s->count, sizeof(*values));
    double t = now_ms();

    s->rc = CL_ERR_NOMEM;
    if (issued != NULL && packs != NULL && values != NULL)
        s->rc = ca_store_complete_begin(s->store, s->request_id, s->count, s->err, sizeof(s->err));
    s->store_ms = now_ms() - t;
    if (s->rc == CL_OK && s->sign_ms > 0)
        nap_ms(s->sign_ms);
    for (size_t i = 0; s->rc == CL_OK && i < s->count; i++) {
        const struct ca_batch_item *item = &s->intents[i];
        fake_pack(item->device_number, item->serial_hex, packs[i], sizeof(packs[i]));
        fake_proof(item->device_number, values[i], CA_VERIFY_HEX);
        issued[i] = (struct ca_issued_item){.serial_hex = item->serial_hex,
                                            .cert_der = (const unsigned char *)item->serial_hex,
                                            .cert_len = strlen(item->serial_hex),
                                            .pack = packs[i],
                                            .server_value = values[i]};
    }
    for (size_t at = 0; s->rc == CL_OK && at < s->count; at += s->chunk) {
        size_t n = s->count - at < s->chunk ? s->count - at : s->chunk;
        t = now_ms();
        s->rc =
            ca_store_complete_add(s->store, s->request_id, &issued[at], n, s->err, sizeof(s->err));
        s->store_ms += now_ms() - t;
    }
    t = now_ms();
    if (s->rc == CL_OK)
        s->rc = ca_store_complete_commit(s->store, s->request_id, s->err, sizeof(s->err));
    else
        ca_store_complete_abort(s->store);
    s->store_ms += now_ms() - t;
    free(issued);
    free(packs);
    free(values);
}

static void *run_side(void *arg)
{
    struct side *s = arg;
    size_t retired = 0;
    if (s->barrier != NULL)
        pthread_barrier_wait(s->barrier);
    switch (s->kind) {
    case INSTALL:
        s->rc = ca_store_install_batch(s->store, s->items, s->count, time(NULL), s->err,
                                       sizeof(s->err));
        break;
    case ASSIGN: {
        double t = now_ms();
        s->rc = ca_store_assign(s->store, CONST_LIST(s->numbers), s->count, s->factory, ACTOR,
                                s->err, sizeof(s->err));
        s->store_ms = now_ms() - t;
        break;
    }
    case SIGN:
        sign(s);
        break;
    case RETIRE:
        s->rc = ca_store_retire(s->store, s->request_id, "DISCONTINUED", s->serials, s->count,
                                &retired, s->err, sizeof(s->err));
        break;
    case PURGE:
        s->rc = ca_store_purge_packs(s->store, 1, &s->purged);
        break;
    case BATCH: { /* a replacement request of EAST for numbers */
        struct ca_batch_item items[4];
        enum ca_batch_state state;
        s->rc = begin_as(s->store, EAST, s->request_id, 2, 1, CONST_LIST(s->numbers), s->count,
                         items, &state, s->err, sizeof(s->err));
        break;
    }
    }
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

    struct side batch = {.kind = INSTALL, .store = store, .items = reports, .count = 2};
    struct side move = {
        .kind = ASSIGN, .store = other, .numbers = numbers, .count = 2, .factory = WEST};
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
        struct side batch = {
            .kind = INSTALL, .store = store, .barrier = &barrier, .items = reports, .count = N};
        struct side move = {.kind = ASSIGN,
                            .store = other,
                            .barrier = &barrier,
                            .numbers = numbers,
                            .count = N,
                            .factory = WEST};
        assert_int_equal(pthread_create(&ta, NULL, run_side, &batch), 0);
        assert_int_equal(pthread_create(&tb, NULL, run_side, &move), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        expect_ok(&batch, "an installation batch");
        expect_ok(&move, "an assignment");
        free_numbers(numbers, N);
    }
    expect_rounds_done(ctl, store, other, "installed", ROUNDS * N);
}

/* Makes the writer's plans visit certificates in their physical order (seq scans), as
 * PostgreSQL chooses where the table or the batch is large; the row of device_number (if not
 * NULL) moves to the end of the table. */
static void physical_order(PGconn *ctl, const char *db, const char *device_number)
{
    char statement[160], state[6];
    const char *settings[] = {"enable_indexscan", "enable_bitmapscan"};
    for (int i = 0; i < 2; i++) {
        snprintf(statement, sizeof(statement), "ALTER DATABASE %s SET %s = off", db, settings[i]);
        sql(ctl, statement, state, NULL, 0);
        assert_string_equal(state, "");
    }
    if (device_number == NULL)
        return;
    snprintf(statement, sizeof(statement),
             "UPDATE certificate SET created_at = created_at WHERE device_number = '%s'",
             device_number);
    sql(ctl, statement, state, NULL, 0);
    assert_string_equal(state, "");
}

/* Two numbers of EAST; a writer of kind comes to the second number's certificate first and the
 * test stops it at its first UPDATE (holding that certificate); the assignment of both to WEST
 * starts and waits; then the writer goes on. Before the fix, the writer then waited for the first
 * number's certificate, which the assignment held (FOR SHARE), while the assignment waited for
 * the second, which the writer held: PostgreSQL aborted one of them (40P01). The signing batch
 * stores both in one part in number order, as issuer.c does, and its plan visits them in
 * physical order, the second first; the retirement names them in reverse order; the pack purge
 * visits them in physical order too, the second (the older pack) first. */
static void writer_sequenced(const char *db, enum writer kind, const char *what)
{
    char conninfo[256], err[512], state[6];
    struct ca_store *store = fresh_store(db, conninfo, sizeof(conninfo)), *other = NULL;
    struct ca_store *own = NULL;
    char **numbers = make_numbers("3012", 1, 2);
    struct ca_batch_item items[2];
    PGconn *ctl = connect_raw(conninfo);
    pthread_t ta, tb;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_service_issued(store, "7E01", "comm-terminal", WEST, "", ACTOR),
                     CL_OK);
    if (kind == SIGN)
        begin(store, "r-1", 1, 0, CONST_LIST(numbers), 2, items, CA_BATCH_NEW);
    else
        issue(store, "r-1", 1, numbers, 2, items);
    const char *serials[2] = {items[1].serial_hex, items[0].serial_hex};
    for (int k = 2; kind == PURGE && k >= 1; k--) { /* both packs kept too long */
        char statement[160];
        snprintf(statement, sizeof(statement),
                 "UPDATE certificate SET issued_at = now() - interval '%d hours'"
                 " WHERE device_number = '3012-00000%d'",
                 k + 1, k);
        sql(ctl, statement, state, NULL, 0); /* the second number's row moves first */
        assert_string_equal(state, "");
    }
    if (kind != RETIRE)
        physical_order(ctl, db, kind == SIGN ? "3012-000001" : NULL);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_open(conninfo, &own, err, sizeof(err)), CL_OK);

    struct side writer = {.kind = kind,
                          .store = own,
                          .intents = items,
                          .serials = serials,
                          .request_id = kind == SIGN ? "r-1" : EAST,
                          .count = 2,
                          .chunk = 2};
    struct side move = {
        .kind = ASSIGN, .store = other, .numbers = numbers, .count = 2, .factory = WEST};
    stop_batch(ctl, NULL, AT_FIRST_UPDATE);
    assert_int_equal(pthread_create(&ta, NULL, run_side, &writer), 0);
    await_waiting(ctl, "advisory", 1);
    assert_int_equal(pthread_create(&tb, NULL, run_side, &move), 0);
    await_waiting(ctl, "row", 1);
    sql(ctl, "SELECT pg_advisory_unlock(" PAUSE_KEY ")", state, NULL, 0);
    assert_string_equal(state, "");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    expect_ok(&writer, what);
    expect_ok(&move, "the assignment");
    expect_row(ctl, "SELECT count(*) FROM device_owner WHERE factory = '" WEST "'", "2");
    if (kind == SIGN)
        expect_row(ctl, "SELECT count(*) FROM certificate WHERE state = 'issued'", "2");
    else if (kind == RETIRE)
        expect_row(ctl, "SELECT count(*) FROM certificate WHERE state = 'revoked'", "2");
    else {
        assert_int_equal(writer.purged, 2);
        expect_row(ctl,
                   "SELECT count(*) FROM certificate WHERE state = 'issued' AND pack IS NULL"
                   " AND pack_purged_at IS NOT NULL",
                   "2");
    }
    expect_row(ctl, COUNTS_DIFFER, "0");

    PQfinish(ctl);
    free_numbers(numbers, 2);
    ca_store_close(own);
    ca_store_close(other);
    ca_store_close(store);
}

/* A signing batch stores its items in number order, in one part; its plan visits them in
 * physical order. */
static void test_signing_out_of_order(void **state)
{
    (void)state;
    writer_sequenced("lock_order_signing", SIGN, "the signing batch");
}

/* A comm-terminal retires its two certificates, named in reverse number order. */
static void test_retire_out_of_order(void **state)
{
    (void)state;
    writer_sequenced("lock_order_retire", RETIRE, "the retirement");
}

/* The pack purge visits the second number's certificate first. */
static void test_purge_out_of_order(void **state)
{
    (void)state;
    writer_sequenced("lock_order_purge", PURGE, "the pack purge");
}

/* Many rounds of a signing batch and an assignment of its numbers at the same moment: the batch
 * stores its items in reverse number order, three per part, after 5 ms of "signing"; the
 * assignment names them in order, half of them without an owner yet. Prints how long the
 * signing spent in the store (its waits for the assignment included) alone and in the race. */
static void test_signing_rounds(void **state)
{
    enum { ALONE = 10, ROUNDS = 40, N = 8 };
    char conninfo[256], err[512], statement[160], sqlstate[6];
    struct ca_store *store = fresh_store("lock_order_signing_rounds", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    PGconn *ctl = connect_raw(conninfo);
    double alone = 0, raced = 0, most = 0, moved = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_service_issued(store, "7E01", "comm-terminal", WEST, "", ACTOR),
                     CL_OK);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    for (unsigned round = 0; round < ALONE + ROUNDS; round++) {
        char **numbers = make_numbers("3012", 1 + round * N, N), id[32];
        struct ca_batch_item items[N], reversed[N];
        pthread_barrier_t barrier;
        pthread_t ta, tb;
        int race = round >= ALONE;

        snprintf(id, sizeof(id), "round-%u", round);
        begin(store, id, round + 1, 0, CONST_LIST(numbers), N, items, CA_BATCH_NEW);
        for (size_t k = 0; k < N; k++) {
            reversed[k] = items[N - 1 - k];
            if (k % 2 == 0) {
                snprintf(statement, sizeof(statement),
                         "DELETE FROM device_owner WHERE device_number = '%s'", numbers[k]);
                sql(ctl, statement, sqlstate, NULL, 0);
                assert_string_equal(sqlstate, "");
            }
        }
        pthread_barrier_init(&barrier, NULL, race ? 2 : 1);
        struct side signing = {.kind = SIGN,
                               .store = store,
                               .barrier = &barrier,
                               .intents = reversed,
                               .request_id = id,
                               .count = N,
                               .chunk = 3,
                               .sign_ms = 5};
        struct side move = {.kind = ASSIGN,
                            .store = other,
                            .barrier = &barrier,
                            .numbers = numbers,
                            .count = N,
                            .factory = WEST};
        assert_int_equal(pthread_create(&ta, NULL, run_side, &signing), 0);
        if (race)
            assert_int_equal(pthread_create(&tb, NULL, run_side, &move), 0);
        pthread_join(ta, NULL);
        if (race)
            pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        expect_ok(&signing, "a signing batch");
        if (race) {
            expect_ok(&move, "an assignment");
            raced += signing.store_ms;
            moved += move.store_ms;
            most = signing.store_ms > most ? signing.store_ms : most;
        } else {
            alone += signing.store_ms;
        }
        free_numbers(numbers, N);
    }
    print_message("signing batches of %d in the store: %.1f ms on average alone; with an "
                  "assignment of the same numbers %.1f ms on average, %.1f ms at most (%d rounds; "
                  "the assignments took %.1f ms on average)\n",
                  N, alone / ALONE, raced / ROUNDS, most, ROUNDS, moved / ROUNDS);
    expect_rounds_done(ctl, store, other, "issued", ROUNDS * N);
}

/* A replacement request (FIG 21 batch) of EAST for two numbers, the second without an owner, as
 * an installation batch of both locks their certificates: the test stops the installation as it
 * locks the second number's certificate (it holds the first), the request starts, then the
 * installation goes on. Before the fix, the request's claim of the second number (its owner row)
 * locked that number's certificate (FOR SHARE, to move the counts) before the request locked the
 * first number's (FOR UPDATE): the installation then waited for the request and the request for
 * the installation (40P01). Now the installation ends first and the request, seeing both
 * installed, is refused as such; the second number stays unowned. */
static void test_replacement_new_owner(void **state)
{
    char conninfo[256], err[512], sqlstate[6];
    struct ca_store *store = fresh_store("lock_order_replacement", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    char **numbers = make_numbers("3012", 1, 2), proofs[2][CA_VERIFY_HEX + 1];
    static const size_t order[2] = {0, 1};
    struct ca_batch_item items[2];
    struct ca_install_item reports[2];
    PGconn *ctl = connect_raw(conninfo), *holder = connect_raw(conninfo);
    pthread_t ta, tb;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "r-1", 1, numbers, 2, items);
    sql(ctl, "DELETE FROM device_owner WHERE device_number = '3012-000002'", sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    reports_of(items, order, 2, proofs, reports);

    struct side batch = {.kind = INSTALL, .store = store, .items = reports, .count = 2};
    struct side request = {
        .kind = BATCH, .store = other, .numbers = numbers, .count = 2, .request_id = "r-2"};
    stop_batch(ctl, holder, AT_SECOND_LOCK);
    assert_int_equal(pthread_create(&ta, NULL, run_side, &batch), 0);
    await_waiting(ctl, "row", 1);
    assert_int_equal(pthread_create(&tb, NULL, run_side, &request), 0);
    await_waiting(ctl, "row", 2);
    sql(holder, "COMMIT", sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    expect_ok(&batch, "the installation batch");
    if (request.rc != CL_ERR_CONFLICT)
        fail_msg("the replacement request: %s (expected CL_ERR_CONFLICT): %s",
                 cl_err_name(request.rc), request.err);
    assert_contains(request.err, "holds an installed certificate");
    expect_row(ctl, "SELECT count(*) FROM certificate WHERE state = 'installed'", "2");
    expect_row(ctl, "SELECT count(*) FROM certificate", "2");
    expect_row(ctl, "SELECT count(*) FROM device_owner", "1");
    expect_row(ctl, COUNTS_DIFFER, "0");

    PQfinish(holder);
    PQfinish(ctl);
    free_numbers(numbers, 2);
    ca_store_close(other);
    ca_store_close(store);
}

int ca_store_lock_order_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_out_of_order),
        cmocka_unit_test(test_new_and_changed_owners),
        cmocka_unit_test(test_rounds),
        cmocka_unit_test(test_signing_out_of_order),
        cmocka_unit_test(test_retire_out_of_order),
        cmocka_unit_test(test_purge_out_of_order),
        cmocka_unit_test(test_signing_rounds),
        cmocka_unit_test(test_replacement_new_owner),
    };
    return cmocka_run_group_tests_name("ca_store_lock_order", tests, NULL, NULL);
}
