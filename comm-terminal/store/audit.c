/* store/audit.c: the audit log: one entry inside a caller's transaction, or on its own. */
#include "ct_store_internal.h"

/* ---- the audit log ---- */

/* In the middle of a transaction: records one audit entry. */
int cts_audit_in_tx(struct ct_store *store, const char *actor, const char *action,
                    const char *detail, char *err, size_t errlen)
{
    const char *values[] = {actor, action, detail};
    return cl_pg_query(store->db, NULL,
                       "INSERT INTO audit_log (actor, action, detail) VALUES ($1, $2, $3)", 3,
                       values, err, errlen);
}

int ct_store_audit(struct ct_store *store, const char *actor, const char *action,
                   const char *detail)
{
    char err[384], buf[48];
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (detail == NULL)
        detail = "";
    if (!cts_actor_ok(actor, err, sizeof(err)) || !cl_token_ok(action, ACTION_MAX) ||
        !cl_text_ok(detail, 0, DETAIL_MAX)) {
        cl_log_warn("audit entry \"%s\" refused: actor (1 to %d), action (1 to %d) or detail (at "
                    "most %d bytes) malformed",
                    cl_shown(action, buf, sizeof(buf)), ACTOR_MAX, ACTION_MAX, DETAIL_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cts_audit_in_tx(store, actor, action, detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "writing the audit log", err);
    return CL_OK;
}
