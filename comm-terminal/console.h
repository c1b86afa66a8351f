/* console.h: the comm-terminal's operator console, HTTPS for browsers on its own port: what its
 * files share (common/console_core.h: the server, buffers, escaping, forms, sessions, login and
 * dispatch; console_start.c: its start; console_routes.c: its pages and navigation;
 * console_pages.c: the views; console_actions.c: the actions). */
#ifndef CERTLINE_CONSOLE_H
#define CERTLINE_CONSOLE_H

#include <stddef.h>
#include <time.h>

#include "console_core.h"
#include "ct_runtime.h"

/* ---- the server (console_start.c) ---- */
struct ct_console;
/* Starts the console on config.console (a TLS context for browsers with the console's or the
 * comm-terminal's certificate) in a thread of its own; *out stays NULL when the console is off
 * (port 0). Returns a cl_err code; err says why. */
int ct_console_start(struct ct_runtime *runtime, struct cl_tls *line_tls, struct ct_console **out,
                     char *err, size_t errlen);
/* Async-signal-safe. */
void ct_console_stop(struct ct_console *console);
/* Stops (if not yet), waits for its threads and frees it; NULL does nothing. */
void ct_console_free(struct ct_console *console);

/* ---- the console's state (console_start.c) and pages (console_routes.c) ---- */
struct cs_app {
    struct ct_runtime *rt;
    struct cs_sessions *sessions;
};
extern const struct cs_route ct_console_routes[];
extern const size_t ct_console_route_count;
extern const struct cs_route ct_console_static_routes[];
extern const size_t ct_console_static_route_count;
extern const struct cs_nav ct_console_nav[];
extern const size_t ct_console_nav_count;
extern const struct cs_query_bound ct_console_query_bounds[];
extern const size_t ct_console_query_bound_count;

/* ---- views (console_pages.c; Devices: console_devices.c; the audit log: console_log.c) and
 * actions (console_actions.c) ---- */
void cs_page_today(struct cs_ctx *ctx);
void cs_page_devices(struct cs_ctx *ctx);
void cs_page_device(struct cs_ctx *ctx);
void cs_page_audit(struct cs_ctx *ctx, int format); /* 0 HTML, 1 CSV, 2 JSON */
/* The Audit page's downloads, CSV (format 1) and JSON (2), sent in parts (console_export.c). */
void cs_audit_export(struct cs_ctx *ctx, int format, const char *day);
void cs_page_log(struct cs_ctx *ctx);
void cs_page_lines(struct cs_ctx *ctx);
void cs_page_actions(struct cs_ctx *ctx);
void cs_action_plan(struct cs_ctx *ctx);
void cs_action_enter(struct cs_ctx *ctx);
void cs_action_fetch(struct cs_ctx *ctx);
void cs_page_operators(struct cs_ctx *ctx);
void cs_action_operator(struct cs_ctx *ctx);

/* ---- issue 17 part 1's leftovers: the Lines page (console_lines.c), fetch now with its
 * progress (console_fetch.c), deleting a discontinued model (console_models.c), the plan
 * upload's errors (console_actions.c) ---- */

/* Today's chart of plan against use through the day (console_today_chart.c): one panel per
 * series, its devices written by the end of each local hour, up to now_h hours into the day
 * (24: the whole day), against its plan. */
struct cs_plan_series {
    const char *model; /* a model's code, or "All models" */
    long plan;
    long written_by[24]; /* from the day's start to the end of each hour */
};
void cs_plan_chart(struct cs_buf *b, const struct cs_plan_series *series, size_t n, double now_h);

/* The day picker (console_pages.c; table cells are console_core.h's cs_cell*). */
/* The day= query value if it is a date, else today. */
void cs_query_day(struct cs_ctx *ctx, char day[11]);
void cs_day_form(struct cs_ctx *ctx, const char *action, const char *day);
/* A search form's query values (console_devices.c): each returns 1 with the value ("" when
 * absent), or answers 400 saying what is wrong with the field (label) and returns 0. A text of
 * at most cap - 1 bytes; an optional day (YYYY-MM-DD, a real date). */
int cs_query_text(struct cs_ctx *ctx, const char *name, const char *label, char *out, size_t cap);
int cs_query_optional_day(struct cs_ctx *ctx, const char *name, const char *label, char day[11]);
/* A page's result line (id "result", class ok or alert) and a link back to the actions. */
void cs_message(struct cs_ctx *ctx, const char *title, const char *cls, const char *text);
/* Actions need the role (operator or admin): 1, or the refusal audited, an error page and 0. */
int cs_may_act(struct cs_ctx *ctx, const char *role);

/* The Lines page's figures alone, for its script (GET /lines.part), and the script that
 * refreshes them every few seconds (GET /console.js). */
void cs_page_lines_part(struct cs_ctx *ctx);
void cs_console_script(struct cs_ctx *ctx);

/* GET /fetch: the fetch under way (or the last one) with its progress, refreshing itself
 * until it ends; POST /fetch starts one in a thread of its own. */
void cs_page_fetch(struct cs_ctx *ctx);
/* Waits for a fetch the console started (at shutdown, after ct_console_free). */
void cs_fetch_wait(void);

/* GET /model-delete?code=: what deleting a discontinued model's packs does, to confirm;
 * POST /model-delete deletes them once confirmed (confirm=yes). */
void cs_page_model_delete(struct cs_ctx *ctx);
void cs_action_model_delete(struct cs_ctx *ctx);

#endif
