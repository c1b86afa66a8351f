/* p11_internal.h: what p11_token.c shares with p11_keys.c and p11_pk.c (the token struct, the
 * session pool and the names of PKCS#11 return values); not part of the API in p11.h. */
#ifndef CERTLINE_P11_INTERNAL_H
#define CERTLINE_P11_INTERNAL_H

#include <pthread.h>

#include <p11-kit/pkcs11.h>

#include "p11.h"

struct cl_p11_module;

struct cl_p11_token {
    struct cl_p11_module *module;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    pthread_mutex_t lock;
    pthread_cond_t freed;
    int count, free_count;
    CK_SESSION_HANDLE sessions[CL_P11_SESSIONS_MAX];
    CK_SESSION_HANDLE free_list[CL_P11_SESSIONS_MAX];
};

/* Borrows a session from the pool, waiting while all are in use; cl_p11i_give_back returns it. */
CK_SESSION_HANDLE cl_p11i_borrow(struct cl_p11_token *t);
void cl_p11i_give_back(struct cl_p11_token *t, CK_SESSION_HANDLE s);

/* "CKR_PIN_INCORRECT" etc.; "CKR_0x..." (static buffer per thread) for others. */
const char *cl_p11i_rv_name(CK_RV rv);

/* The CL_ERR_* code for a CKR_* value. */
int cl_p11i_rv_code(CK_RV rv);

#endif
