/* pg_link.c: notices a PostgreSQL connection the server closed while it was idle. */
#include "pg_link.h"

#include <poll.h>

/* Readable input on an idle connection is a notice or the server's goodbye; at most this many
 * reads settle which, without waiting. */
#define MAX_IDLE_READS 8

int cl_pg_idle_link_up(PGconn *conn)
{
    for (int i = 0; i < MAX_IDLE_READS && PQstatus(conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        if (p.fd < 0)
            return 0;
        if (poll(&p, 1, 0) != 1)
            break; /* nothing arrived: up as far as can be known without a round trip */
        if (!PQconsumeInput(conn))
            return 0; /* closed: libpq marks the connection bad */
    }
    return PQstatus(conn) == CONNECTION_OK;
}
