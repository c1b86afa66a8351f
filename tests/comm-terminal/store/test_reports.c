/* test_reports.c: comm-terminal store, installation reports queued for ca-server, retries and
 * signed receipts, alone or a batch under one manifest (set-based: a report done already keeps
 * its first receipt, a missing or malformed row is skipped, the written packs go). */
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

static void test_batch_receipts(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("batch_receipts", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_report *reports = NULL;
    size_t count = 0;
    time_t now = time(NULL);
    long long ids[4];
    (void)state;

    day_of(now, today);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003", "3012-000004"};
    assert_int_equal(plan_and_fetch(store, today, 4, numbers, 4), 4);
    for (int i = 0; i < 4; i++) {
        free(claim(store, numbers[i], "1001", 120, serial));
        assert_int_equal(written(store, numbers[i], "1001", serial, err, sizeof(err)), CL_OK);
    }
    assert_int_equal(ct_store_reports_due(store, now + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 4);
    for (int i = 0; i < 4; i++)
        ids[i] = reports[i].id;
    free(reports);
    const char *pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    /* the fourth is done already, with a receipt of its own and its pack kept */
    assert_int_equal(ct_store_receipt(store, ids[3], now, "Zmlyc3Q=", pem, 0), CL_OK);

    struct ct_receipt_manifest manifest = {
        "certline-receipt-batch v1\n"
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
        "YmF0Y2g=", pem};
    struct ct_receipt_row rows[] = {
        {ids[0], now + 1, NULL, NULL, -1}, {ids[1], now + 1, NULL, NULL, -1},
        {ids[3], now + 1, NULL, NULL, -1}, {999999, now + 1, NULL, NULL, -1},
        {ids[2], 0, NULL, NULL, -1}, /* malformed: no time */
    };
    assert_int_equal(ct_store_receipts(store, &manifest, rows, 5, 1), CL_OK);
    assert_int_equal(rows[0].rc, CL_OK);
    assert_int_equal(rows[1].rc, CL_OK);
    assert_int_equal(rows[2].rc, CL_OK); /* held already */
    assert_int_equal(rows[3].rc, CL_ERR_NOT_FOUND);
    assert_int_equal(rows[4].rc, CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM receipt_manifest WHERE signature ="
                                     " 'YmF0Y2g=' AND manifest LIKE 'certline-receipt-batch v1%'"),
                     1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report WHERE state = 'done' AND"
                                     " manifest_id IS NOT NULL AND signature IS NULL AND"
                                     " signer_pem IS NULL"),
                     2);
    /* the first receipt stays; the third report is still queued */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report WHERE device_number ="
                                     " '3012-000004' AND signature = 'Zmlyc3Q=' AND manifest_id"
                                     " IS NULL"),
                     1);
    assert_int_equal(ct_store_reports_due(store, now + 1000, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(reports[0].device_number, "3012-000003");
    free(reports);
    /* the packs of the reports done now go; the one done before keeps its pack */
    assert_int_equal(row_of(store, "3012-000001").pack_held, 0);
    assert_int_equal(row_of(store, "3012-000002").pack_held, 0);
    assert_int_equal(row_of(store, "3012-000003").pack_held, 1);
    assert_int_equal(row_of(store, "3012-000004").pack_held, 1);
    /* a receipt under a manifest and a signature of its own at once is refused by the schema */
    PGresult *res = PQexec(conn, "UPDATE report SET signature = 'eA==', signer_pem = 'x'"
                                 " WHERE device_number = '3012-000001'");
    assert_int_not_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    /* nothing to store under a malformed manifest */
    manifest.manifest = "certline-receipt-batch v1\nnot a digest\n";
    struct ct_receipt_row late = {ids[2], now + 2, NULL, NULL, -1};
    assert_int_equal(ct_store_receipts(store, &manifest, &late, 1, 1), CL_ERR_DB);
    assert_int_equal(late.rc, CL_ERR_DB);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM receipt_manifest"), 1);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_reports_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_and_receipts),
        cmocka_unit_test(test_batch_receipts),
    };
    return cmocka_run_group_tests_name("ct_store reports", tests, NULL, NULL);
}
