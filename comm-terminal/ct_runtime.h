/* ct_runtime.h: what a running comm-terminal shares between threads, and the work it does with
 * ca-server (ca_link.c, fetch_day.c): fetching packs [S1/S2], replacements, installation
 * reports. */
#ifndef CERTLINE_CT_RUNTIME_H
#define CERTLINE_CT_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "ca_reach.h"
#include "ct_config.h"
#include "ct_store.h"
#include "event_log.h"
#include "fetch_progress.h"
#include "pool.h"
#include "soap_client.h"
#include "tls.h"

struct ct_crl;
struct cl_failover;

struct ct_runtime {
    const struct ct_config *config;
    struct cl_pool *pool;        /* of struct ct_store */
    struct cl_tls *client_tls;   /* towards ca-server */
    struct cl_client *ca;        /* one kept connection to ca-server, */
    pthread_mutex_t ca_lock;     /* used by one thread at a time (ca_reach.h) */
    pthread_mutex_t reach_lock;  /* guards the next two */
    time_t ca_away_since;        /* first lost connection of the current absence, or 0 */
    time_t ca_recheck_at;        /* a line's call waits for ca-server again from then on */
    int ca_saved_timeouts[3];    /* the link's own timeouts while a call shortens them */
    int ca_line_call;            /* the call on the link has shortened timeouts */
    struct timespec ca_taken_at; /* when the link was last taken (CLOCK_MONOTONIC) */
    pthread_mutex_t fetch_lock;  /* one day's fetch at a time (daily thread, ct:FetchNow) */
    char *root_pem;              /* to verify receipts */
    struct cl_event_log *events; /* events_file, or NULL */
    struct ct_crl *crl;          /* the CRL held for the lines (ct_crl.h) */
    /* Until when reports go one by one: ca-server did not know ca:ReportBatch (report_link.c). */
    atomic_llong reports_one_by_one_until;
    /* Until when receipts are asked signed one by one: ca-server refused a batch that asked for
     * one signature over its manifest and took it without (report_link.c). */
    atomic_llong receipts_alone_until;
    /* ca-server's instances, rt->ca at one of them (ca_endpoints.c) */
    struct cl_failover *ca_endpoints;
    /* How far the fetch under fetch_lock has come, or the last one (the console). */
    struct ct_fetch_progress fetch_progress;
    /* serve is stopping (ct_fetch_stop): a fetch under way sends no further request, and a
     * call on the link waits at most a second for ca-server (ca_reach.c). */
    atomic_int stopping;
};

/* ca_endpoints.c: the ca-server instances of the configuration (ca_server.endpoint or
 * .endpoints) for rt->ca; the first is settings->endpoint. */
struct cl_client_settings;
int ct_ca_endpoints_open(struct ct_runtime *runtime, struct cl_client_settings *settings, char *err,
                         size_t errlen);
void ct_ca_endpoints_close(struct ct_runtime *runtime);
/* After a call on rt->ca failed with rc (under rt->ca_lock): 1 if rt->ca moved to the next
 * instance and the same request is to be sent again now, once the call is ended
 * (client_failover.h). */
int ct_ca_failover(struct ct_runtime *runtime, int rc, int *attempt, const char *what);

/* Sets up the ca-server link (TLS, client, root for receipts). */
int ct_runtime_link(struct ct_runtime *runtime, char *err, size_t errlen);
void ct_runtime_unlink(struct ct_runtime *runtime);

/* Fetches the day's certificates (fetch_day.c): first resends requests recorded but never
 * answered (a crash, a failure), then asks for every planned number still without a pack, in
 * chunks. Each answer is stored in one transaction, by a thread with a database connection of its
 * own, while ca-server issues the next chunk. progress (may be NULL) gets one line per chunk;
 * rt->fetch_progress counts the requests and packs for the console. A fetch asked to stop
 * (ct_fetch_stop) ends after the answer it waits for (or the link's receive timeout) with
 * CL_ERR_STATE: what was stored stays, the requests not answered stay pending for the next. */
int ct_fetch_day(struct ct_runtime *runtime, struct ct_store *store, const char *day,
                 FILE *progress, char *err, size_t errlen);

/* serve's shutdown: asks every fetch under way, and any started later, to stop, breaks off a
 * call on the ca-server link that waits for an answer, and gives later calls short timeouts. */
void ct_fetch_stop(struct ct_runtime *runtime);

/* Fetches one device number now: replacement after an NG write, or a manual entry. how is
 * CT_CA_LINE when a factory terminal waits on the answer (ca_reach.h), else CT_CA_WAIT. */
int ct_fetch_one(struct ct_runtime *runtime, struct ct_store *store, const char *device_number,
                 int replacement, enum ct_ca_wait how, char *err, size_t errlen);

/* Sends the installation reports that are due, in batches (report_link.c), until none is due;
 * verifies a batch's receipts (with one signature over its manifest when ca-server signs them
 * as a batch, else each receipt's) and stores them at once. Returns the number of receipts
 * stored, or a negative cl_err code if ca-server could not be reached. */
int ct_report_due(struct ct_runtime *runtime, struct ct_store *store);
/* The same for every queued report (at most 100000) whatever its next attempt: `report`. */
int ct_report_all(struct ct_runtime *runtime, struct ct_store *store);

struct cl_receipt;
struct cl_ca_verifier;
/* Checks a receipt for report r (report_link.c): it must name r's device number, serial and
 * proof and be signed by a CA that chains to the root held: with signer (checked once for a
 * batch, cl_ca_verifier_new) when given, else with signer_pem (cl_receipt_verify). CL_OK, or a
 * cl_err code with why saying what was wrong. */
int ct_receipt_check(struct ct_runtime *runtime, const struct ct_report *r,
                     const struct cl_receipt *receipt, const char *signature_b64,
                     const char *signer_pem, struct cl_ca_verifier *signer, char *why,
                     size_t whylen);
/* Keeps a receipt for report r (report_link.c): it must name r's device number, serial and proof
 * and be signed by a CA that chains to the root held (cl_receipt_verify); then it is stored
 * (ct_store_receipt; a report done already keeps its first receipt). CL_OK, or a cl_err code
 * with why saying what was wrong. Used by the reporter and by import-receipts. */
int ct_receipt_keep(struct ct_runtime *runtime, struct ct_store *store, const struct ct_report *r,
                    const struct cl_receipt *receipt, const char *signature_b64,
                    const char *signer_pem, char *why, size_t whylen);

/* retire_link.c: deletes unwritten stock past stock_retention_days, then sends the queued
 * retirements (ca:Retire); a refusal is final for the serials refused, a lost connection or a
 * Receiver fault is retried. Returns the number retired, or a negative cl_err code. */
int ct_retire_due(struct ct_runtime *runtime, struct ct_store *store);

/* ct_models.c: reads ca-server's model list (ca:Models) into the store [FIG 19A]; *changed
 * counts the models whose flag in force here changed. */
int ct_models_sync(struct ct_runtime *runtime, struct ct_store *store, size_t *changed, char *err,
                   size_t errlen);

/* 1 if the failed call on rt->ca (rc from cl_client_explain) was a Sender fault ca-server's
 * handler sent to refuse for good: its fault string one of faults (NULL-terminated; NULL: any
 * Sender fault), else 0. */
int ct_ca_refused(struct ct_runtime *runtime, int rc, const char *const *faults);

#endif
