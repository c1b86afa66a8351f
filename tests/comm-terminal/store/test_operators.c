/* test_operators.c: comm-terminal store, operators: PBKDF2 password hashes, login checks that
 * run the key derivation whether or not the operator exists, the count and their audit entries.
 * The executable is linked with --wrap=mbedtls_pkcs5_pbkdf2_hmac so that the derivations a check
 * runs can be counted. */
#include <pthread.h>
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
#include <mbedtls/md.h>

#include "ct_store.h"
#include "ct_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"

/* The key derivations run since the count was last reset, and the iterations of the last. */
static int derivations;
static unsigned last_iterations;

int __real_mbedtls_pkcs5_pbkdf2_hmac(mbedtls_md_context_t *ctx, const unsigned char *password,
                                     size_t plen, const unsigned char *salt, size_t slen,
                                     unsigned int iteration_count, uint32_t key_length,
                                     unsigned char *output);
int __wrap_mbedtls_pkcs5_pbkdf2_hmac(mbedtls_md_context_t *ctx, const unsigned char *password,
                                     size_t plen, const unsigned char *salt, size_t slen,
                                     unsigned int iteration_count, uint32_t key_length,
                                     unsigned char *output);

int __wrap_mbedtls_pkcs5_pbkdf2_hmac(mbedtls_md_context_t *ctx, const unsigned char *password,
                                     size_t plen, const unsigned char *salt, size_t slen,
                                     unsigned int iteration_count, uint32_t key_length,
                                     unsigned char *output)
{
    derivations++;
    last_iterations = iteration_count;
    return __real_mbedtls_pkcs5_pbkdf2_hmac(ctx, password, plen, salt, slen, iteration_count,
                                            key_length, output);
}

/* Checks a login, expecting code, and that it ran exactly one key derivation of the stored
 * iteration count: an unknown or malformed id costs what a known one does. */
static void check_costs_one_derivation(struct ct_store *store, const char *operator_id,
                                       const char *password, int code)
{
    derivations = 0;
    last_iterations = 0;
    assert_int_equal(ct_store_operator_check(store, operator_id, password), code);
    assert_int_equal(derivations, 1);
    assert_int_equal(last_iterations, 200000);
}

static void test_operators(void **state)
{
    static const char password[] = "line manager secret 1";
    char conninfo[256], dump[512];
    struct ct_store *store = fresh_store("operators", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
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

    /* Right, wrong, unknown: one PBKDF2 run of the same cost each (an unknown id that skipped
     * it would answer a hundred times faster, telling which ids exist). */
    check_costs_one_derivation(store, "alice", password, CL_OK);
    check_costs_one_derivation(store, "alice", "line manager secret 2", CL_ERR_PERMISSION);
    check_costs_one_derivation(store, "mallory", password, CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "alice", ""), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "alice", NULL), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "bad id", password), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, NULL, password), CL_ERR_PERMISSION);

    /* Replacing a password: the old one stops working. */
    char err[256];
    assert_int_equal(
        ct_store_operator_password(store, "alice", "a brand new secret", "alice", err, sizeof(err)),
        CL_OK);
    assert_int_equal(ct_store_operator_check(store, "alice", password), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_check(store, "alice", "a brand new secret"), CL_OK);
    /* A password for an unknown id adds no one (no admin made of a typo); nor does the old
     * "replace" mode of ct_store_operator_set, now refused. Refusals write nothing. */
    assert_int_equal(ct_store_operator_password(store, "bob", password, "alice", err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_contains(err, "no such operator: bob");
    assert_int_equal(ct_store_operator_set(store, "bob", password, 1, "alice"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_password(store, "alice", "short", "alice", err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ct_store_operator_password(store, "bad id", password, "alice", err, sizeof(err)),
        CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_count(store), 1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE detail LIKE '%bob%'"),
                     0);
    assert_int_equal(ct_store_operator_set(store, "bob", password, 0, "alice"), CL_OK);
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
    /* A removed operator's password is never set again. */
    assert_int_equal(ct_store_operator_add(store, "carl", password, "viewer", "alice"), CL_OK);
    assert_int_equal(ct_store_operator_state(store, "carl", "removed", "alice", err, sizeof(err)),
                     CL_OK);
    assert_int_equal(
        ct_store_operator_password(store, "carl", "a brand new secret", "alice", err, sizeof(err)),
        CL_ERR_NOT_FOUND);

    PQfinish(conn);
    ct_store_close(store);
}

/* ---- the first operator, added without a login, by two at once ---- */

struct first_add {
    struct ct_store *store;
    const char *operator_id;
    pthread_barrier_t *start;
    int rc;
};

static void *add_first(void *arg)
{
    struct first_add *a = arg;
    pthread_barrier_wait(a->start);
    a->rc = ct_store_operator_set(a->store, a->operator_id, "line manager secret 1",
                                  CT_OPERATOR_FIRST, "bootstrap");
    return NULL;
}

/* Two first operator-adds on two connections at the same moment: exactly one gets in without a
 * login, the other is refused (a check, then an insert outside one locked transaction let both
 * in). Several rounds, each from an empty table. */
static void test_first_operator_race(void **state)
{
    char conninfo[256];
    struct ct_store *one = fresh_store("operators_first", conninfo, sizeof(conninfo));
    struct ct_store *two = open_store(conninfo);
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    for (int round = 0; round < 4; round++) {
        pthread_barrier_t start;
        pthread_t threads[2];
        struct first_add adds[2] = {{one, "alice", &start, -1}, {two, "bob", &start, -1}};

        PQclear(PQexec(conn, "DELETE FROM operator"));
        assert_int_equal(ct_store_operator_count(one), 0);
        assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&threads[i], NULL, add_first, &adds[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(threads[i], NULL);
        pthread_barrier_destroy(&start);
        print_message("round %d: alice %s, bob %s\n", round, cl_err_name(adds[0].rc),
                      cl_err_name(adds[1].rc));
        assert_int_equal((adds[0].rc == CL_OK) + (adds[1].rc == CL_OK), 1);
        assert_true(adds[0].rc == CL_ERR_PERMISSION || adds[1].rc == CL_ERR_PERMISSION);
        assert_int_equal(ct_store_operator_count(one), 1);
    }
    /* Once there is one, a first add is refused; a logged-in add still works. */
    assert_int_equal(ct_store_operator_set(one, "carol", "line manager secret 3", CT_OPERATOR_FIRST,
                                           "bootstrap"),
                     CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_set(one, "carol", "line manager secret 3", 0, "alice"),
                     CL_OK);
    PQfinish(conn);
    ct_store_close(two);
    ct_store_close(one);
}

int ct_store_operators_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_first_operator_race),
    };
    return cmocka_run_group_tests_name("ct_store operators", tests, NULL, NULL);
}
