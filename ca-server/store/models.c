/* store/models.c: device models (code, key type, certificate-managed, key id): add, get, list,
 * and the lock that runs one model-add or model-rotate at a time. */
#include "store_internal.h"

/* ---- device models ---- */

#define MODEL_COLUMNS                                                                              \
    "code, key_type, certificate_managed, key_id, floor(extract(epoch FROM created_at))::bigint"

static void model_from_row(const PGresult *res, int row, void *out)
{
    struct ca_model *model = out;
    memset(model, 0, sizeof(*model));
    cl_copy_text(model->code, sizeof(model->code), cl_pg_get_text(res, row, 0));
    cl_copy_text(model->key_type, sizeof(model->key_type), cl_pg_get_text(res, row, 1));
    model->certificate_managed = cl_pg_get_bool(res, row, 2);
    cl_copy_text(model->key_id, sizeof(model->key_id), cl_pg_get_text(res, row, 3));
    model->created_at = (time_t)cl_pg_get_ll(res, row, 4);
}

int ca_store_model_add(struct ca_store *store, const struct ca_model *model, const char *actor)
{
    char err[384], buf[48], detail[256];
    const char *values[4];
    int rc;

    if (store == NULL || model == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (memchr(model->code, '\0', sizeof(model->code)) == NULL ||
        memchr(model->key_type, '\0', sizeof(model->key_type)) == NULL ||
        memchr(model->key_id, '\0', sizeof(model->key_id)) == NULL) {
        cl_log_warn("device model: code, key type or key id is not terminated");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_model_code_ok(model->code)) {
        cl_log_warn("device model code \"%s\" is malformed (1 to 8 of 0-9 A-Z)",
                    cl_shown(model->code, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(model->key_type, "p256") != 0 && strcmp(model->key_type, "rsa2048") != 0 &&
        strcmp(model->key_type, "rsa3072") != 0) {
        cl_log_warn("device model %s: key type \"%s\" is not p256, rsa2048 or rsa3072", model->code,
                    cl_shown(model->key_type, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_token_ok(model->key_id, KEY_ID_MAX)) {
        cl_log_warn("device model %s: key id \"%s\" must be 1 to %d printable characters",
                    model->code, cl_shown(model->key_id, buf, sizeof(buf)), KEY_ID_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("device model %s: %s", model->code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    values[0] = model->code;
    values[1] = model->key_type;
    values[2] = model->certificate_managed ? "true" : "false";
    values[3] = model->key_id;
    snprintf(detail, sizeof(detail), "device model %s (%s, %scertificate-managed, key id %s)",
             model->code, model->key_type, model->certificate_managed ? "" : "not ", model->key_id);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        return logged(rc, "adding a device model", err);
    rc = cl_pg_query(store->db, NULL,
                     "INSERT INTO device_model (code, key_type, certificate_managed, key_id)"
                     " VALUES ($1, $2, $3::boolean, $4)",
                     4, values, err, sizeof(err));
    if (rc == CL_OK) /* its first pre-write key, in force from the start */
        rc = cl_pg_query(store->db, NULL,
                         "INSERT INTO prewrite_key (key_id, model_code, valid_from, first_key)"
                         " VALUES ($2, $1, 'epoch', true)",
                         2, (const char *const[]){model->code, model->key_id}, err, sizeof(err));
    if (rc != CL_OK && cl_pg_unique_violation(store->db)) {
        cl_pg_rollback(store->db);
        if (cl_pg_constraint_is(store->db, "device_model_key_id_key") ||
            cl_pg_constraint_is(store->db, "prewrite_key_pkey"))
            cl_log_warn("key id %s is already used by another device model", model->key_id);
        else
            cl_log_warn("device model %s already exists", model->code);
        return CL_ERR_EXISTS;
    }
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "model-add", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "adding a device model", err);
    return CL_OK;
}

int ca_store_model_get(struct ca_store *store, const char *code, struct ca_model *model)
{
    const char *values[] = {code};
    char err[384];
    PGresult *res;
    int rc;

    if (store == NULL || model == NULL || !cl_model_code_ok(code))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " MODEL_COLUMNS " FROM device_model WHERE code = $1", 1, values,
                          err, sizeof(err))) != CL_OK)
        return logged(rc, "reading a device model", err);
    if (PQntuples(res) == 1)
        model_from_row(res, 0, model);
    else
        rc = CL_ERR_NOT_FOUND;
    PQclear(res);
    return rc;
}

int ca_store_model_list(struct ca_store *store, struct ca_model **models, size_t *count)
{
    int rc;

    if (!CL_PG_LIST_START(store, models, count))
        return CL_ERR_INVALID_ARGUMENT;
    *models = cl_pg_list(
        store->db, "SELECT " MODEL_COLUMNS " FROM device_model ORDER BY code COLLATE \"C\"", 0,
        NULL, sizeof(**models), model_from_row, count, &rc, logged, "listing device models");
    return rc;
}

int ca_store_model_set_managed(struct ca_store *store, const char *code, int certificate_managed,
                               const char *actor)
{
    const char *values[] = {code, certificate_managed ? "true" : "false"};
    char err[384], buf[48], detail[128];
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_model_code_ok(code)) {
        cl_log_warn("device model code \"%s\" is malformed (1 to 8 of 0-9 A-Z)",
                    cl_shown(code, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("device model %s: %s", code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT certificate_managed FROM device_model WHERE code = $1 FOR UPDATE",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "changing a device model", err);
    int known = PQntuples(res) == 1,
        same = known && cl_pg_get_bool(res, 0, 0) == certificate_managed;
    PQclear(res);
    if (!known) {
        cl_log_warn("device model %s is not registered", code);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    if (same)
        return logged(cl_pg_commit(store->db, err, sizeof(err)), "changing a device model", err);
    snprintf(detail, sizeof(detail), "device model %s: now %scertificate-managed", code,
             certificate_managed ? "" : "not ");
    if ((rc = cl_pg_query(
             store->db, NULL,
             "UPDATE device_model SET certificate_managed = $2::boolean WHERE code = $1", 2, values,
             err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_audit_in_tx(store->db, actor, "model-set", detail, err, sizeof(err))) !=
            CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "changing a device model", err);
    cl_log_info("%s", detail);
    return CL_OK;
}

/* ---- the model lock ---- */

/* Session-level, not transaction-level: it spans the command's token work and its transactions.
 */
int ca_store_models_try_lock(struct ca_store *store, int *got, char *err, size_t errlen)
{
    char key[16];
    PGresult *res = NULL;
    int rc;

    *got = 0;
    snprintf(key, sizeof(key), "%d", LOCK_MODELS);
    if ((rc = cl_pg_ready(store->db, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT pg_try_advisory_lock($1::int, 0)", 1,
                          (const char *const[]){key}, err, errlen)) != CL_OK)
        return rc;
    *got = cl_pg_get_bool(res, 0, 0);
    PQclear(res);
    return CL_OK;
}

void ca_store_models_unlock(struct ca_store *store)
{
    char key[16], err[256];
    PGresult *res = NULL;

    snprintf(key, sizeof(key), "%d", LOCK_MODELS);
    if (store == NULL || cl_pg_query(store->db, &res, "SELECT pg_advisory_unlock($1::int, 0)", 1,
                                     (const char *const[]){key}, err, sizeof(err)) != CL_OK)
        return; /* a connection that ended took the lock with it */
    if (!cl_pg_get_bool(res, 0, 0))
        cl_log_warn("the model lock was not held at the end (the database connection was made "
                    "again meanwhile)");
    PQclear(res);
}
