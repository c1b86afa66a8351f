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
extern const struct cs_nav ct_console_nav[];
extern const size_t ct_console_nav_count;

/* ---- views (console_pages.c) and actions (console_actions.c) ---- */
void cs_page_today(struct cs_ctx *ctx);
void cs_page_devices(struct cs_ctx *ctx);
void cs_page_device(struct cs_ctx *ctx);
void cs_page_audit(struct cs_ctx *ctx, int format); /* 0 HTML, 1 CSV, 2 JSON */
void cs_page_log(struct cs_ctx *ctx);
void cs_page_lines(struct cs_ctx *ctx);
void cs_page_actions(struct cs_ctx *ctx);
void cs_action_plan(struct cs_ctx *ctx);
void cs_action_enter(struct cs_ctx *ctx);
void cs_action_fetch(struct cs_ctx *ctx);
void cs_page_operators(struct cs_ctx *ctx);
void cs_action_operator(struct cs_ctx *ctx);

#endif
