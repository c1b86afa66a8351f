/* metrics_catalog.c: certline's metric families and the process's registry that holds them. */
#include "metrics_catalog.h"

#include <pthread.h>
#include <time.h>

#define ALL (CL_METRICS_CA | CL_METRICS_CT | CL_METRICS_FT)
#define STORES (CL_METRICS_CA | CL_METRICS_CT)
#define MAX_SERIES 200 /* per family; a factory or model beyond it counts as "other" */

/* Seconds: a device on a line takes about one to a few seconds; a FIG 21 request of up to
 * max_batch numbers from milliseconds to a minute. */
#define DEVICE_BUCKETS {0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120}, 12
#define REQUEST_BUCKETS {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, 12

static const struct cl_metric_def catalog[CL_M_COUNT] = {
    [CL_M_TLS_HANDSHAKES] = {"certline_tls_handshakes_total",
                             "TLS handshakes completed and accepted, by side (server: a peer "
                             "connected to us; client: we connected) and kind (full, resumed)",
                             CL_METRIC_COUNTER,
                             {"side", "kind"},
                             {0},
                             0,
                             ALL},
    [CL_M_TLS_REFUSED] = {"certline_tls_handshakes_refused_total",
                          "TLS handshakes that failed or whose peer was refused, by side and "
                          "reason (certificate, revoked, name, role, version, closed, handshake)",
                          CL_METRIC_COUNTER,
                          {"side", "reason"},
                          {0},
                          0,
                          ALL},
    [CL_M_DB_POOL_IN_USE] = {"certline_db_pool_in_use",
                             "PostgreSQL connections of the pool taken by a thread now",
                             CL_METRIC_GAUGE,
                             {0},
                             {0},
                             0,
                             STORES},
    [CL_M_DB_POOL_SIZE] = {"certline_db_pool_size",
                           "PostgreSQL connections in the pool",
                           CL_METRIC_GAUGE,
                           {0},
                           {0},
                           0,
                           STORES},
    [CL_M_PACKS_ISSUED] = {"certline_packs_issued_total",
                           "packs issued (certificate and sealed key) to a comm-terminal, by its "
                           "factory and the device model",
                           CL_METRIC_COUNTER,
                           {"factory", "model"},
                           {0},
                           0,
                           CL_METRICS_CA},
    [CL_M_ISSUANCE_SECONDS] = {"certline_issuance_seconds",
                               "time spent issuing and storing the packs of one certificate "
                               "transmission request (FIG 21)",
                               CL_METRIC_HISTOGRAM,
                               {0},
                               REQUEST_BUCKETS,
                               CL_METRICS_CA},
    [CL_M_REPORTS_RECEIVED] = {"certline_installation_reports_received_total",
                               "installation reports received from comm-terminals",
                               CL_METRIC_COUNTER,
                               {0},
                               {0},
                               0,
                               CL_METRICS_CA},
    [CL_M_REPORTS_REFUSED] = {"certline_installation_reports_refused_total",
                              "installation reports refused, by reason (unknown, proof, state, "
                              "factory, receipt, other)",
                              CL_METRIC_COUNTER,
                              {"reason"},
                              {0},
                              0,
                              CL_METRICS_CA},
    [CL_M_RECEIPTS_SIGNED] = {"certline_receipts_signed_total",
                              "installation receipts signed for accepted reports",
                              CL_METRIC_COUNTER,
                              {0},
                              {0},
                              0,
                              CL_METRICS_CA},
    [CL_M_LINE_RESULTS] = {"certline_line_results_total",
                           "device results from the lines, by result (OK, NG) and reason "
                           "(written, write_failed, pack_refused, no_pack)",
                           CL_METRIC_COUNTER,
                           {"result", "reason"},
                           {0},
                           0,
                           CL_METRICS_CT},
    [CL_M_LINE_DEVICE_SECONDS] = {"certline_line_device_seconds",
                                  "time from a pack sent to a line to that device's write result",
                                  CL_METRIC_HISTOGRAM,
                                  {0},
                                  DEVICE_BUCKETS,
                                  CL_METRICS_CT},
    [CL_M_CT_REPORTS_QUEUED] = {"certline_reports_queued",
                                "installation reports waiting to be sent to ca-server",
                                CL_METRIC_GAUGE,
                                {0},
                                {0},
                                0,
                                CL_METRICS_CT},
    [CL_M_CT_REPORTS_REFUSED] = {"certline_reports_refused_total",
                                 "installation reports ca-server refused for good",
                                 CL_METRIC_COUNTER,
                                 {0},
                                 {0},
                                 0,
                                 CL_METRICS_CT},
    [CL_M_CT_RECEIPTS_HELD] = {"certline_receipts_held_total",
                               "installation receipts verified and stored",
                               CL_METRIC_COUNTER,
                               {0},
                               {0},
                               0,
                               CL_METRICS_CT},
    [CL_M_CA_REACHABLE] = {"certline_ca_server_reachable",
                           "1 if the last exchange with ca-server succeeded, else 0",
                           CL_METRIC_GAUGE,
                           {0},
                           {0},
                           0,
                           CL_METRICS_CT},
    [CL_M_CA_LAST_FETCH] = {"certline_last_fetch_timestamp_seconds",
                            "Unix time of the last fetch request ca-server answered in full "
                            "(0: none yet)",
                            CL_METRIC_GAUGE,
                            {0},
                            {0},
                            0,
                            CL_METRICS_CT},
    [CL_M_FT_SCANS] = {"certline_scans_total",
                       "device numbers scanned on this line",
                       CL_METRIC_COUNTER,
                       {0},
                       {0},
                       0,
                       CL_METRICS_FT},
    [CL_M_FT_RESULTS] = {"certline_scan_results_total",
                         "scans by outcome (OK, NG, REJECTED) and the step it was decided at",
                         CL_METRIC_COUNTER,
                         {"outcome", "stage"},
                         {0},
                         0,
                         CL_METRICS_FT},
    [CL_M_FT_DEVICE_SECONDS] = {"certline_scan_device_seconds",
                                "time from a scan to the end of the device (S13), OK or NG",
                                CL_METRIC_HISTOGRAM,
                                {0},
                                DEVICE_BUCKETS,
                                CL_METRICS_FT},
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct cl_metrics *global;

static void make_global(void)
{
    struct cl_metrics *m = cl_metrics_new(MAX_SERIES);
    for (int i = 0; m != NULL && i < CL_M_COUNT; i++)
        if (cl_metrics_define(m, &catalog[i]) != i) {
            cl_metrics_free(m); /* a malformed entry: no metrics rather than wrong ones */
            m = NULL;
        }
    global = m;
}

struct cl_metrics *cl_metrics_global(void)
{
    pthread_once(&once, make_global);
    return global;
}

void cl_metric_add(enum cl_metric_id id, double delta, const char *const *labels)
{
    cl_metrics_add(cl_metrics_global(), (int)id, labels, delta);
}

void cl_metric_set(enum cl_metric_id id, double value, const char *const *labels)
{
    cl_metrics_set(cl_metrics_global(), (int)id, labels, value);
}

void cl_metric_observe(enum cl_metric_id id, double value, const char *const *labels)
{
    cl_metrics_observe(cl_metrics_global(), (int)id, labels, value);
}

double cl_metric_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
