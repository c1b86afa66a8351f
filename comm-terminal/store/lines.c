/* store/lines.c: the production lines' day for the console's Lines page: per line the devices
 * written (OK) and the write failures (NG) per hour, the last scan, and the median and p99 time
 * per device from its scan to its write result (ct_store_views.h). */
#include "ct_store_internal.h"
#include "ct_store_views.h"

#include <stdlib.h>
#include <string.h>

/* One row of the query: a line's whole day (hour -1) or one hour of it. */
struct line_hour {
    char line_id[CT_LINE_ID_MAX + 1];
    int hour;
    long ok, ng;
    time_t last;
    long median_ms, p99_ms;
};

static void hour_from_row(const PGresult *res, int i, void *out)
{
    struct line_hour *row = out;
    cl_copy_text(row->line_id, sizeof(row->line_id), cl_pg_get_text(res, i, 0));
    row->hour = PQgetisnull(res, i, 1) ? -1 : (int)cl_pg_get_ll(res, i, 1);
    row->ok = (long)cl_pg_get_ll(res, i, 2);
    row->ng = (long)cl_pg_get_ll(res, i, 3);
    row->last = (time_t)cl_pg_get_ll(res, i, 4);
    row->median_ms = PQgetisnull(res, i, 5) ? -1 : (long)cl_pg_get_ll(res, i, 5);
    row->p99_ms = PQgetisnull(res, i, 6) ? -1 : (long)cl_pg_get_ll(res, i, 6);
}

/* The day's written devices and failed writes of every line, by line and hour (local hours
 * from the day's start; the 25th hour of a day that turns the clocks back counts in the 24th),
 * each line's whole day first (grouping set (line)). The written devices come from the index
 * certificate_written_day alone; lines are grouped by bytes (COLLATE "C") and the hour computed
 * in float8, not numeric: each halved the query's time at a day of 10,000 devices. */
#define LINE_DAY_SQL                                                                               \
    "SELECT line, hour, count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok),"               \
    " floor(date_part('epoch', max(at)))::bigint,"                                                 \
    " round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::bigint,"                             \
    " round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::bigint"                             \
    " FROM (SELECT line COLLATE \"C\" AS line, at, ok, ms, least(23, greatest(0,"                  \
    "  floor((date_part('epoch', at) - $1::float8) / 3600)::int)) AS hour FROM ("                  \
    "  SELECT claimed_by_line AS line, written_at AS at, true AS ok, line_ms AS ms"                \
    "  FROM certificate WHERE state = 'written' AND written_at >= to_timestamp($1::bigint)"        \
    "  AND written_at < to_timestamp($2::bigint) AND claimed_by_line IS NOT NULL"                  \
    "  UNION ALL SELECT line_id, failed_at, false, NULL FROM failed_pack"                          \
    "  WHERE failed_at >= to_timestamp($1::bigint) AND failed_at < to_timestamp($2::bigint)"       \
    " ) e) x GROUP BY GROUPING SETS ((line, hour), (line))"                                        \
    " ORDER BY line, hour NULLS FIRST"

int ct_store_line_day(struct ct_store *store, const char *day, struct ct_line_day **rows,
                      size_t *count)
{
    char from[24], to[24];
    const char *values[] = {from, to};
    struct line_hour *hours;
    size_t n = 0, lines = 0;
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !cts_day_bounds("line day", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    hours = cl_pg_list(store->db, LINE_DAY_SQL, 2, values, sizeof(*hours), hour_from_row, &n, &rc,
                       cts_logged, "reading the lines' day");
    if (rc != CL_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        lines += hours[i].hour < 0;
    *rows = calloc(lines > 0 ? lines : 1, sizeof(**rows));
    if (*rows == NULL) {
        free(hours);
        return CL_ERR_NOMEM;
    }
    struct ct_line_day *line = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct line_hour *h = &hours[i];
        if (h->hour < 0) {
            line = &(*rows)[(*count)++];
            memcpy(line->line_id, h->line_id, sizeof(line->line_id));
            line->ok = h->ok;
            line->ng = h->ng;
            line->last_scan = h->last;
            line->median_ms = h->median_ms;
            line->p99_ms = h->p99_ms;
        } else if (line != NULL && strcmp(line->line_id, h->line_id) == 0) {
            line->ok_per_hour[h->hour] = h->ok;
            line->ng_per_hour[h->hour] = h->ng;
        }
    }
    free(hours);
    return CL_OK;
}
