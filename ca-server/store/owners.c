/* store/owners.c: factories apart: whose device number it is, whose request id. */
#include "store_internal.h"

/* ---- inside a batch's transaction ---- */

int ca_owners_request_bound(const char *recorded, const char *requester, const char *request_id,
                            char *err, size_t errlen)
{
    if (strcmp(recorded, requester) == 0 ||
        (requester_is_operator(recorded) && requester_is_operator(requester)))
        return CL_OK;
    /* Neither the other requester's name nor its packs: only that the id is not this one's. */
    cl_err_set(err, errlen,
               "request id %s was recorded for another requester; a comm-terminal answers only "
               "its own request ids",
               request_id);
    return CL_ERR_PERMISSION;
}

/* The request's numbers, request order, as a text[] literal. NULL if out of memory. */
static const char *number_array(struct cl_pg_array *array, const char *const *device_numbers,
                                size_t count)
{
    cl_pg_array_init(array);
    for (size_t i = 0; i < count; i++)
        cl_pg_array_add(array, device_numbers[i]);
    return cl_pg_array_finish(array);
}

/* The claim of the unowned ones, in number order (as every claim and assignment locks owner
 * rows). A concurrent claim of one number by another factory makes this wait for its end and then
 * do nothing, so the check after it (a statement of its own, seeing what committed meanwhile)
 * finds that factory. */
#define CLAIM_SQL                                                                                  \
    "INSERT INTO device_owner (device_number, factory, source, detail)"                            \
    " SELECT n, $2, 'request', $3 FROM unnest($1::text[]) AS n"                                    \
    " ORDER BY n COLLATE \"C\" ON CONFLICT (device_number) DO NOTHING"

/* Every certificate of the numbers, locked FOR UPDATE in CERTIFICATE_LOCK_ORDER (after the
 * claim, when the count of claimed, an InitPlan, is asked for first); the valid ones are read. */
#define LOCKED_SQL(after_claim)                                                                    \
    "locked AS (SELECT device_number, serial, state FROM certificate"                              \
    " WHERE device_number = ANY ($1::text[])" after_claim " ORDER BY " CERTIFICATE_LOCK_ORDER      \
    " FOR UPDATE)"                                                                                 \
    " SELECT * FROM locked WHERE state IN " VALID_STATES

int ca_owners_claim(struct ca_store *store, const char *requester, const char *request_id,
                    const char *const *device_numbers, size_t count, PGresult **valid, char *err,
                    size_t errlen)
{
    int operator= requester_is_operator(requester);
    struct cl_pg_array array;
    const char *values[3];
    PGresult *res = NULL;
    int rc;

    if (valid != NULL)
        *valid = NULL;
    if (operator&& valid == NULL)
        return CL_OK;
    if ((values[0] = number_array(&array, device_numbers, count)) == NULL) {
        cl_pg_array_free(&array);
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    values[1] = requester;
    values[2] = request_id;
    /* With valid (a new request), the same statement then locks every certificate of the
     * numbers, before the claim's trigger locks those of the new owner rows FOR SHARE to move
     * the counts: otherwise that trigger would lock a later number's certificate before the batch
     * locks an earlier one's, and an installation, signing or retirement holding the earlier one
     * and waiting for the later one would wait in a circle with it. Held already, the trigger's
     * rows wait for nothing. The valid ones are those the statement's snapshot saw, as they are
     * once locked: a concurrent request's intents that committed meanwhile are not among them
     * (recorded again, they collide with this request's: CL_ERR_CONFLICT). */
    if (valid == NULL)
        rc = cl_pg_query(store->db, NULL, CLAIM_SQL, 3, values, err, errlen);
    else if (operator)
        rc = cl_pg_query(store->db, valid, "WITH " LOCKED_SQL(""), 1, values, err, errlen);
    else
        rc = cl_pg_query(store->db, valid,
                         "WITH claimed AS (" CLAIM_SQL
                         " RETURNING 1), " LOCKED_SQL(" AND (SELECT count(*) FROM claimed) >= 0"),
                         3, values, err, errlen);
    if (rc == CL_OK && !operator)
        rc = cl_pg_query(store->db, &res,
                         "SELECT i.n FROM unnest($1::text[]) WITH ORDINALITY AS i(n, ord)"
                         " JOIN device_owner o ON o.device_number = i.n"
                         " WHERE o.factory <> $2 ORDER BY i.ord LIMIT 1",
                         2, values, err, errlen);
    if (rc == CL_OK && !operator&& PQntuples(res) == 1) {
        cl_err_set(err, errlen,
                   "device number %s belongs to another factory: a comm-terminal may ask only for "
                   "its own factory's numbers (the service centre's operator can assign it: "
                   "ca-server assign)",
                   PQgetvalue(res, 0, 0));
        rc = CL_ERR_PERMISSION;
    }
    PQclear(res);
    cl_pg_array_free(&array);
    if (rc != CL_OK && valid != NULL) {
        PQclear(*valid);
        *valid = NULL;
    }
    return rc;
}

/* ---- what operators do and read ---- */

int ca_store_assign(struct ca_store *store, const char *const *device_numbers, size_t count,
                    const char *factory, const char *actor, char *err, size_t errlen)
{
    char buf[48], detail[DETAIL_MAX + 1];
    struct cl_pg_array array;
    const char *values[3];
    PGresult *res;
    int rc;

    if (store == NULL || device_numbers == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count == 0 || count > CA_ASSIGN_MAX) {
        cl_err_set(err, errlen, "an assignment names 1 to %d device numbers, not %zu",
                   CA_ASSIGN_MAX, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_text_ok(factory, 1, CA_FACTORY_MAX) || requester_is_operator(factory)) {
        cl_err_set(err, errlen, "factory \"%s\" must be a comm-terminal's name (1 to %d bytes)",
                   cl_shown(factory, buf, sizeof(buf)), CA_FACTORY_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (!device_numbers_ok(device_numbers, count, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if ((values[0] = number_array(&array, device_numbers, count)) == NULL) {
        cl_pg_array_free(&array);
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    values[1] = factory;
    values[2] = actor;
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        goto out;
    rc = cl_pg_query(store->db, &res,
                     "SELECT 1 FROM service_certificate WHERE role = 'comm-terminal' AND name = $1",
                     1, values + 1, err, errlen);
    if (rc == CL_OK) {
        int known = PQntuples(res) > 0;
        PQclear(res);
        if (!known) {
            cl_err_set(err, errlen,
                       "no comm-terminal certificate was issued for \"%s\" (the factory is its "
                       "comm-terminal certificate's name: ca-server issue-service comm-terminal "
                       "NAME)",
                       cl_shown(factory, buf, sizeof(buf)));
            rc = CL_ERR_NOT_FOUND;
        }
    }
    /* The owner rows in number order, as every claim locks them (a number named twice is
     * assigned once); then, in the same statement, the numbers' certificates FOR SHARE in
     * CERTIFICATE_LOCK_ORDER, as every writer of several certificates locks them, all before
     * the statement's triggers move the counts. The triggers lock the certificates too, but each
     * its own rows (those of changed owner rows first, then those of new ones): held already
     * here, they wait for nothing. The array (an InitPlan) is read whole, every owner row
     * written, before the first certificate is locked. */
    if (rc == CL_OK)
        rc = cl_pg_query(
            store->db, NULL,
            "WITH owned AS (INSERT INTO device_owner (device_number, factory, source, detail)"
            "  SELECT n, $2, 'operator', $3"
            "  FROM (SELECT DISTINCT n FROM unnest($1::text[]) AS n) d"
            "  ORDER BY n COLLATE \"C\" ON CONFLICT (device_number) DO UPDATE"
            "  SET factory = EXCLUDED.factory, source = EXCLUDED.source,"
            "  detail = EXCLUDED.detail, since = now() RETURNING device_number)"
            " SELECT 1 FROM certificate"
            " WHERE device_number = ANY (ARRAY(SELECT device_number FROM owned))"
            " ORDER BY " CERTIFICATE_LOCK_ORDER " FOR SHARE",
            3, values, err, errlen);
    snprintf(detail, sizeof(detail), "%zu device number(s) to %s, first %s", count, factory,
             device_numbers[0]);
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "assign", detail, err, errlen);
    rc = cl_pg_finish(store->db, rc, err, errlen);
out:
    cl_pg_array_free(&array);
    return rc;
}

#define OWNER_COLUMNS                                                                              \
    "device_number, factory, source, detail, floor(extract(epoch FROM since))::bigint"

static void owner_from_row(const PGresult *res, int row, void *owner)
{
    struct ca_owner *out = owner;
    memset(out, 0, sizeof(*out));
    cl_copy_text(out->device_number, sizeof(out->device_number), cl_pg_get_text(res, row, 0));
    cl_copy_text(out->factory, sizeof(out->factory), cl_pg_get_text(res, row, 1));
    cl_copy_text(out->source, sizeof(out->source), cl_pg_get_text(res, row, 2));
    cl_copy_text(out->detail, sizeof(out->detail), cl_pg_get_text(res, row, 3));
    out->since = (time_t)cl_pg_get_ll(res, row, 4);
}

int ca_store_owner_get(struct ca_store *store, const char *device_number, struct ca_owner *owner)
{
    const char *values[] = {device_number};
    struct ca_owner *rows;
    size_t count = 0;
    int rc;

    if (store == NULL || owner == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(owner, 0, sizeof(*owner));
    if (!device_number_ok(device_number, NULL))
        return CL_ERR_NOT_FOUND;
    rows = cl_pg_list(
        store->db, "SELECT " OWNER_COLUMNS " FROM device_owner WHERE device_number = $1", 1, values,
        sizeof(*rows), owner_from_row, &count, &rc, logged, "reading a device number's factory");
    if (rows == NULL)
        return rc;
    if (count == 1)
        *owner = rows[0];
    free(rows);
    return count == 1 ? CL_OK : CL_ERR_NOT_FOUND;
}

int ca_store_owner_list(struct ca_store *store, const char *factory, size_t limit,
                        struct ca_owner **rows, size_t *count)
{
    char limit_text[24];
    const char *values[] = {factory != NULL ? factory : "", limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, CA_ASSIGN_MAX * 10);
    *rows = cl_pg_list(store->db,
                       "SELECT " OWNER_COLUMNS " FROM device_owner"
                       " WHERE ($1 = '' OR factory = $1)"
                       " ORDER BY device_number COLLATE \"C\" LIMIT $2::bigint",
                       2, values, sizeof(**rows), owner_from_row, count, &rc, logged,
                       "listing device numbers' factories");
    return rc;
}
