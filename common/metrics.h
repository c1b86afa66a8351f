/* metrics.h: a registry of counters, gauges and fixed-bucket histograms, safe to update from any
 * thread, rendered in the Prometheus text exposition format (version 0.0.4). Families are
 * defined once, with at most CL_METRIC_MAX_LABELS label names; each distinct list of label
 * values is a series, at most max_series per family (further lists are counted in one series
 * whose values are all "other"), each value cut to CL_METRIC_MAX_VALUE bytes. */
#ifndef CERTLINE_METRICS_H
#define CERTLINE_METRICS_H

#include <stddef.h>

#define CL_METRIC_MAX_LABELS 3
#define CL_METRIC_MAX_BUCKETS 16
#define CL_METRIC_MAX_VALUE 64

enum cl_metric_type { CL_METRIC_COUNTER, CL_METRIC_GAUGE, CL_METRIC_HISTOGRAM };

struct cl_metric_def {
    const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in _total */
    const char *help;
    enum cl_metric_type type;
    const char *labels[CL_METRIC_MAX_LABELS]; /* label names; unused ones NULL */
    double buckets[CL_METRIC_MAX_BUCKETS];    /* histogram: upper bounds, ascending */
    size_t nbuckets;                          /* histogram: how many (+Inf is added) */
    unsigned scope;                           /* which renderings show it (cl_metrics_render) */
};

struct cl_metrics;

/* A registry; max_series bounds the series of each family (at least 1). NULL if out of memory. */
struct cl_metrics *cl_metrics_new(size_t max_series);

/* Frees the registry. cl_metrics_free(NULL) does nothing. */
void cl_metrics_free(struct cl_metrics *metrics);

/* Defines a family (def is copied; its strings must outlive the registry). Returns its handle
 * (>= 0), or -1 for a malformed definition (name, label names, buckets) or no memory. */
int cl_metrics_define(struct cl_metrics *metrics, const struct cl_metric_def *def);

/* values: one per label name of the family (NULL for a family without labels); a NULL value
 * is rendered as "". Unknown handles and wrong kinds of update are ignored. */

/* Counter: adds delta (negative deltas are ignored). Gauge: adds delta (may be negative). */
void cl_metrics_add(struct cl_metrics *metrics, int family, const char *const *values,
                    double delta);

/* Gauge: sets the value. */
void cl_metrics_set(struct cl_metrics *metrics, int family, const char *const *values,
                    double value);

/* Histogram: records one observation. */
void cl_metrics_observe(struct cl_metrics *metrics, int family, const char *const *values,
                        double value);

/* Registers fn(arg), called (without the registry's lock) before each rendering, to set
 * gauges read from elsewhere (a pool, a store). At most 8; returns 0, or -1 when full. */
int cl_metrics_on_collect(struct cl_metrics *metrics, void (*fn)(void *arg), void *arg);

/* The text of every family whose scope shares a bit with scope, in definition order, each with
 * its HELP and TYPE lines; series in the order they first appeared. Returns a malloc'd string
 * (its length in *len if len is not NULL), or NULL if out of memory. */
char *cl_metrics_render(struct cl_metrics *metrics, unsigned scope, size_t *len);

#endif
