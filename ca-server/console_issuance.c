/* console_issuance.c: the CA console's overview pages: certificates signed per factory and day
 * (a table and a bar chart drawn as SVG by the server), and the device models with their
 * certificate-managed flag and pre-write keys [FIG 19A, seed 004]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca_console.h"
#include "error.h"
#include "store_console.h"

#define CHART_DAYS 31

/* The since= query value if it is a date, else 30 days ago. */
static void query_since(struct cs_ctx *ctx, char since[11])
{
    char given[16];
    cs_query(ctx, "since", given, sizeof(given));
    if (strlen(given) == 10 && given[4] == '-' && given[7] == '-' &&
        strspn(given, "0123456789-") == 10) {
        memcpy(since, given, 11);
        return;
    }
    time_t then = time(NULL) - 30 * 86400;
    struct tm tm;
    localtime_r(&then, &tm);
    strftime(since, 11, "%Y-%m-%d", &tm);
}

/* Bars of certificates signed per day (rows are newest first, one per day and factory). */
static void chart(struct cs_buf *b, const struct ca_issuance_row *rows, size_t n)
{
    char days[CHART_DAYS][11];
    long long issued[CHART_DAYS] = {0}, max = 1;
    size_t ndays = 0;

    for (size_t i = 0; i < n; i++) {
        if (ndays == 0 || strcmp(days[ndays - 1], rows[i].day) != 0) {
            if (ndays == CHART_DAYS)
                break;
            memcpy(days[ndays++], rows[i].day, 11);
        }
        issued[ndays - 1] += rows[i].issued;
        if (issued[ndays - 1] > max)
            max = issued[ndays - 1];
    }
    if (ndays == 0)
        return;
    cs_printf(b,
              "<svg width=\"%zu\" height=\"170\" role=\"img\" aria-label=\"certificates signed "
              "per day\"><line x1=\"0\" y1=\"140\" x2=\"%zu\" y2=\"140\" stroke=\"#888\"/>",
              ndays * 44 + 10, ndays * 44 + 10);
    for (size_t d = 0; d < ndays; d++) {
        size_t x = (ndays - 1 - d) * 44 + 6; /* oldest on the left */
        long long h = issued[d] * 120 / max;
        cs_printf(b,
                  "<rect x=\"%zu\" y=\"%lld\" width=\"32\" height=\"%lld\" fill=\"#4a7\">"
                  "<title>%s: %lld</title></rect><text x=\"%zu\" y=\"%lld\" font-size=\"11\">"
                  "%lld</text><text x=\"%zu\" y=\"158\" font-size=\"10\">%.5s</text>",
                  x, 140 - h, h, days[d], issued[d], x + 2, 136 - h, issued[d], x, days[d] + 5);
    }
    cs_puts(b, "</svg><p>Certificates signed per day, all factories.</p>");
}

void ca_page_issuance(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ca_issuance_row *rows = NULL;
    size_t n = 0;
    char since[11];

    query_since(ctx, since);
    if (ca_store_issuance(ctx->store, since, CA_CONSOLE_ROWS, &rows, &n) != CL_OK) {
        cs_error_page(ctx, 503, "the issuance could not be read from the database");
        return;
    }
    cs_page_start(ctx, "Issuance");
    cs_puts(b, "<form method=\"get\" action=\"/\"><label>Since <input name=\"since\" "
               "type=\"date\" value=\"");
    cs_html(b, since);
    cs_puts(b, "\"></label> <button type=\"submit\">Show</button></form>");
    chart(b, rows, n);
    cs_puts(b, "<table id=\"issuance\"><tr><th>Day</th><th>Factory (comm-terminal)</th>"
               "<th>Signed</th><th>Installed</th><th>Revoked</th><th></th></tr>");
    for (size_t i = 0; i < n; i++) {
        cs_puts(b, "<tr>");
        cs_cell(b, rows[i].day);
        cs_cell(b, rows[i].factory[0] != '\0' ? rows[i].factory : "(no owner)");
        cs_cell_number(b, rows[i].issued);
        cs_cell_number(b, rows[i].installed);
        cs_cell_number(b, rows[i].revoked);
        cs_puts(b, "<td><a href=\"/certificates?day=");
        cs_url(b, rows[i].day);
        cs_puts(b, "&amp;factory=");
        cs_url(b, rows[i].factory);
        cs_puts(b, "\">certificates</a></td></tr>");
    }
    cs_puts(b, "</table>");
    if (n == 0)
        cs_puts(b, "<p>No certificate signed since that day.</p>");
    free(rows);
    cs_page_end(ctx);
}

static void model_keys(struct cs_ctx *ctx, const struct ca_model *model)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ca_prewrite_key *keys = NULL;
    size_t n = 0;

    if (ca_store_prewrite_list(ctx->store, model->code, time(NULL), &keys, &n) != CL_OK) {
        cs_puts(b, "<td>(not readable)</td>");
        return;
    }
    cs_puts(b, "<td><ul>");
    for (size_t k = 0; k < n; k++) {
        cs_puts(b, "<li>");
        cs_html(b, keys[k].key_id);
        if (keys[k].valid_from != 0) {
            cs_puts(b, " from ");
            cs_time(b, keys[k].valid_from);
        } else {
            cs_puts(b, " (the model's first)");
        }
        if (keys[k].current)
            cs_puts(b, " <strong>(current)</strong>");
        cs_puts(b, "</li>");
    }
    cs_puts(b, "</ul></td>");
    free(keys);
}

void ca_page_models(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ca_model *models = NULL;
    size_t n = 0;

    if (ca_store_model_list(ctx->store, &models, &n) != CL_OK) {
        cs_error_page(ctx, 503, "the models could not be read from the database");
        return;
    }
    cs_page_start(ctx, "Models");
    cs_puts(b, "<p>Device models [FIG 19A]: whether ca-server issues their certificates, and "
               "the pre-write keys their packs are sealed with, each from its period on "
               "(<code>ca-server model-rotate</code> adds one).</p>"
               "<table id=\"models\"><tr><th>Model</th><th>Key type</th>"
               "<th>Certificate-managed</th><th>Pre-write key ids</th><th>Registered</th></tr>");
    for (size_t i = 0; i < n; i++) {
        cs_puts(b, "<tr>");
        cs_cell(b, models[i].code);
        cs_cell(b, models[i].key_type);
        cs_cell(b, models[i].certificate_managed ? "yes" : "no");
        model_keys(ctx, &models[i]);
        cs_cell_time(b, models[i].created_at);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table>");
    free(models);
    cs_page_end(ctx);
}
