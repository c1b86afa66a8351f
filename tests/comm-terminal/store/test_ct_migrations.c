/* test_ct_migrations.c: comm-terminal store migrations on a store holding data, as a factory
 * upgrades one: a store left at migration 10, filled through the store's own functions over
 * several days (certificates in every state, reports with and without receipts, numbers planned
 * after being written), then migrated the rest of the way: each planned number's written flag,
 * Today's open count, the new indexes and the triggers checked against what is computed from
 * scratch. The steps themselves (a failure part way, a write during the migration, the time at
 * 200,000 numbers): test_ct_migration_steps.c. One private cluster for both. */
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
#define DAYS 5    /* the day before yesterday ... tomorrow */

/* What becomes of a planned number of models 3012 and 4420 (by its index, modulo FATES). */
enum fate {
    F_UNFETCHED,          /* planned, no certificate */
    F_HELD,               /* stored, pack held */
    F_DELIVERED,          /* claimed and delivered (S9), not written */
    F_WRITTEN_QUEUED,     /* written, report queued */
    F_WRITTEN_DONE,       /* written, receipt kept, pack kept */
    F_WRITTEN_DELETED,    /* written, receipt kept, pack deleted */
    F_FAILED,             /* NG on a line, awaiting its replacement */
    F_REPLACED,           /* NG, replacement pack fetched, not written yet */
    F_REWRITTEN,          /* NG, replacement fetched and written */
    F_REJECTED,           /* written, report rejected by ca-server (failed again), still open */
    F_REJECTED_REWRITTEN, /* written, rejected, replacement written (the rejection closed) */
    F_RETRIED,            /* written, report retried after ca-server was away */
    FATES
};

static int fate_written(int f)
{
    return f == F_WRITTEN_QUEUED || f == F_WRITTEN_DONE || f == F_WRITTEN_DELETED ||
           f == F_REWRITTEN || f == F_REJECTED_REWRITTEN || f == F_RETRIED;
}

static const char *const MODELS[] = {"3012", "4420", "5501", "6600"};
#define NMODELS (sizeof(MODELS) / sizeof(MODELS[0]))

/* What the test planned and wrote, kept by the test itself. */
struct book {
    char day[DAYS][11];
    time_t noon[DAYS];
    long planned[DAYS][NMODELS], written[DAYS][NMODELS];
};

static void numbers_of(const char *model, int first, int n, char (*out)[CT_DEVICE_NUMBER_MAX + 1])
{
    for (int i = 0; i < n; i++)
        snprintf(out[i], CT_DEVICE_NUMBER_MAX + 1, "%s-%06d", model, first + i);
}

static long long report_id(PGconn *conn, const char *number)
{
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT max(id) FROM report WHERE device_number = '%.21s' AND state = 'queued'",
             number);
    return sql_value(conn, q);
}

static void write_at(struct ct_store *store, const char *number, const char *line, time_t at)
{
    char err[512], serial[CT_SERIAL_HEX_MAX + 1], proof[CT_VERIFY_HEX + 1];
    free(claim(store, number, line, 120, serial));
    assert_int_equal(ct_store_delivered(store, number, line, err, sizeof(err)), CL_OK);
    fake_proof(number, proof, CT_VERIFY_HEX);
    int rc = ct_store_written(store, number, line, serial, proof, at, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("written %s: %s: %s", number, cl_err_name(rc), err);
}

static void fail_on_line(struct ct_store *store, const char *number, const char *line)
{
    char err[512], serial[CT_SERIAL_HEX_MAX + 1];
    free(claim(store, number, line, 120, serial));
    assert_int_equal(ct_store_failed(store, number, line, "NG: write verify", err, sizeof(err)),
                     CL_OK);
}

/* One model's day: n numbers from first, each with the fate of its index. */
static void fill_model_day(struct ct_store *store, PGconn *conn, struct book *book, int day,
                           int model, int n)
{
    char numbers[FATES * 3][CT_DEVICE_NUMBER_MAX + 1], id[32], err[512];
    const char *fetched[FATES * 3], *again[FATES * 3];
    int again_fate[FATES * 3];
    const char *line = day % 2 ? "L1" : "L2";
    time_t at = book->noon[day] < time(NULL) ? book->noon[day] : time(NULL);
    size_t nf = 0, na = 0;
    int first = (day + 1) * 1000 + 1;
    struct ct_plan_entry plan = entry(MODELS[model], book->day[day], n, first);

    assert_true(n <= FATES * 3);
    assert_int_equal(import(store, &plan, 1), (size_t)n);
    numbers_of(MODELS[model], first, n, numbers);
    for (int i = 0; i < n; i++)
        if (i % FATES != F_UNFETCHED)
            fetched[nf++] = numbers[i];
    snprintf(id, sizeof(id), "f%d-%s", day, MODELS[model]);
    fetch(store, id, book->day[day], 0, fetched, nf, 1);
    for (int i = 0; i < n; i++) {
        int f = i % FATES;
        if (f == F_DELIVERED) {
            char serial[CT_SERIAL_HEX_MAX + 1];
            free(claim(store, numbers[i], line, 120, serial));
            assert_int_equal(ct_store_delivered(store, numbers[i], line, err, sizeof(err)), CL_OK);
        } else if (f == F_FAILED || f == F_REPLACED || f == F_REWRITTEN) {
            fail_on_line(store, numbers[i], line);
        } else if (f != F_UNFETCHED && f != F_HELD) {
            write_at(store, numbers[i], line, at);
        }
        long long rid = f == F_UNFETCHED || f == F_HELD ? 0 : report_id(conn, numbers[i]);
        if (f == F_WRITTEN_DONE || f == F_WRITTEN_DELETED)
            assert_int_equal(ct_store_receipt(store, rid, at + 60, "c2lnbmF0dXJl",
                                              "-----BEGIN CERTIFICATE-----",
                                              f == F_WRITTEN_DELETED),
                             CL_OK);
        else if (f == F_RETRIED)
            assert_int_equal(
                ct_store_report_retry(store, rid, time(NULL) + 3600, "ca-server unreachable"),
                CL_OK);
        else if (f == F_REJECTED || f == F_REJECTED_REWRITTEN)
            assert_int_equal(ct_store_report_reject(store, rid, "proof does not match"), CL_OK);
        if (f == F_REPLACED || f == F_REWRITTEN || f == F_REJECTED_REWRITTEN) {
            again_fate[na] = f;
            again[na++] = numbers[i];
        }
    }
    snprintf(id, sizeof(id), "r%d-%s", day, MODELS[model]);
    fetch(store, id, book->day[day], 1, again, na, 2);
    for (size_t i = 0; i < na; i++)
        if (again_fate[i] != F_REPLACED)
            write_at(store, again[i], "L3", at);
    book->planned[day][model] += n;
    for (int i = 0; i < n; i++)
        book->written[day][model] += fate_written(i % FATES);
}

/* A certificate entered by hand (no fetch), as the comm-terminal's schema at 10 holds one. */
static void manual_certificate(PGconn *conn, const char *number, int written)
{
    char q[640];
    snprintf(q, sizeof(q),
             "INSERT INTO certificate (device_number, model_code, serial, state, write_flag,"
             " request_id, written_at, pack, pack_deleted_at) VALUES ('%s', split_part('%s', '-',"
             " 1), upper(substr(md5('%s'), 1, 16)), '%s', %d, 'f0-3012', %s, %s) RETURNING 0",
             number, number, number, written ? "written" : "stored", written ? 1 : 0,
             written ? "now()" : "NULL", written ? "NULL, now()" : "'pack', NULL");
    assert_int_equal(sql_value(conn, q), 0);
}

/* The store at migration 10, filled: 3012 and 4420 every day in every fate; 5501 discontinued
 * (its packs deleted, three of them written first) and planned again on a later day; 6600
 * planned today after some of its certificates were entered by hand, written or not. */
static void fill_at_10(struct ct_store *store, PGconn *conn, struct book *book)
{
    char numbers[10][CT_DEVICE_NUMBER_MAX + 1];
    const char *list[10];
    size_t deleted = 0;
    time_t now = time(NULL);

    memset(book, 0, sizeof(*book));
    for (int d = 0; d < DAYS; d++) {
        struct tm tm;
        day_of(now + (time_t)(d - 3) * 86400, book->day[d]);
        localtime_r(&now, &tm);
        tm.tm_mday += d - 3;
        tm.tm_hour = 12;
        tm.tm_min = tm.tm_sec = 0;
        tm.tm_isdst = -1;
        book->noon[d] = mktime(&tm);
    }
    for (size_t m = 0; m < NMODELS; m++)
        model(store, MODELS[m], 1);
    for (int d = 0; d < DAYS; d++) {
        fill_model_day(store, conn, book, d, 0, FATES * 2);
        fill_model_day(store, conn, book, d, 1, FATES);
    }

    /* 5501 discontinued on day 1: ten fetched, three written, every pack deleted. */
    struct ct_plan_entry plan = entry("5501", book->day[1], 10, 1);
    assert_int_equal(import(store, &plan, 1), 10);
    numbers_of("5501", 1, 10, numbers);
    for (int i = 0; i < 10; i++)
        list[i] = numbers[i];
    fetch(store, "f1-5501", book->day[1], 0, list, 10, 1);
    for (int i = 0; i < 3; i++)
        write_at(store, numbers[i], "L1", book->noon[1] < now ? book->noon[1] : now);
    assert_int_equal(ct_store_delete_model_packs(store, "5501", ACTOR, &deleted), CL_OK);
    assert_int_equal(deleted, 10);
    book->planned[1][2] += 10;
    book->written[1][2] += 3;
    plan = entry("5501", book->day[4], 5, 11);
    assert_int_equal(import(store, &plan, 1), 5);
    book->planned[4][2] += 5;

    /* 6600: 2 and 5 written by hand, 3 stored by hand, before today's plan names them; 99
     * written by hand and not planned (yet). */
    manual_certificate(conn, "6600-000002", 1);
    manual_certificate(conn, "6600-000005", 1);
    manual_certificate(conn, "6600-000003", 0);
    manual_certificate(conn, "6600-000099", 1);
    plan = entry("6600", book->day[3], 6, 1);
    assert_int_equal(import(store, &plan, 1), 6);
    book->planned[3][3] += 6;
    book->written[3][3] += 2;
}

/* The flags, and Today's open count of every model and day, against the test's book and a
 * count from scratch. */
static void expect_book(struct ct_store *store, PGconn *conn, const struct book *book,
                        const char *step)
{
    long long written = 0;
    for (int d = 0; d < DAYS; d++) {
        struct ct_model_status *rows = NULL;
        size_t count = 0;
        assert_int_equal(ct_store_status(store, book->day[d], &rows, &count), CL_OK);
        assert_int_equal(count, NMODELS);
        for (size_t m = 0; m < NMODELS; m++) {
            long open = book->planned[d][m] - book->written[d][m];
            assert_string_equal(rows[m].model_code, MODELS[m]);
            if (rows[m].remaining != open ||
                open_from_scratch(conn, book->day[d], MODELS[m]) != open)
                fail_msg("%s: %s on %s: status %ld remaining, from scratch %lld, the book %ld",
                         step, MODELS[m], book->day[d], rows[m].remaining,
                         open_from_scratch(conn, book->day[d], MODELS[m]), open);
            written += book->written[d][m];
        }
        free(rows);
    }
    if (plan_flags_wrong(conn) != 0)
        fail_msg("%s: %lld planned numbers carry a wrong written flag", step,
                 plan_flags_wrong(conn));
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device WHERE written"), written);
}

static void set_written(struct book *book, const char *day, const char *model, int delta)
{
    for (int d = 0; d < DAYS; d++)
        for (size_t m = 0; m < NMODELS; m++)
            if (strcmp(book->day[d], day) == 0 && strcmp(MODELS[m], model) == 0)
                book->written[d][m] += delta;
}

static void test_data_through_11_to_latest(void **state)
{
    static const char *const indexes[] = {"plan_device_open", "report_done_written",
                                          "certificate_line_written", "audit_log_at"};
    char conninfo[256], err[512], def[512];
    struct ct_store *store = store_at_version("migrate_data", 10, conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct book book;
    int applied = -1;
    (void)state;

    fill_at_10(store, conn, &book);
    assert_int_equal(schema_version(conn), 10);
    assert_int_equal(sql_value(conn,
                               "SELECT count(*) FROM information_schema.columns"
                               " WHERE table_name = 'plan_device' AND column_name = 'written'"),
                     0);
    /* The book agrees with the store before the migration (counted from scratch). */
    for (int d = 0; d < DAYS; d++)
        for (size_t m = 0; m < NMODELS; m++)
            assert_int_equal(open_from_scratch(conn, book.day[d], MODELS[m]),
                             book.planned[d][m] - book.written[d][m]);
    assert_true(sql_value(conn, "SELECT count(DISTINCT state) FROM certificate") == 5);
    assert_true(sql_value(conn, "SELECT count(*) FROM report WHERE state = 'rejected'"
                                " AND closed_at IS NULL") > 0);
    assert_true(sql_value(conn, "SELECT count(*) FROM report WHERE state = 'rejected'"
                                " AND closed_at IS NOT NULL") > 0);

    /* Migration 11 alone: its backfill (migration 13 derives the flags again). */
    pg_fixture_require(ct_store_migrate_upto(store, 11, &applied, err, sizeof(err)), "migrate",
                       err);
    assert_int_equal(applied, 1);
    expect_book(store, conn, &book, "migrated to 11");
    pg_fixture_require(ct_store_migrate(store, &applied, err, sizeof(err)), "migrate", err);
    assert_int_equal(applied, LATEST - 11);
    assert_int_equal(schema_version(conn), LATEST);
    expect_book(store, conn, &book, "migrated");

    /* The indexes exist, valid, as the migrations define them; the one replaced is gone. */
    expect_indexes_valid(conn, indexes, sizeof(indexes) / sizeof(indexes[0]));
    sql_text(conn, "SELECT pg_get_indexdef('plan_device_open'::regclass)", def, sizeof(def));
    assert_contains(def, "(day, model_code) WHERE (NOT written)");
    sql_text(conn, "SELECT pg_get_indexdef('certificate_line_written'::regclass)", def,
             sizeof(def));
    assert_contains(def, "(claimed_by_line, written_at) WHERE (claimed_by_line IS NOT NULL)");
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM pg_class WHERE relname ="
                                     " 'report_done_day'"),
                     0);
    assert_int_equal(sql_value(conn,
                               "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
                               " AND tgenabled = 'O' AND tgname IN"
                               " ('certificate_written_planned', 'certificate_written_changed',"
                               " 'certificate_written_deleted', 'plan_device_planned')"),
                     4);

    /* The triggers on the migrated rows. One more device written today (a held one). */
    char number[CT_DEVICE_NUMBER_MAX + 1];
    snprintf(number, sizeof(number), "3012-%06d", 4 * 1000 + 1 + F_HELD);
    write_at(store, number, "L4", time(NULL));
    set_written(&book, book.day[3], "3012", 1);
    expect_book(store, conn, &book, "one more written");
    /* A written one deleted (its reports first), and one set back by hand. */
    assert_int_equal(sql_value(conn, "WITH r AS (DELETE FROM report WHERE device_number ="
                                     " '3012-004004'), d AS (DELETE FROM certificate"
                                     " WHERE device_number = '3012-004004' RETURNING 1)"
                                     " SELECT count(*) FROM d"),
                     1); /* 4 * 1000 + 1 + F_WRITTEN_QUEUED: written today, report queued */
    set_written(&book, book.day[3], "3012", -1);
    assert_int_equal(sql_value(conn, "WITH u AS (UPDATE certificate SET state = 'replaced',"
                                     " write_flag = 0 WHERE device_number = '4420-002005'"
                                     " RETURNING 1) SELECT count(*) FROM u"),
                     1); /* 2 * 1000 + 1 + F_WRITTEN_DONE: written yesterday, receipt kept */
    set_written(&book, book.day[1], "4420", -1);
    expect_book(store, conn, &book, "deleted, set back");
    /* Renumbered: 6600-000005 (written by hand) becomes 6600-000006 (planned, never fetched). */
    assert_int_equal(sql_value(conn, "WITH u AS (UPDATE certificate SET device_number ="
                                     " '6600-000006' WHERE device_number = '6600-000005'"
                                     " RETURNING 1) SELECT count(*) FROM u"),
                     1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device WHERE written AND"
                                     " device_number IN ('6600-000005', '6600-000006')"),
                     1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device WHERE written AND"
                                     " device_number = '6600-000006'"),
                     1);
    expect_book(store, conn, &book, "renumbered");
    /* Planned after being written: 6600-000099 tomorrow counts as done. */
    struct ct_plan_entry plan = entry("6600", book.day[4], 1, 99);
    assert_int_equal(import(store, &plan, 1), 1);
    book.planned[4][3] += 1;
    book.written[4][3] += 1;
    expect_book(store, conn, &book, "planned after written");
    /* Migration 13's function, run by hand on a store already right, corrects nothing. */
    assert_int_equal(sql_value(conn, "SELECT plan_device_written_sync()"), 0);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_migrations_data_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_through_11_to_latest),
    };
    return cmocka_run_group_tests_name("ct_store migrations with data", tests, NULL, NULL);
}

int main(void)
{
    static const pg_fixture_group groups[] = {ct_migrations_data_tests, ct_migrations_steps_tests};
    return pg_fixture_run_groups(groups, sizeof(groups) / sizeof(groups[0]));
}
