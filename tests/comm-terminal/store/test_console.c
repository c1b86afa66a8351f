/* test_console.c: comm-terminal store, what operators see: the status per model, the certificate
 * list and the deletion of a model's packs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ct_store.h"
#include "ct_store_fixture.h"
#include "ct_store_views.h"
#include "error.h"
#include "pg_fixture.h"

/* What ct_store_proven_each handed over (the first PROVEN_KEPT rows), stopping at stop_at. */
#define PROVEN_KEPT 64
struct proven_seen {
    struct ct_proven_row rows[PROVEN_KEPT];
    size_t count, stop_at;
};

static int keep_proven(const struct ct_proven_row *row, void *arg)
{
    struct proven_seen *seen = arg;
    if (seen->stop_at > 0 && seen->count == seen->stop_at)
        return CL_ERR_CLOSED;
    if (seen->count < PROVEN_KEPT)
        seen->rows[seen->count] = *row;
    seen->count++;
    return CL_OK;
}

static void test_status(void **state)
{
    char today[11], tomorrow[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("status", NULL, 0);
    struct ct_model_status *rows = NULL;
    struct ct_report *reports = NULL;
    size_t count = 0;
    time_t now = time(NULL);
    (void)state;

    day_of(now, today);
    day_of(now + 86400, tomorrow);
    model(store, "3012", 1);
    model(store, "A123", 1);
    model(store, "3013", 0);
    struct ct_plan_entry plan[3] = {entry("3012", today, 5, 1), entry("A123", tomorrow, 2, 1),
                                    entry("3013", today, 3, 1)};
    assert_int_equal(import(store, plan, 3), 10);
    const char *n3012[] = {"3012-000001", "3012-000002", "3012-000003", "3012-000004",
                           "3012-000005"};
    const char *nA123[] = {"A123-000001", "A123-000002"};
    fetch(store, "req-1", today, 0, n3012, 5, 1);
    fetch(store, "req-2", tomorrow, 0, nA123, 2, 1);

    /* 3012: 1 written (report queued), 2 written and its receipt held (pack deleted), 3 failed,
     * 4 claimed, 5 stored. A123: 1 written three days ago (report queued), 2 stored. */
    for (int i = 0; i < 2; i++) {
        free(claim(store, n3012[i], "1001", 120, serial));
        assert_int_equal(written(store, n3012[i], "1001", serial, err, sizeof(err)), CL_OK);
    }
    assert_int_equal(ct_store_reports_due(store, now + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(reports[1].device_number, "3012-000002");
    assert_int_equal(ct_store_receipt(store, reports[1].id, now, "c2ln", "PEM", 1), CL_OK);
    free(reports);
    free(claim(store, n3012[2], "1001", 120, serial));
    assert_int_equal(ct_store_failed(store, n3012[2], "1001", "NG", err, sizeof(err)), CL_OK);
    free(claim(store, n3012[3], "1002", 120, serial));
    free(claim(store, nA123[0], "1002", 120, serial));
    char proof[CT_VERIFY_HEX + 1];
    fake_proof(nA123[0], proof, CT_VERIFY_HEX);
    assert_int_equal(
        ct_store_written(store, nA123[0], "1002", serial, proof, now - 3 * 86400, err, sizeof(err)),
        CL_OK);

    assert_int_equal(ct_store_status(store, today, &rows, &count), CL_OK);
    assert_int_equal(count, 3);
    const struct ct_model_status expected[] = {
        {"3012", 1, .held = 3, .used_today = 2, .remaining = 3, .failed = 1, .awaiting_receipt = 1},
        {"3013", 0, .held = 0, .used_today = 0, .remaining = 3, .failed = 0, .awaiting_receipt = 0},
        {"A123", 1, .held = 1, .used_today = 0, .remaining = 0, .failed = 0, .awaiting_receipt = 1},
    };
    for (size_t i = 0; i < count; i++) {
        const struct ct_model_status *got = &rows[i], *want = &expected[i];
        print_message("%s managed %d held %ld used today %ld remaining %ld failed %ld awaiting "
                      "%ld\n",
                      got->model_code, got->certificate_managed, got->held, got->used_today,
                      got->remaining, got->failed, got->awaiting_receipt);
        assert_string_equal(got->model_code, want->model_code);
        assert_int_equal(got->certificate_managed, want->certificate_managed);
        assert_int_equal(got->held, want->held);
        assert_int_equal(got->used_today, want->used_today);
        assert_int_equal(got->remaining, want->remaining);
        assert_int_equal(got->failed, want->failed);
        assert_int_equal(got->awaiting_receipt, want->awaiting_receipt);
    }
    free(rows);
    /* Tomorrow: A123's two are planned; nothing was used. */
    assert_int_equal(ct_store_status(store, tomorrow, &rows, &count), CL_OK);
    assert_int_equal(rows[0].used_today, 0);
    assert_int_equal(rows[0].remaining, 0);
    assert_int_equal(rows[2].remaining, 1);
    free(rows);
    assert_int_equal(ct_store_status(store, "yesterday", &rows, &count), CL_ERR_INVALID_ARGUMENT);
    assert_null(rows);

    /* The Lines page: line 1001 wrote two today and failed one; 1002's write was three days
     * ago. Each written device has its time from scan to write result. */
    struct ct_line_day *lines = NULL;
    assert_int_equal(ct_store_line_day(store, today, &lines, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(lines[0].line_id, "1001");
    assert_int_equal(lines[0].ok, 2);
    assert_int_equal(lines[0].ng, 1);
    assert_true(lines[0].median_ms >= 0 && lines[0].p99_ms >= lines[0].median_ms);
    assert_true(lines[0].last_scan >= now - 5 && lines[0].last_scan <= time(NULL) + 1);
    long ok = 0, ng = 0;
    for (int h = 0; h < 24; h++)
        ok += lines[0].ok_per_hour[h], ng += lines[0].ng_per_hour[h];
    assert_int_equal(ok, 2);
    assert_int_equal(ng, 1);
    free(lines);
    /* The day's shipped and proven: 3012-000002's receipt. */
    struct proven_seen proven = {0};
    assert_int_equal(ct_store_proven_each(store, today, 10, 10, keep_proven, &proven, &count),
                     CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(proven.count, 1);
    assert_string_equal(proven.rows[0].device_number, "3012-000002");
    assert_int_equal(proven.rows[0].signature_verified, 1);
    ct_store_close(store);
}

/* More devices than one page of the cursor, of two models, in the order written (two written in
 * the same microsecond by their report's id); a limit; a reader that stops; the connection usable
 * after each. */
static void test_proven_pages(void **state)
{
    char conninfo[256], today[11], want[CT_DEVICE_NUMBER_MAX + 1];
    struct ct_store *store = fresh_store("proven", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    /* 77-1 to 77-23 written a second apart, in reverse order of their numbers; 3012-5 in the same
     * microsecond as 77-5, its report made later. */
    PGresult *res = PQexec(
        conn, "INSERT INTO model (code, certificate_managed, ca_state) VALUES"
              " ('77', true, 'managed'), ('3012', true, 'managed');"
              "INSERT INTO fetch_request (request_id, day, replacement, item_count, state,"
              " ended_at) VALUES ('seed', current_date, false, 1, 'completed', now());"
              "INSERT INTO certificate (device_number, model_code, serial, state, write_flag,"
              " request_id, written_at, pack_deleted_at)"
              " SELECT m || '-' || i, m, upper(lpad(to_hex(i + 1), 16, '0')), 'written', 1,"
              " 'seed', now() - make_interval(secs => i), now() FROM generate_series(1, 23) i,"
              " unnest(ARRAY['77', '3012']) m WHERE m = '77' OR i = 5;"
              "INSERT INTO report (device_number, serial, proof, written_at, state,"
              " next_attempt, received_at, signature, signer_pem)"
              " SELECT device_number, serial, md5(device_number) || md5(serial), written_at,"
              " 'done', now(), now(), 'c2ln', 'PEM' FROM certificate"
              " ORDER BY model_code = '3012', device_number");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    /* Pages of 5 (the last one short) and of 8 (24 rows: the last one empty). */
    for (size_t page = 5; page <= 8; page += 3) {
        struct proven_seen seen = {0};
        assert_int_equal(
            ct_store_proven_each(store, today, SIZE_MAX, page, keep_proven, &seen, &count), CL_OK);
        assert_int_equal(count, 24);
        assert_int_equal(seen.count, 24);
        for (size_t i = 0, n = 23; i < 24; i++) {
            if (i == 19)
                snprintf(want, sizeof(want), "3012-5");
            else
                snprintf(want, sizeof(want), "77-%zu", n--);
            assert_string_equal(seen.rows[i].device_number, want);
            assert_true(seen.rows[i].received_at > 0 && seen.rows[i].written_at > 0);
            if (i > 0)
                assert_true(seen.rows[i].written_at >= seen.rows[i - 1].written_at);
        }
        assert_true(seen.rows[19].report_id > seen.rows[18].report_id);
    }
    struct proven_seen limited = {0}, stopped = {.stop_at = 6};
    assert_int_equal(ct_store_proven_each(store, today, 7, 5, keep_proven, &limited, &count),
                     CL_OK);
    assert_int_equal(count, 7);
    assert_int_equal(ct_store_proven_each(store, today, SIZE_MAX, 5, keep_proven, &stopped, &count),
                     CL_ERR_CLOSED);
    assert_int_equal(count, 6);
    assert_int_equal(ct_store_proven_each(store, "2026-13-01", 7, 5, keep_proven, &limited, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_proven_each(store, today, 7, 0, keep_proven, &limited, &count),
                     CL_ERR_INVALID_ARGUMENT);
    /* The stopped listing's transaction is over: the store writes again. */
    assert_int_equal(ct_store_audit(store, ACTOR, "console_export", "after"), CL_OK);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE detail = 'after'"), 1);
    PQfinish(conn);
    ct_store_close(store);
}

/* Planned numbers whose written state (migration 11's flag) differs from their certificate's. */
static long long flags_wrong(PGconn *conn)
{
    return sql_value(conn, "SELECT count(*) FROM plan_device p WHERE p.written IS DISTINCT FROM"
                           " coalesce((SELECT c.state = 'written' FROM certificate c"
                           " WHERE c.device_number = p.device_number), false)");
}

static long remaining_of(struct ct_store *store, const char *day)
{
    struct ct_model_status *rows = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_status(store, day, &rows, &count), CL_OK);
    assert_int_equal(count, 1);
    long remaining = rows[0].remaining;
    free(rows);
    return remaining;
}

/* Today's remaining count follows each planned number's certificate through its life: written,
 * set back, written again, deleted, renumbered; a number planned after its certificate was
 * written counts as done. The flag the count reads agrees with the certificates at every step. */
static void test_remaining_follows_certificates(void **state)
{
    char conninfo[256], today[11], tomorrow[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("remaining", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003", "3012-000004"};
    time_t now = time(NULL);
    (void)state;

    day_of(now, today);
    day_of(now + 86400, tomorrow);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, 4, 1);
    assert_int_equal(import(store, &plan, 1), 4);
    assert_int_equal(remaining_of(store, today), 4);
    fetch(store, "req-1", today, 0, numbers, 4, 1);
    free(claim(store, numbers[0], "1001", 120, serial));
    assert_int_equal(written(store, numbers[0], "1001", serial, err, sizeof(err)), CL_OK);
    free(claim(store, numbers[1], "1001", 120, serial));
    assert_int_equal(written(store, numbers[1], "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(remaining_of(store, today), 2);
    assert_int_equal(flags_wrong(conn), 0);

    /* Set back to replaced by hand: open again until it is written again. */
    assert_int_equal(sql_value(conn, "WITH u AS (UPDATE certificate SET state = 'replaced',"
                                     " write_flag = 0 WHERE device_number = '3012-000001'"
                                     " RETURNING 1) SELECT count(*) FROM u"),
                     1);
    assert_int_equal(remaining_of(store, today), 3);
    assert_int_equal(flags_wrong(conn), 0);
    assert_int_equal(sql_value(conn, "WITH u AS (UPDATE certificate SET state = 'written',"
                                     " write_flag = 1 WHERE device_number = '3012-000001'"
                                     " RETURNING 1) SELECT count(*) FROM u"),
                     1);
    assert_int_equal(remaining_of(store, today), 2);

    /* Deleted or moved to another number by hand: the flag follows the row. */
    assert_int_equal(sql_value(conn, "WITH r AS (DELETE FROM report WHERE device_number ="
                                     " '3012-000002'), d AS (DELETE FROM certificate WHERE"
                                     " device_number = '3012-000002' RETURNING 1)"
                                     " SELECT count(*) FROM d"),
                     1);
    assert_int_equal(remaining_of(store, today), 3);
    assert_int_equal(sql_value(conn, "WITH u AS (UPDATE certificate SET device_number ="
                                     " '3012-000003' WHERE device_number = '3012-000003'"
                                     " RETURNING 1) SELECT count(*) FROM u"),
                     1);
    assert_int_equal(flags_wrong(conn), 0);

    /* A certificate written before its number is planned (a manual entry): planned as done. */
    assert_int_equal(
        sql_value(conn, "WITH i AS (INSERT INTO certificate (device_number, model_code, serial,"
                        " state, write_flag, request_id, written_at, pack_deleted_at)"
                        " VALUES ('3012-000006', '3012', '0F0000000006', 'written', 1, 'req-1',"
                        " now(), now()) RETURNING 1) SELECT count(*) FROM i"),
        1);
    plan = entry("3012", tomorrow, 3, 5); /* 3012-000005 to 3012-000007 */
    assert_int_equal(import(store, &plan, 1), 3);
    assert_int_equal(remaining_of(store, tomorrow), 2);
    assert_int_equal(flags_wrong(conn), 0);
    PQfinish(conn);
    ct_store_close(store);
}

/* The Lines page's figures are summed in C from the day's rows: each line's OK, NG, per-hour
 * counts, median and p99 must be what PostgreSQL's own percentile_cont and round give, lines in
 * byte order, a line time not known (NULL) left out, a line with only failures shown. */
static void test_line_day_against_postgres(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("line_day", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    char numbers[14][CT_DEVICE_NUMBER_MAX + 1];
    const char *listed[14];
    (void)state;

    day_of(time(NULL), today);
    for (int i = 0; i < 14; i++) {
        snprintf(numbers[i], sizeof(numbers[i]), "3012-%06d", i + 1);
        listed[i] = numbers[i];
    }
    assert_int_equal(plan_and_fetch(store, today, 14, listed, 14), 14);
    /* Z9: 1-2; 1001: 3-13 written and 12 failed first on another pack; a1: 14 failed only. */
    for (int i = 0; i < 13; i++) {
        const char *line = i < 2 ? "Z9" : "1001";
        free(claim(store, numbers[i], line, 120, serial));
        assert_int_equal(written(store, numbers[i], line, serial, err, sizeof(err)), CL_OK);
    }
    free(claim(store, numbers[13], "a1", 120, serial));
    assert_int_equal(ct_store_failed(store, numbers[13], "a1", "NG", err, sizeof(err)), CL_OK);
    assert_int_equal(sql_value(conn, "INSERT INTO failed_pack (device_number, serial, line_id,"
                                     " reason) VALUES ('3012-000012', 'AB', '1001', 'NG')"
                                     " RETURNING 0"),
                     0);
    /* Z9's median 100.5 rounds to even (100), its p99 100.99 to 101. */
    assert_int_equal(sql_value(conn, "WITH v(n, ms) AS (VALUES (1, 101), (2, 100), (3, 7),"
                                     " (4, 3), (5, 250), (6, 11), (7, 1), (8, 5000), (9, 12),"
                                     " (10, 13), (11, 19), (12, 2), (13, NULL))"
                                     " UPDATE certificate c SET line_ms = v.ms FROM v"
                                     " WHERE c.device_number = '3012-' || lpad(v.n::text, 6, '0')"
                                     " RETURNING 0"),
                     0);

    struct ct_line_day *lines = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_line_day(store, today, &lines, &count), CL_OK);
    assert_int_equal(count, 3);
    assert_string_equal(lines[0].line_id, "1001");
    assert_string_equal(lines[1].line_id, "Z9");
    assert_string_equal(lines[2].line_id, "a1");
    assert_int_equal(lines[1].median_ms, 100);
    assert_int_equal(lines[1].p99_ms, 101);
    assert_int_equal(lines[2].ok, 0);
    assert_int_equal(lines[2].ng, 1);
    assert_int_equal(lines[2].median_ms, -1);
    assert_int_equal(lines[2].p99_ms, -1);
    for (size_t i = 0; i < count; i++) {
        char sql[512];
        const char *line = lines[i].line_id;
        print_message("line %s ok %ld ng %ld median %ld p99 %ld\n", line, lines[i].ok, lines[i].ng,
                      lines[i].median_ms, lines[i].p99_ms);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM certificate WHERE state = 'written'"
                 " AND claimed_by_line = '%s'",
                 line);
        assert_int_equal(lines[i].ok, sql_value(conn, sql));
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM failed_pack WHERE line_id = '%s'", line);
        assert_int_equal(lines[i].ng, sql_value(conn, sql));
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY line_ms)),"
                 " -1)::bigint FROM certificate WHERE state = 'written' AND claimed_by_line = '%s'",
                 line);
        assert_int_equal(lines[i].median_ms, sql_value(conn, sql));
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY line_ms)),"
                 " -1)::bigint FROM certificate WHERE state = 'written' AND claimed_by_line = '%s'",
                 line);
        assert_int_equal(lines[i].p99_ms, sql_value(conn, sql));
        long ok = 0, ng = 0;
        for (int h = 0; h < 24; h++)
            ok += lines[i].ok_per_hour[h], ng += lines[i].ng_per_hour[h];
        assert_int_equal(ok, lines[i].ok);
        assert_int_equal(ng, lines[i].ng);
    }
    free(lines);
    PQfinish(conn);
    ct_store_close(store);
}

static void test_cert_list_and_delete(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("list_delete", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_cert_row *rows = NULL;
    char(*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
    size_t count = 0, deleted = 99;
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    model(store, "A123", 1);
    struct ct_plan_entry plan[2] = {entry("3012", today, 3, 1), entry("A123", today, 12, 1)};
    assert_int_equal(import(store, plan, 2), 15);
    const char *n3012[] = {"3012-000001", "3012-000002", "3012-000003"};
    const char *nA123[] = {"A123-000010", "A123-000002", "A123-000001"};
    fetch(store, "req-1", today, 0, n3012, 3, 1);
    fetch(store, "req-2", today, 0, nA123, 3, 1);
    free(claim(store, "A123-000001", "1001", 120, serial));
    assert_int_equal(written(store, "A123-000001", "1001", serial, err, sizeof(err)), CL_OK);

    /* Filters, order (model, then serial value), limit. */
    assert_int_equal(ct_store_cert_list(store, "", "A123", 100, &rows, &count), CL_OK);
    assert_int_equal(count, 3);
    assert_string_equal(rows[0].device_number, "A123-000001");
    assert_string_equal(rows[2].device_number, "A123-000010");
    assert_string_equal(rows[0].state, "written");
    assert_string_equal(rows[0].line_id, "1001");
    assert_true(rows[0].created_at > 0 && rows[0].written_at >= rows[0].created_at);
    free(rows);
    assert_int_equal(count_listed(store, "stored", ""), 5);
    assert_int_equal(count_listed(store, "written", "A123"), 1);
    assert_int_equal(count_listed(store, "written", "3012"), 0);
    assert_int_equal(ct_store_cert_list(store, "", "", 2, &rows, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].device_number, "3012-000001");
    free(rows);
    assert_int_equal(ct_store_cert_list(store, "lost", "", 10, &rows, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_cert_list(store, "", "a-1", 10, &rows, &count),
                     CL_ERR_INVALID_ARGUMENT);

    /* A discontinued model: its packs go, the rows stay, the numbers are not fetched again. */
    assert_int_equal(ct_store_delete_model_packs(store, "A123", ACTOR, &deleted), CL_OK);
    assert_int_equal(deleted, 3);
    assert_int_equal(ct_store_delete_model_packs(store, "A123", ACTOR, &deleted), CL_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(count_listed(store, "", "A123"), 3);
    assert_int_equal(row_of(store, "A123-000002").pack_held, 0);
    assert_int_equal(row_of(store, "3012-000001").pack_held, 1);
    claim_refused(store, "A123-000002", "1001", 120, CL_ERR_STATE, "deleted");
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 9); /* A123-000003..000009, 000011, 000012 */
    for (size_t i = 0; i < count; i++)
        assert_true(strcmp(numbers[i], "A123-000002") != 0);
    free(numbers);
    assert_int_equal(ct_store_delete_model_packs(store, "9999", ACTOR, &deleted), CL_ERR_NOT_FOUND);
    assert_int_equal(ct_store_delete_model_packs(store, "A123", "", &deleted),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(sql_value(conn,
                               "SELECT count(*) FROM audit_log WHERE action = 'delete_model_packs'"
                               " AND detail LIKE '%A123: 3 pack%'"),
                     1);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_console_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_proven_pages),
        cmocka_unit_test(test_remaining_follows_certificates),
        cmocka_unit_test(test_cert_list_and_delete),
        cmocka_unit_test(test_line_day_against_postgres),
    };
    return cmocka_run_group_tests_name("ct_store console", tests, NULL, NULL);
}
