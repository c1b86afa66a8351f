/* test_operators.c: comm-terminal store, operators: PBKDF2 password hashes, login checks that
 * run the key derivation whether or not the operator exists, the count and their audit entries.
 * The executable is linked with --wrap=mbedtls_pkcs5_pbkdf2_hmac so that the derivations a check
 * runs can be counted. */
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

    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_operators_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
    };
    return cmocka_run_group_tests_name("ct_store operators", tests, NULL, NULL);
}
