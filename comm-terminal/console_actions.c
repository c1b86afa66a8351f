/* console_actions.c: the console's actions: plan upload (plan_import.c; every error named with
 * its line), manual entry checked against the plan (ct_enter_check) and confirmed before
 * anything is issued, and the operators (admin): add, disable or enable, password; the Actions
 * page with the forms of these and of fetch now and deleting a discontinued model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "console.h"
#include "ct_commands.h"
#include "error.h"
#include "input_check.h"
#include "plan_import.h"

#define PASSWORD_FIELD_MAX 1025

void cs_message(struct cs_ctx *ctx, const char *title, const char *cls, const char *text)
{
    struct cs_buf *b = &ctx->resp->body;
    cs_page_start(ctx, title);
    cs_printf(b, "<p class=\"%s\" id=\"result\">", cls);
    cs_html(b, text);
    cs_puts(b, "</p><p><a href=\"/actions\">Back to the actions</a></p>");
    cs_page_end(ctx);
}

int cs_may_act(struct cs_ctx *ctx, const char *role)
{
    if (cs_role_at_least(ctx->session, role))
        return 1;
    char detail[200];
    snprintf(detail, sizeof(detail), "console %s refused: role %s", ctx->req->path,
             ctx->session->role);
    (void)ct_store_audit(ctx->store, ctx->session->operator_id, "refused", detail);
    cs_error_page(ctx, 403,
                  strcmp(role, "admin") == 0 ? "this needs the role admin"
                                             : "this needs the role operator or admin");
    return 0;
}

/* Deleting a discontinued model: picked here, confirmed on the next page. */
static void model_form(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_model_row *rows = NULL;
    size_t n = 0;
    char day[11];

    cs_today(day);
    if (ct_store_model_list(ctx->store, day, &rows, &n) != CL_OK)
        n = 0;
    cs_puts(b, "<form class=\"box\" method=\"get\" action=\"/model-delete\"><h2>Delete a "
               "discontinued model</h2><p>Deletes the packs the comm-terminal holds for a model "
               "no longer made; the unwritten ones are retired at ca-server. You confirm on the "
               "next page.</p><p><label>Model <select name=\"code\" required>");
    for (size_t i = 0; i < n; i++) {
        cs_puts(b, "<option>");
        cs_html(b, rows[i].code);
        cs_puts(b, "</option>");
    }
    cs_puts(b, "</select></label> <button type=\"submit\">Delete...</button></p></form>");
    free(rows);
}

void cs_page_actions(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    cs_page_start(ctx, "Actions");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/plan\" "
               "enctype=\"multipart/form-data\"><h2>Import a plan</h2>");
    cs_csrf_field(ctx);
    cs_puts(b, "<p>A CSV or JSON plan file (device_code,date,units,first_serial[,serial_digits])."
               "</p><p><input type=\"file\" name=\"plan\" required></p>"
               "<p><button type=\"submit\">Import</button></p></form>");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/enter\"><h2>Manual entry</h2>");
    cs_csrf_field(ctx);
    cs_puts(b, "<p>A device number planned for today is checked against the plan, then you "
               "confirm before its certificate is fetched.</p><p><label>Device number <input "
               "name=\"number\" maxlength=\"21\" required></label></p>"
               "<p><button type=\"submit\">Check</button></p></form>");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/fetch\"><h2>Fetch now</h2>");
    cs_csrf_field(ctx);
    cs_puts(b, "<p>Fetches today's planned certificates from ca-server now; its progress is "
               "shown until it ends (<a href=\"/fetch\">the last fetch</a>).</p>"
               "<p><button type=\"submit\">Fetch now</button></p></form>");
    model_form(ctx);
    cs_page_end(ctx);
}

/* The plan refused: every error of the file, by line (or entry), nothing changed. */
static void plan_refused(struct cs_ctx *ctx, const struct plan_errors *errors)
{
    struct cs_buf *b = &ctx->resp->body;
    ctx->resp->status = 400;
    cs_page_start(ctx, "Plan upload");
    cs_printf(b,
              "<p class=\"alert\" id=\"result\">plan not imported (nothing changed): %zu "
              "error%s in the file%s, the first: ",
              errors->count, errors->count == 1 ? "" : "s",
              errors->count > errors->kept ? " (the first 100 listed)" : "");
    cs_html(b, errors->kept > 0 ? errors->text[0] : "?");
    cs_puts(b, "</p><ul id=\"plan-errors\">");
    for (size_t i = 0; i < errors->kept; i++) {
        cs_puts(b, "<li>");
        cs_html(b, errors->text[i]);
        cs_puts(b, "</li>");
    }
    cs_puts(b, "</ul><p><a href=\"/actions\">Back to the actions</a></p>");
    cs_page_end(ctx);
}

void cs_action_plan(struct cs_ctx *ctx)
{
    const char *data;
    size_t len, added = 0;
    struct plan plan;
    char err[512], text[700];

    if (!cs_may_act(ctx, "operator"))
        return;
    if (cs_multipart_part(ctx->req->body, ctx->req->body_len, ctx->req->content_type, "plan", &data,
                          &len) != 1 ||
        len == 0 || memchr(data, '\0', len) != NULL) {
        cs_error_page(ctx, 400, "send a plan file (CSV or JSON text)");
        return;
    }
    char *copy = malloc(len + 1);
    struct plan_errors *errors = malloc(sizeof(*errors));
    if (copy == NULL || errors == NULL) {
        free(copy);
        free(errors);
        cs_error_page(ctx, 503, "out of memory");
        return;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    int rc = plan_parse_all("the uploaded plan", copy, &plan, errors);
    free(copy);
    if (rc != CL_OK) {
        plan_refused(ctx, errors);
        free(errors);
        return;
    }
    free(errors);
    rc = ct_store_plan_import(ctx->store, plan.entries, plan.count, ctx->session->operator_id,
                              &added, err, sizeof(err));
    if (rc != CL_OK) {
        snprintf(text, sizeof(text), "plan not imported (nothing changed): %s", err);
        ctx->resp->status = 400;
    } else {
        snprintf(text, sizeof(text), "plan imported: %zu entr%s, %zu new device number(s)",
                 plan.count, plan.count == 1 ? "y" : "ies", added);
    }
    plan_free(&plan);
    cs_message(ctx, "Plan upload", rc == CL_OK ? "ok" : "alert", text);
}

void cs_action_enter(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    char number[CT_DEVICE_NUMBER_MAX + 1], confirm[8], today[11], planned[11] = "", err[512],
                                                                  text[700];
    int in_plan = 0;

    if (!cs_may_act(ctx, "operator"))
        return;
    if (cs_form_value(ctx->req->body, ctx->req->body_len, "number", number, sizeof(number)) != 1 ||
        !cl_wire_device_number_ok(number)) {
        cs_error_page(ctx, 400, "give a device number (CODE-SERIAL, e.g. 3012-000001)");
        return;
    }
    cs_form_value(ctx->req->body, ctx->req->body_len, "confirm", confirm, sizeof(confirm));
    cs_today(today);
    if (ct_enter_check(ctx->store, number, today, planned, &in_plan) != CL_OK) {
        cs_error_page(ctx, 503, "the plan could not be read (see the comm-terminal's log)");
        return;
    }
    if (!in_plan) {
        snprintf(text, sizeof(text),
                 planned[0] ? "%s is planned for %s, not for today: check the number; nothing "
                              "issued"
                            : "%s is not in the production plan: check the number; nothing "
                              "issued%s",
                 number, planned);
        snprintf(err, sizeof(err), "console: %s refused (%s)", number,
                 planned[0] ? "planned for another day" : "not planned");
        (void)ct_store_audit(ctx->store, ctx->session->operator_id, "enter_refused", err);
        ctx->resp->status = 409;
        cs_message(ctx, "Manual entry", "alert", text);
        return;
    }
    if (strcmp(confirm, "yes") != 0) {
        cs_page_start(ctx, "Manual entry: confirm");
        cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/enter\"><p id=\"question\">"
                   "Issue a certificate for ");
        cs_html(b, number);
        cs_printf(b, " (planned for %s)?</p>", planned);
        cs_csrf_field(ctx);
        cs_puts(b, "<input type=\"hidden\" name=\"number\" value=\"");
        cs_html(b, number);
        cs_puts(b, "\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">"
                   "<p><button type=\"submit\">Yes, issue it</button> "
                   "<a href=\"/actions\">No</a></p></form>");
        cs_page_end(ctx);
        return;
    }
    int rc = ct_fetch_one(ctx->app->rt, ctx->store, number, 0, CT_CA_WAIT, err, sizeof(err));
    snprintf(text, sizeof(text), "console: %s", number);
    (void)ct_store_audit(ctx->store, ctx->session->operator_id,
                         rc == CL_OK ? "enter" : "enter_failed", text);
    if (rc == CL_OK)
        snprintf(text, sizeof(text), "certificate for %s fetched and stored", number);
    else
        snprintf(text, sizeof(text), "no certificate for %s: %s", number, err);
    ctx->resp->status = rc == CL_OK ? 200 : 502;
    cs_message(ctx, "Manual entry", rc == CL_OK ? "ok" : "alert", text);
}

void cs_page_operators(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    if (!cs_may_act(ctx, "admin"))
        return;
    cs_page_start(ctx, "Operators");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/operators\"><h2>Add an operator"
               "</h2>");
    cs_csrf_field(ctx);
    cs_puts(b, "<input type=\"hidden\" name=\"do\" value=\"add\"><p><label>Operator id <input "
               "name=\"operator\" maxlength=\"32\" required></label> <label>Role <select "
               "name=\"role\"><option>viewer</option><option selected>operator</option>"
               "<option>admin</option></select></label></p><p><label>Password (8 or more "
               "characters) <input type=\"password\" name=\"password\" maxlength=\"1024\" "
               "required></label></p><p><button type=\"submit\">Add</button></p></form>");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/operators\"><h2>Disable or enable"
               "</h2>");
    cs_csrf_field(ctx);
    cs_puts(b, "<p><label>Operator id <input name=\"operator\" maxlength=\"32\" required>"
               "</label> <select name=\"do\"><option value=\"disable\">disable</option>"
               "<option value=\"enable\">enable</option></select></p><p><button "
               "type=\"submit\">Apply</button></p></form>");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/operators\"><h2>Change a password"
               "</h2>");
    cs_csrf_field(ctx);
    cs_puts(b, "<input type=\"hidden\" name=\"do\" value=\"password\"><p><label>Operator id "
               "<input name=\"operator\" maxlength=\"32\" required></label></p><p><label>New "
               "password <input type=\"password\" name=\"password\" maxlength=\"1024\" "
               "required></label></p><p><button type=\"submit\">Change</button></p></form>");
    cs_page_end(ctx);
}

/* The refusal of an operator action: audited under the admin, a page saying why (status). */
static void operator_refused(struct cs_ctx *ctx, int status, const char *id, const char *what,
                             const char *why)
{
    char text[400];
    snprintf(text, sizeof(text), "operator %s: %s refused: %s", id, what, why);
    (void)ct_store_audit(ctx->store, ctx->session->operator_id, "operator_refused", text);
    ctx->resp->status = status;
    cs_message(ctx, "Operators", "alert", text);
}

void cs_action_operator(struct cs_ctx *ctx)
{
    const char *body = ctx->req->body;
    size_t len = ctx->req->body_len;
    char what[16], id[CT_OPERATOR_ID_MAX + 1], role[16], password[PASSWORD_FIELD_MAX], err[256],
        text[400];
    int rc;

    if (!cs_may_act(ctx, "admin"))
        return;
    if (cs_form_value(body, len, "do", what, sizeof(what)) != 1 ||
        cs_form_value(body, len, "operator", id, sizeof(id)) != 1 || id[0] == '\0') {
        cs_error_page(ctx, 400, "give an operator id (at most 32 characters) and an action");
        return;
    }
    if (strcmp(what, "add") == 0 || strcmp(what, "password") == 0) {
        if (cs_form_value(body, len, "password", password, sizeof(password)) != 1) {
            cs_error_page(ctx, 400, "give a password (at most 1024 characters)");
            return;
        }
        if (strcmp(what, "add") == 0) {
            if (cs_form_value(body, len, "role", role, sizeof(role)) != 1)
                role[0] = '\0';
            rc = ct_store_operator_add(ctx->store, id, password, role, ctx->session->operator_id);
            snprintf(err, sizeof(err), "%s",
                     rc == CL_ERR_EXISTS ? "the id is or was taken"
                     : rc == CL_ERR_INVALID_ARGUMENT
                         ? "an id of printable characters, a role, and a password of 8 to 1024 "
                           "bytes"
                         : cl_err_str(rc));
        } else {
            /* Only an existing operator's password: an unknown id is refused, never added. */
            rc = ct_store_operator_password(ctx->store, id, password, ctx->session->operator_id,
                                            err, sizeof(err));
            if (rc == CL_ERR_NOT_FOUND)
                snprintf(err, sizeof(err), "no such operator (nothing changed)");
            else if (rc == CL_ERR_INVALID_ARGUMENT)
                snprintf(err, sizeof(err),
                         "an id of printable characters and a password of 8 "
                         "to 1024 bytes");
            if (rc == CL_OK) /* the sessions opened with the old password end */
                cs_session_close_operator(ctx->app->sessions, id);
        }
        mbedtls_platform_zeroize(password, sizeof(password));
    } else if (strcmp(what, "disable") == 0 || strcmp(what, "enable") == 0) {
        rc = ct_store_operator_state(ctx->store, id, what[0] == 'd' ? "disabled" : "active",
                                     ctx->session->operator_id, err, sizeof(err));
        if (rc == CL_OK && what[0] == 'd')
            cs_session_close_operator(ctx->app->sessions, id);
    } else {
        cs_error_page(ctx, 400, "the action is add, disable, enable or password");
        return;
    }
    if (rc != CL_OK) {
        int status = rc == CL_ERR_NOT_FOUND                      ? 404
                     : rc == CL_ERR_EXISTS || rc == CL_ERR_STATE ? 409
                     : rc == CL_ERR_INVALID_ARGUMENT             ? 400
                                                                 : 503;
        operator_refused(ctx, status, id, what, err);
        return;
    }
    snprintf(text, sizeof(text), "operator %s: %s done", id, what);
    cs_message(ctx, "Operators", "ok", text);
}
