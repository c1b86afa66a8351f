/* test_records.c: comm-terminal store, issue 20's records: the model list read from ca-server
 * beside a local override [FIG 19A], the plan check of a manual entry, FIG 20's creation date
 * kept across a replacement and stock retention counted from the replacement, and operator
 * roles, disabling and removal (never the last active admin). */
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

#define PASSWORD "a long enough secret"

static const struct ct_model_row *find(const struct ct_model_row *rows, size_t n, const char *code)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].code, code) == 0)
            return &rows[i];
    fail_msg("model %s not listed", code);
    abort(); /* fail_msg does not return; abort says so to the compiler */
}

static void test_model_list(void **state)
{
    char conninfo[256], today[11], err[512], text[512];
    struct ct_store *store = fresh_store("models", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ct_model_row *rows = NULL;
    size_t n = 0, changed = 0;
    (void)state;

    day_of(time(NULL), today);
    /* 3012 marked here before the list was read: a local override. */
    model(store, "3012", 1);
    const struct ct_ca_model first[] = {{"3012", 0}, {"4021", 1}, {"5555", 0}};
    assert_int_equal(
        ct_store_models_from_ca(store, first, 3, "ca-server", &changed, err, sizeof(err)), CL_OK);
    assert_int_equal(changed, 2); /* 4021 and 5555 are new; 3012's flag in force stays */
    assert_int_equal(ct_store_model_list(store, today, &rows, &n), CL_OK);
    assert_int_equal(n, 3);
    const struct ct_model_row *m = find(rows, n, "3012");
    assert_int_equal(m->certificate_managed, 1);
    assert_string_equal(m->ca_state, "not-managed");
    assert_int_equal(m->local_override, 1);
    assert_true(m->ca_synced_at > 0);
    m = find(rows, n, "4021");
    assert_int_equal(m->certificate_managed, 1);
    assert_string_equal(m->ca_state, "managed");
    assert_int_equal(m->local_override, -1);
    free(rows);

    /* The same list again: nothing changed, nothing audited. */
    long long audits =
        sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'models_sync'");
    assert_int_equal(
        ct_store_models_from_ca(store, first, 3, "ca-server", &changed, err, sizeof(err)), CL_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM audit_log WHERE action = 'models_sync'"),
                     audits);

    /* ca-server stops managing 4021 and no longer names 5555; the override is cleared. */
    const struct ct_ca_model second[] = {{"3012", 0}, {"4021", 0}};
    assert_int_equal(
        ct_store_models_from_ca(store, second, 2, "ca-server", &changed, err, sizeof(err)), CL_OK);
    assert_int_equal(changed, 1);
    sql_text(conn,
             "SELECT detail FROM audit_log WHERE action = 'models_sync' ORDER BY id DESC LIMIT 1",
             text, sizeof(text));
    assert_contains(text, "1 changed: 4021-");
    assert_int_equal(ct_store_model_set(store, "3012", CT_MODEL_FOLLOW_CA, ACTOR), CL_OK);
    assert_int_equal(ct_store_model_set(store, "9999", CT_MODEL_FOLLOW_CA, ACTOR),
                     CL_ERR_NOT_FOUND);
    assert_int_equal(ct_store_model_list(store, today, &rows, &n), CL_OK);
    assert_int_equal(find(rows, n, "3012")->certificate_managed, 0);
    assert_int_equal(find(rows, n, "3012")->local_override, -1);
    assert_int_equal(find(rows, n, "4021")->certificate_managed, 0);
    assert_string_equal(find(rows, n, "5555")->ca_state, "unknown");
    free(rows);

    /* A malformed code from ca-server stores nothing. */
    const struct ct_ca_model bad[] = {{"4021", 1}, {"bad code", 1}};
    assert_int_equal(
        ct_store_models_from_ca(store, bad, 2, "ca-server", &changed, err, sizeof(err)),
        CL_ERR_PARSE);
    assert_int_equal(sql_value(conn, "SELECT count(*) FROM model WHERE certificate_managed"), 0);

    /* planned_ahead: 5555 planned today (a model ca-server does not know). */
    model(store, "5555", 1);
    struct ct_plan_entry plan[1] = {entry("5555", today, 2, 1)};
    assert_int_equal(import(store, plan, 1), 2);
    assert_int_equal(ct_store_model_list(store, today, &rows, &n), CL_OK);
    assert_int_equal(find(rows, n, "5555")->planned_ahead, 2);
    assert_int_equal(find(rows, n, "4021")->planned_ahead, 0);
    free(rows);
    char day[11];
    assert_int_equal(ct_store_planned_day(store, "5555-000002", day), CL_OK);
    assert_string_equal(day, today);
    assert_int_equal(ct_store_planned_day(store, "5555-000009", day), CL_ERR_NOT_FOUND);
    assert_int_equal(ct_store_planned_day(store, "not a number", day), CL_ERR_INVALID_ARGUMENT);

    PQfinish(conn);
    ct_store_close(store);
}

static void test_replacement_dates(void **state)
{
    char conninfo[256], today[11], err[512], serial[CT_SERIAL_HEX_MAX + 1];
    struct ct_store *store = fresh_store("dates", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    size_t expired = 0;
    (void)state;

    day_of(time(NULL), today);
    const char *numbers[] = {"3012-000001", "3012-000002"};
    plan_and_fetch(store, today, 2, numbers, 2);
    /* 3012-000001 stored 40 days ago, failed, replaced now. */
    assert_int_equal(sql_value(conn, "WITH u AS (UPDATE certificate SET created_at = now() -"
                                     " interval '40 days' RETURNING 1) SELECT count(*) FROM u"),
                     2);
    time_t created = row_of(store, numbers[0]).created_at;
    free(claim(store, numbers[0], "1001", 120, serial));
    assert_int_equal(ct_store_failed(store, numbers[0], "1001", "NG", err, sizeof(err)), CL_OK);
    assert_int_equal(row_of(store, numbers[0]).replaced_at, 0);
    const char *one[] = {numbers[0]};
    fetch(store, "repl-1", today, 1, one, 1, 2);
    struct ct_cert_row row = row_of(store, numbers[0]);
    assert_string_equal(row.state, "replaced");
    assert_int_equal(row.created_at, created); /* FIG 20's creation date stays */
    assert_true(row.replaced_at >= time(NULL) - 60 && row.replaced_at <= time(NULL) + 1);

    /* Retention of 30 days: the replacement counts from its own date, the other goes. */
    assert_int_equal(ct_store_expire_stock(store, 30, &expired), CL_OK);
    assert_int_equal(expired, 1);
    assert_int_equal(row_of(store, numbers[0]).pack_held, 1);
    assert_int_equal(row_of(store, numbers[1]).pack_held, 0);

    PQfinish(conn);
    ct_store_close(store);
}

static void test_operator_roles(void **state)
{
    char conninfo[256], err[512], role[16];
    struct ct_store *store = fresh_store("roles", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    (void)state;

    assert_int_equal(ct_store_operator_add(store, "alice", PASSWORD, "admin", "bootstrap"), CL_OK);
    assert_int_equal(ct_store_operator_add(store, "vera", PASSWORD, "viewer", "alice"), CL_OK);
    assert_int_equal(ct_store_operator_add(store, "otto", PASSWORD, "operator", "alice"), CL_OK);
    assert_int_equal(ct_store_operator_add(store, "eve", PASSWORD, "root", "alice"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_add(store, "eve", PASSWORD, NULL, "alice"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ct_store_operator_login(store, "vera", PASSWORD, role, sizeof(role)), CL_OK);
    assert_string_equal(role, "viewer");
    assert_int_equal(ct_store_operator_login(store, "alice", PASSWORD, role, sizeof(role)), CL_OK);
    assert_string_equal(role, "admin");
    /* An operator added before roles (ct_store_operator_set) is an admin. */
    assert_int_equal(ct_store_operator_set(store, "old", PASSWORD, 0, "alice"), CL_OK);
    assert_int_equal(ct_store_operator_login(store, "old", PASSWORD, role, sizeof(role)), CL_OK);
    assert_string_equal(role, "admin");

    /* Disabled: no login, whatever the password; enabled again: login. */
    assert_int_equal(ct_store_operator_state(store, "otto", "disabled", "alice", err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_operator_login(store, "otto", PASSWORD, role, sizeof(role)),
                     CL_ERR_PERMISSION);
    assert_string_equal(role, "");
    assert_int_equal(ct_store_operator_check(store, "otto", PASSWORD), CL_ERR_PERMISSION);
    assert_int_equal(ct_store_operator_state(store, "otto", "active", "alice", err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_operator_check(store, "otto", PASSWORD), CL_OK);

    /* Never the last active admin: old goes, then alice may neither go nor be disabled. */
    assert_int_equal(ct_store_operator_state(store, "old", "removed", "alice", err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_operator_state(store, "alice", "removed", "alice", err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "last active admin");
    assert_int_equal(ct_store_operator_state(store, "alice", "disabled", "alice", err, sizeof(err)),
                     CL_ERR_STATE);
    /* Removed is final, and its id is never reused. */
    assert_int_equal(ct_store_operator_state(store, "old", "active", "alice", err, sizeof(err)),
                     CL_ERR_STATE);
    assert_contains(err, "was removed");
    assert_int_equal(ct_store_operator_add(store, "old", PASSWORD, "viewer", "alice"),
                     CL_ERR_EXISTS);
    assert_int_equal(ct_store_operator_check(store, "old", PASSWORD), CL_ERR_PERMISSION);
    assert_int_equal(
        ct_store_operator_state(store, "nobody", "disabled", "alice", err, sizeof(err)),
        CL_ERR_NOT_FOUND);
    assert_int_equal(ct_store_operator_state(store, "otto", "gone", "alice", err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    /* A disabled admin does not count: with two admins, one disabled, the other is the last. */
    assert_int_equal(ct_store_operator_add(store, "bob", PASSWORD, "admin", "alice"), CL_OK);
    assert_int_equal(ct_store_operator_state(store, "bob", "disabled", "alice", err, sizeof(err)),
                     CL_OK);
    assert_int_equal(ct_store_operator_state(store, "alice", "disabled", "alice", err, sizeof(err)),
                     CL_ERR_STATE);

    char audit[1024];
    sql_text(conn,
             "SELECT string_agg(actor || ' ' || detail, '; ' ORDER BY id) FROM audit_log"
             " WHERE action = 'operator_state'",
             audit, sizeof(audit));
    assert_string_equal(audit, "alice operator otto: disabled; alice operator otto: enabled; "
                               "alice operator old: removed; alice operator bob: disabled");
    PQfinish(conn);
    ct_store_close(store);
}

int ct_store_records_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_list),
        cmocka_unit_test(test_replacement_dates),
        cmocka_unit_test(test_operator_roles),
    };
    return cmocka_run_group_tests_name("ct_store records", tests, NULL, NULL);
}
