/* test_models.c: ca-server store, device models: add, get, list, what an add refuses, and the
 * certificate-managed flag changed (audited) [FIG 19A]. */
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

static void test_models(void **state)
{
    struct ca_store *store = fresh_store("models", NULL, 0);
    struct ca_model model = {0}, *models = NULL;
    size_t count = 0;
    (void)state;

    add_model(store, "3012", "p256", 1);
    add_model(store, "3013", "rsa2048", 0);
    add_model(store, "0001", "rsa3072", 1);
    assert_int_equal(ca_store_model_get(store, "3012", &model), CL_OK);
    assert_string_equal(model.code, "3012");
    assert_string_equal(model.key_type, "p256");
    assert_int_equal(model.certificate_managed, 1);
    assert_string_equal(model.key_id, "prewrite-3012");
    assert_true(model.created_at > time(NULL) - 600 && model.created_at <= time(NULL) + 1);
    assert_int_equal(ca_store_model_get(store, "3013", &model), CL_OK);
    assert_int_equal(model.certificate_managed, 0);
    assert_int_equal(ca_store_model_get(store, "9999", &model), CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_model_get(store, "bad code", &model), CL_ERR_INVALID_ARGUMENT);

    assert_int_equal(ca_store_model_list(store, &models, &count), CL_OK);
    assert_int_equal(count, 3);
    assert_string_equal(models[0].code, "0001");
    assert_string_equal(models[1].code, "3012");
    assert_string_equal(models[2].code, "3013");
    assert_string_equal(models[0].key_type, "rsa3072");
    free(models);

    /* Duplicates: the code, or the key id of another model. */
    model = (struct ca_model){.code = "3012", .key_type = "p256", .key_id = "other-key"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_EXISTS);
    model = (struct ca_model){.code = "3014", .key_type = "p256", .key_id = "prewrite-3012"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_EXISTS);
    /* Malformed fields. */
    model = (struct ca_model){.code = "30-12", .key_type = "p256", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "", .key_type = "p256", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    memcpy(model.code, "123456789", sizeof(model.code)); /* fills it: no terminating NUL */
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "3015", .key_type = "ed25519", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "3015", .key_type = "p256", .key_id = ""};
    assert_int_equal(ca_store_model_add(store, &model, "operator:test"), CL_ERR_INVALID_ARGUMENT);
    model = (struct ca_model){.code = "3015", .key_type = "p256", .key_id = "k1"};
    assert_int_equal(ca_store_model_add(store, &model, ""), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_model_add(store, &model, NULL), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_model_list(store, &models, &count), CL_OK);
    assert_int_equal(count, 3);
    free(models);
    ca_store_close(store);
}

/* ca-server holds the one model list: the flag changes there, audited once per change. */
static void test_model_flag(void **state)
{
    char conninfo[256], sqlstate[6], value[512];
    struct ca_store *store = fresh_store("model_flag", conninfo, sizeof(conninfo));
    PGconn *conn = pg_fixture_connect(conninfo);
    struct ca_model model = {0};
    (void)state;

    add_model(store, "3012", "p256", 1);
    assert_int_equal(ca_store_model_set_managed(store, "3012", 0, "operator:test"), CL_OK);
    assert_int_equal(ca_store_model_get(store, "3012", &model), CL_OK);
    assert_int_equal(model.certificate_managed, 0);
    assert_int_equal(ca_store_model_set_managed(store, "3012", 0, "operator:test"), CL_OK);
    assert_int_equal(ca_store_model_set_managed(store, "3012", 1, "operator:test"), CL_OK);
    assert_int_equal(ca_store_model_get(store, "3012", &model), CL_OK);
    assert_int_equal(model.certificate_managed, 1);
    sql(conn,
        "SELECT string_agg(actor || ' ' || detail, '; ' ORDER BY id) FROM audit_log"
        " WHERE action = 'model-set'",
        sqlstate, value, sizeof(value));
    assert_string_equal(value, "operator:test device model 3012: now not certificate-managed; "
                               "operator:test device model 3012: now certificate-managed");
    assert_int_equal(ca_store_model_set_managed(store, "9999", 1, "operator:test"),
                     CL_ERR_NOT_FOUND);
    assert_int_equal(ca_store_model_set_managed(store, "bad code", 1, "operator:test"),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(ca_store_model_set_managed(store, "3012", 0, ""), CL_ERR_INVALID_ARGUMENT);
    PQfinish(conn);
    ca_store_close(store);
}

int ca_store_models_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_model_flag),
    };
    return cmocka_run_group_tests_name("ca_store models", tests, NULL, NULL);
}
