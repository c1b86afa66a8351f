/* policy.c: the roles admitted to each operation. Mirrors the interface table of DESIGN.md. */
#include "policy.h"

#include <stdio.h>

#include "error.h"
#include "soapH.h"

static const struct cl_operation operations[] = {
    {"ca:CertificateTransmissionRequest", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:InstallationReport", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:CheckIn", CL_IFACE_CA, CL_ROLE_DEVICE},
    {"ca:RevocationList", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:Retire", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:Models", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ca:ReportBatch", CL_IFACE_CA, CL_ROLE_COMM_TERMINAL},
    {"ct:CertificateTransmissionRequest", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"ct:ReceptionNotice", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"ct:WriteResult", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"ct:RevocationList", CL_IFACE_COMM_TERMINAL, CL_ROLE_FACTORY_TERMINAL},
    {"dev:CertificateTransmission", CL_IFACE_DEVICE, CL_ROLE_FACTORY_TERMINAL},
    {"line:WriteResult", CL_IFACE_LINE, CL_ROLE_DEVICE | CL_ROLE_DEVICE_COMMON},
    {"ct:SubmitPlan", CL_IFACE_COMM_TERMINAL, CL_ROLE_PRODUCTION},
    {"ct:FetchNow", CL_IFACE_COMM_TERMINAL, CL_ROLE_PRODUCTION},
};

const char *cl_interface_name(enum cl_interface iface)
{
    switch (iface) {
    case CL_IFACE_CA:
        return "ca";
    case CL_IFACE_COMM_TERMINAL:
        return "comm-terminal";
    case CL_IFACE_DEVICE:
        return "device";
    case CL_IFACE_LINE:
        return "line";
    }
    return "unknown";
}

const struct cl_operation *cl_policy_operations(size_t *count)
{
    *count = sizeof(operations) / sizeof(operations[0]);
    return operations;
}

int cl_policy_admit(struct soap *soap, enum cl_interface served, const struct cl_peer *peer,
                    char *reason, size_t len)
{
    for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++) {
        const struct cl_operation *op = &operations[i];
        if (soap_match_tag(soap, soap->tag, op->element) != SOAP_OK)
            continue;
        if (op->iface != served) {
            snprintf(reason, len, "operation %s belongs to the %s interface; this server serves %s",
                     op->element, cl_interface_name(op->iface), cl_interface_name(served));
            return CL_ERR_PEER_ROLE;
        }
        if ((op->admitted_roles & (unsigned)peer->role) == 0) {
            snprintf(reason, len, "role %s (%s) is not admitted to %s on the %s interface",
                     cl_role_name(peer->role), peer->name[0] ? peer->name : "-", op->element,
                     cl_interface_name(served));
            return CL_ERR_PEER_ROLE;
        }
        return CL_OK;
    }
    return CL_ERR_NOT_FOUND;
}

const char *cl_policy_operation_name(struct soap *soap)
{
    for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]); i++)
        if (soap_match_tag(soap, soap->tag, operations[i].element) == SOAP_OK)
            return operations[i].element;
    return NULL;
}
