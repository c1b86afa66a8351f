/* store/audit.c: the audit log: one entry per change, and its listing. */
#include "store_internal.h"

int ca_store_audit(struct ca_store *store, const char *actor, const char *action,
                   const char *detail)
{
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    return cl_pg_audit(store->db, actor, action, detail, logged);
}

int ca_store_audit_list(struct ca_store *store, size_t limit, struct ca_audit_row **rows,
                        size_t *count)
{
    char limit_text[24], err[384];
    const char *values[] = {limit_text};
    PGresult *res;
    int rc, n;

    if (rows != NULL)
        *rows = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || rows == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (limit > 1000000)
        limit = 1000000;
    snprintf(limit_text, sizeof(limit_text), "%zu", limit);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT id, floor(extract(epoch FROM at))::bigint, actor, action, detail"
                          " FROM audit_log ORDER BY id DESC LIMIT $1::bigint",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading the audit log", err);
    if ((*rows = cl_pg_rows(res, sizeof(**rows), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        struct ca_audit_row *row = &(*rows)[i];
        row->id = cl_pg_get_ll(res, i, 0);
        row->at = (time_t)cl_pg_get_ll(res, i, 1);
        cl_copy_text(row->actor, sizeof(row->actor), cl_pg_get_text(res, i, 2));
        cl_copy_text(row->action, sizeof(row->action), cl_pg_get_text(res, i, 3));
        cl_copy_text(row->detail, sizeof(row->detail), cl_pg_get_text(res, i, 4));
    }
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}
