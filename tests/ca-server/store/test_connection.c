/* test_connection.c: ca-server store, the store's connection: migrations applied once whatever the
 * number of connections, and a password that never shows in an error. */
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

int ca_store_connection_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_twice),
    };
    return cmocka_run_group_tests_name("ca_store connection", tests, NULL, NULL);
}
