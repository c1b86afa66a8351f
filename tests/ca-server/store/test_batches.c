/* test_batches.c: ca-server store, FIG 21 batches: idempotency by request id, one valid certificate
 * per device number, replacement, and what a batch refuses. */
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

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_batch_500_idempotent(void **state)
{
    enum { N = 500 };
    struct ca_store *store = fresh_store("batch_500", NULL, 0);
    char **numbers = make_numbers("3012", 1, N), **serials = calloc(N, sizeof(char *)), err[512];
    struct ca_batch_item *items = calloc(N, sizeof(*items));
    struct ca_batch_item *again = calloc(N, sizeof(*again));
    unsigned char der[64] = {0x30};
    unsigned char *got = NULL;
    size_t len = 0;
    (void)state;

    assert_true(serials != NULL && items != NULL && again != NULL);
    add_model(store, "3012", "p256", 1);
    begin(store, "r-500", 1, 0, CONST_LIST(numbers), N, items, CA_BATCH_NEW);
    for (size_t i = 0; i < N; i++) {
        assert_string_equal(items[i].device_number, numbers[i]);
        assert_string_equal(items[i].model_code, "3012");
        assert_string_equal(items[i].key_type, "p256");
        assert_null(items[i].pack);
        size_t slen = strlen(items[i].serial_hex);
        assert_true(slen >= 2 && slen <= CA_SERIAL_HEX_MAX && slen % 2 == 0);
        assert_int_equal(strspn(items[i].serial_hex, "0123456789ABCDEF"), slen);
        serials[i] = items[i].serial_hex;
    }
    qsort(serials, N, sizeof(char *), compare_strings);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(serials[i - 1], serials[i]);
    assert_int_equal(count_certs(store, NULL, "intent"), N);

    /* Same id and body before completion: PENDING, the same intents. */
    begin(store, "r-500", 1, 0, CONST_LIST(numbers), N, again, CA_BATCH_PENDING);
    for (size_t i = 0; i < N; i++) {
        assert_string_equal(again[i].device_number, numbers[i]);
        assert_string_equal(again[i].serial_hex, items[i].serial_hex);
        assert_null(again[i].pack);
    }
    assert_int_equal(count_certs(store, NULL, NULL), N);

    complete(store, "r-500", items, N);
    assert_int_equal(count_certs(store, NULL, "issued"), N);
    assert_int_equal(count_certs(store, NULL, "intent"), 0);

    /* Same id and body after completion: DONE with the stored packs in request order. */
    begin(store, "r-500", 1, 0, CONST_LIST(numbers), N, again, CA_BATCH_DONE);
    for (size_t i = 0; i < N; i++) {
        char pack[128];
        fake_pack(numbers[i], items[i].serial_hex, pack, sizeof(pack));
        assert_string_equal(again[i].device_number, numbers[i]);
        assert_string_equal(again[i].serial_hex, items[i].serial_hex);
        assert_string_equal(again[i].key_type, "p256");
        assert_non_null(again[i].pack);
        assert_string_equal(again[i].pack, pack);
    }
    ca_batch_items_free(again, N);
    assert_int_equal(count_certs(store, NULL, NULL), N);

    /* Completing twice (a second worker that signed the same pending request) is refused. */
    {
        struct ca_issued_item one = {items[0].serial_hex, der, 1, "pack",
                                     "00112233445566778899aabbccddeeff"
                                     "00112233445566778899aabbccddeeff"};
        assert_int_equal(ca_store_batch_complete(store, "r-500", &one, 1, err, sizeof(err)),
                         CL_ERR_CONFLICT);
        assert_contains(err, "r-500");
        assert_int_equal(ca_store_batch_complete(store, "r-unknown", &one, 1, err, sizeof(err)),
                         CL_ERR_NOT_FOUND);
    }

    /* Same id, another body: refused, whatever the numbers. */
    begin_refused(store, "r-500", 2, 0, (const char *const *)numbers, N, CL_ERR_CONFLICT, err,
                  sizeof(err));
    assert_string_equal(err, "request id r-500 was used with another body");
    begin_refused(store, "r-500", 1, 0, (const char *const *)numbers, N - 1, CL_ERR_CONFLICT, err,
                  sizeof(err));
    assert_contains(err, "was used with another body");

    /* The stored DER of one of them. */
    assert_int_equal(ca_store_cert_der(store, items[7].serial_hex, &got, &len), CL_OK);
    assert_int_equal(len, strlen(items[7].serial_hex));
    assert_memory_equal(got, items[7].serial_hex, len);
    free(got);
    assert_int_equal(ca_store_cert_der(store, "ABCD", &got, &len), CL_ERR_NOT_FOUND);

    free(serials);
    free(items);
    free(again);
    free_numbers(numbers, N);
    ca_store_close(store);
}

static void test_number_already_valid(void **state)
{
    struct ca_store *store = fresh_store("already_valid", NULL, 0);
    char **first = make_numbers("3012", 1, 2), err[512], expected[256];
    const char *second[] = {"3012-000003", "3012-000002", "3012-000004"};
    const char *other_body[] = {"3012-000003"};
    struct ca_batch_item items[2], one[1];
    struct ca_audit_row *audit = NULL;
    size_t audit_count = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    begin(store, "r-1", 1, 0, CONST_LIST(first), 2, items, CA_BATCH_NEW);
    begin_refused(store, "r-2", 2, 0, second, 3, CL_ERR_CONFLICT, err, sizeof(err));
    snprintf(expected, sizeof(expected),
             "device number 3012-000002 already holds a valid certificate (serial %s)",
             items[1].serial_hex);
    assert_string_equal(err, expected);
    /* Nothing of r-2 was recorded: no rows, no audit entry, and its id is still free. */
    assert_int_equal(count_certs(store, NULL, NULL), 2);
    assert_int_equal(count_certs(store, "3012-000003", NULL), 0);
    assert_int_equal(ca_store_audit_list(store, 100, &audit, &audit_count), CL_OK);
    for (size_t i = 0; i < audit_count; i++)
        assert_null(strstr(audit[i].detail, "r-2"));
    free(audit);
    begin(store, "r-2", 3, 0, other_body, 1, one, CA_BATCH_NEW);

    /* Still refused once the first is issued and installed. */
    complete(store, "r-1", items, 2);
    begin_refused(store, "r-3", 4, 0, (const char *const *)first + 1, 1, CL_ERR_CONFLICT, err,
                  sizeof(err));
    assert_string_equal(err, expected);
    free_numbers(first, 2);
    ca_store_close(store);
}

static void test_replacement(void **state)
{
    char conninfo[256], err[512], sqlstate[6], value[128], query[256];
    struct ca_store *store = fresh_store("replacement", conninfo, sizeof(conninfo));
    char **numbers = make_numbers("3012", 1, 2);
    struct ca_batch_item old[2], fresh[2];
    struct ca_cert_row row;
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "r-1", 1, numbers, 2, old);
    assert_int_equal(install_proven(store, numbers[0], old[0].serial_hex, 1000000).rc, CL_OK);

    /* A batch never supersedes an installed certificate: refused, naming it; nothing recorded. */
    {
        struct ca_batch_item none[2];
        enum ca_batch_state st;
        unsigned char hash[32] = {9};
        assert_int_equal(ca_store_batch_begin(store, "r-2x", hash, 1, "comm-terminal-1",
                                              CONST_LIST(numbers), 2, none, &st, err, sizeof(err)),
                         CL_ERR_CONFLICT);
        assert_contains(err, numbers[0]);
        assert_contains(err, "holds an installed certificate");
        assert_int_equal(count_certs(store, numbers[0], NULL), 1);
        assert_int_equal(count_certs(store, numbers[1], NULL), 1);
    }

    /* Replacement of the issued one: the old one is superseded. */
    begin(store, "r-2", 2, 1, CONST_LIST(numbers) + 1, 1, fresh, CA_BATCH_NEW);
    assert_string_not_equal(fresh[0].serial_hex, old[1].serial_hex);
    assert_int_equal(ca_store_cert_state(store, numbers[1], old[1].serial_hex, &row), CL_OK);
    assert_int_equal(row.state, CA_CERT_SUPERSEDED);
    assert_true(row.ended_at > 0);
    assert_contains(row.reason, "r-2");
    assert_int_equal(state_of(store, numbers[1], fresh[0].serial_hex), CA_CERT_INTENT);
    assert_int_equal(count_certs(store, numbers[1], NULL), 2);
    assert_int_equal(count_certs(store, numbers[1], "superseded"), 1);
    assert_int_equal(state_of(store, numbers[0], old[0].serial_hex), CA_CERT_INSTALLED);
    conn = pg_fixture_connect(conninfo);
    snprintf(query, sizeof(query), "SELECT superseded_by FROM certificate WHERE serial = '%s'",
             old[1].serial_hex);
    sql(conn, query, sqlstate, value, sizeof(value));
    assert_string_equal(sqlstate, "");
    assert_string_equal(value, fresh[0].serial_hex);
    PQfinish(conn);

    /* The superseded certificate can no longer be installed. */
    struct install_result late = install_proven(store, numbers[1], old[1].serial_hex, 1000000);
    assert_int_equal(late.rc, CL_ERR_STATE);
    assert_contains(late.err, "superseded");
    /* A replacement for a number without a certificate is a plain issue. */
    {
        const char *lone[] = {"3012-000077"};
        struct ca_batch_item one[1];
        begin(store, "r-3", 3, 1, lone, 1, one, CA_BATCH_NEW);
    }
    free_numbers(numbers, 2);
    ca_store_close(store);
}

static void test_refusals(void **state)
{
    struct ca_store *store = fresh_store("refusals", NULL, 0);
    char err[512], long_id[80];
    const char *unknown[] = {"3012-000001", "9999-000001"};
    const char *unmanaged[] = {"3013-000001"};
    const char *duplicate[] = {"3012-000001", "3012-000002", "3012-000001"};
    const char *malformed[][1] = {
        {"3012_000001"},        {"abc-1"}, {"3012-"},         {"-000001"},   {"123456789-1"},
        {"3012-1234567890123"}, {""},      {"3012-000001\n"}, {"3012-00 01"}};
    struct ca_batch_item items[1];
    enum ca_batch_state bstate;
    unsigned char hash[32] = {0};
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "3013", "p256", 0);
    begin_refused(store, "r-1", 1, 0, unknown, 2, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_string_equal(err, "device number 9999-000001: unknown device model 9999");
    begin_refused(store, "r-1", 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_string_equal(err, "device number 3013-000001: device model 3013 is not "
                             "certificate-managed");
    begin_refused(store, "r-1", 1, 0, duplicate, 3, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_string_equal(err, "device number 3012-000001 appears twice in request id r-1");
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        char shown[64];
        begin_refused(store, "r-1", 1, 0, malformed[i], 1, CL_ERR_INVALID_ARGUMENT, err,
                      sizeof(err));
        snprintf(shown, sizeof(shown), "device number \"%.11s", malformed[i][0]);
        shown[strcspn(shown, "\n")] = '\0';
        assert_contains(err, shown);
    }
    {
        const char *with_null[] = {"3012-000001", NULL};
        begin_refused(store, "r-1", 1, 0, with_null, 2, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    }
    /* Request id, requester, count. */
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    begin_refused(store, long_id, 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_contains(err, "request id");
    begin_refused(store, "", 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    begin_refused(store, "r 1", 1, 0, unmanaged, 1, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    begin_refused(store, "r-1", 1, 0, unmanaged, 0, CL_ERR_INVALID_ARGUMENT, err, sizeof(err));
    assert_contains(err, "r-1");
    assert_int_equal(ca_store_batch_begin(store, "r-1", hash, 0, "", unknown, 1, items, &bstate,
                                          err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_contains(err, "requester");
    memset(long_id, 'y', 70);
    long_id[70] = '\0';
    assert_int_equal(ca_store_batch_begin(store, "r-1", hash, 0, long_id, unknown, 1, items,
                                          &bstate, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_batch_begin(store, "r-1", hash, 0, "a\x01b", unknown, 1, items,
                                          &bstate, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    /* None of it left a trace. */
    assert_int_equal(count_certs(store, NULL, NULL), 0);
    begin(store, "r-1", 9, 0, unknown, 1, items, CA_BATCH_NEW);
    ca_store_close(store);
}

int ca_store_batches_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_500_idempotent),
        cmocka_unit_test(test_number_already_valid),
        cmocka_unit_test(test_replacement),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("ca_store batches", tests, NULL, NULL);
}
