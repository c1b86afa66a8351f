/* ca_store_fixture.c: what the ca-server store tests share: a fresh migrated store, models, device
 * numbers, batches begun and "signed", counts and states, raw SQL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ca_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"

/* A fresh database, migrated; its conninfo in conninfo (if not NULL). */
struct ca_store *fresh_store(const char *db, char *conninfo, size_t len)
{
    const char *info = pg_fixture_create_db(db, conninfo, len);
    struct ca_store *store = NULL;
    char err[512];
    int applied = -1;

    pg_fixture_require(ca_store_open(info, &store, err, sizeof(err)), "ca_store_open", err);
    pg_fixture_require(ca_store_migrate(store, &applied, err, sizeof(err)), "ca_store_migrate",
                       err);
    assert_int_equal(applied, 11); /* migrations 1 to 11 */
    return store;
}

/* A fresh database migrated up to version only (as an older ca-server left it). */
struct ca_store *store_at_version(const char *db, int version, char *conninfo, size_t len)
{
    const char *info = pg_fixture_create_db(db, conninfo, len);
    struct ca_store *store = NULL;
    char err[512];
    int applied = -1;

    pg_fixture_require(ca_store_open(info, &store, err, sizeof(err)), "ca_store_open", err);
    pg_fixture_require(ca_store_migrate_upto(store, version, &applied, err, sizeof(err)),
                       "ca_store_migrate_upto", err);
    assert_int_equal(applied, version);
    return store;
}

void add_model(struct ca_store *store, const char *code, const char *key_type, int managed)
{
    struct ca_model model = {.certificate_managed = managed};
    snprintf(model.code, sizeof(model.code), "%s", code);
    snprintf(model.key_type, sizeof(model.key_type), "%s", key_type);
    snprintf(model.key_id, sizeof(model.key_id), "prewrite-%s", code);
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_OK);
}

/* n device numbers "<model>-<first..>" (six digits); free with free_numbers. */
char **make_numbers(const char *model, unsigned first, size_t n)
{
    char **numbers = calloc(n, sizeof(*numbers));
    assert_non_null(numbers);
    for (size_t i = 0; i < n; i++) {
        numbers[i] = malloc(CA_DEVICE_NUMBER_MAX + 1);
        assert_non_null(numbers[i]);
        snprintf(numbers[i], CA_DEVICE_NUMBER_MAX + 1, "%s-%06u", model, first + (unsigned)i);
    }
    return numbers;
}

void free_numbers(char **numbers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(numbers[i]);
    free(numbers);
}

void body_hash(unsigned seed, unsigned char hash[32])
{
    for (int i = 0; i < 32; i++)
        hash[i] = (unsigned char)(seed * 131u + (unsigned)i * 7u);
}

int begin_as(struct ca_store *store, const char *requester, const char *id, unsigned seed,
             int replacement, const char *const *numbers, size_t n, struct ca_batch_item *items,
             enum ca_batch_state *state, char *err, size_t errlen)
{
    unsigned char hash[32];
    body_hash(seed, hash);
    return ca_store_batch_begin(store, id, hash, replacement, requester, numbers, n, items, state,
                                err, errlen);
}

/* Begins a batch and expects state. */
void begin(struct ca_store *store, const char *id, unsigned seed, int replacement,
           const char *const *numbers, size_t n, struct ca_batch_item *items,
           enum ca_batch_state expected)
{
    enum ca_batch_state state;
    char err[512];
    int rc = begin_as(store, "comm-terminal-1", id, seed, replacement, numbers, n, items, &state,
                      err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("batch_begin %s: %s: %s", id, cl_err_name(rc), err);
    assert_int_equal(state, expected);
}

/* Begins a batch that must be refused with code; err gets why. */
void begin_refused(struct ca_store *store, const char *id, unsigned seed, int replacement,
                   const char *const *numbers, size_t n, int code, char *err, size_t errlen)
{
    enum ca_batch_state state;
    struct ca_batch_item *items = calloc(n > 0 ? n : 1, sizeof(*items));
    assert_non_null(items);
    int rc = begin_as(store, "comm-terminal-1", id, seed, replacement, numbers, n, items, &state,
                      err, errlen);
    if (rc != code)
        fail_msg("batch_begin %s: %s (expected %s): %s", id, cl_err_name(rc), cl_err_name(code),
                 err);
    for (size_t i = 0; i < n; i++)
        assert_null(items[i].pack);
    free(items);
}

/* "Signs" every item of a batch and completes it. */
void complete(struct ca_store *store, const char *id, const struct ca_batch_item *items, size_t n)
{
    struct ca_issued_item *issued = calloc(n, sizeof(*issued));
    char(*packs)[128] = calloc(n, sizeof(*packs));
    char(*values)[CA_VERIFY_HEX + 1] = calloc(n, sizeof(*values));
    char err[512];
    assert_true(issued != NULL && packs != NULL && values != NULL);
    for (size_t i = 0; i < n; i++) {
        fake_pack(items[i].device_number, items[i].serial_hex, packs[i], sizeof(packs[i]));
        fake_proof(items[i].device_number, values[i], CA_VERIFY_HEX);
        issued[i] = (struct ca_issued_item){
            .serial_hex = items[i].serial_hex,
            .cert_der = (const unsigned char *)items[i].serial_hex,
            .cert_len = strlen(items[i].serial_hex),
            .pack = packs[i],
            .server_value = values[i],
        };
    }
    int rc = ca_store_batch_complete(store, id, issued, n, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("batch_complete %s: %s: %s", id, cl_err_name(rc), err);
    free(issued);
    free(packs);
    free(values);
}

void issue(struct ca_store *store, const char *id, unsigned seed, char **numbers, size_t n,
           struct ca_batch_item *items)
{
    begin(store, id, seed, 0, CONST_LIST(numbers), n, items, CA_BATCH_NEW);
    complete(store, id, items, n);
}

struct install_result install(struct ca_store *store, const char *number, const char *serial,
                              const char *proof, time_t at)
{
    struct install_result r = {.received = -1};
    r.rc = ca_store_install(store, number, serial, proof, at, &r.received, r.err, sizeof(r.err));
    return r;
}

struct install_result install_proven(struct ca_store *store, const char *number, const char *serial,
                                     time_t at)
{
    char proof[CA_VERIFY_HEX + 1];
    fake_proof(number, proof, CA_VERIFY_HEX);
    return install(store, number, serial, proof, at);
}

size_t count_certs(struct ca_store *store, const char *number, const char *state)
{
    struct ca_cert_row *rows = NULL;
    size_t count = 0;
    assert_int_equal(ca_store_cert_list(store, number, NULL, state, 1000000, &rows, &count), CL_OK);
    free(rows);
    return count;
}

enum ca_cert_state state_of(struct ca_store *store, const char *number, const char *serial)
{
    struct ca_cert_row row;
    assert_int_equal(ca_store_cert_state(store, number, serial, &row), CL_OK);
    return row.state;
}

/* Runs sql (no parameters) and returns its SQLSTATE ("" on success); the first value, if any,
 * goes to value. */
void sql(PGconn *conn, const char *statement, char *sqlstate, char *value, size_t len)
{
    PGresult *res = PQexec(conn, statement);
    ExecStatusType status = PQresultStatus(res);
    const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(sqlstate, 6, "%s",
             status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? ""
             : code                                                  ? code
                                                                     : "?????");
    if (value != NULL) {
        value[0] = '\0';
        if (status == PGRES_TUPLES_OK && PQntuples(res) > 0)
            snprintf(value, len, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
}

PGconn *connect_raw(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(conn));
    return conn;
}

void nap_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0)
        ;
}
