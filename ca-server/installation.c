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

/* Signs the receipt of an installation the store has recorded. */
static int sign_receipt(struct ca_runtime *runtime, const char *device_number,
                        const char *serial_hex, const char *proof, time_t received_at,
                        char **signature_b64, const char **refusal, char *err, size_t errlen)
{
    struct cl_receipt receipt = {device_number, serial_hex, proof, received_at};
    int rc = cl_receipt_sign(ca_authority_signer(runtime->authority), &receipt, signature_b64);

    if (rc != CL_OK) {
        snprintf(err, errlen, "the receipt could not be signed");
        *refusal = "Receipt failed";
        CL_METRIC_INC(CL_M_REPORTS_REFUSED, "receipt");
        return rc;
    }
    CL_METRIC_INC0(CL_M_RECEIPTS_SIGNED);
    cl_log_info("%s (%s) installed", device_number, serial_hex);
    return CL_OK;
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
                             const char **refusals, size_t count, char *err, size_t errlen)
{
    int rc;

    for (size_t i = 0; i < count; i++) {
        signatures_b64[i] = NULL;
        refusals[i] = NULL;
    }
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
        } else {
            item->rc = sign_receipt(runtime, item->device_number, item->serial_hex, item->value,
                                    item->received_at, &signatures_b64[i], &refusals[i], item->err,
                                    sizeof(item->err));
        }
    }
    return CL_OK;
}
