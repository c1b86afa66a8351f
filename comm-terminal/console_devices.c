/* console_devices.c: the console's Devices views: the search (device number, serial or model;
 * state; line; day of writing), one device's page (its certificate's details read from the pack
 * the store holds, never its key, which is sealed for the device; its history), and the bounded
 * query fields the console's search forms share. Every value shown is HTML-escaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "console_x509.h"
#include "ct_store_views.h"
#include "error.h"
#include "input_check.h"
#include "log.h"
#include "pack.h"

#define DEVICES_LIMIT 200

static const char *const states[] = {"", "stored", "delivered", "written", "failed", "replaced"};

int cs_query_text(struct cs_ctx *ctx, const char *name, const char *label, char *out, size_t cap)
{
    char message[200];

    if (cs_form_value(ctx->req->query, strlen(ctx->req->query), name, out, cap) >= 0)
        return 1;
    out[0] = '\0';
    snprintf(message, sizeof(message),
             "%s: at most %zu characters, without control characters (the value given is "
             "longer or malformed)",
             label, cap - 1);
    cs_error_page(ctx, 400, message);
    return 0;
}

int cs_query_optional_day(struct cs_ctx *ctx, const char *name, const char *label, char day[11])
{
    char given[16], message[160];

    if (!cs_query_text(ctx, name, label, given, sizeof(given)))
        return 0;
    if (given[0] == '\0' || ct_store_day_ok(given)) {
        snprintf(day, 11, "%.10s", given);
        return 1;
    }
    day[0] = '\0';
    snprintf(message, sizeof(message),
             "%s: not a date; give YYYY-MM-DD (a day of the years 2000 to 2999), or nothing for "
             "any day",
             label);
    cs_error_page(ctx, 400, message);
    return 0;
}

static void cert_table(struct cs_buf *b, const struct ct_cert_row *rows, size_t n)
{
    cs_puts(b, "<table id=\"devices\"><tr><th>Device number</th><th>Model</th><th>State</th>"
               "<th>Serial</th><th>Line</th><th>Fetched</th><th>Written</th><th>Report</th>"
               "</tr>");
    for (size_t i = 0; i < n; i++) {
        cs_puts(b, "<tr>");
        cs_cell_link(b, "/device?number=", rows[i].device_number);
        cs_cell(b, rows[i].model_code);
        cs_cell(b, rows[i].state);
        cs_cell(b, rows[i].serial_hex);
        cs_cell(b, rows[i].line_id);
        cs_cell_time(b, rows[i].created_at);
        cs_cell_time(b, rows[i].written_at);
        cs_cell(b, rows[i].report);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table>");
}

static void text_input(struct cs_buf *b, const char *label, const char *name, size_t max,
                       const char *value)
{
    cs_printf(b, "<label>%s <input name=\"%s\" maxlength=\"%zu\" value=\"", label, name, max);
    cs_html(b, value);
    cs_puts(b, "\"></label> ");
}

static void search_form(struct cs_buf *b, const struct ct_cert_search *by)
{
    cs_puts(b, "<form method=\"get\" action=\"/devices\">");
    text_input(b, "Device number, serial or model", "q", 64, by->query);
    cs_puts(b, "<label>State <select name=\"state\">");
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        cs_puts(b, "<option value=\"");
        cs_puts(b, states[i]);
        cs_puts(b, strcmp(states[i], by->state) == 0 ? "\" selected>" : "\">");
        cs_puts(b, states[i][0] ? states[i] : "any");
        cs_puts(b, "</option>");
    }
    cs_puts(b, "</select></label> ");
    text_input(b, "Line", "line", CT_LINE_ID_MAX, by->line_id);
    cs_puts(b, "<label>Written on <input name=\"day\" type=\"date\" value=\"");
    cs_html(b, by->day);
    cs_puts(b, "\"></label> <button type=\"submit\">Search</button></form>"
               "<p class=\"note\">Every field given must match. Line: the line that took the "
               "device's pack. Written on: the local day its write was recorded (written "
               "devices only).</p>");
}

void cs_page_devices(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_cert_row *rows = NULL;
    size_t n = 0;
    char q[65], state[16], line[CT_LINE_ID_MAX + 1], day[11];
    int state_known = 0;

    if (!cs_query_text(ctx, "q", "Device number, serial or model", q, sizeof(q)) ||
        !cs_query_text(ctx, "state", "State", state, sizeof(state)) ||
        !cs_query_text(ctx, "line", "Line", line, sizeof(line)) ||
        !cs_query_optional_day(ctx, "day", "Written on", day))
        return;
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        state_known |= strcmp(state, states[i]) == 0;
    if (!state_known) {
        cs_error_page(ctx, 400, "State: one of stored, delivered, written, failed, replaced");
        return;
    }
    if (line[0] != '\0' && !cl_token_ok(line, CT_LINE_ID_MAX)) {
        cs_error_page(ctx, 400, "Line: a line id, 1 to 32 printable characters without spaces");
        return;
    }
    if (day[0] != '\0' && state[0] != '\0' && strcmp(state, "written") != 0) {
        cs_error_page(ctx, 400,
                      "Written on finds written devices only: choose the state written or any");
        return;
    }
    struct ct_cert_search by = {q, state, line, day};
    if (ct_store_cert_search(ctx->store, &by, DEVICES_LIMIT, &rows, &n) != CL_OK) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        return;
    }
    cs_page_start(ctx, "Devices");
    search_form(b, &by);
    cs_printf(b, "<p id=\"found\">%zu device(s)%s, %s.</p>", n,
              n == DEVICES_LIMIT ? " (the first 200)" : "",
              day[0] != '\0' ? "in the order written" : "by device number");
    cert_table(b, rows, n);
    cs_page_end(ctx);
    free(rows);
}

/* The certificate of the pack held (pack_json, NULL once deleted at deleted_at): its details,
 * or why they cannot be shown and what the store still has. */
static void certificate(struct cs_buf *b, const struct ct_cert_row *row, const char *pack_json,
                        time_t deleted_at)
{
    struct cl_pack pack;
    char why[256];

    cs_puts(b, "<h2>Certificate</h2>");
    if (pack_json == NULL) {
        cs_puts(b, "<p id=\"certificate-gone\">The certificate is no longer held: its pack was "
                   "deleted on ");
        cs_time(b, deleted_at);
        cs_puts(b, strcmp(row->state, "written") == 0
                       ? " (written and its receipt held)"
                       : " (unwritten: its model discontinued or the stock expired)");
        cs_puts(b, ". The store still has its serial ");
        cs_html(b, row->serial_hex);
        cs_puts(b, ", state, line and times (above) and its history (below).</p>");
        return;
    }
    memset(&pack, 0, sizeof(pack));
    if (cl_pack_parse(pack_json, &pack, why, sizeof(why)) != CL_OK ||
        cs_x509_table(b, (const unsigned char *)pack.certificate_pem,
                      strlen(pack.certificate_pem) + 1) != 0) {
        cl_log_warn("console: the pack held for %s cannot be read", row->device_number);
        cs_puts(b, "<p class=\"alert\" id=\"certificate-unreadable\">The pack held for this "
                   "device cannot be read; its certificate is not shown.</p>");
    } else {
        cs_printf(b,
                  "<p id=\"pack\">Pack version %d. Its private key is sealed under the model's "
                  "pre-write key ",
                  pack.version);
        cs_html(b, pack.key_id);
        cs_puts(b, " for the device alone and is never shown.</p>");
    }
    cl_pack_free(&pack);
}

void cs_page_device(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_history_row *history = NULL;
    struct ct_cert_row *rows = NULL;
    size_t n = 0, h = 0;
    char number[CT_DEVICE_NUMBER_MAX + 1], *pack = NULL;
    time_t deleted_at = 0;

    cs_query(ctx, "number", number, sizeof(number));
    if (!cl_wire_device_number_ok(number)) {
        cs_error_page(ctx, 400, "give a device number (CODE-SERIAL, e.g. 3012-000001)");
        return;
    }
    struct ct_cert_search by = {.query = number};
    if (ct_store_cert_search(ctx->store, &by, 1, &rows, &n) != CL_OK ||
        (n == 1 && ct_store_cert_pack(ctx->store, number, &pack, &deleted_at) != CL_OK) ||
        ct_store_device_history(ctx->store, number, &history, &h) != CL_OK) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        goto out;
    }
    cs_page_start(ctx, "Device");
    cs_puts(b, "<h2>");
    cs_html(b, number);
    cs_puts(b, "</h2>");
    if (n == 1) {
        cert_table(b, rows, n);
        certificate(b, &rows[0], pack, deleted_at);
    } else {
        cs_puts(b, "<p>No certificate held for this number.</p>");
    }
    cs_puts(b, "<h2>History</h2><table id=\"history\"><tr><th>At</th><th>What</th><th>Serial</th>"
               "<th>Detail</th></tr>");
    for (size_t i = 0; i < h; i++) {
        cs_puts(b, "<tr>");
        cs_cell_time(b, history[i].at);
        cs_cell(b, history[i].what);
        cs_cell(b, history[i].serial_hex);
        cs_cell(b, history[i].detail);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table>");
    cs_page_end(ctx);
out:
    free(rows);
    free(pack);
    free(history);
}
