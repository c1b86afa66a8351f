/* store/views.c: read-only listings for the operator console (ct_store_views.h). */
#include "ct_store_internal.h"
#include "ct_store_views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH(col) "floor(extract(epoch FROM " col "))::bigint"

static void proven_from_row(const PGresult *res, int i, void *out)
{
    struct ct_proven_row *row = out;
    cl_copy_text(row->device_number, sizeof(row->device_number), cl_pg_get_text(res, i, 0));
    cl_copy_text(row->serial_hex, sizeof(row->serial_hex), cl_pg_get_text(res, i, 1));
    row->written_at = (time_t)cl_pg_get_ll(res, i, 2);
    row->received_at = (time_t)cl_pg_get_ll(res, i, 3);
    row->signature_verified = cl_pg_get_bool(res, i, 4);
    row->report_id = cl_pg_get_ll(res, i, 5);
}

/* The day's receipts in the order written (then the report's id), from the index
 * report_done_written alone (migration 11): PostgreSQL hands the first rows on at once instead of
 * sorting the whole day first (a day of 100,000 sorted by number cost more of the server's time
 * than reading it). A done report has its own signature or its batch's manifest (constraint
 * report_done). The times' whole seconds from date_part's double (microseconds: the floor is
 * exact) rather than extract's numeric (the two times of 100,000 rows: 21 against 68 ms). */
static const char proven_cursor[] =
    "DECLARE proven NO SCROLL CURSOR FOR SELECT r.device_number, r.serial,"
    " floor(date_part('epoch', r.written_at))::bigint,"
    " floor(date_part('epoch', r.received_at))::bigint, true, r.id"
    " FROM report r WHERE r.state = 'done'"
    " AND r.written_at >= to_timestamp($1::bigint) AND r.written_at < to_timestamp($2::bigint)"
    " ORDER BY r.written_at, r.id LIMIT $3::bigint";

/* Hands the rows of one page to each: CL_OK, or each's return. */
static int proven_page(PGresult *res, ct_proven_each each, void *arg, size_t *count)
{
    struct ct_proven_row row;
    int rc = CL_OK;

    for (int i = 0; i < PQntuples(res) && rc == CL_OK; i++) {
        memset(&row, 0, sizeof(row));
        proven_from_row(res, i, &row);
        if ((rc = each(&row, arg)) == CL_OK)
            (*count)++;
    }
    return rc;
}

int ct_store_proven_each(struct ct_store *store, const char *day, size_t limit, size_t page_rows,
                         ct_proven_each each, void *arg, size_t *count)
{
    char from[24], to[24], max[24], fetch[64], err[256] = "";
    const char *values[] = {from, to, max};
    PGresult *res = NULL;
    int rc, rows;

    if (count != NULL)
        *count = 0;
    if (store == NULL || each == NULL || count == NULL || limit < 1 || page_rows < 1 ||
        page_rows > LIST_MAX || !cts_day_bounds("shipped and proven", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(max, limit, (size_t)-1 >> 1);
    /* The page's row count is a number of ours: FETCH takes no parameter. */
    snprintf(fetch, sizeof(fetch), "FETCH FORWARD %zu FROM proven", page_rows);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL, proven_cursor, 3, values, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_send(store->db, fetch, err, sizeof(err))) != CL_OK)
        goto out;
    do {
        if ((rc = cl_pg_take(store->db, &res, err, sizeof(err))) != CL_OK)
            goto out;
        rows = PQntuples(res);
        /* The next page is asked for before this one is handed on: the server reads it while
         * each works (two pages in memory at most). */
        if ((size_t)rows == page_rows &&
            (rc = cl_pg_send(store->db, fetch, err, sizeof(err))) != CL_OK) {
            PQclear(res);
            goto out;
        }
        rc = proven_page(res, each, arg, count);
        PQclear(res);
    } while (rc == CL_OK && (size_t)rows == page_rows);
out:
    cl_pg_rollback(store->db); /* read only: nothing to commit; closes the cursor (and discards
                                  a page asked for and not taken) */
    return err[0] != '\0' ? cts_logged(rc, "listing shipped and proven devices", err) : rc;
}

static void audit_from_row(const PGresult *res, int i, void *out)
{
    struct ct_audit_row *row = out;
    row->id = cl_pg_get_ll(res, i, 0);
    row->at = (time_t)cl_pg_get_ll(res, i, 1);
    cl_copy_text(row->actor, sizeof(row->actor), cl_pg_get_text(res, i, 2));
    cl_copy_text(row->action, sizeof(row->action), cl_pg_get_text(res, i, 3));
    cl_copy_text(row->detail, sizeof(row->detail), cl_pg_get_text(res, i, 4));
}

int ct_store_audit_list(struct ct_store *store, const struct ct_audit_filter *filter, size_t limit,
                        struct ct_audit_row **rows, size_t *count)
{
    char limit_text[24], from[24], to[24], before[24], shown[48];
    const char *actor = filter != NULL && filter->actor != NULL ? filter->actor : "";
    const char *action = filter != NULL && filter->action != NULL ? filter->action : "";
    const char *day = filter != NULL && filter->day != NULL ? filter->day : "";
    long long older = filter != NULL ? filter->before : 0;
    /* Absent filters as NULL bounds: the planner drops their clauses. */
    const char *values[] = {actor,
                            action,
                            day[0] != '\0' ? from : NULL,
                            day[0] != '\0' ? to : NULL,
                            older > 0 ? before : NULL,
                            limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || limit < 1 || older < 0)
        return CL_ERR_INVALID_ARGUMENT;
    if (strlen(actor) > 64 || strlen(action) > 64) {
        cl_log_warn("listing the audit log: operator or action \"%s\" longer than 64 bytes",
                    cl_shown(strlen(actor) > 64 ? actor : action, shown, sizeof(shown)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (day[0] != '\0' && !cts_day_bounds("listing the audit log", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(before, sizeof(before), "%lld", older);
    cl_pg_limit_text(limit_text, limit, LIST_MAX);
    /* Newest first by the key: a page after another starts below its last id (keyset), so
     * each page walks the key's index from there, however old. */
    *rows = cl_pg_list(store->db,
                       "SELECT id, " EPOCH("at") ", actor, action, detail FROM audit_log"
                                                 " WHERE ($1 = '' OR actor = $1)"
                                                 " AND ($2 = '' OR action = $2)"
                                                 " AND ($3::bigint IS NULL OR"
                                                 " (at >= to_timestamp($3::bigint)"
                                                 " AND at < to_timestamp($4::bigint)))"
                                                 " AND ($5::bigint IS NULL OR id < $5::bigint)"
                                                 " ORDER BY id DESC LIMIT $6::bigint",
                       6, values, sizeof(**rows), audit_from_row, count, &rc, cts_logged,
                       "listing the audit log");
    return rc;
}

static void history_from_row(const PGresult *res, int i, void *out)
{
    struct ct_history_row *row = out;
    row->at = (time_t)cl_pg_get_ll(res, i, 0);
    cl_copy_text(row->what, sizeof(row->what), cl_pg_get_text(res, i, 1));
    cl_copy_text(row->serial_hex, sizeof(row->serial_hex), cl_pg_get_text(res, i, 2));
    cl_copy_text(row->detail, sizeof(row->detail), cl_pg_get_text(res, i, 3));
}

/* A pack's generation: the id of the failure that ended it (failed_pack), the live one last. */
#define GENERATION_OF_C                                                                            \
    "coalesce((SELECT min(f.id) FROM f WHERE f.serial = c.serial), 9223372036854775807)"
#define GENERATION_OF_R                                                                            \
    "coalesce((SELECT min(f.id) FROM f WHERE f.serial = r.serial), 9223372036854775807)"

/* A device's events; g: the pack's generation (0 before the first pack), o: the step within it.
 * By the whole second first: a write's time has no fraction, and one recorded after its
 * delivery in the same second would sort before it by the exact times. The fetched row has the
 * first pack's serial (the first failed one's, if any); the row's request is the last pack's,
 * shown with its replacement. */
static const char history[] =
    "WITH f AS MATERIALIZED (SELECT id, serial, failed_at, line_id, reason FROM failed_pack"
    "  WHERE device_number = $1)"
    " SELECT floor(date_part('epoch', at))::bigint, what, serial, detail FROM ("
    " SELECT (SELECT imported_at FROM plan WHERE plan.model_code = p.model_code"
    "  AND plan.day = p.day) AS at, 'planned' AS what, '' AS serial,"
    "  'for ' || p.day::text AS detail, 0::bigint AS g, 0 AS o"
    "  FROM plan_device p WHERE p.device_number = $1"
    " UNION ALL SELECT created_at, 'fetched',"
    "  coalesce((SELECT f.serial FROM f ORDER BY f.id LIMIT 1), serial),"
    "  CASE WHEN replaced_at IS NULL THEN 'request ' || request_id ELSE '' END, 0, 1"
    "  FROM certificate WHERE device_number = $1"
    " UNION ALL SELECT failed_at, 'failed', serial, 'line ' || line_id || ': ' || reason, id, 5"
    "  FROM f"
    " UNION ALL SELECT replaced_at, 'replaced', serial, 'request ' || request_id, " GENERATION_OF_C
    ", 1 FROM certificate c WHERE device_number = $1 AND replaced_at IS NOT NULL"
    " UNION ALL SELECT delivered_at, 'delivered', serial,"
    "  'line ' || coalesce(claimed_by_line, ''), " GENERATION_OF_C
    ", 2 FROM certificate c WHERE device_number = $1 AND delivered_at IS NOT NULL"
    " UNION ALL SELECT written_at, 'written', serial,"
    "  'line ' || coalesce(claimed_by_line, ''), " GENERATION_OF_C
    ", 3 FROM certificate c WHERE device_number = $1 AND state = 'written'"
    " UNION ALL SELECT received_at, 'receipt', serial, CASE WHEN manifest_id IS NULL"
    "  THEN 'signature verified' ELSE 'batch signature verified' END, " GENERATION_OF_R
    ", 4 FROM report r WHERE device_number = $1 AND state = 'done'"
    " UNION ALL SELECT rejected_at, 'rejected', serial, reject_reason, " GENERATION_OF_R
    ", 4 FROM report r WHERE device_number = $1 AND state = 'rejected'"
    " UNION ALL SELECT pack_deleted_at, 'pack deleted', serial, '', " GENERATION_OF_C
    ", 6 FROM certificate c WHERE device_number = $1 AND pack_deleted_at IS NOT NULL"
    ") h WHERE at IS NOT NULL ORDER BY floor(date_part('epoch', at)), g, o, at";

int ct_store_device_history(struct ct_store *store, const char *device_number,
                            struct ct_history_row **rows, size_t *count)
{
    const char *values[] = {device_number};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !cts_device_number_ok(device_number))
        return CL_ERR_INVALID_ARGUMENT;
    *rows = cl_pg_list(store->db, history, 1, values, sizeof(**rows), history_from_row, count, &rc,
                       cts_logged, "reading a device's history");
    return rc;
}

int ct_store_cert_pack(struct ct_store *store, const char *device_number, char **pack,
                       time_t *deleted_at)
{
    const char *values[] = {device_number};
    char err[384];
    PGresult *res;
    int rc;

    if (pack != NULL)
        *pack = NULL;
    if (deleted_at != NULL)
        *deleted_at = 0;
    if (store == NULL || pack == NULL || deleted_at == NULL || !cts_device_number_ok(device_number))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT pack, " EPOCH("pack_deleted_at") " FROM certificate"
                                                                   " WHERE device_number = $1",
                          1, values, err, sizeof(err))) != CL_OK)
        return cts_logged(rc, "reading a device's pack", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return CL_ERR_NOT_FOUND;
    }
    if (!PQgetisnull(res, 0, 0) && (*pack = strdup(PQgetvalue(res, 0, 0))) == NULL)
        rc = CL_ERR_NOMEM;
    *deleted_at = (time_t)cl_pg_get_ll(res, 0, 1);
    PQclear(res);
    return rc;
}

int ct_store_day_ok(const char *day)
{
    return cts_day_ok(day, NULL);
}

static void ng_from_row(const PGresult *res, int i, void *out)
{
    struct ct_ng_row *row = out;
    cl_copy_text(row->line_id, sizeof(row->line_id), cl_pg_get_text(res, i, 0));
    cl_copy_text(row->reason, sizeof(row->reason), cl_pg_get_text(res, i, 1));
    row->count = (long)cl_pg_get_ll(res, i, 2);
}

int ct_store_ng_reasons(struct ct_store *store, const char *day, struct ct_ng_row **rows,
                        size_t *count)
{
    char from[24], to[24];
    const char *values[] = {from, to};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !cts_day_bounds("NG reasons", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    *rows = cl_pg_list(store->db,
                       "SELECT line_id, left(reason, 256), count(*) FROM failed_pack"
                       " WHERE failed_at >= to_timestamp($1::bigint)"
                       " AND failed_at < to_timestamp($2::bigint)"
                       " GROUP BY 1, 2 ORDER BY line_id COLLATE \"C\", 3 DESC LIMIT 1000",
                       2, values, sizeof(**rows), ng_from_row, count, &rc, cts_logged,
                       "reading NG reasons");
    return rc;
}

static void scan_from_row(const PGresult *res, int i, void *out)
{
    struct ct_scan_row *row = out;
    cl_copy_text(row->device_number, sizeof(row->device_number), cl_pg_get_text(res, i, 0));
    cl_copy_text(row->line_id, sizeof(row->line_id), cl_pg_get_text(res, i, 1));
    cl_copy_text(row->state, sizeof(row->state), cl_pg_get_text(res, i, 2));
    row->at = (time_t)cl_pg_get_ll(res, i, 3);
}

int ct_store_last_scans(struct ct_store *store, size_t limit, struct ct_scan_row **rows,
                        size_t *count)
{
    char limit_text[24];
    const char *values[] = {limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || limit < 1)
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, 1000);
    *rows = cl_pg_list(store->db,
                       "SELECT device_number, claimed_by_line, state, " EPOCH(
                           "coalesce(written_at, delivered_at)") " FROM certificate"
                                                                 " WHERE delivered_at IS NOT NULL"
                                                                 " AND claimed_by_line IS NOT NULL"
                                                                 " ORDER BY coalesce(written_at,"
                                                                 " delivered_at) DESC"
                                                                 " LIMIT $1::bigint",
                       1, values, sizeof(**rows), scan_from_row, count, &rc, cts_logged,
                       "reading the last scans");
    return rc;
}

static void units_from_row(const PGresult *res, int i, void *out)
{
    struct ct_plan_units *row = out;
    cl_copy_text(row->model_code, sizeof(row->model_code), cl_pg_get_text(res, i, 0));
    row->units = (long)cl_pg_get_ll(res, i, 1);
}

int ct_store_plan_units(struct ct_store *store, const char *day, struct ct_plan_units **rows,
                        size_t *count)
{
    const char *values[] = {day};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !cts_day_ok(day, NULL))
        return CL_ERR_INVALID_ARGUMENT;
    *rows = cl_pg_list(store->db,
                       "SELECT model_code, units FROM plan WHERE day = $1::date"
                       " ORDER BY model_code COLLATE \"C\"",
                       1, values, sizeof(**rows), units_from_row, count, &rc, cts_logged,
                       "reading the plan's units");
    return rc;
}

int ct_store_report_backlog(struct ct_store *store, struct ct_report_backlog *out)
{
    PGresult *res;
    char err[256];
    int rc;

    memset(out, 0, sizeof(*out));
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(
             store->db, &res,
             "SELECT count(*), coalesce(" EPOCH(
                 "min(created_at)") ", 0),"
                                    " coalesce(" EPOCH(
                                        "min(created_at) FILTER (WHERE attempts > 0"
                                        " AND last_error IS NOT NULL)") ", 0),"
                                                                        " coalesce((SELECT "
                                                                        "last_error FROM report "
                                                                        "WHERE state = 'queued'"
                                                                        "  AND last_error IS NOT "
                                                                        "NULL ORDER BY id DESC "
                                                                        "LIMIT 1), '')"
                                                                        " FROM report WHERE state "
                                                                        "= 'queued'",
             0, NULL, err, sizeof(err))) != CL_OK)
        return cts_logged(rc, "reading the report backlog", err);
    out->queued = (long)cl_pg_get_ll(res, 0, 0);
    out->oldest = (time_t)cl_pg_get_ll(res, 0, 1);
    out->failing_since = (time_t)cl_pg_get_ll(res, 0, 2);
    cl_copy_text(out->last_error, sizeof(out->last_error), cl_pg_get_text(res, 0, 3));
    PQclear(res);
    return CL_OK;
}
