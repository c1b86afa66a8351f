/* test_retirements.c: comm-terminal store, no certificate in limbo: a rejected installation report
 * (final, the device provisioned again) and packs deleted unwritten queued for retirement
 * (delete-model, stock past its retention) with their outcomes. */
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

static void exec_ok(PGconn *conn, const char *statement)
{
    PGresult *res = PQexec(conn, statement);
    assert_true(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK);
    PQclear(res);
}

static void test_report_rejected(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("rejected", conninfo, sizeof(conninfo));
    struct ct_report *reports = NULL;
    struct ct_model_status *status = NULL;
    size_t count = 0;
    time_t now = time(NULL);
    (void)state;

    day_of(now, today);
    const char *numbers[] = {"3012-000001"};
    plan_and_fetch(store, today, 1, numbers, 1);
    free(claim(store, numbers[0], "1001", 120, serial));
    assert_int_equal(written(store, numbers[0], "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(ct_store_reports_due(store, now + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 1);
    long long id = reports[0].id;
    free(reports);

    /* Rejected: final (not due again, no retry, no second rejection), shown with the reason. */
    assert_int_equal(ct_store_report_reject(store, id, "certificate 01 is revoked"), CL_OK);
    assert_int_equal(ct_store_reports_due(store, now + 3600, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 0);
    free(reports);
    assert_int_equal(ct_store_report_retry(store, id, now + 60, "again"), CL_ERR_STATE);
    assert_int_equal(ct_store_report_reject(store, id, "again"), CL_ERR_STATE);
    struct ct_cert_row row = row_of(store, numbers[0]);
    assert_string_equal(row.state, "failed");
    assert_int_equal(row.write_flag, 0);
    assert_string_equal(row.report, "rejected");
    assert_string_equal(row.report_reason, "certificate 01 is revoked");
    assert_int_equal(ct_store_status(store, today, &status, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(status[0].rejected, 1);
    assert_int_equal(status[0].awaiting_receipt, 0);
    free(status);

    /* The device number is provisioned again: a replacement, then written and reported. */
    assert_int_equal(ct_store_awaits_replacement(store, numbers[0]), 1);
    fetch(store, "req-repl", today, 1, numbers, 1, 2);
    char again[CT_SERIAL_HEX_MAX + 1];
    free(claim(store, numbers[0], "1002", 120, again));
    assert_string_not_equal(again, serial);
    assert_int_equal(written(store, numbers[0], "1002", again, err, sizeof(err)), CL_OK);
    assert_int_equal(ct_store_reports_due(store, now + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(reports[0].serial_hex, again);
    free(reports);
    assert_int_equal(ct_store_status(store, today, &status, &count), CL_OK);
    assert_int_equal(status[0].rejected, 0);
    free(status);
    ct_store_close(store);
}

static void test_retirements(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("retire", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_retirement *rows = NULL;
    size_t count = 0, deleted = 0, expired = 0;
    time_t now = time(NULL);
    (void)state;

    day_of(now, today);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    plan_and_fetch(store, today, 3, numbers, 3);
    free(claim(store, numbers[0], "1001", 120, serial));
    assert_int_equal(written(store, numbers[0], "1001", serial, err, sizeof(err)), CL_OK);

    /* Stock past its retention: deleted and queued (EXPIRED_STOCK); written ones stay. */
    assert_int_equal(ct_store_expire_stock(store, 30, &expired), CL_OK);
    assert_int_equal(expired, 0);
    exec_ok(conn, "UPDATE certificate SET created_at = now() - interval '31 days'"
                  " WHERE device_number = '3012-000002'");
    assert_int_equal(ct_store_expire_stock(store, 30, &expired), CL_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(row_of(store, numbers[1]).pack_held, 0);
    assert_int_equal(row_of(store, numbers[0]).pack_held, 1);

    /* delete-model: the other unwritten pack queued (DISCONTINUED) in the same transaction. */
    assert_int_equal(ct_store_delete_model_packs(store, "3012", ACTOR, &deleted), CL_OK);
    now = time(NULL); /* both queued by now, however slow the set-up was */
    assert_int_equal(ct_store_retirements_due(store, now + 1, 10, &rows, &count), CL_OK);
    assert_int_equal(count, 1); /* one reason per call: the oldest first */
    assert_string_equal(rows[0].device_number, numbers[1]);
    assert_int_equal(rows[0].discontinued, 0);

    /* ca-server away: kept queued until the next attempt. */
    assert_int_equal(ct_store_retirement_outcome(store, rows, 1, CT_RETIRE_LATER, now + 60, "away"),
                     CL_OK);
    free(rows);
    assert_int_equal(ct_store_retirements_due(store, now + 1, 10, &rows, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].device_number, numbers[2]);
    assert_int_equal(rows[0].discontinued, 1);
    assert_int_equal(ct_store_retirement_outcome(store, rows, 1, CT_RETIRED, 0, NULL), CL_OK);
    free(rows);
    assert_int_equal(ct_store_retirements_due(store, now + 61, 10, &rows, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(rows[0].attempts, 1);
    assert_int_equal(ct_store_retirement_outcome(store, rows, 1, CT_RETIRE_REFUSED, 0, "installed"),
                     CL_OK);
    free(rows);
    assert_int_equal(ct_store_retirements_due(store, now + 3600, 10, &rows, &count), CL_OK);
    assert_int_equal(count, 0);
    free(rows);
    PGresult *res = PQexec(conn, "SELECT string_agg(state || ':' || coalesce(last_error, '-'),"
                                 " ',' ORDER BY device_number) FROM retirement");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(res, 0, 0), "refused:installed,done:-");
    PQclear(res);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_retirements_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_rejected),
        cmocka_unit_test(test_retirements),
    };
    return cmocka_run_group_tests_name("ct_store retirements", tests, NULL, NULL);
}
