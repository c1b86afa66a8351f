/* write_result_service.c: the SOAP handler of the line interface: a device's write result (S10)
 * is checked and handed to the station, and the comm-terminal's verdict goes back as the
 * reception response (S13). A report that does not fit the device in progress, or whose MAC does
 * not prove it answers that device's S7, gets a Sender fault with the reason. */
#include "write_result_service.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "input_check.h"
#include "log.h"
#include "soapH.h"
#include "soap_tls.h"

/* gSOAP puts a fault detail into the message as XML: the reason goes in as escaped text. */
static const char *xml_text(struct soap *soap, const char *text)
{
    size_t n = 0, i = 0;
    char *out;

    for (const char *t = text; *t; t++)
        n += *t == '&' ? 5 : (*t == '<' || *t == '>') ? 4 : 1;
    if ((out = soap_malloc(soap, n + 1)) == NULL)
        return "(out of memory)";
    for (; *text; text++) {
        const char *entity = *text == '&'   ? "&amp;"
                             : *text == '<' ? "&lt;"
                             : *text == '>' ? "&gt;"
                                            : NULL;
        if (entity != NULL) {
            memcpy(out + i, entity, strlen(entity));
            i += strlen(entity);
        } else {
            out[i++] = *text;
        }
    }
    out[i] = '\0';
    return out;
}

int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                        struct line__ReceptionResponse *response)
{
    struct ft_station *station = cl_soap_app(soap);
    const struct cl_peer *peer = cl_soap_peer(soap);
    struct ft_write_report report;
    struct ft_write_answer answer;
    char why[512], who[160];
    int rc;

    memset(&report, 0, sizeof(report));
    if (station == NULL)
        return soap_receiver_fault(soap, "Line not ready", "the factory terminal is starting");
    /* gSOAP has checked the patterns and lengths of the wire contract (strict mode); the copies
     * are bounded again here. */
    if (request->deviceNumber == NULL ||
        strlen(request->deviceNumber) >= sizeof(report.device_number) ||
        (request->reason != NULL && strlen(request->reason) >= sizeof(report.reason)) ||
        (request->transmissionId != NULL &&
         strlen(request->transmissionId) >= sizeof(report.transmission_id)) ||
        (request->resultMac != NULL && strlen(request->resultMac) >= sizeof(report.mac)) ||
        (request->certificateSerial != NULL &&
         strlen(request->certificateSerial) >= sizeof(report.serial)) ||
        (request->verificationValue != NULL &&
         strlen(request->verificationValue) >= sizeof(report.verification)))
        return soap_sender_fault(soap, "Write result refused", "a field exceeds its bound");
    cl_copy_text(report.device_number, sizeof(report.device_number), request->deviceNumber);
    report.ok = request->result == line__Result__OK;
    /* As sent, since the MAC covers them; the station clips the reason once it is verified. */
    cl_copy_text(report.reason, sizeof(report.reason), request->reason);
    cl_copy_text(report.serial, sizeof(report.serial), request->certificateSerial);
    cl_copy_text(report.verification, sizeof(report.verification), request->verificationValue);
    cl_copy_text(report.transmission_id, sizeof(report.transmission_id), request->transmissionId);
    cl_copy_text(report.mac, sizeof(report.mac), request->resultMac);

    rc = ft_station_write_result(station, peer, &report, &answer, why, sizeof(why));
    if (rc != CL_OK) {
        cl_peer_describe(peer, who, sizeof(who));
        cl_log_warn("line: write result from %s refused: %s", who, why);
        return soap_sender_fault(soap, "Write result refused", xml_text(soap, why));
    }
    response->deviceNumber = request->deviceNumber;
    response->result = answer.ok ? line__Result__OK : line__Result__NG;
    response->reason = answer.reason[0] ? soap_strdup(soap, answer.reason) : NULL;
    return SOAP_OK;
}
