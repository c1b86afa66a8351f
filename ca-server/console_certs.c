/* console_certs.c: the CA console's certificate pages: search (device number, serial, state,
 * factory, day) and one certificate's detail: its subject, issuer, validity, serial, key and
 * fingerprint read from the signed certificate (common/console_x509.c), its history (intent,
 * pack, installation and receipt, supersession or revocation) and the audit entries naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_console.h"
#include "console_x509.h"
#include "crl_reason.h"
#include "error.h"
#include "store_console.h"

static const char *const states[] = {"", "intent", "issued", "installed", "superseded", "revoked"};

static void text_input(struct cs_buf *b, const char *label, const char *name, const char *value)
{
    cs_printf(b, "<label>%s <input name=\"%s\" value=\"", label, name);
    cs_html(b, value);
    cs_puts(b, "\"></label> ");
}

static void search_form(struct cs_buf *b, const struct ca_cert_filter *f)
{
    cs_puts(b, "<form class=\"box\" method=\"get\" action=\"/certificates\">");
    text_input(b, "Device number", "number", f->number);
    text_input(b, "Serial", "serial", f->serial);
    cs_puts(b, "<label>State <select name=\"state\">");
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        cs_printf(b, "<option value=\"%s\"%s>%s</option>", states[i],
                  strcmp(states[i], f->state) == 0 ? " selected" : "",
                  states[i][0] ? states[i] : "any");
    cs_puts(b, "</select></label> ");
    text_input(b, "Factory", "factory", f->factory);
    cs_puts(b, "<label>Day <input type=\"date\" name=\"day\" value=\"");
    cs_html(b, f->day);
    cs_puts(b, "\"></label> <button type=\"submit\">Search</button></form>");
}

void ca_page_certificates(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    char number[32], serial[48], state[16], factory[72], day[16];
    struct ca_cert_filter f = {number, serial, state, factory, day};
    struct ca_cert_row *rows = NULL;
    size_t n = 0;

    cs_query(ctx, "number", number, sizeof(number));
    cs_query(ctx, "serial", serial, sizeof(serial));
    cs_query(ctx, "state", state, sizeof(state));
    cs_query(ctx, "factory", factory, sizeof(factory));
    cs_query(ctx, "day", day, sizeof(day));
    int rc = ca_store_cert_search(ctx->store, &f, CA_CONSOLE_ROWS, &rows, &n);
    cs_page_start(ctx, "Certificates");
    search_form(b, &f);
    if (rc == CL_ERR_INVALID_ARGUMENT) {
        cs_puts(b, "<p class=\"alert\">A number or serial holds letters, digits and '-' only, "
                   "a day is YYYY-MM-DD.</p>");
    } else if (rc != CL_OK) {
        cs_puts(b, "<p class=\"alert\">The certificates could not be read.</p>");
    } else {
        cs_printf(b, "<p id=\"found\">%zu certificate(s)%s, newest first.</p>", n,
                  n == CA_CONSOLE_ROWS ? " (the first)" : "");
        cs_puts(b, "<table id=\"certificates\"><tr><th>Serial</th><th>Device number</th>"
                   "<th>Model</th><th>State</th><th>Factory</th><th>Intent</th><th>Signed</th>"
                   "<th>Installed</th><th>Ended</th></tr>");
        for (size_t i = 0; i < n; i++) {
            cs_puts(b, "<tr>");
            cs_cell_link(b, "/certificate?serial=", rows[i].serial_hex);
            cs_cell(b, rows[i].device_number);
            cs_cell(b, rows[i].model_code);
            cs_cell(b, ca_cert_state_name(rows[i].state));
            cs_cell(b, rows[i].owner);
            cs_cell_time(b, rows[i].created_at);
            cs_cell_time(b, rows[i].issued_at);
            cs_cell_time(b, rows[i].installed_at);
            cs_cell_time(b, rows[i].ended_at);
            cs_puts(b, "</tr>");
        }
        cs_puts(b, "</table>");
    }
    free(rows);
    cs_page_end(ctx);
}

/* The signed certificate's details (subject, issuer, validity, serial, key, fingerprint). */
static void signed_certificate(struct cs_ctx *ctx, const char *serial)
{
    struct cs_buf *b = &ctx->resp->body;
    unsigned char *der = NULL;
    size_t len = 0;

    if (ca_store_cert_der(ctx->store, serial, &der, &len) != CL_OK) {
        cs_puts(b, "<p>Not signed (an intent only).</p>");
        return;
    }
    if (cs_x509_table(b, der, len) != 0)
        cs_puts(b, "<p class=\"alert\">The stored certificate could not be read.</p>");
    free(der);
}

static void event(struct cs_buf *b, time_t at, const char *what, const char *detail)
{
    if (at == 0)
        return;
    cs_puts(b, "<tr>");
    cs_cell_time(b, at);
    cs_cell(b, what);
    cs_cell(b, detail);
    cs_puts(b, "</tr>");
}

static void history(struct cs_ctx *ctx, const struct ca_cert_detail *d)
{
    struct cs_buf *b = &ctx->resp->body;
    const struct ca_cert_row *r = &d->row;
    char text[400];

    cs_puts(b, "<h2>History</h2><table id=\"history\"><tr><th>When</th><th>What</th>"
               "<th>Detail</th></tr>");
    snprintf(text, sizeof(text), "request %s from %s", r->request_id,
             d->requester[0] ? d->requester : "-");
    event(b, r->created_at, "intent recorded", text);
    event(b, r->issued_at, "signed, pack issued", d->pack_held ? "pack held" : "");
    event(b, d->pack_purged_at, "pack purged", "");
    event(b, r->installed_at, "installed, receipt signed", "installation proof checked");
    if (r->state == CA_CERT_SUPERSEDED || r->state == CA_CERT_REVOKED) {
        const char *name = cl_crl_reason_name(d->reason_code);
        snprintf(text, sizeof(text), "%s%s%s%s%s", name ? name : "-", r->reason[0] ? ": " : "",
                 r->reason, d->superseded_by[0] ? "; by " : "", d->superseded_by);
        event(b, r->ended_at, ca_cert_state_name(r->state), text);
    }
    cs_puts(b, "</table>");
}

static void audit_entries(struct cs_ctx *ctx, const char *serial)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ca_audit_filter f = {"", "", serial, ""};
    struct ca_audit_row *rows = NULL;
    size_t n = 0;

    if (ca_store_audit_search(ctx->store, &f, 50, &rows, &n) != CL_OK || n == 0) {
        free(rows);
        return;
    }
    cs_puts(b, "<h2>Audit entries</h2>");
    ca_console_audit_table(b, "cert-audit", rows, n);
    free(rows);
}

void ca_page_certificate(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ca_cert_detail d;
    char serial[48];

    cs_query(ctx, "serial", serial, sizeof(serial));
    int rc = ca_store_cert_detail(ctx->store, serial, &d);
    if (rc == CL_ERR_NOT_FOUND || rc == CL_ERR_INVALID_ARGUMENT) {
        cs_error_page(ctx, 404, "no device certificate has this serial");
        return;
    }
    if (rc != CL_OK) {
        cs_error_page(ctx, 503, "the certificate could not be read from the database");
        return;
    }
    cs_page_start(ctx, "Certificate");
    cs_puts(b, "<table id=\"summary\"><tr><th>Serial</th>");
    cs_cell(b, d.row.serial_hex);
    cs_puts(b, "</tr><tr><th>Device number</th>");
    cs_cell(b, d.row.device_number);
    cs_puts(b, "</tr><tr><th>Model</th>");
    cs_cell(b, d.row.model_code);
    cs_puts(b, "</tr><tr><th>State</th><td id=\"state\">");
    cs_html(b, ca_cert_state_name(d.row.state));
    cs_puts(b, "</td></tr><tr><th>Factory</th>");
    cs_cell(b, d.row.owner);
    cs_puts(b, "</tr></table>");
    signed_certificate(ctx, d.row.serial_hex);
    history(ctx, &d);
    if (d.row.state <= CA_CERT_INSTALLED && cs_role_at_least(ctx->session, "operator")) {
        cs_puts(b, "<p><a id=\"revoke\" href=\"/revoke?serial=");
        cs_url(b, d.row.serial_hex);
        cs_puts(b, "\">Revoke this certificate…</a></p>");
    }
    audit_entries(ctx, d.row.serial_hex);
    cs_page_end(ctx);
}
