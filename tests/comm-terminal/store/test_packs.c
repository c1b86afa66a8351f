/* test_packs.c: comm-terminal store, a FIG 21 answer stored in one statement or not at all. */
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

/* A whole answer goes in one statement: CT_FETCH_MAX packs with characters that would need
 * quoting in SQL or in an array literal arrive byte for byte; a number that can no longer take
 * its pack is named and nothing of the answer is stored. */
static void test_fetch_complete_whole_answer(void **state)
{
    enum { N = CT_FETCH_MAX };
    static const char odd[] = "{\"k\": \"a\\\\b\\n\", 'q', {x,y}, NULL, \t tab, \xc3\xa9 }";
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("whole_answer", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    char(*names)[CT_DEVICE_NUMBER_MAX + 1] = calloc(N, sizeof(*names));
    char(*serials)[CT_SERIAL_HEX_MAX + 1] = calloc(N, sizeof(*serials));
    char(*packs)[160] = calloc(N, sizeof(*packs));
    const char **numbers = calloc(N, sizeof(*numbers));
    struct ct_pack_item *items = calloc(N, sizeof(*items));
    (void)state;

    assert_true(names != NULL && serials != NULL && packs != NULL && numbers != NULL &&
                items != NULL);
    day_of(time(NULL), today);
    model(store, "3012", 1);
    struct ct_plan_entry plan = entry("3012", today, N + 3, 1);
    assert_int_equal(import(store, &plan, 1), N + 3);
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "3012-%06zu", i + 1);
        numbers[i] = names[i];
        fake_serial(names[i], 1, serials[i]);
        snprintf(packs[i], sizeof(packs[i]), "%s %s %s", names[i], odd, serials[i]);
        items[i] = (struct ct_pack_item){names[i], serials[i], packs[i]};
    }
    begin(store, "req-big", today, 0, numbers, N);
    if (ct_store_fetch_complete(store, "req-big", items, N, err, sizeof(err)) != CL_OK)
        fail_msg("fetch_complete req-big: %s", err);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM certificate WHERE request_id = 'req-big'"
                                     " AND state = 'stored' AND write_flag = 0"
                                     " AND model_code = '3012'"),
                     N);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM certificate WHERE serial = '01' ||"
                                     " lpad(split_part(device_number, '-', 2)::bigint::text, 12,"
                                     " '0')"),
                     N);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM fetch_item WHERE pending"), 0);
    for (size_t i = 0; i < N; i += N / 4 - 1) {
        char *pack = claim(store, names[i], "1001", 120, serial);
        assert_string_equal(pack, packs[i]);
        assert_string_equal(serial, serials[i]);
        free(pack);
    }

    /* A number that took a certificate meanwhile: named, and its neighbour is not stored. */
    const char *two[] = {"3012-001001", "3012-001002"};
    begin(store, "req-late", today, 0, two, 2);
    sql_value(conn, "INSERT INTO certificate (device_number, model_code, serial, pack, state,"
                    " request_id) VALUES ('3012-001002', '3012', '0F', 'x', 'stored', 'req-big')");
    struct ct_pack_item late[2] = {{two[0], "0101", "{}"}, {two[1], "0102", "{}"}};
    assert_int_equal(ct_store_fetch_complete(store, "req-late", late, 2, err, sizeof(err)),
                     CL_ERR_CONFLICT);
    assert_contains(err, "3012-001002 already holds a certificate");
    assert_int_equal(
        sql_value(conn, "SELECT count(*) FROM certificate WHERE device_number = '3012-001001'"), 0);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM fetch_request WHERE state = 'pending'"
                                     " AND request_id = 'req-late'"),
                     1);

    /* A replacement for a certificate that is no longer failed: named, nothing replaced. */
    const char *one[] = {"3012-000002"};
    free(claim(store, one[0], "1001", 120, serial));
    assert_int_equal(ct_store_failed(store, one[0], "1001", "flash", err, sizeof(err)), CL_OK);
    begin(store, "req-repl", today, 1, one, 1);
    sql_value(conn, "UPDATE certificate SET state = 'stored' WHERE device_number = '3012-000002'");
    struct ct_pack_item repl = {one[0], "0202", "{}"};
    assert_int_equal(ct_store_fetch_complete(store, "req-repl", &repl, 1, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "3012-000002 is no longer failed");
    assert_string_equal(row_of(store, one[0]).serial_hex, serials[1]);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM fetch_request WHERE state = 'pending'"),
                     2);

    free(names);
    free(serials);
    free(packs);
    free(numbers);
    free(items);
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_packs_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_complete_whole_answer),
    };
    return cmocka_run_group_tests_name("ct_store packs", tests, NULL, NULL);
}
