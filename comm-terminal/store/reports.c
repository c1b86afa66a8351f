/* store/reports.c: installation reports queued for ca-server and their signed receipts (alone,
 * or a batch under one signed manifest). */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "pg_array.h"

/* ---- installation reports and receipts [seed 004] ---- */

/* 1..max characters of base64. */
static int base64_ok(const char *s, size_t max)
{
    size_t n;
    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= max || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
            return 0;
    }
    return n > 0;
}

static void report_from_row(const PGresult *res, int i, void *out)
{
    struct ct_report *r = out;
    r->id = cl_pg_get_ll(res, i, 0);
    cl_copy_text(r->device_number, sizeof(r->device_number), cl_pg_get_text(res, i, 1));
    cl_copy_text(r->serial_hex, sizeof(r->serial_hex), cl_pg_get_text(res, i, 2));
    cl_copy_text(r->proof, sizeof(r->proof), cl_pg_get_text(res, i, 3));
    r->written_at = (time_t)cl_pg_get_ll(res, i, 4);
    r->attempts = (int)cl_pg_get_ll(res, i, 5);
}

int ct_store_reports_due(struct ct_store *store, time_t now, size_t limit,
                         struct ct_report **reports, size_t *count)
{
    char now_text[24], limit_text[24];
    const char *values[] = {now_text, limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, reports, count) || limit < 1)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
    cl_pg_limit_text(limit_text, limit, LIST_MAX);
    *reports = cl_pg_list(store->db,
                          "SELECT id, device_number, serial, proof,"
                          " floor(extract(epoch FROM written_at))::bigint, attempts FROM report"
                          " WHERE state = 'queued' AND next_attempt <= to_timestamp($1::bigint)"
                          " ORDER BY id LIMIT $2::bigint",
                          2, values, sizeof(**reports), report_from_row, count, &rc, cts_logged,
                          "listing the installation reports due");
    return rc;
}

/* A receipt's fields well formed (logged when not). */
static int receipt_ok(long long report_id, time_t received_at, const char *signature_b64,
                      const char *signer_pem)
{
    if (report_id < 1 || received_at <= 0 || !base64_ok(signature_b64, SIGNATURE_B64_MAX) ||
        !cl_utf8_ok(signer_pem, 1, SIGNER_PEM_MAX, 1)) {
        cl_log_warn("receipt for report %lld refused: report id, time, signature (base64, at "
                    "most %d) or signer certificate (PEM, at most %d bytes) malformed",
                    report_id, SIGNATURE_B64_MAX, SIGNER_PEM_MAX);
        return 0;
    }
    return 1;
}

/* The manifest kept once for a batch's receipts (inside the caller's transaction): its id as
 * text into id. */
static int manifest_insert(struct ct_store *store, const struct ct_receipt_manifest *m, char id[24],
                           char *err, size_t errlen)
{
    const char *values[] = {m->manifest, m->signature_b64, m->signer_pem};
    PGresult *res;
    int rc;

    if ((rc = cl_pg_query(store->db, &res,
                          "INSERT INTO receipt_manifest (manifest, signature, signer_pem)"
                          " VALUES ($1, $2, $3) RETURNING id",
                          3, values, err, errlen)) != CL_OK)
        return rc;
    cl_copy_text(id, 24, PQgetvalue(res, 0, 0));
    PQclear(res);
    return CL_OK;
}

/* The reports of the rows marked (in arrays) done with their receipts, at once; a report done
 * already keeps its first receipt. Each row's rc: CL_OK, or CL_ERR_NOT_FOUND when there is no
 * such report; the certificates whose reports became done now go into done_numbers and
 * done_serials (for their packs). Inside the caller's transaction. */
static int reports_done(struct ct_store *store, const char *const values[5],
                        struct ct_receipt_row *rows, size_t count, struct cl_pg_array *done_numbers,
                        struct cl_pg_array *done_serials, char *err, size_t errlen)
{
    PGresult *res;
    int rc;

    /* The report's row is locked by the UPDATE; one done meanwhile is re-read and left alone. */
    if ((rc = cl_pg_query(store->db, &res,
                          "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
                          "  $4::text[]) AS u (id, at, signature, signer_pem)),"
                          " done AS (UPDATE report r SET state = 'done',"
                          "  received_at = to_timestamp(u.at),"
                          "  signature = nullif(u.signature, ''),"
                          "  signer_pem = nullif(u.signer_pem, ''), manifest_id = $5::bigint"
                          "  FROM u WHERE r.id = u.id AND r.state <> 'done'"
                          "  RETURNING r.id, r.device_number, r.serial)"
                          " SELECT id, device_number, serial FROM done"
                          " UNION ALL SELECT u.id, NULL, NULL FROM u"
                          "  WHERE NOT EXISTS (SELECT 1 FROM report x WHERE x.id = u.id)",
                          5, values, err, errlen)) != CL_OK)
        return rc;
    for (int i = 0; i < PQntuples(res); i++) {
        long long id = cl_pg_get_ll(res, i, 0);
        int missing = PQgetisnull(res, i, 1);
        if (missing) {
            cl_log_warn("receipt: no installation report %lld", id);
            for (size_t k = 0; k < count; k++)
                if (rows[k].report_id == id && rows[k].rc == CL_OK)
                    rows[k].rc = CL_ERR_NOT_FOUND;
        } else {
            cl_pg_array_add(done_numbers, PQgetvalue(res, i, 1));
            cl_pg_array_add(done_serials, PQgetvalue(res, i, 2));
        }
    }
    PQclear(res);
    return CL_OK;
}

/* Effect 5: the written packs go once their receipts are held. By the certificate's key, not a
 * join through the report: a join planned on stale statistics scanned the whole table. */
static int packs_deleted(struct ct_store *store, struct cl_pg_array *numbers,
                         struct cl_pg_array *serials, char *err, size_t errlen)
{
    const char *values[] = {cl_pg_array_finish(numbers), cl_pg_array_finish(serials)};

    if (values[0] == NULL || values[1] == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    return cl_pg_query(store->db, NULL,
                       "UPDATE certificate c SET pack = NULL, pack_deleted_at = now()"
                       " FROM unnest($1::text[], $2::text[]) AS d (device_number, serial)"
                       " WHERE c.device_number = d.device_number AND c.serial = d.serial"
                       " AND c.state = 'written' AND c.pack IS NOT NULL",
                       2, values, err, errlen);
}

/* Inside the caller's transaction: every well-formed row's report done with its receipt (see
 * ct_store_receipts); any failure returned leaves the transaction to be rolled back. */
static int receipts_locked(struct ct_store *store, const struct ct_receipt_manifest *manifest,
                           struct ct_receipt_row *rows, size_t count, int delete_written, char *err,
                           size_t errlen)
{
    struct cl_pg_array ids, times, signatures, signers, numbers, serials;
    char manifest_id[24] = "";
    size_t valid = 0;
    int rc = CL_OK;

    cl_pg_array_init(&ids);
    cl_pg_array_init(&times);
    cl_pg_array_init(&signatures);
    cl_pg_array_init(&signers);
    cl_pg_array_init(&numbers);
    cl_pg_array_init(&serials);
    for (size_t i = 0; i < count; i++) {
        struct ct_receipt_row *row = &rows[i];
        /* Under a manifest, the manifest's signature and signer (stored once). */
        const char *signature = manifest != NULL ? manifest->signature_b64 : row->signature_b64,
                   *signer = manifest != NULL ? manifest->signer_pem : row->signer_pem;
        row->rc = receipt_ok(row->report_id, row->received_at, signature, signer)
                      ? CL_OK
                      : CL_ERR_INVALID_ARGUMENT;
        if (row->rc != CL_OK)
            continue;
        valid++;
        cl_pg_array_add_size(&ids, (size_t)row->report_id);
        cl_pg_array_add_size(&times, (size_t)row->received_at);
        cl_pg_array_add(&signatures, manifest != NULL ? "" : signature);
        cl_pg_array_add(&signers, manifest != NULL ? "" : signer);
    }
    if (valid > 0 && manifest != NULL)
        rc = manifest_insert(store, manifest, manifest_id, err, errlen);
    if (valid > 0 && rc == CL_OK) {
        const char *values[] = {cl_pg_array_finish(&ids), cl_pg_array_finish(&times),
                                cl_pg_array_finish(&signatures), cl_pg_array_finish(&signers),
                                manifest != NULL ? manifest_id : NULL};
        if (values[0] == NULL || values[1] == NULL || values[2] == NULL || values[3] == NULL) {
            cl_err_set(err, errlen, "out of memory");
            rc = CL_ERR_NOMEM;
        } else {
            rc = reports_done(store, values, rows, count, &numbers, &serials, err, errlen);
        }
    }
    if (rc == CL_OK && delete_written && numbers.count > 0)
        rc = packs_deleted(store, &numbers, &serials, err, errlen);
    cl_pg_array_free(&ids);
    cl_pg_array_free(&times);
    cl_pg_array_free(&signatures);
    cl_pg_array_free(&signers);
    cl_pg_array_free(&numbers);
    cl_pg_array_free(&serials);
    return rc;
}

int ct_store_receipt(struct ct_store *store, long long report_id, time_t received_at,
                     const char *signature_b64, const char *signer_pem, int delete_written)
{
    struct ct_receipt_row row = {report_id, received_at, signature_b64, signer_pem, CL_OK};
    int rc = ct_store_receipts(store, NULL, &row, 1, delete_written);

    return rc != CL_OK ? rc : row.rc;
}

int ct_store_receipts(struct ct_store *store, const struct ct_receipt_manifest *manifest,
                      struct ct_receipt_row *rows, size_t count, int delete_written)
{
    char err[384];
    int rc;

    if (store == NULL || (rows == NULL && count > 0))
        return CL_ERR_INVALID_ARGUMENT;
    if (manifest != NULL && manifest->manifest == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) == CL_OK &&
        (rc = receipts_locked(store, manifest, rows, count, delete_written, err, sizeof(err))) ==
            CL_OK &&
        (rc = cl_pg_commit(store->db, err, sizeof(err))) == CL_OK)
        return CL_OK;
    cl_pg_fail(store->db, rc);
    for (size_t i = 0; i < count; i++)
        rows[i].rc = rc; /* none of them kept */
    return cts_logged(rc, "storing a batch of receipts", err);
}

int ct_store_report_retry(struct ct_store *store, long long report_id, time_t next_attempt,
                          const char *reason)
{
    char id[24], when[24], why[RETRY_REASON_MAX + 1], err[384];
    const char *values[] = {id, when, why};
    PGresult *res;
    int rc;

    if (store == NULL || report_id < 1 || next_attempt <= 0)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(id, sizeof(id), "%lld", report_id);
    snprintf(when, sizeof(when), "%lld", (long long)next_attempt);
    cts_sanitize(why, sizeof(why),
                 reason != NULL && reason[0] != '\0' ? reason : "no reason given");
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "UPDATE report SET attempts = attempts + 1,"
                          " next_attempt = to_timestamp($2::bigint), last_error = $3"
                          " WHERE id = $1::bigint AND state = 'queued' RETURNING id",
                          3, values, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "recording a report attempt", err);
    int updated = PQntuples(res);
    PQclear(res);
    if (updated == 0) {
        if ((rc = cl_pg_query(store->db, &res, "SELECT state FROM report WHERE id = $1::bigint", 1,
                              values, err, sizeof(err))) != CL_OK)
            return cts_logged(cl_pg_fail(store->db, rc), "recording a report attempt", err);
        rc = PQntuples(res) == 0 ? CL_ERR_NOT_FOUND : CL_ERR_STATE;
        PQclear(res);
        cl_log_warn("report %lld: %s", report_id,
                    rc == CL_ERR_NOT_FOUND ? "no such report" : "its receipt is held already");
        return cl_pg_fail(store->db, rc);
    }
    if ((rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "recording a report attempt", err);
    return CL_OK;
}

int ct_store_report_reject(struct ct_store *store, long long report_id, const char *reason)
{
    char id[24], why[RETRY_REASON_MAX + 1], fail[RETRY_REASON_MAX + 64], err[384];
    char detail[CL_PG_AUDIT_DETAIL_MAX + 1];
    char device_number[CT_DEVICE_NUMBER_MAX + 1], serial[CT_SERIAL_HEX_MAX + 1];
    const char *values[] = {id, why}, *failure[] = {device_number, fail, serial};
    PGresult *res;
    int rc;

    if (store == NULL || report_id < 1)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(id, sizeof(id), "%lld", report_id);
    cts_sanitize(why, sizeof(why),
                 reason != NULL && reason[0] != '\0' ? reason : "no reason given");
    snprintf(fail, sizeof(fail), "installation report rejected by ca-server: %s", why);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "UPDATE report SET state = 'rejected', rejected_at = now(),"
                          " reject_reason = $2, last_error = $2,"
                          /* open until its device's replacement is written (closed at
                           * once if one is, as migration 10 closes them) */
                          " closed_at = (SELECT min(x.created_at) FROM report x"
                          "  WHERE x.device_number = report.device_number AND x.id > report.id)"
                          " WHERE id = $1::bigint AND state = 'queued'"
                          " RETURNING device_number, serial",
                          2, values, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "rejecting a report", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_log_warn("report %lld: not queued (no such report, or it ended already)", report_id);
        return cl_pg_fail(store->db, CL_ERR_STATE);
    }
    snprintf(detail, sizeof(detail), "report of %s (serial %s) rejected: %.300s",
             PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), why);
    cl_copy_text(device_number, sizeof(device_number), PQgetvalue(res, 0, 0));
    cl_copy_text(serial, sizeof(serial), PQgetvalue(res, 0, 1));
    PQclear(res);
    /* The device number is provisioned again: its certificate fails as after an NG write, so
     * that the next scan fetches a replacement (line_service.c). */
    rc = cl_pg_query(store->db, NULL,
                     "INSERT INTO failed_pack (device_number, serial, line_id, reason)"
                     " SELECT device_number, serial, coalesce(claimed_by_line, '-'), $2"
                     " FROM certificate WHERE device_number = $1 AND serial = $3"
                     " AND state = 'written'",
                     3, failure, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET state = 'failed', write_flag = 0,"
                         " failed_at = now(), fail_reason = $2, claimed_at = NULL"
                         " WHERE device_number = $1 AND serial = $3 AND state = 'written'",
                         3, failure, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, "reporter", "report_rejected", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "rejecting a report", err);
    return CL_OK;
}

int ct_store_gauges(struct ct_store *store, long *queued, long long *last_fetch)
{
    char err[384];
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT (SELECT count(*) FROM report WHERE state = 'queued'),"
                          " (SELECT coalesce(floor(extract(epoch FROM max(ended_at))), 0)::bigint"
                          " FROM fetch_request WHERE state = 'completed')",
                          0, NULL, err, sizeof(err))) != CL_OK)
        return cts_logged(rc, "reading the metrics' gauges", err);
    *queued = (long)cl_pg_get_ll(res, 0, 0);
    *last_fetch = cl_pg_get_ll(res, 0, 1);
    PQclear(res);
    return CL_OK;
}
