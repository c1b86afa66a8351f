/* client_failover.c: one SOAP client over several equal instances of a service: the next
 * instance gets the same request when the connection to one fails (client_failover.h). */
#include "client_failover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "log.h"

struct cl_failover {
    char endpoints[CL_FAILOVER_MAX][256];
    size_t count, current;
};

int cl_failover_new(const struct cl_endpoints_config *config, const char *prefix,
                    struct cl_failover **out, char *err, size_t errlen)
{
    struct cl_failover f = {.count = 0};
    const char *p = config->endpoints;

    if (out != NULL)
        *out = NULL;
    if ((config->endpoint[0] != '\0') == (config->endpoints[0] != '\0')) {
        snprintf(err, errlen, "%s: give \"endpoint\" (one instance) or \"endpoints\" (a list), %s",
                 prefix, config->endpoint[0] != '\0' ? "not both" : "one of them");
        return CL_ERR_CONFIG;
    }
    if (config->endpoint[0] != '\0') {
        snprintf(f.endpoints[0], sizeof(f.endpoints[0]), "%s", config->endpoint);
        f.count = 1;
    }
    while (*p != '\0') { /* the list, joined by single spaces (config.c) */
        size_t len = strcspn(p, " ");
        if (f.count == CL_FAILOVER_MAX) {
            snprintf(err, errlen, "%s.endpoints: at most %d instances", prefix, CL_FAILOVER_MAX);
            return CL_ERR_CONFIG;
        }
        snprintf(f.endpoints[f.count++], sizeof(f.endpoints[0]), "%.*s", (int)len, p);
        p += len + (p[len] == ' ');
    }
    for (size_t i = 0; i < f.count; i++) {
        if (strncmp(f.endpoints[i], "https://", 8) != 0) {
            snprintf(err, errlen, "%s: endpoint \"%s\" is not an https:// address", prefix,
                     f.endpoints[i]);
            return CL_ERR_CONFIG;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(f.endpoints[k], f.endpoints[i]) == 0) {
                snprintf(err, errlen, "%s.endpoints: \"%s\" is listed twice", prefix,
                         f.endpoints[i]);
                return CL_ERR_CONFIG;
            }
    }
    if (out == NULL)
        return CL_OK;
    if ((*out = malloc(sizeof(**out))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    **out = f;
    return CL_OK;
}

void cl_failover_free(struct cl_failover *failover)
{
    free(failover);
}

const char *cl_failover_endpoint(const struct cl_failover *failover)
{
    return failover->endpoints[failover->current];
}

size_t cl_failover_count(const struct cl_failover *failover)
{
    return failover->count;
}

int cl_failover_connection_failed(int rc)
{
    switch (rc) {
    case CL_ERR_CONNECT:
    case CL_ERR_CLOSED:
    case CL_ERR_TLS_HANDSHAKE:
    case CL_ERR_TLS_VERSION:
    case CL_ERR_TLS_PEER_VERIFY:
    case CL_ERR_PEER_ROLE:
        return 1;
    default:
        return 0;
    }
}

int cl_failover_retry(struct cl_failover *failover, struct cl_client *client, int rc, int *attempt,
                      const char *what)
{
    size_t tries;
    char from[256];

    if (failover == NULL || !cl_failover_connection_failed(rc))
        return 0;
    /* Each instance once per request; a lone one once more after a closed connection (a
     * balancer in front sends the new connection to another instance). */
    tries = failover->count > 1 ? failover->count : (rc == CL_ERR_CLOSED ? 2 : 1);
    snprintf(from, sizeof(from), "%s", failover->endpoints[failover->current]);
    failover->current = (failover->current + 1) % failover->count;
    (void)cl_client_set_endpoint(client, failover->endpoints[failover->current]);
    if ((size_t)++ * attempt >= tries)
        return 0;
    cl_log_warn("%s: %s unreachable (%s); sending it again to %s", what, from, cl_err_str(rc),
                cl_client_endpoint(client));
    return 1;
}
