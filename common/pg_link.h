/* pg_link.h: the PostgreSQL connection checks both stores share (only store files include it,
 * as only they include libpq-fe.h). */
#ifndef CERTLINE_PG_LINK_H
#define CERTLINE_PG_LINK_H

#include <libpq-fe.h>

/* Before work on an idle connection: whether it is still up. A server that ended an idle session
 * (idle_session_timeout, a restart, an administrator's pg_terminate_backend) has sent its
 * goodbye and closed, but libpq notices only at the next statement, which would then fail. This
 * reads what arrived while idle, without waiting, so a closed connection shows as
 * CONNECTION_BAD now and can be reset before the statement. Returns 1 if up, 0 if not. */
int cl_pg_idle_link_up(PGconn *conn);

#endif
