/* test_crl_store.c: comm-terminal store, the CRL kept for the lines (store/crl.c): the newest
 * only, an older or equal number changing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ct_store_crl.h"
#include "ct_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"

static void expect_latest(struct ct_store *store, const char *want)
{
    char err[256], *crl = NULL;
    int rc = ct_store_crl_latest(store, &crl, err, sizeof(err));
    if (want == NULL) {
        assert_int_equal(rc, CL_ERR_NOT_FOUND);
        return;
    }
    assert_int_equal(rc, CL_OK);
    assert_string_equal(crl, want);
    free(crl);
}

static void test_crl_kept(void **state)
{
    char conninfo[256], err[256];
    struct ct_store *store = fresh_store("crl", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    expect_latest(store, NULL);
    assert_int_equal(ct_store_crl_keep(store, 5, 1000, 2000, "BQUF", err, sizeof(err)), CL_OK);
    expect_latest(store, "BQUF");
    /* An older and an equal number change nothing. */
    assert_int_equal(ct_store_crl_keep(store, 4, 1000, 2000, "BAQE", err, sizeof(err)), CL_OK);
    assert_int_equal(ct_store_crl_keep(store, 5, 1000, 2000, "OTHER=", err, sizeof(err)), CL_OK);
    expect_latest(store, "BQUF");
    /* A newer one replaces it: one row only. */
    assert_int_equal(
        ct_store_crl_keep(store, 18446744073709551615ULL, 1000, 2000, "//8=", err, sizeof(err)),
        CL_OK);
    expect_latest(store, "//8=");
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM crl"), 1);
    assert_int_equal(ct_store_crl_keep(store, 0, 1000, 2000, "AAAA", err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_crl_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crl_kept),
    };
    return cmocka_run_group_tests_name("ct_store crl", tests, NULL, NULL);
}
