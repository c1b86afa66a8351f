/* installation.c: installation reports checked against the expected proof and answered with
 * receipts signed by the issuing CA, one at a time or a batch at once (installation.h). */
#include "installation.h"

#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "log.h"
#include "metrics_catalog.h"
#include "receipt.h"

/* The class of a refused report, for certline_installation_reports_refused_total. */
static const char *refusal_class(int rc)
{
    switch (rc) {
    case CL_ERR_CRYPTO:
        return "proof";
    case CL_ERR_NOT_FOUND:
        return "unknown";
    case CL_ERR_STATE:
    case CL_ERR_CONFLICT:
        return "state";
    case CL_ERR_PERMISSION:
        return "factory";
    default:
        return "other";
    }
}

/* The fault string the ca interface answers for a report refused with rc (counted). */
static const char *refusal_of(int rc)
{
    CL_METRIC_INC(CL_M_REPORTS_REFUSED, refusal_class(rc));
    return rc == CL_ERR_CRYPTO ? "Installation proof rejected" : "Installation report refused";
}

/* A receipt could not be signed: the report is answered "Receipt failed" (counted). */
static int receipt_failed(int rc, const char **refusal, char *err, size_t errlen)
{
    snprintf(err, errlen, "the receipt could not be signed");
    *refusal = "Receipt failed";
    CL_METRIC_INC(CL_M_REPORTS_REFUSED, "receipt");
    return rc;
}

/* A receipt given (counted and logged). */
static void receipt_given(const char *device_number, const char *serial_hex)
{
    CL_METRIC_INC0(CL_M_RECEIPTS_SIGNED);
    cl_log_info("%s (%s) installed", device_number, serial_hex);
}

/* Signs the receipt of an installation the store has recorded. */
static int sign_receipt(struct ca_runtime *runtime, const char *device_number,
                        const char *serial_hex, const char *proof, time_t received_at,
                        char **signature_b64, const char **refusal, char *err, size_t errlen)
{
    struct cl_receipt receipt = {device_number, serial_hex, proof, received_at};
    int rc = cl_receipt_sign(ca_authority_signer(runtime->authority), &receipt, signature_b64);

    if (rc != CL_OK)
        return receipt_failed(rc, refusal, err, errlen);
    receipt_given(device_number, serial_hex);
    return CL_OK;
}

/* The receipts of the batch's recorded installations (rc CL_OK) signed at once, under one
 * manifest (receipt.h): *signature_b64 (malloc'd), or NULL when none was recorded. If the
 * manifest cannot be signed, each of them is answered "Receipt failed". */
static void sign_manifest(struct ca_runtime *runtime, struct ca_install_item *items,
                          const char **refusals, size_t count, char **signature_b64)
{
    struct cl_receipt *receipts = calloc(count, sizeof(*receipts));
    char *manifest = NULL, err[256] = "out of memory";
    size_t n = 0;
    int rc = CL_ERR_NOMEM;

    for (size_t i = 0; receipts != NULL && i < count; i++)
        if (items[i].rc == CL_OK)
            receipts[n++] = (struct cl_receipt){items[i].device_number, items[i].serial_hex,
                                                items[i].value, items[i].received_at};
    if (receipts != NULL && n == 0) {
        free(receipts);
        return;
    }
    if (receipts != NULL)
        rc = cl_receipt_batch_sign(ca_authority_signer(runtime->authority), receipts, n, &manifest,
                                   signature_b64, err, sizeof(err));
    if (rc != CL_OK)
        cl_log_error("the receipts of a batch of %zu could not be signed: %s", n, err);
    for (size_t i = 0; i < count; i++) {
        struct ca_install_item *item = &items[i];
        if (item->rc != CL_OK)
            continue;
        if (rc != CL_OK)
            item->rc = receipt_failed(rc, &refusals[i], item->err, sizeof(item->err));
        else
            receipt_given(item->device_number, item->serial_hex);
    }
    free(manifest);
    free(receipts);
}

int ca_installation_receipt(struct ca_runtime *runtime, struct ca_store *store,
                            const char *device_number, const char *serial_hex, const char *proof,
                            time_t *received_at, char **signature_b64, const char **refusal,
                            char *err, size_t errlen)
{
    int rc;

    *signature_b64 = NULL;
    *received_at = 0;
    CL_METRIC_INC0(CL_M_REPORTS_RECEIVED);
    rc = ca_store_install(store, device_number, serial_hex, proof, time(NULL), received_at, err,
                          errlen);
    if (rc != CL_OK) {
        cl_log_warn("installation report for %s (%s) refused: %s", device_number, serial_hex, err);
        *refusal = refusal_of(rc);
        return rc;
    }
    return sign_receipt(runtime, device_number, serial_hex, proof, *received_at, signature_b64,
                        refusal, err, errlen);
}

int ca_installation_receipts(struct ca_runtime *runtime, struct ca_store *store,
                             struct ca_install_item *items, char **signatures_b64,
                             const char **refusals, size_t count, char **batch_signature_b64,
                             char *err, size_t errlen)
{
    int rc;

    for (size_t i = 0; i < count; i++) {
        signatures_b64[i] = NULL;
        refusals[i] = NULL;
    }
    if (batch_signature_b64 != NULL)
        *batch_signature_b64 = NULL;
    cl_metric_add(CL_M_REPORTS_RECEIVED, (long long)count, NULL);
    if ((rc = ca_store_install_batch(store, items, count, time(NULL), err, errlen)) != CL_OK) {
        cl_log_warn("a batch of %zu installation reports failed: %s", count, err);
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        struct ca_install_item *item = &items[i];
        if (item->rc != CL_OK) {
            cl_log_warn("installation report for %s (%s) refused: %s", item->device_number,
                        item->serial_hex, item->err);
            refusals[i] = refusal_of(item->rc);
        } else if (batch_signature_b64 == NULL) {
            item->rc = sign_receipt(runtime, item->device_number, item->serial_hex, item->value,
                                    item->received_at, &signatures_b64[i], &refusals[i], item->err,
                                    sizeof(item->err));
        }
    }
    if (batch_signature_b64 != NULL)
        sign_manifest(runtime, items, refusals, count, batch_signature_b64);
    return CL_OK;
}
