/* test_ca_migrations.c: ca-server store migration 11 (issuance counted per factory and day) on a
 * store holding data, as the CA upgrades one: a store left at migration 10, filled through the
 * store's own functions (batches over several days and factories, installations, a replacement,
 * revocations, owner changes, an operator's batch, intents not signed), then migrated: the
 * counts against the test's own book and a count from scratch, the index, triggers and zone, and
 * the triggers keeping the counts on the migrated rows; and the migration as one transaction (a
 * failure part way changes nothing and says why; migrating again succeeds). */
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

#define LATEST 11              /* the newest migration (store/connection.c) */
#define EAST "comm-terminal-1" /* the requester of begin() and issue() */
#define WEST "ct-west"
#define ACTOR "operator:test"

/* One day's and factory's expected counts; day is days before today. */
struct expected {
    int day;
    const char *factory;
    long long issued, installed, revoked;
};

static void exec_ok(PGconn *conn, const char *statement)
{
    char sqlstate[6];
    sql(conn, statement, sqlstate, NULL, 0);
    if (sqlstate[0] != '\0')
        fail_msg("%s: SQLSTATE %s", statement, sqlstate);
}

static long long value_of(PGconn *conn, const char *statement)
{
    char sqlstate[6], value[64];
    sql(conn, statement, sqlstate, value, sizeof(value));
    if (sqlstate[0] != '\0')
        fail_msg("%s: SQLSTATE %s", statement, sqlstate);
    return atoll(value);
}

/* The rows ca_store_issuance reads are those of the book, and those counted from scratch. */
static void expect_issuance(struct ca_store *store, PGconn *conn, const struct expected *book,
                            size_t count, const char *step)
{
    struct ca_issuance_row *rows = NULL;
    size_t n = 0;

    size_t shown = 0;
    for (size_t i = 0; i < count; i++)
        shown += book[i].issued > 0; /* a day and factory with nothing signed is not shown */
    assert_int_equal(ca_store_issuance(store, "", 100000, &rows, &n), CL_OK);
    if (n != shown)
        fail_msg("%s: %zu rows of issuance, the book has %zu", step, n, shown);
    for (size_t i = 0; i < count; i++) {
        char q[640], day[16], scratch[96], counted[96] = "0 0 0", booked[96];
        PGresult *res;

        snprintf(q, sizeof(q), "SELECT to_char(now() - interval '%d days', 'YYYY-MM-DD')",
                 book[i].day);
        res = PQexec(conn, q);
        snprintf(day, sizeof(day), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        snprintf(q, sizeof(q),
                 "SELECT count(*) || ' ' || count(*) FILTER (WHERE c.state = 'installed') || ' ' ||"
                 " count(*) FILTER (WHERE c.state = 'revoked') FROM certificate c"
                 " WHERE c.issued_at IS NOT NULL AND to_char(c.issued_at, 'YYYY-MM-DD') = '%s'"
                 " AND coalesce((SELECT o.factory FROM device_owner o"
                 "  WHERE o.device_number = c.device_number), '') = '%s'",
                 day, book[i].factory);
        res = PQexec(conn, q);
        snprintf(scratch, sizeof(scratch), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        for (size_t j = 0; j < n; j++)
            if (strcmp(rows[j].day, day) == 0 && strcmp(rows[j].factory, book[i].factory) == 0)
                snprintf(counted, sizeof(counted), "%lld %lld %lld", rows[j].issued,
                         rows[j].installed, rows[j].revoked);
        snprintf(booked, sizeof(booked), "%lld %lld %lld", book[i].issued, book[i].installed,
                 book[i].revoked);
        if (strcmp(counted, booked) != 0 || strcmp(scratch, booked) != 0)
            fail_msg("%s: %s, factory '%s': counted %s, from scratch %s, the book %s", step, day,
                     book[i].factory, counted, scratch, booked);
    }
    free(rows);
}

/* Begins a new batch of requester (seed: its body hash); the test fails unless it is new. */
static void batch_as(struct ca_store *store, const char *requester, const char *id, unsigned seed,
                     int replacement, char **numbers, size_t n, struct ca_batch_item *items)
{
    struct {
        enum ca_batch_state state;
        char err[512];
    } got = {.state = CA_BATCH_NEW, .err = ""};
    int rc = begin_as(store, requester, id, seed, replacement, CONST_LIST(numbers), n, items,
                      &got.state, got.err, sizeof(got.err));
    if (rc != CL_OK || got.state != CA_BATCH_NEW)
        fail_msg("begin %s of %s: %s (state %d): %s", id, requester, cl_err_name(rc),
                 (int)got.state, got.err);
}

static void assign(struct ca_store *store, char **numbers, size_t n, const char *factory)
{
    char err[512];
    int rc = ca_store_assign(store, CONST_LIST(numbers), n, factory, ACTOR, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("assign to %s: %s: %s", factory, cl_err_name(rc), err);
}

static void install_ok(struct ca_store *store, const struct ca_batch_item *item)
{
    struct install_result r =
        install_proven(store, item->device_number, item->serial_hex, time(NULL));
    if (r.rc != CL_OK)
        fail_msg("install %s: %s: %s", item->device_number, cl_err_name(r.rc), r.err);
}

/* The store at 10, filled (the book below says what it counts). */
struct filled {
    char **east, **west, **offline, **intents;
    struct ca_batch_item a[12], b[6], c[3], r[2], i[2];
};

static void fill_at_10(struct ca_store *store, PGconn *conn, struct filled *f)
{
    f->east = make_numbers("3012", 1, 12);
    f->west = make_numbers("4420", 1, 6);
    f->offline = make_numbers("4420", 101, 3);
    f->intents = make_numbers("3012", 20, 2);
    add_model(store, "3012", "p256", 1);
    add_model(store, "4420", "rsa2048", 1);
    assert_int_equal(ca_store_service_issued(store, "7E01", "comm-terminal", WEST, "", ACTOR),
                     CL_OK);
    assert_int_equal(ca_store_service_issued(store, "7E02", "comm-terminal", EAST, "", ACTOR),
                     CL_OK);

    /* East: 1-4 signed three days ago, 5-8 yesterday, 9-12 today; 1-6 installed, 2 and 9
     * revoked, 7 and 8 replaced today (the old ones superseded), 3 and 4 moved west. */
    issue(store, "east-1", 1, f->east, 12, f->a);
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '3 days'"
                  " WHERE device_number BETWEEN '3012-000001' AND '3012-000004'");
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '1 day'"
                  " WHERE device_number BETWEEN '3012-000005' AND '3012-000008'");
    for (size_t i = 0; i < 6; i++)
        install_ok(store, &f->a[i]);
    assert_int_equal(ca_store_revoke(store, f->a[1].serial_hex, "board scrapped", ACTOR), CL_OK);
    assert_int_equal(ca_store_revoke(store, f->a[8].serial_hex, "lost", ACTOR), CL_OK);
    batch_as(store, EAST, "east-2", 2, 1, f->east + 6, 2, f->r);
    complete(store, "east-2", f->r, 2);
    assign(store, f->east + 2, 2, WEST);

    /* West: 1-3 two days ago (1 and 2 installed), 4-6 today. */
    batch_as(store, WEST, "west-1", 3, 0, f->west, 6, f->b);
    complete(store, "west-1", f->b, 6);
    exec_ok(conn, "UPDATE certificate SET issued_at = issued_at - interval '2 days'"
                  " WHERE device_number BETWEEN '4420-000001' AND '4420-000003'");
    install_ok(store, &f->b[0]);
    install_ok(store, &f->b[1]);

    /* An operator's offline batch (no owner), and intents never signed (counted nowhere). */
    batch_as(store, "operator:alice", "offline-1", 4, 0, f->offline, 3, f->c);
    complete(store, "offline-1", f->c, 3);
    batch_as(store, EAST, "east-3", 5, 0, f->intents, 2, f->i);
}

static void free_filled(struct filled *f)
{
    free_numbers(f->east, 12);
    free_numbers(f->west, 6);
    free_numbers(f->offline, 3);
    free_numbers(f->intents, 2);
}

static struct expected *find(struct expected *book, size_t n, int day, const char *factory)
{
    for (size_t i = 0; i < n; i++)
        if (book[i].day == day && strcmp(book[i].factory, factory) == 0)
            return &book[i];
    fail_msg("no book entry for day -%d, '%s'", day, factory);
    return book; /* not reached */
}

static void test_data_through_11(void **state)
{
    char conninfo[256], err[512], value[64], sqlstate[6];
    struct ca_store *store = store_at_version("ca_migrate_data", 10, conninfo, sizeof(conninfo));
    PGconn *conn = connect_raw(conninfo);
    struct expected book[] = {
        {3, EAST, 2, 1, 1}, {3, WEST, 2, 2, 0}, {2, WEST, 3, 2, 0}, {1, EAST, 4, 2, 0},
        {1, WEST, 0, 0, 0}, {0, EAST, 6, 0, 1}, {0, WEST, 3, 0, 0}, {0, "", 3, 0, 0},
    };
    size_t nbook = sizeof(book) / sizeof(book[0]);
    char **more = make_numbers("3012", 30, 2);
    struct ca_batch_item items[2];
    struct filled f;
    int applied = -1;
    long folded = 0;
    (void)state;

    fill_at_10(store, conn, &f);
    assert_int_equal(value_of(conn, "SELECT max(version) FROM schema_migrations"), 10);
    assert_int_equal(value_of(conn, "SELECT count(*) FROM pg_class WHERE relname ="
                                    " 'issuance_count'"),
                     0);
    pg_fixture_require(ca_store_migrate(store, &applied, err, sizeof(err)), "migrate", err);
    assert_int_equal(applied, LATEST - 10);
    assert_int_equal(value_of(conn, "SELECT max(version) FROM schema_migrations"), LATEST);

    /* What migration 11 promises: the zone of the session that migrated, its index valid, its
     * triggers enabled, and the counts of every row made before it. */
    sql(conn, "SELECT zone = current_setting('TimeZone') FROM issuance_zone", sqlstate, value,
        sizeof(value));
    assert_string_equal(value, "t");
    assert_int_equal(value_of(conn, "SELECT count(*) FROM issuance_zone"), 1);
    assert_int_equal(value_of(conn, "SELECT count(*) FROM pg_index i JOIN pg_class c"
                                    " ON c.oid = i.indexrelid WHERE c.relname IN"
                                    " ('issuance_count_day', 'certificate_number_bytes',"
                                    " 'certificate_serial_bytes', 'certificate_created_at')"
                                    " AND i.indisvalid AND i.indisready AND i.indislive"),
                     4);
    assert_int_equal(value_of(conn, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
                                    " AND tgenabled = 'O' AND tgname LIKE 'issuance_count_%'"),
                     8);
    expect_issuance(store, conn, book, nbook, "migrated");

    /* The triggers on the migrated rows: one installed, one revoked, one moved west, a new
     * batch signed, the intents signed at last; then folded. */
    install_ok(store, &f.a[9]);
    find(book, nbook, 0, EAST)->installed++;
    assert_int_equal(ca_store_revoke(store, f.b[0].serial_hex, "stolen", ACTOR), CL_OK);
    find(book, nbook, 2, WEST)->installed--;
    find(book, nbook, 2, WEST)->revoked++;
    assign(store, f.east + 4, 1, WEST);
    find(book, nbook, 1, EAST)->issued--;
    find(book, nbook, 1, EAST)->installed--;
    find(book, nbook, 1, WEST)->issued++;
    find(book, nbook, 1, WEST)->installed++;
    expect_issuance(store, conn, book, nbook, "installed, revoked, moved");
    batch_as(store, EAST, "east-4", 6, 0, more, 2, items);
    complete(store, "east-4", items, 2);
    complete(store, "east-3", f.i, 2);
    find(book, nbook, 0, EAST)->issued += 4;
    expect_issuance(store, conn, book, nbook, "signed after the migration");
    assert_int_equal(ca_store_issuance_fold(store, &folded), CL_OK);
    assert_true(folded > 0);
    expect_issuance(store, conn, book, nbook, "folded");
    PQfinish(conn);
    free_numbers(more, 2);
    free_filled(&f);
    ca_store_close(store);
}

/* What a store holds, as one digest (equal digests: nothing changed). */
static void digest_of(PGconn *conn, char *out, size_t len)
{
    char sqlstate[6];
    sql(conn,
        "SELECT md5(concat_ws('/', (SELECT string_agg(t::text, '|' ORDER BY t::text)"
        " FROM certificate t), (SELECT string_agg(t::text, '|' ORDER BY t::text)"
        " FROM device_owner t), (SELECT string_agg(t::text, '|' ORDER BY t::text)"
        " FROM batch_request t), (SELECT string_agg(t::text, '|' ORDER BY t::text)"
        " FROM schema_migrations t)))",
        sqlstate, out, len);
    assert_string_equal(sqlstate, "");
}

/* Migration 11 failing at its second-to-last statement (a trigger of the name it creates there,
 * made beforehand): none of its tables, functions or triggers stays, the data is as it was, the
 * error says which migration and why, the store goes on at 10; the cause removed, it applies and
 * counts what was signed meanwhile too. */
static void test_failure_leaves_store_unchanged(void **state)
{
    char conninfo[256], err[512], before[40], after[40];
    struct ca_store *store = store_at_version("ca_migrate_fail", 10, conninfo, sizeof(conninfo));
    PGconn *conn = connect_raw(conninfo);
    char **late = make_numbers("3012", 40, 2);
    struct ca_batch_item items[2];
    struct filled f;
    int applied = -1;
    (void)state;

    fill_at_10(store, conn, &f);
    exec_ok(conn, "CREATE FUNCTION test_nothing() RETURNS trigger LANGUAGE plpgsql"
                  " AS $$ BEGIN RETURN NULL; END $$");
    exec_ok(conn, "CREATE TRIGGER issuance_count_truncate AFTER TRUNCATE ON device_owner"
                  " FOR EACH STATEMENT EXECUTE FUNCTION test_nothing()");
    digest_of(conn, before, sizeof(before));
    assert_int_equal(ca_store_migrate(store, &applied, err, sizeof(err)), CL_ERR_DB);
    assert_int_equal(applied, 0);
    assert_contains(err, "trigger \"issuance_count_truncate\" for relation \"device_owner\""
                         " already exists");
    assert_contains(err, "(migration 11, issuance counted per factory and day)");
    assert_int_equal(value_of(conn, "SELECT max(version) FROM schema_migrations"), 10);
    assert_int_equal(value_of(conn, "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE"
                                    " 'issuance_%') + (SELECT count(*) FROM pg_proc WHERE"
                                    " proname LIKE 'issuance_count_%') + (SELECT count(*)"
                                    " FROM pg_trigger WHERE tgname LIKE 'issuance_count_%')"),
                     1); /* the test's own trigger */
    digest_of(conn, after, sizeof(after));
    assert_string_equal(before, after);
    batch_as(store, EAST, "late-1", 7, 0, late, 2, items); /* the store works on at 10 */
    complete(store, "late-1", items, 2);

    exec_ok(conn, "DROP TRIGGER issuance_count_truncate ON device_owner");
    pg_fixture_require(ca_store_migrate(store, &applied, err, sizeof(err)), "migrate", err);
    assert_int_equal(applied, 1);
    assert_int_equal(value_of(conn, "SELECT max(version) FROM schema_migrations"), LATEST);
    assert_int_equal(
        value_of(conn, "SELECT sum(issued) FROM issuance_count"),
        value_of(conn, "SELECT count(*) FROM certificate WHERE issued_at IS NOT NULL"));
    assert_int_equal(value_of(conn, "SELECT sum(issued) FROM issuance_count"), 25);
    PQfinish(conn);
    free_numbers(late, 2);
    free_filled(&f);
    ca_store_close(store);
}

static int ca_migrations_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_through_11),
        cmocka_unit_test(test_failure_leaves_store_unchanged),
    };
    return cmocka_run_group_tests_name("ca_store migrations with data", tests, NULL, NULL);
}

int main(void)
{
    static const pg_fixture_group groups[] = {ca_migrations_tests};
    return pg_fixture_run_groups(groups, sizeof(groups) / sizeof(groups[0]));
}
