/* ct_metrics.c: see ct_metrics.h. The packs in flight are remembered in a small table (a line
 * handles one device at a time); the oldest entry gives way when it is full. */
#include "ct_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "metrics_catalog.h"

#define IN_FLIGHT 256

static struct {
    pthread_mutex_t lock;
    char number[IN_FLIGHT][CT_DEVICE_NUMBER_MAX + 1];
    double sent_at[IN_FLIGHT];
} flight = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* At each scrape: whether the last exchange with ca-server got an answer. */
static void collect(void *arg)
{
    const struct ct_runtime *rt = arg;
    int reached = rt->ca != NULL ? cl_client_reached(rt->ca) : -1;
    if (reached >= 0)
        cl_metric_set(CL_M_CA_REACHABLE, reached, NULL);
}

int ct_metrics_start(struct ct_runtime *rt, struct cl_metrics_http **out, char *err, size_t errlen)
{
    struct cl_metrics *metrics = cl_metrics_global();

    *out = NULL;
    if (rt->config->metrics.port == 0)
        return CL_OK;
    if (metrics == NULL || cl_metrics_on_collect(metrics, collect, rt) != 0) {
        snprintf(err, errlen, "metrics: out of memory");
        return CL_ERR_NOMEM;
    }
    return cl_metrics_http_start(&rt->config->metrics, metrics, CL_METRICS_CT, out, err, errlen);
}

void ct_metrics_pack_sent(const char *device_number)
{
    size_t match = IN_FLIGHT, empty = IN_FLIGHT, oldest = 0, slot;
    double now = cl_metric_now();

    pthread_mutex_lock(&flight.lock);
    for (size_t i = 0; i < IN_FLIGHT; i++) {
        if (flight.number[i][0] == '\0') {
            empty = empty == IN_FLIGHT ? i : empty;
        } else if (strcmp(flight.number[i], device_number) == 0) {
            match = i; /* sent again: its time starts again */
            break;
        } else if (flight.sent_at[i] < flight.sent_at[oldest]) {
            oldest = i;
        }
    }
    slot = match != IN_FLIGHT ? match : empty != IN_FLIGHT ? empty : oldest;
    snprintf(flight.number[slot], sizeof(flight.number[slot]), "%s", device_number);
    flight.sent_at[slot] = now;
    pthread_mutex_unlock(&flight.lock);
}

void ct_metrics_line_result(const char *device_number, const char *result, const char *reason)
{
    double elapsed = -1;

    CL_METRIC_INC(CL_M_LINE_RESULTS, result, reason);
    if (strcmp(reason, "written") != 0 && strcmp(reason, "write_failed") != 0)
        return;
    pthread_mutex_lock(&flight.lock);
    for (size_t i = 0; i < IN_FLIGHT; i++)
        if (strcmp(flight.number[i], device_number) == 0) {
            elapsed = cl_metric_now() - flight.sent_at[i];
            flight.number[i][0] = '\0';
            break;
        }
    pthread_mutex_unlock(&flight.lock);
    if (elapsed >= 0)
        cl_metric_observe(CL_M_LINE_DEVICE_SECONDS, elapsed, NULL);
}

void ct_metrics_read_store(struct ct_store *store)
{
    long queued;
    long long last_fetch;
    if (ct_store_gauges(store, &queued, &last_fetch) != CL_OK)
        return;
    cl_metric_set(CL_M_CT_REPORTS_QUEUED, (double)queued, NULL);
    cl_metric_set(CL_M_CA_LAST_FETCH, (double)last_fetch, NULL);
}
