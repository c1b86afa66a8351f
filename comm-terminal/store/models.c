/* store/models.c: the certificate-managed model list [FIG 19A]: ca-server's list as last read
 * (ca:Models), an operator's local override beside it, and the flag that follows from both. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "pg_array.h"

static int model_args_ok(const char *code, const char *actor)
{
    char err[384], buf[48];

    if (!cl_model_code_ok(code)) {
        cl_log_warn("device model code \"%s\" is malformed (1 to 8 of 0-9 A-Z)",
                    cl_shown(code, buf, sizeof(buf)));
        return 0;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("device model %s: %s", code, err);
        return 0;
    }
    return 1;
}

int ct_store_model_set(struct ct_store *store, const char *code, int certificate_managed,
                       const char *actor)
{
    static const char *const sql[] = {
        "INSERT INTO model (code, certificate_managed, local_override)"
        " VALUES ($1, $2::boolean, $2::boolean) ON CONFLICT (code) DO UPDATE"
        " SET local_override = excluded.local_override,"
        " certificate_managed = excluded.local_override, updated_at = now()",
        /* the flag in force is the local override if any, else ca-server's */
        "UPDATE model SET local_override = NULL,"
        " certificate_managed = coalesce(ca_state = 'managed', false), updated_at = now()"
        " WHERE code = $1",
    };
    int follow = certificate_managed == CT_MODEL_FOLLOW_CA;
    const char *values[] = {code, certificate_managed == 1 ? "true" : "false"};
    char err[384], detail[128];
    PGresult *res;
    int rc;

    if (store == NULL || !model_args_ok(code, actor))
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(detail, sizeof(detail), "device model %s: %s", code,
             follow                     ? "local override cleared (ca-server's flag)"
             : certificate_managed == 1 ? "certificate-managed (local override)"
                                        : "not certificate-managed (local override)");
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, sql[follow], follow ? 1 : 2, values, err,
                          sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "marking a device model", err);
    size_t n = cl_pg_affected(res);
    PQclear(res);
    if (n == 0) {
        cl_log_warn("device model %s is not registered", code);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    if ((rc = cl_pg_audit_in_tx(store->db, actor, "model_set", detail, err, sizeof(err))) !=
            CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "marking a device model", err);
    return CL_OK;
}

int ct_store_models_from_ca(struct ct_store *store, const struct ct_ca_model *models, size_t count,
                            const char *actor, size_t *changed, char *err, size_t errlen)
{
    struct cl_pg_array codes, flags;
    char detail[DETAIL_MAX + 1];
    PGresult *res = NULL;
    int rc;

    if (changed != NULL)
        *changed = 0;
    if (store == NULL || changed == NULL || (models == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store or models");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_array_init(&codes);
    cl_pg_array_init(&flags);
    for (size_t i = 0; i < count; i++) {
        if (!cl_model_code_ok(models[i].code)) {
            cl_pg_array_free(&codes);
            cl_pg_array_free(&flags);
            cl_err_set(err, errlen, "ca-server named a malformed device model code");
            return CL_ERR_PARSE;
        }
        cl_pg_array_add(&codes, models[i].code);
        cl_pg_array_add(&flags, models[i].certificate_managed ? "true" : "false");
    }
    const char *values[] = {cl_pg_array_finish(&codes), cl_pg_array_finish(&flags)};
    if (values[0] == NULL || values[1] == NULL) {
        rc = CL_ERR_NOMEM;
        cl_err_set(err, errlen, "out of memory");
        goto out;
    }
    /* updated_at = now() (the transaction's time) marks the models whose flag in force
     * changed, so that the audit names them. */
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL, "LOCK TABLE model IN SHARE ROW EXCLUSIVE MODE", 0, NULL,
                          err, errlen)) != CL_OK ||
        (rc = cl_pg_query(
             store->db, NULL,
             "INSERT INTO model AS m (code, certificate_managed, ca_state, ca_synced_at)"
             " SELECT c, f, CASE WHEN f THEN 'managed' ELSE 'not-managed' END, now()"
             " FROM unnest($1::text[], $2::boolean[]) AS u (c, f)"
             " ON CONFLICT (code) DO UPDATE SET ca_state = excluded.ca_state,"
             " ca_synced_at = now(),"
             " certificate_managed = coalesce(m.local_override, excluded.certificate_managed),"
             " updated_at = CASE WHEN m.certificate_managed IS DISTINCT FROM"
             "  coalesce(m.local_override, excluded.certificate_managed) THEN now()"
             "  ELSE m.updated_at END",
             2, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "UPDATE model SET ca_state = 'unknown', ca_synced_at = now(),"
                          " certificate_managed = coalesce(local_override, false),"
                          " updated_at = CASE WHEN certificate_managed IS DISTINCT FROM"
                          "  coalesce(local_override, false) THEN now() ELSE updated_at END"
                          " WHERE code <> ALL($1::text[])",
                          1, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT count(*), coalesce(string_agg(code || CASE WHEN"
                          " certificate_managed THEN '+' ELSE '-' END, ' ' ORDER BY code), '')"
                          " FROM model WHERE updated_at = now()",
                          0, NULL, err, errlen)) != CL_OK)
        goto fail;
    *changed = (size_t)cl_pg_get_ll(res, 0, 0);
    snprintf(detail, sizeof(detail), "%zu model(s) read from ca-server; %zu changed%s%.400s", count,
             *changed, *changed > 0 ? ": " : "", cl_pg_get_text(res, 0, 1));
    PQclear(res);
    if (*changed > 0 &&
        (rc = cl_pg_audit_in_tx(store->db, actor, "models_sync", detail, err, errlen)) != CL_OK)
        goto fail;
    if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        goto fail;
    cl_log_info("%s", detail);
    goto out;
fail:
    *changed = 0;
    rc = cl_pg_fail(store->db, rc);
out:
    cl_pg_array_free(&codes);
    cl_pg_array_free(&flags);
    return rc;
}

static void model_from_row(const PGresult *res, int i, void *out)
{
    struct ct_model_row *row = out;
    cl_copy_text(row->code, sizeof(row->code), cl_pg_get_text(res, i, 0));
    row->certificate_managed = cl_pg_get_bool(res, i, 1);
    cl_copy_text(row->ca_state, sizeof(row->ca_state), cl_pg_get_text(res, i, 2));
    row->local_override = PQgetisnull(res, i, 3) ? -1 : cl_pg_get_bool(res, i, 3);
    row->ca_synced_at = (time_t)cl_pg_get_ll(res, i, 4);
    row->planned_ahead = (long)cl_pg_get_ll(res, i, 5);
}

int ct_store_model_list(struct ct_store *store, const char *day, struct ct_model_row **rows,
                        size_t *count)
{
    char buf[48];
    const char *values[] = {day};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cts_day_ok(day, NULL)) {
        cl_log_warn("model list: \"%s\" is not a date (YYYY-MM-DD)",
                    cl_shown(day, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    *rows = cl_pg_list(store->db,
                       "SELECT m.code, m.certificate_managed, coalesce(m.ca_state, ''),"
                       " m.local_override, floor(extract(epoch FROM m.ca_synced_at))::bigint,"
                       " (SELECT count(*) FROM plan_device p WHERE p.model_code = m.code"
                       "  AND p.day >= $1::date)"
                       " FROM model m ORDER BY m.code COLLATE \"C\"",
                       1, values, sizeof(**rows), model_from_row, count, &rc, cts_logged,
                       "listing the device models");
    return rc;
}
