/* store/retention.c: keys kept only while needed (packs purged after pack_retention_hours) and
 * retirement of certificates whose packs a comm-terminal deleted unwritten. */
#include "store_internal.h"

#define RETIRE_REASON "cessationOfOperation"

int ca_store_purge_packs(struct ca_store *store, long long hours, long *purged)
{
    char text[24], err[384];
    const char *values[] = {text};
    PGresult *res;
    int rc;

    if (purged != NULL)
        *purged = 0;
    if (store == NULL || hours < 1)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(text, sizeof(text), "%lld", hours);
    /* Issued and never installed: the pack is kept only for an idempotent retry. The rows are
     * locked first, all of them, in CERTIFICATE_LOCK_ORDER (the array is an InitPlan, read whole
     * before the UPDATE touches a row), not in the order the plan visits them: an owner change
     * or an installation batch of the same numbers locks them in that order too. */
    rc = cl_pg_query(store->db, &res,
                     "UPDATE certificate SET pack = NULL, pack_purged_at = now()"
                     " WHERE serial = ANY (ARRAY(SELECT serial FROM certificate"
                     "  WHERE state = 'issued' AND pack IS NOT NULL"
                     "  AND issued_at < now() - make_interval(hours => $1::int)"
                     "  ORDER BY " CERTIFICATE_LOCK_ORDER " FOR NO KEY UPDATE))"
                     " AND state = 'issued' AND pack IS NOT NULL",
                     1, values, err, sizeof(err));
    if (rc != CL_OK)
        return logged(rc, "purging packs", err);
    if (purged != NULL)
        *purged = atol(PQcmdTuples(res));
    PQclear(res);
    return CL_OK;
}

/* Retires one serial inside the caller's transaction. */
static int retire_one(struct ca_store *store, const char *requester, const char *why,
                      const char *serial, char *err, size_t errlen)
{
    const char *values[] = {serial, requester}, *revoking[] = {serial, why};
    char buf[48], detail[DETAIL_MAX + 1];
    PGresult *res;
    int rc;

    if (!cl_serial_ok(serial)) {
        cl_err_set(err, errlen, "serial \"%s\" is malformed", cl_shown(serial, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT c.state, c.device_number, coalesce(b.requester, '') = $2"
                          " FROM certificate c LEFT JOIN batch_request b"
                          " ON b.request_id = c.request_id WHERE c.serial = $1 FOR UPDATE OF c",
                          2, values, err, errlen)) != CL_OK)
        return rc;
    if (PQntuples(res) == 0) {
        cl_err_set(err, errlen, "certificate %s: no such certificate", serial);
        rc = CL_ERR_NOT_FOUND;
    } else if (!cl_pg_get_bool(res, 0, 2)) {
        cl_err_set(err, errlen, "certificate %s was not issued to %s", serial, requester);
        rc = CL_ERR_PERMISSION;
    } else if (strcmp(PQgetvalue(res, 0, 0), "installed") == 0) {
        cl_err_set(err, errlen,
                   "certificate %s of device number %s is installed in a device: it is not "
                   "retired (an operator revokes it)",
                   serial, PQgetvalue(res, 0, 1));
        rc = CL_ERR_STATE;
    } else if (strcmp(PQgetvalue(res, 0, 0), "intent") == 0 ||
               strcmp(PQgetvalue(res, 0, 0), "issued") == 0) {
        snprintf(detail, sizeof(detail), "certificate %s of device number %s: %s", serial,
                 PQgetvalue(res, 0, 1), why);
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET state = 'revoked', ended_at = now(), reason = $2,"
                         " reason_code = 5 WHERE serial = $1",
                         2, revoking, err, errlen);
        if (rc == CL_OK)
            rc = cl_pg_audit_in_tx(store->db, requester, "retire", detail, err, errlen);
    } /* superseded or revoked already: nothing left to do, it counts as retired */
    PQclear(res);
    return rc;
}

/* Inside the retirement's transaction: locks the certificates of the well-formed serials all at
 * once, in CERTIFICATE_LOCK_ORDER whatever the order they are named in, so that an owner change,
 * an installation batch or a signing batch of the same numbers never waits for this one in a
 * circle (each retire_one then locks a row held already). */
static int lock_serials(struct ca_store *store, const char *const *serials, size_t count, char *err,
                        size_t errlen)
{
    struct cl_pg_array array;
    const char *values[1];
    int rc;

    cl_pg_array_init(&array);
    for (size_t i = 0; i < count; i++)
        if (cl_serial_ok(serials[i]))
            cl_pg_array_add(&array, serials[i]);
    if ((values[0] = cl_pg_array_finish(&array)) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
    } else {
        rc = cl_pg_query(store->db, NULL,
                         "SELECT 1 FROM certificate WHERE serial = ANY ($1::text[])"
                         " ORDER BY " CERTIFICATE_LOCK_ORDER " FOR UPDATE",
                         1, values, err, errlen);
    }
    cl_pg_array_free(&array);
    return rc;
}

int ca_store_retire(struct ca_store *store, const char *requester, const char *retire_reason,
                    const char *const *serials, size_t count, size_t *retired, char *err,
                    size_t errlen)
{
    char why[REASON_MAX + 1];
    int rc;

    if (retired != NULL)
        *retired = 0;
    if (store == NULL || retired == NULL || serials == NULL || count < 1 || count > 1000 ||
        !cl_pg_audit_actor_ok(requester, err, errlen) || retire_reason == NULL) {
        if (err != NULL && err[0] == '\0')
            cl_err_set(err, errlen, "1 to 1000 serials, a requester and a reason");
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(why, sizeof(why), RETIRE_REASON " (%s, retired by %s)", retire_reason, requester);
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    rc = lock_serials(store, serials, count, err, errlen);
    for (size_t i = 0; i < count && rc == CL_OK; i++)
        rc = retire_one(store, requester, why, serials[i], err, errlen);
    if ((rc = cl_pg_finish(store->db, rc, err, errlen)) == CL_OK)
        *retired = count;
    return rc;
}
