/* store/console.c: what operators see [paragraph 0090]: status, certificate list, pack deletion. */
#include "ct_store_internal.h"
#include "ct_store_views.h"

#include <stdio.h>
#include <string.h>

/* ---- what operators see [paragraph 0090] ---- */

static void status_from_row(const PGresult *res, int i, void *out)
{
    struct ct_model_status *row = out;
    cl_copy_text(row->model_code, sizeof(row->model_code), cl_pg_get_text(res, i, 0));
    row->certificate_managed = cl_pg_get_bool(res, i, 1);
    row->held = (long)cl_pg_get_ll(res, i, 2);
    row->used_today = (long)cl_pg_get_ll(res, i, 3);
    row->remaining = (long)cl_pg_get_ll(res, i, 4);
    row->failed = (long)cl_pg_get_ll(res, i, 5);
    row->awaiting_receipt = (long)cl_pg_get_ll(res, i, 6);
    row->rejected = (long)cl_pg_get_ll(res, i, 7);
    row->retiring = (long)cl_pg_get_ll(res, i, 8);
    cl_copy_text(row->ca_state, sizeof(row->ca_state), cl_pg_get_text(res, i, 9));
    row->local_override = PQgetisnull(res, i, 10) ? -1 : cl_pg_get_bool(res, i, 10);
}

int ct_store_status(struct ct_store *store, const char *day, struct ct_model_status **rows,
                    size_t *count)
{
    char from[24], to[24];
    const char *values[] = {day, from, to};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cts_day_bounds("status", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    /* Each figure counted once for every model (grouped by model, then looked up per model),
     * from the rows it counts alone: the rejected reports still awaiting their replacement
     * (open, migration 10), the queued reports and retirements by their number's model prefix
     * (the same as the certificate's model, by the table's check) rather than a join. Each count
     * a CTE of its own: planned alone, as a subquery is (joined, the eight took 10 to 30 ms more
     * to plan, more than they took to run at a million devices). */
    *rows = cl_pg_list(
        store->db,
        "WITH h AS MATERIALIZED (SELECT model_code, count(*) AS n FROM certificate"
        "  WHERE pack IS NOT NULL AND state <> 'written' GROUP BY 1),"
        " u AS MATERIALIZED (SELECT model_code, count(*) AS n FROM certificate"
        "  WHERE state = 'written' AND written_at >= to_timestamp($2::bigint)"
        "  AND written_at < to_timestamp($3::bigint) GROUP BY 1),"
        /* the planned numbers not written, from the index of the open ones (migration 11) */
        " p AS MATERIALIZED (SELECT model_code, count(*) AS n FROM plan_device"
        "  WHERE day = $1::date AND NOT written GROUP BY 1),"
        " f AS MATERIALIZED (SELECT model_code, count(*) AS n FROM certificate"
        "  WHERE state = 'failed' GROUP BY 1),"
        " q AS MATERIALIZED (SELECT split_part(device_number, '-', 1) AS model_code,"
        "  count(*) AS n FROM report WHERE state = 'queued' GROUP BY 1),"
        " j AS MATERIALIZED (SELECT split_part(device_number, '-', 1) AS model_code,"
        "  count(*) AS n FROM report WHERE state = 'rejected' AND closed_at IS NULL GROUP BY 1),"
        " t AS MATERIALIZED (SELECT split_part(device_number, '-', 1) AS model_code,"
        "  count(*) AS n FROM retirement WHERE state = 'queued' GROUP BY 1)"
        " SELECT m.code, m.certificate_managed,"
        " coalesce((SELECT n FROM h WHERE h.model_code = m.code), 0),"
        " coalesce((SELECT n FROM u WHERE u.model_code = m.code), 0),"
        " coalesce((SELECT n FROM p WHERE p.model_code = m.code), 0),"
        " coalesce((SELECT n FROM f WHERE f.model_code = m.code), 0),"
        " coalesce((SELECT n FROM q WHERE q.model_code = m.code), 0),"
        " coalesce((SELECT n FROM j WHERE j.model_code = m.code), 0),"
        " coalesce((SELECT n FROM t WHERE t.model_code = m.code), 0),"
        " coalesce(m.ca_state, ''), m.local_override FROM model m ORDER BY m.code COLLATE \"C\"",
        3, values, sizeof(**rows), status_from_row, count, &rc, cts_logged, "reading the status");
    return rc;
}

static int cert_state_ok(const char *state)
{
    static const char *const states[] = {"stored", "delivered", "written", "failed", "replaced"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(state, states[i]) == 0)
            return 1;
    return 0;
}

/* What cert_from_row reads, before the WHERE clause: the last report of the number (a rejected
 * one stays visible while the replacement is provisioned). */
#define CERT_SELECT                                                                                \
    "SELECT c.device_number, c.model_code, c.state, c.write_flag,"                                 \
    " c.pack IS NOT NULL, coalesce(c.claimed_by_line, ''), c.serial,"                              \
    " floor(extract(epoch FROM c.created_at))::bigint,"                                            \
    " floor(extract(epoch FROM c.delivered_at))::bigint,"                                          \
    " floor(extract(epoch FROM c.written_at))::bigint,"                                            \
    " coalesce(r.state, ''), coalesce(r.reject_reason, ''),"                                       \
    " floor(extract(epoch FROM c.replaced_at))::bigint"                                            \
    " FROM certificate c LEFT JOIN LATERAL (SELECT state, reject_reason"                           \
    "  FROM report WHERE report.device_number = c.device_number"                                   \
    "  ORDER BY id DESC LIMIT 1) r ON true"

static void cert_from_row(const PGresult *res, int i, void *out)
{
    struct ct_cert_row *row = out;
    cl_copy_text(row->device_number, sizeof(row->device_number), cl_pg_get_text(res, i, 0));
    cl_copy_text(row->model_code, sizeof(row->model_code), cl_pg_get_text(res, i, 1));
    cl_copy_text(row->state, sizeof(row->state), cl_pg_get_text(res, i, 2));
    row->write_flag = (int)cl_pg_get_ll(res, i, 3);
    row->pack_held = cl_pg_get_bool(res, i, 4);
    cl_copy_text(row->line_id, sizeof(row->line_id), cl_pg_get_text(res, i, 5));
    cl_copy_text(row->serial_hex, sizeof(row->serial_hex), cl_pg_get_text(res, i, 6));
    row->created_at = (time_t)cl_pg_get_ll(res, i, 7);
    row->delivered_at = (time_t)cl_pg_get_ll(res, i, 8);
    row->written_at = (time_t)cl_pg_get_ll(res, i, 9);
    cl_copy_text(row->report, sizeof(row->report), cl_pg_get_text(res, i, 10));
    cl_copy_text(row->report_reason, sizeof(row->report_reason), cl_pg_get_text(res, i, 11));
    row->replaced_at = (time_t)cl_pg_get_ll(res, i, 12);
}

int ct_store_cert_list(struct ct_store *store, const char *state, const char *model_code,
                       size_t limit, struct ct_cert_row **rows, size_t *count)
{
    char limit_text[24], buf[48];
    const char *values[] = {state != NULL ? state : "", model_code != NULL ? model_code : "",
                            limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || limit < 1)
        return CL_ERR_INVALID_ARGUMENT;
    if (values[0][0] != '\0' && !cert_state_ok(values[0])) {
        cl_log_warn("certificate list: \"%s\" is not a state (stored, delivered, written, failed, "
                    "replaced)",
                    cl_shown(values[0], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_model_filter_ok("certificate list", values[1]))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, LIST_MAX);
    *rows = cl_pg_list(store->db,
                       /* The model as the number's prefix too (the same, by the table's
                        * check): a walk of the number order index then starts at the model. */
                       CERT_SELECT " WHERE ($1 = '' OR c.state = $1)"
                                   " AND ($2 = '' OR (c.model_code = $2 AND split_part("
                                   "c.device_number, '-', 1) COLLATE \"C\" = $2))"
                                   " ORDER BY " NUMBER_ORDER("c.device_number") " LIMIT $3::bigint",
                       3, values, sizeof(**rows), cert_from_row, count, &rc, cts_logged,
                       "listing certificates");
    return rc;
}

/* A search's filters, each its own clause, folded away when not given (a statement is planned
 * with its values, the absent day's bounds NULL): by number or serial, a key; by line, the
 * number order walked, or (a line with few devices or none) its devices from the index of the
 * lines' devices by time of writing (migration 11); by day, the day's writes in order
 * (migration 7), with a line from migration 11's index. */
#define SEARCH_WHERE                                                                               \
    CERT_SELECT " WHERE ($1 = '' OR c.device_number = $1 OR c.serial = upper($1)"                  \
                " OR c.model_code = $1) AND ($2 = '' OR c.state = $2)"                             \
                " AND ($3 = '' OR c.claimed_by_line = $3)"                                         \
                " AND ($4::bigint IS NULL OR (c.state = 'written'"                                 \
                " AND c.written_at >= to_timestamp($4::bigint)"                                    \
                " AND c.written_at < to_timestamp($5::bigint)))"
/* By device number; a day's writes in the order they were written (from the day's index:
 * sorting a day of 100,000 by number took seconds at a million devices). */
static const char search_by_number[] =
    SEARCH_WHERE " ORDER BY " NUMBER_ORDER("c.device_number") " LIMIT $6::bigint";
static const char search_by_day[] =
    SEARCH_WHERE " ORDER BY c.written_at, " NUMBER_ORDER("c.device_number") " LIMIT $6::bigint";

/* A search's filters checked: 1, or 0 with a warning saying which is wrong. */
static int search_ok(const char *query, const char *state, const char *line, const char *day)
{
    char shown[48];
    const char *what = NULL, *value = NULL;

    if (strlen(query) > 64)
        what = "longer than 64 characters", value = query;
    else if (state[0] != '\0' && !cert_state_ok(state))
        what = "not a state (stored, delivered, written, failed, replaced)", value = state;
    else if (line[0] != '\0' && !cl_token_ok(line, CT_LINE_ID_MAX))
        what = "not a line id (1 to 32 printable characters, no space)", value = line;
    else if (day[0] != '\0' && !cts_day_ok(day, NULL))
        what = "not a date (YYYY-MM-DD)", value = day;
    else if (day[0] != '\0' && state[0] != '\0' && strcmp(state, "written") != 0)
        what = "not written: a day of writing finds written devices only", value = state;
    if (what != NULL)
        cl_log_warn("searching certificates: \"%s\" is %s", cl_shown(value, shown, sizeof(shown)),
                    what);
    return what == NULL;
}

int ct_store_cert_search(struct ct_store *store, const struct ct_cert_search *search, size_t limit,
                         struct ct_cert_row **rows, size_t *count)
{
    char limit_text[24], from[24], to[24];
    const char *query = search != NULL && search->query != NULL ? search->query : "";
    const char *state = search != NULL && search->state != NULL ? search->state : "";
    const char *line = search != NULL && search->line_id != NULL ? search->line_id : "";
    const char *day = search != NULL && search->day != NULL ? search->day : "";
    const char *values[] = {
        query, state, line, day[0] != '\0' ? from : NULL, day[0] != '\0' ? to : NULL, limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || limit < 1 || !search_ok(query, state, line, day) ||
        (day[0] != '\0' && !cts_day_bounds("searching certificates", day, from, to)))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, LIST_MAX);
    *rows =
        cl_pg_list(store->db, day[0] != '\0' ? search_by_day : search_by_number, 6, values,
                   sizeof(**rows), cert_from_row, count, &rc, cts_logged, "searching certificates");
    return rc;
}

int ct_store_delete_model_packs(struct ct_store *store, const char *model_code, const char *actor,
                                size_t *deleted)
{
    const char *values[] = {model_code};
    char err[384], buf[48], detail[128];
    PGresult *res;
    size_t n;
    int rc;

    if (deleted != NULL)
        *deleted = 0;
    if (store == NULL || deleted == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_model_code_ok(model_code)) {
        cl_log_warn("deleting packs: device model code \"%s\" is malformed",
                    cl_shown(model_code, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("deleting the packs of %s: %s", model_code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT 1 FROM model WHERE code = $1", 1, values, err,
                          sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "deleting a model's packs", err);
    int known = PQntuples(res) == 1;
    PQclear(res);
    if (!known) {
        cl_log_warn("deleting packs: device model %s is not registered", model_code);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    /* Unwritten packs are retired at ca-server (sent later by the reporter thread). */
    if ((rc = cts_retirement_queue_model(store, model_code, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "UPDATE certificate SET pack = NULL, pack_deleted_at = now()"
                          " WHERE model_code = $1 AND pack IS NOT NULL",
                          1, values, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "deleting a model's packs", err);
    n = cl_pg_affected(res);
    PQclear(res);
    snprintf(detail, sizeof(detail), "device model %s: %zu pack(s) deleted", model_code, n);
    if ((rc = cl_pg_audit_in_tx(store->db, actor, "delete_model_packs", detail, err,
                                sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "deleting a model's packs", err);
    *deleted = n;
    cl_log_info("%s", detail);
    return CL_OK;
}
