/* test_fetch.c: comm-terminal store, FIG 21 fetches: recorded before sending, resent after a
 * restart, completed once, abandoned, and what a fetch refuses. */
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

static void test_fetch_restart_and_complete(void **state)
{
    char conninfo[256], today[11], err[512];
    struct ct_store *store = fresh_store("fetching", conninfo, sizeof(conninfo));
    struct ct_pending_fetch *pending = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    model(store, "3012", 1);
    model(store, "3013", 0);
    struct ct_plan_entry plan = entry("3012", today, 10, 1);
    assert_int_equal(import(store, &plan, 1), 10);

    const char *a[] = {"3012-000003", "3012-000001", "3012-000002"};
    const char *b[] = {"3012-000004", "3012-000005"};
    begin(store, "req-a", today, 0, a, 3);
    begin(store, "req-b", today, 0, b, 2);
    begin(store, "req-a", today, 0, a, 3); /* the same begin again: fine */
    begin_refused(store, "req-a", today, 0, b, 2, CL_ERR_CONFLICT, "other device numbers");
    begin_refused(store, "req-a", today, 1, a, 3, CL_ERR_CONFLICT, "req-a");
    const char *overlap[] = {"3012-000006", "3012-000002"};
    begin_refused(store, "req-c", today, 0, overlap, 2, CL_ERR_CONFLICT,
                  "3012-000002 is already in pending request req-a");

    /* A restart: a new connection finds both requests, oldest first, numbers in order. */
    ct_store_close(store);
    store = open_store(conninfo);
    assert_int_equal(ct_store_fetch_pending(store, &pending, &count), CL_OK);
    assert_int_equal(count, 2);
    assert_string_equal(pending[0].request_id, "req-a");
    assert_int_equal(pending[0].replacement, 0);
    assert_int_equal(pending[0].count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(pending[0].numbers[i], a[i]);
    assert_string_equal(pending[1].request_id, "req-b");
    assert_int_equal(pending[1].count, 2);
    assert_string_equal(pending[1].numbers[1], "3012-000005");
    ct_pending_fetch_free(pending, count);
    assert_int_equal(count_listed(store, "", ""), 0); /* nothing stored without an answer */

    /* An answer that does not match the request changes nothing. */
    struct ct_pack_item wrong[3] = {{"3012-000003", "0101", "{}"},
                                    {"3012-000001", "0102", "{}"},
                                    {"3012-000009", "0103", "{}"}};
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 3, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "3012-000009");
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 2, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    wrong[2].device_number = "3012-000001"; /* listed twice */
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 3, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    wrong[2] = (struct ct_pack_item){"3012-000002", "0g03", "{}"};
    assert_int_equal(ct_store_fetch_complete(store, "req-a", wrong, 3, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "0g03");
    assert_int_equal(ct_store_fetch_complete(store, "nobody", wrong, 1, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);
    assert_int_equal(count_listed(store, "", ""), 0);

    /* The answer: every pack stored, flag 0; completing it again changes nothing. */
    complete(store, "req-a", a, 3, 1);
    struct ct_cert_row before = row_of(store, "3012-000001");
    assert_string_equal(before.state, "stored");
    assert_int_equal(before.write_flag, 0);
    assert_int_equal(before.pack_held, 1);
    assert_string_equal(before.serial_hex, "01000000000001");
    assert_string_equal(before.line_id, "");
    complete(store, "req-a", a, 3, 7); /* other packs: ignored, the first answer stays */
    struct ct_cert_row after = row_of(store, "3012-000001");
    assert_string_equal(after.serial_hex, before.serial_hex);
    assert_int_equal(after.created_at, before.created_at);
    assert_int_equal(count_listed(store, "stored", "3012"), 3);
    assert_int_equal(ct_store_fetch_pending(store, &pending, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(pending[0].request_id, "req-b");
    ct_pending_fetch_free(pending, count);

    /* What a begin refuses. */
    begin_refused(store, "req-d", today, 0, a, 1, CL_ERR_EXISTS, "3012-000003 already holds");
    begin_refused(store, "req-d", today, 1, a, 1, CL_ERR_STATE, "not failed");
    const char *unfetched[] = {"3012-000009"}, *unmanaged[] = {"3013-000001"},
               *unknown_model[] = {"7777-000001"}, *malformed[] = {"3012_000001"},
               *dup[] = {"3012-000007", "3012-000007"};
    begin_refused(store, "req-d", today, 1, unfetched, 1, CL_ERR_NOT_FOUND, "no certificate");
    begin_refused(store, "req-d", today, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT,
                  "not certificate-managed");
    begin_refused(store, "req-d", today, 0, unknown_model, 1, CL_ERR_INVALID_ARGUMENT,
                  "not registered");
    begin_refused(store, "req-d", today, 0, malformed, 1, CL_ERR_INVALID_ARGUMENT, "3012_000001");
    begin_refused(store, "req-d", today, 0, dup, 2, CL_ERR_INVALID_ARGUMENT, "listed twice");
    begin_refused(store, "req-d", "2026-13-01", 0, unfetched, 1, CL_ERR_INVALID_ARGUMENT,
                  "2026-13-01");
    begin_refused(store, "has space", today, 0, unfetched, 1, CL_ERR_INVALID_ARGUMENT, "has space");
    begin_refused(store, "req-d", today, 0, unfetched, 0, CL_ERR_INVALID_ARGUMENT, NULL);
    begin_refused(store, "req-d", today, 0, unfetched, CT_FETCH_MAX + 1, CL_ERR_INVALID_ARGUMENT,
                  NULL);

    /* A manual entry needs no plan; an abandoned request frees its numbers. */
    const char *manual[] = {"3012-000777"};
    begin(store, "req-manual", today, 0, manual, 1);
    assert_int_equal(ct_store_fetch_abandon(store, "req-manual", "ca-server refuses it", ACTOR, err,
                                            sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_fetch_abandon(store, "req-manual", "again", ACTOR, err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_fetch_abandon(store, "req-a", "late", ACTOR, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_int_equal(ct_store_fetch_complete(store, "req-manual", wrong, 1, err, sizeof(err)),
                     CL_ERR_STATE);
    fetch(store, "req-manual-2", today, 0, manual, 1, 1);
    assert_string_equal(row_of(store, "3012-000777").state, "stored");
    ct_store_close(store);
}

int ct_store_fetch_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_restart_and_complete),
    };
    return cmocka_run_group_tests_name("ct_store fetch", tests, NULL, NULL);
}
