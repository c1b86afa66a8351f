/* test_ct_migration_steps.c: comm-terminal store migrations 11 to 13 as steps: each one
 * transaction (a failure part way leaves the store as it was, with a clear error, and migrating
 * again after the cause is gone succeeds); a certificate written by a comm-terminal still serving
 * while migration 11 runs keeps its planned number's flag right (migration 13); and the time the
 * backfill takes at 200,000 planned numbers, printed. */
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

#include "ct_store.h"
#include "ct_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"

#define LATEST 13 /* the newest migration (schema.c) */

/* What a store holds, as one digest per table (equal digests: nothing changed). */
static void digest_of(PGconn *conn, char *out, size_t len)
{
    sql_text(conn,
             "SELECT md5(concat_ws('/', (SELECT string_agg(t::text, '|' ORDER BY t::text)"
             " FROM plan_device t), (SELECT string_agg(t::text, '|' ORDER BY t::text)"
             " FROM certificate t), (SELECT string_agg(t::text, '|' ORDER BY t::text)"
             " FROM report t), (SELECT string_agg(t::text, '|' ORDER BY t::text) FROM plan t),"
             " (SELECT string_agg(t::text, '|' ORDER BY t::text) FROM schema_migrations t)))",
             out, len);
}

/* A small day at 10: four planned today, three fetched, one written, one delivered. */
static void small_day(struct ct_store *store, const char *today)
{
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    char err[512], serial[CT_SERIAL_HEX_MAX + 1];
    assert_int_equal(plan_and_fetch(store, today, 4, numbers, 3), 4);
    free(claim(store, numbers[0], "1001", 120, serial));
    assert_int_equal(written(store, numbers[0], "1001", serial, err, sizeof(err)), CL_OK);
    free(claim(store, numbers[1], "1001", 120, serial));
    assert_int_equal(ct_store_delivered(store, numbers[1], "1001", err, sizeof(err)), CL_OK);
}

static long long objects_of_11(PGconn *conn)
{
    return sql_value(conn, "SELECT (SELECT count(*) FROM information_schema.columns"
                           "  WHERE table_name = 'plan_device' AND column_name = 'written')"
                           " + (SELECT count(*) FROM pg_proc WHERE proname IN"
                           "  ('plan_device_written', 'plan_device_planned'))"
                           " + (SELECT count(*) FROM pg_trigger WHERE tgname IN"
                           "  ('certificate_written_planned', 'certificate_written_changed',"
                           "  'certificate_written_deleted', 'plan_device_planned'))"
                           " + (SELECT count(*) FROM pg_class WHERE relname = 'plan_device_open')");
}

/* Migration 11 failing at its second-to-last statement (a relation of the name of the index it
 * creates there, made beforehand): nothing of it stays, the data is as it was, the error says
 * which migration and why; then 12 failing leaves 11 applied. Each cause removed, the rest
 * applies. */
static void test_failure_leaves_store_unchanged(void **state)
{
    char conninfo[256], err[512], today[11], before[40], after[40];
    struct ct_store *store = store_at_version("migrate_fail", 10, conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    int applied = -1;
    (void)state;

    day_of(time(NULL), today);
    small_day(store, today);
    assert_int_equal(sql_value(conn, "CREATE TABLE report_done_written (x integer)"), 0);
    digest_of(conn, before, sizeof(before));
    assert_int_equal(ct_store_migrate(store, &applied, err, sizeof(err)), CL_ERR_DB);
    assert_int_equal(applied, 0);
    assert_contains(err, "\"report_done_written\" already exists");
    assert_contains(err, "(migration 11, each planned number's written state");
    assert_int_equal(schema_version(conn), 10);
    assert_int_equal(objects_of_11(conn), 0);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM pg_class WHERE relname ="
                                     " 'report_done_day'"),
                     1);
    digest_of(conn, after, sizeof(after));
    assert_string_equal(before, after);
    /* The store still works at 10 (the connection is not left in a failed transaction). */
    char serial[CT_SERIAL_HEX_MAX + 1];
    free(claim(store, "3012-000003", "1002", 120, serial));
    assert_int_equal(written(store, "3012-000003", "1002", serial, err, sizeof(err)), CL_OK);

    /* 12 failing after 11: 11 stays applied, 12 not. */
    sql_value(conn, "DROP TABLE report_done_written");
    assert_int_equal(sql_value(conn, "CREATE TABLE audit_log_at (x integer)"), 0);
    assert_int_equal(ct_store_migrate(store, &applied, err, sizeof(err)), CL_ERR_DB);
    assert_int_equal(applied, 1);
    assert_contains(err, "\"audit_log_at\" already exists");
    assert_contains(err, "(migration 12, ");
    assert_int_equal(schema_version(conn), 11);
    assert_int_equal(objects_of_11(conn), 8);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM pg_class WHERE relname ="
                                     " 'certificate_line_written'"),
                     0);
    assert_int_equal(plan_flags_wrong(conn), 0);

    sql_value(conn, "DROP TABLE audit_log_at");
    pg_fixture_require(ct_store_migrate(store, &applied, err, sizeof(err)), "migrate", err);
    assert_int_equal(applied, LATEST - 11);
    assert_int_equal(schema_version(conn), LATEST);
    assert_int_equal(plan_flags_wrong(conn), 0);
    assert_int_equal(open_from_scratch(conn, today, "3012"), 2);
    expect_status_from_scratch(store, conn, today);
    PQfinish(conn);
    ct_store_close(store);
}

struct migration_run {
    struct ct_store *store;
    int rc, applied;
    char err[512];
};

static void *migrate_in_thread(void *arg)
{
    struct migration_run *run = arg;
    run->rc = ct_store_migrate(run->store, &run->applied, run->err, sizeof(run->err));
    return NULL;
}

/* A comm-terminal still serving while `migrate` runs: its S11 OK of 3012-000002 commits while
 * migration 11 waits to create its triggers on certificate, after its backfill read the
 * certificates. Migration 11 alone leaves that number's flag unset for good (Today counts it as
 * open); migration 13 derives every flag again with the writers held off. */
static void test_write_during_migration(void **state)
{
    char conninfo[256], today[11];
    struct ct_store *store = store_at_version("migrate_race", 10, conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo), *line = pg_fixture_connect(conninfo);
    struct migration_run run = {.store = store, .rc = -1};
    pthread_t thread;
    int waited = 0;
    (void)state;

    day_of(time(NULL), today);
    small_day(store, today);
    /* The older comm-terminal's write, in flight (the certificate row locked, not committed). */
    sql_value(line, "BEGIN");
    assert_int_equal(sql_value(line, "WITH u AS (UPDATE certificate SET state = 'written',"
                                     " write_flag = 1, written_at = now()"
                                     " WHERE device_number = '3012-000002' RETURNING 1)"
                                     " SELECT count(*) FROM u"),
                     1);
    assert_int_equal(pthread_create(&thread, NULL, migrate_in_thread, &run), 0);
    for (int i = 0; i < 3000 && !waited; i++) {
        waited = sql_value(conn, "SELECT count(*) FROM pg_locks l JOIN pg_class c"
                                 " ON c.oid = l.relation WHERE c.relname = 'certificate'"
                                 " AND NOT l.granted") > 0;
        if (!waited)
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    sql_value(line, "COMMIT");
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (!waited)
        fail_msg("the migration never waited for the write in flight");
    if (run.rc != CL_OK)
        fail_msg("migrate: %s: %s", cl_err_name(run.rc), run.err);
    assert_int_equal(run.applied, LATEST - 10);
    if (plan_flags_wrong(conn) != 0)
        fail_msg("%lld planned number(s) carry a wrong written flag after a write committed"
                 " during migration 11",
                 plan_flags_wrong(conn));
    assert_int_equal(open_from_scratch(conn, today, "3012"), 2);
    expect_status_from_scratch(store, conn, today);
    PQfinish(line);
    PQfinish(conn);
    ct_store_close(store);
}

/* Sends statement on conn without waiting for it. */
static void send_async(PGconn *conn, const char *statement)
{
    if (!PQsendQuery(conn, statement))
        fail_msg("%s: %s", statement, PQerrorMessage(conn));
}

/* Waits until the statement sent on conn has ended (0) or waits for a lock (1), as monitor sees
 * it; the test fails if neither happens within 10 s. */
static int blocked_or_done(PGconn *monitor, PGconn *conn)
{
    char q[128];
    snprintf(q, sizeof(q), "SELECT count(*) FROM pg_locks WHERE pid = %d AND NOT granted",
             PQbackendPID(conn));
    for (int i = 0; i < 1000; i++) {
        if (!PQconsumeInput(conn))
            fail_msg("%s", PQerrorMessage(conn));
        if (!PQisBusy(conn))
            return 0;
        if (sql_value(monitor, q) > 0)
            return 1;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    fail_msg("a statement neither ended nor waited for a lock within 10 s");
    return -1;
}

/* Collects what the statement sent on conn answered; the test fails on an error. */
static void finish_async(PGconn *conn)
{
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("%s", PQresultErrorMessage(res));
        PQclear(res);
    }
}

/* A number planned while its certificate (fetched ahead of the plan, as a manual entry with an
 * override does) is written on a line: whichever of the two commits first, the flag ends right
 * (migration 13: the plan's trigger reads the certificate FOR SHARE). A plan imported again
 * (the numbers planned already) locks no certificate: a line's write does not wait for it. */
static void test_planned_while_written(void **state)
{
    char conninfo[256], today[11], q[512], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("migrate_plan_race", conninfo, sizeof(conninfo));
    PGconn *monitor = pg_fixture_connect(conninfo), *plan = pg_fixture_connect(conninfo),
           *line = pg_fixture_connect(conninfo);
    const char *numbers[] = {"3012-000050", "3012-000051", "3012-000052"};
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    fetch(store, "req-ahead", today, 0, numbers, 3, 1);
    for (size_t i = 0; i < 3; i++) {
        free(claim(store, numbers[i], "1001", 120, serial));
        assert_int_equal(ct_store_delivered(store, numbers[i], "1001", err, sizeof(err)), CL_OK);
    }
    snprintf(q, sizeof(q), "INSERT INTO plan (model_code, day, units) VALUES ('3012', '%s', 3)",
             today);
    sql_value(monitor, q);

    /* The write first, in flight while the number is planned. */
    sql_value(line, "BEGIN");
    sql_value(line, "UPDATE certificate SET state = 'written', write_flag = 1,"
                    " written_at = now() WHERE device_number = '3012-000050'");
    snprintf(q, sizeof(q),
             "INSERT INTO plan_device (device_number, model_code, day)"
             " VALUES ('3012-000050', '3012', '%s')",
             today);
    send_async(plan, q);
    blocked_or_done(monitor, plan);
    sql_value(line, "COMMIT");
    finish_async(plan);
    if (plan_flags_wrong(monitor) != 0)
        fail_msg("planned while its write was in flight: the flag is wrong");

    /* The plan first, in flight while the certificate is written. */
    sql_value(plan, "BEGIN");
    snprintf(q, sizeof(q),
             "INSERT INTO plan_device (device_number, model_code, day)"
             " VALUES ('3012-000051', '3012', '%s'), ('3012-000052', '3012', '%s')",
             today, today);
    sql_value(plan, q);
    send_async(line, "UPDATE certificate SET state = 'written', write_flag = 1,"
                     " written_at = now() WHERE device_number = '3012-000051'");
    blocked_or_done(monitor, line);
    sql_value(plan, "COMMIT");
    finish_async(line);
    if (plan_flags_wrong(monitor) != 0)
        fail_msg("written while its number's plan was in flight: the flag is wrong");

    /* Imported again: no certificate locked, the line's write goes through at once. */
    sql_value(plan, "BEGIN");
    snprintf(q, sizeof(q),
             "INSERT INTO plan_device (device_number, model_code, day) VALUES"
             " ('3012-000050', '3012', '%s'), ('3012-000052', '3012', '%s')"
             " ON CONFLICT (device_number) DO NOTHING",
             today, today);
    sql_value(plan, q);
    send_async(line, "UPDATE certificate SET state = 'written', write_flag = 1,"
                     " written_at = now() WHERE device_number = '3012-000052'");
    assert_int_equal(blocked_or_done(monitor, line), 0);
    finish_async(line);
    sql_value(plan, "COMMIT");
    assert_int_equal(plan_flags_wrong(monitor), 0);
    assert_int_equal(open_from_scratch(monitor, today, "3012"), 0);
    expect_status_from_scratch(store, monitor, today);
    PQfinish(line);
    PQfinish(plan);
    PQfinish(monitor);
    ct_store_close(store);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Applies the migrations up to last, one more than the store has, and prints how long it took. */
static void timed_step(struct ct_store *store, int last, long long planned, long long written)
{
    struct timespec start;
    char err[512];
    int applied = -1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pg_fixture_require(ct_store_migrate_upto(store, last, &applied, err, sizeof(err)), "migrate",
                       err);
    assert_int_equal(applied, 1);
    printf("comm-terminal migration %d on %lld planned numbers (%lld written): %.2f s\n", last,
           planned, written, seconds_since(&start));
    fflush(stdout);
}

/* The planned numbers' certificates at 10, by SQL of that schema: of every 20 numbers 2 without
 * one, 2 held, 1 delivered, 1 failed (its report rejected), 1 replaced, 1 pack deleted unwritten,
 * 12 written (one of them with its pack deleted), half the written with a receipt. */
static const char *const SCALE_FILL[] = {
    "INSERT INTO fetch_request (request_id, day, replacement, item_count, state, ended_at)"
    " SELECT 'bulk-' || day, day, false, 1000, 'completed', now()"
    " FROM (SELECT DISTINCT day FROM plan_device) d",
    "INSERT INTO certificate (device_number, model_code, serial, pack, state, write_flag,"
    " request_id, claimed_by_line, claimed_at, delivered_at, written_at, failed_at, fail_reason,"
    " replaced_at, pack_deleted_at, scanned_at, line_ms)"
    " SELECT device_number, model_code, upper(substr(md5(device_number), 1, 16)),"
    " CASE WHEN k IN (7, 19) THEN NULL ELSE 'pack' END,"
    " CASE WHEN k < 4 THEN 'stored' WHEN k = 4 THEN 'delivered' WHEN k = 5 THEN 'failed'"
    "  WHEN k = 6 THEN 'replaced' WHEN k = 7 THEN 'stored' ELSE 'written' END,"
    " CASE WHEN k >= 8 THEN 1 ELSE 0 END, 'bulk-' || day,"
    " CASE WHEN k >= 4 AND k <> 7 THEN 'L' || (k % 8) END,"
    " CASE WHEN k >= 4 AND k <> 7 THEN t END, CASE WHEN k >= 4 AND k <> 7 THEN t END,"
    " CASE WHEN k >= 8 THEN t END, CASE WHEN k = 5 THEN t END,"
    " CASE WHEN k = 5 THEN 'NG' END, CASE WHEN k = 6 THEN t END,"
    " CASE WHEN k IN (7, 19) THEN t END, CASE WHEN k >= 4 THEN t END,"
    " CASE WHEN k >= 8 THEN 900 + k END"
    " FROM (SELECT device_number, model_code, day,"
    "  split_part(device_number, '-', 2)::int % 20 AS k,"
    "  day + interval '8 hours' + split_part(device_number, '-', 2)::int % 36000"
    "   * interval '1 second' AS t FROM plan_device) p WHERE k >= 2",
    "INSERT INTO report (device_number, serial, proof, written_at, state, next_attempt,"
    " received_at, signature, signer_pem, rejected_at, reject_reason)"
    " SELECT device_number, serial, md5(device_number) || md5(serial),"
    " coalesce(written_at, failed_at), CASE WHEN state = 'failed' THEN 'rejected'"
    "  WHEN line_ms % 2 = 0 THEN 'done' ELSE 'queued' END, now(),"
    " CASE WHEN line_ms % 2 = 0 THEN written_at + interval '1 minute' END,"
    " CASE WHEN line_ms % 2 = 0 THEN 'c2ln' END, CASE WHEN line_ms % 2 = 0 THEN 'pem' END,"
    " CASE WHEN state = 'failed' THEN failed_at END,"
    " CASE WHEN state = 'failed' THEN 'proof does not match' END"
    " FROM certificate WHERE state IN ('written', 'failed')",
    "ANALYZE",
};

/* 200,000 planned numbers over ten days, two models: migrations 11, 12 and 13 timed (printed,
 * not asserted), the flags and Today's counts checked after 11 and after 13. */
static void test_backfill_at_scale(void **state)
{
    char conninfo[256], days[10][11];
    struct ct_store *store = store_at_version("migrate_scale", 10, conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_plan_entry entries[20];
    time_t now = time(NULL);
    long long planned, written;
    (void)state;

    model(store, "3012", 1);
    model(store, "4420", 1);
    for (int d = 0; d < 10; d++) {
        day_of(now - (time_t)(9 - d) * 86400, days[d]);
        entries[2 * d] = entry("3012", days[d], 10000, d * 10000 + 1);
        entries[2 * d + 1] = entry("4420", days[d], 10000, d * 10000 + 1);
    }
    assert_int_equal(import(store, entries, 20), 200000);
    for (size_t i = 0; i < sizeof(SCALE_FILL) / sizeof(SCALE_FILL[0]); i++)
        sql_value(conn, SCALE_FILL[i]);
    planned = sql_value(conn, "SELECT count(*) FROM plan_device");
    written = sql_value(conn, "SELECT count(*) FROM certificate WHERE state = 'written'");
    assert_int_equal(planned, 200000);
    assert_int_equal(written, 120000);

    timed_step(store, 11, planned, written);
    assert_int_equal(plan_flags_wrong(conn), 0);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device WHERE written"), written);
    expect_status_from_scratch(store, conn, days[9]);
    expect_status_from_scratch(store, conn, days[3]);
    timed_step(store, 12, planned, written);
    timed_step(store, 13, planned, written);
    assert_int_equal(plan_flags_wrong(conn), 0);
    assert_int_equal(open_from_scratch(conn, days[9], "4420"), 4000);
    expect_status_from_scratch(store, conn, days[9]);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_migrations_steps_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failure_leaves_store_unchanged),
        cmocka_unit_test(test_write_during_migration),
        cmocka_unit_test(test_planned_while_written),
        cmocka_unit_test(test_backfill_at_scale),
    };
    return cmocka_run_group_tests_name("ct_store migration steps", tests, NULL, NULL);
}
