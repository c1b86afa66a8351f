/* test_installations.c: ca-server store, installation proofs: the receipt time, the first proof
 * holding, and what an installation refuses. */
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

static void test_install(void **state)
{
    struct ca_store *store = fresh_store("install", NULL, 0);
    char **numbers = make_numbers("3012", 1, 2), **later = make_numbers("3012", 10, 1);
    struct ca_batch_item items[2], pending[1];
    char proof[CA_VERIFY_HEX + 1], upper[CA_VERIFY_HEX + 1], wrong[CA_VERIFY_HEX + 1];
    struct ca_cert_row row;
    struct install_result r;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "r-1", 1, numbers, 2, items);
    fake_proof(numbers[0], proof, CA_VERIFY_HEX);

    /* The right value: installed at now, which is what the receipt says. */
    r = install(store, numbers[0], items[0].serial_hex, proof, 1700000000);
    assert_int_equal(r.rc, CL_OK);
    assert_int_equal(r.received, 1700000000);
    assert_int_equal(ca_store_cert_state(store, numbers[0], items[0].serial_hex, &row), CL_OK);
    assert_int_equal(row.state, CA_CERT_INSTALLED);
    assert_int_equal(row.installed_at, 1700000000);
    /* Again, later and in upper case: the first time holds. */
    for (size_t i = 0; i <= CA_VERIFY_HEX; i++)
        upper[i] = (char)(proof[i] >= 'a' && proof[i] <= 'f' ? proof[i] - 'a' + 'A' : proof[i]);
    r = install(store, numbers[0], items[0].serial_hex, upper, 1800000000);
    assert_int_equal(r.rc, CL_OK);
    assert_int_equal(r.received, 1700000000);

    /* A wrong value: refused, state unchanged (issued stays issued, installed stays so). */
    fake_proof(numbers[1], wrong, CA_VERIFY_HEX);
    r = install(store, numbers[0], items[0].serial_hex, wrong, 1800000000);
    assert_int_equal(r.rc, CL_ERR_CRYPTO);
    assert_int_equal(r.received, 0);
    assert_contains(r.err, numbers[0]);
    fake_proof(numbers[0], wrong, CA_VERIFY_HEX);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    assert_int_equal(install(store, numbers[1], items[1].serial_hex, wrong, 1800000000).rc,
                     CL_ERR_CRYPTO);
    assert_int_equal(state_of(store, numbers[1], items[1].serial_hex), CA_CERT_ISSUED);
    assert_int_equal(ca_store_cert_state(store, numbers[0], items[0].serial_hex, &row), CL_OK);
    assert_int_equal(row.state, CA_CERT_INSTALLED);
    assert_int_equal(row.installed_at, 1700000000);

    /* Unknown pair, malformed input, not issued yet, revoked. */
    assert_int_equal(install(store, numbers[1], items[0].serial_hex, proof, 1800000000).rc,
                     CL_ERR_NOT_FOUND);
    assert_int_equal(install(store, numbers[0], items[0].serial_hex, "abc", 1800000000).rc,
                     CL_ERR_INVALID_ARGUMENT);
    r = install(store, "3012-1", "abc", proof, 1800000000);
    assert_int_equal(r.rc, CL_ERR_INVALID_ARGUMENT);
    assert_contains(r.err, "abc");
    begin(store, "r-2", 2, 0, CONST_LIST(later), 1, pending, CA_BATCH_NEW);
    r = install_proven(store, later[0], pending[0].serial_hex, 1800000000);
    assert_int_equal(r.rc, CL_ERR_STATE);
    assert_contains(r.err, "not issued yet");
    assert_int_equal(ca_store_revoke(store, items[1].serial_hex, "lost", "operator:test"), CL_OK);
    r = install_proven(store, numbers[1], items[1].serial_hex, 1800000000);
    assert_int_equal(r.rc, CL_ERR_STATE);
    assert_contains(r.err, "revoked");
    free_numbers(numbers, 2);
    free_numbers(later, 1);
    ca_store_close(store);
}

int ca_store_installations_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install),
    };
    return cmocka_run_group_tests_name("ca_store installations", tests, NULL, NULL);
}
