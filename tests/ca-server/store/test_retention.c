/* test_retention.c: ca-server store, keys kept only while needed (packs purged at installation,
 * revocation, supersession and after the retention; a retry after that refused) and retirement
 * (cessationOfOperation, only the requester's, never an installed one, idempotent). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "ca_store_fixture.h"
#include "error.h"
#include "pg_fixture.h"
#include "store.h"

/* "t" if number's certificate serial still holds its pack, "f" if purged (and stamped). */
static void pack_held(PGconn *conn, const char *serial, const char *expected)
{
    char query[256], sqlstate[6], value[16];
    snprintf(query, sizeof(query),
             "SELECT (pack IS NOT NULL)::text || (pack_purged_at IS NOT NULL)::text"
             " FROM certificate WHERE serial = '%s'",
             serial);
    sql(conn, query, sqlstate, value, sizeof(value));
    assert_string_equal(sqlstate, "");
    assert_string_equal(value, strcmp(expected, "t") == 0 ? "truefalse" : "falsetrue");
}

static void test_purge(void **state)
{
    char conninfo[512], err[512];
    struct ca_store *store = fresh_store("purge", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 4);
    struct ca_batch_item items[4], again[1];
    PGconn *conn = PQconnectdb(conninfo);
    char sqlstate[6];
    long purged = -1;
    (void)state;

    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    add_model(store, "3012", "p256", 1);
    issue(store, "r-1", 1, numbers, 4, items);
    for (int i = 0; i < 4; i++)
        pack_held(conn, items[i].serial_hex, "t");
    /* Installed, revoked, superseded: purged at once. */
    assert_int_equal(install_proven(store, numbers[0], items[0].serial_hex, 1700000000).rc, CL_OK);
    pack_held(conn, items[0].serial_hex, "f");
    assert_int_equal(ca_store_revoke(store, items[1].serial_hex, "lost", "operator:test"), CL_OK);
    pack_held(conn, items[1].serial_hex, "f");
    begin(store, "r-2", 2, 1, CONST_LIST(&numbers[2]), 1, again, CA_BATCH_NEW);
    pack_held(conn, items[2].serial_hex, "f");
    /* A retry of the request now: refused, never a second certificate. */
    begin_refused(store, "r-1", 1, 0, CONST_LIST(numbers), 4, CL_ERR_STATE, err, sizeof(err));
    assert_non_null(strstr(err, "no longer kept"));
    /* Issued and never installed: kept for pack_retention_hours, then purged. */
    assert_int_equal(ca_store_purge_packs(store, 168, &purged), CL_OK);
    assert_int_equal(purged, 0);
    pack_held(conn, items[3].serial_hex, "t");
    sql(conn, "UPDATE certificate SET issued_at = now() - interval '169 hours'", sqlstate, NULL, 0);
    assert_string_equal(sqlstate, "");
    assert_int_equal(ca_store_purge_packs(store, 168, &purged), CL_OK);
    assert_int_equal(purged, 1);
    pack_held(conn, items[3].serial_hex, "f");
    assert_int_equal(state_of(store, numbers[3], items[3].serial_hex), CA_CERT_ISSUED);
    /* The database itself refuses a purged pack without its time. */
    sql(conn, "UPDATE certificate SET pack_purged_at = NULL WHERE state = 'issued'", sqlstate, NULL,
        0);
    assert_string_equal(sqlstate, "23514");
    PQfinish(conn);
    free_numbers(numbers, 4);
    ca_store_close(store);
}

static void test_retire(void **state)
{
    struct ca_store *store = fresh_store("retire", NULL, 0);
    char **numbers = make_numbers("3012", 1, 3);
    struct ca_batch_item items[3];
    struct ca_cert_row *rows = NULL;
    size_t retired = 99, count = 0;
    char err[512] = "";
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "r-1", 1, numbers, 3, items);
    assert_int_equal(install_proven(store, numbers[2], items[2].serial_hex, 1700000000).rc, CL_OK);
    const char *both[] = {items[0].serial_hex, items[1].serial_hex};
    const char *with_installed[] = {items[0].serial_hex, items[2].serial_hex};

    /* Another comm-terminal's certificates, an installed one, an unknown one: all refused,
     * nothing changed. */
    assert_int_equal(ca_store_retire(store, "comm-terminal-2", "DISCONTINUED", both, 2, &retired,
                                     err, sizeof(err)),
                     CL_ERR_PERMISSION);
    assert_non_null(strstr(err, items[0].serial_hex));
    assert_int_equal(ca_store_retire(store, "comm-terminal-1", "DISCONTINUED", with_installed, 2,
                                     &retired, err, sizeof(err)),
                     CL_ERR_STATE);
    assert_non_null(strstr(err, "installed"));
    assert_int_equal(retired, 0);
    assert_int_equal(state_of(store, numbers[0], items[0].serial_hex), CA_CERT_ISSUED);
    const char *unknown[] = {"0A0B0C"};
    assert_int_equal(ca_store_retire(store, "comm-terminal-1", "EXPIRED_STOCK", unknown, 1,
                                     &retired, err, sizeof(err)),
                     CL_ERR_NOT_FOUND);

    /* Retired: revoked, cessationOfOperation; again: the same answer, nothing new. */
    for (int round = 0; round < 2; round++) {
        assert_int_equal(ca_store_retire(store, "comm-terminal-1", "DISCONTINUED", both, 2,
                                         &retired, err, sizeof(err)),
                         CL_OK);
        assert_int_equal(retired, 2);
    }
    assert_int_equal(ca_store_cert_list(store, numbers[0], "", "", 10, &rows, &count), CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(rows[0].state, CA_CERT_REVOKED);
    assert_non_null(strstr(rows[0].reason, "cessationOfOperation"));
    assert_non_null(strstr(rows[0].reason, "DISCONTINUED"));
    free(rows);
    assert_int_equal(state_of(store, numbers[2], items[2].serial_hex), CA_CERT_INSTALLED);
    free_numbers(numbers, 3);
    ca_store_close(store);
}

int ca_store_retention_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_retire),
    };
    return cmocka_run_group_tests_name("ca_store retention", tests, NULL, NULL);
}
