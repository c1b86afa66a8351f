/* store/batches.c: FIG 21 batches: issuance requests and their intents, recorded before signing. */
#include "store_internal.h"

/* ---- FIG 21 batches ---- */

struct sorted_number {
    const char *number;
    size_t index; /* position in the request */
};

static int compare_numbers(const void *a, const void *b)
{
    const struct sorted_number *x = a, *y = b;
    return strcmp(x->number, y->number);
}

/* Where number sits in the request (sorted holds the request sorted by number). */
static size_t request_index(const struct sorted_number *sorted, size_t count, const char *number)
{
    struct sorted_number key = {number, 0};
    const struct sorted_number *hit =
        bsearch(&key, sorted, count, sizeof(*sorted), compare_numbers);
    return hit != NULL ? hit->index : count;
}

/* The request is known and its body matches: loads its items in request order. */
static int load_known(struct ca_store *store, const char *request_id,
                      const char *const *device_numbers, size_t count, int done,
                      struct ca_batch_item *items, char *err, size_t errlen)
{
    const char *values[] = {request_id};
    PGresult *res;
    int rc;

    rc = cl_pg_query(store->db, &res,
                     "SELECT b.device_number, b.serial, c.model_code, m.key_type, c.state, c.pack"
                     " FROM batch_item b JOIN certificate c ON c.serial = b.serial"
                     " JOIN device_model m ON m.code = c.model_code"
                     " WHERE b.request_id = $1 ORDER BY b.position",
                     1, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if ((size_t)PQntuples(res) != count) {
        cl_err_set(err, errlen, "request id %s was used with another body", request_id);
        PQclear(res);
        return CL_ERR_CONFLICT;
    }
    for (size_t i = 0; i < count && rc == CL_OK; i++) {
        struct ca_batch_item *item = &items[i];
        const char *state = cl_pg_get_text(res, (int)i, 4);
        if (strcmp(cl_pg_get_text(res, (int)i, 0), device_numbers[i]) != 0) {
            cl_err_set(err, errlen, "request id %s was used with another body", request_id);
            rc = CL_ERR_CONFLICT;
            break;
        }
        cl_copy_text(item->device_number, sizeof(item->device_number),
                     cl_pg_get_text(res, (int)i, 0));
        cl_copy_text(item->serial_hex, sizeof(item->serial_hex), cl_pg_get_text(res, (int)i, 1));
        cl_copy_text(item->model_code, sizeof(item->model_code), cl_pg_get_text(res, (int)i, 2));
        cl_copy_text(item->key_type, sizeof(item->key_type), cl_pg_get_text(res, (int)i, 3));
        if (!done && strcmp(state, "intent") != 0) {
            /* Revoked or replaced while the request waited for its signatures. */
            cl_err_set(err, errlen,
                       "device number %s: its intent (serial %s) of request id %s is now %s; "
                       "send a new request",
                       item->device_number, item->serial_hex, request_id, state);
            rc = CL_ERR_STATE;
        } else if (done) {
            if (PQgetisnull(res, (int)i, 5)) {
                /* Purged (store/retention.c): a retry after that is refused, never reissued. */
                cl_err_set(err, errlen,
                           "device number %s: the pack of request id %s is no longer kept (the "
                           "certificate is %s; packs are purged at installation, supersession, "
                           "revocation and after pack_retention_hours)",
                           item->device_number, request_id, state);
                rc = CL_ERR_STATE;
            } else if ((item->pack = strdup(PQgetvalue(res, (int)i, 5))) == NULL) {
                cl_err_set(err, errlen, "out of memory");
                rc = CL_ERR_NOMEM;
            }
        }
    }
    PQclear(res);
    return rc;
}

/* A model of the request, looked up once. */
struct model_seen {
    char code[CA_MODEL_CODE_MAX + 1];
    char key_type[16];
};

/* Checks that every number's model is known and certificate-managed; fills model and key type
 * of every item. */
static int check_models(struct ca_store *store, const char *const *device_numbers, size_t count,
                        struct ca_batch_item *items, char *err, size_t errlen)
{
    struct model_seen *seen = calloc(count, sizeof(*seen));
    size_t nseen = 0;
    int rc = CL_OK;

    if (seen == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count && rc == CL_OK; i++) {
        char code[CA_MODEL_CODE_MAX + 1];
        size_t m, code_len = 0;
        (void)device_number_ok(device_numbers[i], &code_len); /* checked before */
        memcpy(code, device_numbers[i], code_len);
        code[code_len] = '\0';
        m = 0;
        while (m < nseen && strcmp(seen[m].code, code) != 0)
            m++;
        if (m == nseen) {
            const char *values[] = {code};
            PGresult *res;
            rc = cl_pg_query(
                store->db, &res,
                "SELECT key_type, certificate_managed FROM device_model WHERE code = $1", 1, values,
                err, errlen);
            if (rc != CL_OK)
                break;
            if (PQntuples(res) == 0) {
                cl_err_set(err, errlen, "device number %s: unknown device model %s",
                           device_numbers[i], code);
                rc = CL_ERR_INVALID_ARGUMENT;
            } else if (!cl_pg_get_bool(res, 0, 1)) {
                cl_err_set(err, errlen,
                           "device number %s: device model %s is not certificate-managed",
                           device_numbers[i], code);
                rc = CL_ERR_INVALID_ARGUMENT;
            } else {
                cl_copy_text(seen[m].code, sizeof(seen[m].code), code);
                cl_copy_text(seen[m].key_type, sizeof(seen[m].key_type), cl_pg_get_text(res, 0, 0));
                nseen++;
            }
            PQclear(res);
            if (rc != CL_OK)
                break;
        }
        cl_copy_text(items[i].device_number, sizeof(items[i].device_number), device_numbers[i]);
        cl_copy_text(items[i].model_code, sizeof(items[i].model_code), seen[m].code);
        cl_copy_text(items[i].key_type, sizeof(items[i].key_type), seen[m].key_type);
    }
    free(seen);
    return rc;
}

/* Records one intent (certificate row and batch item), drawing serials until one is free (of
 * device and service certificates alike: one CA, one serial space). */
static int record_intent(struct ca_store *store, const char *request_id, size_t position,
                         struct ca_batch_item *item, char *err, size_t errlen)
{
    char pos[24];
    const char *values[] = {item->serial_hex, item->device_number, item->model_code, request_id,
                            pos};
    snprintf(pos, sizeof(pos), "%zu", position);
    for (int attempt = 0; attempt < SERIAL_TRIES; attempt++) {
        PGresult *res;
        int rc = store->serial_source(item->serial_hex);
        if (rc != CL_OK || !cl_serial_ok(item->serial_hex)) {
            cl_err_set(err, errlen, "device number %s: no serial number could be drawn",
                       item->device_number);
            return rc != CL_OK ? rc : CL_ERR_INTERNAL;
        }
        rc = cl_pg_query(store->db, &res,
                         "WITH c AS (INSERT INTO certificate"
                         " (serial, device_number, model_code, state, request_id)"
                         " SELECT $1, $2, $3, 'intent', $4"
                         " WHERE NOT EXISTS (SELECT 1 FROM service_certificate WHERE serial = $1)"
                         " ON CONFLICT (serial) DO NOTHING RETURNING serial)"
                         " INSERT INTO batch_item (request_id, position, device_number, serial)"
                         " SELECT $4, $5::int, $2, serial FROM c RETURNING serial",
                         5, values, err, errlen);
        if (rc != CL_OK)
            return rc;
        int inserted = PQntuples(res);
        PQclear(res);
        if (inserted == 1)
            return CL_OK;
        cl_log_info("serial %s is taken; drawing another for %s", item->serial_hex,
                    item->device_number);
    }
    cl_err_set(err, errlen, "device number %s: no free serial number after %d tries",
               item->device_number, SERIAL_TRIES);
    return CL_ERR_INTERNAL;
}

/* The valid certificate each number held when the request locked them ("" if none). */
typedef char serial_text[CA_SERIAL_HEX_MAX + 1];

/* After a unique violation on the one-valid-certificate index: the request's first number (in
 * request order) that a concurrent request gave a new valid certificate meanwhile, for the
 * message. Runs after the rollback. */
static void concurrent_holder(struct ca_store *store, const char *request_id,
                              const struct sorted_number *sorted, size_t count, const char *list,
                              const serial_text *old_serials, char *err, size_t errlen)
{
    const char *values[] = {list};
    PGresult *res;
    size_t first = count;
    int row = 0;

    cl_err_set(err, errlen,
               "a device number of request id %s was recorded by a concurrent request; send it "
               "again",
               request_id);
    if (cl_pg_query(store->db, &res,
                    "SELECT device_number, serial FROM certificate"
                    " WHERE device_number = ANY ($1::text[]) AND state IN " VALID_STATES,
                    1, values, NULL, 0) != CL_OK)
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
        if (at < first && strcmp(PQgetvalue(res, r, 1), old_serials[at]) != 0) {
            first = at;
            row = r;
        }
    }
    if (first < count)
        cl_err_set(err, errlen, "device number %s already holds a valid certificate (serial %s)",
                   PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
    PQclear(res);
}

/* Records the intents of the whole request (certificate rows and batch items, in number order)
 * in one statement. A number whose drawn serial was taken (by another certificate, a service
 * certificate, or the same draw twice in this request) then draws again on its own, by
 * record_intent. list is the request's numbers as an array literal. */
static int record_intents(struct ca_store *store, const char *request_id,
                          const struct sorted_number *sorted, size_t count, const char *list,
                          const serial_text *old_serials, struct ca_batch_item *items, char *err,
                          size_t errlen)
{
    struct cl_pg_array serials, numbers, models, positions;
    unsigned char *recorded = calloc(count, 1);
    PGresult *res = NULL;
    int rc = CL_OK;

    cl_pg_array_init(&serials);
    cl_pg_array_init(&numbers);
    cl_pg_array_init(&models);
    cl_pg_array_init(&positions);
    if (recorded == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t k = 0; k < count && rc == CL_OK; k++) {
        struct ca_batch_item *item = &items[sorted[k].index];
        rc = store->serial_source(item->serial_hex);
        if (rc != CL_OK || !cl_serial_ok(item->serial_hex)) {
            cl_err_set(err, errlen, "device number %s: no serial number could be drawn",
                       item->device_number);
            rc = rc != CL_OK ? rc : CL_ERR_INTERNAL;
            break;
        }
        cl_pg_array_add(&serials, item->serial_hex);
        cl_pg_array_add(&numbers, item->device_number);
        cl_pg_array_add(&models, item->model_code);
        cl_pg_array_add_size(&positions, sorted[k].index);
    }
    if (rc == CL_OK) {
        const char *values[] = {cl_pg_array_finish(&serials), cl_pg_array_finish(&numbers),
                                cl_pg_array_finish(&models), cl_pg_array_finish(&positions),
                                request_id};
        if (values[0] == NULL || values[1] == NULL || values[2] == NULL || values[3] == NULL) {
            cl_err_set(err, errlen, "out of memory");
            rc = CL_ERR_NOMEM;
        } else {
            rc = cl_pg_query(
                store->db, &res,
                "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])"
                "  WITH ORDINALITY AS t(serial, device_number, model_code, position, ord)),"
                " c AS (INSERT INTO certificate"
                "  (serial, device_number, model_code, state, request_id)"
                "  SELECT i.serial, i.device_number, i.model_code, 'intent', $5 FROM input i"
                "  WHERE NOT EXISTS (SELECT 1 FROM service_certificate s WHERE s.serial = i.serial)"
                "  ORDER BY i.ord"
                "  ON CONFLICT (serial) DO NOTHING RETURNING serial, device_number)"
                " INSERT INTO batch_item (request_id, position, device_number, serial)"
                " SELECT $5, i.position, c.device_number, c.serial FROM c JOIN input i"
                "  ON i.serial = c.serial AND i.device_number = c.device_number"
                " RETURNING device_number",
                5, values, err, errlen);
        }
    }
    if (rc != CL_OK && cl_pg_unique_violation(store->db) &&
        cl_pg_constraint_is(store->db, "certificate_one_valid_per_device")) {
        cl_pg_rollback(store->db);
        concurrent_holder(store, request_id, sorted, count, list, old_serials, err, errlen);
        rc = CL_ERR_CONFLICT;
    }
    if (rc == CL_OK && (size_t)PQntuples(res) != count) {
        for (int r = 0; r < PQntuples(res); r++) {
            size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
            if (at < count)
                recorded[at] = 1;
        }
        for (size_t k = 0; k < count && rc == CL_OK; k++) {
            size_t i = sorted[k].index;
            if (recorded[i])
                continue;
            cl_log_info("serial %s is taken; drawing another for %s", items[i].serial_hex,
                        items[i].device_number);
            rc = record_intent(store, request_id, i, &items[i], err, errlen);
            if (rc != CL_OK && cl_pg_unique_violation(store->db) &&
                cl_pg_constraint_is(store->db, "certificate_one_valid_per_device")) {
                cl_pg_rollback(store->db);
                concurrent_holder(store, request_id, sorted, count, list, old_serials, err, errlen);
                rc = CL_ERR_CONFLICT;
            }
        }
    }
    PQclear(res);
    free(recorded);
    cl_pg_array_free(&serials);
    cl_pg_array_free(&numbers);
    cl_pg_array_free(&models);
    cl_pg_array_free(&positions);
    return rc;
}

/* The NEW path of batch_begin, inside its transaction. sorted is the request sorted by number. */
static int begin_new(struct ca_store *store, const char *request_id,
                     const unsigned char body_hash[32], int replacement, const char *requester,
                     const char *const *device_numbers, size_t count,
                     const struct sorted_number *sorted, struct ca_batch_item *items, char *err,
                     size_t errlen)
{
    char count_text[24], reason[REASON_MAX + 1], detail[DETAIL_MAX + 1], *list = NULL;
    serial_text *old_serials = NULL;
    PGresult *res = NULL;
    size_t used = 0;
    int rc;

    /* The owner rows, then the numbers' certificates, locked in CERTIFICATE_LOCK_ORDER (as every
     * batch locks them, so two batches never wait for each other in a circle); res gets the
     * valid ones. */
    if ((rc = check_models(store, device_numbers, count, items, err, errlen)) != CL_OK ||
        (rc = ca_owners_claim(store, requester, request_id, device_numbers, count, &res, err,
                              errlen)) != CL_OK)
        return rc;

    snprintf(count_text, sizeof(count_text), "%zu", count);
    {
        const char *values[] = {request_id, (const char *)body_hash, replacement ? "true" : "false",
                                requester, count_text};
        const int lengths[] = {0, 32, 0, 0, 0};
        const int formats[] = {0, 1, 0, 0, 0};
        rc = cl_pg_exec(store->db, NULL,
                        "INSERT INTO batch_request"
                        " (request_id, body_hash, replacement, requester, item_count)"
                        " VALUES ($1, $2, $3::boolean, $4, $5::int)",
                        5, values, lengths, formats, 0, err, errlen);
        if (rc != CL_OK && cl_pg_unique_violation(store->db)) {
            cl_err_set(err, errlen, "request id %s is in use by a concurrent request", request_id);
            rc = CL_ERR_CONFLICT;
        }
        if (rc != CL_OK)
            goto out;
    }

    list = malloc(count * (CA_DEVICE_NUMBER_MAX + 1) + 3);
    old_serials = calloc(count, sizeof(*old_serials));
    if (list == NULL || old_serials == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    list[used++] = '{';
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(sorted[i].number);
        if (i > 0)
            list[used++] = ',';
        memcpy(list + used, sorted[i].number, n); /* [0-9A-Z-] only: no quoting needed */
        used += n;
    }
    list[used++] = '}';
    list[used] = '\0';
    if (PQntuples(res) > 0 && !replacement) {
        /* Name the first such number in request order. */
        size_t first = count;
        int row = 0;
        for (int r = 0; r < PQntuples(res); r++) {
            size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
            if (at < first) {
                first = at;
                row = r;
            }
        }
        cl_err_set(err, errlen, "device number %s already holds a valid certificate (serial %s)",
                   PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
        rc = CL_ERR_CONFLICT;
        goto out;
    }
    /* A replacement answers an NG write: a certificate already installed in a device is never
     * superseded by a batch (an operator revokes it instead). */
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, 2), "installed") == 0) {
            cl_err_set(err, errlen,
                       "device number %s holds an installed certificate (serial %s); a replacement "
                       "is only for one that was never installed",
                       PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            rc = CL_ERR_CONFLICT;
            goto out;
        }
    }
    snprintf(reason, sizeof(reason), "replaced (request id %s)", request_id);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *values[] = {PQgetvalue(res, r, 1), reason};
        size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
        if (at < count)
            cl_copy_text(old_serials[at], sizeof(old_serials[at]), values[0]);
        rc =
            cl_pg_query(store->db, NULL,
                        "UPDATE certificate SET state = 'superseded', ended_at = now(), reason = $2"
                        " WHERE serial = $1",
                        2, values, err, errlen);
        if (rc != CL_OK)
            goto out;
    }

    /* The intents, in number order too. */
    if ((rc = record_intents(store, request_id, sorted, count, list, old_serials, items, err,
                             errlen)) != CL_OK)
        goto out;
    for (size_t i = 0; i < count; i++) {
        if (old_serials[i][0] == '\0')
            continue;
        const char *values[] = {old_serials[i], items[i].serial_hex};
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET superseded_by = $2 WHERE serial = $1", 2, values,
                         err, errlen);
        if (rc != CL_OK)
            goto out;
    }

    snprintf(detail, sizeof(detail), "request id %s: %zu device number(s)%s, first %s", request_id,
             count, replacement ? ", replacement" : "", device_numbers[0]);
    rc = cl_pg_audit_in_tx(store->db, requester, "batch", detail, err, errlen);
out:
    PQclear(res);
    free(list);
    free(old_serials);
    return rc;
}

int ca_store_batch_begin(struct ca_store *store, const char *request_id,
                         const unsigned char body_hash[32], int replacement, const char *requester,
                         const char *const *device_numbers, size_t count,
                         struct ca_batch_item *items, enum ca_batch_state *state, char *err,
                         size_t errlen)
{
    struct sorted_number *sorted = NULL;
    const char *values[] = {request_id, (const char *)body_hash};
    const int lengths[] = {0, 32};
    const int formats[] = {0, 1};
    char buf[48];
    PGresult *res;
    int rc;

    if (store == NULL || body_hash == NULL || device_numbers == NULL || items == NULL ||
        state == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_text_ok(requester, 1, ACTOR_MAX)) {
        cl_err_set(err, errlen, "requester \"%s\" must be 1 to %d bytes of printable UTF-8",
                   cl_shown(requester, buf, sizeof(buf)), ACTOR_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count == 0 || count > CA_BATCH_MAX) {
        cl_err_set(err, errlen, "request id %s names %zu device numbers (1 to %d)", request_id,
                   count, CA_BATCH_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    memset(items, 0, count * sizeof(*items));
    if (!device_numbers_ok(device_numbers, count, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    sorted = malloc(count * sizeof(*sorted));
    if (sorted == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = (struct sorted_number){device_numbers[i], i};
    qsort(sorted, count, sizeof(*sorted), compare_numbers);
    for (size_t i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1].number, sorted[i].number) == 0) {
            cl_err_set(err, errlen, "device number %s appears twice in request id %s",
                       sorted[i].number, request_id);
            free(sorted);
            return CL_ERR_INVALID_ARGUMENT;
        }
    }

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        goto out;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_exec(store->db, &res,
                         "SELECT body_hash = $2::bytea, completed_at IS NOT NULL, requester"
                         " FROM batch_request WHERE request_id = $1",
                         2, values, lengths, formats, 0, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        int same = cl_pg_get_bool(res, 0, 0), done = cl_pg_get_bool(res, 0, 1);
        rc = ca_owners_request_bound(cl_pg_get_text(res, 0, 2), requester, request_id, err, errlen);
        PQclear(res);
        if (rc != CL_OK)
            goto fail;
        if (!same) {
            cl_err_set(err, errlen, "request id %s was used with another body", request_id);
            rc = CL_ERR_CONFLICT;
            goto fail;
        }
        rc = load_known(store, request_id, device_numbers, count, done, items, err, errlen);
        if (rc == CL_OK)
            rc = ca_owners_claim(store, requester, request_id, device_numbers, count, NULL, err,
                                 errlen);
        if (rc != CL_OK)
            goto fail;
        if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
            goto fail;
        *state = done ? CA_BATCH_DONE : CA_BATCH_PENDING;
        goto out;
    }
    PQclear(res);
    rc = begin_new(store, request_id, body_hash, replacement, requester, device_numbers, count,
                   sorted, items, err, errlen);
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    if (rc != CL_OK)
        goto fail;
    *state = CA_BATCH_NEW;
    goto out;
fail:
    cl_pg_rollback(store->db);
    ca_batch_items_free(items, count);
    memset(items, 0, count * sizeof(*items));
out:
    free(sorted);
    return rc;
}

void ca_batch_items_free(struct ca_batch_item *items, size_t count)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        free(items[i].pack);
        items[i].pack = NULL;
    }
}
