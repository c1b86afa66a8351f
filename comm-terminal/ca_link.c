/* ca_link.c: the comm-terminal's calls to ca-server: FIG 21 fetches (request id recorded before
 * sending, so a restart resends it and gets the same packs), replacements, and installation
 * reports whose receipts are verified before they are kept. */
#include "ct_runtime.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"
#include "pack.h"
#include "receipt.h"
#include "soapH.h"
#include "x509_issue.h"

#define RETRY_MAX_S 300

int ct_runtime_link(struct ct_runtime *rt, char *err, size_t errlen)
{
    const struct ct_config *c = rt->config;
    struct cl_tls_settings tls_settings;
    struct cl_client_settings settings;
    size_t len;
    int rc;

    pthread_mutex_init(&rt->ca_lock, NULL);
    cl_tls_config_settings(&c->tls, &tls_settings);
    if ((rc = cl_tls_new(CL_TLS_CLIENT, &tls_settings, &rt->client_tls, err, errlen)) != CL_OK)
        return rc;
    settings.endpoint = c->ca_server.endpoint;
    settings.server_name = c->ca_server.server_name;
    settings.server_role = CL_ROLE_CA_SERVER;
    cl_limits_config_apply(&c->limits, &settings.limits);
    if ((rc = cl_client_new(&settings, rt->client_tls, &rt->ca, err, errlen)) != CL_OK)
        return rc;
    rc = cl_read_file_capped(c->tls.trust_file, 64 * 1024, &rt->root_pem, &len);
    if (rc != CL_OK)
        snprintf(err, errlen, "cannot read %s: %s", c->tls.trust_file, cl_err_str(rc));
    return rc;
}

void ct_runtime_unlink(struct ct_runtime *rt)
{
    cl_client_free(rt->ca);
    cl_tls_free(rt->client_tls);
    free(rt->root_pem);
    rt->ca = NULL;
    rt->client_tls = NULL;
    rt->root_pem = NULL;
    pthread_mutex_destroy(&rt->ca_lock);
}

/* Sends one recorded request and stores its answer. */
static int send_request(struct ct_runtime *rt, struct ct_store *store, const char *request_id,
                        int replacement, char (*numbers)[CT_DEVICE_NUMBER_MAX + 1], size_t count,
                        char *err, size_t errlen)
{
    struct ca__CertificateTransmissionRequest request = {0};
    struct ca__CertificateTransmission answer = {0};
    struct ct_pack_item *items = NULL;
    char **list = calloc(count, sizeof(char *));
    char id[CT_REQUEST_ID_MAX + 1];
    int rc = CL_OK;

    if (list == NULL)
        return CL_ERR_NOMEM;
    for (size_t i = 0; i < count; i++)
        list[i] = numbers[i];
    snprintf(id, sizeof(id), "%s", request_id); /* the generated struct wants it writable */
    request.requestId = id;
    request.replacement = replacement ? true_ : false_;
    request.__sizeDeviceNumber = (int)count;
    request.deviceNumber = list;

    pthread_mutex_lock(&rt->ca_lock);
    struct soap *soap = cl_client_soap(rt->ca);
    if (soap_call___ca__CertificateTransmissionRequest(soap, cl_client_endpoint(rt->ca), NULL,
                                                       &request, &answer) != SOAP_OK) {
        rc = cl_client_explain(rt->ca, err, errlen);
        /* Only a Sender fault means ca-server refuses this request for good; a Receiver fault or
         * a lost connection is worth sending again later. */
        const char **code = soap_faultcode(soap);
        if (rc == CL_ERR_SOAP_FAULT && code != NULL && *code != NULL && strstr(*code, "Sender"))
            rc = CL_ERR_PERMISSION; /* ca-server refused the request */
        goto out;
    }
    if (answer.__sizeItem != (int)count || answer.requestId == NULL ||
        strcmp(answer.requestId, request_id) != 0) {
        snprintf(err, errlen, "ca-server answered request %s with %d packs for %zu numbers",
                 request_id, answer.__sizeItem, count);
        rc = CL_ERR_PARSE;
        goto out;
    }
    items = calloc(count, sizeof(*items));
    if (items == NULL) {
        rc = CL_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        struct cl_pack pack;
        char why[200];
        /* Every pack must be for the number asked, in order, and well formed. */
        if (strcmp(answer.item[i].deviceNumber, numbers[i]) != 0 ||
            cl_pack_parse(answer.item[i].pack, &pack, why, sizeof(why)) != CL_OK ||
            strcmp(pack.device_number, numbers[i]) != 0) {
            snprintf(err, errlen, "ca-server's pack for %s is not acceptable", numbers[i]);
            rc = CL_ERR_PARSE;
            goto out;
        }
        items[i].device_number = numbers[i];
        items[i].serial_hex = soap_strdup(soap, pack.serial_hex);
        items[i].pack = answer.item[i].pack;
        cl_pack_free(&pack);
    }
    rc = ct_store_fetch_complete(store, request_id, items, count, err, errlen);
out:
    cl_client_end_call(rt->ca);
    pthread_mutex_unlock(&rt->ca_lock);
    free(items);
    free(list);
    return rc;
}

/* A request id unique to this factory: name, what it is for, time and randomness. */
static void new_request_id(const struct ct_runtime *rt, const char *what, char *out, size_t len)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    if (cl_serial_random(serial) != CL_OK)
        snprintf(serial, sizeof(serial), "%08lX", (unsigned long)time(NULL));
    snprintf(out, len, "%.20s-%.20s-%.8s", rt->config->factory, what, serial);
}

int ct_fetch_day(struct ct_runtime *rt, struct ct_store *store, const char *day, FILE *progress,
                 char *err, size_t errlen)
{
    struct ct_pending_fetch *pending = NULL;
    size_t pending_count = 0, fetched = 0;
    int rc;

    /* First what a crash left unanswered: the same id, the same numbers. */
    if ((rc = ct_store_fetch_pending(store, &pending, &pending_count)) != CL_OK) {
        snprintf(err, errlen, "cannot read pending requests");
        return rc;
    }
    for (size_t i = 0; i < pending_count && rc == CL_OK; i++) {
        rc = send_request(rt, store, pending[i].request_id, pending[i].replacement,
                          pending[i].numbers, pending[i].count, err, errlen);
        if (rc == CL_ERR_PERMISSION) {
            /* ca-server refuses it for good (a Sender fault): give it up, so that its numbers
             * can be asked for again and later fetches are not blocked. */
            char why[256];
            cl_log_warn("request %s refused by ca-server; abandoned: %s", pending[i].request_id,
                        err);
            rc = ct_store_fetch_abandon(store, pending[i].request_id, err, "comm-terminal", why,
                                        sizeof(why));
            if (progress != NULL)
                fprintf(progress, "request %s refused by ca-server and abandoned: %s\n",
                        pending[i].request_id, err);
        } else if (rc == CL_OK && progress != NULL) {
            fprintf(progress, "resent request %s: %zu pack(s) stored\n", pending[i].request_id,
                    pending[i].count);
        }
    }
    ct_pending_fetch_free(pending, pending_count);
    while (rc == CL_OK) {
        char(*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
        size_t count = 0;
        char request_id[CT_REQUEST_ID_MAX + 1];

        rc = ct_store_numbers_to_fetch(store, day, (size_t)rt->config->fetch_chunk, &numbers,
                                       &count);
        if (rc != CL_OK || count == 0) {
            free(numbers);
            break;
        }
        const char **list = calloc(count, sizeof(char *));
        if (list == NULL) {
            free(numbers);
            return CL_ERR_NOMEM;
        }
        for (size_t i = 0; i < count; i++)
            list[i] = numbers[i];
        new_request_id(rt, day, request_id, sizeof(request_id));
        rc = ct_store_fetch_begin(store, request_id, day, 0, list, count, err, errlen);
        free(list);
        if (rc == CL_OK)
            rc = send_request(rt, store, request_id, 0, numbers, count, err, errlen);
        free(numbers);
        if (rc == CL_ERR_PERMISSION) { /* refused for good: free the numbers, then stop */
            char why[256];
            ct_store_fetch_abandon(store, request_id, err, "comm-terminal", why, sizeof(why));
        }
        if (rc == CL_OK) {
            fetched += count;
            if (progress != NULL)
                fprintf(progress, "fetched %zu pack(s) for %s (request %s)\n", fetched, day,
                        request_id);
        }
    }
    if (rc == CL_OK)
        cl_log_info("fetch for %s: %zu new pack(s)", day, fetched);
    return rc;
}

/* If a request recorded earlier but never answered (ca-server was away) already asks for
 * device_number, resends it under its own id and returns 1 with its result in *rc; else 0. */
static int resend_pending_for(struct ct_runtime *rt, struct ct_store *store,
                              const char *device_number, int *rc, char *err, size_t errlen)
{
    struct ct_pending_fetch *pending = NULL;
    size_t count = 0;
    int found = 0;

    if (ct_store_fetch_pending(store, &pending, &count) != CL_OK)
        return 0;
    for (size_t i = 0; i < count && !found; i++)
        for (size_t j = 0; j < pending[i].count && !found; j++)
            if (strcmp(pending[i].numbers[j], device_number) == 0) {
                found = 1;
                *rc = send_request(rt, store, pending[i].request_id, pending[i].replacement,
                                   pending[i].numbers, pending[i].count, err, errlen);
            }
    ct_pending_fetch_free(pending, count);
    return found;
}

int ct_fetch_one(struct ct_runtime *rt, struct ct_store *store, const char *device_number,
                 int replacement, char *err, size_t errlen)
{
    char request_id[CT_REQUEST_ID_MAX + 1];
    char numbers[1][CT_DEVICE_NUMBER_MAX + 1];
    const char *list[1] = {numbers[0]};
    int rc;

    if (strlen(device_number) > CT_DEVICE_NUMBER_MAX) {
        snprintf(err, errlen, "device number too long");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (resend_pending_for(rt, store, device_number, &rc, err, errlen))
        return rc;
    strcpy(numbers[0], device_number);
    new_request_id(rt, replacement ? "repl" : "manual", request_id, sizeof(request_id));
    char day[11];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    rc = ct_store_fetch_begin(store, request_id, day, replacement, list, 1, err, errlen);
    if (rc == CL_OK)
        rc = send_request(rt, store, request_id, replacement, numbers, 1, err, errlen);
    return rc;
}

int ct_report_due(struct ct_runtime *rt, struct ct_store *store)
{
    struct ct_report *reports = NULL;
    size_t count = 0;
    int stored = 0;

    if (ct_store_reports_due(store, time(NULL), 100, &reports, &count) != CL_OK)
        return CL_ERR_DB;
    for (size_t i = 0; i < count; i++) {
        struct ct_report *r = &reports[i];
        struct ca__InstallationReport report = {r->device_number, r->serial_hex, r->proof,
                                                r->written_at};
        struct ca__InstallationReceipt receipt = {0};
        char why[512];
        int rc;

        pthread_mutex_lock(&rt->ca_lock);
        rc = soap_call___ca__InstallationReport(cl_client_soap(rt->ca), cl_client_endpoint(rt->ca),
                                                NULL, &report, &receipt);
        if (rc != SOAP_OK) {
            rc = cl_client_explain(rt->ca, why, sizeof(why));
        } else {
            struct cl_receipt signed_receipt = {receipt.deviceNumber, receipt.certificateSerial,
                                                receipt.verificationValue, receipt.receivedAt};
            /* Keep only a receipt that is about this installation and signed by our CA. */
            rc = strcmp(receipt.deviceNumber, r->device_number) != 0 ||
                         strcmp(receipt.certificateSerial, r->serial_hex) != 0 ||
                         strcmp(receipt.verificationValue, r->proof) != 0
                     ? CL_ERR_CRYPTO
                     : cl_receipt_verify(&signed_receipt, receipt.signature,
                                         receipt.signerCertificate, rt->root_pem, why, sizeof(why));
            if (rc == CL_ERR_CRYPTO && why[0] == '\0')
                snprintf(why, sizeof(why), "the receipt is for another installation");
            if (rc == CL_OK &&
                ct_store_receipt(store, r->id, receipt.receivedAt, receipt.signature,
                                 receipt.signerCertificate, rt->config->delete_written) == CL_OK)
                stored++;
        }
        cl_client_end_call(rt->ca);
        pthread_mutex_unlock(&rt->ca_lock);
        if (rc != CL_OK) {
            int delay = 1 << (r->attempts < 8 ? r->attempts : 8);
            if (delay > RETRY_MAX_S)
                delay = RETRY_MAX_S;
            cl_log_warn("installation report for %s not accepted yet: %s (retry in %d s)",
                        r->device_number, why, delay);
            ct_store_report_retry(store, r->id, time(NULL) + delay, why);
            if (rc == CL_ERR_CONNECT || rc == CL_ERR_CLOSED || rc == CL_ERR_TLS_HANDSHAKE) {
                free(reports);
                return CL_ERR_CONNECT; /* ca-server is away: try the rest later */
            }
        } else {
            cl_log_info("receipt for %s (%s) held", r->device_number, r->serial_hex);
        }
    }
    free(reports);
    return stored;
}
