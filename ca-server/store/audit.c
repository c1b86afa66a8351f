/* store/audit.c: the audit log: one entry per change, its listing and its search. */
#include "store_internal.h"

#include "store_console.h"

int ca_store_audit(struct ca_store *store, const char *actor, const char *action,
                   const char *detail)
{
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    return cl_pg_audit(store->db, actor, action, detail, logged);
}

static void audit_from_row(const PGresult *res, int i, void *out)
{
    struct ca_audit_row *row = out;
    row->id = cl_pg_get_ll(res, i, 0);
    row->at = (time_t)cl_pg_get_ll(res, i, 1);
    cl_copy_text(row->actor, sizeof(row->actor), cl_pg_get_text(res, i, 2));
    cl_copy_text(row->action, sizeof(row->action), cl_pg_get_text(res, i, 3));
    cl_copy_text(row->detail, sizeof(row->detail), cl_pg_get_text(res, i, 4));
}

int ca_store_audit_list(struct ca_store *store, size_t limit, struct ca_audit_row **rows,
                        size_t *count)
{
    char limit_text[24];
    const char *values[] = {limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, 1000000);
    *rows = cl_pg_list(store->db,
                       "SELECT id, floor(extract(epoch FROM at))::bigint, actor, action, detail"
                       " FROM audit_log ORDER BY id DESC LIMIT $1::bigint",
                       1, values, sizeof(**rows), audit_from_row, count, &rc, logged,
                       "reading the audit log");
    return rc;
}

int ca_store_audit_search(struct ca_store *store, const struct ca_audit_filter *f, size_t limit,
                          struct ca_audit_row **rows, size_t *count)
{
    char limit_text[24];
    const char *values[] = {f->actor ? f->actor : "", f->action ? f->action : "",
                            f->text ? f->text : "", f->day ? f->day : "", limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count))
        return CL_ERR_INVALID_ARGUMENT;
    if (values[3][0] != '\0' &&
        (strlen(values[3]) != 10 || values[3][4] != '-' || strspn(values[3], "0123456789-") != 10))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, 100000);
    *rows = cl_pg_list(store->db,
                       "SELECT id, floor(extract(epoch FROM at))::bigint, actor, action, detail"
                       " FROM audit_log WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2)"
                       " AND ($3 = '' OR strpos(detail, $3) > 0)"
                       " AND ($4 = '' OR (at >= NULLIF($4, '')::date"
                       "  AND at < NULLIF($4, '')::date + 1))"
                       " ORDER BY id DESC LIMIT $5::bigint",
                       5, values, sizeof(**rows), audit_from_row, count, &rc, logged,
                       "searching the audit log");
    return rc;
}
