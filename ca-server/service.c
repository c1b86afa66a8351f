/* service.c: the SOAP handlers of the ca interface: validate, call the core, map errors to faults.
 * The transport has already checked the peer's role (common/policy.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl_publisher.h"
#include "error.h"
#include "installation.h"
#include "issuer.h"
#include "keyfile.h"
#include "log.h"
#include "soapH.h"
#include "soap_tls.h"

/* Whether rc is what the caller got wrong (a Sender fault) rather than what failed here. */
static int senders_fault(int rc)
{
    switch (rc) {
    case CL_ERR_INVALID_ARGUMENT:
    case CL_ERR_CONFLICT:
    case CL_ERR_EXISTS:
    case CL_ERR_NOT_FOUND:
    case CL_ERR_STATE:
    case CL_ERR_CRYPTO:
    case CL_ERR_PERMISSION: /* another factory's device number or request id */
        return 1;
    default:
        return 0;
    }
}

/* Sender faults for what the caller got wrong, receiver faults for what failed here. */
static int fault(struct soap *soap, int rc, const char *what, const char *detail)
{
    if (senders_fault(rc))
        return soap_sender_fault(soap, what, soap_strdup(soap, detail));
    cl_log_error("%s: %s", what, detail);
    return soap_receiver_fault(soap, what, soap_strdup(soap, detail));
}

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    const struct cl_peer *peer = cl_soap_peer(soap);
    int n = request->__sizeDeviceNumber;
    struct ca_batch_item *items;
    struct ca_store *store;
    char err[512];
    int rc;

    if (n < 1 || n > runtime->config->max_batch) {
        snprintf(err, sizeof(err), "a request holds 1 to %lld device numbers, not %d",
                 runtime->config->max_batch, n);
        return fault(soap, CL_ERR_INVALID_ARGUMENT, "Batch refused", err);
    }
    items = calloc((size_t)n, sizeof(*items));
    if (items == NULL)
        return fault(soap, CL_ERR_NOMEM, "Batch failed", "out of memory");
    struct ca_batch_request batch = {
        .request_id = request->requestId,
        .replacement = request->replacement == true_,
        .requester = peer->name,
        .device_numbers = (const char *const *)request->deviceNumber,
        .count = (size_t)n,
    };
    store = ca_db_pool_acquire(runtime->pool);
    rc = ca_issue_batch(runtime, store, &batch, items, err, sizeof(err));
    ca_db_pool_release(runtime->pool, store);
    if (rc != CL_OK) {
        ca_batch_items_free(items, (size_t)n);
        free(items);
        cl_log_warn("batch %s from %s refused: %s", request->requestId, peer->name, err);
        if (rc == CL_ERR_STATE && ca_authority_issuing_not_after(runtime->authority) <= time(NULL))
            return soap_receiver_fault(soap, "Batch failed", soap_strdup(soap, err));
        return fault(soap, rc,
                     rc == CL_ERR_INTERNAL || rc == CL_ERR_DB ? "Batch failed" : "Batch refused",
                     err);
    }
    /* A replacement superseded certificates: a new CRL lists them. */
    if (batch.replacement)
        ca_crl_publisher_kick(runtime->crl);
    response->requestId = request->requestId;
    response->__sizeItem = n;
    response->item = soap_malloc(soap, sizeof(*response->item) * (size_t)n);
    if (response->item == NULL) {
        ca_batch_items_free(items, (size_t)n);
        free(items);
        return fault(soap, CL_ERR_NOMEM, "Batch failed", "out of memory");
    }
    for (int i = 0; i < n; i++) {
        response->item[i].deviceNumber = soap_strdup(soap, items[i].device_number);
        response->item[i].pack = soap_strdup(soap, items[i].pack);
    }
    ca_batch_items_free(items, (size_t)n);
    free(items);
    return SOAP_OK;
}

int __ca__InstallationReport(struct soap *soap, struct ca__InstallationReport *report,
                             struct ca__InstallationReceipt *receipt)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    struct ca_store *store;
    time_t received_at = 0;
    const char *refusal = NULL;
    char err[256], *signature = NULL;
    int rc;

    store = ca_db_pool_acquire(runtime->pool);
    rc = ca_installation_receipt(runtime, store, report->deviceNumber, report->certificateSerial,
                                 report->verificationValue, &received_at, &signature, &refusal, err,
                                 sizeof(err));
    ca_db_pool_release(runtime->pool, store);
    if (rc != CL_OK)
        return fault(soap, rc, refusal, err);
    receipt->deviceNumber = report->deviceNumber;
    receipt->certificateSerial = report->certificateSerial;
    receipt->verificationValue = report->verificationValue;
    receipt->receivedAt = received_at;
    receipt->signature = soap_strdup(soap, signature);
    receipt->signerCertificate = soap_strdup(soap, ca_authority_issuing_pem(runtime->authority));
    free(signature);
    return SOAP_OK;
}

/* The outcome of one report of a batch, as ca:InstallationReport would have answered it. */
static int report_outcome(struct soap *soap, const struct ca__InstallationReport *report,
                          const struct ca_install_item *item, const char *signature,
                          const char *refusal, char *signer, struct ca__ReportOutcome *outcome)
{
    outcome->deviceNumber = report->deviceNumber;
    outcome->certificateSerial = report->certificateSerial;
    if (item->rc != CL_OK) {
        outcome->verdict =
            senders_fault(item->rc) ? ca__ReportVerdict__REFUSED : ca__ReportVerdict__FAILED;
        outcome->refusal = soap_strdup(soap, refusal);
        outcome->reason = soap_strdup(soap, item->err);
        return outcome->refusal != NULL && outcome->reason != NULL ? CL_OK : CL_ERR_NOMEM;
    }
    outcome->verdict = ca__ReportVerdict__RECEIPT;
    if ((outcome->receipt = soap_malloc(soap, sizeof(*outcome->receipt))) == NULL)
        return CL_ERR_NOMEM;
    *outcome->receipt = (struct ca__InstallationReceipt){
        report->deviceNumber, report->certificateSerial,    report->verificationValue,
        item->received_at,    soap_strdup(soap, signature), signer,
    };
    return outcome->receipt->signature != NULL ? CL_OK : CL_ERR_NOMEM;
}

int __ca__ReportBatch(struct soap *soap, struct ca__ReportBatch *request,
                      struct ca__ReceiptBatch *response)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    int n = request->__sizeReport;
    /* A comm-terminal that verifies receipts as a batch asks for manifest version 1. */
    int as_batch = request->receiptManifest != NULL && *request->receiptManifest == 1;
    struct ca_install_item *items = NULL;
    const char **refusals = NULL;
    char **signatures = NULL, *signer, *batch_signature = NULL, err[512];
    struct ca_store *store;
    int rc = CL_ERR_NOMEM;

    if (n < 1 || n > CA_REPORT_BATCH_MAX || request->report == NULL) {
        snprintf(err, sizeof(err), "a batch holds 1 to %d installation reports, not %d",
                 CA_REPORT_BATCH_MAX, n);
        return fault(soap, CL_ERR_INVALID_ARGUMENT, "Report batch refused", err);
    }
    items = calloc((size_t)n, sizeof(*items));
    signatures = calloc((size_t)n, sizeof(*signatures));
    refusals = calloc((size_t)n, sizeof(*refusals));
    response->outcome = soap_malloc(soap, sizeof(*response->outcome) * (size_t)n);
    signer = soap_strdup(soap, ca_authority_issuing_pem(runtime->authority));
    snprintf(err, sizeof(err), "out of memory");
    if (items != NULL && signatures != NULL && refusals != NULL && response->outcome != NULL &&
        signer != NULL) {
        for (int i = 0; i < n; i++)
            items[i] = (struct ca_install_item){.device_number = request->report[i].deviceNumber,
                                                .serial_hex = request->report[i].certificateSerial,
                                                .value = request->report[i].verificationValue};
        store = ca_db_pool_acquire(runtime->pool);
        rc = ca_installation_receipts(runtime, store, items, signatures, refusals, (size_t)n,
                                      as_batch ? &batch_signature : NULL, err, sizeof(err));
        ca_db_pool_release(runtime->pool, store);
    }
    memset(response->outcome, 0, response->outcome ? sizeof(*response->outcome) * (size_t)n : 0);
    response->manifestSignature = NULL;
    if (rc == CL_OK && batch_signature != NULL &&
        (response->manifestSignature = soap_strdup(soap, batch_signature)) == NULL)
        rc = CL_ERR_NOMEM;
    /* Batch-signed: each receipt carries the manifest's signature. */
    for (int i = 0; rc == CL_OK && i < n; i++)
        rc = report_outcome(soap, &request->report[i], &items[i],
                            as_batch ? batch_signature : signatures[i], refusals[i], signer,
                            &response->outcome[i]);
    response->__sizeOutcome = n;
    for (int i = 0; signatures != NULL && i < n; i++)
        free(signatures[i]);
    free(signatures);
    free(batch_signature);
    free(refusals);
    free(items);
    if (rc != CL_OK)
        return fault(soap, rc, "Receipts failed", err);
    return SOAP_OK;
}

static enum ca__DeviceState wire_state(enum ca_cert_state state)
{
    switch (state) {
    case CA_CERT_INSTALLED:
        return ca__DeviceState__INSTALLED;
    case CA_CERT_INTENT:
    case CA_CERT_ISSUED:
        return ca__DeviceState__ISSUED;
    case CA_CERT_SUPERSEDED:
        return ca__DeviceState__SUPERSEDED;
    case CA_CERT_REVOKED:
        return ca__DeviceState__REVOKED;
    case CA_CERT_UNKNOWN:
        break;
    }
    return ca__DeviceState__UNKNOWN;
}

int __ca__CheckIn(struct soap *soap, struct ca__CheckIn *request,
                  struct ca__CheckInResponse *response)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    const struct cl_peer *peer = cl_soap_peer(soap);
    struct ca_cert_row row;
    struct ca_store *store;
    char detail[256] = "";
    int rc;

    /* The device number comes from the verified certificate, never from the body. */
    if (strcmp(peer->name, peer->number) != 0)
        return fault(soap, CL_ERR_INVALID_ARGUMENT, "Check-in refused",
                     "the certificate's CN and serialNumber differ");
    store = ca_db_pool_acquire(runtime->pool);
    rc = ca_store_cert_state(store, peer->number, peer->serial_hex, &row);
    ca_db_pool_release(runtime->pool, store);
    if (rc != CL_OK && rc != CL_ERR_NOT_FOUND)
        return fault(soap, rc, "Check-in failed", "the certificate database is unavailable");
    if (rc == CL_ERR_NOT_FOUND)
        row.state = CA_CERT_UNKNOWN;
    if (request->claimedDeviceNumber != NULL &&
        strcmp(request->claimedDeviceNumber, peer->number) != 0)
        snprintf(detail, sizeof(detail), "the device says it is %s, its certificate says %s",
                 request->claimedDeviceNumber, peer->number);
    response->deviceNumber = soap_strdup(soap, peer->number);
    response->state = wire_state(row.state);
    response->certificateSerial = soap_strdup(soap, peer->serial_hex);
    response->detail = detail[0] ? soap_strdup(soap, detail) : NULL;
    cl_log_info("check-in of %s (%s): %s", peer->number, peer->serial_hex,
                ca_cert_state_name(row.state));
    return SOAP_OK;
}

static void *soap_alloc(void *soap, size_t size)
{
    return soap_malloc(soap, size);
}

int __ca__RevocationList(struct soap *soap, struct ca__RevocationList *request,
                         struct ca__RevocationListResponse *response)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    struct ca_crl_answer answer;
    int rc;

    rc = ca_crl_publisher_answer(runtime->crl, request->heldNumber, soap_alloc, soap, &answer);
    if (rc == CL_ERR_NOT_FOUND)
        return soap_receiver_fault(soap, "No CRL",
                                   "ca-server has not published a CRL yet: try again later");
    if (rc != CL_OK)
        return fault(soap, rc, "CRL failed", "out of memory");
    response->number = answer.number;
    response->thisUpdate = answer.this_update;
    response->nextUpdate = answer.next_update;
    response->crl = answer.crl_b64;
    return SOAP_OK;
}

/* Packs the calling comm-terminal deleted unwritten: revoked, cessationOfOperation. */
int __ca__Retire(struct soap *soap, struct ca__Retire *request, struct ca__RetireResponse *response)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    const struct cl_peer *peer = cl_soap_peer(soap);
    const char *why =
        request->reason == ca__RetireReason__DISCONTINUED ? "DISCONTINUED" : "EXPIRED_STOCK";
    struct ca_store *store;
    size_t retired = 0;
    char err[512] = "";
    int rc;

    if (request->__sizeCertificateSerial < 1 || request->__sizeCertificateSerial > 1000)
        return fault(soap, CL_ERR_INVALID_ARGUMENT, "Retirement refused",
                     "a retirement names 1 to 1000 certificate serials");
    store = ca_db_pool_acquire(runtime->pool);
    rc = ca_store_retire(store, peer->name, why, (const char *const *)request->certificateSerial,
                         (size_t)request->__sizeCertificateSerial, &retired, err, sizeof(err));
    ca_db_pool_release(runtime->pool, store);
    if (rc != CL_OK) {
        cl_log_warn("retirement (%s) from %s refused: %s", why, peer->name, err);
        return fault(soap, rc,
                     rc == CL_ERR_DB || rc == CL_ERR_INTERNAL ? "Retirement failed"
                                                              : "Retirement refused",
                     err);
    }
    response->retired = (int)retired;
    ca_crl_publisher_kick(runtime->crl); /* the retired certificates go into the next CRL */
    cl_log_info("%zu certificate(s) retired (%s) for %s", retired, why, peer->name);
    return SOAP_OK;
}

/* The one model list [FIG 19A]: the models asked for (none: all) with their flag. */
int __ca__Models(struct soap *soap, struct ca__Models *request, struct ca__ModelsResponse *response)
{
    struct ca_runtime *runtime = cl_soap_app(soap);
    struct ca_model *models = NULL;
    struct ca_store *store;
    size_t count = 0;
    int rc, n = 0;

    store = ca_db_pool_acquire(runtime->pool);
    rc = ca_store_model_list(store, &models, &count);
    ca_db_pool_release(runtime->pool, store);
    if (rc != CL_OK)
        return fault(soap, rc, "Models failed", "the model list is unavailable");
    response->model = count > 0 ? soap_malloc(soap, sizeof(*response->model) * count) : NULL;
    if (count > 0 && response->model == NULL) {
        free(models);
        return fault(soap, CL_ERR_NOMEM, "Models failed", "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        int asked = request->__sizeModelCode <= 0;
        for (int k = 0; !asked && k < request->__sizeModelCode; k++)
            asked = strcmp(request->modelCode[k], models[i].code) == 0;
        if (!asked)
            continue;
        response->model[n].code = soap_strdup(soap, models[i].code);
        response->model[n].certificateManaged = models[i].certificate_managed ? true_ : false_;
        n++;
    }
    response->__sizeModel = n;
    free(models);
    return SOAP_OK;
}
