/* installation.c: an installation report checked against the expected proof and answered with
 * a receipt signed by the issuing CA (installation.h). */
#include "installation.h"

#include <stdio.h>

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
        *refusal =
            rc == CL_ERR_CRYPTO ? "Installation proof rejected" : "Installation report refused";
        CL_METRIC_INC(CL_M_REPORTS_REFUSED, refusal_class(rc));
        return rc;
    }
    struct cl_receipt receipt = {device_number, serial_hex, proof, *received_at};
    rc = cl_receipt_sign(ca_authority_signer(runtime->authority), &receipt, signature_b64);
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
