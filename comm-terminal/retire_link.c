/* retire_link.c: packs deleted unwritten are retired at ca-server (ca:Retire): the stock past
 * stock_retention_days is deleted first, then the queued retirements are sent, idempotent, and
 * kept queued while ca-server is away. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ct_runtime.h"
#include "error.h"
#include "log.h"
#include "soapH.h"

#define RETIRE_BATCH 100
#define EXPIRY_PERIOD_S 60

/* The fault __ca__Retire (ca-server/service.c) answers for serials it refuses. */
static const char *const retire_refusals[] = {"Retirement refused", NULL};
#define RETRY_MAX_S 300

/* Sends one ca:Retire for rows (one reason); *why gets the reason of a failure. */
static int send_retire(struct ct_runtime *rt, const struct ct_retirement *rows, size_t count,
                       int *refused, char *why, size_t whylen)
{
    struct ca__Retire request = {0};
    struct ca__RetireResponse response = {0};
    static _Thread_local char copies[RETIRE_BATCH][CT_SERIAL_HEX_MAX + 1];
    char *serials[RETIRE_BATCH];
    int rc = CL_OK;

    *refused = 0;
    for (size_t i = 0; i < count; i++) /* the generated struct wants them writable */
        serials[i] = strcpy(copies[i], rows[i].serial_hex);
    request.reason =
        rows[0].discontinued ? ca__RetireReason__DISCONTINUED : ca__RetireReason__EXPIRED_STOCK;
    request.__sizeCertificateSerial = (int)count;
    request.certificateSerial = serials;
    ct_ca_take(rt, CT_CA_WAIT, NULL, 0);
    for (int attempt = 0;; cl_client_end_call(rt->ca)) {
        rc = soap_call___ca__Retire(cl_client_soap(rt->ca), cl_client_endpoint(rt->ca), NULL,
                                    &request, &response);
        if (rc == SOAP_OK)
            break;
        rc = cl_client_explain(rt->ca, why, whylen);
        if (!ct_ca_failover(rt, rc, &attempt, "a retirement"))
            break;
    }
    if (rc != CL_OK) {
        *refused = ct_ca_refused(rt, rc, retire_refusals);
    } else if (response.retired != (int)count) {
        snprintf(why, whylen, "ca-server retired %d of %zu certificates", response.retired, count);
        rc = CL_ERR_PARSE;
    }
    cl_client_end_call(rt->ca);
    ct_ca_give(rt, rc);
    return rc;
}

/* Records the outcome of rows; a refused batch of several is sent again one by one, so that
 * only the serials ca-server refuses end refused. Returns how many were retired, or -1 if
 * ca-server is away. */
static long settle(struct ct_runtime *rt, struct ct_store *store, const struct ct_retirement *rows,
                   size_t count)
{
    char why[512] = "";
    int refused;
    int rc = send_retire(rt, rows, count, &refused, why, sizeof(why));

    if (rc == CL_OK) {
        ct_store_retirement_outcome(store, rows, count, CT_RETIRED, 0, NULL);
        return (long)count;
    }
    if (refused && count > 1) {
        long retired = 0;
        for (size_t i = 0; i < count; i++) {
            long n = settle(rt, store, &rows[i], 1);
            if (n < 0)
                return -1;
            retired += n;
        }
        return retired;
    }
    if (refused) {
        cl_log_warn("retirement of %s (%s) refused by ca-server: %s", rows[0].device_number,
                    rows[0].serial_hex, why);
        ct_store_retirement_outcome(store, rows, 1, CT_RETIRE_REFUSED, 0, why);
        return 0;
    }
    int delay = 1 << (rows[0].attempts < 8 ? rows[0].attempts : 8);
    if (delay > RETRY_MAX_S)
        delay = RETRY_MAX_S;
    cl_log_warn("retirement of %zu certificate(s) not accepted yet: %s (retry in %d s)", count, why,
                delay);
    ct_store_retirement_outcome(store, rows, count, CT_RETIRE_LATER, time(NULL) + delay, why);
    return rc == CL_ERR_CONNECT || rc == CL_ERR_CLOSED || rc == CL_ERR_TLS_HANDSHAKE ? -1 : 0;
}

int ct_retire_due(struct ct_runtime *rt, struct ct_store *store)
{
    static time_t last_expiry; /* one caller at a time: the reporter thread, or `report` */
    struct ct_retirement *rows = NULL;
    size_t count = 0, expired = 0;
    time_t now = time(NULL);
    long retired;

    if (rt->config->stock_retention_days > 0 && now - last_expiry >= EXPIRY_PERIOD_S &&
        ct_store_expire_stock(store, rt->config->stock_retention_days, &expired) == CL_OK)
        last_expiry = now;
    if (ct_store_retirements_due(store, time(NULL), RETIRE_BATCH, &rows, &count) != CL_OK)
        return CL_ERR_DB;
    retired = count > 0 ? settle(rt, store, rows, count) : 0;
    if (retired > 0)
        cl_log_info("%ld certificate(s) retired at ca-server", retired);
    free(rows);
    return retired < 0 ? CL_ERR_CONNECT : (int)retired;
}
