/* line_service.c: the SOAP handlers of the comm-terminal interface, for the factory terminals:
 * S5/S6 the pack of one device number, S9 reception, S11/S12 the write result (after commit; on
 * NG a replacement is fetched and stored before the answer, unless ca-server was found away a
 * moment ago; a line never waits long on ca-server: ca_reach.h). The line id comes from the factory
 * terminal's certificate, never from the request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ct_metrics.h"
#include "ct_runtime.h"
#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_tls.h"

static int fault(struct soap *soap, int rc, const char *what, const char *detail)
{
    if (rc == CL_ERR_DB || rc == CL_ERR_NOMEM || rc == CL_ERR_INTERNAL) {
        cl_log_error("%s: %s", what, detail);
        return soap_receiver_fault(soap, what, soap_strdup(soap, detail));
    }
    return soap_sender_fault(soap, what, soap_strdup(soap, detail));
}

int __ct__CertificateTransmissionRequest(struct soap *soap,
                                         struct ct__CertificateTransmissionRequest *request,
                                         struct ct__CertificateTransmission *response)
{
    struct ct_runtime *rt = cl_soap_app(soap);
    const char *line = cl_soap_peer(soap)->number;
    char err[512], serial[CT_SERIAL_HEX_MAX + 1], *pack = NULL;
    struct ct_store *store = cl_pool_acquire(rt->pool);
    int rc = ct_store_claim(store, request->deviceNumber, line, (int)rt->config->claim_seconds,
                            &pack, serial, err, sizeof(err));
    if (rc == CL_ERR_STATE && ct_store_awaits_replacement(store, request->deviceNumber)) {
        /* Its replacement could not be fetched when the write failed (ca-server away): try
         * again now, so that the re-scan provisions it. */
        char why[256];
        if (ct_fetch_one(rt, store, request->deviceNumber, 1, CT_CA_LINE, why, sizeof(why)) ==
            CL_OK)
            rc = ct_store_claim(store, request->deviceNumber, line, (int)rt->config->claim_seconds,
                                &pack, serial, err, sizeof(err));
        else
            snprintf(err, sizeof(err),
                     "%.32s failed earlier; its replacement cannot be fetched "
                     "yet: %.256s",
                     request->deviceNumber, why);
    }
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        cl_log_warn("line %s asked for %s: refused: %s", line, request->deviceNumber, err);
        ct_metrics_line_result(request->deviceNumber, "NG", "no_pack");
        return fault(soap, rc, "Certificate not available", err);
    }
    response->deviceNumber = request->deviceNumber;
    response->pack = soap_strdup(soap, pack);
    free(pack);
    cl_log_info("line %s: pack of %s (%s) sent", line, request->deviceNumber, serial);
    ct_metrics_pack_sent(request->deviceNumber);
    return SOAP_OK;
}

int __ct__ReceptionNotice(struct soap *soap, struct ct__ReceptionNotice *notice,
                          struct ct__ReceptionResponse *response)
{
    struct ct_runtime *rt = cl_soap_app(soap);
    const char *line = cl_soap_peer(soap)->number;
    char err[256] = "";
    int rc = CL_OK;

    if (notice->result == ct__Result__OK) {
        struct ct_store *store = cl_pool_acquire(rt->pool);
        rc = ct_store_delivered(store, notice->deviceNumber, line, err, sizeof(err));
        cl_pool_release(rt->pool, store);
        if (rc != CL_OK)
            return fault(soap, rc, "Reception not recorded", err);
    } else {
        /* The device refused the pack before writing (e.g. a mislabelled plate): the pack is
         * still good for the right device; the claim lapses after claim_seconds. */
        cl_log_warn("line %s: %s refused its pack: %s", line, notice->deviceNumber,
                    notice->reason ? notice->reason : "no reason given");
        ct_metrics_line_result(notice->deviceNumber, "NG", "pack_refused");
    }
    response->deviceNumber = notice->deviceNumber;
    response->result = ct__Result__OK;
    return SOAP_OK;
}

int __ct__WriteResult(struct soap *soap, struct ct__WriteResult *result,
                      struct ct__ReceptionResponse *response)
{
    struct ct_runtime *rt = cl_soap_app(soap);
    const char *line = cl_soap_peer(soap)->number;
    struct ct_store *store = cl_pool_acquire(rt->pool);
    char err[512] = "";
    int rc;

    response->deviceNumber = result->deviceNumber;
    response->result = ct__Result__OK;
    if (result->result == ct__Result__OK) {
        if (result->certificateSerial == NULL || result->verificationValue == NULL) {
            cl_pool_release(rt->pool, store);
            return fault(soap, CL_ERR_INVALID_ARGUMENT, "Write result refused",
                         "an OK write result needs the certificate serial and the proof");
        }
        rc = ct_store_written(store, result->deviceNumber, line, result->certificateSerial,
                              result->verificationValue, time(NULL), err, sizeof(err));
        cl_pool_release(rt->pool, store);
        if (rc != CL_OK)
            return fault(soap, rc, "Write result not recorded", err);
        cl_log_info("line %s: %s written (%s)", line, result->deviceNumber,
                    result->certificateSerial);
        ct_metrics_line_result(result->deviceNumber, "OK", "written");
        return SOAP_OK;
    }
    rc = ct_store_failed(store, result->deviceNumber, line,
                         result->reason ? result->reason : "NG without a reason", err, sizeof(err));
    if (rc != CL_OK) {
        cl_pool_release(rt->pool, store);
        return fault(soap, rc, "Write result not recorded", err);
    }
    ct_metrics_line_result(result->deviceNumber, "NG", "write_failed");
    /* Ask ca-server for a replacement now, so that a re-scan provisions again. */
    rc = ct_fetch_one(rt, store, result->deviceNumber, 1, CT_CA_LINE_UNLESS_AWAY, err, sizeof(err));
    cl_pool_release(rt->pool, store);
    response->replacementReady = soap_malloc(soap, sizeof(*response->replacementReady));
    if (response->replacementReady != NULL)
        *response->replacementReady = rc == CL_OK ? true_ : false_;
    if (rc != CL_OK) {
        cl_log_warn("line %s: %s failed; no replacement yet: %s", line, result->deviceNumber, err);
        response->reason = soap_strdup(soap, "recorded; the replacement could not be fetched yet");
    } else {
        cl_log_info("line %s: %s failed (%s); replacement stored", line, result->deviceNumber,
                    result->reason ? result->reason : "-");
    }
    return SOAP_OK;
}
