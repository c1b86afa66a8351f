/* client_failover.h: one SOAP client over several equal instances of a service (ca-server
 * instances on one database, any of them serving any request). A request that fails for the
 * connection (refused, timed out, closed, TLS handshake) is sent again, the same, to the next
 * instance; an answer the server gave, a fault included, is never sent elsewhere. Used by one
 * thread at a time, under the lock that guards its client. */
#ifndef CERTLINE_CLIENT_FAILOVER_H
#define CERTLINE_CLIENT_FAILOVER_H

#include <stddef.h>

#include "soap_client.h"
#include "transport_config.h"

/* Instances at most in one "endpoints" list. */
#define CL_FAILOVER_MAX 16

struct cl_failover;

/* The instances of config: its "endpoint", or each of its "endpoints" in order (one of the two,
 * not both). CL_OK, or CL_ERR_CONFIG with err naming the key (prefix, e.g. "ca_server") that is
 * wrong. out may be NULL to check only. */
int cl_failover_new(const struct cl_endpoints_config *config, const char *prefix,
                    struct cl_failover **out, char *err, size_t errlen);
void cl_failover_free(struct cl_failover *failover);

/* The endpoint the client is at now (the first until a failure): for cl_client_new. */
const char *cl_failover_endpoint(const struct cl_failover *failover);
size_t cl_failover_count(const struct cl_failover *failover);

/* 1 if rc (from cl_client_explain) says the connection failed, not the server's answer. */
int cl_failover_connection_failed(int rc);

/* After a call on client failed with rc (cl_client_explain) and was ended (cl_client_end_call):
 * on a connection failure the client moves to the next instance, and 1 says to send the same
 * request again now; 0 when the failure was an answer, or every instance was tried for this
 * request (a lone endpoint is tried once more after a closed connection). *attempt counts one
 * request's tries: 0 before its first. what names the request in the log line. */
int cl_failover_retry(struct cl_failover *failover, struct cl_client *client, int rc, int *attempt,
                      const char *what);

#endif
