/* store/packs.c: a FIG 21 answer: its packs checked and stored in the certificate DB [FIG 20]. */
#include "ct_store_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- completing a fetch [S1/S2] ---- */

/* Writes v big-endian (network order) at out + at; returns the position after it. */
static size_t put_u32(unsigned char *out, size_t at, uint32_t v)
{
    out[at] = (unsigned char)(v >> 24);
    out[at + 1] = (unsigned char)(v >> 16);
    out[at + 2] = (unsigned char)(v >> 8);
    out[at + 3] = (unsigned char)v;
    return at + 4;
}

static int compare_items(const void *a, const void *b)
{
    const struct ct_pack_item *x = *(const struct ct_pack_item *const *)a;
    const struct ct_pack_item *y = *(const struct ct_pack_item *const *)b;
    return strcmp(x->device_number, y->device_number);
}

/* The answer holds exactly the request's numbers (in any order, each once). */
static int answer_matches(struct ct_store *store, const char *request_id,
                          const struct ct_pack_item *items, size_t count, char *err, size_t errlen)
{
    const char *values[] = {request_id};
    const struct ct_pack_item **sorted = malloc(count * sizeof(*sorted));
    PGresult *res;
    int rc;

    if (sorted == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = &items[i];
    qsort(sorted, count, sizeof(*sorted), compare_items);
    rc = cl_pg_query(store->db, &res,
                     "SELECT device_number FROM fetch_item WHERE request_id = $1"
                     " ORDER BY device_number COLLATE \"C\"",
                     1, values, err, errlen);
    if (rc == CL_OK) {
        size_t n = (size_t)PQntuples(res);
        if (n != count) {
            cl_err_set(err, errlen, "request %s named %zu device number(s); the answer has %zu",
                       request_id, n, count);
            rc = CL_ERR_CONFLICT;
        }
        /* A number the request did not name, then one named twice (with the counts equal,
         * nothing else can differ). */
        for (size_t i = 0; rc == CL_OK && i < count; i++) {
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(PQgetvalue(res, (int)mid, 0), sorted[i]->device_number);
                if (cmp == 0)
                    lo = hi = mid + 1;
                else if (cmp < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == 0 || strcmp(PQgetvalue(res, (int)lo - 1, 0), sorted[i]->device_number) != 0) {
                cl_err_set(err, errlen,
                           "request %s: the answer has device number %s, which the request did not "
                           "name",
                           request_id, sorted[i]->device_number);
                rc = CL_ERR_CONFLICT;
            } else if (i > 0 &&
                       strcmp(sorted[i]->device_number, sorted[i - 1]->device_number) == 0) {
                cl_err_set(err, errlen, "request %s: the answer has device number %s twice",
                           request_id, sorted[i]->device_number);
                rc = CL_ERR_CONFLICT;
            }
        }
        PQclear(res);
    }
    free(sorted);
    return rc;
}

/* One field of every item, as a text[] in PostgreSQL's binary array format (what array_recv
 * reads: dimensions, element type, then each element's length and bytes), so that no value needs
 * quoting; *len gets its size. NULL if out of memory or too large for one parameter. */
static char *binary_text_array(const struct ct_pack_item *items, size_t count,
                               const char *(*field)(const struct ct_pack_item *), int *len)
{
    size_t total = 5 * 4, at = 0;
    unsigned char *out;

    for (size_t i = 0; i < count; i++)
        total += 4 + strlen(field(&items[i]));
    if (total > (size_t)INT_MAX || (out = malloc(total)) == NULL)
        return NULL;
    const uint32_t header[] = {1, 0, TEXT_OID, (uint32_t)count, 1}; /* ndim, no NULLs, type, */
    for (size_t k = 0; k < 5; k++)                                  /* length, lower bound */
        at = put_u32(out, at, header[k]);
    for (size_t i = 0; i < count; i++) {
        const char *text = field(&items[i]);
        size_t n = strlen(text);
        at = put_u32(out, at, (uint32_t)n);
        memcpy(out + at, text, n);
        at += n;
    }
    *len = (int)total;
    return (char *)out;
}

static const char *item_number(const struct ct_pack_item *item)
{
    return item->device_number;
}

static const char *item_serial(const struct ct_pack_item *item)
{
    return item->serial_hex;
}

static const char *item_pack(const struct ct_pack_item *item)
{
    return item->pack;
}

/* In the completing transaction: every pack of the answer in one statement. A plain request
 * inserts a certificate per number; a replacement turns each failed certificate into its
 * replacement (flag 0, no claim; the creation date of FIG 20 stays, the replacement
 * date is recorded). A number that cannot take its pack (it
 * holds a certificate already, or is no longer failed) is named and nothing is stored. */
static int store_packs(struct ct_store *store, const char *request_id, int replacement,
                       const struct ct_pack_item *items, size_t count, char *err, size_t errlen)
{
    char *arrays[3] = {NULL, NULL, NULL};
    int lengths[4] = {0, 0, 0, 0}, formats[4] = {1, 1, 1, 0};
    PGresult *res = NULL;
    int rc;

    arrays[0] = binary_text_array(items, count, item_number, &lengths[0]);
    arrays[1] = binary_text_array(items, count, item_serial, &lengths[1]);
    arrays[2] = binary_text_array(items, count, item_pack, &lengths[2]);
    const char *values[] = {arrays[0], arrays[1], arrays[2], request_id};
    if (arrays[0] == NULL || arrays[1] == NULL || arrays[2] == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    if (!replacement)
        rc = cl_pg_exec(store->db, &res,
                        "INSERT INTO certificate (device_number, model_code, serial, pack, state,"
                        " request_id) SELECT u.n, split_part(u.n, '-', 1), u.s, u.p, 'stored', $4"
                        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u (n, s, p)"
                        " ON CONFLICT (device_number) DO NOTHING",
                        4, values, lengths, formats, 0, err, errlen);
    else
        rc = cl_pg_exec(store->db, &res,
                        "UPDATE certificate c SET state = 'replaced', serial = u.s, pack = u.p,"
                        " pack_deleted_at = NULL, write_flag = 0, request_id = $4,"
                        " claimed_at = NULL, replaced_at = now(), delivered_at = NULL,"
                        " written_at = NULL"
                        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u (n, s, p)"
                        " WHERE c.device_number = u.n AND c.state = 'failed'",
                        4, values, lengths, formats, 0, err, errlen);
    if (rc != CL_OK || cl_pg_affected(res) == count)
        goto out;
    /* Some number took no pack: the first one in the answer's order that is not this
     * request's now. */
    PQclear(res);
    res = NULL;
    const int name_formats[2] = {1, 0};
    const char *name_values[] = {arrays[0], request_id};
    if ((rc = cl_pg_exec(store->db, &res,
                         "SELECT u.n FROM unnest($1::text[]) WITH ORDINALITY AS u (n, i)"
                         " LEFT JOIN certificate c ON c.device_number = u.n"
                         " WHERE c.request_id IS DISTINCT FROM $2 ORDER BY u.i LIMIT 1",
                         2, name_values, lengths, name_formats, 0, err, errlen)) != CL_OK)
        goto out;
    const char *number = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "(unknown)";
    if (replacement) {
        cl_err_set(err, errlen, "request %s: device number %s is no longer failed", request_id,
                   number);
        rc = CL_ERR_STATE;
    } else {
        cl_err_set(err, errlen, "request %s: device number %s already holds a certificate",
                   request_id, number);
        rc = CL_ERR_CONFLICT;
    }
out:
    PQclear(res);
    for (size_t k = 0; k < 3; k++)
        free(arrays[k]);
    return rc;
}

static int fetch_complete_once(struct ct_store *store, const char *request_id,
                               const struct ct_pack_item *items, size_t count, char *err,
                               size_t errlen)
{
    const char *values[] = {request_id};
    PGresult *res;
    int rc, replacement;

    if (store == NULL || (items == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store or packs");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cts_request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (count < 1 || count > CT_FETCH_MAX) {
        cl_err_set(err, errlen, "request %s: an answer has 1 to %d packs, not %zu", request_id,
                   CT_FETCH_MAX, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++) {
        char buf[48];
        const struct ct_pack_item *item = &items[i];
        if (!cts_device_number_ok(item->device_number))
            return cts_number_refused(request_id, item->device_number, err, errlen);
        if (!cl_serial_ok(item->serial_hex)) {
            cl_err_set(
                err, errlen,
                "request %s: device number %s: serial \"%s\" is malformed (2 to 40 upper-case "
                "hex digits)",
                request_id, item->device_number, cl_shown(item->serial_hex, buf, sizeof(buf)));
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (!cl_utf8_ok(item->pack, 1, CT_PACK_MAX, 1)) {
            cl_err_set(err, errlen,
                       "request %s: device number %s: the pack must be 1 to %d bytes of UTF-8 text",
                       request_id, item->device_number, CT_PACK_MAX);
            return CL_ERR_INVALID_ARGUMENT;
        }
    }

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT state, replacement FROM fetch_request WHERE request_id = $1"
                          " FOR UPDATE",
                          1, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_err_set(err, errlen, "no request with id %s was recorded", request_id);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    if (strcmp(PQgetvalue(res, 0, 0), "completed") == 0) {
        PQclear(res);
        return cl_pg_commit(store->db, err, errlen); /* done before: nothing changes */
    }
    if (strcmp(PQgetvalue(res, 0, 0), "abandoned") == 0) {
        PQclear(res);
        cl_err_set(err, errlen, "request %s was abandoned; its answer is not stored", request_id);
        return cl_pg_fail(store->db, CL_ERR_STATE);
    }
    replacement = cl_pg_get_bool(res, 0, 1);
    PQclear(res);
    if ((rc = answer_matches(store, request_id, items, count, err, errlen)) != CL_OK ||
        (rc = store_packs(store, request_id, replacement, items, count, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_request SET state = 'completed', ended_at = now()"
                          " WHERE request_id = $1",
                          1, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_item SET pending = false WHERE request_id = $1", 1, values,
                          err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    cl_log_info("request %s: %zu %spack(s) stored", request_id, count,
                replacement ? "replacement " : "");
    return CL_OK;
}

/* Run again if the connection was lost (a failover): the transaction is idempotent. */
int ct_store_fetch_complete(struct ct_store *store, const char *request_id,
                            const struct ct_pack_item *items, size_t count, char *err,
                            size_t errlen)
{
    int rc, runs = 0;
    do
        rc = fetch_complete_once(store, request_id, items, count, err, errlen);
    while (store != NULL && cl_pg_again(store->db, rc, &runs));
    return rc;
}
