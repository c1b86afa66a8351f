/* test_issuance.c: ca-server store, issuance per factory and day as the console reads it: the
 * counts the database keeps (migration 11) equal, after every kind of write, what counting every
 * certificate gives; the migration's backfill of rows made before it; two connections writing
 * at once, one rolled back; an owner change racing a signing or an installation. */
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
#include "store_console.h"

#define EAST "comm-terminal-1" /* the requester of begin() and issue() */
#define WEST "ct-west"
#define ACTOR "operator:test"

/* What the page showed before migration 11, counted from every certificate. */
static const char *const FROM_SCRATCH =
    "SELECT to_char(c.issued_at, 'YYYY-MM-DD'), coalesce(o.factory, ''), count(*),"
    " count(*) FILTER (WHERE c.state = 'installed'), count(*) FILTER (WHERE c.state = 'revoked')"
    " FROM certificate c LEFT JOIN device_owner o ON o.device_number = c.device_number"
    " WHERE c.issued_at IS NOT NULL AND ($1 = '' OR c.issued_at >= NULLIF($1, '')::date)"
    " GROUP BY 1, 2 ORDER BY 1 DESC, 2";

static void exec_ok(PGconn *conn, const char *statement)
{
    PGresult *res = PQexec(conn, statement);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", statement, PQerrorMessage(conn));
    PQclear(res);
}

/* ca_store_issuance from since ("" all days) equals the count from scratch; returns its rows. */
static size_t expect_since(struct ca_store *store, PGconn *conn, const char *since,
                           const char *step)
{
    const char *values[] = {since};
    struct ca_issuance_row *rows = NULL;
    size_t n = 0;
    PGresult *res = PQexecParams(conn, FROM_SCRATCH, 1, NULL, values, NULL, NULL, 0);

    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(ca_store_issuance(store, since, 100000, &rows, &n), CL_OK);
    if (n != (size_t)PQntuples(res))
        fail_msg("%s, since '%s': %zu rows counted, %d from scratch", step, since, n,
                 PQntuples(res));
    for (size_t i = 0; i < n; i++) {
        char counted[160], scratch[160];
        snprintf(counted, sizeof(counted), "%s %s %lld %lld %lld", rows[i].day, rows[i].factory,
                 rows[i].issued, rows[i].installed, rows[i].revoked);
        snprintf(scratch, sizeof(scratch), "%s %s %s %s %s", PQgetvalue(res, (int)i, 0),
                 PQgetvalue(res, (int)i, 1), PQgetvalue(res, (int)i, 2), PQgetvalue(res, (int)i, 3),
                 PQgetvalue(res, (int)i, 4));
        if (strcmp(counted, scratch) != 0)
            fail_msg("%s, since '%s', row %zu: counted \"%s\", from scratch \"%s\"", step, since, i,
                     counted, scratch);
    }
    PQclear(res);
    free(rows);
    return n;
}

/* The counts are in use (this session's zone is theirs) and right, for all days and from the
 * day before yesterday on. */
static void expect_counts(struct ca_store *store, PGconn *conn, const char *step)
{
    PGresult *res = PQexec(conn, "SELECT zone = current_setting('TimeZone'),"
                                 " to_char(now() - interval '2 days', 'YYYY-MM-DD')"
                                 " FROM issuance_zone");
    char since[16];
    assert_int_equal(PQntuples(res), 1);
    assert_string_equal(PQgetvalue(res, 0, 0), "t");
    snprintf(since, sizeof(since), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    expect_since(store, conn, "", step);
    expect_since(store, conn, since, step);
}

/* A comm-terminal certificate for factory, so that numbers can be assigned to it. */
static void add_factory(struct ca_store *store, const char *serial, const char *factory)
{
    assert_int_equal(ca_store_service_issued(store, serial, "comm-terminal", factory, "", ACTOR),
                     CL_OK);
}

static void assign(struct ca_store *store, char **numbers, size_t n, const char *factory)
{
    char err[512];
    int rc = ca_store_assign(store, CONST_LIST(numbers), n, factory, ACTOR, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("assign to %s: %s: %s", factory, cl_err_name(rc), err);
}

static void issue_as(struct ca_store *store, const char *requester, const char *id, unsigned seed,
                     int replacement, char **numbers, size_t n, struct ca_batch_item *items)
{
    enum ca_batch_state st;
    char err[512];
    int rc = begin_as(store, requester, id, seed, replacement, CONST_LIST(numbers), n, items, &st,
                      err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("begin %s: %s: %s", id, cl_err_name(rc), err);
    complete(store, id, items, n);
}

/* Every write path in turn, over several days; the counts checked after each. */
static void test_counts_follow_every_write(void **state)
{
    char conninfo[256], sqlstate[6], value[32];
    struct ca_store *store = fresh_store("issuance_writes", conninfo, sizeof(conninfo));
    char **east = make_numbers("3012", 1, 12), **offline = make_numbers("4420", 1, 4);
    struct ca_batch_item a[12], b[12], c[4];
    PGconn *conn = connect_raw(conninfo);
    struct ca_issuance_row *rows = NULL;
    long purged = 0, folded = 0;
    size_t n = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "4420", "p256", 1);
    add_factory(store, "7E01", WEST);
    add_factory(store, "7E02", EAST);
    expect_counts(store, conn, "empty");

    /* Signed in batches: intents count nothing, the completion counts them. */
    begin(store, "east-1", 1, 0, CONST_LIST(east), 8, a, CA_BATCH_NEW);
    expect_counts(store, conn, "intents");
    complete(store, "east-1", a, 8);
    expect_counts(store, conn, "signed");
    /* Signed on other days (as the rows of an older store are). */
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '3 days'"
                  " WHERE device_number IN ('3012-000001', '3012-000002', '3012-000003')");
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '1 day'"
                  " WHERE device_number IN ('3012-000004', '3012-000005')");
    expect_counts(store, conn, "issued_at moved");
    issue(store, "east-2", 2, east + 8, 4, a + 8);
    expect_counts(store, conn, "a second batch");

    /* Installed, then replaced (superseded by an issued one), then revoked. */
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(install_proven(store, a[i].device_number, a[i].serial_hex, time(NULL)).rc,
                         CL_OK);
    expect_counts(store, conn, "installed");
    issue_as(store, EAST, "east-3", 3, 1, east + 6, 2, b); /* issued, never installed */
    expect_counts(store, conn, "replaced");
    assert_int_equal(ca_store_revoke(store, a[4].serial_hex, "board scrapped", ACTOR), CL_OK);
    assert_int_equal(ca_store_revoke(store, a[9].serial_hex, "lost", ACTOR), CL_OK);
    expect_counts(store, conn, "revoked");

    /* Numbers moved to another factory, back, and to the same one again. */
    assign(store, east + 1, 4, WEST);
    expect_counts(store, conn, "moved west");
    assign(store, east + 2, 1, EAST);
    assign(store, east + 3, 1, WEST);
    expect_counts(store, conn, "moved back, and again the same");

    /* An operator's offline batch: no owner, until assigned. */
    issue_as(store, "operator:alice", "offline-1", 4, 0, offline, 4, c);
    expect_counts(store, conn, "unowned");
    assign(store, offline, 2, WEST);
    expect_counts(store, conn, "unowned assigned");

    /* Packs purged by retention, an owner row deleted, certificates deleted. */
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '30 hours'"
                  " WHERE state = 'issued'");
    assert_int_equal(ca_store_purge_packs(store, 24, &purged), CL_OK);
    assert_true(purged > 0);
    expect_counts(store, conn, "packs purged");
    exec_ok(conn, "DELETE FROM device_owner WHERE device_number = '3012-000002'");
    expect_counts(store, conn, "an owner deleted");
    exec_ok(conn, "DELETE FROM batch_item WHERE request_id = 'offline-1'");
    exec_ok(conn, "DELETE FROM certificate WHERE request_id = 'offline-1'"
                  " AND device_number = '4420-000003'");
    expect_counts(store, conn, "a certificate deleted");

    /* The rows folded into one per day and factory, and the page still right. */
    assert_int_equal(ca_store_issuance_fold(store, &folded), CL_OK);
    assert_true(folded > 0);
    sql(conn, "SELECT count(*) = count(DISTINCT (day, factory)) FROM issuance_count", sqlstate,
        value, sizeof(value));
    assert_string_equal(value, "t");
    expect_counts(store, conn, "folded");
    assert_int_equal(ca_store_revoke(store, a[10].serial_hex, "stolen", ACTOR), CL_OK);
    expect_counts(store, conn, "revoked after the fold");

    /* The page reads the counts: a row added by hand shows. */
    exec_ok(conn, "INSERT INTO issuance_count VALUES ('2001-02-03', 'nobody', 7, 0, 0)");
    assert_int_equal(ca_store_issuance(store, "2001-01-01", 100000, &rows, &n), CL_OK);
    assert_true(n > 0);
    assert_string_equal(rows[n - 1].day, "2001-02-03");
    assert_string_equal(rows[n - 1].factory, "nobody");
    assert_int_equal(rows[n - 1].issued, 7);
    free(rows);
    exec_ok(conn, "DELETE FROM issuance_count WHERE day = '2001-02-03'");
    expect_counts(store, conn, "sanity undone");

    /* Everything truncated: counted again. */
    exec_ok(conn, "TRUNCATE device_owner");
    expect_counts(store, conn, "owners truncated");
    exec_ok(conn, "TRUNCATE certificate, batch_item");
    expect_counts(store, conn, "certificates truncated");
    sql(conn, "SELECT count(*) FROM issuance_count", sqlstate, value, sizeof(value));
    assert_string_equal(value, "0");

    PQfinish(conn);
    free_numbers(east, 12);
    free_numbers(offline, 4);
    ca_store_close(store);
}

/* The page reads many rows appended since the last fold: it folds them itself. */
static void test_page_folds(void **state)
{
    char conninfo[256], sqlstate[6], value[32];
    struct ca_store *store = fresh_store("issuance_page_folds", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 1);
    struct ca_batch_item items[1];
    PGconn *conn = connect_raw(conninfo);
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "east-1", 1, numbers, 1, items);
    /* 3,000 changes of one certificate, one statement each, as many installations are. */
    exec_ok(conn, "DO $$ BEGIN FOR i IN 1..1500 LOOP"
                  " UPDATE certificate SET state = 'installed', installed_at = now();"
                  " UPDATE certificate SET state = 'issued', installed_at = NULL;"
                  " END LOOP; END $$");
    sql(conn, "SELECT count(*) > 3000 FROM issuance_count", sqlstate, value, sizeof(value));
    assert_string_equal(value, "t");
    expect_counts(store, conn, "many rows");
    sql(conn, "SELECT count(*) FROM issuance_count", sqlstate, value, sizeof(value));
    assert_string_equal(value, "1");
    expect_counts(store, conn, "folded by the page");
    PQfinish(conn);
    free_numbers(numbers, 1);
    ca_store_close(store);
}

/* A session of another time zone gets the same answer, counted from the certificates. */
static void test_other_zone(void **state)
{
    char conninfo[256], other_info[320], err[512];
    struct ca_store *store = fresh_store("issuance_zone", conninfo, sizeof(conninfo)), *other;
    char **numbers = make_numbers("3012", 1, 4);
    struct ca_batch_item items[4];
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "east-1", 1, numbers, 4, items);
    snprintf(other_info, sizeof(other_info), "%s options='-c TimeZone=Pacific/Kiritimati'",
             conninfo);
    conn = connect_raw(other_info);
    exec_ok(conn, "UPDATE certificate SET issued_at = date_trunc('day', now()) + interval '2 hours'"
                  " WHERE device_number IN ('3012-000001', '3012-000002')");
    assert_int_equal(ca_store_open(other_info, &other, err, sizeof(err)), CL_OK);
    expect_since(other, conn, "", "another zone");
    ca_store_close(other);
    PQfinish(conn);
    conn = connect_raw(conninfo);
    expect_counts(store, conn, "the counts' zone");
    PQfinish(conn);
    free_numbers(numbers, 4);
    ca_store_close(store);
}

/* Rows made before migration 11 are counted by it. */
static void test_migration_backfill(void **state)
{
    char conninfo[256], err[512], sqlstate[6];
    struct ca_store *store = fresh_store("issuance_backfill", conninfo, sizeof(conninfo));
    char **east = make_numbers("3012", 1, 6), **offline = make_numbers("4420", 1, 2);
    struct ca_batch_item a[6], b[2], c[2];
    PGconn *conn = connect_raw(conninfo);
    int applied = -1;
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "4420", "p256", 1);
    add_factory(store, "7E01", WEST);
    /* As before migration 11. */
    sql(conn,
        "DROP TABLE issuance_count, issuance_zone; DROP FUNCTION issuance_count_certificate,"
        " issuance_count_owner, issuance_count_truncated, issuance_count_rebuild CASCADE;"
        " DELETE FROM schema_migrations WHERE version = 11",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    issue(store, "east-1", 1, east, 6, a);
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '5 days'"
                  " WHERE device_number IN ('3012-000001', '3012-000002')");
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(install_proven(store, a[i].device_number, a[i].serial_hex, time(NULL)).rc,
                         CL_OK);
    issue_as(store, EAST, "east-2", 2, 1, east + 4, 2, b);
    assert_int_equal(ca_store_revoke(store, a[3].serial_hex, "board scrapped", ACTOR), CL_OK);
    assign(store, east + 4, 1, WEST);
    issue_as(store, "operator:alice", "offline-1", 3, 0, offline, 2, c);

    assert_int_equal(ca_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 1);
    assert_true(expect_since(store, conn, "", "backfill") >= 4);
    expect_counts(store, conn, "backfill");
    /* And kept from then on. */
    assign(store, offline, 2, WEST);
    expect_counts(store, conn, "after the backfill");
    PQfinish(conn);
    free_numbers(east, 6);
    free_numbers(offline, 2);
    ca_store_close(store);
}

/* Marks intents of request id as signed, as the completion does, in conn's open transaction. */
#define SIGN_SQL(id)                                                                               \
    "UPDATE certificate SET state = 'issued', cert_der = '\\x01', pack = 'p',"                     \
    " server_value = repeat('a', 64), issued_at = now() WHERE request_id = '" id "'"

/* Waits for the end of a statement sent with PQsendQuery; fails on an error. */
static void finish_sent(PGconn *conn, const char *what)
{
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("%s: %s", what, PQresultErrorMessage(res));
        PQclear(res);
    }
}

/* Two connections signing at once: neither waits for the other; one commits, one rolls back. */
static void test_two_writers(void **state)
{
    char conninfo[256];
    struct ca_store *store = fresh_store("issuance_two_writers", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 20);
    struct ca_batch_item items[20];
    PGconn *one, *two;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 10, items, CA_BATCH_NEW);
    begin(store, "r-2", 2, 0, CONST_LIST(numbers) + 10, 10, items + 10, CA_BATCH_NEW);
    one = connect_raw(conninfo);
    two = connect_raw(conninfo);
    exec_ok(one, "BEGIN");
    exec_ok(one, SIGN_SQL("r-1"));
    exec_ok(two, "BEGIN");
    exec_ok(two, "SET LOCAL lock_timeout = '10s'"); /* a counter row held by one would stop it */
    exec_ok(two, SIGN_SQL("r-2"));
    exec_ok(one, "COMMIT");
    exec_ok(two, "ROLLBACK");
    expect_counts(store, one, "one committed, one rolled back");
    exec_ok(two, SIGN_SQL("r-2"));
    expect_counts(store, one, "both");
    PQfinish(one);
    PQfinish(two);
    free_numbers(numbers, 20);
    ca_store_close(store);
}

struct issuer {
    struct ca_store *store;
    pthread_barrier_t *barrier;
    const char *requester;
    unsigned first;
};

static void *issue_rounds(void *arg)
{
    struct issuer *w = arg;
    for (unsigned round = 0; round < 6; round++) {
        char **numbers = make_numbers("3012", w->first + round * 25, 25);
        struct ca_batch_item items[25];
        char id[48];
        snprintf(id, sizeof(id), "%s-%u", w->requester, round);
        pthread_barrier_wait(w->barrier);
        issue_as(w->store, w->requester, id, w->first + round, 0, numbers, 25, items);
        free_numbers(numbers, 25);
    }
    return NULL;
}

/* Two ca-server connections issuing batches for two factories at the same moments. */
static void test_concurrent_batches(void **state)
{
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("issuance_concurrent", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    pthread_barrier_t barrier;
    pthread_t t1, t2;
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    pthread_barrier_init(&barrier, NULL, 2);
    struct issuer east = {store, &barrier, EAST, 1000}, west = {other, &barrier, WEST, 5000};
    pthread_create(&t1, NULL, issue_rounds, &east);
    pthread_create(&t2, NULL, issue_rounds, &west);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_barrier_destroy(&barrier);
    conn = connect_raw(conninfo);
    assert_true(expect_since(store, conn, "", "concurrent batches") >= 2);
    expect_counts(store, conn, "concurrent batches");
    PQfinish(conn);
    ca_store_close(other);
    ca_store_close(store);
}

/* An owner change racing a write of the number's certificates, in both orders: the one that
 * comes second waits for the first's commit, and the counts follow the number. */
static void test_owner_change_races(void **state)
{
    char conninfo[256];
    struct ca_store *store = fresh_store("issuance_owner_race", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 3), **offline = make_numbers("4420", 1, 1);
    struct ca_batch_item items[3], off[1];
    PGconn *writer, *owner;
    enum ca_batch_state st;
    char err[512];
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "4420", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 3, items, CA_BATCH_NEW);
    assert_int_equal(begin_as(store, "operator:alice", "offline-1", 2, 0, CONST_LIST(offline), 1,
                              off, &st, err, sizeof(err)),
                     CL_OK);
    writer = connect_raw(conninfo);
    owner = connect_raw(conninfo);

    /* Signed first (not committed), moved meanwhile: the move waits, then moves them. */
    exec_ok(writer, "BEGIN");
    exec_ok(writer, SIGN_SQL("r-1"));
    assert_int_equal(PQsendQuery(owner, "UPDATE device_owner SET factory = 'ct-west'"
                                        " WHERE device_number = '3012-000001'"),
                     1);
    nap_ms(300);
    exec_ok(writer, "COMMIT");
    finish_sent(owner, "the move after the signing");
    expect_counts(store, writer, "signed, then moved");

    /* Moved first (not committed), installed meanwhile: the installation waits, then is
     * counted under the new owner. */
    exec_ok(owner, "BEGIN");
    exec_ok(owner, "UPDATE device_owner SET factory = 'ct-north'"
                   " WHERE device_number = '3012-000002'");
    assert_int_equal(PQsendQuery(writer, "UPDATE certificate SET state = 'installed',"
                                         " installed_at = now()"
                                         " WHERE device_number = '3012-000002'"),
                     1);
    nap_ms(300);
    exec_ok(owner, "COMMIT");
    finish_sent(writer, "the installation after the move");
    expect_counts(store, owner, "moved, then installed");

    /* An unowned number signed (not committed) as it gets its first owner. */
    exec_ok(writer, "BEGIN");
    exec_ok(writer, SIGN_SQL("offline-1"));
    assert_int_equal(PQsendQuery(owner, "INSERT INTO device_owner (device_number, factory,"
                                        " source, detail) VALUES ('4420-000001', 'ct-west',"
                                        " 'operator', 'test')"),
                     1);
    nap_ms(300);
    exec_ok(writer, "COMMIT");
    finish_sent(owner, "the first owner after the signing");
    expect_counts(store, writer, "signed unowned, then owned");

    PQfinish(writer);
    PQfinish(owner);
    free_numbers(numbers, 3);
    free_numbers(offline, 1);
    ca_store_close(store);
}

int ca_store_issuance_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_follow_every_write),
        cmocka_unit_test(test_page_folds),
        cmocka_unit_test(test_other_zone),
        cmocka_unit_test(test_migration_backfill),
        cmocka_unit_test(test_two_writers),
        cmocka_unit_test(test_concurrent_batches),
        cmocka_unit_test(test_owner_change_races),
    };
    return cmocka_run_group_tests_name("ca_store_issuance", tests, NULL, NULL);
}
