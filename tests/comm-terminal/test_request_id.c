/* test_request_id.c: comm-terminal request ids: the wire's pattern and length, 128 random bits
 * (32 hex digits, never repeated), odd factory names made safe, too small a buffer refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "request_id.h"

/* [0-9A-Za-z._:-]{1,64}, as ca__RequestId in wsdl/ca.h. */
static int wire_ok(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= 64 &&
           strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "._:-") == n;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_shape_and_randomness(void **state)
{
    enum { N = 2000 };
    char(*ids)[65] = calloc(N, sizeof(*ids));
    (void)state;

    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ct_new_request_id("factory-east", "2026-12-05", ids[i], sizeof(ids[i])),
                         CL_OK);
        assert_true(wire_ok(ids[i]));
        assert_int_equal(strncmp(ids[i], "factory-east-2026-12-05-", 24), 0);
        const char *random = ids[i] + 24;
        assert_int_equal(strlen(random), 2 * CT_REQUEST_ID_RANDOM_OCTETS);
        assert_int_equal(strspn(random, "0123456789abcdef"), 32);
    }
    qsort(ids, N, sizeof(*ids), compare_ids);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void test_odd_names(void **state)
{
    char id[65];
    (void)state;

    /* Long and odd names are cut and made safe; the id stays within the wire's 64. */
    assert_int_equal(
        ct_new_request_id("a very long factory name, with spaces", "replacement-x", id, sizeof(id)),
        CL_OK);
    assert_true(wire_ok(id));
    assert_int_equal(strncmp(id, "a-very-long-fact-replacemen-", 28), 0);
    assert_int_equal(strlen(id), 16 + 1 + 10 + 1 + 32);
    assert_int_equal(ct_new_request_id("", "", id, sizeof(id)), CL_OK);
    assert_true(wire_ok(id));
    /* Too small a buffer: refused, never cut. */
    assert_int_equal(ct_new_request_id("f", "manual", id, 60), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_new_request_id("f", "manual", NULL, 65), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_and_randomness),
        cmocka_unit_test(test_odd_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
