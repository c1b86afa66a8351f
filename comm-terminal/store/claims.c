/* store/claims.c: the line service's claims and certificate states [S5-S12]. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the line service [S5-S12] ---- */

static int line_refused(const char *number, const char *line_id, char *err, size_t errlen)
{
    char buf[48];
    cl_err_set(err, errlen, "device number %s: line id \"%s\" must be 1 to %d printable characters",
               number, cl_shown(line_id, buf, sizeof(buf)), CT_LINE_ID_MAX);
    return CL_ERR_INVALID_ARGUMENT;
}

/* Why a device number has no certificate row (CL_ERR_NOT_FOUND, or the database failure). */
static int not_in_store(struct ct_store *store, const char *number, char *err, size_t errlen)
{
    const char *values[] = {number};
    PGresult *res;
    int rc =
        cl_pg_query(store->db, &res,
                    "SELECT (SELECT certificate_managed FROM model"
                    "  WHERE code = split_part($1, '-', 1)),"
                    " (SELECT day::text FROM plan_device WHERE device_number = $1),"
                    " (SELECT request_id FROM fetch_item WHERE device_number = $1 AND pending)",
                    1, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (PQgetisnull(res, 0, 0))
        cl_err_set(err, errlen, "%s is not in store: device model %.*s is not registered", number,
                   (int)strcspn(number, "-"), number);
    else if (!cl_pg_get_bool(res, 0, 0))
        cl_err_set(err, errlen, "%s is not in store: device model %.*s is not certificate-managed",
                   number, (int)strcspn(number, "-"), number);
    else if (!PQgetisnull(res, 0, 2))
        cl_err_set(err, errlen, "%s is not in store yet: its certificate is requested (request %s)",
                   number, PQgetvalue(res, 0, 2));
    else if (!PQgetisnull(res, 0, 1))
        cl_err_set(err, errlen,
                   "%s is not in store: planned for %s, its certificate is not fetched", number,
                   PQgetvalue(res, 0, 1));
    else
        cl_err_set(err, errlen, "%s is not in store (not in the production plan)", number);
    PQclear(res);
    return CL_ERR_NOT_FOUND;
}

/* Columns of the row a line operation locks. */
enum { ROW_STATE, ROW_SERIAL, ROW_LINE, ROW_CLAIMED, ROW_PACK_HELD, ROW_ACTIVE };

/* Locks the certificate row of number (FOR UPDATE) inside the caller's transaction: *res holds
 * state, serial, claiming line, whether claimed, whether the pack is held, and whether the
 * claim is younger than claim_seconds. CL_ERR_NOT_FOUND (err says why) when there is none. */
static int lock_row(struct ct_store *store, const char *number, int claim_seconds, PGresult **res,
                    char *err, size_t errlen)
{
    char seconds[16];
    const char *values[] = {number, seconds};
    int rc;

    snprintf(seconds, sizeof(seconds), "%d", claim_seconds);
    rc = cl_pg_query(store->db, res,
                     "SELECT state, serial, coalesce(claimed_by_line, ''), claimed_at IS NOT NULL,"
                     " pack IS NOT NULL,"
                     " coalesce(claimed_at > now() - make_interval(secs => $2::int), false)"
                     " FROM certificate WHERE device_number = $1 FOR UPDATE",
                     2, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (PQntuples(*res) == 1)
        return CL_OK;
    PQclear(*res);
    *res = NULL;
    return not_in_store(store, number, err, errlen);
}

/* Begins a transaction and locks the row of number in it (lock_row); on failure the transaction
 * is rolled back. */
static int begin_locked(struct ct_store *store, const char *number, int claim_seconds,
                        PGresult **res, char *err, size_t errlen)
{
    int rc;
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = lock_row(store, number, claim_seconds, res, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    return CL_OK;
}

/* The checks of a line's report on a device (what it is, for a refusal): a store, a well-formed
 * device number and line id. */
static int report_ok(struct ct_store *store, const char *what, const char *number,
                     const char *line_id, char *err, size_t errlen)
{
    if (store == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cts_device_number_ok(number))
        return cts_number_refused(what, number, err, errlen);
    if (!cl_token_ok(line_id, CT_LINE_ID_MAX))
        return line_refused(number, line_id, err, errlen);
    return CL_OK;
}

/* One more statement of the caller's transaction, run only if all went well so far (rc). */
static int and_then(struct ct_store *store, int rc, const char *sql, int nparams,
                    const char *const *values, char *err, size_t errlen)
{
    return rc == CL_OK ? cl_pg_query(store->db, NULL, sql, nparams, values, err, errlen) : rc;
}

/* CL_OK if line holds the claim of the locked row, else CL_ERR_CONFLICT saying who does. */
static int claim_held(const PGresult *res, const char *number, const char *line_id, char *err,
                      size_t errlen)
{
    const char *holder = cl_pg_get_text(res, 0, ROW_LINE);
    if (cl_pg_get_bool(res, 0, ROW_CLAIMED) && strcmp(holder, line_id) == 0)
        return CL_OK;
    if (cl_pg_get_bool(res, 0, ROW_CLAIMED))
        cl_err_set(err, errlen, "%s is claimed by line %s, not line %s", number, holder, line_id);
    else
        cl_err_set(err, errlen, "%s is not claimed by line %s: ask for its pack first", number,
                   line_id);
    return CL_ERR_CONFLICT;
}

int ct_store_claim(struct ct_store *store, const char *device_number, const char *line_id,
                   int claim_seconds, char **pack, char serial_hex[CT_SERIAL_HEX_MAX + 1],
                   char *err, size_t errlen)
{
    const char *values[] = {device_number, line_id};
    PGresult *res = NULL, *packed = NULL;
    const char *state;
    int rc;

    if (pack != NULL)
        *pack = NULL;
    if (serial_hex != NULL)
        serial_hex[0] = '\0';
    if (store == NULL || pack == NULL || serial_hex == NULL) {
        cl_err_set(err, errlen, "no store or result");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cts_device_number_ok(device_number))
        return cts_number_refused("certificate request", device_number, err, errlen);
    if (!cl_token_ok(line_id, CT_LINE_ID_MAX))
        return line_refused(device_number, line_id, err, errlen);
    if (claim_seconds < 0 || claim_seconds > CLAIM_SECONDS_MAX) {
        cl_err_set(err, errlen, "claim time %d s is not 0..%d", claim_seconds, CLAIM_SECONDS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = begin_locked(store, device_number, claim_seconds, &res, err, errlen)) != CL_OK)
        return rc;
    state = cl_pg_get_text(res, 0, ROW_STATE);
    if (strcmp(state, "written") == 0) {
        cl_err_set(err, errlen, "%s is already written (serial %s, line %s)", device_number,
                   cl_pg_get_text(res, 0, ROW_SERIAL), cl_pg_get_text(res, 0, ROW_LINE));
        rc = CL_ERR_STATE;
    } else if (strcmp(state, "failed") == 0) {
        cl_err_set(err, errlen, "%s failed on line %s and has no replacement yet", device_number,
                   cl_pg_get_text(res, 0, ROW_LINE));
        rc = CL_ERR_STATE;
    } else if (!cl_pg_get_bool(res, 0, ROW_PACK_HELD)) {
        cl_err_set(err, errlen, "the pack of %s was deleted", device_number);
        rc = CL_ERR_STATE;
    } else if (cl_pg_get_bool(res, 0, ROW_ACTIVE) &&
               strcmp(cl_pg_get_text(res, 0, ROW_LINE), line_id) != 0) {
        cl_err_set(err, errlen, "%s is being served to line %s", device_number,
                   cl_pg_get_text(res, 0, ROW_LINE));
        rc = CL_ERR_CONFLICT;
    }
    PQclear(res);
    if (rc != CL_OK)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_query(store->db, &packed,
                          "UPDATE certificate SET claimed_by_line = $2, claimed_at = now(),"
                          " scanned_at = now() WHERE device_number = $1 RETURNING pack, serial",
                          2, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if ((*pack = strdup(cl_pg_get_text(packed, 0, 0))) == NULL) {
        PQclear(packed);
        cl_err_set(err, errlen, "out of memory");
        return cl_pg_fail(store->db, CL_ERR_NOMEM);
    }
    cl_copy_text(serial_hex, CT_SERIAL_HEX_MAX + 1, cl_pg_get_text(packed, 0, 1));
    PQclear(packed);
    if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK) {
        free(*pack);
        *pack = NULL;
        serial_hex[0] = '\0';
        return cl_pg_fail(store->db, rc);
    }
    return CL_OK;
}

int ct_store_awaits_replacement(struct ct_store *store, const char *device_number)
{
    const char *values[] = {device_number};
    PGresult *res = NULL;
    char err[256];
    int waits;

    if (store == NULL || !cts_device_number_ok(device_number))
        return 0;
    if (cl_pg_query(store->db, &res,
                    "SELECT 1 FROM certificate WHERE device_number = $1 AND state = 'failed'", 1,
                    values, err, sizeof(err)) != CL_OK)
        return 0;
    waits = PQntuples(res) == 1;
    PQclear(res);
    return waits;
}

int ct_store_delivered(struct ct_store *store, const char *device_number, const char *line_id,
                       char *err, size_t errlen)
{
    const char *values[] = {device_number};
    PGresult *res;
    const char *state;
    int rc;

    if ((rc = report_ok(store, "reception notice", device_number, line_id, err, errlen)) != CL_OK)
        return rc;
    if ((rc = begin_locked(store, device_number, 0, &res, err, errlen)) != CL_OK)
        return rc;
    state = cl_pg_get_text(res, 0, ROW_STATE);
    if (strcmp(state, "written") == 0 || strcmp(state, "failed") == 0) {
        cl_err_set(err, errlen, "%s is %s: a reception cannot be recorded", device_number, state);
        rc = CL_ERR_STATE;
    } else {
        rc = claim_held(res, device_number, line_id, err, errlen);
    }
    PQclear(res);
    /* The device has its pack and is writing it: the claim is renewed. */
    rc = and_then(store, rc,
                  "UPDATE certificate SET state = 'delivered', claimed_at = now(),"
                  " delivered_at = coalesce(delivered_at, now()) WHERE device_number = $1",
                  1, values, err, errlen);
    return cl_pg_finish(store->db, rc, err, errlen);
}

int ct_store_written(struct ct_store *store, const char *device_number, const char *line_id,
                     const char *serial_hex, const char *proof, time_t written_at, char *err,
                     size_t errlen)
{
    char value[CT_VERIFY_HEX + 1], when[24], buf[48];
    const char *values[] = {device_number, serial_hex, value, when};
    const char *update_values[] = {device_number, when};
    PGresult *res;
    const char *state, *serial;
    int rc;

    if ((rc = report_ok(store, "write result", device_number, line_id, err, errlen)) != CL_OK)
        return rc;
    if (!cl_serial_ok(serial_hex)) {
        cl_err_set(err, errlen, "%s: serial \"%s\" is malformed (2 to 40 upper-case hex digits)",
                   device_number, cl_shown(serial_hex, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_verify_value_ok(proof, value)) {
        cl_err_set(err, errlen, "%s: the installation proof must be %d hex digits", device_number,
                   CT_VERIFY_HEX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (written_at <= 0) {
        cl_err_set(err, errlen, "%s: no write time", device_number);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(when, sizeof(when), "%lld", (long long)written_at);
    if ((rc = begin_locked(store, device_number, 0, &res, err, errlen)) != CL_OK)
        return rc;
    state = cl_pg_get_text(res, 0, ROW_STATE);
    serial = cl_pg_get_text(res, 0, ROW_SERIAL);
    if (strcmp(state, "written") == 0) {
        /* A repeated S11 (the answer was lost): the same serial from the same line is fine. */
        if (strcmp(serial, serial_hex) != 0 ||
            strcmp(cl_pg_get_text(res, 0, ROW_LINE), line_id) != 0) {
            cl_err_set(err, errlen, "%s is already written (serial %s, line %s)", device_number,
                       serial, cl_pg_get_text(res, 0, ROW_LINE));
            rc = CL_ERR_CONFLICT;
        }
        PQclear(res);
        return rc == CL_OK ? cl_pg_commit(store->db, err, errlen) : cl_pg_fail(store->db, rc);
    }
    if (strcmp(state, "failed") == 0) {
        cl_err_set(err, errlen,
                   "%s failed (serial %s): its write cannot be recorded; ask for the "
                   "replacement",
                   device_number, serial);
        rc = CL_ERR_STATE;
    } else if ((rc = claim_held(res, device_number, line_id, err, errlen)) == CL_OK &&
               strcmp(serial, serial_hex) != 0) {
        cl_err_set(err, errlen,
                   "line %s reports serial %s written on %s, but its pack is serial %s", line_id,
                   serial_hex, device_number, serial);
        rc = CL_ERR_CONFLICT;
    }
    PQclear(res);
    rc = and_then(store, rc,
                  "UPDATE certificate SET state = 'written', write_flag = 1,"
                  " written_at = to_timestamp($2::bigint), line_ms = least(2000000000,"
                  " round(extract(epoch FROM clock_timestamp() - scanned_at) * 1000))::integer"
                  " WHERE device_number = $1",
                  2, update_values, err, errlen);
    /* The installation report is queued in the same transaction: due at once. It closes the
     * device's rejected report, if any: this is the replacement it awaited (status). */
    rc = and_then(store, rc,
                  "WITH queued AS (INSERT INTO report (device_number, serial, proof, written_at,"
                  " state, next_attempt) VALUES ($1, $2, $3, to_timestamp($4::bigint), 'queued',"
                  " least(now(), to_timestamp($4::bigint))) RETURNING device_number)"
                  " UPDATE report r SET closed_at = now() FROM queued"
                  " WHERE r.device_number = queued.device_number AND r.state = 'rejected'"
                  " AND r.closed_at IS NULL",
                  4, values, err, errlen);
    return cl_pg_finish(store->db, rc, err, errlen);
}

int ct_store_failed(struct ct_store *store, const char *device_number, const char *line_id,
                    const char *reason, char *err, size_t errlen)
{
    const char *values[] = {device_number, line_id, reason != NULL ? reason : ""};
    PGresult *res;
    const char *state;
    int rc;

    if ((rc = report_ok(store, "write result", device_number, line_id, err, errlen)) != CL_OK)
        return rc;
    if (!cl_utf8_ok(values[2], 0, REASON_MAX, 1)) {
        cl_err_set(err, errlen, "%s: the failure reason must be at most %d bytes of UTF-8 text",
                   device_number, REASON_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = begin_locked(store, device_number, 0, &res, err, errlen)) != CL_OK)
        return rc;
    state = cl_pg_get_text(res, 0, ROW_STATE);
    if (strcmp(state, "failed") == 0) {
        /* A repeated S11 NG from the line that reported it: already recorded. */
        if (strcmp(cl_pg_get_text(res, 0, ROW_LINE), line_id) != 0) {
            cl_err_set(err, errlen, "%s failed on line %s, not line %s", device_number,
                       cl_pg_get_text(res, 0, ROW_LINE), line_id);
            rc = CL_ERR_CONFLICT;
        }
        PQclear(res);
        return rc == CL_OK ? cl_pg_commit(store->db, err, errlen) : cl_pg_fail(store->db, rc);
    }
    if (strcmp(state, "written") == 0) {
        cl_err_set(err, errlen, "%s is already written (serial %s): a failure cannot be recorded",
                   device_number, cl_pg_get_text(res, 0, ROW_SERIAL));
        rc = CL_ERR_STATE;
    } else {
        rc = claim_held(res, device_number, line_id, err, errlen);
    }
    PQclear(res);
    rc = and_then(store, rc,
                  "INSERT INTO failed_pack (device_number, serial, line_id, reason)"
                  " SELECT device_number, serial, $2, $3 FROM certificate"
                  " WHERE device_number = $1",
                  3, values, err, errlen);
    rc = and_then(store, rc,
                  "UPDATE certificate SET state = 'failed', failed_at = now(),"
                  " fail_reason = $3, claimed_at = NULL"
                  " WHERE device_number = $1 AND claimed_by_line = $2",
                  3, values, err, errlen);
    if ((rc = cl_pg_finish(store->db, rc, err, errlen)) != CL_OK)
        return rc;
    cl_log_info("%s failed on line %s", device_number, line_id);
    return CL_OK;
}
