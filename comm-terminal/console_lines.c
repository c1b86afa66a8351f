/* console_lines.c: the console's Lines page: per production line the day's devices per hour (SVG
 * drawn by the server), OK and NG with the NG reasons, the median and p99 time per device, the
 * last scans. Live: without JavaScript the page refreshes itself (meta refresh, or a link); with
 * it, /console.js replaces the figures every few seconds with /lines.part, the same HTML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "ct_store_views.h"
#include "error.h"

#define REFRESH_S 10     /* the page without JavaScript */
#define SCRIPT_EVERY_S 5 /* the figures with it */
#define LAST_SCANS 20

static const char script[] =
    "// console.js: refreshes the Lines page's figures from the server every few seconds.\n"
    "'use strict';\n"
    "(function () {\n"
    "  var live = document.getElementById('live');\n"
    "  if (!live) return;\n"
    "  var source = live.getAttribute('data-part');\n"
    "  function refresh() {\n"
    "    fetch(source, { credentials: 'same-origin', cache: 'no-store' })\n"
    "      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })\n"
    "      .then(function (html) {\n"
    "        live.innerHTML = html;\n"
    "        live.setAttribute('data-refreshed', String(Date.now()));\n"
    "      })\n"
    "      .catch(function () {});\n"
    "  }\n"
    "  live.setAttribute('data-script', 'on');\n"
    "  setInterval(refresh, live.getAttribute('data-every') * 1000);\n"
    "})();\n";

void cs_console_script(struct cs_ctx *ctx)
{
    ctx->resp->content_type = "text/javascript; charset=utf-8";
    cs_add(&ctx->resp->body, script, sizeof(script) - 1);
}

/* Devices per hour of every line together: OK in green, NG above it in red. */
static void hours_chart(struct cs_buf *b, const struct ct_line_day *lines, size_t n)
{
    long ok[24] = {0}, ng[24] = {0}, top = 1;
    for (size_t i = 0; i < n; i++)
        for (int h = 0; h < 24; h++) {
            ok[h] += lines[i].ok_per_hour[h];
            ng[h] += lines[i].ng_per_hour[h];
        }
    for (int h = 0; h < 24; h++)
        top = ok[h] + ng[h] > top ? ok[h] + ng[h] : top;
    cs_printf(b,
              "<svg id=\"per-hour\" width=\"600\" height=\"190\" role=\"img\" "
              "aria-label=\"devices per hour, all lines\"><text x=\"0\" y=\"12\" "
              "font-size=\"11\">%ld</text><line x1=\"30\" y1=\"160\" x2=\"582\" y2=\"160\" "
              "stroke=\"#888\"/>",
              top);
    for (int h = 0; h < 24; h++) {
        int x = 32 + h * 23;
        long ok_px = ok[h] * 140 / top, ng_px = ng[h] * 140 / top;
        cs_printf(b,
                  "<rect x=\"%d\" y=\"%ld\" width=\"19\" height=\"%ld\" fill=\"#2a6\">"
                  "<title>%02d:00 OK %ld</title></rect>",
                  x, 160 - ok_px, ok_px, h, ok[h]);
        if (ng[h] > 0)
            cs_printf(b,
                      "<rect x=\"%d\" y=\"%ld\" width=\"19\" height=\"%ld\" fill=\"#c33\">"
                      "<title>%02d:00 NG %ld</title></rect>",
                      x, 160 - ok_px - ng_px, ng_px, h, ng[h]);
        if (h % 3 == 0)
            cs_printf(b, "<text x=\"%d\" y=\"176\" font-size=\"11\">%02d</text>", x, h);
    }
    cs_puts(b, "</svg><p>Devices per hour of the day, all lines: green OK, red NG.</p>");
}

/* One line's hours as small bars (their figures in the big chart's titles and the table). */
static void line_bars(struct cs_buf *b, const struct ct_line_day *line)
{
    long top = 1;
    for (int h = 0; h < 24; h++)
        top = line->ok_per_hour[h] + line->ng_per_hour[h] > top
                  ? line->ok_per_hour[h] + line->ng_per_hour[h]
                  : top;
    cs_puts(b, "<td><svg width=\"120\" height=\"22\" role=\"img\" aria-label=\"per hour\">");
    for (int h = 0; h < 24; h++) {
        long all = line->ok_per_hour[h] + line->ng_per_hour[h];
        if (all == 0)
            continue;
        long px = all * 20 / top > 0 ? all * 20 / top : 1;
        cs_printf(b, "<rect x=\"%d\" y=\"%ld\" width=\"4\" height=\"%ld\" fill=\"%s\"/>", h * 5,
                  21 - px, px, line->ng_per_hour[h] > 0 ? "#c33" : "#2a6");
    }
    cs_puts(b, "</svg></td>");
}

static void cell_ms(struct cs_buf *b, long ms)
{
    if (ms < 0)
        cs_puts(b, "<td class=\"n\">-</td>");
    else
        cs_cell_number(b, ms);
}

/* The figures of day: what /lines.part answers and the page holds in #live. 0, or -1 if the
 * store could not be read. */
static int figures(struct cs_ctx *ctx, const char *day)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_line_day *lines = NULL;
    struct ct_ng_row *ng = NULL;
    struct ct_scan_row *scans = NULL;
    size_t ln = 0, nn = 0, sn = 0;
    int rc = -1;

    if (ct_store_line_day(ctx->store, day, &lines, &ln) != CL_OK ||
        ct_store_ng_reasons(ctx->store, day, &ng, &nn) != CL_OK ||
        ct_store_last_scans(ctx->store, LAST_SCANS, &scans, &sn) != CL_OK)
        goto out;
    cs_printf(b, "<p id=\"updated\">Figures of %s as of ", day);
    cs_time(b, time(NULL));
    cs_puts(b, ".</p>");
    hours_chart(b, lines, ln);
    cs_puts(b, "<table id=\"lines\"><tr><th>Line</th><th>OK</th><th>NG</th>"
               "<th>Median ms per device</th><th>p99 ms per device</th><th>Last scan</th>"
               "<th>Per hour</th></tr>");
    for (size_t i = 0; i < ln; i++) {
        cs_puts(b, "<tr>");
        cs_cell(b, lines[i].line_id);
        cs_cell_number(b, lines[i].ok);
        cs_cell_number(b, lines[i].ng);
        cell_ms(b, lines[i].median_ms);
        cell_ms(b, lines[i].p99_ms);
        cs_cell_time(b, lines[i].last_scan);
        line_bars(b, &lines[i]);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table><p>Time per device: from its scan (the pack asked for) to its write "
               "result, by the comm-terminal's clock. Per hour: a bar per hour of the day, red "
               "when the hour had an NG.</p><h2>NG reasons</h2><table id=\"ng\">"
               "<tr><th>Line</th><th>Reason</th><th>Count</th></tr>");
    for (size_t i = 0; i < nn; i++) {
        cs_puts(b, "<tr>");
        cs_cell(b, ng[i].line_id);
        cs_cell(b, ng[i].reason);
        cs_cell_number(b, ng[i].count);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table><h2>Last scans</h2><table id=\"scans\"><tr><th>At</th><th>Line</th>"
               "<th>Device</th><th>State</th></tr>");
    for (size_t i = 0; i < sn; i++) {
        cs_puts(b, "<tr>");
        cs_cell_time(b, scans[i].at);
        cs_cell(b, scans[i].line_id);
        cs_cell(b, scans[i].device_number);
        cs_cell(b, scans[i].state);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table>");
    rc = 0;
out:
    free(lines);
    free(ng);
    free(scans);
    return rc;
}

void cs_page_lines_part(struct cs_ctx *ctx)
{
    char day[11];
    cs_query_day(ctx, day);
    if (figures(ctx, day) != 0) {
        ctx->resp->status = 503;
        ctx->resp->body.len = 0;
        cs_puts(&ctx->resp->body, "<p class=\"alert\">the store could not be read</p>");
    }
}

void cs_page_lines(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    char day[11], refresh[4];

    cs_query_day(ctx, day);
    cs_query(ctx, "refresh", refresh, sizeof(refresh));
    cs_page_start(ctx, "Lines");
    /* Without JavaScript the page itself refreshes (always with refresh=1); with it, the
     * script refreshes the figures alone. */
    cs_printf(b, "%s<meta http-equiv=\"refresh\" content=\"%d\">%s",
              refresh[0] == '1' ? "" : "<noscript>", REFRESH_S,
              refresh[0] == '1' ? "" : "</noscript>");
    cs_day_form(ctx, "/lines", day);
    cs_printf(b,
              "<p>Live: the figures are refreshed every %d s (without JavaScript the page "
              "reloads every %d s). <a id=\"refresh\" href=\"/lines?day=%s\">Refresh now</a>, "
              "<a href=\"/lines?day=%s&amp;refresh=1\">reload every %d s</a>.</p>",
              SCRIPT_EVERY_S, REFRESH_S, day, day, REFRESH_S);
    cs_printf(b, "<div id=\"live\" data-part=\"/lines.part?day=%s\" data-every=\"%d\">", day,
              SCRIPT_EVERY_S);
    if (figures(ctx, day) != 0) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        return;
    }
    cs_puts(b, "</div><script src=\"/console.js\" defer></script>");
    cs_page_end(ctx);
}
