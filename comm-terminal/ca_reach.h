/* ca_reach.h: the comm-terminal's one link to ca-server, taken by one thread at a time, and what
 * it knows of ca-server's reachability, so that a line's call neither queues long behind other
 * work nor waits on a ca-server found away a moment ago. */
#ifndef CERTLINE_CA_REACH_H
#define CERTLINE_CA_REACH_H

#include <stddef.h>
#include <time.h>

struct ct_runtime;

/* How a caller takes the link. CT_CA_WAIT (daily fetch, reports, operators' commands) waits for
 * it; while ca-server is away its call connects within CT_LINE_CONNECT_S (a probe). CT_CA_LINE (a
 * factory terminal waits on the answer: a re-scan) waits at most CT_LINE_WAIT_S for the link and
 * calls with connect and receive timeouts of at most CT_LINE_CONNECT_S and CT_LINE_RECV_S.
 * CT_CA_LINE_UNLESS_AWAY (the replacement tried after an NG write) also gives up at once while
 * ca-server was found away less than CT_CA_RECHECK_S ago by a call that made its caller wait
 * (CT_CA_SLOW_S or more: a hang, a timeout); a connection refused at once (ca-server restarting)
 * costs a line nothing, so it keeps nobody from asking. A re-scan asks again. */
enum ct_ca_wait { CT_CA_WAIT, CT_CA_LINE, CT_CA_LINE_UNLESS_AWAY };

#define CT_CA_RECHECK_S 10
#define CT_CA_SLOW_S 1
#define CT_LINE_WAIT_S 4
#define CT_LINE_CONNECT_S 2
#define CT_LINE_RECV_S 4

void ct_ca_reach_init(struct ct_runtime *runtime);
void ct_ca_reach_free(struct ct_runtime *runtime);

/* Takes the link: CL_OK, or CL_ERR_CONNECT (ca-server away; err says since when) or
 * CL_ERR_TIMEOUT (the link busy longer than a line can wait) for CT_CA_LINE. */
int ct_ca_take(struct ct_runtime *runtime, enum ct_ca_wait how, char *err, size_t errlen);

/* Gives the link back after one call; rc is that call's cl_err code (CL_OK, or the code of
 * cl_client_explain): a lost connection marks ca-server away, any answer marks it reachable. */
void ct_ca_give(struct ct_runtime *runtime, int rc);

/* Breaks off the call on the link that waits for ca-server, if any (its socket shut down: the
 * call fails at once as a lost connection); the link reconnects on its next call. For serve's
 * shutdown, from the thread that stops it, while another thread may hold the link. */
void ct_ca_break(struct ct_runtime *runtime);

/* When ca-server was first found away in the current absence, or 0 if it answered last. */
time_t ct_ca_away_since(struct ct_runtime *runtime);

#endif
