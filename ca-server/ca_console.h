/* ca_console.h: ca-server's console for CA operators, HTTPS for browsers on its own port over
 * common/console_core.h: what its files share (console_start.c: start, login and audit, routes;
 * console_issuance.c: issuance per factory and day, models and pre-write keys; console_certs.c:
 * certificate search and detail; console_revoke.c: revocation with a reason, the audit log). */
#ifndef CERTLINE_CA_CONSOLE_H
#define CERTLINE_CA_CONSOLE_H

#include <stddef.h>

#include "console_core.h"
#include "runtime.h"

struct cl_tls;
struct ca_console;

/* Starts the console on config.console (its own certificate, or a sibling of tls: ca-server's)
 * in a thread of its own; *out stays NULL when the console is off (port 0). A cl_err code. */
int ca_console_start(struct ca_runtime *runtime, struct cl_tls *tls, struct ca_console **out,
                     char *err, size_t errlen);
/* Stops it, waits for its threads and frees it; NULL does nothing. */
void ca_console_free(struct ca_console *console);

struct cs_app {
    struct ca_runtime *rt;
    struct cs_sessions *sessions;
};

/* The audit actor of a console operator: "console:LOGIN". */
void ca_console_actor(const struct cs_ctx *ctx, char *out, size_t cap);
/* Rows shown by a listing at most. */
#define CA_CONSOLE_ROWS 500

/* A table of audit-log rows (console_revoke.c), with the HTML id given. */
void ca_console_audit_table(struct cs_buf *b, const char *id, const struct ca_audit_row *rows,
                            size_t n);

/* ---- views and actions ---- */
void ca_page_issuance(struct cs_ctx *ctx);
void ca_page_models(struct cs_ctx *ctx);
void ca_page_certificates(struct cs_ctx *ctx);
void ca_page_certificate(struct cs_ctx *ctx);
void ca_page_revoke(struct cs_ctx *ctx);   /* the confirmation form */
void ca_action_revoke(struct cs_ctx *ctx); /* the revocation, confirmed */
void ca_page_log(struct cs_ctx *ctx);

#endif
