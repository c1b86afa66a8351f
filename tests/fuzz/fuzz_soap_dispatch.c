/* fuzz_soap_dispatch.c: fuzz target for a SOAP request as a certline server reads it: the bytes
 * that TLS would deliver (HTTP request and SOAP envelope) are read from memory by a gSOAP
 * context set up as a server's (cl_soap_apply_limits: strict XML, limits, namespaces, contract
 * patterns), then served as common/soap_server.c serves them: soap_begin_serve, the role policy
 * (cl_policy_admit) and the generated dispatcher soap_serve_request. The peer is a stub identity
 * with a role the policy admits for the operation the request names, so every operation's
 * generated parsing is reached; the handlers only validate, as there is no database here (the
 * device's handler parses the pack as the device does), and echo, so the answer is serialised
 * too. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "fuzz_common.h"
#include "input_check.h"
#include "pack.h"
#include "policy.h"
#include "soapH.h"
#include "soap_tls.h"
#include "test_pki.h"

/* The SOAP wire checks (common/wire_check.c, issue 12) come from another branch: once merged,
 * requests go through them as on a real server, with no change here. */
#if defined(__has_include)
#if __has_include("wire_check.h")
#include "wire_check.h"
#define CERTLINE_FUZZ_WIRE_CHECK 1
#endif
#endif
#ifndef CERTLINE_FUZZ_WIRE_CHECK
#define CERTLINE_FUZZ_WIRE_CHECK 0
#endif

struct input {
    const uint8_t *data;
    size_t size, at;
};

static size_t memory_recv(struct soap *soap, char *buf, size_t len)
{
    struct input *in = soap->user == NULL ? NULL : cl_soap_app(soap);
    size_t n;

    if (in == NULL)
        return 0;
    n = in->size - in->at < len ? in->size - in->at : len;
    memcpy(buf, in->data + in->at, n);
    in->at += n;
    return n;
}

static int memory_send(struct soap *soap, const char *buf, size_t len)
{
    (void)soap;
    (void)buf;
    (void)len;
    return SOAP_OK;
}

/* ---- handlers: validate, then echo ---- */

static int refuse(struct soap *soap, const char *what)
{
    return soap_sender_fault(soap, "Request refused", what);
}

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    int n = request->__sizeDeviceNumber;

    if (request->requestId == NULL || !cl_token_ok(request->requestId, 64) || n < 1 ||
        request->deviceNumber == NULL)
        return refuse(soap, "request id or device numbers");
    for (int i = 0; i < n; i++)
        if (!cl_wire_device_number_ok(request->deviceNumber[i]))
            return refuse(soap, "device number");
    return tp_answer_batch(soap, request, response, n, request->requestId);
}

int __ca__InstallationReport(struct soap *soap, struct ca__InstallationReport *request,
                             struct ca__InstallationReceipt *response)
{
    char value[CL_VERIFY_HEX_DIGITS + 1];

    if (!cl_wire_device_number_ok(request->deviceNumber) ||
        !cl_serial_ok(request->certificateSerial) ||
        !cl_verify_value_ok(request->verificationValue, value))
        return refuse(soap, "report fields");
    response->deviceNumber = request->deviceNumber;
    response->certificateSerial = request->certificateSerial;
    response->verificationValue = request->verificationValue;
    response->receivedAt = request->writtenAt;
    response->signature = "c2lnbmF0dXJl";
    response->signerCertificate = "-----BEGIN CERTIFICATE-----";
    return SOAP_OK;
}

int __ca__CheckIn(struct soap *soap, struct ca__CheckIn *request,
                  struct ca__CheckInResponse *response)
{
    if (request->claimedDeviceNumber != NULL &&
        !cl_wire_device_number_ok(request->claimedDeviceNumber))
        return refuse(soap, "claimed device number");
    response->deviceNumber = soap_strdup(soap, cl_soap_peer(soap)->number);
    response->state = ca__DeviceState__ISSUED;
    response->detail = request->claimedDeviceNumber;
    return SOAP_OK;
}

int __ct__CertificateTransmissionRequest(struct soap *soap,
                                         struct ct__CertificateTransmissionRequest *request,
                                         struct ct__CertificateTransmission *response)
{
    if (!cl_wire_device_number_ok(request->deviceNumber))
        return refuse(soap, "device number");
    response->deviceNumber = request->deviceNumber;
    response->pack = request->deviceNumber;
    return SOAP_OK;
}

int __ct__ReceptionNotice(struct soap *soap, struct ct__ReceptionNotice *request,
                          struct ct__ReceptionResponse *response)
{
    if (!cl_wire_device_number_ok(request->deviceNumber) ||
        (request->reason != NULL && !cl_utf8_ok(request->reason, 0, 512, 0)))
        return refuse(soap, "notice fields");
    response->deviceNumber = request->deviceNumber;
    response->result = request->result;
    response->reason = request->reason;
    return SOAP_OK;
}

int __ct__WriteResult(struct soap *soap, struct ct__WriteResult *request,
                      struct ct__ReceptionResponse *response)
{
    char value[CL_VERIFY_HEX_DIGITS + 1];

    if (!cl_wire_device_number_ok(request->deviceNumber) ||
        (request->certificateSerial != NULL && !cl_serial_ok(request->certificateSerial)) ||
        (request->verificationValue != NULL &&
         !cl_verify_value_ok(request->verificationValue, value)) ||
        (request->reason != NULL && !cl_utf8_ok(request->reason, 0, 512, 0)))
        return refuse(soap, "write result fields");
    response->deviceNumber = request->deviceNumber;
    response->result = request->result;
    response->reason = request->reason;
    return SOAP_OK;
}

int __dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                                   struct dev__ReceptionResponse *response)
{
    struct cl_pack pack;
    char err[256];

    if (!cl_wire_device_number_ok(request->deviceNumber) || request->pack == NULL)
        return refuse(soap, "device number or pack");
    if (cl_pack_parse(request->pack, &pack, err, sizeof(err)) != CL_OK)
        return refuse(soap, "pack");
    cl_pack_free(&pack);
    response->deviceNumber = request->deviceNumber;
    response->result = dev__Result__OK;
    return SOAP_OK;
}

int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                        struct line__ReceptionResponse *response)
{
    char value[CL_VERIFY_HEX_DIGITS + 1];

    if (!cl_wire_device_number_ok(request->deviceNumber) ||
        (request->certificateSerial != NULL && !cl_serial_ok(request->certificateSerial)) ||
        (request->verificationValue != NULL &&
         !cl_verify_value_ok(request->verificationValue, value)))
        return refuse(soap, "write result fields");
    response->deviceNumber = request->deviceNumber;
    response->result = request->result;
    response->reason = request->reason;
    return SOAP_OK;
}

/* ---- the target ---- */

/* A context set up as a certline server's for one connection, reading the input from memory as
 * if TLS had delivered it, with peer as the authenticated identity. Where the wire checks exist
 * (common/wire_check.h), they are installed as soap_server.c installs them. NULL if out of
 * memory. */
static struct soap *serving_context(struct input *in, const struct cl_peer *peer)
{
    struct cl_soap_limits limits;
    struct soap *soap = soap_new();

    if (soap == NULL)
        return NULL;
    cl_soap_limits_default(&limits);
    cl_soap_apply_limits(soap, &limits);
    soap->frecv = memory_recv;
    soap->fsend = memory_send;
    if (cl_soap_attach_plain(soap, peer) != CL_OK) {
        soap_free(soap);
        return NULL;
    }
    cl_soap_set_app(soap, in);
#if CERTLINE_FUZZ_WIRE_CHECK
    if (cl_wire_check_install(soap) != CL_OK) {
        cl_soap_tls_detach(soap);
        soap_free(soap);
        return NULL;
    }
#endif
    soap->keep_alive = 0;
    return soap;
}

static void release(struct soap *soap)
{
    soap_destroy(soap);
    soap_end(soap);
    cl_soap_tls_detach(soap);
    soap_free(soap);
}

/* The interface serving the operation the request names, and a role the policy admits for it
 * (the first in the table): a first reading of the request, up to its first body element. The
 * ca interface and no role when it names no certline operation. */
static void choose(const uint8_t *data, size_t size, enum cl_interface *iface, struct cl_peer *peer)
{
    static const struct cl_peer nobody;
    struct input in = {data, size, 0};
    struct soap *soap = serving_context(&in, &nobody);
    const char *name = NULL;
    const struct cl_operation *ops;
    size_t count;

    *iface = CL_IFACE_CA;
    memset(peer, 0, sizeof(*peer));
    if (soap != NULL && soap_begin_serve(soap) == SOAP_OK) {
        (void)soap_peek_element(soap);
        name = cl_policy_operation_name(soap);
    }
    ops = cl_policy_operations(&count);
    for (size_t i = 0; name != NULL && i < count; i++) {
        if (strcmp(ops[i].element, name) != 0)
            continue;
        *iface = ops[i].iface;
        for (unsigned bit = 1; bit != 0 && peer->role == CL_ROLE_NONE; bit <<= 1)
            if (ops[i].admitted_roles & bit)
                peer->role = (enum cl_role)bit;
        break;
    }
    if (soap != NULL)
        release(soap);
    snprintf(peer->name, sizeof(peer->name), "%s", "fuzz.certline.test");
    snprintf(peer->number, sizeof(peer->number), "%s",
             peer->role == CL_ROLE_DEVICE ? "3012-000001" : "1001");
    snprintf(peer->serial_hex, sizeof(peer->serial_hex), "%s", "0A1B");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size, 0};
    enum cl_interface iface;
    struct cl_peer peer;
    char reason[256];
    struct soap *soap;

    fuzz_init();
    choose(data, size, &iface, &peer);
    if ((soap = serving_context(&in, &peer)) == NULL)
        return 0;
    /* What soap_server.c's serve() does with one request. */
    if (soap_begin_serve(soap) == SOAP_OK) {
        (void)soap_peek_element(soap);
        if (cl_policy_admit(soap, iface, cl_soap_peer(soap), reason, sizeof(reason)) ==
            CL_ERR_PEER_ROLE) {
            soap_sender_fault(soap, "Not authorised", reason);
            (void)soap_send_fault(soap);
        } else if (soap_serve_request(soap) != SOAP_OK && soap->error != SOAP_OK &&
                   soap->error < SOAP_STOP) {
            soap_set_fault(soap);
            (void)soap_send_fault(soap);
        }
    }
    release(soap);
    return 0;
}
