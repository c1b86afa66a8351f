/* report_link.c: the comm-terminal's reporter: installation reports sent to ca-server in batches
 * (ca:ReportBatch) asking for the receipts signed as a batch (one signature over the batch's
 * manifest, common/receipt.h), verified with one signature check per batch (or each receipt's,
 * from a ca-server that signs them one by one) and stored in one transaction per batch; a report
 * ca-server refuses for good ends rejected (with an event for the execution system), any other
 * failure leaves it queued with its backoff. A ca-server that does not serve batches (one from
 * before them) gets one report per call (ca:InstallationReport).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ca_signature.h"
#include "ct_runtime.h"
#include "error.h"
#include "log.h"
#include "metrics_catalog.h"
#include "receipt.h"
#include "soapH.h"

#define RETRY_MAX_S 300
#define BATCH_MAX 200                  /* reports per ca:ReportBatch (wsdl/ca.h) */
#define BATCH_BYTES (128 * 1024)       /* and at most this much XML of reports per request */
#define REPORT_XML_BYTES 200           /* the XML around one report's fields */
#define REPORTS_PER_ROUND (64 * 1024L) /* reports sent per ct_report_due before a pause */
#define ONE_BY_ONE_S 600               /* after ca-server did not know ca:ReportBatch */
#define MANIFEST_VERSION 1             /* receiptManifest asked: certline-receipt-batch v1 */

/* The faults __ca__InstallationReport (ca-server/service.c) answers for a report it refuses;
 * ca:ReportBatch names the same in a refused report's outcome. */
static const char *const report_refusals[] = {"Installation proof rejected",
                                              "Installation report refused", NULL};

/* The first words of gSOAP's fault for an operation a server does not know (SOAP_NO_METHOD). */
#define UNKNOWN_OPERATION "Method 'ca:ReportBatch' not implemented"
/* What gSOAP's strict XML check answers for an element a server does not know (SOAP_TAG_MISMATCH),
 * and the element a ca-server from before batch signatures does not know. */
#define UNKNOWN_ELEMENT "Validation constraint violation"
#define MANIFEST_ELEMENT "receiptManifest"

/* ca-server refused the report for good: it ends rejected, the device number is provisioned
 * again on its next scan, and the execution system reads an event. */
static void report_rejected(struct ct_runtime *rt, struct ct_store *store,
                            const struct ct_report *r, const char *why)
{
    char err[512], now[32];
    time_t t = time(NULL);
    struct tm tm;
    cJSON *event;

    if (ct_store_report_reject(store, r->id, why) != CL_OK) {
        /* logged; sent again later */
        ct_store_report_retry(store, r->id, time(NULL) + RETRY_MAX_S, why);
        return;
    }
    CL_METRIC_INC0(CL_M_CT_REPORTS_REFUSED);
    cl_log_warn("installation report for %s (%s) rejected by ca-server: %s; its next scan "
                "provisions a replacement",
                r->device_number, r->serial_hex, why);
    gmtime_r(&t, &tm);
    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if ((event = cJSON_CreateObject()) == NULL)
        return;
    if (cJSON_AddStringToObject(event, "event", "installation_rejected") != NULL &&
        cJSON_AddStringToObject(event, "factory", rt->config->factory) != NULL &&
        cJSON_AddStringToObject(event, "device_number", r->device_number) != NULL &&
        cJSON_AddStringToObject(event, "serial", r->serial_hex) != NULL &&
        cJSON_AddStringToObject(event, "reason", why) != NULL &&
        cJSON_AddStringToObject(event, "time", now) != NULL &&
        cl_event_log_write(rt->events, event, err, sizeof(err)) != CL_OK)
        cl_log_error("%s", err);
    cJSON_Delete(event);
}

/* Not accepted yet: the report is sent again after its backoff (1, 2, 4 ... 256, 300 s). */
static void report_retry(struct ct_store *store, const struct ct_report *r, const char *why)
{
    int delay = 1 << (r->attempts < 8 ? r->attempts : 8);
    if (delay > RETRY_MAX_S)
        delay = RETRY_MAX_S;
    cl_log_warn("installation report for %s not accepted yet: %s (retry in %d s)", r->device_number,
                why, delay);
    ct_store_report_retry(store, r->id, time(NULL) + delay, why);
}

/* ca-server could not be reached or the connection broke: the rest waits for later. */
static int away(int rc)
{
    return rc == CL_ERR_CONNECT || rc == CL_ERR_CLOSED || rc == CL_ERR_TLS_HANDSHAKE;
}

/* Whether the receipt is about report r's installation (device number, serial and proof). */
static int about_report(const struct ct_report *r, const struct cl_receipt *receipt)
{
    return receipt->device_number != NULL && receipt->serial_hex != NULL &&
           receipt->verification_value != NULL &&
           strcmp(receipt->device_number, r->device_number) == 0 &&
           strcmp(receipt->serial_hex, r->serial_hex) == 0 &&
           strcmp(receipt->verification_value, r->proof) == 0;
}

int ct_receipt_check(struct ct_runtime *rt, const struct ct_report *r,
                     const struct cl_receipt *receipt, const char *signature_b64,
                     const char *signer_pem, struct cl_ca_verifier *signer, char *why,
                     size_t whylen)
{
    int rc;

    why[0] = '\0';
    /* Only a receipt that is about this installation and signed by our CA. */
    rc = !about_report(r, receipt) ? CL_ERR_CRYPTO
         : signer != NULL
             ? cl_receipt_verify_with(signer, receipt, signature_b64, why, whylen)
             : cl_receipt_verify(receipt, signature_b64, signer_pem, rt->root_pem, why, whylen);
    if (rc == CL_ERR_CRYPTO && why[0] == '\0')
        snprintf(why, whylen, "the receipt is for another installation");
    return rc;
}

int ct_receipt_keep(struct ct_runtime *rt, struct ct_store *store, const struct ct_report *r,
                    const struct cl_receipt *receipt, const char *signature_b64,
                    const char *signer_pem, char *why, size_t whylen)
{
    int rc = ct_receipt_check(rt, r, receipt, signature_b64, signer_pem, NULL, why, whylen);

    if (rc == CL_OK && (rc = ct_store_receipt(store, r->id, receipt->received_at, signature_b64,
                                              signer_pem, rt->config->delete_written)) != CL_OK)
        snprintf(why, whylen, "the receipt could not be stored: %s", cl_err_str(rc));
    if (rc == CL_OK)
        CL_METRIC_INC0(CL_M_CT_RECEIPTS_HELD);
    return rc;
}

/* One report by itself (ca:InstallationReport), as before batches. *stored counts a receipt
 * kept; CL_ERR_CONNECT if ca-server is away (the rest waits), else CL_OK. */
static int report_one(struct ct_runtime *rt, struct ct_store *store, struct ct_report *r,
                      int *stored)
{
    struct ca__InstallationReport report = {r->device_number, r->serial_hex, r->proof,
                                            r->written_at};
    struct ca__InstallationReceipt receipt = {0};
    char why[512] = ""; /* a receipt for another installation sets no reason of its own */
    int rc, refused = 0;

    ct_ca_take(rt, CT_CA_WAIT, NULL, 0);
    for (int attempt = 0;; cl_client_end_call(rt->ca)) {
        rc = soap_call___ca__InstallationReport(cl_client_soap(rt->ca), cl_client_endpoint(rt->ca),
                                                NULL, &report, &receipt);
        if (rc == SOAP_OK)
            break;
        rc = cl_client_explain(rt->ca, why, sizeof(why));
        if (!ct_ca_failover(rt, rc, &attempt, "an installation report"))
            break;
    }
    if (rc != SOAP_OK) {
        refused = ct_ca_refused(rt, rc, report_refusals);
    } else {
        struct cl_receipt signed_receipt = {receipt.deviceNumber, receipt.certificateSerial,
                                            receipt.verificationValue, receipt.receivedAt};
        rc = ct_receipt_keep(rt, store, r, &signed_receipt, receipt.signature,
                             receipt.signerCertificate, why, sizeof(why));
        if (rc == CL_OK)
            (*stored)++;
    }
    cl_client_end_call(rt->ca);
    ct_ca_give(rt, rc);
    if (refused) {
        report_rejected(rt, store, r, why);
    } else if (rc != CL_OK) {
        report_retry(store, r, why);
        if (away(rc))
            return CL_ERR_CONNECT;
    } else {
        cl_log_info("receipt for %s (%s) held", r->device_number, r->serial_hex);
    }
    return CL_OK;
}

/* One report's outcome in a batch, copied out of gSOAP's memory (it goes with the call). */
struct outcome {
    enum ca__ReportVerdict verdict;
    time_t received_at;
    char *number, *proof, *signature, *signer; /* the receipt's (malloc'd), or NULL */
    char *refusal, *reason;                    /* a refused or failed report's */
};

static void outcomes_free(struct outcome *outcomes, size_t count)
{
    for (size_t i = 0; outcomes != NULL && i < count; i++) {
        free(outcomes[i].number);
        free(outcomes[i].proof);
        free(outcomes[i].signature);
        free(outcomes[i].signer);
        free(outcomes[i].refusal);
        free(outcomes[i].reason);
    }
    free(outcomes);
}

static char *copy(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* Copies the answer to a batch of count reports; CL_ERR_PARSE (why says so) unless it holds one
 * outcome per report, about that report, in order, each complete. */
static int copy_outcomes(const struct ca__ReceiptBatch *answer, const struct ct_report *reports,
                         size_t count, struct outcome *out, char *why, size_t whylen)
{
    if (answer->__sizeOutcome != (int)count || answer->outcome == NULL) {
        snprintf(why, whylen, "ca-server answered %d outcomes for a batch of %zu reports",
                 answer->__sizeOutcome, count);
        return CL_ERR_PARSE;
    }
    for (size_t i = 0; i < count; i++) {
        const struct ca__ReportOutcome *o = &answer->outcome[i];
        const struct ca__InstallationReceipt *receipt = o->receipt;
        if (o->deviceNumber == NULL || o->certificateSerial == NULL ||
            strcmp(o->deviceNumber, reports[i].device_number) != 0 ||
            strcmp(o->certificateSerial, reports[i].serial_hex) != 0 ||
            (o->verdict == ca__ReportVerdict__RECEIPT &&
             (receipt == NULL || receipt->signature == NULL ||
              receipt->signerCertificate == NULL))) {
            snprintf(why, whylen,
                     "ca-server's outcome %zu of a batch is not about %s (%s) or "
                     "lacks its receipt",
                     i + 1, reports[i].device_number, reports[i].serial_hex);
            return CL_ERR_PARSE;
        }
        out[i].verdict = o->verdict;
        if (o->verdict == ca__ReportVerdict__RECEIPT) {
            /* fields checked against the report by ct_receipt_check */
            out[i].received_at = receipt->receivedAt;
            out[i].signature = copy(receipt->signature);
            out[i].signer = copy(receipt->signerCertificate);
            out[i].number = copy(receipt->deviceNumber);
            out[i].proof = copy(receipt->verificationValue);
            if (out[i].signature == NULL || out[i].signer == NULL || out[i].number == NULL ||
                out[i].proof == NULL || receipt->certificateSerial == NULL ||
                strcmp(receipt->certificateSerial, o->certificateSerial) != 0)
                goto bad;
        } else {
            out[i].refusal = copy(o->refusal != NULL ? o->refusal : "");
            out[i].reason = copy(o->reason != NULL ? o->reason : "no reason given");
            if (out[i].refusal == NULL || out[i].reason == NULL)
                goto bad;
        }
    }
    return CL_OK;
bad:
    snprintf(why, whylen, "ca-server's receipts could not be read (or name another serial)");
    return CL_ERR_PARSE;
}

/* Sends count reports as one ca:ReportBatch (asking for the receipts signed as a batch with
 * as_batch) and copies the outcomes out, and the manifest's signature into *batch_signature
 * (malloc'd) when ca-server signed them so. CL_OK, or the failure with why; *unserved when
 * ca-server does not know the operation at all, 2 when it knows it but not the request for a
 * batch signature. */
static int send_batch(struct ct_runtime *rt, struct ct_report *reports, size_t count, int as_batch,
                      struct outcome *out, char **batch_signature, int *unserved, char *why,
                      size_t whylen)
{
    struct ca__InstallationReport *list = calloc(count, sizeof(*list));
    int version = MANIFEST_VERSION;
    struct ca__ReportBatch request = {(int)count, list, as_batch ? &version : NULL};
    struct ca__ReceiptBatch answer = {0};
    int rc;

    *unserved = 0;
    *batch_signature = NULL;
    if (list == NULL) {
        snprintf(why, whylen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        list[i] = (struct ca__InstallationReport){reports[i].device_number, reports[i].serial_hex,
                                                  reports[i].proof, reports[i].written_at};
    ct_ca_take(rt, CT_CA_WAIT, NULL, 0);
    for (int attempt = 0;; cl_client_end_call(rt->ca)) {
        rc = soap_call___ca__ReportBatch(cl_client_soap(rt->ca), cl_client_endpoint(rt->ca), NULL,
                                         &request, &answer);
        if (rc == SOAP_OK)
            break;
        rc = cl_client_explain(rt->ca, why, whylen);
        if (!ct_ca_failover(rt, rc, &attempt, "a batch of installation reports"))
            break;
    }
    if (rc != SOAP_OK) {
        const char **text = soap_faultstring(cl_client_soap(rt->ca));
        if (rc == CL_ERR_SOAP_FAULT && text != NULL && *text != NULL)
            *unserved = strncmp(*text, UNKNOWN_OPERATION, strlen(UNKNOWN_OPERATION)) == 0 ? 1
                        : as_batch &&
                                strncmp(*text, UNKNOWN_ELEMENT, strlen(UNKNOWN_ELEMENT)) == 0 &&
                                strstr(*text, MANIFEST_ELEMENT) != NULL
                            ? 2
                            : 0;
    } else if ((rc = copy_outcomes(&answer, reports, count, out, why, whylen)) == CL_OK &&
               answer.manifestSignature != NULL &&
               (*batch_signature = strdup(answer.manifestSignature)) == NULL) {
        snprintf(why, whylen, "out of memory");
        rc = CL_ERR_NOMEM;
    }
    cl_client_end_call(rt->ca);
    ct_ca_give(rt, rc);
    free(list);
    return rc;
}

/* The receipts of a batch verified (the signer checked once per distinct certificate) into
 * rows; a receipt that fails gets its report's retry. Returns how many rows were filled. */
static size_t verify_receipts(struct ct_runtime *rt, struct ct_store *store,
                              const struct ct_report *reports, struct outcome *out, size_t count,
                              struct ct_receipt_row *rows, size_t *row_of)
{
    struct cl_ca_verifier *signer = NULL;
    const char *signer_pem = NULL;
    char why[512];
    size_t n = 0;

    for (size_t i = 0; i < count; i++) {
        struct cl_receipt receipt = {out[i].number, reports[i].serial_hex, out[i].proof,
                                     out[i].received_at};
        if (out[i].verdict != ca__ReportVerdict__RECEIPT)
            continue;
        if (signer_pem == NULL || strcmp(signer_pem, out[i].signer) != 0) {
            /* A signer that fails here is checked again with each receipt (ct_receipt_check
             * without a verifier), which says why. */
            cl_ca_verifier_free(signer);
            signer_pem = out[i].signer;
            if (cl_ca_verifier_new(signer_pem, rt->root_pem, "receipt refused", &signer, why,
                                   sizeof(why)) != CL_OK)
                signer = NULL;
        }
        if (ct_receipt_check(rt, &reports[i], &receipt, out[i].signature, out[i].signer, signer,
                             why, sizeof(why)) != CL_OK) {
            report_retry(store, &reports[i], why);
            continue;
        }
        rows[n] = (struct ct_receipt_row){reports[i].id, out[i].received_at, out[i].signature,
                                          out[i].signer, CL_OK};
        row_of[n++] = i;
    }
    cl_ca_verifier_free(signer);
    return n;
}

/* The receipts of a batch signed as one (receipt.h): every receipt answered names the same
 * signer and carries the batch's signature; the manifest is rebuilt from them, in order, and its
 * one signature verified (the signer checked against the root once). Then each receipt must be
 * about its report (else that report gets its retry). A batch that fails leaves every report of
 * it queued with its retry. Returns how many rows were filled; *manifest (malloc'd) is the
 * manifest verified and *signer_pem its signer (in out). */
static size_t verify_batch(struct ct_runtime *rt, struct ct_store *store,
                           const struct ct_report *reports, const struct outcome *out, size_t count,
                           const char *signature, struct ct_receipt_row *rows, size_t *row_of,
                           char **manifest, const char **signer_pem)
{
    struct cl_receipt *receipts = calloc(count, sizeof(*receipts));
    struct cl_ca_verifier *signer = NULL;
    char why[512] = "out of memory";
    size_t given = 0, n = 0;
    int rc = receipts != NULL ? CL_OK : CL_ERR_NOMEM;

    *manifest = NULL;
    *signer_pem = NULL;
    for (size_t i = 0; rc == CL_OK && i < count; i++) {
        if (out[i].verdict != ca__ReportVerdict__RECEIPT)
            continue;
        if (*signer_pem == NULL)
            *signer_pem = out[i].signer;
        receipts[given++] = (struct cl_receipt){out[i].number, reports[i].serial_hex, out[i].proof,
                                                out[i].received_at};
        if (strcmp(out[i].signer, *signer_pem) != 0 || strcmp(out[i].signature, signature) != 0) {
            snprintf(why, sizeof(why),
                     "receipts refused: the receipt for %s names another signer or signature "
                     "than its batch",
                     reports[i].device_number);
            rc = CL_ERR_CRYPTO;
        }
    }
    if (rc == CL_OK && given > 0 &&
        (rc = cl_ca_verifier_new(*signer_pem, rt->root_pem, "receipts refused", &signer, why,
                                 sizeof(why))) == CL_OK)
        rc =
            cl_receipt_batch_verify(signer, receipts, given, signature, manifest, why, sizeof(why));
    cl_ca_verifier_free(signer);
    free(receipts);
    for (size_t i = 0; given > 0 && i < count; i++) {
        const struct cl_receipt receipt = {out[i].number, reports[i].serial_hex, out[i].proof,
                                           out[i].received_at};
        if (out[i].verdict != ca__ReportVerdict__RECEIPT)
            continue;
        if (rc != CL_OK) {
            report_retry(store, &reports[i], why);
        } else if (!about_report(&reports[i], &receipt)) {
            report_retry(store, &reports[i], "the receipt is for another installation");
        } else {
            rows[n] = (struct ct_receipt_row){reports[i].id, out[i].received_at, NULL, NULL, CL_OK};
            row_of[n++] = i;
        }
    }
    return n;
}

/* How a batch went when ca-server answered it with a fault: nothing was recorded. */
enum batch_fault {
    BATCH_ANSWERED,   /* no fault: every report has its outcome */
    BATCH_REFUSED,    /* refused whole: these reports go one by one */
    BATCH_NOT_SERVED, /* ca-server does not know ca:ReportBatch: one by one for a while */
};

/* One batch: sent, answered, verified, stored in one transaction; each report then ends done,
 * rejected or queued for its retry, as it would have alone. *stored counts the receipts kept.
 * CL_ERR_CONNECT if ca-server is away, else CL_OK; *fault says whether the reports are still
 * to be sent one by one. */
static int report_batch(struct ct_runtime *rt, struct ct_store *store, struct ct_report *reports,
                        size_t count, int *stored, enum batch_fault *fault)
{
    struct outcome *out = calloc(count, sizeof(*out));
    struct ct_receipt_row *rows = calloc(count, sizeof(*rows));
    size_t *row_of = calloc(count, sizeof(*row_of)), n;
    char why[512] = "out of memory", *batch_signature = NULL, *manifest = NULL;
    struct ct_receipt_manifest kept = {NULL, NULL, NULL};
    int as_batch = (long long)time(NULL) >= atomic_load(&rt->receipts_alone_until);
    int rc = CL_ERR_NOMEM, unserved = 0;

    if (out != NULL && rows != NULL && row_of != NULL)
        rc = send_batch(rt, reports, count, as_batch, out, &batch_signature, &unserved, why,
                        sizeof(why));
    if (rc == CL_ERR_SOAP_FAULT && unserved == 2 &&
        (rc = send_batch(rt, reports, count, 0, out, &batch_signature, &unserved, why,
                         sizeof(why))) == CL_OK) {
        /* A ca-server from before batch signatures refuses the request element it does not
         * know (its XML is checked strictly): the same batch without it was taken (a refused
         * request recorded nothing). */
        cl_log_info("ca-server does not sign receipts as a batch: receipts signed one by one "
                    "for %d s",
                    ONE_BY_ONE_S);
        atomic_store(&rt->receipts_alone_until, (long long)time(NULL) + ONE_BY_ONE_S);
    }
    *fault = BATCH_ANSWERED;
    if (rc == CL_ERR_SOAP_FAULT) {
        /* Refused whole, or not served: the reports go one by one, as before batches. */
        if (unserved == 1)
            cl_log_info("ca-server does not serve ca:ReportBatch: reports go one by one for "
                        "%d s",
                        ONE_BY_ONE_S);
        else
            cl_log_warn("a batch of %zu installation reports refused whole (%s): they go one "
                        "by one",
                        count, why);
        *fault = unserved == 1 ? BATCH_NOT_SERVED : BATCH_REFUSED;
        rc = CL_OK;
        goto out;
    }
    if (rc != CL_OK) {
        for (size_t i = 0; i < count; i++)
            report_retry(store, &reports[i], why);
        rc = away(rc) ? CL_ERR_CONNECT : CL_OK;
        goto out;
    }
    /* One signature for the batch, or (a ca-server that signs them one by one) each receipt's. */
    n = batch_signature != NULL ? verify_batch(rt, store, reports, out, count, batch_signature,
                                               rows, row_of, &manifest, &kept.signer_pem)
                                : verify_receipts(rt, store, reports, out, count, rows, row_of);
    kept.manifest = manifest;
    kept.signature_b64 = batch_signature;
    if (n > 0 && ct_store_receipts(store, manifest != NULL ? &kept : NULL, rows, n,
                                   rt->config->delete_written) != CL_OK)
        snprintf(why, sizeof(why), "the receipts could not be stored");
    for (size_t k = 0; k < n; k++) {
        const struct ct_report *r = &reports[row_of[k]];
        if (rows[k].rc != CL_OK) {
            snprintf(why, sizeof(why), "the receipt could not be stored: %s",
                     cl_err_str(rows[k].rc));
            report_retry(store, r, why);
        } else {
            (*stored)++;
            CL_METRIC_INC0(CL_M_CT_RECEIPTS_HELD);
            cl_log_info("receipt for %s (%s) held", r->device_number, r->serial_hex);
        }
    }
    for (size_t i = 0; i < count; i++) {
        const char *const *known = report_refusals;
        if (out[i].verdict == ca__ReportVerdict__RECEIPT)
            continue;
        snprintf(why, sizeof(why), "%s: %s", out[i].refusal, out[i].reason);
        while (*known != NULL && strcmp(*known, out[i].refusal) != 0)
            known++;
        if (out[i].verdict == ca__ReportVerdict__REFUSED && *known != NULL)
            report_rejected(rt, store, &reports[i], why);
        else
            report_retry(store, &reports[i], why);
    }
    rc = CL_OK;
out:
    outcomes_free(out, count);
    free(batch_signature);
    free(manifest);
    free(rows);
    free(row_of);
    return rc;
}

/* How many of the count reports from the first go in one batch: at most BATCH_MAX, and at most
 * BATCH_BYTES of XML. */
static size_t batch_size(const struct ct_report *reports, size_t count)
{
    size_t n = 0, bytes = 0;

    while (n < count && n < BATCH_MAX) {
        size_t one = REPORT_XML_BYTES + strlen(reports[n].device_number) +
                     strlen(reports[n].serial_hex) + strlen(reports[n].proof);
        if (n > 0 && bytes + one > BATCH_BYTES)
            break;
        bytes += one;
        n++;
    }
    return n;
}

/* Sends the reports queued with their next attempt before due (at most limit, oldest first),
 * in batches. Returns the receipts stored, or CL_ERR_CONNECT / CL_ERR_DB. */
static int report_until(struct ct_runtime *rt, struct ct_store *store, time_t due, size_t limit)
{
    struct ct_report *reports = NULL;
    size_t count = 0, at = 0;
    int stored = 0, rc = CL_OK;

    if (ct_store_reports_due(store, due, limit, &reports, &count) != CL_OK)
        return CL_ERR_DB;
    while (at < count && rc == CL_OK) {
        size_t n = batch_size(reports + at, count - at);
        enum batch_fault fault = BATCH_NOT_SERVED;
        if ((long long)time(NULL) >= atomic_load(&rt->reports_one_by_one_until))
            rc = report_batch(rt, store, reports + at, n, &stored, &fault);
        if (fault == BATCH_NOT_SERVED)
            atomic_store(&rt->reports_one_by_one_until, (long long)time(NULL) + ONE_BY_ONE_S);
        /* one by one: each report's own answer, retry and rejection */
        for (size_t i = at; fault != BATCH_ANSWERED && i < at + n && rc == CL_OK; i++)
            rc = report_one(rt, store, &reports[i], &stored);
        at += n;
    }
    free(reports);
    return rc != CL_OK ? rc : stored;
}

int ct_report_due(struct ct_runtime *rt, struct ct_store *store)
{
    /* Until no report is due (a report that failed waits for its backoff), in rounds of up to
     * 1000 oldest first, so that a backlog drains at the pace ca-server answers batches. */
    long total = 0;
    int n;

    do {
        n = report_until(rt, store, time(NULL), 1000);
        total += n > 0 ? n : 0;
    } while (n > 0 && total < REPORTS_PER_ROUND);
    return n < 0 ? n : (int)total;
}

int ct_report_all(struct ct_runtime *rt, struct ct_store *store)
{
    /* Every queued report once, whatever its backoff: an operator asks for it now. */
    return report_until(rt, store, (time_t)4102444800LL, 100000);
}
