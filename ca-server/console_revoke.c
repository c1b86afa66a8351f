/* console_revoke.c: the CA console's revocation (a reason from RFC 5280's, an optional comment,
 * confirmed on a form of its own before anything happens, through ca_revoke as `ca-server
 * revoke` does, audited under the console operator, the CRL publisher told at once) and the
 * audit log with its filters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_console.h"
#include "crl_publisher.h"
#include "crl_reason.h"
#include "error.h"
#include "log.h"
#include "revoke.h"
#include "store_console.h"

#define COMMENT_MAX 256

void ca_page_revoke(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ca_cert_detail d;
    char serial[48];

    cs_query(ctx, "serial", serial, sizeof(serial));
    if (!cs_role_at_least(ctx->session, "operator")) {
        cs_error_page(ctx, 403, "revoking needs the role operator or admin");
        return;
    }
    if (ca_store_cert_detail(ctx->store, serial, &d) != CL_OK) {
        cs_error_page(ctx, 404, "no device certificate has this serial");
        return;
    }
    if (d.row.state > CA_CERT_INSTALLED) {
        cs_error_page(ctx, 409, "this certificate is already superseded or revoked");
        return;
    }
    cs_page_start(ctx, "Revoke a certificate");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/revoke\">");
    cs_csrf_field(ctx);
    cs_puts(b, "<input type=\"hidden\" name=\"serial\" value=\"");
    cs_html(b, d.row.serial_hex);
    cs_puts(b, "\"><p>Certificate <strong>");
    cs_html(b, d.row.serial_hex);
    cs_puts(b, "</strong> of device <strong>");
    cs_html(b, d.row.device_number);
    cs_puts(b, "</strong> (");
    cs_html(b, ca_cert_state_name(d.row.state));
    cs_puts(b, "). Once revoked it is listed in the next CRL and cannot be taken back.</p>"
               "<p><label>Reason <select name=\"reason\" required>");
    for (int code = 0; code <= 10; code++)
        if (cl_crl_reason_valid(code))
            cs_printf(b, "<option value=\"%s\">%s</option>", cl_crl_reason_name(code),
                      cl_crl_reason_name(code));
    cs_printf(b,
              "</select></label></p><p><label>Comment <input name=\"comment\" maxlength=\"%d\" "
              "size=\"50\"></label></p><p><label><input type=\"checkbox\" name=\"confirm\" "
              "value=\"yes\" required> I confirm this revocation</label></p>"
              "<p><button type=\"submit\">Revoke</button> <a href=\"/certificate?serial=",
              COMMENT_MAX);
    cs_url(b, d.row.serial_hex);
    cs_puts(b, "\">Cancel</a></p></form>");
    cs_page_end(ctx);
}

void ca_action_revoke(struct cs_ctx *ctx)
{
    const struct cs_request *req = ctx->req;
    char serial[48], reason[40], comment[COMMENT_MAX + 1], confirm[8], actor[64], err[256],
        detail[128], location[128];
    enum cl_crl_reason code;
    const char *kind = "device";

    if (!cs_role_at_least(ctx->session, "operator")) {
        cs_error_page(ctx, 403, "revoking needs the role operator or admin");
        return;
    }
    if (cs_form_value(req->body, req->body_len, "serial", serial, sizeof(serial)) != 1 ||
        cs_form_value(req->body, req->body_len, "reason", reason, sizeof(reason)) != 1 ||
        cl_crl_reason_parse(reason, &code, err, sizeof(err)) != CL_OK ||
        cs_form_value(req->body, req->body_len, "comment", comment, sizeof(comment)) < 0) {
        cs_error_page(ctx, 400,
                      "give a serial, one of the reasons offered and a comment of at "
                      "most 256 characters");
        return;
    }
    if (cs_form_value(req->body, req->body_len, "confirm", confirm, sizeof(confirm)) != 1 ||
        strcmp(confirm, "yes") != 0) {
        cs_error_page(ctx, 400, "the revocation was not confirmed: nothing was revoked");
        return;
    }
    ca_console_actor(ctx, actor, sizeof(actor));
    int rc = ca_revoke(ctx->store, serial, (int)code, comment, actor, &kind);
    if (rc != CL_OK) {
        cs_error_page(ctx,
                      rc == CL_ERR_STATE       ? 409
                      : rc == CL_ERR_NOT_FOUND ? 404
                                               : 503,
                      rc == CL_ERR_NOT_FOUND ? "no certificate has this serial"
                      : rc == CL_ERR_STATE   ? "this certificate is already superseded or revoked"
                                             : "the revocation failed: see ca-server's log");
        return;
    }
    ca_crl_publisher_kick(ctx->app->rt->crl);
    snprintf(detail, sizeof(detail), "%s certificate %s revoked (%s) from the console", kind,
             serial, cl_crl_reason_name((int)code));
    cl_log_info("%s by %s", detail, actor);
    snprintf(location, sizeof(location), "/certificate?serial=%s", serial);
    cs_redirect(ctx->resp, location);
}

void ca_console_audit_table(struct cs_buf *b, const char *id, const struct ca_audit_row *rows,
                            size_t n)
{
    cs_printf(b,
              "<table id=\"%s\"><tr><th>When</th><th>Actor</th><th>Action</th><th>Detail</th>"
              "</tr>",
              id);
    for (size_t i = 0; i < n; i++) {
        cs_puts(b, "<tr>");
        cs_cell_time(b, rows[i].at);
        cs_cell(b, rows[i].actor);
        cs_cell(b, rows[i].action);
        cs_cell(b, rows[i].detail);
        cs_puts(b, "</tr>");
    }
    cs_puts(b, "</table>");
}

void ca_page_log(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    char actor[72], action[72], text[128], day[16];
    struct ca_audit_filter f = {actor, action, text, day};
    struct ca_audit_row *rows = NULL;
    size_t n = 0;

    cs_query(ctx, "actor", actor, sizeof(actor));
    cs_query(ctx, "action", action, sizeof(action));
    cs_query(ctx, "text", text, sizeof(text));
    cs_query(ctx, "day", day, sizeof(day));
    int rc = ca_store_audit_search(ctx->store, &f, CA_CONSOLE_ROWS, &rows, &n);
    cs_page_start(ctx, "Audit log");
    cs_puts(b, "<form class=\"box\" method=\"get\" action=\"/log\">");
    static const char *const fields[][2] = {
        {"Actor", "actor"}, {"Action", "action"}, {"Detail contains", "text"}};
    const char *values[] = {actor, action, text};
    for (int i = 0; i < 3; i++) {
        cs_printf(b, "<label>%s <input name=\"%s\" value=\"", fields[i][0], fields[i][1]);
        cs_html(b, values[i]);
        cs_puts(b, "\"></label> ");
    }
    cs_puts(b, "<label>Day <input type=\"date\" name=\"day\" value=\"");
    cs_html(b, day);
    cs_puts(b, "\"></label> <button type=\"submit\">Filter</button></form>");
    if (rc != CL_OK) {
        cs_puts(b, "<p class=\"alert\">The audit log could not be read (a day is "
                   "YYYY-MM-DD).</p>");
    } else {
        ca_console_audit_table(b, "log", rows, n);
    }
    free(rows);
    cs_page_end(ctx);
}
