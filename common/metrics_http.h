/* metrics_http.h: the metrics listener of a certline server: plain HTTP/1.1 on a configured
 * address (loopback by default), one request per connection, only "GET /metrics" answered (with
 * the registry in Prometheus text format 0.0.4), everything else 404 or 405; requests bounded in
 * size and time, connections bounded in number. Configuration, in each server's JSON file:
 *   "metrics": { "host", "port", "max_connections" }   (absent, or port 0: no listener) */
#ifndef CERTLINE_METRICS_HTTP_H
#define CERTLINE_METRICS_HTTP_H

#include <stddef.h>

#include "config.h"
#include "metrics.h"

struct cl_metrics_config {
    char host[64];
    long long port;
    long long max_connections;
};

extern const struct cl_cfg_table cl_metrics_config_table;

/* The row for a member named metrics, the same way in every server's table. */
#define CL_CFG_METRICS_ROW(T)                                                                      \
    CL_CFG_OBJ(T, metrics, "metrics", 0, &cl_metrics_config_table,                                 \
               "Prometheus metrics over plain HTTP (GET /metrics); absent: none")

struct cl_metrics_http;

/* Starts the listener's thread on config's address, serving the families of metrics in scope.
 * With port 0 starts nothing: CL_OK and *out NULL. Otherwise a cl_err code; err says why. */
int cl_metrics_http_start(const struct cl_metrics_config *config, struct cl_metrics *metrics,
                          unsigned scope, struct cl_metrics_http **out, char *err, size_t errlen);

/* The answer to a request's line and headers (request[len] must be NUL): 200 for GET /metrics
 * (a query string is ignored), 405 for another method, 404 for another path, 400 for anything
 * that is no HTTP/1.x request line (a NUL byte included). */
int cl_metrics_http_status(const char *request, size_t len);

/* The port bound. */
int cl_metrics_http_port(const struct cl_metrics_http *http);

/* Stops the listener, ends its connections and frees it. cl_metrics_http_stop(NULL) does
 * nothing. */
void cl_metrics_http_stop(struct cl_metrics_http *http);

#endif
