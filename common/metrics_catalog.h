/* metrics_catalog.h: certline's metrics (names, meaning, labels, buckets) in one list, held in
 * one registry per process that every module updates with one-line calls. Each family belongs
 * to the programs that render it (CL_METRICS_*); README.md's "Metrics" section describes them. */
#ifndef CERTLINE_METRICS_CATALOG_H
#define CERTLINE_METRICS_CATALOG_H

#include "metrics.h"

/* Scopes: which program's /metrics shows a family. */
#define CL_METRICS_CA 1u
#define CL_METRICS_CT 2u
#define CL_METRICS_FT 4u

enum cl_metric_id {
    /* every server */
    CL_M_TLS_HANDSHAKES, /* {side, kind}: full, resumed */
    CL_M_TLS_REFUSED,    /* {side, reason} */
    CL_M_DB_POOL_IN_USE, /* ca-server, comm-terminal */
    CL_M_DB_POOL_SIZE,   /* ca-server, comm-terminal */
    /* ca-server */
    CL_M_PACKS_ISSUED,     /* {factory, model} */
    CL_M_ISSUANCE_SECONDS, /* one FIG 21 request */
    CL_M_REPORTS_RECEIVED, /* installation reports */
    CL_M_REPORTS_REFUSED,  /* {reason} */
    CL_M_RECEIPTS_SIGNED,
    /* comm-terminal */
    CL_M_LINE_RESULTS,        /* {result, reason} */
    CL_M_LINE_DEVICE_SECONDS, /* pack sent to write result */
    CL_M_CT_REPORTS_QUEUED,   /* gauge */
    CL_M_CT_REPORTS_REFUSED,  /* by ca-server, for good */
    CL_M_CT_RECEIPTS_HELD,    /* receipts verified and stored */
    CL_M_CA_REACHABLE,        /* gauge 0/1 */
    CL_M_CA_LAST_FETCH,       /* gauge: Unix time of the last successful fetch */
    /* factory-terminal */
    CL_M_FT_SCANS,
    CL_M_FT_RESULTS,        /* {outcome} */
    CL_M_FT_DEVICE_SECONDS, /* scan to S13 */
    CL_M_COUNT
};

/* The process's registry, made with every family of the catalog on first use. NULL only if
 * out of memory (then every update below does nothing). */
struct cl_metrics *cl_metrics_global(void);

/* Updates of the process's registry; labels: one value per label of the family, in order. */
void cl_metric_add(enum cl_metric_id id, double delta, const char *const *labels);
void cl_metric_set(enum cl_metric_id id, double value, const char *const *labels);
void cl_metric_observe(enum cl_metric_id id, double value, const char *const *labels);

/* One-line increments: CL_METRIC_INC(CL_M_TLS_HANDSHAKES, "server", "full"). */
#define CL_METRIC_INC(id, ...) cl_metric_add((id), 1, (const char *const[]){__VA_ARGS__})
#define CL_METRIC_INC0(id) cl_metric_add((id), 1, NULL)

/* Seconds on the monotonic clock, for durations. */
double cl_metric_now(void);

#endif
