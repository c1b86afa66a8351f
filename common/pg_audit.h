/* pg_audit.h: the audit-log writer both stores share (their schemas define the same audit_log
 * table: id, at, actor, action, detail). Only store files include it (it includes pg_db.h). */
#ifndef CERTLINE_PG_AUDIT_H
#define CERTLINE_PG_AUDIT_H

#include <stddef.h>

#include "pg_db.h"

/* Bounds of an entry: actor 1..64 bytes of printable UTF-8, action a 1..64-character token,
 * detail at most 512 bytes of text. */
#define CL_PG_AUDIT_ACTOR_MAX 64
#define CL_PG_AUDIT_ACTION_MAX 64
#define CL_PG_AUDIT_DETAIL_MAX 512

/* 1 if actor is 1..CL_PG_AUDIT_ACTOR_MAX bytes of printable UTF-8, else 0 and err says why. */
int cl_pg_audit_actor_ok(const char *actor, char *err, size_t errlen);

/* In the middle of a transaction: records one audit entry. */
int cl_pg_audit_in_tx(struct cl_pg *db, const char *actor, const char *action, const char *detail,
                      char *err, size_t errlen);

/* Records one entry in its own transaction (a NULL detail is ""). A malformed entry is logged as
 * a warning and refused (CL_ERR_INVALID_ARGUMENT); a failure of the transaction is rolled back and
 * handed to logged with "writing the audit log". */
int cl_pg_audit(struct cl_pg *db, const char *actor, const char *action, const char *detail,
                cl_pg_logger logged);

#endif
