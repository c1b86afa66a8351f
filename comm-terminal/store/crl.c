/* store/crl.c: the CRL kept by the comm-terminal (table crl, migration 2): the newest only. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_store_crl.h"

int ct_store_crl_keep(struct ct_store *store, unsigned long long number, time_t this_update,
                      time_t next_update, const char *crl_b64, char *err, size_t errlen)
{
    char num[24], this_text[24], next_text[24];
    const char *values[] = {num, this_text, next_text, crl_b64};
    PGresult *res = NULL;
    int rc;

    if (store == NULL || crl_b64 == NULL || number == 0)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(num, sizeof(num), "%llu", number);
    snprintf(this_text, sizeof(this_text), "%lld", (long long)this_update);
    snprintf(next_text, sizeof(next_text), "%lld", (long long)next_update);
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    rc = cl_pg_query(store->db, &res,
                     "INSERT INTO crl (number, this_update, next_update, crl)"
                     " SELECT $1::numeric, to_timestamp($2::bigint), to_timestamp($3::bigint), $4"
                     " WHERE NOT EXISTS (SELECT 1 FROM crl WHERE number >= $1::numeric)",
                     4, values, err, errlen);
    PQclear(res);
    res = NULL;
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, &res, "DELETE FROM crl WHERE number < $1::numeric", 1, values,
                         err, errlen);
    PQclear(res);
    return cl_pg_finish(store->db, rc, err, errlen);
}

int ct_store_crl_latest(struct ct_store *store, char **crl_b64, char *err, size_t errlen)
{
    PGresult *res = NULL;
    int rc;

    *crl_b64 = NULL;
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, errlen)) != CL_OK)
        return rc;
    rc = cl_pg_query(store->db, &res, "SELECT crl FROM crl ORDER BY number DESC LIMIT 1", 0, NULL,
                     err, errlen);
    if (rc == CL_OK && PQntuples(res) == 0)
        rc = CL_ERR_NOT_FOUND;
    if (rc == CL_OK && (*crl_b64 = strdup(cl_pg_get_text(res, 0, 0))) == NULL)
        rc = CL_ERR_NOMEM;
    PQclear(res);
    return rc;
}
