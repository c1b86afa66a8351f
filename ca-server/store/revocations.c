/* store/revocations.c: what the CRL lists (every signed certificate the CA revoked) and its
 * number, taken in one transaction. */
#include "store_internal.h"

#include <stdint.h>

/* Device certificates superseded (always reason superseded) or revoked, and service certificates
 * revoked; intents never signed are left out. Both parts read partial indexes. */
#define REVOKED_SQL                                                                                \
    "SELECT serial, floor(extract(epoch FROM ended_at))::bigint,"                                  \
    " CASE WHEN state = 'superseded' THEN 4 ELSE coalesce(reason_code, 0) END"                     \
    " FROM certificate"                                                                            \
    " WHERE state IN ('superseded', 'revoked') AND issued_at IS NOT NULL"                          \
    " UNION ALL"                                                                                   \
    " SELECT serial, floor(extract(epoch FROM revoked_at))::bigint, reason_code"                   \
    " FROM service_certificate WHERE revoked_at IS NOT NULL"

/* How many certificates the CRL lists. A revocation only ever adds one and none is ever taken
 * back, so the count changes with every revocation that commits, in whatever order transactions
 * commit (a latest-time mark would miss one that started before and committed after another). Both
 * parts count partial indexes. */
#define MARK_SQL                                                                                   \
    "SELECT (SELECT count(*) FROM certificate"                                                     \
    "   WHERE state IN ('superseded', 'revoked') AND issued_at IS NOT NULL)"                       \
    " + (SELECT count(*) FROM service_certificate WHERE revoked_at IS NOT NULL)"

static void revoked_from_row(const PGresult *res, int row, void *out)
{
    struct ca_revoked *entry = out;
    cl_copy_text(entry->serial_hex, sizeof(entry->serial_hex), cl_pg_get_text(res, row, 0));
    entry->revoked_at = (time_t)cl_pg_get_ll(res, row, 1);
    entry->reason = (int)cl_pg_get_ll(res, row, 2);
}

static int read_mark(struct ca_store *store, long long *mark, char *err, size_t errlen)
{
    PGresult *res;
    int rc = cl_pg_query(store->db, &res, MARK_SQL, 0, NULL, err, errlen);
    if (rc != CL_OK)
        return rc;
    *mark = PQntuples(res) == 1 ? cl_pg_get_ll(res, 0, 0) : 0;
    PQclear(res);
    return CL_OK;
}

int ca_store_crl_snapshot(struct ca_store *store, struct ca_crl_snapshot *out, char *err,
                          size_t errlen)
{
    PGresult *res = NULL;
    int rc;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (store == NULL || out == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* The row lock of the number orders publishers; what they list is read after it. */
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "UPDATE crl_publication SET number = number + 1, published_at = now()"
                          " RETURNING number",
                          0, NULL, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) != 1) {
        PQclear(res);
        cl_err_set(err, errlen, "the CRL number is missing: run ca-server migrate");
        return cl_pg_fail(store->db, CL_ERR_STATE);
    }
    out->number = (unsigned long long)cl_pg_get_ll(res, 0, 0);
    PQclear(res);
    if ((rc = read_mark(store, &out->mark, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, REVOKED_SQL, 0, NULL, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    {
        int n = 0;
        out->entries = cl_pg_rows(res, sizeof(*out->entries), &n); /* clears res if NULL */
        if (out->entries == NULL) {
            cl_err_set(err, errlen, "out of memory listing %d revoked certificates", n);
            return cl_pg_fail(store->db, CL_ERR_NOMEM);
        }
        for (int i = 0; i < n; i++)
            revoked_from_row(res, i, &out->entries[i]);
        out->count = (size_t)n;
        PQclear(res);
    }
    if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK) {
        ca_crl_snapshot_clear(out);
        return cl_pg_fail(store->db, rc);
    }
    return CL_OK;
}

void ca_crl_snapshot_clear(struct ca_crl_snapshot *snapshot)
{
    if (snapshot == NULL)
        return;
    free(snapshot->entries);
    memset(snapshot, 0, sizeof(*snapshot));
}

int ca_store_revocation_mark(struct ca_store *store, long long *mark, char *err, size_t errlen)
{
    int rc;

    if (mark != NULL)
        *mark = 0;
    if (store == NULL || mark == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_ready(store->db, err, errlen)) != CL_OK)
        return rc;
    return read_mark(store, mark, err, errlen);
}

int ca_store_crl_number_at_least(struct ca_store *store, unsigned long long number, char *err,
                                 size_t errlen)
{
    char text[24];
    const char *values[] = {text};
    int rc;

    if (store == NULL || number > (unsigned long long)INT64_MAX) {
        cl_err_set(err, errlen, "no store, or a CRL number beyond the database's range");
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(text, sizeof(text), "%llu", number);
    if ((rc = cl_pg_ready(store->db, err, errlen)) != CL_OK)
        return rc;
    return cl_pg_query(store->db, NULL,
                       "UPDATE crl_publication SET number = greatest(number, $1::bigint)", 1,
                       values, err, errlen);
}

int ca_store_crl_keep(struct ca_store *store, const struct ca_crl_kept *crl, char *err,
                      size_t errlen)
{
    char number[24], mark[24], this_update[24], next_update[24];
    const char *values[] = {number, (const char *)crl->der, mark, this_update, next_update};
    const int lengths[] = {0, (int)crl->der_len, 0, 0, 0};
    const int formats[] = {0, 1, 0, 0, 0};
    int rc;

    if (store == NULL || crl->der == NULL || crl->der_len == 0 || crl->der_len > (64u << 20) ||
        crl->number > (unsigned long long)INT64_MAX) {
        cl_err_set(err, errlen, "no store, or a CRL that cannot be kept");
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(number, sizeof(number), "%llu", crl->number);
    snprintf(mark, sizeof(mark), "%lld", crl->mark);
    snprintf(this_update, sizeof(this_update), "%lld", (long long)crl->this_update);
    snprintf(next_update, sizeof(next_update), "%lld", (long long)crl->next_update);
    if ((rc = cl_pg_ready(store->db, err, errlen)) != CL_OK)
        return rc;
    return cl_pg_exec(store->db, NULL,
                      "UPDATE crl_publication SET crl_number = $1::bigint, crl_der = $2,"
                      " crl_mark = $3::bigint, crl_this_update = $4::bigint,"
                      " crl_next_update = $5::bigint"
                      " WHERE crl_number IS NULL OR crl_number < $1::bigint",
                      5, values, lengths, formats, 0, err, errlen);
}

int ca_store_crl_newest(struct ca_store *store, unsigned long long newer_than,
                        struct ca_crl_kept *out, char *err, size_t errlen)
{
    char text[24];
    const char *values[] = {text};
    PGresult *res;
    int rc;

    memset(out, 0, sizeof(*out));
    if (store == NULL || newer_than > (unsigned long long)INT64_MAX) {
        cl_err_set(err, errlen, "no store, or a CRL number beyond the database's range");
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(text, sizeof(text), "%llu", newer_than);
    if ((rc = cl_pg_ready(store->db, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT crl_number, crl_mark, crl_this_update, crl_next_update,"
                          " CASE WHEN crl_number > $1::bigint THEN crl_der END"
                          " FROM crl_publication WHERE crl_number IS NOT NULL",
                          1, values, err, errlen)) != CL_OK)
        return rc;
    if (PQntuples(res) == 1) {
        out->number = (unsigned long long)cl_pg_get_ll(res, 0, 0);
        out->mark = cl_pg_get_ll(res, 0, 1);
        out->this_update = (time_t)cl_pg_get_ll(res, 0, 2);
        out->next_update = (time_t)cl_pg_get_ll(res, 0, 3);
        if (!PQgetisnull(res, 0, 4)) {
            size_t len = 0;
            unsigned char *der =
                PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 4), &len);
            if (der != NULL && len > 0 && (out->der = malloc(len)) != NULL) {
                memcpy(out->der, der, len);
                out->der_len = len;
            } else {
                cl_err_set(err, errlen, "out of memory for CRL number %llu", out->number);
                rc = CL_ERR_NOMEM;
            }
            PQfreemem(der);
        }
    }
    PQclear(res);
    return rc;
}

void ca_crl_kept_clear(struct ca_crl_kept *crl)
{
    if (crl == NULL)
        return;
    free(crl->der);
    memset(crl, 0, sizeof(*crl));
}
