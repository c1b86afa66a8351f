/* test_plan.c: comm-terminal store, the certificate-managed models and the production plan
 * (idempotent re-import, numbers never reused), and the numbers to fetch. */
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

static void test_models_and_plan(void **state)
{
    char conninfo[256], err[512], today[11], tomorrow[11];
    struct ct_store *store = fresh_store("plan", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    size_t added = 0;
    (void)state;

    day_of(time(NULL), today);
    day_of(time(NULL) + 86400, tomorrow);
    /* Models: refusals, then set and re-set. */
    assert_int_equal(ct_store_model_set(store, "30-12", 1, ACTOR), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_model_set(store, "123456789", 1, ACTOR), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_model_set(store, "3012", 1, ""), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_model_set(store, "3012", 1, NULL), CL_ERR_INVALID_ARGUMENT);
    model(store, "3012", 0);
    model(store, "3012", 1);
    model(store, "A123", 1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM model WHERE certificate_managed"), 2);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'model_set'"),
                     3);

    /* A model nobody registered is refused, naming it. */
    struct ct_plan_entry unknown = entry("9999", today, 3, 1);
    assert_int_equal(ct_store_plan_import(store, &unknown, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_contains(err, "9999");

    /* A first_serial entry and an explicit list. */
    static const long long serials[] = {654330, 654321, 654322};
    struct ct_plan_entry plan[2] = {entry("3012", today, 20, 1), entry("A123", today, 3, 0)};
    plan[1].serials = serials;
    assert_int_equal(import(store, plan, 2), 23);
    assert_int_equal(import(store, plan, 2), 0); /* re-import: nothing new */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 23);
    assert_int_equal(sql_value(conn, "SELECT units FROM plan WHERE model_code = 'A123'"), 3);
    /* More units of the same day: only the new ones count. */
    struct ct_plan_entry more = entry("3012", today, 25, 1);
    assert_int_equal(import(store, &more, 1), 5);
    assert_int_equal(sql_value(conn, "SELECT units FROM plan WHERE model_code = '3012'"), 25);

    /* A number planned for another day: refused, naming it; nothing of the import stays. */
    struct ct_plan_entry clash[2] = {entry("A123", tomorrow, 5, 1), entry("3012", tomorrow, 5, 21)};
    assert_int_equal(ct_store_plan_import(store, clash, 2, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(added, 0);
    assert_contains(err, "3012-000021");
    assert_contains(err, today);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 28);
    /* Wider serials are not truncated: 1234567 with 6 digits is 3012-1234567. */
    struct ct_plan_entry wide = entry("3012", tomorrow, 1, 1234567);
    assert_int_equal(import(store, &wide, 1), 1);
    assert_int_equal(
        sql_value(conn, "SELECT count(*) FROM plan_device WHERE device_number = '3012-1234567'"),
        1);

    /* Malformed entries, each refused naming what is wrong. */
    struct ct_plan_entry bad = entry("3012", "2026-02-30", 1, 1);
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "2026-02-30");
    bad = entry("3012", today, 0, 1);
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "units 0");
    bad = entry("3012", today, 2, 999999999999LL);
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    bad = entry("3012", today, 1, 1);
    bad.serial_digits = 13;
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    static const long long twice[] = {7, 8, 7};
    bad = entry("A123", tomorrow, 3, 0);
    bad.serials = twice;
    assert_int_equal(ct_store_plan_import(store, &bad, 1, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "A123-000007");
    assert_int_equal(ct_store_plan_import(store, plan, 0, ACTOR, &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_plan_import(store, plan, 1, "", &added, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 29);
    /* Every import that succeeded was audited. */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'plan_import'"),
                     4);
    PQfinish(conn);
    ct_store_close(store);
}

static void test_numbers_to_fetch(void **state)
{
    char today[11], tomorrow[11];
    struct ct_store *store = fresh_store("to_fetch", NULL, 0);
    char(*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    day_of(time(NULL) + 86400, tomorrow);
    model(store, "A123", 1);
    model(store, "3012", 1);
    model(store, "3013", 0);
    static const long long serials[] = {10, 9, 100, 1};
    struct ct_plan_entry plan[4] = {entry("A123", today, 2, 5), entry("3012", today, 4, 0),
                                    entry("3013", today, 3, 1), entry("3012", tomorrow, 2, 50)};
    plan[1].serials = serials;
    assert_int_equal(import(store, plan, 4), 11);

    /* In order (model, then the serial's value), without the model that is not managed, and
     * without the other day's. */
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 6);
    static const char *const expected[] = {"3012-000001", "3012-000009", "3012-000010",
                                           "3012-000100", "A123-000005", "A123-000006"};
    for (size_t i = 0; i < count; i++)
        assert_string_equal(numbers[i], expected[i]);
    free(numbers);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 2, &numbers, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(numbers[1], "3012-000009");
    free(numbers);

    /* Pending or stored numbers are not fetched again. */
    const char *first[] = {"3012-000001", "3012-000009"};
    begin(store, "req-1", today, 0, first, 2);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 4);
    assert_string_equal(numbers[0], "3012-000010");
    free(numbers);
    complete(store, "req-1", first, 2, 1);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 100, &numbers, &count), CL_OK);
    assert_int_equal(count, 4);
    free(numbers);

    /* Refusals. */
    assert_int_equal(ct_store_numbers_to_fetch(store, "today", 100, &numbers, &count),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(numbers);
    assert_int_equal(ct_store_numbers_to_fetch(store, today, 0, &numbers, &count),
                     CL_ERR_INVALID_ARGUMENT);
    ct_store_close(store);
}

/* The plan feed: one submission per request id, in one transaction with the plan. */
static void test_plan_submit(void **state)
{
    char conninfo[256], err[512], today[11];
    struct ct_store *store = fresh_store("plan_submit", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    const char *digest_a = "aa00000000000000000000000000000000000000000000000000000000000000",
               *digest_b = "bb00000000000000000000000000000000000000000000000000000000000000";
    struct ct_plan_submission first = {"mes-1", digest_a, "production:mes"};
    size_t added = 0;
    int repeated = -1;
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, 4, 1);
    assert_int_equal(
        ct_store_plan_submit(store, &first, &plan, 1, &added, &repeated, err, sizeof(err)), CL_OK);
    assert_int_equal(added, 4);
    assert_int_equal(repeated, 0);
    /* Again: nothing changes, the first answer's count. */
    assert_int_equal(
        ct_store_plan_submit(store, &first, &plan, 1, &added, &repeated, err, sizeof(err)), CL_OK);
    assert_int_equal(added, 4);
    assert_int_equal(repeated, 1);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action ="
                                     " 'plan_import' AND actor = 'production:mes'"),
                     1);
    /* The same id with another plan: refused, nothing imported. */
    struct ct_plan_submission other = {"mes-1", digest_b, "production:mes"};
    struct ct_plan_entry more = entry("3012", today, 6, 1);
    assert_int_equal(
        ct_store_plan_submit(store, &other, &more, 1, &added, &repeated, err, sizeof(err)),
        CL_ERR_CONFLICT);
    assert_contains(err, "mes-1");
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_device"), 4);
    /* A plan refused as by import records no submission: the id stays free. */
    struct ct_plan_submission second = {"mes-2", digest_b, "production:mes"};
    struct ct_plan_entry unknown = entry("9999", today, 1, 1);
    assert_int_equal(
        ct_store_plan_submit(store, &second, &unknown, 1, &added, &repeated, err, sizeof(err)),
        CL_ERR_NOT_FOUND);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM plan_submission"), 1);
    assert_int_equal(
        ct_store_plan_submit(store, &second, &more, 1, &added, &repeated, err, sizeof(err)), CL_OK);
    assert_int_equal(added, 2);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_plan_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_and_plan),
        cmocka_unit_test(test_numbers_to_fetch),
        cmocka_unit_test(test_plan_submit),
    };
    return cmocka_run_group_tests_name("ct_store plan", tests, NULL, NULL);
}
