/* test_certificates.c: ca-server store, device certificates: states, lookups, listing, revocation,
 * and the database refusing a second valid certificate for one device number. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ca_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"
#include "store.h"

/* Every certificate state and its name. */
static const struct {
    enum ca_cert_state state;
    const char *name;
} state_names[] = {
    {CA_CERT_INTENT, "intent"},       {CA_CERT_ISSUED, "issued"},
    {CA_CERT_INSTALLED, "installed"}, {CA_CERT_SUPERSEDED, "superseded"},
    {CA_CERT_REVOKED, "revoked"},     {CA_CERT_UNKNOWN, "unknown"},
};

static void test_states_and_revoke(void **state)
{
    struct ca_store *store = fresh_store("states", NULL, 0);
    char **numbers = make_numbers("3012", 1, 4), **fresh = make_numbers("3012", 1, 1), err[512];
    struct ca_batch_item items[4], replaced[1], again[1];
    struct ca_cert_row row;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 4, items, CA_BATCH_NEW);
    assert_int_equal(state_of(store, numbers[0], items[0].serial_hex), CA_CERT_INTENT);
    complete(store, "r-1", items, 4);
    assert_int_equal(install_proven(store, numbers[1], items[1].serial_hex, 1700000000).rc, CL_OK);
    begin(store, "r-2", 2, 1, CONST_LIST(fresh), 1, replaced,
          CA_BATCH_NEW); /* supersedes items[0] */
    assert_int_equal(ca_store_revoke(store, items[3].serial_hex, "key compromise", "operator:test"),
                     CL_OK);

    assert_int_equal(state_of(store, numbers[0], replaced[0].serial_hex), CA_CERT_INTENT);
    assert_int_equal(state_of(store, numbers[0], items[0].serial_hex), CA_CERT_SUPERSEDED);
    assert_int_equal(state_of(store, numbers[1], items[1].serial_hex), CA_CERT_INSTALLED);
    assert_int_equal(state_of(store, numbers[2], items[2].serial_hex), CA_CERT_ISSUED);
    assert_int_equal(state_of(store, numbers[3], items[3].serial_hex), CA_CERT_REVOKED);
    assert_int_equal(state_of(store, numbers[3], "0BADC0DE"), CA_CERT_UNKNOWN);
    assert_int_equal(state_of(store, numbers[2], items[3].serial_hex), CA_CERT_UNKNOWN);
    assert_int_equal(state_of(store, "not a number", "xyz"), CA_CERT_UNKNOWN);

    assert_int_equal(ca_store_cert_state(store, numbers[2], items[2].serial_hex, &row), CL_OK);
    assert_string_equal(row.device_number, numbers[2]);
    assert_string_equal(row.model_code, "3012");
    assert_string_equal(row.request_id, "r-1");
    assert_true(row.created_at > 0 && row.issued_at >= row.created_at);
    assert_int_equal(row.installed_at, 0);
    assert_int_equal(row.ended_at, 0);
    assert_int_equal(ca_store_cert_state(store, numbers[3], items[3].serial_hex, &row), CL_OK);
    assert_string_equal(row.reason, "key compromise");
    assert_true(row.ended_at > 0);

    for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
        assert_string_equal(ca_cert_state_name(state_names[i].state), state_names[i].name);

    /* Revocation: only of a valid certificate; a revoked number can be issued again. */
    assert_int_equal(ca_store_revoke(store, items[3].serial_hex, "again", "operator:test"),
                     CL_ERR_STATE);
    assert_int_equal(ca_store_revoke(store, items[0].serial_hex, "x", "operator:test"),
                     CL_ERR_STATE);
    assert_int_equal(ca_store_revoke(store, "0BADC0DE", "x", "operator:test"), CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_revoke(store, "0bad", "x", "operator:test"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_revoke(store, replaced[0].serial_hex, "intent revoked", "op"), CL_OK);
    {
        const char *n3[] = {numbers[3]};
        begin(store, "r-3", 3, 0, n3, 1, again, CA_BATCH_NEW);
    }
    /* A pending request whose intent was revoked meanwhile cannot be resumed. */
    begin_refused(store, "r-2", 2, 1, (const char *const *)fresh, 1, CL_ERR_STATE, err,
                  sizeof(err));
    assert_contains(err, numbers[0]);
    assert_contains(err, "revoked");

    /* Lists: filters and newest first. */
    {
        struct ca_cert_row *rows = NULL;
        size_t count = 0;
        assert_int_equal(ca_store_cert_list(store, NULL, NULL, NULL, 100, &rows, &count), CL_OK);
        assert_int_equal(count, 6);
        assert_string_equal(rows[0].serial_hex, again[0].serial_hex);
        assert_string_equal(rows[5].serial_hex, items[0].serial_hex);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, "3012", "revoked", 100, &rows, &count),
                         CL_OK);
        assert_int_equal(count, 2);
        free(rows);
        /* One model (read in the model's own index order): the same rows, newest first. */
        assert_int_equal(ca_store_cert_list(store, NULL, "3012", NULL, 100, &rows, &count), CL_OK);
        assert_int_equal(count, 6);
        assert_string_equal(rows[0].serial_hex, again[0].serial_hex);
        assert_string_equal(rows[5].serial_hex, items[0].serial_hex);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, "5105", NULL, 100, &rows, &count), CL_OK);
        assert_int_equal(count, 0);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, NULL, NULL, 2, &rows, &count), CL_OK);
        assert_int_equal(count, 2);
        free(rows);
        assert_int_equal(ca_store_cert_list(store, NULL, NULL, "lost", 2, &rows, &count),
                         CL_ERR_INVALID_ARGUMENT);
        assert_int_equal(ca_store_cert_list(store, "3012 1", NULL, NULL, 2, &rows, &count),
                         CL_ERR_INVALID_ARGUMENT);
    }
    free_numbers(numbers, 4);
    free_numbers(fresh, 1);
    ca_store_close(store);
}

/* ---- the database's own guard ---- */

static void test_database_refuses_second_valid(void **state)
{
    char conninfo[256], sqlstate[6], query[512], value[64];
    struct ca_store *store = fresh_store("db_guard", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 1);
    struct ca_batch_item items[1];
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 1, items, CA_BATCH_NEW);
    conn = pg_fixture_connect(conninfo);

    /* A second valid certificate for the number, written around the store: refused. */
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0B0C', '3012-000001', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23505");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state, cert_der, pack,"
        " server_value, issued_at) VALUES ('0A0B0C', '3012-000001', '3012', 'issued', '\\x01',"
        " 'p', repeat('a', 64), now())",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23505");
    /* History is fine: a superseded one beside it. */
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state, ended_at)"
        " VALUES ('0A0B0C', '3012-000001', '3012', 'superseded', now())",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    /* ...which cannot come back to life while the other is valid. */
    sql(conn, "UPDATE certificate SET state = 'intent', ended_at = NULL WHERE serial = '0A0B0C'",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23505");
    /* The other checks: serial form, number form, number of the model, state, issued rows. */
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0a0b', '3012-000002', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0', '3012-000002', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012_000002', '3012', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO device_model (code, key_type, certificate_managed, key_id)"
        " VALUES ('3013', 'p256', true, 'k-3013')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012-000002', '3013', 'intent')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012-000002', '3012', 'lost')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO certificate (serial, device_number, model_code, state)"
        " VALUES ('0A0D', '3012-000002', '3012', 'issued')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    sql(conn,
        "INSERT INTO device_model (code, key_type, certificate_managed, key_id)"
        " VALUES ('3014', 'ed25519', true, 'k-3014')",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "23514");
    snprintf(query, sizeof(query), "SELECT count(*) FROM certificate WHERE state = 'intent'");
    sql(conn, query, sqlstate, value, sizeof(value));
    assert_string_equal(value, "1");
    sql(conn, "SELECT max(version) FROM schema_migrations", sqlstate, value, sizeof(value));
    assert_string_equal(value, "11");
    PQfinish(conn);
    free_numbers(numbers, 1);
    ca_store_close(store);
}

int ca_store_certificates_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states_and_revoke),
        cmocka_unit_test(test_database_refuses_second_valid),
    };
    return cmocka_run_group_tests_name("ca_store certificates", tests, NULL, NULL);
}
