/* console_export.c: the Audit page's downloads, "shipped and proven" of a day as CSV and JSON,
 * written row by row as the store's cursor reads them and sent in parts: a day of any size holds
 * one part and one page of rows in memory, and a download broken off (a database error, the
 * browser gone) never ends as a complete answer would. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "console.h"
#include "ct_store_views.h"
#include "error.h"
#include "log.h"

struct export
{
    struct cs_ctx *ctx;
    int format; /* 1 CSV, 2 JSON */
    const char *day;
    int started; /* the head and the opening sent */
};

/* Sends the head (a download) and the CSV header line or the JSON opening: CL_OK, or
 * CL_ERR_CLOSED. */
static int export_start(struct export *e)
{
    struct cs_response *resp = e->ctx->resp;
    struct cs_buf *b = &resp->body;
    size_t used = strlen(resp->headers);

    e->started = 1;
    snprintf(resp->headers + used, sizeof(resp->headers) - used,
             "Content-Disposition: attachment; filename=\"shipped-and-proven-%s.%s\"\r\n", e->day,
             e->format == 1 ? "csv" : "json");
    resp->content_type = e->format == 1 ? "text/csv; charset=utf-8" : "application/json";
    if (cs_parts_start(resp) != 0)
        return CL_ERR_CLOSED;
    if (e->format == 1)
        cs_puts(b, "device_number,serial,written_at,receipt_at,receipt_signature_verified\r\n");
    else
        cs_printf(b, "{\"day\":\"%s\",\"devices\":[", e->day);
    return CL_OK;
}

static int export_row(const struct ct_proven_row *row, void *arg)
{
    struct export *e = arg;
    struct cs_buf *b = &e->ctx->resp->body;
    int first = !e->started;

    if (first && export_start(e) != CL_OK)
        return CL_ERR_CLOSED;
    /* The serial is hex (constraint on report.serial): never quoted nor escaped. */
    if (e->format == 1) {
        cs_csv(b, row->device_number);
        cs_puts(b, ",");
        cs_puts(b, row->serial_hex);
        cs_puts(b, ",");
        cs_time(b, row->written_at);
        cs_puts(b, ",");
        cs_time(b, row->received_at);
        cs_puts(b, row->signature_verified ? ",yes\r\n" : ",no\r\n");
    } else {
        cs_puts(b, first ? "{\"device_number\":" : ",{\"device_number\":");
        cs_json(b, row->device_number);
        cs_puts(b, ",\"serial\":\"");
        cs_puts(b, row->serial_hex);
        cs_puts(b, "\",\"written_at\":\"");
        cs_time(b, row->written_at);
        cs_puts(b, "\",\"receipt_at\":\"");
        cs_time(b, row->received_at);
        cs_puts(b, row->signature_verified ? "\",\"receipt_signature_verified\":true}"
                                           : "\",\"receipt_signature_verified\":false}");
    }
    return cs_parts_flush(e->ctx->resp) == 0 ? CL_OK : CL_ERR_CLOSED;
}

void cs_audit_export(struct cs_ctx *ctx, int format, const char *day)
{
    struct export e = {.ctx = ctx, .format = format, .day = day};
    const char *kind = format == 1 ? "CSV" : "JSON";
    size_t n = 0;
    char detail[96];

    /* The head goes with the first row: a store that cannot be read at all is a 503 page. */
    int rc =
        ct_store_proven_each(ctx->store, day, SIZE_MAX, CT_PROVEN_PAGE_ROWS, export_row, &e, &n);
    if (rc != CL_OK && !e.started) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        return;
    }
    if (rc == CL_OK && !e.started)
        rc = export_start(&e);
    if (rc == CL_OK && format != 1)
        cs_puts(&ctx->resp->body, "]}\n");
    if (cs_parts_end(ctx->resp, rc == CL_OK) != 0) {
        cl_log_warn("console: %s's download of shipped and proven %s as %s broken off after %zu "
                    "device(s): %s",
                    ctx->session->operator_id, day, kind, n,
                    rc == CL_OK || rc == CL_ERR_CLOSED ? "the browser is gone" : cl_err_str(rc));
        snprintf(detail, sizeof(detail), "shipped and proven %s as %s (%zu, broken off)", day, kind,
                 n);
    } else {
        snprintf(detail, sizeof(detail), "shipped and proven %s as %s (%zu)", day, kind, n);
    }
    (void)ct_store_audit(ctx->store, ctx->session->operator_id, "console_export", detail);
}
