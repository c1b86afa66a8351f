/* store/fetch.c: FIG 21 fetches from ca-server: the request recorded before it is sent. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fetching from ca-server [S1/S2] ---- */

/* A PostgreSQL array literal of device numbers (validated: no character needs quoting). */
static char *number_array(const char *const *numbers, size_t count)
{
    size_t len = 3, at = 0;
    char *out;
    for (size_t i = 0; i < count; i++)
        len += strlen(numbers[i]) + 1;
    if ((out = malloc(len)) == NULL)
        return NULL;
    out[at++] = '{';
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(numbers[i]);
        if (i > 0)
            out[at++] = ',';
        memcpy(out + at, numbers[i], n);
        at += n;
    }
    out[at++] = '}';
    out[at] = '\0';
    return out;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first number listed twice, or NULL. */
static const char *duplicate_number(const char *const *numbers, size_t count, int *nomem)
{
    const char **sorted = malloc((count > 0 ? count : 1) * sizeof(*sorted));
    const char *dup = NULL;
    *nomem = sorted == NULL;
    if (sorted == NULL)
        return NULL;
    memcpy(sorted, numbers, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), compare_strings);
    for (size_t i = 1; i < count && dup == NULL; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* Checks a request id; err names it. */
int cts_request_id_ok(const char *request_id, char *err, size_t errlen)
{
    char buf[48];
    if (cl_token_ok(request_id, CT_REQUEST_ID_MAX))
        return 1;
    cl_err_set(err, errlen, "request id \"%s\" must be 1 to %d printable characters without spaces",
               cl_shown(request_id, buf, sizeof(buf)), CT_REQUEST_ID_MAX);
    return 0;
}

/* The request is recorded already: the same numbers in the same order and the same kind are a
 * repeated begin (CL_OK); anything else is CL_ERR_CONFLICT. */
static int begin_known(struct ct_store *store, const char *request_id, int replacement,
                       const char *const *numbers, size_t count, char *err, size_t errlen)
{
    const char *values[] = {request_id};
    PGresult *res;
    int rc, same;

    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT r.replacement, r.state, f.device_number FROM fetch_request r"
                          " JOIN fetch_item f USING (request_id) WHERE r.request_id = $1"
                          " ORDER BY f.position",
                          1, values, err, errlen)) != CL_OK)
        return rc;
    same = (size_t)PQntuples(res) == count && cl_pg_get_bool(res, 0, 0) == (replacement != 0);
    for (size_t i = 0; same && i < count; i++)
        same = strcmp(cl_pg_get_text(res, (int)i, 2), numbers[i]) == 0;
    if (!same) {
        cl_err_set(err, errlen, "request id %s was recorded with other device numbers", request_id);
        rc = CL_ERR_CONFLICT;
    } else if (strcmp(cl_pg_get_text(res, 0, 1), "abandoned") == 0) {
        cl_err_set(err, errlen, "request id %s was abandoned; use a new one", request_id);
        rc = CL_ERR_STATE;
    }
    PQclear(res);
    return rc;
}

static int fetch_begin_once(struct ct_store *store, const char *request_id, const char *day,
                            int replacement, const char *const *numbers, size_t count, char *err,
                            size_t errlen)
{
    char count_text[24], buf[48], *list = NULL;
    const char *values[5];
    const char *dup;
    PGresult *res;
    int rc, nomem;

    if (store == NULL || (numbers == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store or device numbers");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cts_request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cts_day_ok(day, NULL)) {
        cl_err_set(err, errlen, "request %s: \"%s\" is not a date (YYYY-MM-DD)", request_id,
                   cl_shown(day, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count < 1 || count > CT_FETCH_MAX) {
        cl_err_set(err, errlen, "request %s: 1 to %d device numbers, not %zu", request_id,
                   CT_FETCH_MAX, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++)
        if (!cts_device_number_ok(numbers[i]))
            return cts_number_refused(request_id, numbers[i], err, errlen);
    dup = duplicate_number(numbers, count, &nomem);
    if (nomem) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    if (dup != NULL) {
        cl_err_set(err, errlen, "request %s: device number %s is listed twice", request_id, dup);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((list = number_array(numbers, count)) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    snprintf(count_text, sizeof(count_text), "%zu", count);
    values[0] = request_id;
    values[1] = list;
    values[2] = day;
    values[3] = replacement ? "true" : "false";
    values[4] = count_text;

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        goto out;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT 1 FROM fetch_request WHERE request_id = $1", 1,
                          values, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) > 0) {
        PQclear(res);
        if ((rc = begin_known(store, request_id, replacement, numbers, count, err, errlen)) ==
            CL_OK)
            rc = cl_pg_commit(store->db, err, errlen);
        goto fail;
    }
    PQclear(res);
    /* Every number of a known, certificate-managed model. */
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT u.n, split_part(u.n, '-', 1), m.certificate_managed"
                          " FROM unnest($1::text[]) WITH ORDINALITY AS u (n, i)"
                          " LEFT JOIN model m ON m.code = split_part(u.n, '-', 1)"
                          " WHERE m.code IS NULL OR NOT m.certificate_managed ORDER BY u.i LIMIT 1",
                          1, values + 1, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        cl_err_set(err, errlen, "request %s: device number %s: device model %s is %s", request_id,
                   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                   PQgetisnull(res, 0, 2) ? "not registered" : "not certificate-managed");
        PQclear(res);
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    PQclear(res);
    const char *request_values[] = {request_id, day, values[3], count_text};
    if ((rc = cl_pg_query(
             store->db, NULL,
             "INSERT INTO fetch_request (request_id, day, replacement, item_count, state)"
             " VALUES ($1, $2::date, $3::boolean, $4::int, 'pending')",
             4, request_values, err, errlen)) != CL_OK)
        goto fail;
    /* A number in another pending request is skipped here (the partial unique index; a
     * concurrent request holding it is waited for), then named. */
    if ((rc = cl_pg_query(store->db, &res,
                          "INSERT INTO fetch_item (request_id, position, device_number, pending)"
                          " SELECT $1, i - 1, n, true"
                          " FROM unnest($2::text[]) WITH ORDINALITY AS u (n, i)"
                          " ON CONFLICT DO NOTHING",
                          2, values, err, errlen)) != CL_OK)
        goto fail;
    size_t inserted = cl_pg_affected(res);
    PQclear(res);
    if (inserted != count) {
        if ((rc = cl_pg_query(store->db, &res,
                              "SELECT f.device_number, f.request_id"
                              " FROM unnest($2::text[]) WITH ORDINALITY AS u (n, i)"
                              " JOIN fetch_item f ON f.device_number = u.n AND f.pending"
                              " WHERE f.request_id <> $1 ORDER BY u.i LIMIT 1",
                              2, values, err, errlen)) != CL_OK)
            goto fail;
        if (PQntuples(res) == 1)
            cl_err_set(err, errlen, "request %s: device number %s is already in pending request %s",
                       request_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        else
            cl_err_set(err, errlen, "request %s: a device number is in another pending request",
                       request_id);
        PQclear(res);
        rc = CL_ERR_CONFLICT;
        goto fail;
    }
    /* After the items (a concurrent completion has committed by now): the certificates. A plain
     * request is for numbers that hold none; a replacement replaces a failed one. */
    const char *check_values[] = {list, values[3]};
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT u.n, c.state FROM unnest($1::text[]) WITH ORDINALITY AS u (n, i)"
                          " LEFT JOIN certificate c ON c.device_number = u.n"
                          " WHERE CASE WHEN $2::boolean THEN c.state IS DISTINCT FROM 'failed'"
                          " ELSE c.state IS NOT NULL END ORDER BY u.i LIMIT 1",
                          2, check_values, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        const char *number = PQgetvalue(res, 0, 0), *state = cl_pg_get_text(res, 0, 1);
        if (!replacement) {
            cl_err_set(err, errlen,
                       "request %s: device number %s already holds a certificate (%s); device "
                       "numbers are never reused",
                       request_id, number, state);
            rc = CL_ERR_EXISTS;
        } else if (state[0] == '\0') {
            cl_err_set(err, errlen, "request %s: device number %s holds no certificate to replace",
                       request_id, number);
            rc = CL_ERR_NOT_FOUND;
        } else {
            cl_err_set(err, errlen,
                       "request %s: device number %s is %s, not failed: only a failed certificate "
                       "is replaced",
                       request_id, number, state);
            rc = CL_ERR_STATE;
        }
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    rc = cl_pg_commit(store->db, err, errlen);
fail:
    if (rc != CL_OK)
        cl_pg_rollback(store->db);
out:
    free(list);
    return rc;
}

/* Run again if the connection was lost (a failover): the transaction is idempotent. */
int ct_store_fetch_begin(struct ct_store *store, const char *request_id, const char *day,
                         int replacement, const char *const *numbers, size_t count, char *err,
                         size_t errlen)
{
    int rc, runs = 0;
    do
        rc = fetch_begin_once(store, request_id, day, replacement, numbers, count, err, errlen);
    while (store != NULL && cl_pg_again(store->db, rc, &runs));
    return rc;
}

int ct_store_fetch_pending(struct ct_store *store, struct ct_pending_fetch **pending, size_t *count)
{
    char err[384];
    PGresult *res;
    size_t requests = 0, at;
    int rc, n;

    if (!CL_PG_LIST_START(store, pending, count))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT r.request_id, r.replacement, f.device_number"
                          " FROM fetch_request r JOIN fetch_item f USING (request_id)"
                          " WHERE r.state = 'pending' ORDER BY r.seq, f.position",
                          0, NULL, err, sizeof(err))) != CL_OK)
        return cts_logged(rc, "listing pending requests", err);
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, i - 1, 0)) != 0)
            requests++;
    *pending = calloc(requests > 0 ? requests : 1, sizeof(**pending));
    if (*pending == NULL) {
        PQclear(res);
        return CL_ERR_NOMEM;
    }
    at = 0;
    for (int i = 0; i < n;) {
        struct ct_pending_fetch *p = &(*pending)[at];
        int first = i;
        while (i < n && strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, first, 0)) == 0)
            i++;
        cl_copy_text(p->request_id, sizeof(p->request_id), PQgetvalue(res, first, 0));
        p->replacement = cl_pg_get_bool(res, first, 1);
        p->count = (size_t)(i - first);
        p->numbers = calloc(p->count, sizeof(*p->numbers));
        if (p->numbers == NULL) {
            ct_pending_fetch_free(*pending, at);
            *pending = NULL;
            PQclear(res);
            return CL_ERR_NOMEM;
        }
        for (int k = first; k < i; k++)
            cl_copy_text(p->numbers[k - first], sizeof(p->numbers[0]), PQgetvalue(res, k, 2));
        at++;
    }
    *count = requests;
    PQclear(res);
    return CL_OK;
}

void ct_pending_fetch_free(struct ct_pending_fetch *pending, size_t count)
{
    if (pending == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(pending[i].numbers);
    free(pending);
}

int ct_store_fetch_abandon(struct ct_store *store, const char *request_id, const char *reason,
                           const char *actor, char *err, size_t errlen)
{
    char why[RETRY_REASON_MAX + 1], detail[DETAIL_MAX + 1];
    const char *values[] = {request_id, why};
    PGresult *res;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cts_request_id_ok(request_id, err, errlen) || !cl_pg_audit_actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    cts_sanitize(why, sizeof(why), reason != NULL && reason[0] != '\0' ? reason : "abandoned");
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT state FROM fetch_request WHERE request_id = $1",
                          1, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "pending") != 0) {
        if (PQntuples(res) == 0) {
            cl_err_set(err, errlen, "no request with id %s", request_id);
            rc = CL_ERR_NOT_FOUND;
        } else if (strcmp(PQgetvalue(res, 0, 0), "completed") == 0) {
            cl_err_set(err, errlen, "request %s is completed; it cannot be abandoned", request_id);
            rc = CL_ERR_STATE;
        }
        PQclear(res);
        return rc == CL_OK ? cl_pg_commit(store->db, err, errlen) : cl_pg_fail(store->db, rc);
    }
    PQclear(res);
    snprintf(detail, sizeof(detail), "request %s: %.400s", request_id, why);
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_request SET state = 'abandoned', ended_at = now(),"
                          " reason = $2 WHERE request_id = $1",
                          2, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_item SET pending = false WHERE request_id = $1", 1, values,
                          err, errlen)) != CL_OK ||
        (rc = cl_pg_audit_in_tx(store->db, actor, "fetch_abandon", detail, err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    cl_log_warn("request %s abandoned: %s", request_id, why);
    return CL_OK;
}
