/* test_owners.c: ca-server store, factories apart: a device number belongs to the factory that
 * first asked for it or that an operator assigned it to; another factory can neither issue,
 * resend nor replace it; request ids answer only their requester; the migration's backfill. */
#include <pthread.h>
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
#include "store.h"

#define EAST "comm-terminal-1" /* the requester of begin() and issue() */
#define WEST "comm-w.certline.test"

static void expect_owner(struct ca_store *store, const char *number, const char *factory,
                         const char *source, const char *detail)
{
    struct ca_owner owner;
    if (factory == NULL) {
        assert_int_equal(ca_store_owner_get(store, number, &owner), CL_ERR_NOT_FOUND);
        return;
    }
    assert_int_equal(ca_store_owner_get(store, number, &owner), CL_OK);
    assert_string_equal(owner.device_number, number);
    assert_string_equal(owner.factory, factory);
    assert_string_equal(owner.source, source);
    assert_string_equal(owner.detail, detail);
    assert_true(owner.since > 0);
}

/* A request of requester that must be refused with code; err gets why; no pack handed out. */
static void refused_as(struct ca_store *store, const char *requester, const char *id, unsigned seed,
                       int replacement, char **numbers, size_t n, int code, char *err,
                       size_t errlen)
{
    struct ca_batch_item items[4];
    enum ca_batch_state state;
    assert_true(n <= 4);
    int rc = begin_as(store, requester, id, seed, replacement, CONST_LIST(numbers), n, items,
                      &state, err, errlen);
    if (rc != code)
        fail_msg("%s as %s: %s (expected %s): %s", id, requester, cl_err_name(rc),
                 cl_err_name(code), err);
    for (size_t i = 0; i < n; i++)
        assert_null(items[i].pack);
}

static void test_first_requester_owns(void **state)
{
    char err[512];
    struct ca_store *store = fresh_store("owners_first", NULL, 0);
    char **east = make_numbers("3012", 1, 2), **west = make_numbers("3012", 100, 1);
    char *mixed[2] = {west[0], east[1]};
    struct ca_batch_item items[2];
    struct ca_cert_row *rows = NULL;
    size_t count = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "east-1", 1, east, 2, items);
    expect_owner(store, east[0], EAST, "request", "east-1");
    expect_owner(store, east[1], EAST, "request", "east-1");
    expect_owner(store, west[0], NULL, NULL, NULL);

    /* A new request naming one of east's numbers: refused, naming the number, not its owner;
     * nothing recorded, not even west's own number. */
    refused_as(store, WEST, "west-1", 2, 0, mixed, 2, CL_ERR_PERMISSION, err, sizeof(err));
    assert_contains(err, east[1]);
    assert_contains(err, "another factory");
    assert_null(strstr(err, EAST));
    assert_int_equal(count_certs(store, west[0], NULL), 0);
    expect_owner(store, west[0], NULL, NULL, NULL);

    /* A replacement: refused, east's certificate untouched. */
    refused_as(store, WEST, "west-2", 3, 1, east, 1, CL_ERR_PERMISSION, err, sizeof(err));
    assert_contains(err, east[0]);
    assert_int_equal(state_of(store, east[0], items[0].serial_hex), CA_CERT_ISSUED);

    /* The same request id and body as east's: refused, no pack; east still gets its own. */
    refused_as(store, WEST, "east-1", 1, 0, east, 2, CL_ERR_PERMISSION, err, sizeof(err));
    assert_contains(err, "east-1");
    assert_contains(err, "another requester");
    assert_null(strstr(err, EAST));
    {
        struct ca_batch_item again[2];
        begin(store, "east-1", 1, 0, CONST_LIST(east), 2, again, CA_BATCH_DONE);
        assert_string_equal(again[0].serial_hex, items[0].serial_hex);
        ca_batch_items_free(again, 2);
    }
    /* east's id with another body from west: refused the same, before the body is compared. */
    refused_as(store, WEST, "east-1", 9, 0, west, 1, CL_ERR_PERMISSION, err, sizeof(err));
    assert_contains(err, "another requester");

    /* West's own number is west's. */
    {
        enum ca_batch_state st;
        assert_int_equal(begin_as(store, WEST, "west-3", 4, 0, CONST_LIST(west), 1, items, &st, err,
                                  sizeof(err)),
                         CL_OK);
        assert_int_equal(st, CA_BATCH_NEW);
    }
    expect_owner(store, west[0], WEST, "request", "west-3");
    refused_as(store, EAST, "east-2", 5, 0, west, 1, CL_ERR_PERMISSION, err, sizeof(err));
    assert_contains(err, west[0]);

    /* list and show carry the factory. */
    assert_int_equal(ca_store_cert_list(store, east[0], NULL, NULL, 10, &rows, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(rows[0].owner, EAST);
    free(rows);
    free_numbers(east, 2);
    free_numbers(west, 1);
    ca_store_close(store);
}

static void test_assign(void **state)
{
    char err[512], conninfo[256], sqlstate[6], value[64];
    struct ca_store *store = fresh_store("owners_assign", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 2), **later = make_numbers("3012", 50, 1);
    const char *bad[] = {"3012-1", "not a number"};
    struct ca_batch_item old[2], fresh[1];
    struct ca_owner *rows = NULL;
    enum ca_batch_state st;
    size_t count = 0;
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "east-1", 1, numbers, 2, old);

    /* Only to a comm-terminal this CA issued a certificate for; numbers well formed. */
    assert_int_equal(
        ca_store_assign(store, CONST_LIST(numbers), 1, WEST, "operator:test", err, sizeof(err)),
        CL_ERR_NOT_FOUND);
    assert_contains(err, "no comm-terminal certificate");
    assert_int_equal(
        ca_store_service_issued(store, "5A01", "comm-terminal", WEST, "", "operator:test"), CL_OK);
    assert_int_equal(ca_store_assign(store, bad, 2, WEST, "operator:test", err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "not a number");
    assert_int_equal(ca_store_assign(store, CONST_LIST(numbers), 1, "operator:x", "operator:test",
                                     err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    expect_owner(store, numbers[0], EAST, "request", "east-1");

    /* Assigned: numbers[0] and a number nobody asked for yet. */
    const char *moved[] = {numbers[0], later[0], numbers[0]};
    assert_int_equal(ca_store_assign(store, moved, 3, WEST, "operator:test", err, sizeof(err)),
                     CL_OK);
    expect_owner(store, numbers[0], WEST, "operator", "operator:test");
    expect_owner(store, later[0], WEST, "operator", "operator:test");
    expect_owner(store, numbers[1], EAST, "request", "east-1");

    /* East can no longer resend its request (it names numbers[0]) nor replace it. */
    refused_as(store, EAST, "east-1", 1, 0, numbers, 2, CL_ERR_PERMISSION, err, sizeof(err));
    assert_contains(err, numbers[0]);
    refused_as(store, EAST, "east-2", 2, 1, numbers, 1, CL_ERR_PERMISSION, err, sizeof(err));

    /* West replaces it: east's certificate is superseded. */
    assert_int_equal(
        begin_as(store, WEST, "west-1", 3, 1, CONST_LIST(numbers), 1, fresh, &st, err, sizeof(err)),
        CL_OK);
    assert_int_equal(st, CA_BATCH_NEW);
    assert_int_equal(state_of(store, numbers[0], old[0].serial_hex), CA_CERT_SUPERSEDED);
    expect_owner(store, numbers[0], WEST, "operator", "operator:test");

    /* The factory's listing; the audit log. */
    assert_int_equal(ca_store_owner_list(store, WEST, 100, &rows, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(rows[0].device_number, numbers[0]);
    assert_string_equal(rows[1].device_number, later[0]);
    free(rows);
    assert_int_equal(ca_store_owner_list(store, NULL, 100, &rows, &count), CL_OK);
    assert_int_equal(count, 3);
    free(rows);
    conn = PQconnectdb(conninfo);
    sql(conn, "SELECT detail FROM audit_log WHERE action = 'assign' AND actor = 'operator:test'",
        sqlstate, value, sizeof(value));
    assert_string_equal(sqlstate, "");
    assert_non_null(strstr(value, WEST));
    PQfinish(conn);
    free_numbers(numbers, 2);
    free_numbers(later, 1);
    ca_store_close(store);
}

static void test_operator_batches(void **state)
{
    char err[512];
    struct ca_store *store = fresh_store("owners_operator", NULL, 0);
    char **numbers = make_numbers("3012", 1, 2);
    struct ca_batch_item items[2];
    enum ca_batch_state st;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "east-1", 1, numbers, 1, items);

    /* The offline batch (an operator) may replace east's number and claims nothing. */
    assert_int_equal(begin_as(store, "operator:alice", "offline-1", 2, 1, CONST_LIST(numbers), 2,
                              items, &st, err, sizeof(err)),
                     CL_OK);
    expect_owner(store, numbers[0], EAST, "request", "east-1");
    expect_owner(store, numbers[1], NULL, NULL, NULL);
    /* Another operator resumes it; a factory may not. */
    assert_int_equal(begin_as(store, "operator:bob", "offline-1", 2, 1, CONST_LIST(numbers), 2,
                              items, &st, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(st, CA_BATCH_PENDING);
    refused_as(store, EAST, "offline-1", 2, 1, numbers, 2, CL_ERR_PERMISSION, err, sizeof(err));
    free_numbers(numbers, 2);
    ca_store_close(store);
}

/* Rows from before migration 5: the owner is the comm-terminal that asked first; numbers only
 * an operator's offline batch issued stay unowned. */
static void test_migration_backfill(void **state)
{
    char err[512], conninfo[256], sqlstate[6];
    struct ca_store *store = fresh_store("owners_backfill", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 3);
    struct ca_batch_item items[2];
    enum ca_batch_state st;
    int applied = -1;
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "east-1", 1, numbers, 2, items);
    begin(store, "east-2", 2, 1, CONST_LIST(numbers), 1, items, CA_BATCH_NEW);
    assert_int_equal(begin_as(store, "operator:alice", "offline-1", 3, 0, CONST_LIST(numbers) + 2,
                              1, items, &st, err, sizeof(err)),
                     CL_OK);
    /* As before migration 5: no owners; a later replacement came from another comm-terminal. */
    conn = PQconnectdb(conninfo);
    sql(conn,
        "DROP TABLE device_owner; DELETE FROM schema_migrations WHERE version = 5;"
        " UPDATE batch_request SET requester = '" WEST "' WHERE request_id = 'east-2'",
        sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    PQfinish(conn);
    assert_int_equal(ca_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 1);
    expect_owner(store, numbers[0], EAST, "migration", "east-1");
    expect_owner(store, numbers[1], EAST, "migration", "east-1");
    expect_owner(store, numbers[2], NULL, NULL, NULL);
    free_numbers(numbers, 3);
    ca_store_close(store);
}

struct claimer {
    struct ca_store *store;
    pthread_barrier_t *barrier;
    const char *requester, *id;
    char **numbers;
    struct ca_batch_item items[1];
    int rc;
    char err[512];
};

static void *claim(void *arg)
{
    struct claimer *c = arg;
    enum ca_batch_state st;
    pthread_barrier_wait(c->barrier);
    c->rc = begin_as(c->store, c->requester, c->id, 7, 0, CONST_LIST(c->numbers), 1, c->items, &st,
                     c->err, sizeof(c->err));
    return NULL;
}

/* Two factories asking for one unowned number at once: exactly one gets it. */
static void test_concurrent_claim(void **state)
{
    enum { ROUNDS = 8 };
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("owners_race", conninfo, sizeof(conninfo)), *other = NULL;
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    for (unsigned round = 0; round < ROUNDS; round++) {
        char **numbers = make_numbers("3012", 10 + round, 1);
        char id_a[32], id_b[32];
        pthread_barrier_t barrier;
        pthread_t ta, tb;
        snprintf(id_a, sizeof(id_a), "a-%u", round);
        snprintf(id_b, sizeof(id_b), "b-%u", round);
        struct claimer a = {
            .store = store, .barrier = &barrier, .requester = EAST, .id = id_a, .numbers = numbers};
        struct claimer b = {
            .store = other, .barrier = &barrier, .requester = WEST, .id = id_b, .numbers = numbers};
        assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
        assert_int_equal(pthread_create(&ta, NULL, claim, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, claim, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        if (!((a.rc == CL_OK) ^ (b.rc == CL_OK)))
            fail_msg("round %u: exactly one must win: a %s (%s), b %s (%s)", round,
                     cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
        struct claimer *loser = a.rc == CL_OK ? &b : &a;
        assert_int_equal(loser->rc, CL_ERR_PERMISSION);
        assert_contains(loser->err, numbers[0]);
        expect_owner(store, numbers[0], a.rc == CL_OK ? EAST : WEST, "request",
                     a.rc == CL_OK ? id_a : id_b);
        assert_int_equal(count_certs(store, numbers[0], NULL), 1);
        free_numbers(numbers, 1);
    }
    ca_store_close(other);
    ca_store_close(store);
}

int ca_store_owners_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_requester_owns), cmocka_unit_test(test_assign),
        cmocka_unit_test(test_operator_batches),     cmocka_unit_test(test_migration_backfill),
        cmocka_unit_test(test_concurrent_claim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
