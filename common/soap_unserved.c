/* soap_unserved.c: default handlers for every certline operation, so that each program links the
 * one generated dispatcher and defines only the handlers of the interface it serves. The policy
 * (policy.c) refuses another interface's operation before dispatch, so these answer only if a
 * program forgot a handler of its own interface. They are weak: a program's handler wins. */
#include "soapH.h"

#define UNSERVED(op)                                                                               \
    return soap_receiver_fault(soap, "Operation not served", op " is not served by this program")

__attribute__((weak)) int
__ca__CertificateTransmissionRequest(struct soap *soap,
                                     struct ca__CertificateTransmissionRequest *request,
                                     struct ca__CertificateTransmission *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:CertificateTransmissionRequest");
}

__attribute__((weak)) int __ca__InstallationReport(struct soap *soap,
                                                   struct ca__InstallationReport *request,
                                                   struct ca__InstallationReceipt *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:InstallationReport");
}

__attribute__((weak)) int __ca__CheckIn(struct soap *soap, struct ca__CheckIn *request,
                                        struct ca__CheckInResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:CheckIn");
}

__attribute__((weak)) int
__ct__CertificateTransmissionRequest(struct soap *soap,
                                     struct ct__CertificateTransmissionRequest *request,
                                     struct ct__CertificateTransmission *response)
{
    (void)request;
    (void)response;
    UNSERVED("ct:CertificateTransmissionRequest");
}

__attribute__((weak)) int __ct__ReceptionNotice(struct soap *soap,
                                                struct ct__ReceptionNotice *request,
                                                struct ct__ReceptionResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ct:ReceptionNotice");
}

__attribute__((weak)) int __ct__WriteResult(struct soap *soap, struct ct__WriteResult *request,
                                            struct ct__ReceptionResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ct:WriteResult");
}

__attribute__((weak)) int
__dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                               struct dev__ReceptionResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("dev:CertificateTransmission");
}

__attribute__((weak)) int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                                              struct line__ReceptionResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("line:WriteResult");
}

__attribute__((weak)) int __ca__RevocationList(struct soap *soap,
                                               struct ca__RevocationList *request,
                                               struct ca__RevocationListResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:RevocationList");
}

__attribute__((weak)) int __ca__Retire(struct soap *soap, struct ca__Retire *request,
                                       struct ca__RetireResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:Retire");
}

__attribute__((weak)) int __ct__RevocationList(struct soap *soap,
                                               struct ct__RevocationList *request,
                                               struct ct__RevocationListResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ct:RevocationList");
}

__attribute__((weak)) int __ct__SubmitPlan(struct soap *soap, struct ct__SubmitPlan *request,
                                           struct ct__SubmitPlanResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ct:SubmitPlan");
}

__attribute__((weak)) int __ct__FetchNow(struct soap *soap, struct ct__FetchNow *request,
                                         struct ct__FetchNowResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ct:FetchNow");
}

__attribute__((weak)) int __ca__Models(struct soap *soap, struct ca__Models *request,
                                       struct ca__ModelsResponse *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:Models");
}

__attribute__((weak)) int __ca__ReportBatch(struct soap *soap, struct ca__ReportBatch *request,
                                            struct ca__ReceiptBatch *response)
{
    (void)request;
    (void)response;
    UNSERVED("ca:ReportBatch");
}
