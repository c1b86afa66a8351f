/* test_rejections.c: comm-terminal store, a rejected installation report stays open (counted by
 * status and Today) until its device's replacement is written, closed in that write's own
 * transaction; migration 10 closes the rejections answered before it. */
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

/* The status's rejected count of model 3012 on day. */
static long rejected_open(struct ct_store *store, const char *day)
{
    struct ct_model_status *status = NULL;
    size_t count = 0;
    long n;
    assert_int_equal(ct_store_status(store, day, &status, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(status[0].model_code, "3012");
    n = status[0].rejected;
    free(status);
    return n;
}

/* The queued report of number rejected by ca-server. */
static void reject_queued(struct ct_store *store, const char *number)
{
    struct ct_report *reports = NULL;
    size_t count = 0;
    long long id = 0;

    assert_int_equal(ct_store_reports_due(store, time(NULL) + 1, 100, &reports, &count), CL_OK);
    for (size_t i = 0; i < count; i++)
        if (strcmp(reports[i].device_number, number) == 0)
            id = reports[i].id;
    free(reports);
    assert_true(id > 0);
    assert_int_equal(ct_store_report_reject(store, id, "Installation proof rejected"), CL_OK);
}

/* number written (serial from its claim by line) and its report rejected by ca-server. */
static void write_and_reject(struct ct_store *store, const char *number, const char *line)
{
    char err[512], serial[CT_SERIAL_HEX_MAX + 1];

    free(claim(store, number, line, 120, serial));
    assert_int_equal(written(store, number, line, serial, err, sizeof(err)), CL_OK);
    reject_queued(store, number);
}

static void test_open_until_replacement_written(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("rejections", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *numbers[] = {"3012-000001", "3012-000002"};
    (void)state;

    day_of(time(NULL), today);
    plan_and_fetch(store, today, 2, numbers, 2);
    write_and_reject(store, numbers[0], "1001");
    free(claim(store, numbers[1], "1001", 120, serial));
    assert_int_equal(written(store, numbers[1], "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(rejected_open(store, today), 1);

    /* The replacement pack arrives: still awaited until it is written. */
    fetch(store, "req-repl-1", today, 1, numbers, 1, 2);
    assert_int_equal(rejected_open(store, today), 1);

    /* The replacement's write fails on the line (S11 NG): still open. */
    free(claim(store, numbers[0], "1002", 120, serial));
    assert_int_equal(ct_store_failed(store, numbers[0], "1002", "WRITE_FAILED", err, sizeof(err)),
                     CL_OK);
    assert_int_equal(rejected_open(store, today), 1);

    /* The next replacement: a write result refused (another serial) closes nothing. */
    fetch(store, "req-repl-2", today, 1, numbers, 1, 3);
    free(claim(store, numbers[0], "1003", 120, serial));
    assert_int_equal(written(store, numbers[0], "1003", "0A0B0C", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(rejected_open(store, today), 1);

    /* A write result whose transaction fails after its report is queued: the closing is undone
     * with the write (the same transaction), so the rejection is neither lost nor written. */
    sql_value(conn, "ALTER TABLE report ADD CONSTRAINT test_no_close CHECK (closed_at IS NULL)"
                    " NOT VALID");
    assert_int_not_equal(written(store, numbers[0], "1003", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(rejected_open(store, today), 1);
    assert_string_equal(row_of(store, numbers[0]).state, "replaced");
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report WHERE device_number ="
                                     " '3012-000001'"),
                     1);
    sql_value(conn, "ALTER TABLE report DROP CONSTRAINT test_no_close");

    /* Written: closed in the write's transaction, the other reports untouched. */
    assert_int_equal(written(store, numbers[0], "1003", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(rejected_open(store, today), 0);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report WHERE closed_at IS NOT NULL"
                                     " AND state = 'rejected' AND device_number = '3012-000001'"
                                     " AND closed_at = (SELECT created_at FROM report"
                                     "  WHERE state = 'queued' AND device_number = '3012-000001')"),
                     1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report WHERE closed_at IS NOT NULL"), 1);
    /* The listing shows the newest report (the replacement's, queued). */
    assert_string_equal(row_of(store, numbers[0]).report, "queued");

    /* Rejected again (the replacement too): open again, until its own replacement. */
    reject_queued(store, numbers[1]);
    assert_int_equal(rejected_open(store, today), 1);
    PQfinish(conn);
    ct_store_close(store);
}

/* A store as before migration 10: rejected reports, every one open, and its index of them. */
static void undo_migration_10(PGconn *conn)
{
    sql_value(conn, "DROP INDEX report_rejected_open");
    sql_value(conn, "ALTER TABLE report DROP CONSTRAINT report_closed");
    sql_value(conn, "ALTER TABLE report DROP COLUMN closed_at");
    sql_value(conn, "CREATE INDEX report_rejected ON report (device_number)"
                    " WHERE state = 'rejected'");
    sql_value(conn, "DELETE FROM schema_migrations WHERE version = 10");
}

static void test_migration_closes_answered(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("rejections_migration", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    int applied = -1;
    (void)state;

    /* 1: rejected, replaced and written; 2: rejected, its replacement fetched, not written;
     * 3: rejected, no replacement yet. */
    day_of(time(NULL), today);
    plan_and_fetch(store, today, 3, numbers, 3);
    for (size_t i = 0; i < 3; i++)
        write_and_reject(store, numbers[i], "1001");
    fetch(store, "req-repl", today, 1, numbers, 2, 2);
    free(claim(store, numbers[0], "1002", 120, serial));
    assert_int_equal(written(store, numbers[0], "1002", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(rejected_open(store, today), 2);

    undo_migration_10(conn);
    assert_int_equal(ct_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 1);
    assert_int_equal(rejected_open(store, today), 2);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report r WHERE state = 'rejected'"
                                     " AND closed_at IS NOT NULL AND device_number = '3012-000001'"
                                     " AND closed_at = (SELECT created_at FROM report x"
                                     "  WHERE x.device_number = r.device_number AND x.id > r.id)"),
                     1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report WHERE closed_at IS NULL"
                                     " AND state = 'rejected'"),
                     2);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                                     " ('report_rejected_open', 'report_rejected')"),
                     1);

    /* Written from here on: the migrated store closes them as a new one does. */
    free(claim(store, numbers[1], "1002", 120, serial));
    assert_int_equal(written(store, numbers[1], "1002", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(rejected_open(store, today), 1);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_rejections_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_until_replacement_written),
        cmocka_unit_test(test_migration_closes_answered),
    };
    return cmocka_run_group_tests_name("ct_store rejections", tests, NULL, NULL);
}
