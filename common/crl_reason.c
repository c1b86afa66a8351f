/* crl_reason.c: CRLReason codes to names and back (RFC 5280 5.3.1). */
#include "crl_reason.h"

#include <stdio.h>
#include <strings.h>

#include "error.h"

static const struct {
    enum cl_crl_reason code;
    const char *name;
} reasons[] = {
    {CL_CRL_REASON_UNSPECIFIED, "unspecified"},
    {CL_CRL_REASON_KEY_COMPROMISE, "keyCompromise"},
    {CL_CRL_REASON_CA_COMPROMISE, "cACompromise"},
    {CL_CRL_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
    {CL_CRL_REASON_SUPERSEDED, "superseded"},
    {CL_CRL_REASON_CESSATION_OF_OPERATION, "cessationOfOperation"},
    {CL_CRL_REASON_CERTIFICATE_HOLD, "certificateHold"},
    {CL_CRL_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
};

#define REASON_COUNT (sizeof(reasons) / sizeof(reasons[0]))

const char *cl_crl_reason_name(int code)
{
    for (size_t i = 0; i < REASON_COUNT; i++)
        if ((int)reasons[i].code == code)
            return reasons[i].name;
    return NULL;
}

int cl_crl_reason_valid(int code)
{
    return cl_crl_reason_name(code) != NULL;
}

int cl_crl_reason_parse(const char *name, enum cl_crl_reason *out, char *err, size_t errlen)
{
    for (size_t i = 0; name != NULL && i < REASON_COUNT; i++)
        if (strcasecmp(name, reasons[i].name) == 0) {
            *out = reasons[i].code;
            return CL_OK;
        }
    cl_err_set(err, errlen,
               "unknown revocation reason \"%.40s\": use unspecified, keyCompromise, "
               "cACompromise, affiliationChanged, superseded, cessationOfOperation, "
               "certificateHold or privilegeWithdrawn",
               name != NULL ? name : "");
    return CL_ERR_INVALID_ARGUMENT;
}
