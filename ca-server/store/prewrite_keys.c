/* store/prewrite_keys.c: a model's pre-write keys per period [seed 004, effect 3]: add
 * (model-rotate), the current one, the list. Only ids and periods: the keys themselves are in
 * ca_dir (authority.c). */
#include "store_internal.h"

#define PREWRITE_COLUMNS                                                                           \
    "key_id, model_code, floor(extract(epoch FROM valid_from))::bigint,"                           \
    " floor(extract(epoch FROM created_at))::bigint, first_key,"                                   \
    " key_id = (SELECT c.key_id FROM prewrite_key c WHERE c.model_code = k.model_code"             \
    "  AND c.valid_from <= to_timestamp($2::bigint) ORDER BY c.valid_from DESC LIMIT 1)"

static void prewrite_from_row(const PGresult *res, int row, void *out)
{
    struct ca_prewrite_key *key = out;
    *key = (struct ca_prewrite_key){0};
    cl_copy_text(key->key_id, sizeof(key->key_id), cl_pg_get_text(res, row, 0));
    cl_copy_text(key->model_code, sizeof(key->model_code), cl_pg_get_text(res, row, 1));
    key->valid_from = (time_t)cl_pg_get_ll(res, row, 2);
    key->created_at = (time_t)cl_pg_get_ll(res, row, 3);
    key->first = cl_pg_get_bool(res, row, 4);
    key->current = cl_pg_get_bool(res, row, 5);
}

int ca_store_prewrite_add(struct ca_store *store, const struct ca_prewrite_key *key,
                          const char *actor)
{
    char err[384], buf[48], from[24], detail[256];
    const char *values[3];
    PGresult *res = NULL;
    int rc;

    if (store == NULL || key == NULL || memchr(key->key_id, '\0', sizeof(key->key_id)) == NULL ||
        memchr(key->model_code, '\0', sizeof(key->model_code)) == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_model_code_ok(key->model_code) || !cl_token_ok(key->key_id, KEY_ID_MAX)) {
        cl_log_warn("pre-write key \"%s\" of model \"%s\": malformed",
                    cl_shown(key->key_id, buf, sizeof(buf)), key->model_code);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("pre-write key of model %s: %s", key->model_code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(from, sizeof(from), "%lld", (long long)key->valid_from);
    values[0] = key->key_id;
    values[1] = key->model_code;
    values[2] = from;
    snprintf(detail, sizeof(detail), "new pre-write key %s of model %s, in force from %lld",
             key->key_id, key->model_code, (long long)key->valid_from);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        return logged(rc, "adding a pre-write key", err);
    /* The model row locked: two rotations of one model are serialised. */
    rc = cl_pg_query(store->db, &res, "SELECT 1 FROM device_model WHERE code = $1 FOR UPDATE", 1,
                     &values[1], err, sizeof(err));
    if (rc == CL_OK && PQntuples(res) != 1) {
        PQclear(res);
        cl_pg_rollback(store->db);
        cl_log_warn("pre-write key for unknown device model %s", key->model_code);
        return CL_ERR_NOT_FOUND;
    }
    PQclear(res);
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, NULL,
                         "INSERT INTO prewrite_key (key_id, model_code, valid_from)"
                         " VALUES ($1, $2, to_timestamp($3::bigint))",
                         3, values, err, sizeof(err));
    if (rc != CL_OK && cl_pg_unique_violation(store->db)) {
        cl_pg_rollback(store->db);
        cl_log_warn("pre-write key %s: its id or its moment is taken for model %s", key->key_id,
                    key->model_code);
        return CL_ERR_EXISTS;
    }
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "model-rotate", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "adding a pre-write key", err);
    return CL_OK;
}

int ca_store_prewrite_current(struct ca_store *store, const char *model_code, time_t at,
                              struct ca_prewrite_key *key)
{
    char err[384], when[24];
    const char *values[] = {model_code, when};
    PGresult *res;
    int rc;

    if (store == NULL || key == NULL || !cl_model_code_ok(model_code))
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(when, sizeof(when), "%lld", (long long)at);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " PREWRITE_COLUMNS " FROM prewrite_key k"
                          " WHERE model_code = $1 AND valid_from <= to_timestamp($2::bigint)"
                          " ORDER BY valid_from DESC LIMIT 1",
                          2, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading a model's current pre-write key", err);
    if (PQntuples(res) == 1)
        prewrite_from_row(res, 0, key);
    else
        rc = CL_ERR_NOT_FOUND;
    PQclear(res);
    return rc;
}

int ca_store_prewrite_list(struct ca_store *store, const char *model_code, time_t at,
                           struct ca_prewrite_key **keys, size_t *count)
{
    char when[24];
    const char *values[] = {model_code, when};
    int rc;

    if (!CL_PG_LIST_START(store, keys, count) || !cl_model_code_ok(model_code))
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(when, sizeof(when), "%lld", (long long)at);
    *keys = cl_pg_list(store->db,
                       "SELECT " PREWRITE_COLUMNS " FROM prewrite_key k WHERE model_code = $1"
                       " ORDER BY valid_from",
                       2, values, sizeof(**keys), prewrite_from_row, count, &rc, logged,
                       "listing pre-write keys");
    return rc;
}
