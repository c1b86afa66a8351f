/* ct_store_views.h: the store's read-only listings for the operator console (store/views.c):
 * the "shipped and proven" report, the audit log, device search and history, line results
 * (store/lines.c: the Lines page's day, Today's devices per hour). */
#ifndef CERTLINE_CT_STORE_VIEWS_H
#define CERTLINE_CT_STORE_VIEWS_H

#include <stddef.h>
#include <time.h>

#include "ct_store.h"

/* One device written on a day whose installation report ca-server answered with a receipt. The
 * comm-terminal stores a receipt only after verifying its signature (ct_receipt_keep) or, for a
 * batch-signed receipt, its batch manifest's signature with the receipt in it (report_link.c),
 * so a stored signature or manifest is a verified one. */
struct ct_proven_row {
    char device_number[CT_DEVICE_NUMBER_MAX + 1];
    char serial_hex[CT_SERIAL_HEX_MAX + 1];
    time_t written_at;
    time_t received_at;
    int signature_verified;
    long long report_id; /* orders two reports of one number */
};
/* What ct_store_proven_each hands each row to: CL_OK to go on, else the listing stops and
 * returns the code. */
typedef int (*ct_proven_each)(const struct ct_proven_row *row, void *arg);
#define CT_PROVEN_PAGE_ROWS 5000 /* rows read from the cursor at a time */
/* The devices written on day (YYYY-MM-DD, local time) with a receipt, in the order written (then
 * the report's id), at most limit, each handed to each
 * as it is read: from a cursor, page_rows at a time, in one transaction, so that memory holds one
 * page whatever the day's size. *count gets the rows each took. CL_OK, each's code, or a
 * failure (logged). */
int ct_store_proven_each(struct ct_store *store, const char *day, size_t limit, size_t page_rows,
                         ct_proven_each each, void *arg, size_t *count);

struct ct_audit_row {
    long long id;
    time_t at;
    char actor[65];
    char action[65];
    char detail[513];
};
/* Which audit entries: each filter applies when not "" (NULL: ""). */
struct ct_audit_filter {
    const char *actor;  /* exactly this operator id (at most 64 bytes) */
    const char *action; /* exactly this action (at most 64 bytes) */
    const char *day;    /* YYYY-MM-DD: entries of that local day */
    long long before;   /* > 0: entries older than this id (the next page); 0 the newest */
};
/* The newest audit entries first (by id, which follows the order they were written), at most
 * limit; a page's last id as the next page's before reaches every entry. */
int ct_store_audit_list(struct ct_store *store, const struct ct_audit_filter *filter, size_t limit,
                        struct ct_audit_row **rows, size_t *count);

/* What a certificate search matches: each filter applies when not "" (NULL: ""). */
struct ct_cert_search {
    const char *query;   /* the device number, serial (hex, either case) or model; <= 64 bytes */
    const char *state;   /* stored, delivered, written, failed or replaced */
    const char *line_id; /* the line that claimed it (its last claim) */
    const char *day;     /* YYYY-MM-DD: written on that local day (so state written or "") */
};
/* Certificates as search says, by device number (with a day: in the order written, then by
 * number), at most limit (rows as ct_store_cert_list). CL_ERR_INVALID_ARGUMENT (logged) for a
 * malformed or contradictory search. */
int ct_store_cert_search(struct ct_store *store, const struct ct_cert_search *search, size_t limit,
                         struct ct_cert_row **rows, size_t *count);

/* The pack a device's certificate row holds: CL_OK with *pack (malloc'd; NULL once deleted, then
 * *deleted_at says when), CL_ERR_NOT_FOUND if the number has no certificate. The pack's private
 * key is sealed for the device: whoever reads it shows the certificate only. */
int ct_store_cert_pack(struct ct_store *store, const char *device_number, char **pack,
                       time_t *deleted_at);

/* 1 if day is YYYY-MM-DD, a real date of the years 2000 to 2999 (as every day the store takes). */
int ct_store_day_ok(const char *day);

/* One event of a device's history: planned, fetched, delivered, written, failed (with the
 * reason), replaced, receipt, rejected (with ca-server's reason), pack deleted. Oldest first by
 * the whole second shown (a write's time is kept in whole seconds, the others to the
 * microsecond); within a second in life-cycle order: a pack's generations in the order they
 * came (each failed one before its replacement), and in one generation fetched or replaced,
 * delivered, written, receipt or rejection, failed, pack deleted. */
struct ct_history_row {
    time_t at;
    char what[16];
    char serial_hex[CT_SERIAL_HEX_MAX + 1];
    char detail[513];
};
int ct_store_device_history(struct ct_store *store, const char *device_number,
                            struct ct_history_row **rows, size_t *count);

/* NG reasons on day: line, reason, how many. */
struct ct_ng_row {
    char line_id[CT_LINE_ID_MAX + 1];
    char reason[257];
    long count;
};
int ct_store_ng_reasons(struct ct_store *store, const char *day, struct ct_ng_row **rows,
                        size_t *count);

/* The last scans on any line (devices delivered), newest first. */
struct ct_scan_row {
    char device_number[CT_DEVICE_NUMBER_MAX + 1];
    char line_id[CT_LINE_ID_MAX + 1];
    char state[16];
    time_t at;
};
int ct_store_last_scans(struct ct_store *store, size_t limit, struct ct_scan_row **rows,
                        size_t *count);

/* Units planned per model on day (FIG 19B). */
struct ct_plan_units {
    char model_code[CT_MODEL_CODE_MAX + 1];
    long units;
};
int ct_store_plan_units(struct ct_store *store, const char *day, struct ct_plan_units **rows,
                        size_t *count);

/* Installation reports waiting for ca-server: how many, the oldest's creation, and the last
 * attempt's failure of any of them (failing_since: the oldest failed one's creation; 0 none). */
struct ct_report_backlog {
    long queued;
    time_t oldest;
    time_t failing_since;
    char last_error[513];
};
int ct_store_report_backlog(struct ct_store *store, struct ct_report_backlog *out);

/* ---- the Lines page (store/lines.c) ---- */

/* One line's day: devices written (OK) and write failures (NG), in all and per local hour; the
 * last scan; the median and p99 time per written device from its scan (S9) to its write result
 * (S11) in milliseconds (-1: none measured). */
struct ct_line_day {
    char line_id[CT_LINE_ID_MAX + 1];
    long ok, ng;
    time_t last_scan;
    long median_ms, p99_ms;
    long ok_per_hour[24], ng_per_hour[24];
};
/* Every line with a result on day (YYYY-MM-DD, local time), by line id; *rows is malloc'd. */
int ct_store_line_day(struct ct_store *store, const char *day, struct ct_line_day **rows,
                      size_t *count);

/* Today's chart: per model the devices written on day (YYYY-MM-DD) from its start to the end of
 * each local hour (written_by[23]: the whole day); models with none that day are absent.
 * *rows is malloc'd. */
struct ct_model_hours {
    char model_code[CT_MODEL_CODE_MAX + 1];
    long written_by[24];
};
int ct_store_model_hours(struct ct_store *store, const char *day, struct ct_model_hours **rows,
                         size_t *count);

#endif
