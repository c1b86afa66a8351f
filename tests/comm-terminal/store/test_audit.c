/* test_audit.c: comm-terminal store, the audit entries operators' commands write themselves. */
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

static void test_audit(void **state)
{
    char conninfo[256];
    struct ct_store *store = fresh_store("audit", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    assert_int_equal(ct_store_audit(store, "alice", "login", "status"), CL_OK);
    assert_int_equal(ct_store_audit(store, "alice", "bad action", "x"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_audit(store, "", "login", "x"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'login'"), 1);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_audit_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests_name("ct_store audit", tests, NULL, NULL);
}
