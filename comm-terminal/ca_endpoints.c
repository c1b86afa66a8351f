/* ca_endpoints.c: the comm-terminal's ca-server instances (ca_server.endpoint or .endpoints):
 * rt->ca talks to one; a request whose connection fails goes again, the same, to the next
 * (common/client_failover.c). Several ca-server instances on one database answer a request id
 * with the same packs whichever of them gets it. */
#include "client_failover.h"
#include "ct_runtime.h"
#include "error.h"
#include "log.h"

int ct_ca_endpoints_open(struct ct_runtime *rt, struct cl_client_settings *settings, char *err,
                         size_t errlen)
{
    int rc = cl_failover_new(&rt->config->ca_server, "ca_server", &rt->ca_endpoints, err, errlen);
    if (rc != CL_OK)
        return rc;
    settings->endpoint = cl_failover_endpoint(rt->ca_endpoints);
    if (cl_failover_count(rt->ca_endpoints) > 1)
        cl_log_debug("ca-server: %zu instances, first %s", cl_failover_count(rt->ca_endpoints),
                     settings->endpoint);
    return CL_OK;
}

void ct_ca_endpoints_close(struct ct_runtime *rt)
{
    cl_failover_free(rt->ca_endpoints);
    rt->ca_endpoints = NULL;
}

int ct_ca_failover(struct ct_runtime *rt, int rc, int *attempt, const char *what)
{
    if (atomic_load(&rt->stopping))
        return 0; /* serve is stopping: the call broken off is not sent again */
    return cl_failover_retry(rt->ca_endpoints, rt->ca, rc, attempt, what);
}
