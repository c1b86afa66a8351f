/* test_audit.c: ca-server store, the audit log: one entry per change, newest first, and the
 * bounds of an entry. */
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

static void test_audit(void **state)
{
    struct ca_store *store = fresh_store("audit", NULL, 0);
    char **numbers = make_numbers("3012", 1, 3);
    struct ca_batch_item items[3];
    struct ca_audit_row *rows = NULL;
    size_t count = 0;
    char detail[600];
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(numbers), 3, items, CA_BATCH_NEW);
    assert_int_equal(ca_store_revoke(store, items[0].serial_hex, "lost", "operator:alice"), CL_OK);
    assert_int_equal(
        ca_store_service_issued(store, "7F01", "comm-terminal", "ct-osaka", "", "operator:bob"),
        CL_OK);
    assert_int_equal(
        ca_store_service_issued(store, "7F01", "comm-terminal", "ct-osaka", "", "operator:bob"),
        CL_ERR_EXISTS);
    assert_int_equal(
        ca_store_service_issued(store, "7F02", "factory-terminal", "line-1", "L1", "operator:bob"),
        CL_OK);
    assert_int_equal(ca_store_audit(store, "operator:carol", "model-export", "device model 3012"),
                     CL_OK);

    assert_int_equal(ca_store_audit_list(store, 100, &rows, &count), CL_OK);
    assert_int_equal(count, 6);
    assert_string_equal(rows[5].action, "model-add");
    assert_string_equal(rows[0].action, "model-export");
    assert_string_equal(rows[0].actor, "operator:carol");
    assert_string_equal(rows[1].action, "service-issue");
    assert_contains(rows[1].detail, "line-1");
    assert_string_equal(rows[2].action, "service-issue");
    assert_string_equal(rows[3].action, "revoke");
    assert_string_equal(rows[3].actor, "operator:alice");
    assert_contains(rows[3].detail, items[0].serial_hex);
    assert_contains(rows[3].detail, "lost");
    assert_string_equal(rows[4].action, "batch");
    assert_string_equal(rows[4].actor, "comm-terminal-1");
    assert_contains(rows[4].detail, "r-1");
    assert_contains(rows[4].detail, "3 device number");
    for (size_t i = 1; i < count; i++) {
        assert_true(rows[i - 1].id > rows[i].id);
        assert_true(rows[i - 1].at >= rows[i].at);
    }
    free(rows);
    assert_int_equal(ca_store_audit_list(store, 2, &rows, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(rows[1].action, "service-issue");
    free(rows);

    /* Bounds: over-long detail or actor, control characters. */
    memset(detail, 'd', 513);
    detail[513] = '\0';
    assert_int_equal(ca_store_audit(store, "op", "x", detail), CL_ERR_INVALID_ARGUMENT);
    detail[512] = '\0';
    assert_int_equal(ca_store_audit(store, "op", "x", detail), CL_OK);
    assert_int_equal(ca_store_audit(store, "op", "x", "line\nforged"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_audit(store, "op", "", "x"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_audit(store, "op", "x", "\xc3\x28"), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_audit(store, "op", "x", "caf\xc3\xa9"), CL_OK);
    free_numbers(numbers, 3);
    ca_store_close(store);
}

int ca_store_audit_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit),
    };
    return cmocka_run_group_tests_name("ca_store audit", tests, NULL, NULL);
}
