/* pack_transmission.c: S7/S8: the certificate pack, with this transmission's id and key, to the
 * device on the jig, and its reception response. */
#include "pack_transmission.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "input_check.h"
#include "result_report.h"
#include "soapH.h"
#include "soap_client.h"

#define WIRE_REASON_MAX 257 /* dev:Reason: at most 256 bytes */

int ft_transmit(const struct ft_config *config, struct cl_tls *tls,
                const struct cl_soap_limits *limits, const char *device_number,
                const struct cl_pack *pack, char *pack_text, const struct cl_transmission *tx,
                int *accepted, char *reason, size_t reasonlen)
{
    struct cl_client_settings settings;
    struct cl_client *device = NULL;
    struct dev__CertificateTransmission request = {0};
    struct dev__ReceptionResponse response = {0};
    char server_name[64], number[32], why[512];
    char id[CL_TRANSMISSION_ID_HEX + 1], key[CL_TRANSMISSION_KEY_HEX + 1];
    int rc;

    *accepted = 0;
    snprintf(server_name, sizeof(server_name), "%s common", pack->model_code);
    settings.endpoint = config->device_endpoint;
    settings.server_name = server_name;
    settings.server_role = CL_ROLE_DEVICE_COMMON;
    settings.limits = *limits;
    if ((rc = cl_client_new(&settings, tls, &device, why, sizeof(why))) != CL_OK) {
        snprintf(reason, reasonlen, "device unreachable: %s", why);
        return rc;
    }
    cl_copy_text(number, sizeof(number), device_number);
    cl_copy_text(id, sizeof(id), tx->id);
    cl_transmission_key_hex(tx, key);
    request.deviceNumber = number;
    request.pack = pack_text;
    request.transmissionId = id;
    request.transmissionKey = key;
    if (soap_call___dev__CertificateTransmission(cl_client_soap(device), cl_client_endpoint(device),
                                                 NULL, &request, &response) != SOAP_OK) {
        rc = cl_client_explain(device, why, sizeof(why));
        if (rc == CL_ERR_SOAP_FAULT)
            snprintf(reason, reasonlen, "device answered with a fault: %s", why);
        else if (rc == CL_ERR_TLS_PEER_VERIFY || rc == CL_ERR_PEER_NAME || rc == CL_ERR_PEER_ROLE)
            snprintf(reason, reasonlen,
                     "device not accepted (it must present the common certificate \"%.40s\" of "
                     "model %.16s): %.400s",
                     server_name, pack->model_code, why);
        else
            snprintf(reason, reasonlen, "device unreachable: %s", why);
    } else if (response.deviceNumber == NULL || strcmp(response.deviceNumber, device_number) != 0) {
        char shown[48];
        snprintf(reason, reasonlen, "device answered for %s, not %s",
                 cl_shown(response.deviceNumber, shown, sizeof(shown)), device_number);
        rc = CL_ERR_CONFLICT;
    } else {
        *accepted = response.result == dev__Result__OK;
        ft_clip_text(reason, reasonlen < WIRE_REASON_MAX ? reasonlen : WIRE_REASON_MAX,
                     response.reason ? response.reason : "");
        rc = CL_OK;
    }
    /* The key's text: our copy, and whatever of the request is left in gSOAP's buffer. */
    mbedtls_platform_zeroize(key, sizeof(key));
    mbedtls_platform_zeroize(cl_client_soap(device)->buf, sizeof(cl_client_soap(device)->buf));
    cl_client_free(device);
    return rc;
}
