/* test_error.c: every error code is distinct, negative (CL_OK aside), named and explained. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"

struct entry {
    int code;
    const char *name;
    const char *message;
};

#define ENTRY(name, value, message) {name, #name, message},
static const struct entry entries[] = {CL_ERRORS(ENTRY)};
#define N_ENTRIES (sizeof(entries) / sizeof(entries[0]))

static void test_codes_distinct_and_negative(void **state)
{
    (void)state;
    assert_true(N_ENTRIES >= 26);
    for (size_t i = 0; i < N_ENTRIES; i++) {
        if (entries[i].code == CL_OK)
            assert_string_equal(entries[i].name, "CL_OK");
        else
            assert_true(entries[i].code < 0);
        for (size_t j = i + 1; j < N_ENTRIES; j++) {
            assert_int_not_equal(entries[i].code, entries[j].code);
            assert_string_not_equal(entries[i].name, entries[j].name);
        }
    }
}

static void test_messages_and_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ENTRIES; i++) {
        const char *msg = cl_err_str(entries[i].code);
        const char *name = cl_err_name(entries[i].code);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_equal(msg, entries[i].message);
        assert_string_not_equal(msg, "unknown error");
        assert_string_equal(name, entries[i].name);
        assert_true(strncmp(name, "CL_", 3) == 0);
    }
}

static void test_required_codes(void **state)
{
    (void)state;
    /* Values are a stable interface: spot-check that they never move. */
    assert_int_equal(CL_OK, 0);
    assert_int_equal(CL_ERR_NOMEM, -1);
    assert_int_equal(CL_ERR_INVALID_ARGUMENT, -2);
    assert_int_equal(CL_ERR_INTERNAL, -25);
    assert_string_equal(cl_err_name(CL_ERR_TIMEOUT), "CL_ERR_TIMEOUT");
    static const struct {
        int code;
        const char *text;
    } messages[] = {
        {CL_ERR_NOMEM, "out of memory"},
        {CL_ERR_PEER_ROLE, "peer role not admitted for this interface"},
        {CL_ERR_PEER_NAME, "server name mismatch"},
        {CL_ERR_CLOSED, "peer closed the connection"},
        {CL_ERR_SERVER_BUSY, "server busy: connection limit reached"},
        {CL_ERR_STATE, "operation not allowed in the current state"},
    };
    for (size_t i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
        assert_string_equal(cl_err_str(messages[i].code), messages[i].text);

    static const int required[] = {
        CL_ERR_NOMEM,
        CL_ERR_INVALID_ARGUMENT,
        CL_ERR_IO,
        CL_ERR_CONFIG,
        CL_ERR_PARSE,
        CL_ERR_TOO_LARGE,
        CL_ERR_TIMEOUT,
        CL_ERR_NOT_FOUND,
        CL_ERR_CONFLICT,
        CL_ERR_EXISTS,
        CL_ERR_PERMISSION,
        CL_ERR_CRYPTO,
        CL_ERR_TLS_SETUP,
        CL_ERR_TLS_HANDSHAKE,
        CL_ERR_TLS_PEER_VERIFY,
        CL_ERR_TLS_VERSION,
        CL_ERR_PEER_ROLE,
        CL_ERR_PEER_NAME,
        CL_ERR_CONNECT,
        CL_ERR_CLOSED,
        CL_ERR_SOAP_FAULT,
        CL_ERR_SERVER_BUSY,
        CL_ERR_DB,
        CL_ERR_STATE,
        CL_ERR_INTERNAL,
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        assert_true(required[i] < 0);
        assert_string_not_equal(cl_err_str(required[i]), "unknown error");
        assert_string_not_equal(cl_err_name(required[i]), "CL_ERR_UNKNOWN");
    }
}

static void test_unknown_code(void **state)
{
    (void)state;
    static const int unknown[] = {1, 42, -10000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        assert_string_equal(cl_err_str(unknown[i]), "unknown error");
        assert_string_equal(cl_err_name(unknown[i]), "CL_ERR_UNKNOWN");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_distinct_and_negative),
        cmocka_unit_test(test_messages_and_names),
        cmocka_unit_test(test_required_codes),
        cmocka_unit_test(test_unknown_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
