/* ca_link.c: the comm-terminal's calls to ca-server for packs: FIG 21 requests in two halves
 * (sent, then answered, the answer checked and copied out; the request id is recorded before
 * sending, so a restart resends it and gets the same packs) and single fetches (replacements,
 * manual entries). Installation reports and receipts: report_link.c. */
#include "ca_fetch.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "client_failover.h"
#include "ct_crl.h"
#include "error.h"
#include "log.h"
#include "pack.h"
#include "soapH.h"
#include "x509_issue.h"

int ct_runtime_link(struct ct_runtime *rt, char *err, size_t errlen)
{
    const struct ct_config *c = rt->config;
    struct cl_tls_settings tls_settings;
    struct cl_client_settings settings;
    size_t len;
    int rc;

    ct_ca_reach_init(rt);
    pthread_mutex_init(&rt->fetch_lock, NULL);
    ct_fetch_progress_init(&rt->fetch_progress);
    if ((rc = cl_event_log_open(c->events_file, &rt->events, err, errlen)) != CL_OK)
        return rc;
    cl_tls_config_settings(&c->tls, &tls_settings);
    if ((rc = cl_tls_new(CL_TLS_CLIENT, &tls_settings, &rt->client_tls, err, errlen)) != CL_OK)
        return rc;
    /* ca-server too is checked against the CRL held (ct_crl.c). */
    if ((rc = ct_crl_open(rt, err, errlen)) != CL_OK ||
        (rc = cl_tls_check_revocation(rt->client_tls, ct_crl_holder(rt))) != CL_OK)
        return rc;
    if ((rc = ct_ca_endpoints_open(rt, &settings, err, errlen)) != CL_OK)
        return rc;
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
    ct_ca_endpoints_close(rt);
    cl_tls_free(rt->client_tls);
    free(rt->root_pem);
    cl_event_log_close(rt->events);
    rt->events = NULL;
    rt->ca = NULL;
    rt->client_tls = NULL;
    rt->root_pem = NULL;
    ct_ca_reach_free(rt);
    pthread_mutex_destroy(&rt->fetch_lock);
    ct_fetch_progress_free(&rt->fetch_progress);
}

int ct_ca_refused(struct ct_runtime *rt, int rc, const char *const *faults)
{
    /* Only a Sender fault that ca-server sent means it refuses for good (gSOAP: SOAP_CLI_FAULT);
     * a Receiver fault, an answer not understood or a lost connection is worth sending again. */
    struct soap *soap = cl_client_soap(rt->ca);
    const char **code = soap_faultcode(soap), **text = soap_faultstring(soap);
    if (rc != CL_ERR_SOAP_FAULT ||
        !(soap->error == SOAP_CLI_FAULT || (soap->error == SOAP_FAULT && code != NULL &&
                                            *code != NULL && strstr(*code, "Sender") != NULL)))
        return 0;
    /* A Sender fault of the transport (a role, a size) is no refusal of this content. */
    for (; faults != NULL && *faults != NULL; faults++)
        if (text != NULL && *text != NULL && strcmp(*text, *faults) == 0)
            return 1;
    return faults == NULL;
}

void ct_answer_free(struct ct_answer *answer)
{
    if (answer == NULL)
        return;
    free(answer->items);
    free(answer->serials);
    free(answer->text);
    memset(answer, 0, sizeof(*answer));
}

/* Sends request on rt->ca (ca_lock held), to the next instance while the connection fails;
 * on failure the call is ended. */
static int send_request(struct ct_runtime *rt, const struct ct_pending_fetch *request, int *attempt,
                        char *err, size_t errlen)
{
    struct ca__CertificateTransmissionRequest message = {0};
    char **list = calloc(request->count > 0 ? request->count : 1, sizeof(char *));
    char id[CT_REQUEST_ID_MAX + 1];
    int rc = CL_OK;

    if (list == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < request->count; i++)
        list[i] = request->numbers[i];
    snprintf(id, sizeof(id), "%s",
             request->request_id); /* the generated struct wants it writable */
    message.requestId = id;
    message.replacement = request->replacement ? true_ : false_;
    message.__sizeDeviceNumber = (int)request->count;
    message.deviceNumber = list;

    /* The whole message is written before this returns: list and id may go. */
    while (soap_send___ca__CertificateTransmissionRequest(
               cl_client_soap(rt->ca), cl_client_endpoint(rt->ca), NULL, &message) != SOAP_OK) {
        rc = cl_client_explain(rt->ca, err, errlen);
        cl_client_end_call(rt->ca);
        if (!ct_ca_failover(rt, rc, attempt, request->request_id))
            break;
        rc = CL_OK;
    }
    free(list);
    return rc;
}

/* ct_ca_send, the link taken as how says (ca_reach.h). */
static int take_and_send(struct ct_runtime *rt, const struct ct_pending_fetch *request,
                         enum ct_ca_wait how, char *err, size_t errlen)
{
    int attempt = 0, rc;

    if ((rc = ct_ca_take(rt, how, err, errlen)) != CL_OK)
        return rc;
    if ((rc = send_request(rt, request, &attempt, err, errlen)) != CL_OK)
        ct_ca_give(rt, rc);
    return rc;
}

int ct_ca_send(struct ct_runtime *rt, const struct ct_pending_fetch *request, char *err,
               size_t errlen)
{
    return take_and_send(rt, request, CT_CA_WAIT, err, errlen);
}

/* Copies the answer's numbers and packs out of gSOAP's memory (it goes with the call). */
static int copy_answer(const struct ca__CertificateTransmission *message,
                       const struct ct_pending_fetch *request, struct ct_answer *answer)
{
    size_t size = 0, at = 0, count = request->count;

    for (size_t i = 0; i < count; i++)
        size += strlen(message->item[i].deviceNumber) + strlen(message->item[i].pack) + 2;
    answer->items = calloc(count, sizeof(*answer->items));
    answer->serials = calloc(count, sizeof(*answer->serials));
    answer->text = malloc(size > 0 ? size : 1);
    if (answer->items == NULL || answer->serials == NULL || answer->text == NULL)
        return CL_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) {
        const char *fields[2] = {message->item[i].deviceNumber, message->item[i].pack};
        const char *copies[2];
        for (int k = 0; k < 2; k++) {
            size_t n = strlen(fields[k]) + 1;
            memcpy(answer->text + at, fields[k], n);
            copies[k] = answer->text + at;
            at += n;
        }
        answer->items[i] = (struct ct_pack_item){copies[0], answer->serials[i], copies[1]};
    }
    snprintf(answer->request_id, sizeof(answer->request_id), "%s", request->request_id);
    answer->replacement = request->replacement;
    answer->count = count;
    return CL_OK;
}

int ct_ca_receive(struct ct_runtime *rt, const struct ct_pending_fetch *request,
                  struct ct_answer *answer, char *err, size_t errlen)
{
    struct ca__CertificateTransmission message = {0};
    struct soap *soap = cl_client_soap(rt->ca);
    int rc = CL_OK, attempt = 0;

    memset(answer, 0, sizeof(*answer));
    while (soap_recv___ca__CertificateTransmissionRequest(soap, &message) != SOAP_OK) {
        rc = cl_client_explain(rt->ca, err, errlen);
        if (ct_ca_refused(rt, rc, NULL))
            rc = CL_ERR_PERMISSION; /* ca-server refused the request */
        /* The connection failed before the answer: the same request (same id, so the same
         * packs) to the next instance. */
        if (!cl_failover_connection_failed(rc))
            goto out;
        cl_client_end_call(rt->ca);
        if (!ct_ca_failover(rt, rc, &attempt, request->request_id) ||
            (rc = send_request(rt, request, &attempt, err, errlen)) != CL_OK) {
            ct_ca_give(rt, rc);
            return rc;
        }
        memset(&message, 0, sizeof(message));
    }
    if (message.__sizeItem != (int)request->count || message.item == NULL ||
        message.requestId == NULL || strcmp(message.requestId, request->request_id) != 0) {
        snprintf(err, errlen, "ca-server answered request %s with %d packs for %zu numbers",
                 request->request_id, message.__sizeItem, request->count);
        rc = CL_ERR_PARSE;
        goto out;
    }
    /* Every pack for the number asked, in order (the packs themselves: ct_answer_check). */
    for (size_t i = 0; i < request->count; i++)
        if (message.item[i].deviceNumber == NULL || message.item[i].pack == NULL ||
            strcmp(message.item[i].deviceNumber, request->numbers[i]) != 0) {
            snprintf(err, errlen, "ca-server's pack for %s is not acceptable", request->numbers[i]);
            rc = CL_ERR_PARSE;
            goto out;
        }
    if ((rc = copy_answer(&message, request, answer)) != CL_OK) {
        snprintf(err, errlen, "out of memory");
        ct_answer_free(answer);
    }
out:
    cl_client_end_call(rt->ca);
    ct_ca_give(rt, rc);
    return rc;
}

int ct_answer_check(struct ct_answer *answer, char *err, size_t errlen)
{
    for (size_t i = 0; i < answer->count; i++) {
        struct ct_pack_item *item = &answer->items[i];
        struct cl_pack pack = {0};
        char why[200];
        /* Well formed, and issued for the number it is given for. */
        int rc = cl_pack_parse(item->pack, &pack, why, sizeof(why));
        if (rc == CL_OK && (strcmp(pack.device_number, item->device_number) != 0 ||
                            strlen(pack.serial_hex) >= sizeof(answer->serials[i]))) {
            snprintf(why, sizeof(why), "%s",
                     strcmp(pack.device_number, item->device_number) != 0
                         ? "it is for another device number"
                         : "its serial is too long");
            rc = CL_ERR_PARSE;
        }
        if (rc == CL_OK)
            strcpy(answer->serials[i], pack.serial_hex);
        cl_pack_free(&pack);
        if (rc != CL_OK) {
            snprintf(err, errlen, "ca-server's pack for %s is not acceptable: %s",
                     item->device_number, why);
            return CL_ERR_PARSE;
        }
    }
    return CL_OK;
}

/* Sends one recorded request, checks its answer and stores it, one step after the other. */
static int fetch_now(struct ct_runtime *rt, struct ct_store *store,
                     const struct ct_pending_fetch *request, enum ct_ca_wait how, char *err,
                     size_t errlen)
{
    struct ct_answer answer = {0};
    int rc = take_and_send(rt, request, how, err, errlen);
    if (rc == CL_OK)
        rc = ct_ca_receive(rt, request, &answer, err, errlen);
    if (rc == CL_OK)
        rc = ct_answer_check(&answer, err, errlen);
    if (rc == CL_OK)
        rc = ct_store_fetch_complete(store, request->request_id, answer.items, answer.count, err,
                                     errlen);
    ct_answer_free(&answer);
    if (rc == CL_ERR_PERMISSION) {
        /* Refused for good (e.g. another factory's number): given up, so that it is not resent
         * in place of the next request for the number. */
        char why[256];
        if (ct_store_fetch_abandon(store, request->request_id, err, "comm-terminal", why,
                                   sizeof(why)) != CL_OK)
            cl_log_warn("request %s: %s", request->request_id, why);
    }
    return rc;
}

/* If a request recorded earlier but never answered (ca-server was away) already asks for
 * device_number, resends it under its own id and returns 1 with its result in *rc; else 0. */
static int resend_pending_for(struct ct_runtime *rt, struct ct_store *store,
                              const char *device_number, enum ct_ca_wait how, int *rc, char *err,
                              size_t errlen)
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
                *rc = fetch_now(rt, store, &pending[i], how, err, errlen);
            }
    ct_pending_fetch_free(pending, count);
    return found;
}

int ct_fetch_one(struct ct_runtime *rt, struct ct_store *store, const char *device_number,
                 int replacement, enum ct_ca_wait how, char *err, size_t errlen)
{
    char numbers[1][CT_DEVICE_NUMBER_MAX + 1];
    const char *list[1] = {numbers[0]};
    struct ct_pending_fetch request = {.replacement = replacement, .count = 1, .numbers = numbers};
    int rc;

    if (strlen(device_number) > CT_DEVICE_NUMBER_MAX) {
        snprintf(err, errlen, "device number too long");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (resend_pending_for(rt, store, device_number, how, &rc, err, errlen))
        return rc;
    strcpy(numbers[0], device_number);
    if ((rc = ct_new_request_id(rt->config->factory, replacement ? "repl" : "manual",
                                request.request_id, sizeof(request.request_id))) != CL_OK) {
        snprintf(err, errlen, "no request id could be drawn: %s", cl_err_str(rc));
        return rc;
    }
    char day[11];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    rc = ct_store_fetch_begin(store, request.request_id, day, replacement, list, 1, err, errlen);
    if (rc == CL_OK)
        rc = fetch_now(rt, store, &request, how, err, errlen);
    return rc;
}

/* The installation reports and their receipts: report_link.c. */
