/* test_revocations.c: ca-server store, what the CRL lists: superseded and revoked device
 * certificates with their reasons, revoked service certificates, no unsigned intent; the CRL
 * number grows across connections; the revocation mark moves with each revocation. */
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
#include "crl_reason.h"
#include "error.h"
#include "pg_fixture.h"
#include "store.h"

/* The entry of serial in the snapshot, or NULL. */
static const struct ca_revoked *entry_of(const struct ca_crl_snapshot *s, const char *serial)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->entries[i].serial_hex, serial) == 0)
            return &s->entries[i];
    return NULL;
}

/* The reason the snapshot lists serial with; the test fails if it is not listed. */
static int reason_of(const struct ca_crl_snapshot *s, const char *serial)
{
    const struct ca_revoked *entry = entry_of(s, serial);
    if (entry == NULL)
        fail_msg("serial %s is not listed", serial);
    return entry != NULL ? entry->reason : -1;
}

static void test_listing(void **state)
{
    char **numbers = make_numbers("3012", 1, 4), **fresh = make_numbers("3012", 1, 1);
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("revocations", conninfo, sizeof(conninfo)), *other;
    struct ca_batch_item items[4], replaced[1];
    struct ca_crl_snapshot s;
    struct ca_cert_row row;
    long long mark0 = -1, mark1 = -1, mark2 = -1;
    time_t before = time(NULL);
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_crl_snapshot(store, &s, err, sizeof(err)), CL_OK);
    assert_int_equal(s.number, 1);
    assert_int_equal(s.count, 0);
    ca_crl_snapshot_clear(&s);
    assert_int_equal(ca_store_revocation_mark(store, &mark0, err, sizeof(err)), CL_OK);
    assert_int_equal(mark0, 0);

    issue(store, "r-1", 1, numbers, 4, items);
    begin(store, "r-2", 2, 1, CONST_LIST(fresh), 1, replaced, CA_BATCH_NEW); /* supersedes [0] */
    assert_int_equal(ca_store_revocation_mark(store, &mark1, err, sizeof(err)), CL_OK);
    assert_true(mark1 > 0);
    assert_int_equal(ca_store_revoke_reason(store, items[1].serial_hex,
                                            CL_CRL_REASON_KEY_COMPROMISE, "stolen laptop",
                                            "operator:test"),
                     CL_OK);
    assert_int_equal(ca_store_revoke(store, items[2].serial_hex, "lost", "operator:test"), CL_OK);
    /* An intent never signed is revoked but never listed: no certificate exists. */
    assert_int_equal(ca_store_revoke_reason(store, replaced[0].serial_hex,
                                            CL_CRL_REASON_CESSATION_OF_OPERATION, NULL, "op"),
                     CL_OK);
    /* A service certificate: found by its serial, revoked once. */
    assert_int_equal(ca_store_service_issued(store, "7F01", "comm-terminal", "ct-1", NULL, "op"),
                     CL_OK);
    assert_int_equal(
        ca_store_revoke_reason(store, "7F01", CL_CRL_REASON_KEY_COMPROMISE, NULL, "op"),
        CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_service_revoke(store, "7F01", CL_CRL_REASON_AFFILIATION_CHANGED,
                                             "factory sold", "operator:test"),
                     CL_OK);
    assert_int_equal(
        ca_store_service_revoke(store, "7F01", CL_CRL_REASON_KEY_COMPROMISE, NULL, "op"),
        CL_ERR_STATE);
    assert_int_equal(
        ca_store_service_revoke(store, "7F02", CL_CRL_REASON_KEY_COMPROMISE, NULL, "op"),
        CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_service_revoke(store, "7F02", 7, NULL, "op"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_revoke_reason(store, items[3].serial_hex, 42, NULL, "op"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_revocation_mark(store, &mark2, err, sizeof(err)), CL_OK);
    assert_true(mark2 >= mark1);

    assert_int_equal(ca_store_cert_state(store, numbers[1], items[1].serial_hex, &row), CL_OK);
    assert_string_equal(row.reason, "stolen laptop");

    /* Another connection (another ca-server on the database) takes the next number. */
    assert_int_equal(ca_store_open(conninfo, &other, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_crl_snapshot(other, &s, err, sizeof(err)), CL_OK);
    ca_store_close(other);
    assert_int_equal(s.number, 2);
    assert_int_equal(s.mark, mark2);
    assert_int_equal(s.count, 4);
    assert_non_null(entry_of(&s, items[0].serial_hex));
    assert_int_equal(reason_of(&s, items[0].serial_hex), CL_CRL_REASON_SUPERSEDED);
    assert_int_equal(reason_of(&s, items[1].serial_hex), CL_CRL_REASON_KEY_COMPROMISE);
    assert_int_equal(reason_of(&s, items[2].serial_hex), CL_CRL_REASON_UNSPECIFIED);
    assert_int_equal(reason_of(&s, "7F01"), CL_CRL_REASON_AFFILIATION_CHANGED);
    assert_null(entry_of(&s, replaced[0].serial_hex));
    assert_null(entry_of(&s, items[3].serial_hex));
    for (size_t i = 0; i < s.count; i++)
        assert_true(s.entries[i].revoked_at >= before - 5 &&
                    s.entries[i].revoked_at <= time(NULL) + 5);
    ca_crl_snapshot_clear(&s);
    assert_int_equal(ca_store_crl_snapshot(store, &s, err, sizeof(err)), CL_OK);
    assert_int_equal(s.number, 3);
    ca_crl_snapshot_clear(&s);
    free_numbers(numbers, 4);
    free_numbers(fresh, 1);
    ca_store_close(store);
}

/* A revocation whose transaction began before another's but commits after it still moves the
 * mark, so that serve publishes a CRL with it (a latest-time mark would not move: its time is
 * its transaction's start, earlier than the other's). */
static void test_mark_moves_whatever_the_commit_order(void **state)
{
    char **numbers = make_numbers("3012", 1, 2);
    char conninfo[256], err[512], sqlstate[8], value[64], statement[256];
    struct ca_store *store = fresh_store("revocation_order", conninfo, sizeof(conninfo));
    struct ca_batch_item items[2];
    long long before = -1, after = -1;
    PGconn *early;
    (void)state;

    add_model(store, "3012", "p256", 1);
    issue(store, "o-1", 1, numbers, 2, items);
    early = pg_fixture_connect(conninfo);
    sql(early, "BEGIN", sqlstate, value, sizeof(value));
    snprintf(statement, sizeof(statement),
             "UPDATE certificate SET state = 'revoked', ended_at = now(), reason = 'early',"
             " reason_code = 1 WHERE serial = '%s'",
             items[0].serial_hex);
    sql(early, statement, sqlstate, value, sizeof(value));
    assert_string_equal(sqlstate, "");
    /* Begun later, committed first. */
    assert_int_equal(ca_store_revoke_reason(store, items[1].serial_hex,
                                            CL_CRL_REASON_KEY_COMPROMISE, NULL, "operator:test"),
                     CL_OK);
    assert_int_equal(ca_store_revocation_mark(store, &before, err, sizeof(err)), CL_OK);
    sql(early, "COMMIT", sqlstate, value, sizeof(value));
    assert_string_equal(sqlstate, "");
    assert_int_equal(ca_store_revocation_mark(store, &after, err, sizeof(err)), CL_OK);
    assert_true(after != before);
    PQfinish(early);
    free_numbers(numbers, 2);
    ca_store_close(store);
}

/* A CRL in force with a higher number than the database's (a database restored from an older
 * backup): the next number published is above it; a lower one changes nothing. */
static void test_number_at_least(void **state)
{
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("crl_number_at_least", conninfo, sizeof(conninfo));
    struct ca_crl_snapshot s;
    (void)state;

    assert_int_equal(ca_store_crl_number_at_least(store, 41, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_crl_snapshot(store, &s, err, sizeof(err)), CL_OK);
    assert_int_equal(s.number, 42);
    ca_crl_snapshot_clear(&s);
    assert_int_equal(ca_store_crl_number_at_least(store, 7, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_crl_snapshot(store, &s, err, sizeof(err)), CL_OK);
    assert_int_equal(s.number, 43);
    ca_crl_snapshot_clear(&s);
    assert_int_equal(ca_store_crl_number_at_least(store, 1ULL << 63, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    ca_store_close(store);
}

/* The newest CRL kept for the other instances: a lower number never replaces a higher one; the
 * DER comes back only when newer than the number asked about. */
static void test_newest_kept(void **state)
{
    char conninfo[256], err[512];
    struct ca_store *store = fresh_store("crl_newest_kept", conninfo, sizeof(conninfo));
    unsigned char five[] = {0x30, 0x05, 0x01}, four[] = {0x30, 0x04};
    struct ca_crl_kept newest, kept = {.number = 5,
                                       .mark = 2,
                                       .this_update = 1000,
                                       .next_update = 2000,
                                       .der = five,
                                       .der_len = sizeof(five)};
    (void)state;

    assert_int_equal(ca_store_crl_newest(store, 0, &newest, err, sizeof(err)), CL_OK);
    assert_int_equal(newest.number, 0);
    assert_null(newest.der);
    assert_int_equal(ca_store_crl_keep(store, &kept, err, sizeof(err)), CL_OK);
    kept = (struct ca_crl_kept){.number = 4,
                                .mark = 1,
                                .this_update = 900,
                                .next_update = 1900,
                                .der = four,
                                .der_len = sizeof(four)};
    assert_int_equal(ca_store_crl_keep(store, &kept, err, sizeof(err)), CL_OK);
    assert_int_equal(ca_store_crl_newest(store, 4, &newest, err, sizeof(err)), CL_OK);
    assert_int_equal(newest.number, 5);
    assert_int_equal(newest.mark, 2);
    assert_int_equal(newest.this_update, 1000);
    assert_int_equal(newest.next_update, 2000);
    assert_int_equal(newest.der_len, sizeof(five));
    assert_memory_equal(newest.der, five, sizeof(five));
    ca_crl_kept_clear(&newest);
    assert_int_equal(ca_store_crl_newest(store, 5, &newest, err, sizeof(err)), CL_OK);
    assert_int_equal(newest.number, 5);
    assert_null(newest.der);
    ca_crl_kept_clear(&newest);
    ca_store_close(store);
}

int ca_store_revocations_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_mark_moves_whatever_the_commit_order),
        cmocka_unit_test(test_number_at_least),
        cmocka_unit_test(test_newest_kept),
    };
    return cmocka_run_group_tests_name("ca_store revocations", tests, NULL, NULL);
}
