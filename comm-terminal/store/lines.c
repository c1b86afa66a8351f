/* store/lines.c: the production lines' day for the console's Lines page: per line the devices
 * written (OK) and the write failures (NG) per hour, the last scan, and the median and p99 time
 * per device from its scan to its write result; and for Today's chart the devices written per
 * model and hour (ct_store_views.h). */
#include "ct_store_internal.h"
#include "ct_store_views.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One result of the day on a line: a device written (ok, with its time on the line when known,
 * else -1) or a failed write. */
struct line_event {
    char line_id[CT_LINE_ID_MAX + 1];
    time_t at;
    long ms;
    bool ok;
};

static void event_from_row(const PGresult *res, int i, void *out)
{
    struct line_event *e = out;
    cl_copy_text(e->line_id, sizeof(e->line_id), cl_pg_get_text(res, i, 0));
    e->at = (time_t)cl_pg_get_ll(res, i, 1);
    e->ms = PQgetisnull(res, i, 2) ? -1 : (long)cl_pg_get_ll(res, i, 2);
    e->ok = strcmp(cl_pg_get_text(res, i, 3), "t") == 0;
}

/* The day's results, unordered, straight from the index certificate_written_day alone and
 * failed_pack's day index: grouping and percentiles are done here, not by PostgreSQL, whose
 * sort of a day of 100,000 devices by line and hour (and again per line for the percentiles)
 * took five times as long as reading the rows. */
#define LINE_EVENTS_SQL                                                                            \
    "SELECT claimed_by_line, floor(date_part('epoch', written_at))::bigint, line_ms, true"         \
    " FROM certificate WHERE state = 'written' AND written_at >= to_timestamp($1::bigint)"         \
    " AND written_at < to_timestamp($2::bigint) AND claimed_by_line IS NOT NULL"                   \
    " UNION ALL SELECT line_id, floor(date_part('epoch', failed_at))::bigint, NULL, false"         \
    " FROM failed_pack WHERE failed_at >= to_timestamp($1::bigint)"                                \
    " AND failed_at < to_timestamp($2::bigint)"

/* A line's day being summed up, with the line times of its written devices. */
struct line_sum {
    struct ct_line_day day;
    long *ms;
    size_t ms_n, ms_cap;
};

static int compare_ms(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* PostgreSQL's percentile_cont(p) of the sorted values, rounded as its round() does (to even). */
static long percentile(const long *sorted, size_t n, double p)
{
    if (n == 0)
        return -1;
    double position = p * (double)(n - 1);
    size_t first = (size_t)floor(position), second = (size_t)ceil(position);
    double value = (double)sorted[first] +
                   (double)(sorted[second] - sorted[first]) * (position - (double)first);
    return (long)rint(value);
}

/* The line's sum in sums (kept in byte order of line ids), added in its place when new. */
static struct line_sum *line_sum_of(struct line_sum **sums, size_t *n, size_t *cap,
                                    const char *line_id)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp((*sums)[mid].day.line_id, line_id);
        if (c == 0)
            return &(*sums)[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (*n == *cap) {
        size_t grown = *cap > 0 ? *cap * 2 : 16;
        struct line_sum *more = realloc(*sums, grown * sizeof(*more));
        if (more == NULL)
            return NULL;
        *sums = more;
        *cap = grown;
    }
    memmove(&(*sums)[lo + 1], &(*sums)[lo], (*n - lo) * sizeof(**sums));
    memset(&(*sums)[lo], 0, sizeof(**sums));
    memcpy((*sums)[lo].day.line_id, line_id, sizeof((*sums)[lo].day.line_id));
    (*n)++;
    return &(*sums)[lo];
}

static bool add_event(struct line_sum *sum, const struct line_event *e, time_t day_start)
{
    long hour = (long)((e->at - day_start) / 3600); /* at >= day_start: no negative division */
    if (hour > 23)
        hour = 23; /* the 25th hour of a day that turns the clocks back counts in the 24th */
    if (e->at > sum->day.last_scan)
        sum->day.last_scan = e->at;
    if (!e->ok) {
        sum->day.ng++;
        sum->day.ng_per_hour[hour]++;
        return true;
    }
    sum->day.ok++;
    sum->day.ok_per_hour[hour]++;
    if (e->ms < 0)
        return true;
    if (sum->ms_n == sum->ms_cap) {
        size_t grown = sum->ms_cap > 0 ? sum->ms_cap * 2 : 256;
        long *more = realloc(sum->ms, grown * sizeof(*more));
        if (more == NULL)
            return false;
        sum->ms = more;
        sum->ms_cap = grown;
    }
    sum->ms[sum->ms_n++] = e->ms;
    return true;
}

int ct_store_line_day(struct ct_store *store, const char *day, struct ct_line_day **rows,
                      size_t *count)
{
    char from[24], to[24];
    const char *values[] = {from, to};
    struct line_event *events;
    struct line_sum *sums = NULL;
    size_t n = 0, lines = 0, cap = 0;
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !cts_day_bounds("line day", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    events = cl_pg_list(store->db, LINE_EVENTS_SQL, 2, values, sizeof(*events), event_from_row, &n,
                        &rc, cts_logged, "reading the lines' day");
    if (rc != CL_OK)
        return rc;
    time_t day_start = (time_t)strtoll(from, NULL, 10);
    rc = CL_OK;
    for (size_t i = 0; i < n && rc == CL_OK; i++) {
        struct line_sum *sum = line_sum_of(&sums, &lines, &cap, events[i].line_id);
        if (sum == NULL || !add_event(sum, &events[i], day_start))
            rc = CL_ERR_NOMEM;
    }
    free(events);
    *rows = rc == CL_OK ? calloc(lines > 0 ? lines : 1, sizeof(**rows)) : NULL;
    if (*rows == NULL && rc == CL_OK)
        rc = CL_ERR_NOMEM;
    for (size_t i = 0; i < lines; i++) {
        if (rc == CL_OK) {
            if (sums[i].ms_n > 0)
                qsort(sums[i].ms, sums[i].ms_n, sizeof(*sums[i].ms), compare_ms);
            sums[i].day.median_ms = percentile(sums[i].ms, sums[i].ms_n, 0.5);
            sums[i].day.p99_ms = percentile(sums[i].ms, sums[i].ms_n, 0.99);
            (*rows)[i] = sums[i].day;
        }
        free(sums[i].ms);
    }
    free(sums);
    if (rc != CL_OK)
        return rc;
    *count = lines;
    return CL_OK;
}

/* ---- Today's chart: the day's written devices per model, added up hour by hour ---- */

/* From the index certificate_written_day alone (written_at with the model), grouped by model only
 * (a handful of groups, hashed), each hour's end a filtered count: grouping by model and hour
 * instead made PostgreSQL sort the day's 100,000 rows (it cannot tell an hour from a time's
 * distinct values), two to three times the plain count's time at a million devices. Hour k ends
 * at the day's start + k hours as add_event counts them; the 24th at the day's end. */
/* clang-format off */
#define WRITTEN_BY(n) ", count(*) FILTER (WHERE written_at < $" #n "::timestamptz)"
#define MODEL_HOURS_SQL                                                                            \
    "SELECT model_code"                                                                            \
    WRITTEN_BY(3) WRITTEN_BY(4) WRITTEN_BY(5) WRITTEN_BY(6) WRITTEN_BY(7) WRITTEN_BY(8)            \
    WRITTEN_BY(9) WRITTEN_BY(10) WRITTEN_BY(11) WRITTEN_BY(12) WRITTEN_BY(13) WRITTEN_BY(14)       \
    WRITTEN_BY(15) WRITTEN_BY(16) WRITTEN_BY(17) WRITTEN_BY(18) WRITTEN_BY(19) WRITTEN_BY(20)      \
    WRITTEN_BY(21) WRITTEN_BY(22) WRITTEN_BY(23) WRITTEN_BY(24) WRITTEN_BY(25)                     \
    ", count(*) FROM certificate WHERE state = 'written'"                                          \
    " AND written_at >= to_timestamp($1::bigint) AND written_at < to_timestamp($2::bigint)"       \
    " GROUP BY 1 ORDER BY 1"
/* clang-format on */

static void model_hours_from_row(const PGresult *res, int i, void *out)
{
    struct ct_model_hours *m = out;
    cl_copy_text(m->model_code, sizeof(m->model_code), cl_pg_get_text(res, i, 0));
    for (int h = 0; h < 24; h++)
        m->written_by[h] = (long)cl_pg_get_ll(res, i, 1 + h);
}

int ct_store_model_hours(struct ct_store *store, const char *day, struct ct_model_hours **rows,
                         size_t *count)
{
    char from[24], to[24], ends[23][32];
    const char *values[2 + 23] = {from, to};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !cts_day_bounds("model hours", day, from, to))
        return CL_ERR_INVALID_ARGUMENT;
    time_t day_start = (time_t)strtoll(from, NULL, 10);
    for (int k = 0; k < 23; k++) { /* as UTC text: read once as a timestamptz, no call per row */
        time_t end = day_start + (time_t)(k + 1) * 3600;
        struct tm tm;
        gmtime_r(&end, &tm);
        strftime(ends[k], sizeof(ends[k]), "%Y-%m-%d %H:%M:%S+00", &tm);
        values[2 + k] = ends[k];
    }
    *rows = cl_pg_list(store->db, MODEL_HOURS_SQL, 2 + 23, values, sizeof(**rows),
                       model_hours_from_row, count, &rc, cts_logged, "reading the day's hours");
    return rc;
}
