/* test_claims.c: comm-terminal store, the line service: claims and the claim window, two lines
 * racing for one number on two connections, S9/S11 from the claiming line only, NG and its
 * replacement. */
#include <pthread.h>
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

static void test_claim_window(void **state)
{
    char conninfo[256], today[11], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("claim", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    day_of(time(NULL), today);
    const char *numbers[] = {"3012-000001", "3012-000002"};
    assert_int_equal(plan_and_fetch(store, today, 5, numbers, 2), 5);
    model(store, "3013", 0);
    struct ct_plan_entry unmanaged = entry("3013", today, 1, 1);
    assert_int_equal(import(store, &unmanaged, 1), 1);

    char *pack = claim(store, "3012-000001", "1001", 120, serial);
    assert_string_equal(serial, "01000000000001");
    assert_contains(pack, "3012-000001");
    assert_string_equal(row_of(store, "3012-000001").line_id, "1001");
    /* Another line within the window: being served to line 1001. */
    claim_refused(store, "3012-000001", "1002", 120, CL_ERR_CONFLICT,
                  "3012-000001 is being served to line 1001");
    /* The same line again (a re-scan): the same pack. */
    char *again = claim(store, "3012-000001", "1001", 120, NULL);
    assert_string_equal(again, pack);
    free(again);
    free(pack);
    /* After the window, another line may have it. */
    sql_value(conn, "UPDATE certificate SET claimed_at = now() - interval '130 seconds'"
                    " WHERE claimed_at IS NOT NULL");
    pack = claim(store, "3012-000001", "1002", 120, NULL);
    free(pack);
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_CONFLICT, "line 1002");
    assert_string_equal(row_of(store, "3012-000001").line_id, "1002");

    /* Numbers that cannot be served, each with its reason. */
    claim_refused(store, "3012-999999", "1001", 120, CL_ERR_NOT_FOUND, "not in the production");
    claim_refused(store, "3012-000003", "1001", 120, CL_ERR_NOT_FOUND, "not fetched");
    claim_refused(store, "3013-000001", "1001", 120, CL_ERR_NOT_FOUND, "not certificate-managed");
    claim_refused(store, "9999-000001", "1001", 120, CL_ERR_NOT_FOUND, "not registered");
    const char *pending[] = {"3012-000004"};
    begin(store, "req-2", today, 0, pending, 1);
    claim_refused(store, "3012-000004", "1001", 120, CL_ERR_NOT_FOUND, "req-2");
    claim_refused(store, "3012-00000A", "1001", 120, CL_ERR_INVALID_ARGUMENT, "3012-00000A");
    claim_refused(store, "3012-000002", "line 1", 120, CL_ERR_INVALID_ARGUMENT, "line 1");
    claim_refused(store, "3012-000002", "1001", -1, CL_ERR_INVALID_ARGUMENT, NULL);
    PQfinish(conn);
    ct_store_close(store);
}

/* ---- two lines, one number, two connections ---- */

struct racer {
    struct ct_store *store;
    pthread_barrier_t *barrier;
    const char *number;
    const char *line;
    int rc;
    char *pack;
    char serial[CT_SERIAL_HEX_MAX + 1];
    char err[512];
};

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->barrier);
    r->rc = ct_store_claim(r->store, r->number, r->line, 120, &r->pack, r->serial, r->err,
                           sizeof(r->err));
    return NULL;
}

static void test_claim_race(void **state)
{
    enum { ROUNDS = 25 };
    char conninfo[256], today[11];
    struct ct_store *store = fresh_store("claim_race", conninfo, sizeof(conninfo));
    struct ct_store *other;
    const char *numbers[ROUNDS];
    char names[ROUNDS][CT_DEVICE_NUMBER_MAX + 1];
    int wins_1001 = 0, wins_1002 = 0;
    (void)state;

    day_of(time(NULL), today);
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(names[i], sizeof(names[i]), "3012-%06d", i + 1);
        numbers[i] = names[i];
    }
    assert_int_equal(plan_and_fetch(store, today, ROUNDS, numbers, ROUNDS), ROUNDS);
    other = open_store(conninfo);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_barrier_t barrier;
        pthread_t ta, tb;
        struct racer a = {.store = store, .number = numbers[i], .line = "1001"};
        struct racer b = {.store = other, .number = numbers[i], .line = "1002"};
        assert_int_equal(pthread_barrier_init(&barrier, NULL, 2), 0);
        a.barrier = b.barrier = &barrier;
        assert_int_equal(pthread_create(&ta, NULL, race, &a), 0);
        assert_int_equal(pthread_create(&tb, NULL, race, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        if (!((a.rc == CL_OK) ^ (b.rc == CL_OK)))
            fail_msg("%s: exactly one line must get it: 1001 %s (%s), 1002 %s (%s)", numbers[i],
                     cl_err_name(a.rc), a.err, cl_err_name(b.rc), b.err);
        struct racer *winner = a.rc == CL_OK ? &a : &b, *loser = a.rc == CL_OK ? &b : &a;
        assert_int_equal(loser->rc, CL_ERR_CONFLICT);
        assert_null(loser->pack);
        char expected[64];
        snprintf(expected, sizeof(expected), "being served to line %s", winner->line);
        assert_contains(loser->err, expected);
        assert_string_equal(row_of(store, numbers[i]).line_id, winner->line);
        *(winner == &a ? &wins_1001 : &wins_1002) += 1;
        free(winner->pack);
    }
    print_message("claim race: line 1001 won %d, line 1002 won %d of %d\n", wins_1001, wins_1002,
                  ROUNDS);
    ct_store_close(other);
    ct_store_close(store);
}

static void test_line_flow(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1], proof[80];
    struct ct_store *store = fresh_store("line_flow", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_report *reports = NULL;
    size_t count = 0;
    (void)state;

    day_of(time(NULL), today);
    const char *numbers[] = {"3012-000001", "3012-000002", "3012-000003"};
    assert_int_equal(plan_and_fetch(store, today, 3, numbers, 3), 3);

    /* S9 and S11 before any claim, or from another line: refused. */
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "not claimed by line 1001");
    free(claim(store, "3012-000001", "1001", 120, serial));
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1002", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "claimed by line 1001, not line 1002");
    assert_int_equal(written(store, "3012-000001", "1002", serial, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(ct_store_failed(store, "3012-000001", "1002", "x", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(ct_store_delivered(store, "3012-999999", "1001", err, sizeof(err)),
                     CL_ERR_NOT_FOUND);

    /* S9 from the claiming line: delivered (twice is fine). */
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)), CL_OK);
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)), CL_OK);
    struct ct_cert_row row = row_of(store, "3012-000001");
    assert_string_equal(row.state, "delivered");
    assert_true(row.delivered_at > 0);

    /* S11 OK: another serial than the pack's is refused; then written, flag 1, report due. */
    assert_int_equal(written(store, "3012-000001", "1001", "0BAD", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "0BAD");
    assert_int_equal(
        ct_store_written(store, "3012-000001", "1001", serial, "123", time(NULL), err, sizeof(err)),
        CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_reports_due(store, time(NULL) + 1, 10, &reports, &count), CL_OK);
    assert_int_equal(count, 0);
    free(reports);
    time_t before = time(NULL);
    assert_int_equal(written(store, "3012-000001", "1001", serial, err, sizeof(err)), CL_OK);
    row = row_of(store, "3012-000001");
    assert_string_equal(row.state, "written");
    assert_int_equal(row.write_flag, 1);
    assert_true(row.written_at >= before && row.written_at <= time(NULL));
    assert_int_equal(ct_store_reports_due(store, time(NULL), 10, &reports, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_string_equal(reports[0].device_number, "3012-000001");
    assert_string_equal(reports[0].serial_hex, serial);
    fake_proof("3012-000001", proof, CT_VERIFY_HEX);
    assert_string_equal(reports[0].proof, proof);
    assert_int_equal(reports[0].attempts, 0);
    free(reports);

    /* The same S11 again: fine, nothing doubled; any other is refused. */
    assert_int_equal(written(store, "3012-000001", "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM report"), 1);
    assert_int_equal(written(store, "3012-000001", "1001", "0102", err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(written(store, "3012-000001", "1002", serial, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_STATE, "already written");
    claim_refused(store, "3012-000001", "1002", 120, CL_ERR_STATE, "already written");
    assert_int_equal(ct_store_failed(store, "3012-000001", "1001", "late", err, sizeof(err)),
                     CL_ERR_STATE);
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)),
                     CL_ERR_STATE);

    /* S11 without S9 (the notice was lost) is accepted from the claiming line. */
    free(claim(store, "3012-000002", "1002", 120, serial));
    assert_int_equal(written(store, "3012-000002", "1002", serial, err, sizeof(err)), CL_OK);
    /* A late S11 after the claim window, nobody else having claimed: still accepted. */
    free(claim(store, "3012-000003", "1001", 120, serial));
    sql_value(conn, "UPDATE certificate SET claimed_at = now() - interval '1 hour'"
                    " WHERE device_number = '3012-000003'");
    assert_int_equal(written(store, "3012-000003", "1001", serial, err, sizeof(err)), CL_OK);
    assert_int_equal(count_listed(store, "written", ""), 3);
    PQfinish(conn);
    ct_store_close(store);
}

static void test_failed_and_replacement(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1],
        old_serial[CT_SERIAL_HEX_MAX + 1], reason[1100];
    struct ct_store *store = fresh_store("replacement", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    day_of(time(NULL), today);
    const char *numbers[] = {"3012-000001", "3012-000002"};
    assert_int_equal(plan_and_fetch(store, today, 2, numbers, 2), 2);

    char *old_pack = claim(store, "3012-000001", "1001", 120, old_serial);
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1001", err, sizeof(err)), CL_OK);
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    assert_int_equal(ct_store_failed(store, "3012-000001", "1001", reason, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(
        ct_store_failed(store, "3012-000001", "1001", "flash write failed", err, sizeof(err)),
        CL_OK);
    assert_string_equal(row_of(store, "3012-000001").state, "failed");
    assert_int_equal(ct_store_failed(store, "3012-000001", "1001", "again", err, sizeof(err)),
                     CL_OK); /* a repeated NG */
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM failed_pack"), 1);
    /* Failed: nobody gets the pack until a replacement is stored. */
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_STATE, "no replacement yet");
    claim_refused(store, "3012-000001", "1002", 120, CL_ERR_STATE, "no replacement yet");
    assert_int_equal(written(store, "3012-000001", "1001", old_serial, err, sizeof(err)),
                     CL_ERR_STATE);
    const char *one[] = {"3012-000001"};
    begin_refused(store, "req-plain", today, 0, one, 1, CL_ERR_EXISTS, NULL);
    begin(store, "req-repl", today, 1, one, 1);
    claim_refused(store, "3012-000001", "1001", 120, CL_ERR_STATE, "no replacement yet");
    struct ct_pending_fetch *pending = NULL;
    size_t count = 0;
    assert_int_equal(ct_store_fetch_pending(store, &pending, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(pending[0].replacement, 1);
    ct_pending_fetch_free(pending, count);
    complete(store, "req-repl", one, 1, 2);
    complete(store, "req-repl", one, 1, 3); /* completed already: nothing changes */

    struct ct_cert_row row = row_of(store, "3012-000001");
    assert_string_equal(row.state, "replaced");
    assert_int_equal(row.write_flag, 0);
    assert_int_equal(row.pack_held, 1);
    assert_string_equal(row.serial_hex, "02000000000001");
    /* The claim was released: another line may have the replacement at once. */
    char *new_pack = claim(store, "3012-000001", "1002", 120, serial);
    assert_string_equal(serial, "02000000000001");
    assert_string_not_equal(new_pack, old_pack);
    assert_contains(new_pack, "02000000000001");
    assert_int_equal(ct_store_delivered(store, "3012-000001", "1002", err, sizeof(err)), CL_OK);
    assert_int_equal(written(store, "3012-000001", "1002", old_serial, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_int_equal(written(store, "3012-000001", "1002", serial, err, sizeof(err)), CL_OK);
    assert_string_equal(row_of(store, "3012-000001").state, "written");
    /* A replacement is only for a failed certificate. */
    begin_refused(store, "req-repl-2", today, 1, one, 1, CL_ERR_STATE, "written, not failed");
    free(old_pack);
    free(new_pack);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_claims_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_window),
        cmocka_unit_test(test_claim_race),
        cmocka_unit_test(test_line_flow),
        cmocka_unit_test(test_failed_and_replacement),
    };
    return cmocka_run_group_tests_name("ct_store claims", tests, NULL, NULL);
}
