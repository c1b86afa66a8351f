/* crl_reason.h: the CRLReason codes of RFC 5280 5.3.1 and their names, shared by the CRL writer
 * (crl_build.c), the CRL reader (crl_check.c) and the programs that take a reason from an
 * operator. */
#ifndef CERTLINE_CRL_REASON_H
#define CERTLINE_CRL_REASON_H

#include <stddef.h>

enum cl_crl_reason {
    CL_CRL_REASON_UNSPECIFIED = 0,
    CL_CRL_REASON_KEY_COMPROMISE = 1,
    CL_CRL_REASON_CA_COMPROMISE = 2,
    CL_CRL_REASON_AFFILIATION_CHANGED = 3,
    CL_CRL_REASON_SUPERSEDED = 4,
    CL_CRL_REASON_CESSATION_OF_OPERATION = 5,
    CL_CRL_REASON_CERTIFICATE_HOLD = 6,
    /* 7 is not used; removeFromCRL (8) belongs to delta CRLs, which certline does not write */
    CL_CRL_REASON_PRIVILEGE_WITHDRAWN = 9,
};

/* The RFC 5280 name of a code ("keyCompromise", "superseded", ...); NULL for a code certline does
 * not write (7, 8, 10 and anything outside 0..10). */
const char *cl_crl_reason_name(int code);

/* A reason name, case-insensitive ("keyCompromise", "KEYCOMPROMISE", "superseded", ...), to its
 * code. Returns CL_OK, or CL_ERR_INVALID_ARGUMENT for an unknown or NULL name, with a message in
 * err (if not NULL) that lists the accepted names. */
int cl_crl_reason_parse(const char *name, enum cl_crl_reason *out, char *err, size_t errlen);

/* 1 if certline writes and accepts code as a CRL entry's reason, else 0. */
int cl_crl_reason_valid(int code);

#endif
