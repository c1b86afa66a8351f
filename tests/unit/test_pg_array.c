/* test_pg_array.c: array literals for PostgreSQL: quoting, escaping, hex, integers, growth. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pg_array.h"

static void test_empty(void **state)
{
    struct cl_pg_array array;
    (void)state;
    cl_pg_array_init(&array);
    assert_string_equal(cl_pg_array_finish(&array), "{}");
    cl_pg_array_free(&array);
}

static void test_text_escaped(void **state)
{
    struct cl_pg_array array;
    (void)state;
    cl_pg_array_init(&array);
    cl_pg_array_add(&array, "plain");
    cl_pg_array_add(&array, "");
    cl_pg_array_add(&array, "NULL");
    cl_pg_array_add(&array, "a\"b\\c,{d}\n");
    assert_string_equal(cl_pg_array_finish(&array),
                        "{\"plain\",\"\",\"NULL\",\"a\\\"b\\\\c,{d}\n\"}");
    assert_int_equal(array.count, 4);
    cl_pg_array_free(&array);
}

static void test_hex_and_sizes(void **state)
{
    static const unsigned char bytes[] = {0x00, 0x9f, 0xff};
    struct cl_pg_array hex, sizes;
    (void)state;
    cl_pg_array_init(&hex);
    cl_pg_array_init(&sizes);
    cl_pg_array_add_hex(&hex, bytes, sizeof(bytes));
    cl_pg_array_add_hex(&hex, bytes, 0);
    cl_pg_array_add_size(&sizes, 0);
    cl_pg_array_add_size(&sizes, 4294967296u);
    assert_string_equal(cl_pg_array_finish(&hex), "{\"009fff\",\"\"}");
    assert_string_equal(cl_pg_array_finish(&sizes), "{0,4294967296}");
    cl_pg_array_free(&hex);
    cl_pg_array_free(&sizes);
}

/* Many long elements: the buffer grows and every element arrives whole. */
static void test_growth(void **state)
{
    enum { N = 2000, LEN = 700 };
    struct cl_pg_array array;
    char *value = malloc(LEN + 1);
    (void)state;
    assert_non_null(value);
    memset(value, 'x', LEN);
    value[LEN] = '\0';
    cl_pg_array_init(&array);
    for (int i = 0; i < N; i++)
        cl_pg_array_add(&array, value);
    const char *text = cl_pg_array_finish(&array);
    assert_non_null(text);
    assert_int_equal(strlen(text), 2 + (size_t)N * (LEN + 2) + (N - 1));
    assert_int_equal(text[0], '{');
    assert_int_equal(text[strlen(text) - 1], '}');
    cl_pg_array_free(&array);
    free(value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_text_escaped),
        cmocka_unit_test(test_hex_and_sizes),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
