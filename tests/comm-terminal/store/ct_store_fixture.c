/* ct_store_fixture.c: what the comm-terminal store tests share: a fresh migrated store, plans,
 * fetches with fake packs, claims, listings and raw SQL. */
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

struct ct_store *open_store(const char *conninfo)
{
    struct ct_store *store = NULL;
    char err[512];
    pg_fixture_require(ct_store_open(conninfo, &store, err, sizeof(err)), "ct_store_open", err);
    return store;
}

/* A fresh database, migrated; its conninfo in conninfo (if not NULL). */
struct ct_store *fresh_store(const char *db, char *conninfo, size_t len)
{
    struct ct_store *store = open_store(pg_fixture_create_db(db, conninfo, len));
    char err[512];
    int applied = -1;

    pg_fixture_require(ct_store_migrate(store, &applied, err, sizeof(err)), "ct_store_migrate",
                       err);
    assert_int_equal(applied, 13); /* every migration: the initial schema, the CRL, limbo, plan
                                    * feed, model list and records, the console's indexes, line
                                    * times, the certificates not written by state, receipt
                                    * manifests, rejected reports closed by their replacement,
                                    * each planned number's written state,
                                    * the device search by line, the written state derived
                                    * again */
    return store;
}

/* A fresh database migrated up to version only (as an older comm-terminal left it). */
struct ct_store *store_at_version(const char *db, int version, char *conninfo, size_t len)
{
    struct ct_store *store = open_store(pg_fixture_create_db(db, conninfo, len));
    char err[512];
    int applied = -1;

    pg_fixture_require(ct_store_migrate_upto(store, version, &applied, err, sizeof(err)),
                       "ct_store_migrate_upto", err);
    assert_int_equal(applied, version);
    return store;
}

/* The local date of t, YYYY-MM-DD. */
void day_of(time_t t, char day[11])
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(day, 11, "%Y-%m-%d", &tm);
}

struct ct_plan_entry entry(const char *model, const char *day, long units, long long first_serial)
{
    struct ct_plan_entry e = {.units = units, .first_serial = first_serial, .serial_digits = 6};
    snprintf(e.model_code, sizeof(e.model_code), "%s", model);
    snprintf(e.day, sizeof(e.day), "%s", day);
    return e;
}

size_t import(struct ct_store *store, const struct ct_plan_entry *entries, size_t count)
{
    char err[512];
    size_t added = 99;
    int rc = ct_store_plan_import(store, entries, count, ACTOR, &added, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("plan_import: %s: %s", cl_err_name(rc), err);
    return added;
}

void model(struct ct_store *store, const char *code, int managed)
{
    assert_int_equal(ct_store_model_set(store, code, managed, ACTOR), CL_OK);
}

/* A serial for a device number's pack of generation gen ("0<gen>" + the number's digits). */
void fake_serial(const char *number, int gen, char serial[CT_SERIAL_HEX_MAX + 1])
{
    const char *digits = strchr(number, '-') + 1;
    snprintf(serial, CT_SERIAL_HEX_MAX + 1, "%02X%012lld", gen, atoll(digits));
}

void begin(struct ct_store *store, const char *id, const char *day, int replacement,
           const char *const *numbers, size_t n)
{
    char err[512];
    int rc = ct_store_fetch_begin(store, id, day, replacement, numbers, n, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("fetch_begin %s: %s: %s", id, cl_err_name(rc), err);
}

void begin_refused(struct ct_store *store, const char *id, const char *day, int replacement,
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
void complete(struct ct_store *store, const char *id, const char *const *numbers, size_t n, int gen)
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

void fetch(struct ct_store *store, const char *id, const char *day, int replacement,
           const char *const *numbers, size_t n, int gen)
{
    begin(store, id, day, replacement, numbers, n);
    complete(store, id, numbers, n, gen);
}

size_t plan_and_fetch(struct ct_store *store, const char *today, long units,
                      const char *const *numbers, size_t n)
{
    struct ct_plan_entry plan = entry("3012", today, units, 1);
    size_t added;
    model(store, "3012", 1);
    added = import(store, &plan, 1);
    fetch(store, "req-1", today, 0, numbers, n, 1);
    return added;
}

/* Claims and expects success; returns the pack (free it). */
char *claim(struct ct_store *store, const char *number, const char *line, int seconds,
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

void claim_refused(struct ct_store *store, const char *number, const char *line, int seconds,
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

int written(struct ct_store *store, const char *number, const char *line, const char *serial,
            char *err, size_t len)
{
    char proof[CT_VERIFY_HEX + 1];
    fake_proof(number, proof, CT_VERIFY_HEX);
    return ct_store_written(store, number, line, serial, proof, time(NULL), err, len);
}

/* The listing row of one device number (fails if absent). */
struct ct_cert_row row_of(struct ct_store *store, const char *number)
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

size_t count_listed(struct ct_store *store, const char *state, const char *model_code)
{
    struct ct_cert_row *rows = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_cert_list(store, state, model_code, 1000000, &rows, &count), CL_OK);
    free(rows);
    return count;
}

/* Runs a statement (no parameters) that must succeed; returns its first value as a number. */
long long sql_value(PGconn *conn, const char *statement)
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

void sql_text(PGconn *conn, const char *statement, char *out, size_t len)
{
    PGresult *res = PQexec(conn, statement);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
        fail_msg("%s: %s", statement, PQerrorMessage(conn));
    snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

/* ---- the migration tests (test_ct_migrations.c, test_ct_migration_steps.c) ---- */

long long schema_version(PGconn *conn)
{
    return sql_value(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
}

long long plan_flags_wrong(PGconn *conn)
{
    return sql_value(conn, "SELECT count(*) FROM plan_device p WHERE p.written <> EXISTS (SELECT 1"
                           " FROM certificate c WHERE c.device_number = p.device_number"
                           " AND c.state = 'written')");
}

long long open_from_scratch(PGconn *conn, const char *day, const char *model_code)
{
    const char *values[] = {day, model_code};
    PGresult *res = PQexecParams(
        conn,
        "SELECT count(*) FROM plan_device p WHERE p.day = $1::date AND p.model_code = $2"
        " AND NOT EXISTS (SELECT 1 FROM certificate c WHERE c.device_number = p.device_number"
        " AND c.state = 'written')",
        2, NULL, values, NULL, NULL, 0);
    long long n;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("open count of %s on %s: %s", model_code, day, PQerrorMessage(conn));
    n = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

void expect_status_from_scratch(struct ct_store *store, PGconn *conn, const char *day)
{
    struct ct_model_status *rows = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_status(store, day, &rows, &count), CL_OK);
    for (size_t i = 0; i < count; i++) {
        long long scratch = open_from_scratch(conn, day, rows[i].model_code);
        if (rows[i].remaining != scratch)
            fail_msg("%s on %s: status says %ld remaining, counted from scratch %lld",
                     rows[i].model_code, day, rows[i].remaining, scratch);
    }
    free(rows);
}

void expect_indexes_valid(PGconn *conn, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        const char *values[] = {names[i]};
        PGresult *res = PQexecParams(conn,
                                     "SELECT i.indisvalid AND i.indisready AND i.indislive"
                                     " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                                     " WHERE c.relname = $1",
                                     1, NULL, values, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            fail_msg("index %s: not found (%s)", names[i], PQerrorMessage(conn));
        if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
            fail_msg("index %s: not valid", names[i]);
        PQclear(res);
    }
}
