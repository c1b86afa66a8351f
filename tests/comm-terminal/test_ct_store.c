/* test_ct_store.c: the comm-terminal's PostgreSQL store against a real private cluster:
 * migrations, models and the production plan (idempotent re-import, numbers never reused), the
 * numbers to fetch, FIG 21 fetches (recorded before sending, resent after a restart, completed
 * once, a whole answer in one statement or nothing of it), the line service (claims, the claim
 * window, two lines racing for one number on two connections, S9/S11 from the claiming line only,
 * NG and its replacement), installation reports and receipts, the operators' status, listings,
 * deletion of a model's packs, operators and the audit log. The group setup starts the cluster, the
 * teardown stops and removes it; each test works in a database of its own. */
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
#include "error.h"
#include "pg_fixture.h"

#define ACTOR "operator:test"

/* ---- helpers ---- */

/* A fresh database, migrated; its conninfo in conninfo (if not NULL). */
static struct ct_store *fresh_store(const char *db, char *conninfo, size_t len)
{
    char info[256], err[512];
    struct ct_store *store = NULL;
    int applied = -1;

    pg_fixture_create_db(db, info, sizeof(info), conninfo, len);
    if (ct_store_open(info, &store, err, sizeof(err)) != CL_OK)
        fail_msg("ct_store_open: %s", err);
    if (ct_store_migrate(store, &applied, err, sizeof(err)) != CL_OK)
        fail_msg("ct_store_migrate: %s", err);
    assert_int_equal(applied, 1);
    return store;
}

static struct ct_store *open_store(const char *conninfo)
{
    struct ct_store *store = NULL;
    char err[512];
    if (ct_store_open(conninfo, &store, err, sizeof(err)) != CL_OK)
        fail_msg("ct_store_open: %s", err);
    return store;
}

/* The local date of t, YYYY-MM-DD. */
static void day_of(time_t t, char day[11])
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
}

static struct ct_plan_entry entry(const char *model, const char *day, long units,
                                  long long first_serial)
{
    struct ct_plan_entry e = {.units = units, .first_serial = first_serial, .serial_digits = 6};
    snprintf(e.model_code, sizeof(e.model_code), "%s", model);
    snprintf(e.day, sizeof(e.day), "%s", day);
    return e;
}

static size_t import(struct ct_store *store, const struct ct_plan_entry *entries, size_t count)
{
    char err[512];
    size_t added = 99;
    int rc = ct_store_plan_import(store, entries, count, ACTOR, &added, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("plan_import: %s: %s", cl_err_name(rc), err);
    return added;
}

static void model(struct ct_store *store, const char *code, int managed)
{
    assert_int_equal(ct_store_model_set(store, code, managed, ACTOR), CL_OK);
}

/* A serial for a device number's pack of generation gen ("0<gen>" + the number's digits). */
static void fake_serial(const char *number, int gen, char serial[CT_SERIAL_HEX_MAX + 1])
{
    const char *digits = strchr(number, '-') + 1;
    snprintf(serial, CT_SERIAL_HEX_MAX + 1, "%02X%012lld", gen, atoll(digits));
}

static void fake_pack(const char *number, const char *serial, char *pack, size_t len)
{
    snprintf(pack, len, "{\"device_number\": \"%s\",\n \"serial\": \"%s\"}", number, serial);
}

/* The proof a device would send. */
static void fake_proof(const char *number, char proof[CT_VERIFY_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(number);
    for (size_t i = 0; i < CT_VERIFY_HEX; i++)
        proof[i] = hex[((unsigned char)number[i % len] * 7u + i) % 16];
    proof[CT_VERIFY_HEX] = '\0';
}

static void begin(struct ct_store *store, const char *id, const char *day, int replacement,
                  const char *const *numbers, size_t n)
{
    char err[512];
    int rc = ct_store_fetch_begin(store, id, day, replacement, numbers, n, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("fetch_begin %s: %s: %s", id, cl_err_name(rc), err);
}

static void begin_refused(struct ct_store *store, const char *id, const char *day, int replacement,
                          const char *const *numbers, size_t n, int code, const char *needle)
{
    char err[512] = "";
    int rc = ct_store_fetch_begin(store, id, day, replacement, numbers, n, err, sizeof(err));
    if (rc != code)
        fail_msg("fetch_begin %s: %s (expected %s): %s", id, cl_err_name(rc), cl_err_name(code),
                 err);
    if (needle != NULL)
        assert_contains(err, needle);
}

/* Completes a request with fake packs of generation gen. */
static void complete(struct ct_store *store, const char *id, const char *const *numbers, size_t n,
                     int gen)
{
    struct ct_pack_item *items = calloc(n, sizeof(*items));
    char(*serials)[CT_SERIAL_HEX_MAX + 1] = calloc(n, sizeof(*serials));
    char(*packs)[128] = calloc(n, sizeof(*packs));
    char err[512];
    assert_true(items != NULL && serials != NULL && packs != NULL);
    for (size_t i = 0; i < n; i++) {
        fake_serial(numbers[i], gen, serials[i]);
        fake_pack(numbers[i], serials[i], packs[i], sizeof(packs[i]));
        items[i] = (struct ct_pack_item){numbers[i], serials[i], packs[i]};
    }
    int rc = ct_store_fetch_complete(store, id, items, n, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("fetch_complete %s: %s: %s", id, cl_err_name(rc), err);
    free(items);
    free(serials);
    free(packs);
}

static void fetch(struct ct_store *store, const char *id, const char *day, int replacement,
                  const char *const *numbers, size_t n, int gen)
{
    begin(store, id, day, replacement, numbers, n);
    complete(store, id, numbers, n, gen);
}

/* Claims and expects success; returns the pack (free it). */
static char *claim(struct ct_store *store, const char *number, const char *line, int seconds,
                   char serial[CT_SERIAL_HEX_MAX + 1])
{
    char err[512], *pack = NULL, scratch[CT_SERIAL_HEX_MAX + 1];
    int rc = ct_store_claim(store, number, line, seconds, &pack, serial ? serial : scratch, err,
                            sizeof(err));
    if (rc != CL_OK)
        fail_msg("claim %s by %s: %s: %s", number, line, cl_err_name(rc), err);
    assert_non_null(pack);
    return pack;
}

static void claim_refused(struct ct_store *store, const char *number, const char *line, int seconds,
                          int code, const char *needle)
{
    char err[512] = "", *pack = (char *)1, serial[CT_SERIAL_HEX_MAX + 1] = "X";
    int rc = ct_store_claim(store, number, line, seconds, &pack, serial, err, sizeof(err));
    if (rc != code)
        fail_msg("claim %s by %s: %s (expected %s): %s", number, line, cl_err_name(rc),
                 cl_err_name(code), err);
    assert_null(pack);
    assert_string_equal(serial, "");
    if (needle != NULL)
        assert_contains(err, needle);
}

static int written(struct ct_store *store, const char *number, const char *line, const char *serial,
                   char *err, size_t len)
{
    char proof[CT_VERIFY_HEX + 1];
    fake_proof(number, proof);
    return ct_store_written(store, number, line, serial, proof, time(NULL), err, len);
}

/* The listing row of one device number (fails if absent). */
static struct ct_cert_row row_of(struct ct_store *store, const char *number)
{
    struct ct_cert_row *rows = NULL, found = {0};
    size_t count = 0;
    int hit = 0;
    assert_int_equal(ct_store_cert_list(store, "", "", 1000000, &rows, &count), CL_OK);
    for (size_t i = 0; i < count; i++)
        if (strcmp(rows[i].device_number, number) == 0) {
            found = rows[i];
            hit = 1;
        }
    free(rows);
    if (!hit)
        fail_msg("%s is not listed", number);
    return found;
}

static size_t count_listed(struct ct_store *store, const char *state, const char *model_code)
{
    struct ct_cert_row *rows = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_cert_list(store, state, model_code, 1000000, &rows, &count), CL_OK);
    free(rows);
    return count;
}

/* Runs a statement (no parameters) that must succeed; returns its first value as a number. */
static long long sql_value(PGconn *conn, const char *statement)
{
    PGresult *res = PQexec(conn, statement);
    long long value = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", statement, PQerrorMessage(conn));
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        value = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

static void sql_text(PGconn *conn, const char *statement, char *out, size_t len)
{
    PGresult *res = PQexec(conn, statement);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        fail_msg("%s: %s", statement, PQerrorMessage(conn));
    snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- tests ---- */

static void test_migrate_and_open(void **state)
{
    char conninfo[256], err[512];
    struct ct_store *store = fresh_store("migrate", conninfo, sizeof(conninfo));
    struct ct_store *other = NULL;
    int applied = -1;
    (void)state;

    assert_int_equal(ct_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    other = open_store(conninfo);
    assert_int_equal(ct_store_migrate(other, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    ct_store_close(other);
    ct_store_close(store);

    /* The password never shows in an error. */
    assert_int_equal(ct_store_open("host=/nonexistent-certline port=1 password=Hunter2Secret",
                                   &other, err, sizeof(err)),
                     CL_ERR_DB);
    assert_null(other);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ct_store_open("password=Hunter2Secret junk", &other, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ct_store_open(NULL, &other, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    ct_store_close(NULL);
}

static void test_models_and_plan(void **state)
{
    char conninfo[256], err[512], today[11], tomorrow[11];
    struct ct_store *store = fresh_store("plan", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    size_t added = 0;
    (void)state;

    day_of(time(NULL), today);
    day_of(time(NULL) + 86400, tomorrow);
    /* Models: refusals, then set and re-set. */
    assert_int_equal(ct_store_model_set(store, "30-12", 1, ACTOR), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_model_set(store, "123456789", 1, ACTOR), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_model_set(store, "3012", 1, ""), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_model_set(store, "3012", 1, NULL), CL_ERR_INVALID_ARGUMENT);
    model(store, "3012", 0);
    model(store, "3012", 1);
    model(store, "A123", 1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM model WHERE certificate_managed"), 2);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'model_set'"),
                     3);

    /* A model nobody registered is refused, naming it. */
    struct ct_plan_entry unknown = entry("9999", today, 3, 1);
    assert_int_equal(ct_store_plan_import(store, &unknown, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_contains(err, "9999");

    /* A first_serial entry and an explicit list. */
    static const long long serials[] = {654330, 654321, 654322};
    struct ct_plan_entry plan[2] = {entry("3012", today, 20, 1), entry("A123", today, 3, 0)};
    plan[1].serials = serials;
    assert_int_equal(import(store, plan, 2), 23);
    assert_int_equal(import(store, plan, 2), 0); /* re-import: nothing new */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 23);
    assert_int_equal(sql_value(conn, "SELECT units FROM plan WHERE model_code = 'A123'"), 3);
    /* More units of the same day: only the new ones count. */
    struct ct_plan_entry more = entry("3012", today, 25, 1);
    assert_int_equal(import(store, &more, 1), 5);
    assert_int_equal(sql_value(conn, "SELECT units FROM plan WHERE model_code = '3012'"), 25);

    /* A number planned for another day: refused, naming it; nothing of the import stays. */
    struct ct_plan_entry clash[2] = {entry("A123", tomorrow, 5, 1), entry("3012", tomorrow, 5, 21)};
    assert_int_equal(ct_store_plan_import(store, clash, 2, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(added, 0);
    assert_contains(err, "3012-000021");
    assert_contains(err, today);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 28);
    /* Wider serials are not truncated: 1234567 with 6 digits is 3012-1234567. */
    struct ct_plan_entry wide = entry("3012", tomorrow, 1, 1234567);
    assert_int_equal(import(store, &wide, 1), 1);
    assert_int_equal(
        sql_value(conn, "SELECT count(*) FROM plan_device WHERE device_number = '3012-1234567'"),
        1);

    /* Malformed entries, each refused naming what is wrong. */
    struct ct_plan_entry bad = entry("3012", "2026-02-30", 1, 1);
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "2026-02-30");
    bad = entry("3012", today, 0, 1);
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "units 0");
    bad = entry("3012", today, 2, 999999999999LL);
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    bad = entry("3012", today, 1, 1);
    bad.serial_digits = 13;
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    static const long long twice[] = {7, 8, 7};
    bad = entry("A123", tomorrow, 3, 0);
    bad.serials = twice;
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "A123-000007");
    assert_int_equal(ct_store_plan_import(store, plan, 0, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_plan_import(store, plan, 1, "", &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 29);
    /* Every import that succeeded was audited. */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'plan_import'"),
                     4);
    PQfinish(conn);
    ct_store_close(store);
}

static void test_numbers_to_fetch(void **state)
{
    char today[11], tomorrow[11];
    struct ct_store *store = fresh_store("to_fetch", NULL, 0);
    char(*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    day_of(time(NULL) + 86400, tomorrow);
    model(store, "A123", 1);
    model(store, "3012", 1);
    model(store, "3013", 0);
    static const long long serials[] = {10, 9, 100, 1};
    struct ct_plan_entry plan[4] = {entry("A123", today, 2, 5), entry("3012", today, 4, 0),
                                    entry("3013", today, 3, 1), entry("3012", tomorrow, 2, 50)};
    plan[1].serials = serials;
    assert_int_equal(import(store, plan, 4), 11);

    /* In order (model, then the serial's value), without the model that is not managed, and
     * without the other day's. */
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 6);
    static const char *const expected[] = {"3012-000001", "3012-000009", "3012-000010",
                                           "3012-000100", "A123-000005", "A123-000006"};
    for (size_t i = 0; i < count; i++)
        assert_string_equal(numbers[i], expected[i]);
    free(numbers);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 2, &numbers, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(numbers[1], "3012-000009");
    free(numbers);

    /* Pending or stored numbers are not fetched again. */
    const char *first[] = {"3012-000001", "3012-000009"};
    begin(store, "req-1", today, 0, first, 2);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 4);
    assert_string_equal(numbers[0], "3012-000010");
    free(numbers);
    complete(store, "req-1", first, 2, 1);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 4);
    free(numbers);

    /* Refusals. */
    assert_int_equal(ct_store_numbers_to_fetch(store, "today", 100, &numbers, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(numbers);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 0, &numbers, &count),
                     CL_ERR_INVALID_ARGUMENT);
    ct_store_close(store);
}

static void test_fetch_restart_and_complete(void **state)
{
    char conninfo[256], today[11], err[512];
    struct ct_store *store = fresh_store("fetching", conninfo, sizeof(conninfo));
    struct ct_pending_fetch *pending = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    model(store, "3013", 0);
    struct ct_plan_entry plan = entry("3012", today, 10, 1);
    assert_int_equal(import(store, &plan, 1), 10);

    const char *a[] = {"3012-000003", "3012-000001", "3012-000002"};
    const char *b[] = {"3012-000004", "3012-000005"};
    begin(store, "req-a", today, 0, a, 3);
    begin(store, "req-b", today, 0, b, 2);
    begin(store, "req-a", today, 0, a, 3); /* the same begin again: fine */
    begin_refused(store, "req-a", today, 0, b, 2, CL_ERR_CONFLICT, "other device numbers");
    begin_refused(store, "req-a", today, 1, a, 3, CL_ERR_CONFLICT, "req-a");
    const char *overlap[] = {"3012-000006", "3012-000002"};
    begin_refused(store, "req-c", today, 0, overlap, 2, CL_ERR_CONFLICT,
                  "3012-000002 is already in pending request req-a");

    /* A restart: a new connection finds both requests, oldest first, numbers in order. */
    ct_store_close(store);
    store = open_store(conninfo);
    assert_int_equal(ct_store_fetch_pending(store, &pending, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(pending[0].request_id, "req-a");
    assert_int_equal(pending[0].replacement, 0);
    assert_int_equal(pending[0].count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(pending[0].numbers[i], a[i]);
    assert_string_equal(pending[1].request_id, "req-b");
    assert_int_equal(pending[1].count, 2);
    assert_string_equal(pending[1].numbers[1], "3012-000005");
    ct_pending_fetch_free(pending, count);
    assert_int_equal(count_listed(store, "", ""), 0); /* nothing stored without an answer */

    /* An answer that does not match the request changes nothing. */
    struct ct_pack_item wrong[3] = {{"3012-000003", "0101", "{}"},
                                    {"3012-000001", "0102", "{}"},
                                    {"3012-000009", "0103", "{}"}};
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 3, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "3012-000009");
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 2, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    wrong[2].device_number = "3012-000001"; /* listed twice */
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 3, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    wrong[2] = (struct ct_pack_item){"3012-000002", "0g03", "{}"};
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 3, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "0g03");
    assert_int_equal(ct_store_fetch_complete(store, "nobody", wrong, 1, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_int_equal(count_listed(store, "", ""), 0);

    /* The answer: every pack stored, flag 0; completing it again changes nothing. */
    complete(store, "req-a", a, 3, 1);
    struct ct_cert_row before = row_of(store, "3012-000001");
    assert_string_equal(before.state, "stored");
    assert_int_equal(before.write_flag, 0);
    assert_int_equal(before.pack_held, 1);
    assert_string_equal(before.serial_hex, "01000000000001");
    assert_string_equal(before.line_id, "");
    complete(store, "req-a", a, 3, 7); /* other packs: ignored, the first answer stays */
    struct ct_cert_row after = row_of(store, "3012-000001");
    assert_string_equal(after.serial_hex, before.serial_hex);
    assert_int_equal(after.created_at, before.created_at);
    assert_int_equal(count_listed(store, "stored", "3012"), 3);
    assert_int_equal(ct_store_fetch_pending(store, &pending, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(pending[0].request_id, "req-b");
    ct_pending_fetch_free(pending, count);

    /* What a begin refuses. */
    begin_refused(store, "req-d", today, 0, a, 1, CL_ERR_EXISTS, "3012-000003 already holds");
    begin_refused(store, "req-d", today, 1, a, 1, CL_ERR_STATE, "not failed");
    const char *unfetched[] = {"3012-000009"}, *unmanaged[] = {"3013-000001"},
               *unknown_model[] = {"7777-000001"}, *malformed[] = {"3012_000001"},
               *dup[] = {"3012-000007", "3012-000007"};
    begin_refused(store, "req-d", today, 1, unfetched, 1, CL_ERR_NOT_FOUND, "no certificate");
    begin_refused(store, "req-d", today, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT,
                  "not certificate-managed");
    begin_refused(store, "req-d", today, 0, unknown_model, 1, CL_ERR_INVALID_ARGUMENT,
                  "not registered");
    begin_refused(store, "req-d", today, 0, malformed, 1, CL_ERR_INVALID_ARGUMENT, "3012_000001");
    begin_refused(store, "req-d", today, 0, dup, 2, CL_ERR_INVALID_ARGUMENT, "listed twice");
    begin_refused(store, "req-d", "2026-13-01", 0, unfetched, 1, CL_ERR_INVALID_ARGUMENT,
                  "2026-13-01");
    begin_refused(store, "has space", today, 0, unfetched, 1, CL_ERR_INVALID_ARGUMENT, "has space");
    begin_refused(store, "req-d", today, 0, unfetched, 0, CL_ERR_INVALID_ARGUMENT, NULL);
    begin_refused(store, "req-d", today, 0, unfetched, CT_FETCH_MAX + 1, CL_ERR_INVALID_ARGUMENT,
                  NULL);

    /* A manual entry needs no plan; an abandoned request frees its numbers. */
    const char *manual[] = {"3012-000777"};
    begin(store, "req-manual", today, 0, manual, 1);
    assert_int_equal(ct_store_fetch_abandon(store, "req-manual", "ca-server refuses it", ACTOR, err,
                                            sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_fetch_abandon(store, "req-manual", "again", ACTOR, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_fetch_abandon(store, "req-a", "late", ACTOR, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_int_equal(ct_store_fetch_complete(store, "req-manual", wrong, 1, err, sizeof(err)),
                     CL_ERR_STATE);
    fetch(store, "req-manual-2", today, 0, manual, 1, 1);
    assert_string_equal(row_of(store, "3012-000777").state, "stored");
    ct_store_close(store);
}

/* A whole answer goes in one statement: CT_FETCH_MAX packs with characters that would need
 * quoting in SQL or in an array literal arrive byte for byte; a number that can no longer take
 * its pack is named and nothing of the answer is stored. */
static void test_fetch_complete_whole_answer(void **state)
{
    enum { N = CT_FETCH_MAX };
    static const char odd[] = "{\"k\": \"a\\\\b\\n\", 'q', {x,y}, NULL, \t tab, \xc3\xa9 }";
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("whole_answer", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    char(*names)[CT_DEVICE_NUMBER_MAX + 1] = calloc(N, sizeof(*names));
    char(*serials)[CT_SERIAL_HEX_MAX + 1] = calloc(N, sizeof(*serials));
    char(*packs)[160] = calloc(N, sizeof(*packs));
    const char **numbers = calloc(N, sizeof(*numbers));
    struct ct_pack_item *items = calloc(N, sizeof(*items));
    (void)state;

    assert_true(names != NULL && serials != NULL && packs != NULL && numbers != NULL &&
                items != NULL);
    day_of(time(NULL), today);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, N + 3, 1);
    assert_int_equal(import(store, &plan, 1), N + 3);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "3012-%06zu", i + 1);
        numbers[i] = names[i];
        fake_serial(names[i], 1, serials[i]);
        snprintf(packs[i], sizeof(packs[i]), "%s %s %s", names[i], odd, serials[i]);
        items[i] = (struct ct_pack_item){names[i], serials[i], packs[i]};
    }
    begin(store, "req-big", today, 0, numbers, N);
    if (ct_store_fetch_complete(store, "req-big", items, N, err, sizeof(err)) != CL_OK)
        fail_msg("fetch_complete req-big: %s", err);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM certificate WHERE request_id = 'req-big'"
                                     " AND state = 'stored' AND write_flag = 0"
                                     " AND model_code = '3012'"),
                     N);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM certificate WHERE serial = '01' ||"
                                     " lpad(split_part(device_number, '-', 2)::bigint::text, 12,"
                                     " '0')"),
                     N);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM fetch_item WHERE pending"), 0);
    for (size_t i = 0; i < N; i += N / 4 - 1) {
        char *pack = claim(store, names[i], "1001", 120, serial);
        assert_string_equal(pack, packs[i]);
        assert_string_equal(serial, serials[i]);
        free(pack);
    }

    /* A number that took a certificate meanwhile: named, and its neighbour is not stored. */
    const char *two[] = {"3012-001001", "3012-001002"};
    begin(store, "req-late", today, 0, two, 2);
    sql_value(conn, "INSERT INTO certificate (device_number, model_code, serial, pack, state,"
                    " request_id) VALUES ('3012-001002', '3012', '0F', 'x', 'stored', 'req-big')");
    struct ct_pack_item late[2] = {{two[0], "0101", "{}"}, {two[1], "0102", "{}"}};
    assert_int_equal(ct_store_fetch_complete(store, "req-late", late, 2, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "3012-001002 already holds a certificate");
    assert_int_equal(
        sql_value(conn, "SELECT count(*) FROM certificate WHERE device_number = '3012-001001'"), 0);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM fetch_request WHERE state = 'pending'"
                                     " AND request_id = 'req-late'"),
                     1);

    /* A replacement for a certificate that is no longer failed: named, nothing replaced. */
    const char *one[] = {"3012-000002"};
    free(claim(store, one[0], "1001", 120, serial));
    assert_int_equal(ct_store_failed(store, one[0], "1001", "flash", err, sizeof(err)), CL_OK);
    begin(store, "req-repl", today, 1, one, 1);
    sql_value(conn, "UPDATE certificate SET state = 'stored' WHERE device_number = '3012-000002'");
    struct ct_pack_item repl = {one[0], "0202", "{}"};
    assert_int_equal(ct_store_fetch_complete(store, "req-repl", &repl, 1, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "3012-000002 is no longer failed");
    assert_string_equal(row_of(store, one[0]).serial_hex, serials[1]);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM fetch_request WHERE state = 'pending'"),
                     2);

    free(names);
    free(serials);
    free(packs);
    free(numbers);
    free(items);
    PQfinish(conn);
    ct_store_close(store);
}

static void test_claim_window(void **state)
{
    char conninfo[256], today[11], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("claim", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    model(store, "3013", 0);
    struct ct_plan_entry plan[2] = {entry("3012", today, 5, 1), entry("3013", today, 1, 1)};
    assert_int_equal(import(store, plan, 2), 6);
    const char *numbers[] = {"3012-000001", "3012-000002"};
    fetch(store, "req-1", today, 0, numbers, 2, 1);

    char *pack = claim(store, "3012-000001", "1001", 120, serial);
    assert_string_equal(serial, "01000000000001");
    assert_contains(pack, "3012-000001");
    assert_string_equal(row_of(store, "3012-000001").line_id, "1001");
    /* Another line within the window: being served to line 1001. */
    claim_refused(store, "3012-000001", "1002", 120, CL_ERR_CONFLICT,
                  "3012-000001 is being served to line 1001");
    /* The same line again (a re-scan): the same pack. */
    char *again = claim(store, "3012-000001", "1001", 120, NULL);
    assert_string_equal(again, pack);
    free(again);
    free(pack);
    /* After the window, another line may have it. */
    sql_value(conn, "UPDATE certificate SET claimed_at = now() - interval '130 seconds'"
                    " WHERE claimed_at IS NOT NULL");
    pack = claim(store, "3012-000001", "1002", 120, NULL);
    free(pack);
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_CONFLICT, "line 1002");
    assert_string_equal(row_of(store, "3012-000001").line_id, "1002");

    /* Numbers that cannot be served, each with its reason. */
    claim_refused(store, "3012-999999", "1001", 120, CL_ERR_NOT_FOUND, "not in the production");
    claim_refused(store, "3012-000003", "1001", 120, CL_ERR_NOT_FOUND, "not fetched");
    claim_refused(store, "3013-000001", "1001", 120, CL_ERR_NOT_FOUND, "not certificate-managed");
    claim_refused(store, "9999-000001", "1001", 120, CL_ERR_NOT_FOUND, "not registered");
    const char *pending[] = {"3012-000004"};
    begin(store, "req-2", today, 0, pending, 1);
    claim_refused(store, "3012-000004", "1001", 120, CL_ERR_NOT_FOUND, "req-2");
    claim_refused(store, "3012-00000A", "1001", 120, CL_ERR_INVALID_ARGUMENT, "3012-00000A");
    claim_refused(store, "3012-000002", "line 1", 120, CL_ERR_INVALID_ARGUMENT, "line 1");
    claim_refused(store, "3012-000002", "1001", -1, CL_ERR_INVALID_ARGUMENT, NULL);
    PQfinish(conn);
    ct_store_close(store);
}

/* ---- two lines, one number, two connections ---- */

struct racer {
    struct ct_store *store;
    pthread_barrier_t *barrier;
    const char *number;
    const char *line;
    int rc;
    char *pack;
    char serial[CT_SERIAL_HEX_MAX + 1];
    char err[512];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->barrier);
    r->rc = ct_store_claim(r->store, r->number, r->line, 120, &r->pack, r->serial, r->err,
                           sizeof(r->err));
    return NULL;
}

static void test_claim_race(void **state)
{
    enum { ROUNDS = 25 };
    char conninfo[256], today[11];
    struct ct_store *store = fresh_store("claim_race", conninfo, sizeof(conninfo));
    struct ct_store *other;
    const char *numbers[ROUNDS];
    char names[ROUNDS][CT_DEVICE_NUMBER_MAX + 1];
    int wins_1001 = 0, wins_1002 = 0;
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, ROUNDS, 1);
    assert_int_equal(import(store, &plan, 1), ROUNDS);
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(names[i], sizeof(names[i]), "3012-%06d", i + 1);
        numbers[i] = names[i];
    }
    fetch(store, "req-1", today, 0, numbers, ROUNDS, 1);
    other = open_store(conninfo);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_t barrier;
        pthread_t ta, tb;
        struct racer a = {.store = store, .number = numbers[i], .line = "1001"};
        struct racer b = {.store = other, .number = numbers[i], .line = "1002"};
        assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
        a.barrier = b.barrier = &barrier;
        assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        if (!((a.rc == CL_OK) ^ (b.rc == CL_OK)))
            fail_msg("%s: exactly one line must get it: 1001 %s (%s), 1002 %s (%s)", numbers[i],
                     cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
        struct racer *winner = a.rc == CL_OK ? &a : &b, *loser = a.rc == CL_OK ? &b : &a;
        assert_int_equal(loser->rc, CL_ERR_CONFLICT);
        assert_null(loser->pack);
        char expected[64];
        snprintf(expected, sizeof(expected), "being served to line %s", winner->line);
        assert_contains(loser->err, expected);
        assert_string_equal(row_of(store, numbers[i]).line_id, winner->line);
        *(winner == &a ? &wins_1001 : &wins_1002) += 1;
        free(winner->pack);
    }
    print_message("claim race: line 1001 won %d, line 1002 won %d of %d\n", wins_1001, wins_1002,
                  ROUNDS);
    ct_store_close(other);
    ct_store_close(store);
}

static void test_line_flow(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1], proof[80];
    struct ct_store *store = fresh_store("line_flow", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_report *reports = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, 3, 1);
    assert_int_equal(import(store, &plan, 1), 3);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    fetch(store, "req-1", today, 0, numbers, 3, 1);

    /* S9 and S11 before any claim, or from another line: refused. */
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "not claimed by line 1001");
    free(claim(store, "3012-000001", "1001", 120, serial));
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1002", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "claimed by line 1001, not line 1002");
    assert_int_equal(written(store, "3012-000001", "1002", serial, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(ct_store_failed(store, "3012-000001", "1002", "x", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(ct_store_delivered(store, "3012-999999", "1001", err, sizeof(err)),
                     CL_ERR_NOT_FOUND);

    /* S9 from the claiming line: delivered (twice is fine). */
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)), CL_OK);
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)), CL_OK);
    struct ct_cert_row row = row_of(store, "3012-000001");
    assert_string_equal(row.state, "delivered");
    assert_true(row.delivered_at > 0);

    /* S11 OK: another serial than the pack's is refused; then written, flag 1, report due. */
    assert_int_equal(written(store, "3012-000001", "1001", "0BAD", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "0BAD");
    assert_int_equal(
        ct_store_written(store, "3012-000001", "1001", serial, "123", time(NULL), err, sizeof(err)),
        CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_reports_due(store, time(NULL) + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 0);
    free(reports);
    time_t before = time(NULL);
    assert_int_equal(written(store, "3012-000001", "1001", serial, err, sizeof(err)), CL_OK);
    row = row_of(store, "3012-000001");
    assert_string_equal(row.state, "written");
    assert_int_equal(row.write_flag, 1);
    assert_true(row.written_at >= before && row.written_at <= time(NULL));
    assert_int_equal(ct_store_reports_due(store, time(NULL), 10, &reports, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(reports[0].device_number, "3012-000001");
    assert_string_equal(reports[0].serial_hex, serial);
    fake_proof("3012-000001", proof);
    assert_string_equal(reports[0].proof, proof);
    assert_int_equal(reports[0].attempts, 0);
    free(reports);

    /* The same S11 again: fine, nothing doubled; any other is refused. */
    assert_int_equal(written(store, "3012-000001", "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report"), 1);
    assert_int_equal(written(store, "3012-000001", "1001", "0102", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(written(store, "3012-000001", "1002", serial, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_STATE, "already written");
    claim_refused(store, "3012-000001", "1002", 120, CL_ERR_STATE, "already written");
    assert_int_equal(ct_store_failed(store, "3012-000001", "1001", "late", err, sizeof(err)),
                     CL_ERR_STATE);
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)),
                     CL_ERR_STATE);

    /* S11 without S9 (the notice was lost) is accepted from the claiming line. */
    free(claim(store, "3012-000002", "1002", 120, serial));
    assert_int_equal(written(store, "3012-000002", "1002", serial, err, sizeof(err)), CL_OK);
    /* A late S11 after the claim window, nobody else having claimed: still accepted. */
    free(claim(store, "3012-000003", "1001", 120, serial));
    sql_value(conn, "UPDATE certificate SET claimed_at = now() - interval '1 hour'"
                    " WHERE device_number = '3012-000003'");
    assert_int_equal(written(store, "3012-000003", "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(count_listed(store, "written", ""), 3);
    PQfinish(conn);
    ct_store_close(store);
}

static void test_failed_and_replacement(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1],
        old_serial[CT_SERIAL_HEX_MAX + 1], reason[1100];
    struct ct_store *store = fresh_store("replacement", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, 2, 1);
    assert_int_equal(import(store, &plan, 1), 2);
    const char *numbers[] = {"3012-000001", "3012-000002"};
    fetch(store, "req-1", today, 0, numbers, 2, 1);

    char *old_pack = claim(store, "3012-000001", "1001", 120, old_serial);
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)), CL_OK);
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    assert_int_equal(ct_store_failed(store, "3012-000001", "1001", reason, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ct_store_failed(store, "3012-000001", "1001", "flash write failed", err, sizeof(err)),
        CL_OK);
    assert_string_equal(row_of(store, "3012-000001").state, "failed");
    assert_int_equal(ct_store_failed(store, "3012-000001", "1001", "again", err, sizeof(err)),
                     CL_OK); /* a repeated NG */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM failed_pack"), 1);
    /* Failed: nobody gets the pack until a replacement is stored. */
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_STATE, "no replacement yet");
    claim_refused(store, "3012-000001", "1002", 120, CL_ERR_STATE, "no replacement yet");
    assert_int_equal(written(store, "3012-000001", "1001", old_serial, err, sizeof(err)),
                     CL_ERR_STATE);
    const char *one[] = {"3012-000001"};
    begin_refused(store, "req-plain", today, 0, one, 1, CL_ERR_EXISTS, NULL);
    begin(store, "req-repl", today, 1, one, 1);
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_STATE, "no replacement yet");
    struct ct_pending_fetch *pending = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_fetch_pending(store, &pending, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(pending[0].replacement, 1);
    ct_pending_fetch_free(pending, count);
    complete(store, "req-repl", one, 1, 2);
    complete(store, "req-repl", one, 1, 3); /* completed already: nothing changes */

    struct ct_cert_row row = row_of(store, "3012-000001");
    assert_string_equal(row.state, "replaced");
    assert_int_equal(row.write_flag, 0);
    assert_int_equal(row.pack_held, 1);
    assert_string_equal(row.serial_hex, "02000000000001");
    /* The claim was released: another line may have the replacement at once. */
    char *new_pack = claim(store, "3012-000001", "1002", 120, serial);
    assert_string_equal(serial, "02000000000001");
    assert_string_not_equal(new_pack, old_pack);
    assert_contains(new_pack, "02000000000001");
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1002", err, sizeof(err)), CL_OK);
    assert_int_equal(written(store, "3012-000001", "1002", old_serial, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(written(store, "3012-000001", "1002", serial, err, sizeof(err)), CL_OK);
    assert_string_equal(row_of(store, "3012-000001").state, "written");
    /* A replacement is only for a failed certificate. */
    begin_refused(store, "req-repl-2", today, 1, one, 1, CL_ERR_STATE, "written, not failed");
    free(old_pack);
    free(new_pack);
    PQfinish(conn);
    ct_store_close(store);
}

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
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, 3, 1);
    assert_int_equal(import(store, &plan, 1), 3);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    fetch(store, "req-1", today, 0, numbers, 3, 1);
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
    fake_proof(nA123[0], proof);
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

static void test_operators_and_audit(void **state)
{
    static const char password[] = "line manager secret 1";
    char conninfo[256], dump[512];
    struct ct_store *store = fresh_store("operators", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct timespec start;
    double wrong_s, unknown_s, right_s;
    (void)state;

    assert_int_equal(ct_store_operator_count(store), 0);
    assert_int_equal(ct_store_operator_set(store, "alice", password, 0, "bootstrap"), CL_OK);
    assert_int_equal(ct_store_operator_count(store), 1);
    assert_int_equal(ct_store_operator_set(store, "alice", "another password", 0, "alice"),
                     CL_ERR_EXISTS);
    /* Refusals: malformed id, a short or missing password, no actor. */
    assert_int_equal(ct_store_operator_set(store, "bob smith", password, 0, "alice"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ct_store_operator_set(store, "a23456789012345678901234567890123", password, 0, "alice"),
        CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_set(store, "bob", "short", 0, "alice"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_set(store, "bob", NULL, 0, "alice"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_set(store, "bob", password, 0, ""), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_count(store), 1);

    /* Right, wrong, unknown: about the same time each (one PBKDF2 run; an unknown id that
     * skipped it would take a hundredth). The fastest of three tries of each, so that a busy
     * machine slowing one try does not decide. */
    right_s = wrong_s = unknown_s = 1e9;
    for (int i = 0; i < 3; i++) {
        double t;
        clock_gettime(CLOCK_MONOTONIC, &start);
        assert_int_equal(ct_store_operator_check(store, "alice", password), CL_OK);
        t = seconds_since(&start);
        right_s = t < right_s ? t : right_s;
        clock_gettime(CLOCK_MONOTONIC, &start);
        assert_int_equal(ct_store_operator_check(store, "alice", "line manager secret 2"),
                         CL_ERR_PERMISSION);
        t = seconds_since(&start);
        wrong_s = t < wrong_s ? t : wrong_s;
        clock_gettime(CLOCK_MONOTONIC, &start);
        assert_int_equal(ct_store_operator_check(store, "mallory", password), CL_ERR_PERMISSION);
        t = seconds_since(&start);
        unknown_s = t < unknown_s ? t : unknown_s;
    }
    print_message("operator check, fastest of 3: right %.3f s, wrong %.3f s, unknown %.3f s\n",
                  right_s, wrong_s, unknown_s);
    assert_true(unknown_s > wrong_s / 2 && wrong_s > unknown_s / 2 && right_s > unknown_s / 2);
    assert_int_equal(ct_store_operator_check(store, "alice", ""), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "alice", NULL), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "bad id", password), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, NULL, password), CL_ERR_PERMISSION);

    /* Replacing a password: the old one stops working. */
    assert_int_equal(ct_store_operator_set(store, "alice", "a brand new secret", 1, "alice"),
                     CL_OK);
    assert_int_equal(ct_store_operator_check(store, "alice", password), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "alice", "a brand new secret"), CL_OK);
    assert_int_equal(ct_store_operator_set(store, "bob", password, 1, "alice"), CL_OK);
    assert_int_equal(ct_store_operator_count(store), 2);

    /* What is stored: a salted slow hash, never the password; salts differ. */
    assert_int_equal(sql_value(conn, "SELECT min(iterations) FROM operator"), 200000);
    assert_int_equal(sql_value(conn, "SELECT count(DISTINCT salt) FROM operator"), 2);
    assert_int_equal(sql_value(conn,
                               "SELECT count(*) FROM operator WHERE"
                               " position(convert_to('line manager', 'UTF8') IN hash) > 0"
                               " OR position(convert_to('line manager', 'UTF8') IN salt) > 0"),
                     0);
    sql_text(conn,
             "SELECT string_agg(actor || ' ' || action || ' ' || detail, '; ' ORDER BY id)"
             " FROM audit_log",
             dump, sizeof(dump));
    print_message("audit: %s\n", dump);
    assert_contains(dump, "bootstrap operator_set operator alice: added");
    assert_contains(dump, "alice operator_set operator alice: password replaced");
    assert_contains(dump, "alice operator_set operator bob: added");
    assert_null(strstr(dump, "secret"));

    /* The audit entry operators' commands write themselves. */
    assert_int_equal(ct_store_audit(store, "alice", "login", "status"), CL_OK);
    assert_int_equal(ct_store_audit(store, "alice", "bad action", "x"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_audit(store, "", "login", "x"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'login'"), 1);
    PQfinish(conn);
    ct_store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_and_open),
        cmocka_unit_test(test_models_and_plan),
        cmocka_unit_test(test_numbers_to_fetch),
        cmocka_unit_test(test_fetch_restart_and_complete),
        cmocka_unit_test(test_fetch_complete_whole_answer),
        cmocka_unit_test(test_claim_window),
        cmocka_unit_test(test_claim_race),
        cmocka_unit_test(test_line_flow),
        cmocka_unit_test(test_failed_and_replacement),
        cmocka_unit_test(test_reports_and_receipts),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_cert_list_and_delete),
        cmocka_unit_test(test_operators_and_audit),
    };
    return cmocka_run_group_tests(tests, pg_fixture_group_setup, pg_fixture_group_teardown);
}
