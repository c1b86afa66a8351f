/* console_pages.c: the console's views: Today (per model and alerts), Audit ("shipped and
 * proven" as a page, its downloads in console_export.c), and the day form the other views share
 * (Devices and the audit log: console_devices.c, console_log.c). Every value shown is
 * HTML-escaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "ct_crl.h"
#include "ct_store_views.h"
#include "error.h"
#include "input_check.h"

#define LIST_LIMIT 200

void cs_query_day(struct cs_ctx *ctx, char day[11])
{
    char given[16];
    cs_query(ctx, "day", given, sizeof(given));
    if (strlen(given) == 10 && given[4] == '-' && given[7] == '-' &&
        strspn(given, "0123456789-") == 10)
        memcpy(day, given, 11);
    else
        cs_today(day);
}

void cs_day_form(struct cs_ctx *ctx, const char *action, const char *day)
{
    struct cs_buf *b = &ctx->resp->body;
    cs_printf(b,
              "<form method=\"get\" action=\"%s\"><label>Day <input name=\"day\" "
              "type=\"date\" value=\"",
              action);
    cs_html(b, day);
    cs_puts(b, "\"></label> <button type=\"submit\">Show</button></form>");
}

static long units_of(const struct ct_plan_units *plan, size_t n, const char *model)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(plan[i].model_code, model) == 0)
            return plan[i].units;
    return 0;
}

static void alert(struct cs_buf *b, const char *text)
{
    cs_puts(b, "<p class=\"alert\">");
    cs_html(b, text);
    cs_puts(b, "</p>");
}

#define CHART_MODELS_MAX 6 /* more models with a plan or use today: one chart of them all */

/* Today's chart (console_today_chart.c): a series per model planned or written today, or all
 * of them added together when there are more than CHART_MODELS_MAX. */
static void chart(struct cs_buf *b, const struct ct_model_status *rows, size_t n,
                  const struct ct_plan_units *plan, size_t plan_n,
                  const struct ct_model_hours *hours, size_t hours_n)
{
    struct cs_plan_series series[CHART_MODELS_MAX + 1] = {{0}}, *all = &series[0];
    size_t shown = 0, active = 0;
    time_t now = time(NULL);
    struct tm tm;

    localtime_r(&now, &tm);
    all->model = "All models";
    for (size_t i = 0; i < n; i++) {
        struct cs_plan_series s = {
            rows[i].model_code, units_of(plan, plan_n, rows[i].model_code), {0}};
        for (size_t k = 0; k < hours_n; k++)
            if (strcmp(hours[k].model_code, rows[i].model_code) == 0)
                memcpy(s.written_by, hours[k].written_by, sizeof(s.written_by));
        if (s.plan == 0 && rows[i].used_today == 0)
            continue;
        active++;
        all->plan += s.plan;
        for (int h = 0; h < 24; h++)
            all->written_by[h] += s.written_by[h];
        if (shown < CHART_MODELS_MAX)
            series[1 + shown++] = s;
    }
    double now_h = tm.tm_hour + tm.tm_min / 60.0;
    if (active > CHART_MODELS_MAX)
        cs_plan_chart(b, series, 1, now_h);
    else
        cs_plan_chart(b, series + 1, shown, now_h);
}

/* The CRL the lines enforce: an alert if there is none or it is past its next update, else its
 * number and age as a note. Returns the number of alerts. */
static int crl_alert(struct cs_ctx *ctx, struct cs_buf *b)
{
    struct cl_crl_holder *holder = ct_crl_holder(ctx->app->rt);
    struct cl_crl_status crl = {0};
    char text[200];

    if (holder != NULL)
        cl_crl_holder_status(holder, &crl);
    if (!crl.installed) {
        alert(b, "no CRL held yet: the lines check no revocation");
        return 1;
    }
    long age_min = (long)(time(NULL) - crl.this_update) / 60;
    snprintf(text, sizeof(text), "CRL number %llu, issued %ld min ago, %zu entr%s%s", crl.number,
             age_min, crl.entries, crl.entries == 1 ? "y" : "ies",
             crl.stale ? ": past its next update" : "");
    if (crl.stale) {
        alert(b, text);
        return 1;
    }
    cs_puts(b, "<p id=\"crl\">");
    cs_html(b, text);
    cs_puts(b, "</p>");
    return 0;
}

void cs_page_today(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_model_status *rows = NULL;
    struct ct_plan_units *plan = NULL, *next = NULL;
    struct ct_model_hours *hours = NULL;
    struct ct_report_backlog backlog;
    size_t n = 0, next_n = 0, plan_n = 0, hours_n = 0;
    char day[11], tomorrow[11], text[700];
    time_t t = time(NULL) + 86400;
    struct tm tm;

    cs_today(day);
    localtime_r(&t, &tm);
    strftime(tomorrow, sizeof(tomorrow), "%Y-%m-%d", &tm);
    if (ct_store_status(ctx->store, day, &rows, &n) != CL_OK ||
        ct_store_plan_units(ctx->store, tomorrow, &next, &next_n) != CL_OK ||
        ct_store_plan_units(ctx->store, day, &plan, &plan_n) != CL_OK ||
        ct_store_report_backlog(ctx->store, &backlog) != CL_OK ||
        ct_store_model_hours(ctx->store, day, &hours, &hours_n) != CL_OK) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        goto out;
    }
    cs_page_start(ctx, "Today");
    cs_printf(b, "<p>%s</p><section id=\"alerts\"><h2>Alerts</h2>", day);
    int alerts = 0;
    for (size_t i = 0; i < n; i++) {
        long spare = rows[i].held - rows[i].remaining;
        long wanted = units_of(next, next_n, rows[i].model_code);
        if (rows[i].certificate_managed && wanted > 0 && spare < wanted) {
            snprintf(text, sizeof(text),
                     "model %s: stock below tomorrow's plan (%ld held beyond today's need, "
                     "%ld planned for %s)",
                     rows[i].model_code, spare < 0 ? 0 : spare, wanted, tomorrow);
            alert(b, text), alerts++;
        }
        if (rows[i].rejected > 0) {
            snprintf(text, sizeof(text),
                     "model %s: %ld installation(s) rejected by ca-server, awaiting the "
                     "replacement's write",
                     rows[i].model_code, rows[i].rejected);
            alert(b, text), alerts++;
        }
    }
    if (backlog.failing_since != 0) {
        struct cs_buf since = {0};
        cs_time(&since, backlog.failing_since);
        snprintf(text, sizeof(text), "ca-server unreachable or refusing reports since %s: %s",
                 since.data ? since.data : "?", backlog.last_error);
        cs_buf_free(&since);
        alert(b, text), alerts++;
    }
    time_t away = ct_ca_away_since(ctx->app->rt);
    if (away != 0 && backlog.failing_since == 0) {
        struct cs_buf since = {0};
        cs_time(&since, away);
        snprintf(text, sizeof(text),
                 "ca-server unreachable since %s (no connection on the last call)",
                 since.data ? since.data : "?");
        cs_buf_free(&since);
        alert(b, text), alerts++;
    }
    if (backlog.queued > 0) {
        snprintf(text, sizeof(text), "%ld installation report(s) waiting for ca-server",
                 backlog.queued);
        alert(b, text), alerts++;
    }
    alerts += crl_alert(ctx, b);
    if (alerts == 0)
        cs_puts(b, "<p class=\"ok\">No alerts.</p>");
    cs_puts(b, "</section><h2>Per model</h2><table id=\"today\"><tr><th>Model</th><th>Managed</th>"
               "<th>Plan</th><th>Held</th><th>Used today</th><th>Remaining</th><th>Failed</th>"
               "<th>Awaiting receipt</th><th>Rejected</th></tr>");
    for (size_t i = 0; i < n; i++) {
        cs_puts(b, "<tr>");
        cs_cell(b, rows[i].model_code);
        cs_cell(b, rows[i].certificate_managed ? "yes" : "no");
        cs_cell_number(b, units_of(plan, plan_n, rows[i].model_code));
        cs_cell_number(b, rows[i].held);
        cs_cell_number(b, rows[i].used_today);
        cs_cell_number(b, rows[i].remaining);
        cs_cell_number(b, rows[i].failed);
        cs_cell_number(b, rows[i].awaiting_receipt);
        cs_cell_number(b, rows[i].rejected);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table>");
    cs_puts(b, "<h2>Plan against use through the day</h2>");
    chart(b, rows, n, plan, plan_n, hours, hours_n);
    cs_page_end(ctx);
out:
    free(hours);
    free(rows);
    free(next);
    free(plan);
}

/* One row of the Audit page's table. */
static int proven_cells(const struct ct_proven_row *row, void *arg)
{
    struct cs_buf *b = arg;
    cs_puts(b, "<tr>");
    cs_cell(b, row->device_number);
    cs_cell(b, row->serial_hex);
    cs_cell_time(b, row->written_at);
    cs_cell_time(b, row->received_at);
    cs_cell(b, row->signature_verified ? "yes" : "no");
    cs_puts(b, "</tr>");
    return CL_OK;
}

void cs_page_audit(struct cs_ctx *ctx, int format)
{
    struct cs_buf *b = &ctx->resp->body, cells = {0};
    size_t n = 0;
    char day[11];

    cs_query_day(ctx, day);
    if (format != 0) {
        cs_audit_export(ctx, format, day);
        return;
    }
    if (ct_store_proven_each(ctx->store, day, LIST_LIMIT * 5, LIST_LIMIT * 5, proven_cells, &cells,
                             &n) != CL_OK) {
        cs_buf_free(&cells);
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        return;
    }
    cs_page_start(ctx, "Audit: shipped and proven");
    cs_day_form(ctx, "/audit", day);
    cs_printf(b,
              "<p>%zu device(s) written on %s with a verified receipt%s. Download: "
              "<a id=\"csv\" href=\"/audit.csv?day=%s\">CSV</a>, "
              "<a id=\"json\" href=\"/audit.json?day=%s\">JSON</a>.</p>",
              n, day, n == LIST_LIMIT * 5 ? " (the first 1000 shown; the downloads hold all)" : "",
              day, day);
    cs_puts(b, "<table id=\"proven\"><tr><th>Device</th><th>Serial</th><th>Written at</th>"
               "<th>Receipt date</th><th>Receipt signature verified</th></tr>");
    if (cells.len > 0)
        cs_add(b, cells.data, cells.len);
    b->failed |= cells.failed;
    cs_puts(b, "</table>");
    cs_page_end(ctx);
    cs_buf_free(&cells);
}
