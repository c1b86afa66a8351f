/* store/issuance.c: certificates signed per factory and day for the console, read from the counts
 * the database keeps (migration 11's issuance_count) and folded now and then. */
#include "store_internal.h"

#include "store_console.h"

/* Rows read beyond one per day and factory shown before a reading folds them all. */
#define FOLD_AFTER 2000

/* A row of the counts as read: the row shown, and how many rows of issuance_count it summed. */
struct counted {
    struct ca_issuance_row row;
    long long rows_read;
};

static void issuance_from_row(const PGresult *res, int i, void *out)
{
    struct ca_issuance_row *row = out;
    cl_copy_text(row->day, sizeof(row->day), cl_pg_get_text(res, i, 0));
    cl_copy_text(row->factory, sizeof(row->factory), cl_pg_get_text(res, i, 1));
    row->issued = cl_pg_get_ll(res, i, 2);
    row->installed = cl_pg_get_ll(res, i, 3);
    row->revoked = cl_pg_get_ll(res, i, 4);
}

static void counted_from_row(const PGresult *res, int i, void *out)
{
    struct counted *c = out;
    issuance_from_row(res, i, &c->row);
    c->rows_read = cl_pg_get_ll(res, i, 5);
}

/* 1 if this session counts days in the counts' time zone, 0 if not (logged), -1 on failure. */
static int same_zone(struct ca_store *store)
{
    char err[384];
    PGresult *res;
    int rc, same;

    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT zone = current_setting('TimeZone'), zone,"
                          " current_setting('TimeZone') FROM issuance_zone",
                          0, NULL, err, sizeof(err))) != CL_OK) {
        logged(rc, "reading the issuance counts' time zone", err);
        return -1;
    }
    same = PQntuples(res) == 1 && cl_pg_get_bool(res, 0, 0);
    if (!same)
        cl_log_warn("issuance is counted per day in time zone %s but this session's is %s: "
                    "counted from every certificate instead (slow at millions; "
                    "SELECT issuance_count_rebuild() counts again in the session's zone)",
                    PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "(none)",
                    PQntuples(res) == 1 ? PQgetvalue(res, 0, 2) : "(unknown)");
    PQclear(res);
    return same;
}

/* What the counts say: the rows of the window summed per day and factory. */
static int read_counts(struct ca_store *store, const char *const values[2],
                       struct ca_issuance_row **rows, size_t *count)
{
    struct counted *counted;
    long long read = 0;
    int rc;

    counted = cl_pg_list(store->db,
                         "SELECT to_char(day, 'YYYY-MM-DD'), factory, sum(issued),"
                         " sum(installed), sum(revoked), count(*)"
                         " FROM issuance_count"
                         " WHERE ($1 = '' OR day >= NULLIF($1, '')::date)"
                         " GROUP BY day, factory HAVING sum(issued) > 0"
                         " ORDER BY day DESC, factory LIMIT $2::bigint",
                         2, values, sizeof(*counted), counted_from_row, count, &rc, logged,
                         "reading the issuance counts");
    if (counted == NULL)
        return rc;
    /* The rows shown, moved to the front of the same memory (each to a lower address). */
    *rows = (struct ca_issuance_row *)(void *)counted;
    for (size_t i = 0; i < *count; i++) {
        read += counted[i].rows_read;
        memmove(&(*rows)[i], &counted[i].row, sizeof(**rows));
    }
    if (read > (long long)*count + FOLD_AFTER)
        ca_store_issuance_fold(store, NULL);
    return CL_OK;
}

int ca_store_issuance(struct ca_store *store, const char *since, size_t limit,
                      struct ca_issuance_row **rows, size_t *count)
{
    char limit_text[24];
    const char *values[] = {since != NULL ? since : "", limit_text};
    int rc, same;

    if (!CL_PG_LIST_START(store, rows, count) || !console_day_ok(values[0]))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, 100000);
    if ((same = same_zone(store)) < 0)
        return CL_ERR_DB;
    if (same)
        return read_counts(store, values, rows, count);
    *rows = cl_pg_list(store->db,
                       "SELECT to_char(c.issued_at, 'YYYY-MM-DD'), coalesce(o.factory, ''),"
                       " count(*), count(*) FILTER (WHERE c.state = 'installed'),"
                       " count(*) FILTER (WHERE c.state = 'revoked')"
                       " FROM certificate c LEFT JOIN device_owner o"
                       "  ON o.device_number = c.device_number"
                       " WHERE c.issued_at IS NOT NULL"
                       " AND ($1 = '' OR c.issued_at >= NULLIF($1, '')::date)"
                       " GROUP BY 1, 2 ORDER BY 1 DESC, 2 LIMIT $2::bigint",
                       2, values, sizeof(**rows), issuance_from_row, count, &rc, logged,
                       "counting issuance");
    return rc;
}

int ca_store_issuance_fold(struct ca_store *store, long *folded)
{
    char key[24], err[384];
    const char *values[] = {key};
    PGresult *res;
    int rc;

    if (folded != NULL)
        *folded = 0;
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(key, sizeof(key), "%d", LOCK_ISSUANCE_FOLD);
    /* One statement: the rows it deletes are those it sums, whatever is appended meanwhile (a
     * writer's rows not committed when it began stay for the next fold); a day and factory of
     * one row already is left alone. A fold already under way elsewhere makes this one do
     * nothing. */
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "WITH lock AS (SELECT pg_try_advisory_xact_lock($1::int, 0) AS got),"
                          " gone AS (DELETE FROM issuance_count"
                          "  WHERE (SELECT got FROM lock) AND (day, factory) IN"
                          "  (SELECT day, factory FROM issuance_count"
                          "   GROUP BY day, factory HAVING count(*) > 1) RETURNING *),"
                          " kept AS (INSERT INTO issuance_count"
                          "  (day, factory, issued, installed, revoked)"
                          "  SELECT day, factory, sum(issued), sum(installed), sum(revoked)"
                          "  FROM gone GROUP BY day, factory"
                          "  HAVING (sum(issued), sum(installed), sum(revoked)) <> (0, 0, 0)"
                          "  RETURNING 1)"
                          " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM kept)",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "folding the issuance counts", err);
    if (folded != NULL)
        *folded = (long)cl_pg_get_ll(res, 0, 0);
    cl_log_debug("issuance counts: %s row(s) folded into %s", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
    PQclear(res);
    return CL_OK;
}
