/* test_prewrite_keys.c: ca-server store, pre-write keys per model and period [seed 004]: the first
 * key recorded with the model, rotation (now and scheduled), the current key at a given moment,
 * refusals, and migration 6 filling in the first key of models made before it. */
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

static struct ca_prewrite_key key_of(const char *model, const char *id, time_t from)
{
    struct ca_prewrite_key key = {.valid_from = from};
    snprintf(key.model_code, sizeof(key.model_code), "%s", model);
    snprintf(key.key_id, sizeof(key.key_id), "%s", id);
    return key;
}

static const char *current_at(struct ca_store *store, const char *model, time_t at,
                              struct ca_prewrite_key *key)
{
    assert_int_equal(ca_store_prewrite_current(store, model, at, key), CL_OK);
    return key->key_id;
}

static void test_rotation(void **state)
{
    struct ca_store *store = fresh_store("prewrite_keys", NULL, 0);
    struct ca_prewrite_key key, *keys = NULL;
    time_t now = time(NULL);
    size_t count = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "3013", "p256", 1);
    /* The first key is in force from the start, whatever the clock says. */
    assert_string_equal(current_at(store, "3012", 86400, &key), "prewrite-3012");
    assert_int_equal(key.first, 1);
    assert_int_equal(key.current, 1);

    key = key_of("3012", "3012-k2", now + 86400);
    assert_int_equal(ca_store_prewrite_add(store, &key, "operator:test"), CL_OK);
    key = key_of("3012", "3012-k3", now);
    assert_int_equal(ca_store_prewrite_add(store, &key, "operator:test"), CL_OK);
    assert_string_equal(current_at(store, "3012", now - 1, &key), "prewrite-3012");
    assert_string_equal(current_at(store, "3012", now, &key), "3012-k3");
    assert_int_equal(key.first, 0);
    assert_string_equal(current_at(store, "3012", now + 86400, &key), "3012-k2");
    assert_string_equal(current_at(store, "3013", now + 86400, &key), "prewrite-3013");

    assert_int_equal(ca_store_prewrite_list(store, "3012", now, &keys, &count), CL_OK);
    assert_int_equal(count, 3);
    assert_string_equal(keys[0].key_id, "prewrite-3012");
    assert_string_equal(keys[1].key_id, "3012-k3");
    assert_string_equal(keys[2].key_id, "3012-k2");
    assert_int_equal(keys[0].current + 2 * keys[1].current + 4 * keys[2].current, 2);
    assert_int_equal(keys[2].valid_from, now + 86400);
    free(keys);

    /* Refused: a taken id (of any model), a taken moment, an unknown model, malformed input. */
    key = key_of("3013", "3012-k2", now + 5);
    assert_int_equal(ca_store_prewrite_add(store, &key, "operator:test"), CL_ERR_EXISTS);
    key = key_of("3012", "3012-k4", now);
    assert_int_equal(ca_store_prewrite_add(store, &key, "operator:test"), CL_ERR_EXISTS);
    key = key_of("9999", "9999-k1", now);
    assert_int_equal(ca_store_prewrite_add(store, &key, "operator:test"), CL_ERR_NOT_FOUND);
    key = key_of("3012", "", now + 7);
    assert_int_equal(ca_store_prewrite_add(store, &key, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    key = key_of("3012", "3012-k5", now + 7);
    assert_int_equal(ca_store_prewrite_add(store, &key, ""), CL_ERR_INVALID_ARGUMENT);
    /* A model's first key id cannot be another model's rotated one. */
    struct ca_model model = {.code = "3014", .key_type = "p256", .key_id = "3012-k3"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_EXISTS);
    assert_int_equal(ca_store_prewrite_current(store, "9999", now, &key), CL_ERR_NOT_FOUND);
    ca_store_close(store);
}

/* Migration 6 on a database made before it: every model's key id becomes its first key. */
static void test_migration_backfill(void **state)
{
    char err[512], conninfo[256];
    struct ca_store *store = fresh_store("prewrite_backfill", conninfo, sizeof(conninfo));
    struct ca_prewrite_key key;
    int applied = -1;
    PGresult *res;
    PGconn *conn;
    (void)state;

    add_model(store, "3012", "p256", 1);
    conn = PQconnectdb(conninfo);
    res = PQexec(conn, "DROP TABLE prewrite_key; DELETE FROM schema_migrations WHERE version = 6");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(conn);
    assert_int_equal(ca_store_migrate(store, &applied, err, sizeof(err)), CL_OK);
    assert_int_equal(applied, 1);
    assert_string_equal(current_at(store, "3012", time(NULL), &key), "prewrite-3012");
    assert_int_equal(key.first, 1);
    ca_store_close(store);
}

int ca_store_prewrite_keys_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_migration_backfill),
    };
    return cmocka_run_group_tests_name("ca_store prewrite keys", tests, NULL, NULL);
}
