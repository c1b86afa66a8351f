/* ca_reach.c: the comm-terminal's one link to ca-server, taken by one thread at a time, and what
 * it knows of ca-server's reachability (ca_reach.h). */
#include "ca_reach.h"

#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ct_runtime.h"
#include "error.h"
#include "log.h"
#include "soapH.h"

void ct_ca_reach_init(struct ct_runtime *rt)
{
    pthread_mutex_init(&rt->ca_lock, NULL);
    pthread_mutex_init(&rt->reach_lock, NULL);
    rt->ca_away_since = 0;
    rt->ca_recheck_at = 0;
    rt->ca_line_call = 0;
}

void ct_ca_reach_free(struct ct_runtime *rt)
{
    pthread_mutex_destroy(&rt->ca_lock);
    pthread_mutex_destroy(&rt->reach_lock);
}

static int lost_connection(int rc)
{
    return rc == CL_ERR_CONNECT || rc == CL_ERR_CLOSED || rc == CL_ERR_TLS_HANDSHAKE ||
           rc == CL_ERR_TIMEOUT;
}

static int min_timeout(int configured, int line_max)
{
    /* gSOAP: a positive timeout is seconds, a negative one microseconds, 0 none. */
    return configured > 0 && configured < line_max ? configured : line_max;
}

/* Short timeouts for the call about to be made on the link (put back in ct_ca_give): the connect
 * timeout, and the receive and send ones too when a line waits on the answer. */
static void shorten(struct ct_runtime *rt, int line)
{
    struct soap *soap = cl_client_soap(rt->ca);
    rt->ca_saved_timeouts[0] = soap->connect_timeout;
    rt->ca_saved_timeouts[1] = soap->recv_timeout;
    rt->ca_saved_timeouts[2] = soap->send_timeout;
    soap->connect_timeout = min_timeout(soap->connect_timeout, CT_LINE_CONNECT_S);
    if (line) {
        soap->recv_timeout = min_timeout(soap->recv_timeout, CT_LINE_RECV_S);
        soap->send_timeout = min_timeout(soap->send_timeout, CT_LINE_RECV_S);
    }
    rt->ca_line_call = 1;
}

int ct_ca_take(struct ct_runtime *rt, enum ct_ca_wait how, char *err, size_t errlen)
{
    struct timespec until;
    time_t now = time(NULL), since = 0;
    int rc;

    if (how == CT_CA_WAIT) {
        pthread_mutex_lock(&rt->ca_lock);
        /* While ca-server is away, other work only probes it: a connection attempt of at most
         * CT_LINE_CONNECT_S, so that a line's re-scan never waits long behind it for the link
         * (a SYN to a stopped host is retried for as long as the configured timeout lets it). */
        if (ct_ca_away_since(rt) != 0 || atomic_load(&rt->stopping))
            shorten(rt, 0);
        if (atomic_load(&rt->stopping)) { /* serve is stopping: no call waits long */
            struct soap *soap = cl_client_soap(rt->ca);
            soap->connect_timeout = soap->recv_timeout = soap->send_timeout = 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &rt->ca_taken_at);
        return CL_OK;
    }
    pthread_mutex_lock(&rt->reach_lock);
    if (how == CT_CA_LINE_UNLESS_AWAY && rt->ca_away_since != 0 && now < rt->ca_recheck_at)
        since = rt->ca_away_since;
    pthread_mutex_unlock(&rt->reach_lock);
    if (since != 0) {
        char at[32];
        struct tm tm;
        gmtime_r(&since, &tm);
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(err, errlen,
                 "ca-server unreachable since %s (asked again on a re-scan, or after %d s)", at,
                 CT_CA_RECHECK_S);
        return CL_ERR_CONNECT;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CT_LINE_WAIT_S;
    rc = pthread_mutex_timedlock(&rt->ca_lock, &until);
    if (rc != 0) {
        snprintf(err, errlen, "the link to ca-server was busy for more than %d s with other work",
                 CT_LINE_WAIT_S);
        return rc == ETIMEDOUT ? CL_ERR_TIMEOUT : CL_ERR_INTERNAL;
    }
    shorten(rt, 1); /* a line waits on this call */
    clock_gettime(CLOCK_MONOTONIC, &rt->ca_taken_at);
    return CL_OK;
}

void ct_ca_give(struct ct_runtime *rt, int rc)
{
    time_t now = time(NULL);
    struct timespec end;

    clock_gettime(CLOCK_MONOTONIC, &end);
    int slow = end.tv_sec - rt->ca_taken_at.tv_sec > CT_CA_SLOW_S ||
               (end.tv_sec - rt->ca_taken_at.tv_sec == CT_CA_SLOW_S &&
                end.tv_nsec >= rt->ca_taken_at.tv_nsec);

    if (rt->ca_line_call) {
        struct soap *soap = cl_client_soap(rt->ca);
        soap->connect_timeout = rt->ca_saved_timeouts[0];
        soap->recv_timeout = rt->ca_saved_timeouts[1];
        soap->send_timeout = rt->ca_saved_timeouts[2];
        rt->ca_line_call = 0;
    }
    int found_away = 0, back = 0;
    pthread_mutex_lock(&rt->reach_lock);
    if (lost_connection(rc)) {
        if (rt->ca_away_since == 0)
            rt->ca_away_since = now;
        if (slow) { /* only a failure that made its caller wait keeps a line from asking */
            found_away = rt->ca_recheck_at <= now;
            rt->ca_recheck_at = now + CT_CA_RECHECK_S;
        }
    } else {
        back = rt->ca_away_since != 0;
        rt->ca_away_since = 0;
        rt->ca_recheck_at = 0;
    }
    pthread_mutex_unlock(&rt->reach_lock);
    /* The transitions, for operators (and tests) to see when lines stop and start asking. */
    if (found_away)
        cl_log_warn("ca-server is away: a call to it failed after %d s or more; NG writes are "
                    "recorded without asking it for a replacement for %d s or until a re-scan",
                    CT_CA_SLOW_S, CT_CA_RECHECK_S);
    else if (back)
        cl_log_info("ca-server answers again");
    pthread_mutex_unlock(&rt->ca_lock);
}

time_t ct_ca_away_since(struct ct_runtime *rt)
{
    time_t since;
    pthread_mutex_lock(&rt->reach_lock);
    since = rt->ca_away_since;
    pthread_mutex_unlock(&rt->reach_lock);
    return since;
}

void ct_ca_break(struct ct_runtime *rt)
{
    if (rt->ca == NULL)
        return;
    /* Read without the link's lock: its holder waits in the call; at worst the kept connection
     * of an idle link is closed, and reopened by its next call. */
    SOAP_SOCKET sk = cl_client_soap(rt->ca)->socket;
    if (soap_valid_socket(sk))
        (void)shutdown(sk, SHUT_RDWR);
}
