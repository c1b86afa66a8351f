/* test_schema.c: comm-terminal store, the schema: migrations applied once whatever the number of
 * connections, and a password that never shows in an error. */
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

static void test_migrate_and_open(void **state)
{
    char conninfo[256], err[512];
    struct ct_store *store = fresh_store("migrate", conninfo, sizeof(conninfo));
    struct ct_store *other = NULL;
    int applied = -1;
    (void)state;

    assert_int_equal(ct_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    other = open_store(conninfo);
    assert_int_equal(ct_store_migrate(other, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 0);
    ct_store_close(other);
    ct_store_close(store);

    /* The password never shows in an error. */
    assert_int_equal(ct_store_open("host=/nonexistent-certline port=1 password=Hunter2Secret",
                                   &other, err, sizeof(err)),
                     CL_ERR_DB);
    assert_null(other);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ct_store_open("password=Hunter2Secret junk", &other, err, sizeof(err)),
                     CL_ERR_CONFIG);
    assert_null(strstr(err, "Hunter2Secret"));
    assert_int_equal(ct_store_open(NULL, &other, err, sizeof(err)), CL_ERR_INVALID_ARGUMENT);
    ct_store_close(NULL);
}

int ct_store_schema_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_and_open),
    };
    return cmocka_run_group_tests_name("ct_store schema", tests, NULL, NULL);
}
