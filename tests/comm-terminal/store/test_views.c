/* test_views.c: comm-terminal store, the console's Devices and audit log views: the device search
 * by line and by day of writing (alone and with the other filters) against the database, a
 * device's history in life-cycle order when its events share a second, the pack a device's
 * page reads, and the audit log's day filter and pages reaching every entry. */
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
#include "ct_store_views.h"
#include "error.h"
#include "pg_fixture.h"

/* The device numbers search finds, comma-joined, into out. */
static void found(struct ct_store *store, const struct ct_cert_search *search, char *out,
                  size_t len)
{
    struct ct_cert_row *rows = NULL;
    size_t count = 0, used = 0;

    assert_int_equal(ct_store_cert_search(store, search, 100, &rows, &count), CL_OK);
    out[0] = '\0';
    for (size_t i = 0; i < count; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i > 0 ? "," : "",
                                 rows[i].device_number);
    free(rows);
}

/* search finds what the database's where (over certificate) selects, in the search's order (by
 * number; with a day, as written), and that is want. */
static void search_matches(struct ct_store *store, PGconn *conn,
                           const struct ct_cert_search *search, const char *where, const char *want)
{
    char got[512], sql[1024], db[512];

    found(store, search, got, sizeof(got));
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(string_agg(device_number, ',' ORDER BY %sdevice_number), '')"
             " FROM certificate WHERE %s",
             search->day[0] != '\0' ? "written_at, " : "", where);
    sql_text(conn, sql, db, sizeof(db));
    print_message("q=%s state=%s line=%s day=%s: %s (database: %s)\n", search->query, search->state,
                  search->line_id, search->day, got, db);
    assert_string_equal(got, db);
    assert_string_equal(got, want);
}

static void search_refused(struct ct_store *store, const struct ct_cert_search *search)
{
    struct ct_cert_row *rows = NULL;
    size_t count = 9;
    assert_int_equal(ct_store_cert_search(store, search, 100, &rows, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(rows);
    assert_int_equal(count, 0);
}

/* Written on 1001: 1, 2 today, 4 yesterday; on 1002: 3 today; 5 delivered on 1001, 6 stored. A
 * day's devices come in the order written, the others by number. */
static void test_search_by_line_and_day(void **state)
{
    char conninfo[256], today[11], yesterday[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    char on_day[256], where[320];
    struct ct_store *store = fresh_store("search", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *n[] = {"3012-000001", "3012-000002", "3012-000003",
                       "3012-000004", "3012-000005", "3012-000006"};
    const char *lines[] = {"1001", "1001", "1002", "1001"};
    (void)state;

    day_of(time(NULL), today);
    day_of(time(NULL) - 86400, yesterday);
    plan_and_fetch(store, today, 6, n, 6);
    for (int i = 0; i < 4; i++) {
        free(claim(store, n[i], lines[i], 120, serial));
        assert_int_equal(written(store, n[i], lines[i], serial, err, sizeof(err)), CL_OK);
    }
    free(claim(store, n[4], "1001", 120, serial));
    assert_int_equal(ct_store_delivered(store, n[4], "1001", err, sizeof(err)), CL_OK);
    /* Written today at noon in the order 2, 3, 1; 4 yesterday. */
    sql_value(conn,
              "UPDATE certificate c SET written_at = date_trunc('day', written_at)"
              " + interval '12 hours' + v.s * interval '1 s' FROM (VALUES ('3012-000001', 30),"
              " ('3012-000002', 10), ('3012-000003', 20), ('3012-000004', -86400)) v (n, s)"
              " WHERE c.device_number = v.n");

    const struct ct_cert_search by_line = {"", "", "1001", ""};
    search_matches(store, conn, &by_line, "claimed_by_line = '1001'",
                   "3012-000001,3012-000002,3012-000004,3012-000005");
    const struct ct_cert_search line_written = {"", "written", "1001", ""};
    search_matches(store, conn, &line_written, "claimed_by_line = '1001' AND state = 'written'",
                   "3012-000001,3012-000002,3012-000004");
    snprintf(on_day, sizeof(on_day),
             "state = 'written' AND written_at >= '%s'::date AND written_at < '%s'::date + 1",
             today, today);
    const struct ct_cert_search by_day = {"", "", "", today};
    search_matches(store, conn, &by_day, on_day, "3012-000002,3012-000003,3012-000001");
    const struct ct_cert_search day_line = {"", "", "1001", today};
    snprintf(where, sizeof(where), "%s AND claimed_by_line = '1001'", on_day);
    search_matches(store, conn, &day_line, where, "3012-000002,3012-000001");
    const struct ct_cert_search before = {"", "written", "", yesterday};
    snprintf(where, sizeof(where), "written_at >= '%s'::date AND written_at < '%s'::date",
             yesterday, today);
    search_matches(store, conn, &before, where, "3012-000004");
    const struct ct_cert_search model_day = {"3012", "written", "1002", today};
    search_matches(store, conn, &model_day, "claimed_by_line = '1002'", "3012-000003");
    const struct ct_cert_search other_line = {"3012-000003", "", "1001", ""};
    search_matches(store, conn, &other_line, "false", "");
    const struct ct_cert_search no_line = {"", "", "1003", ""};
    search_matches(store, conn, &no_line, "claimed_by_line = '1003'", "");

    const struct ct_cert_search bad_day = {"", "", "", "2026-02-30"};
    search_refused(store, &bad_day);
    const struct ct_cert_search loose_day = {"", "", "", "2026-2-3"};
    search_refused(store, &loose_day);
    const struct ct_cert_search stored_day = {"", "stored", "", today};
    search_refused(store, &stored_day);
    const struct ct_cert_search spaced_line = {"", "", "line 1", ""};
    search_refused(store, &spaced_line);
    const struct ct_cert_search long_line = {"", "", "L23456789012345678901234567890123", ""};
    search_refused(store, &long_line);
    const struct ct_cert_search bad_state = {"", "lost", "", ""};
    search_refused(store, &bad_state);
    assert_true(ct_store_day_ok(today) && !ct_store_day_ok("2026-13-01") &&
                !ct_store_day_ok("today"));
    PQfinish(conn);
    ct_store_close(store);
}

/* The history's events (what, comma-joined) and serials (one letter per event: o old, n new,
 * - none, relative to new). */
static void history_of(struct ct_store *store, const char *number, const char *new_serial,
                       char *whats, size_t len, char *serials)
{
    struct ct_history_row *rows = NULL;
    size_t count = 0, used = 0;

    assert_int_equal(ct_store_device_history(store, number, &rows, &count), CL_OK);
    whats[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        used += (size_t)snprintf(whats + used, len - used, "%s%s", i > 0 ? "," : "", rows[i].what);
        serials[i] = rows[i].serial_hex[0] == '\0'                 ? '-'
                     : strcmp(rows[i].serial_hex, new_serial) == 0 ? 'n'
                                                                   : 'o';
        if (i > 0)
            assert_true(rows[i].at >= rows[i - 1].at);
    }
    serials[count] = '\0';
    print_message("%s: %s %s\n", number, whats, serials);
    free(rows);
}

/* A device delivered and written in one second (the write's time whole seconds, the
 * delivery's later in that second), its receipt and pack deletion in it too: life-cycle order.
 * Another rejected by ca-server (the rejection and the failure in one transaction, one time),
 * its replacement delivered and written in that same second: the old pack's events first. */
static void test_history_order(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1], old[64];
    char whats[512], serials[32], sql[1024];
    struct ct_store *store = fresh_store("history", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *n[] = {"3012-000001", "3012-000002"};
    struct ct_report *reports = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    plan_and_fetch(store, today, 2, n, 2);
    for (int i = 0; i < 2; i++) {
        free(claim(store, n[i], "1001", 120, serial));
        assert_int_equal(ct_store_delivered(store, n[i], "1001", err, sizeof(err)), CL_OK);
        assert_int_equal(written(store, n[i], "1001", serial, err, sizeof(err)), CL_OK);
    }
    assert_int_equal(ct_store_reports_due(store, time(NULL) + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(ct_store_receipt(store, reports[0].id, time(NULL), "c2ln", "PEM", 1), CL_OK);
    assert_int_equal(ct_store_report_reject(store, reports[1].id, "Installation proof rejected"),
                     CL_OK);
    free(reports);
    /* 1: every event in the second W (its write's), the delivery 0.7 s into it. */
    sql_value(conn,
              "WITH w AS (SELECT date_trunc('second', written_at) AS w FROM certificate"
              " WHERE device_number = '3012-000001')"
              " UPDATE certificate SET created_at = w + interval '0.1 s',"
              " delivered_at = w + interval '0.7 s', pack_deleted_at = w + interval '0.9 s'"
              " FROM w WHERE device_number = '3012-000001';"
              "UPDATE plan SET imported_at = date_trunc('second', now()) - interval '5 s';"
              "UPDATE report SET received_at = written_at WHERE device_number = '3012-000001'");
    sql_text(conn, "SELECT serial FROM certificate WHERE device_number = '3012-000001'", old,
             sizeof(old));
    history_of(store, n[0], old, whats, sizeof(whats), serials);
    assert_string_equal(whats, "planned,fetched,delivered,written,receipt,pack deleted");
    assert_int_equal(sql_value(conn, "SELECT count(DISTINCT floor(date_part('epoch', x))) FROM"
                                     " certificate c, LATERAL (VALUES (created_at),"
                                     " (delivered_at), (written_at), (pack_deleted_at)) v(x)"
                                     " WHERE device_number = '3012-000001'"),
                     1);

    /* 2: rejected and failed at one time; the replacement arrives, is delivered and written. */
    sql_text(conn, "SELECT serial FROM certificate WHERE device_number = '3012-000002'", old,
             sizeof(old));
    fetch(store, "req-repl", today, 1, &n[1], 1, 2);
    free(claim(store, n[1], "1002", 120, serial));
    assert_string_not_equal(serial, old);
    assert_int_equal(ct_store_delivered(store, n[1], "1002", err, sizeof(err)), CL_OK);
    assert_int_equal(written(store, n[1], "1002", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report r JOIN failed_pack f USING"
                                     " (device_number) WHERE r.rejected_at = f.failed_at"
                                     " AND device_number = '3012-000002'"),
                     1);
    snprintf(sql, sizeof(sql),
             "WITH w AS (SELECT date_trunc('second', written_at) AS w FROM certificate"
             " WHERE device_number = '3012-000002')"
             " UPDATE certificate SET replaced_at = w + interval '0.2 s',"
             " delivered_at = w + interval '0.8 s' FROM w WHERE device_number = '3012-000002';"
             "UPDATE report SET rejected_at = (SELECT written_at FROM certificate"
             " WHERE device_number = '3012-000002') + interval '0.1 s'"
             " WHERE device_number = '3012-000002' AND serial = '%s';"
             "UPDATE failed_pack SET failed_at = (SELECT rejected_at FROM report"
             " WHERE device_number = '3012-000002' AND serial = '%s')"
             " WHERE device_number = '3012-000002'",
             old, old);
    sql_value(conn, sql);
    history_of(store, n[1], serial, whats, sizeof(whats), serials);
    assert_string_equal(whats, "planned,fetched,rejected,failed,replaced,delivered,written");
    assert_string_equal(serials, "-ooonnn");
    PQfinish(conn);
    ct_store_close(store);
}

/* The pack a device's page reads: held, then deleted (with its time); unknown and malformed. */
static void test_cert_pack(void **state)
{
    char conninfo[256], today[11], held[256], *pack = (char *)1;
    struct ct_store *store = fresh_store("cert_pack", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *n[] = {"3012-000001"};
    size_t deleted = 0;
    time_t at = 1;
    (void)state;

    day_of(time(NULL), today);
    plan_and_fetch(store, today, 1, n, 1);
    sql_text(conn, "SELECT pack FROM certificate WHERE device_number = '3012-000001'", held,
             sizeof(held));
    assert_int_equal(ct_store_cert_pack(store, n[0], &pack, &at), CL_OK);
    assert_non_null(pack);
    assert_string_equal(pack, held);
    assert_int_equal(at, 0);
    free(pack);
    assert_int_equal(ct_store_delete_model_packs(store, "3012", ACTOR, &deleted), CL_OK);
    assert_int_equal(ct_store_cert_pack(store, n[0], &pack, &at), CL_OK);
    assert_null(pack);
    assert_true(at > time(NULL) - 60 && at <= time(NULL));
    assert_int_equal(ct_store_cert_pack(store, "3012-000002", &pack, &at), CL_ERR_NOT_FOUND);
    assert_null(pack);
    assert_int_equal(ct_store_cert_pack(store, "3012_1", &pack, &at), CL_ERR_INVALID_ARGUMENT);
    PQfinish(conn);
    ct_store_close(store);
}

/* Every page of filter's entries, page rows at a time (each page's last id the next's before):
 * the ids, comma-joined, into out; returns how many pages were read. */
static int all_pages(struct ct_store *store, struct ct_audit_filter filter, size_t page, char *out,
                     size_t len)
{
    size_t used = 0;
    int pages = 0;

    out[0] = '\0';
    for (;;) {
        struct ct_audit_row *rows = NULL;
        size_t count = 0;
        assert_int_equal(ct_store_audit_list(store, &filter, page, &rows, &count), CL_OK);
        pages++;
        for (size_t i = 0; i < count; i++)
            used +=
                (size_t)snprintf(out + used, len - used, "%s%lld", used > 0 ? "," : "", rows[i].id);
        if (count > 0)
            filter.before = rows[count - 1].id;
        free(rows);
        if (count < page)
            return pages;
    }
}

/* 450 entries over two days, two operators: every entry reached once, newest first, by pages of
 * 100; the day and operator filters against the database; bad filters refused. */
static void test_audit_pages(void **state)
{
    char conninfo[256], today[11], yesterday[11], sql[512];
    static char got[8192], db[8192];
    struct ct_store *store = fresh_store("audit_pages", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_audit_row *rows = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    day_of(time(NULL) - 86400, yesterday);
    snprintf(sql, sizeof(sql),
             "INSERT INTO audit_log (at, actor, action, detail) SELECT d::date + interval"
             " '1 hour' + i * interval '1 s', CASE WHEN i %% 3 = 0 THEN 'bob' ELSE 'alice' END,"
             " 'seed', 'entry ' || i FROM unnest(ARRAY['%s', '%s']) d, generate_series(1, 225) i"
             " ORDER BY d, i",
             yesterday, today);
    sql_value(conn, sql);

    struct ct_audit_filter every = {0};
    assert_int_equal(all_pages(store, every, 100, got, sizeof(got)), 5);
    sql_text(conn, "SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM audit_log", db,
             sizeof(db));
    assert_string_equal(got, db);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log"), 450);

    struct ct_audit_filter bob_yesterday = {"bob", "", yesterday, 0};
    all_pages(store, bob_yesterday, 30, got, sizeof(got));
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM audit_log WHERE actor ="
             " 'bob' AND at >= '%s'::date AND at < '%s'::date",
             yesterday, today);
    sql_text(conn, sql, db, sizeof(db));
    assert_string_equal(got, db);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE actor = 'bob'"), 150);

    char actor[66];
    memset(actor, 'a', 65);
    actor[65] = '\0';
    struct ct_audit_filter long_actor = {actor, "", "", 0};
    struct ct_audit_filter bad_day = {"", "", "2026-02-30", 0};
    struct ct_audit_filter negative = {"", "", "", -1};
    assert_int_equal(ct_store_audit_list(store, &long_actor, 10, &rows, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_audit_list(store, &bad_day, 10, &rows, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_audit_list(store, &negative, 10, &rows, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(rows);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_views_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_by_line_and_day),
        cmocka_unit_test(test_history_order),
        cmocka_unit_test(test_cert_pack),
        cmocka_unit_test(test_audit_pages),
    };
    return cmocka_run_group_tests_name("ct_store views", tests, NULL, NULL);
}
