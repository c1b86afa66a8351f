/* store/ct_store_internal.h: what the files of the store share (struct ct_store, bounds, checks).
 *
 * The store keeps the comm-terminal's state in PostgreSQL (see ct_store.h), one file per
 * aggregate over the shared layer common/pg_db.h: schema.c (the schema, its migrations, open and
 * close), plan.c (the certificate-managed model list and the production plan [FIG 19A/19B]),
 * fetch.c and packs.c (FIG 21 fetches, request recorded before it is sent, and their answers into
 * the certificate DB [FIG 20]), claims.c (the line service's claims and states), reports.c
 * (installation reports and receipts), operators.c (PBKDF2 hashes), audit.c (the audit log) and
 * console.c (what operators see), with checks.c for the checks they share. These files alone of
 * comm-terminal include libpq-fe.h (through pg_db.h); nothing outside store/ includes this header.
 *
 * A store is one connection (common/pg_db.h), used by one thread at a time. Every value goes to the
 * server as a parameter (PQexecParams); the only SQL text is constant. Every state change is one
 * transaction (ROLLBACK on any error) and a function returns success only after its COMMIT. The
 * database enforces the invariants itself: a device number is planned once (plan_device primary
 * key), holds at most one certificate row (primary key) and sits in at most one pending request (a
 * partial unique index); a claim locks the certificate row (SELECT ... FOR UPDATE), so two lines
 * asking for one number at once are served one after the other and the second sees the first's
 * claim. */
#ifndef CERTLINE_CT_STORE_INTERNAL_H
#define CERTLINE_CT_STORE_INTERNAL_H

#include <stddef.h>
#include <time.h>

#include "ct_store.h"
#include "error.h"
#include "input_check.h"
#include "log.h"
#include "pg_audit.h"
#include "pg_db.h"

/* Bounds of the inputs that ct_store.h leaves open. */
#define ACTOR_MAX CL_PG_AUDIT_ACTOR_MAX
#define ACTION_MAX CL_PG_AUDIT_ACTION_MAX
#define DETAIL_MAX CL_PG_AUDIT_DETAIL_MAX
#define REASON_MAX 1024         /* a write failure's reason (256 characters on the wire) */
#define RETRY_REASON_MAX 512    /* kept of a report attempt's failure */
#define SIGNATURE_B64_MAX 4096  /* a receipt's signature, base64 */
#define SIGNER_PEM_MAX 16384    /* a receipt's signer certificate, PEM */
#define CLAIM_SECONDS_MAX 86400 /* a claim never outlives a day */
#define PLAN_ENTRIES_LIMIT 10000
#define PLAN_UNITS_LIMIT 100000
#define SERIAL_NUMBER_MAX 999999999999LL /* the 12 digits of a device number's serial */
#define LIST_MAX 1000000                 /* rows one listing returns at most */

/* Advisory lock keys (first of the two int4 keys): migrations, and one request id. */
#define LOCK_MIGRATE 0x43540001
#define LOCK_REQUEST 0x43540002
#define LOCK_SUBMISSION 0x43540003

/* PostgreSQL's type oid of text (pg_type.h; fixed since the first release). */
#define TEXT_OID 25

/* The order of device numbers: by model, then by the serial's value. */
#define NUMBER_ORDER(n)                                                                            \
    "split_part(" n ", '-', 1) COLLATE \"C\", split_part(" n ", '-', 2)::numeric, " n              \
    " COLLATE \"C\""

/* The connection first: cl_pg_store_open and cl_pg_store_close hold it there. */
struct ct_store {
    struct cl_pg *db;
};

/* ---- shared by the store's files (checks.c, fetch.c) ---- */

/* CODE-SERIAL: [0-9A-Z]{1,8}-[0-9]{1,12}. */
int cts_device_number_ok(const char *s);

/* YYYY-MM-DD, a real date (years 2000..2999); *tm gets it (local midnight) if not NULL. */
int cts_day_ok(const char *s, struct tm *tm);

/* The day (YYYY-MM-DD) in this process's local time, as the factory's clock says "today": its
 * first second and the next day's, as epoch seconds in text. 0 (logged, naming what) if day is
 * not a date. */
int cts_day_bounds(const char *what, const char *day, char from[24], char to[24]);

/* A printable ASCII copy of free text from elsewhere (a transport error), at most size - 1
 * bytes: kept for operators, never refused. */
void cts_sanitize(char *dst, size_t size, const char *src);

/* Queues the unwritten certificates of a model whose packs are held for retirement
 * (DISCONTINUED), inside the caller's transaction (store/retirements.c). */
int cts_retirement_queue_model(struct ct_store *store, const char *model_code, char *err,
                               size_t errlen);

/* For the functions that have no err: a failure is logged here, once (refusals as warnings,
 * database failures as errors). */
int cts_logged(int rc, const char *what, const char *err);

/* Sets err to "what: device number ... is malformed"; returns CL_ERR_INVALID_ARGUMENT. */
int cts_number_refused(const char *what, const char *number, char *err, size_t errlen);

/* Checks a request id; err names it (fetch.c). */
int cts_request_id_ok(const char *request_id, char *err, size_t errlen);

#endif
