/* store/reports.c: installation reports queued for ca-server and their signed receipts. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

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

/* Inside the caller's transaction: the report is done with this receipt (a report done already
 * keeps its first). CL_ERR_NOT_FOUND concerns this report only; any other failure leaves the
 * transaction to be rolled back. */
static int receipt_locked(struct ct_store *store, long long report_id, time_t received_at,
                          const char *signature_b64, const char *signer_pem, int delete_written,
                          char *err, size_t errlen)
{
    char id[24], when[24];
    const char *values[] = {id, when, signature_b64, signer_pem};
    PGresult *res;
    int rc;

    snprintf(id, sizeof(id), "%lld", report_id);
    snprintf(when, sizeof(when), "%lld", (long long)received_at);
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT state, device_number, serial FROM report WHERE id = $1::bigint"
                          " FOR UPDATE",
                          1, values, err, errlen)) != CL_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_log_warn("receipt: no installation report %lld", report_id);
        return CL_ERR_NOT_FOUND;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "done") == 0) {
        PQclear(res); /* held already: the first receipt stays */
        return CL_OK;
    }
    char device_number[CT_DEVICE_NUMBER_MAX + 1], serial[CT_SERIAL_HEX_MAX + 1];
    const char *certificate[] = {device_number, serial};
    cl_copy_text(device_number, sizeof(device_number), PQgetvalue(res, 0, 1));
    cl_copy_text(serial, sizeof(serial), PQgetvalue(res, 0, 2));
    PQclear(res);
    rc = cl_pg_query(store->db, NULL,
                     "UPDATE report SET state = 'done', received_at = to_timestamp($2::bigint),"
                     " signature = $3, signer_pem = $4 WHERE id = $1::bigint",
                     4, values, err, errlen);
    /* Effect 5: the written pack goes once its receipt is held. By the certificate's key, not
     * a join through the report: a join planned on stale statistics scanned the whole table. */
    if (rc == CL_OK && delete_written)
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET pack = NULL, pack_deleted_at = now()"
                         " WHERE device_number = $1 AND serial = $2 AND state = 'written'"
                         " AND pack IS NOT NULL",
                         2, certificate, err, errlen);
    return rc;
}

int ct_store_receipt(struct ct_store *store, long long report_id, time_t received_at,
                     const char *signature_b64, const char *signer_pem, int delete_written)
{
    char err[384];
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!receipt_ok(report_id, received_at, signature_b64, signer_pem))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        return cts_logged(rc, "storing a receipt", err);
    rc = receipt_locked(store, report_id, received_at, signature_b64, signer_pem, delete_written,
                        err, sizeof(err));
    if (rc == CL_ERR_NOT_FOUND)
        return cl_pg_fail(store->db, rc);
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "storing a receipt", err);
    return CL_OK;
}

int ct_store_receipts(struct ct_store *store, struct ct_receipt_row *rows, size_t count,
                      int delete_written)
{
    char err[384];
    int rc;

    if (store == NULL || (rows == NULL && count > 0))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        goto failed;
    for (size_t i = 0; i < count; i++) {
        struct ct_receipt_row *row = &rows[i];
        row->rc = receipt_ok(row->report_id, row->received_at, row->signature_b64, row->signer_pem)
                      ? receipt_locked(store, row->report_id, row->received_at, row->signature_b64,
                                       row->signer_pem, delete_written, err, sizeof(err))
                      : CL_ERR_INVALID_ARGUMENT;
        if (row->rc != CL_OK && row->rc != CL_ERR_NOT_FOUND && row->rc != CL_ERR_INVALID_ARGUMENT) {
            rc = cl_pg_fail(store->db, row->rc);
            goto failed;
        }
    }
    if ((rc = cl_pg_commit(store->db, err, sizeof(err))) == CL_OK)
        return CL_OK;
    cl_pg_fail(store->db, rc);
failed:
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
                          " reject_reason = $2, last_error = $2"
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
