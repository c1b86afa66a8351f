/* pg_audit.c: the audit-log writer both stores share: checks, one entry in a transaction. */
#include "pg_audit.h"

#include "error.h"
#include "input_check.h"
#include "log.h"

int cl_pg_audit_actor_ok(const char *actor, char *err, size_t errlen)
{
    char buf[48];
    if (cl_text_ok(actor, 1, CL_PG_AUDIT_ACTOR_MAX))
        return 1;
    cl_err_set(err, errlen, "actor \"%s\" must be 1 to %d bytes of printable UTF-8",
               cl_shown(actor, buf, sizeof(buf)), CL_PG_AUDIT_ACTOR_MAX);
    return 0;
}

int cl_pg_audit_in_tx(struct cl_pg *db, const char *actor, const char *action, const char *detail,
                      char *err, size_t errlen)
{
    const char *values[] = {actor, action, detail};
    return cl_pg_query(db, NULL,
                       "INSERT INTO audit_log (actor, action, detail) VALUES ($1, $2, $3)", 3,
                       values, err, errlen);
}

int cl_pg_audit(struct cl_pg *db, const char *actor, const char *action, const char *detail,
                cl_pg_logger logged)
{
    char err[384], buf[48];
    int rc;

    if (detail == NULL)
        detail = "";
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err)) ||
        !cl_token_ok(action, CL_PG_AUDIT_ACTION_MAX) ||
        !cl_text_ok(detail, 0, CL_PG_AUDIT_DETAIL_MAX)) {
        cl_log_warn("audit entry \"%s\" refused: actor (1 to %d), action (1 to %d) or detail (at "
                    "most %d bytes) malformed",
                    cl_shown(action, buf, sizeof(buf)), CL_PG_AUDIT_ACTOR_MAX,
                    CL_PG_AUDIT_ACTION_MAX, CL_PG_AUDIT_DETAIL_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_audit_in_tx(db, actor, action, detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(db, rc), "writing the audit log", err);
    return CL_OK;
}
