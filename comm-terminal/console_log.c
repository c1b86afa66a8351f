/* console_log.c: the console's audit log: the newest entries first, filtered by operator, action
 * and day, a page at a time with a link to the older entries (by entry id), so that every entry
 * can be reached. Every value shown is HTML-escaped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "ct_store_views.h"
#include "error.h"

#define LOG_PAGE 200

/* The page of filter's entries older than before (0: the newest). */
static void page_link(struct cs_buf *b, const char *id, const char *text,
                      const struct ct_audit_filter *filter, long long before)
{
    cs_printf(b, "<a id=\"%s\" href=\"/log?actor=", id);
    cs_url(b, filter->actor);
    cs_puts(b, "&amp;action=");
    cs_url(b, filter->action);
    cs_puts(b, "&amp;day=");
    cs_url(b, filter->day);
    if (before > 0)
        cs_printf(b, "&amp;before=%lld", before);
    cs_printf(b, "\">%s</a>", text);
}

/* before= as an entry id: 1 with *before (0 when absent), or 400 answered and 0. */
static int query_before(struct cs_ctx *ctx, long long *before)
{
    char text[24];

    *before = 0;
    if (!cs_query_text(ctx, "before", "Older than entry", text, sizeof(text)))
        return 0;
    if (text[0] == '\0')
        return 1;
    if (strlen(text) <= 18 && strspn(text, "0123456789") == strlen(text) &&
        (*before = strtoll(text, NULL, 10)) > 0)
        return 1;
    *before = 0;
    cs_error_page(ctx, 400,
                  "Older than entry: an entry id, a whole number from 1 (at most 18 "
                  "digits)");
    return 0;
}

void cs_page_log(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_audit_row *rows = NULL;
    size_t n = 0;
    char actor[65], action[65], day[11];
    long long before;

    if (!cs_query_text(ctx, "actor", "Operator", actor, sizeof(actor)) ||
        !cs_query_text(ctx, "action", "Action", action, sizeof(action)) ||
        !cs_query_optional_day(ctx, "day", "Day", day) || !query_before(ctx, &before))
        return;
    struct ct_audit_filter filter = {actor, action, day, before};
    /* One more than a page: whether older entries are left. */
    if (ct_store_audit_list(ctx->store, &filter, LOG_PAGE + 1, &rows, &n) != CL_OK) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        return;
    }
    int older = n > LOG_PAGE;
    n = older ? LOG_PAGE : n;
    cs_page_start(ctx, "Audit log");
    cs_puts(b, "<form method=\"get\" action=\"/log\"><label>Operator <input name=\"actor\" "
               "maxlength=\"64\" value=\"");
    cs_html(b, actor);
    cs_puts(b, "\"></label> <label>Action <input name=\"action\" maxlength=\"64\" value=\"");
    cs_html(b, action);
    cs_puts(b, "\"></label> <label>Day <input name=\"day\" type=\"date\" value=\"");
    cs_html(b, day);
    cs_puts(b, "\"></label> <button type=\"submit\">Filter</button></form>");
    cs_printf(b, "<p id=\"shown\">%zu entr%s, newest first", n, n == 1 ? "y" : "ies");
    if (before > 0) {
        cs_printf(b, ", older than entry %lld (", before);
        page_link(b, "newest", "the newest", &filter, 0);
        cs_puts(b, ")");
    }
    cs_puts(b, ".</p><table id=\"log\"><tr><th>At</th><th>Operator</th><th>Action</th>"
               "<th>Detail</th></tr>");
    for (size_t i = 0; i < n; i++) {
        cs_printf(b, "<tr data-id=\"%lld\">", rows[i].id);
        cs_cell_time(b, rows[i].at);
        cs_cell(b, rows[i].actor);
        cs_cell(b, rows[i].action);
        cs_cell(b, rows[i].detail);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table><p>");
    if (older)
        page_link(b, "older", "Older entries", &filter, rows[n - 1].id);
    else
        cs_puts(b, "<span id=\"log-end\">No older entries.</span>");
    cs_puts(b, "</p>");
    cs_page_end(ctx);
    free(rows);
}
