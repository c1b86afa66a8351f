/* store/retirements.c: packs deleted unwritten (delete-model, stock past stock_retention_days),
 * queued for retirement at ca-server in the transaction that deletes them, and their outcome. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "pg_array.h"

/* Queues every unwritten certificate whose pack is held and matches the caller's filter ($1 the
 * filter's value) for retirement with reason, inside the caller's transaction. */
#define QUEUE_SQL(reason, filter)                                                                  \
    "INSERT INTO retirement (serial, device_number, reason)"                                       \
    " SELECT serial, device_number, '" reason "' FROM certificate"                                 \
    " WHERE pack IS NOT NULL AND state <> 'written' AND " filter                                   \
    " ON CONFLICT (serial) DO NOTHING"

int cts_retirement_queue_model(struct ct_store *store, const char *model_code, char *err,
                               size_t errlen)
{
    const char *values[] = {model_code};
    return cl_pg_query(store->db, NULL, QUEUE_SQL("DISCONTINUED", "model_code = $1"), 1, values,
                       err, errlen);
}

int ct_store_expire_stock(struct ct_store *store, long long days, size_t *expired)
{
    char text[24], err[384], detail[128];
    const char *values[] = {text};
    PGresult *res;
    int rc;

    if (expired != NULL)
        *expired = 0;
    if (store == NULL || expired == NULL || days < 1)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(text, sizeof(text), "%lld", days);
/* A replacement pack is as old as its replacement, not as its device number's first pack. */
#define OLD "coalesce(replaced_at, created_at) < now() - make_interval(days => $1::int)"
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL, QUEUE_SQL("EXPIRED_STOCK", OLD), 1, values, err,
                          sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "UPDATE certificate SET pack = NULL, pack_deleted_at = now()"
                          " WHERE pack IS NOT NULL AND state <> 'written' AND " OLD,
                          1, values, err, sizeof(err))) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "expiring stock", err);
#undef OLD
    *expired = cl_pg_affected(res);
    PQclear(res);
    if (*expired == 0)
        return cts_logged(cl_pg_commit(store->db, err, sizeof(err)), "expiring stock", err);
    snprintf(detail, sizeof(detail), "%zu unwritten pack(s) older than %lld days deleted", *expired,
             days);
    if ((rc = cl_pg_audit_in_tx(store->db, "stock-retention", "expire_stock", detail, err,
                                sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK) {
        *expired = 0;
        return cts_logged(cl_pg_fail(store->db, rc), "expiring stock", err);
    }
    cl_log_info("%s", detail);
    return CL_OK;
}

static void retirement_from_row(const PGresult *res, int i, void *out)
{
    struct ct_retirement *r = out;
    cl_copy_text(r->serial_hex, sizeof(r->serial_hex), cl_pg_get_text(res, i, 0));
    cl_copy_text(r->device_number, sizeof(r->device_number), cl_pg_get_text(res, i, 1));
    r->discontinued = strcmp(cl_pg_get_text(res, i, 2), "DISCONTINUED") == 0;
    r->attempts = (int)cl_pg_get_ll(res, i, 3);
}

int ct_store_retirements_due(struct ct_store *store, time_t now, size_t limit,
                             struct ct_retirement **rows, size_t *count)
{
    char now_text[24], limit_text[24];
    const char *values[] = {now_text, limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || limit < 1)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
    cl_pg_limit_text(limit_text, limit, LIST_MAX);
    /* One reason per call (the oldest due), as ca:Retire carries one reason. */
    *rows = cl_pg_list(store->db,
                       "SELECT serial, device_number, reason, attempts FROM retirement"
                       " WHERE state = 'queued' AND next_attempt <= to_timestamp($1::bigint)"
                       " AND reason = (SELECT reason FROM retirement WHERE state = 'queued'"
                       "  AND next_attempt <= to_timestamp($1::bigint)"
                       "  ORDER BY next_attempt, serial LIMIT 1)"
                       " ORDER BY next_attempt, serial LIMIT $2::bigint",
                       2, values, sizeof(**rows), retirement_from_row, count, &rc, cts_logged,
                       "listing the retirements due");
    return rc;
}

int ct_store_retirement_outcome(struct ct_store *store, const struct ct_retirement *rows,
                                size_t count, enum ct_retirement_outcome outcome,
                                time_t next_attempt, const char *reason)
{
    static const char *const sql[] = {
        [CT_RETIRED] = "UPDATE retirement SET state = 'done', ended_at = now(), last_error = NULL"
                       " WHERE serial = ANY($1::text[]) AND state = 'queued'",
        [CT_RETIRE_REFUSED] = "UPDATE retirement SET state = 'refused', ended_at = now(),"
                              " last_error = $2 WHERE serial = ANY($1::text[])"
                              " AND state = 'queued'",
        [CT_RETIRE_LATER] = "UPDATE retirement SET attempts = attempts + 1,"
                            " next_attempt = to_timestamp($2::bigint), last_error = $3"
                            " WHERE serial = ANY($1::text[]) AND state = 'queued'",
    };
    struct cl_pg_array serials;
    char when[24], why[RETRY_REASON_MAX + 1], err[384];
    int rc;

    if (store == NULL || rows == NULL || count == 0 || outcome < CT_RETIRED ||
        outcome > CT_RETIRE_LATER)
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_array_init(&serials);
    for (size_t i = 0; i < count; i++)
        cl_pg_array_add(&serials, rows[i].serial_hex);
    snprintf(when, sizeof(when), "%lld", (long long)(next_attempt > 0 ? next_attempt : 1));
    cts_sanitize(why, sizeof(why), reason != NULL && reason[0] != '\0' ? reason : "-");
    const char *values[] = {cl_pg_array_finish(&serials), outcome == CT_RETIRE_LATER ? when : why,
                            why};
    if (values[0] == NULL) {
        cl_pg_array_free(&serials);
        return CL_ERR_NOMEM;
    }
    /* done: the serials; refused: and the reason; later: and the time and the reason */
    rc = cl_pg_query(store->db, NULL, sql[outcome], (int)outcome + 1, values, err, sizeof(err));
    cl_pg_array_free(&serials);
    return cts_logged(rc, "recording a retirement", err);
}
