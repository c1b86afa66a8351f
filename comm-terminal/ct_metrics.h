/* ct_metrics.h: the comm-terminal's metrics (common/metrics_catalog.h): its /metrics listener,
 * the line results and the time from a pack sent to its device's write result, and the gauges
 * of ca-server's reachability and the reports queued. */
#ifndef CERTLINE_CT_METRICS_H
#define CERTLINE_CT_METRICS_H

#include <stddef.h>

#include "ct_runtime.h"
#include "metrics_http.h"

/* Starts the listener of rt's configuration (none without one; *out NULL). A cl_err code; err
 * says why. Stop it with cl_metrics_http_stop. */
int ct_metrics_start(struct ct_runtime *rt, struct cl_metrics_http **out, char *err, size_t errlen);

/* S6: the pack of device_number was sent to a line. */
void ct_metrics_pack_sent(const char *device_number);

/* A line's result for device_number: result "OK" or "NG", reason one of written, write_failed,
 * pack_refused, no_pack. The time since its pack was sent is recorded for a write result. */
void ct_metrics_line_result(const char *device_number, const char *result, const char *reason);

/* Reads the gauges kept in the store (reports queued, the last fetch) from store: the reporter,
 * each round. */
void ct_metrics_read_store(struct ct_store *store);

#endif
