/* ct_store_crl.h: the CRL the comm-terminal keeps (store/crl.c), so that after a restart with
 * ca-server away its lines still enforce the last one it fetched or an operator imported. */
#ifndef CERTLINE_CT_STORE_CRL_H
#define CERTLINE_CT_STORE_CRL_H

#include <stddef.h>
#include <time.h>

#include "ct_store.h"

/* Keeps a verified CRL (its DER as base64) in place of any older one, in one transaction;
 * a CRL of the same number or older than the one kept changes nothing. CL_OK or CL_ERR_DB. */
int ct_store_crl_keep(struct ct_store *store, unsigned long long number, time_t this_update,
                      time_t next_update, const char *crl_b64, char *err, size_t errlen);

/* The newest CRL kept (base64 DER, free()), or CL_ERR_NOT_FOUND if none. */
int ct_store_crl_latest(struct ct_store *store, char **crl_b64, char *err, size_t errlen);

#endif
