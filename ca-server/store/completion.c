/* store/completion.c: completion of FIG 21 batches: each intent becomes issued with its pack. */
#include "store_internal.h"

static int compare_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Why the serial of item was not stored as issued: not in this request, or no longer an
 * intent (err says which). */
static int why_not_issued(struct ca_store *store, const char *request_id,
                          const struct ca_issued_item *item, char *err, size_t errlen)
{
    const char *values[] = {request_id, item->serial_hex};
    PGresult *res;
    int rc = cl_pg_query(store->db, &res,
                         "SELECT c.device_number, c.state FROM batch_item b"
                         " JOIN certificate c ON c.serial = b.serial"
                         " WHERE b.request_id = $1 AND b.serial = $2",
                         2, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (PQntuples(res) == 0) {
        cl_err_set(err, errlen, "serial %s is not part of request id %s", item->serial_hex,
                   request_id);
        rc = CL_ERR_INVALID_ARGUMENT;
    } else {
        cl_err_set(err, errlen, "device number %s: certificate %s is %s, not an intent",
                   PQgetvalue(res, 0, 0), item->serial_hex, PQgetvalue(res, 0, 1));
        rc = CL_ERR_STATE;
    }
    PQclear(res);
    return rc;
}

/* Inside batch_complete's transaction: every item intent -> issued, in one statement. Each must
 * be an intent of this request; the first (in item order) that is not names the failure. */
static int store_issued(struct ca_store *store, const char *request_id,
                        const struct ca_issued_item *items, size_t count, char *err, size_t errlen)
{
    struct cl_pg_array serials, certs, packs, values_hex;
    const char **stored = NULL;
    PGresult *res = NULL;
    int rc;

    cl_pg_array_init(&serials);
    cl_pg_array_init(&certs);
    cl_pg_array_init(&packs);
    cl_pg_array_init(&values_hex);
    for (size_t i = 0; i < count; i++) {
        cl_pg_array_add(&serials, items[i].serial_hex);
        cl_pg_array_add_hex(&certs, items[i].cert_der, items[i].cert_len);
        cl_pg_array_add(&packs, items[i].pack);
        cl_pg_array_add(&values_hex, items[i].server_value);
    }
    const char *values[] = {request_id, cl_pg_array_finish(&serials), cl_pg_array_finish(&certs),
                            cl_pg_array_finish(&packs), cl_pg_array_finish(&values_hex)};
    if (values[1] == NULL || values[2] == NULL || values[3] == NULL || values[4] == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    rc = cl_pg_query(
        store->db, &res,
        "UPDATE certificate c SET state = 'issued', cert_der = decode(t.cert_hex, 'hex'),"
        " pack = t.pack, server_value = t.server_value, issued_at = now()"
        " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])"
        "  AS t(serial, cert_hex, pack, server_value), batch_item b"
        " WHERE b.request_id = $1 AND b.serial = t.serial"
        " AND c.serial = b.serial AND c.state = 'intent'"
        " RETURNING c.serial",
        5, values, err, errlen);
    if (rc != CL_OK || (size_t)PQntuples(res) == count)
        goto out;
    /* Not all of them: find the first item that was not stored. */
    if ((stored = malloc(((size_t)PQntuples(res) + 1) * sizeof(*stored))) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++)
        stored[r] = PQgetvalue(res, r, 0);
    qsort(stored, (size_t)PQntuples(res), sizeof(*stored), compare_text);
    rc = CL_ERR_INVALID_ARGUMENT;
    cl_err_set(err, errlen, "request id %s: a serial appears twice", request_id);
    for (size_t i = 0; i < count; i++) {
        const char *key = items[i].serial_hex;
        if (bsearch(&key, stored, (size_t)PQntuples(res), sizeof(*stored), compare_text) == NULL) {
            rc = why_not_issued(store, request_id, &items[i], err, errlen);
            break;
        }
    }
out:
    free(stored);
    PQclear(res);
    cl_pg_array_free(&serials);
    cl_pg_array_free(&certs);
    cl_pg_array_free(&packs);
    cl_pg_array_free(&values_hex);
    return rc;
}

/* Checks the signed items before any of them reaches the database. */
static int issued_items_ok(const char *request_id, const struct ca_issued_item *items, size_t count,
                           char *err, size_t errlen)
{
    char buf[48];

    if (items == NULL || count == 0 || count > CA_BATCH_MAX) {
        cl_err_set(err, errlen, "request id %s: %zu signed items (1 to %d)", request_id, count,
                   CA_BATCH_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++) {
        const struct ca_issued_item *item = &items[i];
        if (!cl_serial_ok(item->serial_hex)) {
            cl_err_set(err, errlen, "request id %s: serial \"%s\" is malformed", request_id,
                       cl_shown(item->serial_hex, buf, sizeof(buf)));
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (item->cert_der == NULL || item->cert_len == 0 || item->cert_len > CERT_DER_MAX ||
            !cl_utf8_ok(item->pack, 1, PACK_MAX, 1)) {
            cl_err_set(err, errlen,
                       "serial %s: the certificate (at most %d bytes) and the pack (at most %d "
                       "bytes of text) are required",
                       item->serial_hex, CERT_DER_MAX, PACK_MAX);
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (item->server_value == NULL || strlen(item->server_value) != CA_VERIFY_HEX ||
            strspn(item->server_value, "0123456789abcdef") != CA_VERIFY_HEX) {
            cl_err_set(err, errlen, "serial %s: the server value must be %d lower-case hex digits",
                       item->serial_hex, CA_VERIFY_HEX);
            return CL_ERR_INVALID_ARGUMENT;
        }
    }
    return CL_OK;
}

int ca_store_complete_begin(struct ca_store *store, const char *request_id, size_t count, char *err,
                            size_t errlen)
{
    const char *id_values[] = {request_id};
    PGresult *res;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (count == 0 || count > CA_BATCH_MAX) {
        cl_err_set(err, errlen, "request id %s: %zu signed items (1 to %d)", request_id, count,
                   CA_BATCH_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    /* The transaction stays open while the packs are signed: a server-wide idle timeout must not
     * end it between two parts. */
    if ((rc = cl_pg_query(store->db, NULL, "SET LOCAL idle_in_transaction_session_timeout = 0", 0,
                          NULL, err, errlen)) != CL_OK ||
        (rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT completed_at IS NOT NULL, item_count FROM batch_request"
                          " WHERE request_id = $1 FOR UPDATE",
                          1, id_values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    /* Every intent of the request, locked now, before the first pack is signed, in
     * CERTIFICATE_LOCK_ORDER: the parts stored later (ca_store_complete_add, in whatever order
     * and chunks the caller stores them) then wait for nothing, so an owner change, an
     * installation batch or a retirement of the same numbers never waits for this completion
     * while holding a certificate it needs. The lock is the one the UPDATE takes (no key
     * changes); what was not an intent any more is left for complete_add to name. */
    if (PQntuples(res) == 1 && !cl_pg_get_bool(res, 0, 0) &&
        (size_t)cl_pg_get_ll(res, 0, 1) == count &&
        (rc = cl_pg_query(store->db, NULL,
                          "SELECT 1 FROM certificate"
                          " WHERE serial IN (SELECT serial FROM batch_item WHERE request_id = $1)"
                          " AND state = 'intent'"
                          " ORDER BY " CERTIFICATE_LOCK_ORDER " FOR NO KEY UPDATE",
                          1, id_values, err, errlen)) != CL_OK) {
        PQclear(res);
        return cl_pg_fail(store->db, rc);
    }
    if (PQntuples(res) == 0) {
        cl_err_set(err, errlen, "unknown request id %s", request_id);
        rc = CL_ERR_NOT_FOUND;
    } else if (cl_pg_get_bool(res, 0, 0)) {
        /* Another worker signed the same pending request and completed it first: its packs
         * are the answer (ask again); these are never stored nor handed out. */
        cl_err_set(err, errlen,
                   "request id %s was completed meanwhile; send it again for its packs",
                   request_id);
        rc = CL_ERR_CONFLICT;
    } else if ((size_t)cl_pg_get_ll(res, 0, 1) != count) {
        cl_err_set(err, errlen, "request id %s has %lld device numbers, not %zu", request_id,
                   cl_pg_get_ll(res, 0, 1), count);
        rc = CL_ERR_INVALID_ARGUMENT;
    }
    PQclear(res);
    return rc != CL_OK ? cl_pg_fail(store->db, rc) : CL_OK;
}

int ca_store_complete_add(struct ca_store *store, const char *request_id,
                          const struct ca_issued_item *items, size_t count, char *err,
                          size_t errlen)
{
    int rc = issued_items_ok(request_id, items, count, err, errlen);

    if (rc == CL_OK && !cl_pg_in_transaction(store->db)) {
        cl_err_set(err, errlen, "request id %s: no completion under way", request_id);
        rc = CL_ERR_INTERNAL; /* a misuse here, not the caller's fault */
    }
    if (rc == CL_OK)
        rc = store_issued(store, request_id, items, count, err, errlen);
    return rc != CL_OK ? cl_pg_fail(store->db, rc) : CL_OK;
}

int ca_store_complete_commit(struct ca_store *store, const char *request_id, char *err,
                             size_t errlen)
{
    const char *id_values[] = {request_id};
    PGresult *res;
    int rc;

    if (!cl_pg_in_transaction(store->db)) {
        cl_err_set(err, errlen, "request id %s: no completion under way", request_id);
        return cl_pg_fail(store->db, CL_ERR_INTERNAL); /* a misuse here, not the caller's fault */
    }
    /* Every item of the request must have been stored as issued. */
    rc = cl_pg_query(store->db, &res,
                     "SELECT count(*) FROM batch_item b JOIN certificate c ON c.serial = b.serial"
                     " WHERE b.request_id = $1 AND c.state = 'intent'",
                     1, id_values, err, errlen);
    if (rc != CL_OK)
        return cl_pg_fail(store->db, rc);
    long long unsigned_items = cl_pg_get_ll(res, 0, 0);
    PQclear(res);
    if (unsigned_items != 0) {
        cl_err_set(err, errlen, "request id %s: %lld device numbers have no signed certificate",
                   request_id, unsigned_items);
        return cl_pg_fail(store->db, CL_ERR_INVALID_ARGUMENT);
    }
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE batch_request SET completed_at = now() WHERE request_id = $1", 1,
                          id_values, err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    return CL_OK;
}

void ca_store_complete_abort(struct ca_store *store)
{
    if (store != NULL)
        cl_pg_rollback(store->db);
}

int ca_store_batch_complete(struct ca_store *store, const char *request_id,
                            const struct ca_issued_item *items, size_t count, char *err,
                            size_t errlen)
{
    int rc;

    if (store == NULL || items == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* Checked before the transaction too, so that a bad item costs no round trip. */
    if (cl_token_ok(request_id, REQUEST_ID_MAX) &&
        (rc = issued_items_ok(request_id, items, count, err, errlen)) != CL_OK)
        return rc;
    if ((rc = ca_store_complete_begin(store, request_id, count, err, errlen)) != CL_OK ||
        (rc = ca_store_complete_add(store, request_id, items, count, err, errlen)) != CL_OK)
        return rc;
    return ca_store_complete_commit(store, request_id, err, errlen);
}
