/* console_models.c: deleting a discontinued model from the console, as `delete-model` does
 * (ct_store_delete_model_packs: the packs held are deleted, the unwritten ones queued for
 * retirement at ca-server, audited under the operator), only after a confirmation page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "ct_store_views.h"
#include "error.h"
#include "input_check.h"

/* The model's row of Today's status (packs held unwritten): 1, or an error page and 0. */
static int model_status(struct cs_ctx *ctx, const char *code, struct ct_model_status *out)
{
    struct ct_model_status *rows = NULL;
    size_t n = 0;
    char day[11];
    int found = 0;

    if (!cl_model_code_ok(code)) {
        cs_error_page(ctx, 400, "give a device model code (1 to 8 of 0-9 A-Z)");
        return 0;
    }
    cs_today(day);
    if (ct_store_status(ctx->store, day, &rows, &n) != CL_OK) {
        cs_error_page(ctx, 503, "the store could not be read (see the comm-terminal's log)");
        return 0;
    }
    for (size_t i = 0; i < n && !found; i++)
        if (strcmp(rows[i].model_code, code) == 0) {
            *out = rows[i];
            found = 1;
        }
    free(rows);
    if (!found)
        cs_error_page(ctx, 404, "no such device model here");
    return found;
}

/* What deleting does, and the form that confirms it. */
static void confirm_page(struct cs_ctx *ctx, const struct ct_model_status *model)
{
    struct cs_buf *b = &ctx->resp->body;

    cs_page_start(ctx, "Delete a discontinued model: confirm");
    cs_puts(b, "<form class=\"box\" method=\"post\" action=\"/model-delete\"><p id=\"question\">"
               "Delete the packs of discontinued model ");
    cs_html(b, model->model_code);
    cs_printf(b,
              "? The comm-terminal holds %ld unwritten pack(s) of it: they are deleted and "
              "retired at ca-server (revoked: cessation of operation), so its numbers can no "
              "longer be written on a line. Written devices keep their records.</p>",
              model->held);
    cs_csrf_field(ctx);
    cs_puts(b, "<input type=\"hidden\" name=\"code\" value=\"");
    cs_html(b, model->model_code);
    cs_puts(b, "\"><input type=\"hidden\" name=\"confirm\" value=\"yes\">"
               "<p><button type=\"submit\">Yes, delete them</button> "
               "<a href=\"/actions\">No</a></p></form>");
    cs_page_end(ctx);
}

void cs_page_model_delete(struct cs_ctx *ctx)
{
    struct ct_model_status model;
    char code[16];

    if (!cs_may_act(ctx, "operator"))
        return;
    cs_query(ctx, "code", code, sizeof(code));
    if (model_status(ctx, code, &model))
        confirm_page(ctx, &model);
}

void cs_action_model_delete(struct cs_ctx *ctx)
{
    struct ct_model_status model;
    char code[16], confirm[8], text[200];
    size_t deleted = 0;

    if (!cs_may_act(ctx, "operator"))
        return;
    if (cs_form_value(ctx->req->body, ctx->req->body_len, "code", code, sizeof(code)) != 1)
        code[0] = '\0';
    if (cs_form_value(ctx->req->body, ctx->req->body_len, "confirm", confirm, sizeof(confirm)) != 1)
        confirm[0] = '\0';
    if (!model_status(ctx, code, &model))
        return;
    if (strcmp(confirm, "yes") != 0) { /* not confirmed: nothing deleted, asked again */
        confirm_page(ctx, &model);
        return;
    }
    int rc = ct_store_delete_model_packs(ctx->store, code, ctx->session->operator_id, &deleted);
    if (rc == CL_OK)
        snprintf(text, sizeof(text),
                 "deleted %zu pack(s) of discontinued model %s; the unwritten ones are retired "
                 "at ca-server by the reporter",
                 deleted, code);
    else
        snprintf(text, sizeof(text), "the packs of model %s were not deleted: %s", code,
                 cl_err_str(rc));
    ctx->resp->status = rc == CL_OK ? 200 : 503;
    cs_message(ctx, "Delete a discontinued model", rc == CL_OK ? "ok" : "alert", text);
}
