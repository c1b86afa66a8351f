/* test_password_hash.c: operator password hashes (common/password_hash.c): made with a fresh
 * salt, read back from stored bytes within bounds, matched only by the right password, never
 * for an unknown operator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "password_hash.h"

static void made_and_matched(void **state)
{
    struct cl_password_hash a, b, read;
    unsigned char be[4];
    (void)state;
    assert_int_equal(cl_password_hash_new("correct horse", &a), CL_OK);
    assert_int_equal(cl_password_hash_new("correct horse", &b), CL_OK);
    assert_int_equal(a.iterations, CL_PASSWORD_ITERATIONS);
    assert_memory_not_equal(a.salt, b.salt, CL_PASSWORD_SALT_LEN); /* a fresh salt each */
    assert_memory_not_equal(a.hash, b.hash, CL_PASSWORD_HASH_LEN);
    be[0] = (unsigned char)(a.iterations >> 24);
    be[1] = (unsigned char)(a.iterations >> 16);
    be[2] = (unsigned char)(a.iterations >> 8);
    be[3] = (unsigned char)a.iterations;
    assert_int_equal(
        cl_password_hash_read(a.salt, sizeof(a.salt), be, 4, a.hash, sizeof(a.hash), &read), 1);
    assert_int_equal(cl_password_matches("correct horse", &read), 1);
    assert_int_equal(cl_password_matches("correct horsE", &read), 0);
    assert_int_equal(cl_password_matches("", &read), 0);
    assert_int_equal(cl_password_matches(NULL, &read), 0);
    assert_int_equal(cl_password_matches("correct horse", NULL), 0); /* unknown operator */
    /* stored bytes out of bounds are no record */
    assert_int_equal(cl_password_hash_read(a.salt, 15, be, 4, a.hash, sizeof(a.hash), &read), 0);
    assert_int_equal(cl_password_hash_read(a.salt, 16, be, 3, a.hash, sizeof(a.hash), &read), 0);
    assert_int_equal(cl_password_hash_read(a.salt, 16, be, 4, a.hash, 31, &read), 0);
    memset(be, 0, sizeof(be));
    be[3] = 1; /* one iteration: below the floor */
    assert_int_equal(cl_password_hash_read(a.salt, 16, be, 4, a.hash, sizeof(a.hash), &read), 0);
    cl_password_hash_clear(&a);
    cl_password_hash_clear(&b);
}

static void lengths(void **state)
{
    struct cl_password_hash h;
    char long_one[CL_PASSWORD_MAX + 2];
    (void)state;
    assert_int_equal(cl_password_length_ok("1234567"), 0);
    assert_int_equal(cl_password_length_ok("12345678"), 1);
    assert_int_equal(cl_password_length_ok(NULL), 0);
    memset(long_one, 'x', sizeof(long_one) - 1);
    long_one[sizeof(long_one) - 1] = '\0';
    assert_int_equal(cl_password_length_ok(long_one), 0);
    long_one[CL_PASSWORD_MAX] = '\0';
    assert_int_equal(cl_password_length_ok(long_one), 1);
    assert_int_equal(cl_password_hash_new("short", &h), CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(made_and_matched),
        cmocka_unit_test(lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
