/* test_connection.c: ca-server store, the store's connection: migrations applied once whatever the
 * number of connections, a password that never shows in an error, a connection lost or on a
 * read-only server made again. */
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
#include "pg_db.h"
#include "pg_fixture.h"
#include "store.h"

static void test_migrate_twice(void **state)
{
    char conninfo[256], err[512], bad[512];
    struct ca_store *store = fresh_store("migrate_twice", conninfo, sizeof(conninfo));
    struct ca_store *other = NULL;
    int applied = -1;
    (void)state;

    assert_int_equal(ca_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    /* A second connection (another ca-server) finds nothing to do either. */
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_migrate(other, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    ca_store_close(other);
    ca_store_close(store);

    /* The password never shows in an error: a failed connection, a malformed conninfo. */
    snprintf(bad, sizeof(bad), "host=/nonexistent-certline port=1 password=Hunter2Secret");
    assert_int_equal(ca_store_open(bad, &other, err, sizeof(err)), CL_ERR_DB);
    assert_null(other);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ca_store_open("password=Hunter2Secret junk", &other, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ca_store_open("postgresql://u:Hunter2Secret@/db?host=/nonexistent-certline",
                                   &other, err, sizeof(err)),
                     CL_ERR_DB);
    assert_null(strstr(err, "Hunter2Secret"));
    ca_store_close(NULL);
}

/* The server ends an idle session (idle_session_timeout) just as a statement is sent: the
 * goodbye is already on its way, so cl_pg_ready's look cannot see it. The statement was never
 * run, so it is sent once more on a new connection. The same loss inside a transaction is not
 * retried: what ran before it is gone, and the caller must hear of it. */
static void test_statement_after_idle_goodbye(void **state)
{
    char conninfo[256], err[512];
    struct cl_pg *db = NULL;
    PGresult *res = NULL;
    (void)state;

    snprintf(conninfo, sizeof(conninfo), "%s", pg_fixture_create_db("idle_goodbye", NULL, 0));
    pg_fixture_require(cl_pg_open(conninfo, "test", &db, err, sizeof(err)), "open", err);
    pg_fixture_require(
        cl_pg_query(db, NULL, "SET idle_session_timeout = '100ms'", 0, NULL, err, sizeof(err)),
        "set", err);
    nap_ms(400); /* the server has said goodbye; nothing has read it yet */
    pg_fixture_require(cl_pg_query(db, &res, "SELECT 41 + 1", 0, NULL, err, sizeof(err)),
                       "the statement after the goodbye", err);
    assert_string_equal(PQgetvalue(res, 0, 0), "42");
    PQclear(res);

    pg_fixture_require(cl_pg_query(db, NULL, "SET idle_in_transaction_session_timeout = '100ms'", 0,
                                   NULL, err, sizeof(err)),
                       "set", err);
    pg_fixture_require(cl_pg_begin(db, err, sizeof(err)), "begin", err);
    nap_ms(400);
    assert_int_equal(cl_pg_query(db, NULL, "SELECT 1", 0, NULL, err, sizeof(err)), CL_ERR_DB);
    cl_pg_close(db);
}

static int backend_pid(struct cl_pg *db)
{
    char err[256];
    PGresult *res = NULL;
    pg_fixture_require(cl_pg_query(db, &res, "SELECT pg_backend_pid()", 0, NULL, err, sizeof(err)),
                       "pid", err);
    int pid = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return pid;
}

/* A failover: a session on a server that takes no writes (a standby answering during promotion,
 * here a read-only session) is refused a write (25006); the transaction is to be run again and
 * the next one runs on a new connection, which libpq's target_session_attrs=read-write would
 * take to the server that takes writes. A failure that is not a lost connection is not run
 * again. */
static void test_read_only_server_left(void **state)
{
    char conninfo[256], err[512];
    struct cl_pg *db = NULL;
    int runs = 0, pid;
    (void)state;

    snprintf(conninfo, sizeof(conninfo), "%s", pg_fixture_create_db("read_only_left", NULL, 0));
    pg_fixture_require(cl_pg_open(conninfo, "test", &db, err, sizeof(err)), "open", err);
    pg_fixture_require(
        cl_pg_query(db, NULL, "SET default_transaction_read_only = on", 0, NULL, err, sizeof(err)),
        "set", err);
    pid = backend_pid(db);
    pg_fixture_require(cl_pg_begin(db, err, sizeof(err)), "begin", err);
    int rc = cl_pg_query(db, NULL, "CREATE TABLE t (x int)", 0, NULL, err, sizeof(err));
    assert_int_equal(rc, CL_ERR_DB);
    assert_non_null(strstr(err, "read-only"));
    rc = cl_pg_fail(db, rc);
    assert_true(cl_pg_again(db, rc, &runs));
    pg_fixture_require(cl_pg_begin(db, err, sizeof(err)), "begin again", err);
    assert_int_not_equal(backend_pid(db), pid);
    pg_fixture_require(cl_pg_query(db, NULL, "CREATE TABLE t (x int)", 0, NULL, err, sizeof(err)),
                       "the write on the new connection", err);
    pg_fixture_require(cl_pg_commit(db, err, sizeof(err)), "commit", err);

    /* Not a lost connection: no second run. */
    runs = 0;
    pg_fixture_require(cl_pg_begin(db, err, sizeof(err)), "begin", err);
    rc = cl_pg_fail(db, cl_pg_query(db, NULL, "CREATE TABLE t (x int)", 0, NULL, err, sizeof(err)));
    assert_int_equal(rc, CL_ERR_DB);
    assert_false(cl_pg_again(db, rc, &runs));
    /* At most three runs. */
    runs = 2;
    pg_fixture_require(
        cl_pg_query(db, NULL, "SET default_transaction_read_only = on", 0, NULL, err, sizeof(err)),
        "set", err);
    rc = cl_pg_query(db, NULL, "CREATE TABLE u (x int)", 0, NULL, err, sizeof(err));
    assert_false(cl_pg_again(db, rc, &runs));
    cl_pg_close(db);
}

int ca_store_connection_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_twice),
        cmocka_unit_test(test_statement_after_idle_goodbye),
        cmocka_unit_test(test_read_only_server_left),
    };
    return cmocka_run_group_tests_name("ca_store connection", tests, NULL, NULL);
}
