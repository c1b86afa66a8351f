/* test_reports.c: comm-terminal store, installation reports queued for ca-server, retries and
 * signed receipts. */
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

static void test_reports_and_receipts(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("reports", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_report *reports = NULL;
    size_t count = 0;
    time_t now = time(NULL);
    (void)state;

    day_of(now, today);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    assert_int_equal(plan_and_fetch(store, today, 3, numbers, 3), 3);
    for (int i = 0; i < 3; i++) {
        free(claim(store, numbers[i], "1001", 120, serial));
        assert_int_equal(written(store, numbers[i], "1001", serial, err, sizeof(err)), CL_OK);
    }
    assert_int_equal(ct_store_reports_due(store, now + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 3);
    long long ids[3];
    for (int i = 0; i < 3; i++) {
        assert_string_equal(reports[i].device_number, numbers[i]); /* oldest first */
        ids[i] = reports[i].id;
    }
    free(reports);
    assert_int_equal(ct_store_reports_due(store, now + 1, 2, &reports, &count), CL_OK);
    assert_int_equal(count, 2);
    free(reports);

    /* ca-server away: attempts are counted, the report waits for its next attempt. */
    assert_int_equal(ct_store_report_retry(store, ids[0], now + 60, "cannot connect"), CL_OK);
    assert_int_equal(ct_store_report_retry(store, ids[0], now + 120, "cannot\nconnect \x01"),
                     CL_OK);
    assert_int_equal(ct_store_reports_due(store, now + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(reports[0].device_number, "3012-000002");
    free(reports);
    assert_int_equal(ct_store_reports_due(store, now + 121, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 3);
    assert_int_equal(reports[0].attempts, 2);
    free(reports);
    char last[64];
    sql_text(conn, "SELECT last_error FROM report WHERE device_number = '3012-000001'", last,
             sizeof(last));
    assert_string_equal(last, "cannot?connect ?");

    /* Receipts: with delete_written the pack goes, without it stays. */
    const char *pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    assert_int_equal(ct_store_receipt(store, ids[0], now, "c2lnbmF0dXJl", pem, 1), CL_OK);
    assert_int_equal(ct_store_receipt(store, ids[1], now, "c2lnbmF0dXJl", pem, 0), CL_OK);
    assert_int_equal(row_of(store, "3012-000001").pack_held, 0);
    assert_int_equal(row_of(store, "3012-000002").pack_held, 1);
    assert_string_equal(row_of(store, "3012-000001").state, "written");
    assert_int_equal(ct_store_receipt(store, ids[0], now + 5, "b3RoZXI=", pem, 1), CL_OK);
    assert_int_equal(
        sql_value(conn, "SELECT count(*) FROM report WHERE signature = 'c2lnbmF0dXJl'"), 2);
    assert_int_equal(ct_store_reports_due(store, now + 1000, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(reports[0].device_number, "3012-000003");
    free(reports);
    /* Refusals. */
    assert_int_equal(ct_store_receipt(store, 999999, now, "c2ln", pem, 1), CL_ERR_NOT_FOUND);
    assert_int_equal(ct_store_receipt(store, ids[2], now, "not base64!", pem, 1),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_receipt(store, ids[2], now, "c2ln", "", 1), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_report_retry(store, ids[0], now + 60, "late"), CL_ERR_STATE);
    assert_int_equal(ct_store_report_retry(store, 999999, now + 60, "x"), CL_ERR_NOT_FOUND);
    assert_int_equal(ct_store_reports_due(store, now, 0, &reports, &count),
                     CL_ERR_INVALID_ARGUMENT);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_reports_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_and_receipts),
    };
    return cmocka_run_group_tests_name("ct_store reports", tests, NULL, NULL);
}
