/* test_completion.c: ca-server store, completion of FIG 21 batches in parts (storing while
 * signing). */
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

/* ---- completion in parts (storing while signing) ---- */

static void test_complete_in_parts(void **state)
{
    enum { N = 10 };
    struct ca_store *store = fresh_store("complete_parts", NULL, 0);
    char **numbers = make_numbers("3012", 1, N), err[512];
    struct ca_batch_item *items = calloc(N, sizeof(*items));
    struct ca_batch_item *again = calloc(N, sizeof(*again));
    struct ca_issued_item issued[N], twice[2];
    char packs[N][160], values[N][CA_VERIFY_HEX + 1];
    /* What an array literal must carry through: quotes, backslashes, braces, commas, NULL-like
     * text, a line break and UTF-8. */
    const char *odd_pack = "{\"k\": \"a\\\\b\\\"c\", \"l\": [1,2], \"n\": \"NULL\"}\n\xc3\xa9";
    (void)state;

    assert_true(items != NULL && again != NULL);
    add_model(store, "3012", "p256", 1);
    begin(store, "r-parts", 1, 0, CONST_LIST(numbers), N, items, CA_BATCH_NEW);
    for (size_t i = 0; i < N; i++) {
        fake_pack(items[i].device_number, items[i].serial_hex, packs[i], sizeof(packs[i]));
        fake_proof(items[i].device_number, values[i], CA_VERIFY_HEX);
        issued[i] =
            (struct ca_issued_item){items[i].serial_hex, (const unsigned char *)items[i].serial_hex,
                                    strlen(items[i].serial_hex), packs[i], values[i]};
    }
    snprintf(packs[3], sizeof(packs[3]), "%s", odd_pack);

    /* Half of them, then commit: refused, nothing stored. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", issued, N / 2, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ca_store_complete_commit(store, "r-parts", err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "5 device numbers have no signed certificate");
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* An item stored twice: refused, the whole completion rolled back. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", issued, 4, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", &issued[2], 3, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "is issued, not an intent");
    assert_int_equal(ca_store_complete_commit(store, "r-parts", err, sizeof(err)), CL_ERR_INTERNAL);
    assert_contains(err, "no completion under way");
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* The same serial twice in one call. */
    twice[0] = issued[0];
    twice[1] = issued[0];
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", twice, 2, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "appears twice");
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* A serial of no item of the request. */
    twice[0] = issued[0];
    twice[0].serial_hex = "0A0B0C";
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", twice, 1, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "serial 0A0B0C is not part of request id r-parts");

    /* In three parts: completed, every pack back byte for byte. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", issued, 3, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", &issued[3], 6, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ca_store_complete_add(store, "r-parts", &issued[9], 1, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ca_store_complete_commit(store, "r-parts", err, sizeof(err)), CL_OK);
    assert_int_equal(count_certs(store, NULL, "issued"), N);
    begin(store, "r-parts", 1, 0, CONST_LIST(numbers), N, again, CA_BATCH_DONE);
    for (size_t i = 0; i < N; i++)
        assert_string_equal(again[i].pack, packs[i]);
    ca_batch_items_free(again, N);

    /* Completed: a new completion is refused before anything is stored. */
    assert_int_equal(ca_store_complete_begin(store, "r-parts", N, err, sizeof(err)),
                     CL_ERR_CONFLICT);

    free(items);
    free(again);
    free_numbers(numbers, N);
    ca_store_close(store);
}

int ca_store_completion_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_in_parts),
    };
    return cmocka_run_group_tests_name("ca_store completion", tests, NULL, NULL);
}
