/* store/audit.c: the audit log: one entry on its own (common/pg_audit.h writes it). */
#include "ct_store_internal.h"

int ct_store_audit(struct ct_store *store, const char *actor, const char *action,
                   const char *detail)
{
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    return cl_pg_audit(store->db, actor, action, detail, cts_logged);
}
