/* ct_store.h: the comm-terminal's state in PostgreSQL; the only part of comm-terminal that speaks
 * SQL (the files of store/ alone include libpq-fe.h). One ct_store = one connection, used by one
 * thread at a time. Every state change is one transaction and a function returns only after its
 * commit.
 *
 * Tables (versioned migrations, ct_store_migrate):
 *   model            FIG 19A: device code, certificate-managed or not: ca-server's flag as last
 *                    read (ca:Models), an operator's local override, the flag in force
 *   plan             FIG 19B: device code, production date, units
 *   plan_device      every planned device number (unique forever: numbers are never reused)
 *   certificate      FIG 20: device number, pack, creation date (kept across a replacement),
 *                    replacement date, write-completion flag, state
 *                    stored -> delivered -> written | failed -> replaced (-> delivered ...),
 *                    line id, serial, times; the pack is NULL once deleted
 *   fetch_request    FIG 21 requests to ca-server: request id stored before sending
 *   report           installation proofs to send to ca-server: queued -> done (signed receipt)
 *                    | rejected (ca-server's reason; the certificate fails, a replacement follows;
 *                    open until the replacement is written, which closes it: closed_at)
 *   retirement       packs deleted unwritten, to retire at ca-server: queued -> done | refused
 *   operator, audit_log */
#ifndef CERTLINE_CT_STORE_H
#define CERTLINE_CT_STORE_H

#include <stddef.h>
#include <time.h>

struct ct_store;

#define CT_MODEL_CODE_MAX 8
#define CT_DEVICE_NUMBER_MAX 21
#define CT_SERIAL_HEX_MAX 40
#define CT_VERIFY_HEX 64
#define CT_REQUEST_ID_MAX 64
#define CT_LINE_ID_MAX 32
#define CT_PACK_MAX 32768
#define CT_FETCH_MAX 1000     /* device numbers per FIG 21 request (the wire's bound) */
#define CT_OPERATOR_ID_MAX 32 /* operator ids: 1..32 printable characters, no spaces */

int ct_store_open(const char *conninfo, struct ct_store **out, char *err, size_t errlen);
void ct_store_close(struct ct_store *store);
int ct_store_migrate(struct ct_store *store, int *applied, char *err, size_t errlen);
/* For tests of the migrations: as ct_store_migrate, but only the migrations up to version last
 * (a store as an older comm-terminal left it, to be filled and then migrated the rest of the
 * way). */
int ct_store_migrate_upto(struct ct_store *store, int last, int *applied, char *err, size_t errlen);

/* ---- models [FIG 19A] (store/models.c) ---- */
/* ca-server holds the model list; an operator may override a model's flag here (certificate_managed
 * 1 or 0), or clear the override (CT_MODEL_FOLLOW_CA: the flag follows ca-server again;
 * CL_ERR_NOT_FOUND for a model not registered here). Audited. */
#define CT_MODEL_FOLLOW_CA (-1)
int ct_store_model_set(struct ct_store *store, const char *code, int certificate_managed,
                       const char *actor);

/* One model as ca-server's ca:Models answers it. */
struct ct_ca_model {
    const char *code;
    int certificate_managed;
};
/* In one transaction: records ca-server's whole model list (models it no longer names become
 * "unknown"), and the flag in force of each (its local override, if any, still wins); *changed
 * counts the models whose flag in force changed or that are new. Audited when something
 * changed. */
int ct_store_models_from_ca(struct ct_store *store, const struct ct_ca_model *models, size_t count,
                            const char *actor, size_t *changed, char *err, size_t errlen);

struct ct_model_row {
    char code[CT_MODEL_CODE_MAX + 1];
    int certificate_managed; /* the flag in force */
    char ca_state[16];       /* "managed", "not-managed", "unknown" (to ca-server); "" never read */
    int local_override;      /* -1 none, else the operator's flag */
    time_t ca_synced_at;     /* 0: never read */
    long planned_ahead;      /* device numbers planned on the day given or later */
};
/* Every model here, by code; *rows is malloc'd. */
int ct_store_model_list(struct ct_store *store, const char *day, struct ct_model_row **rows,
                        size_t *count);

/* ---- the plan [FIG 19B] ---- */

/* One plan entry: units devices of a model on a day, numbered from first_serial (CODE-SERIAL
 * with the serial zero-padded to serial_digits) or from an explicit list of serials. */
struct ct_plan_entry {
    char model_code[CT_MODEL_CODE_MAX + 1];
    char day[11]; /* YYYY-MM-DD */
    long units;
    long long first_serial;   /* used when serials == NULL */
    int serial_digits;        /* e.g. 6 -> 3012-000001 */
    const long long *serials; /* NULL or units entries */
};

/* In one transaction: records the entries and their device numbers. Re-importing an identical
 * entry changes nothing (*added counts new device numbers); a device number already planned for
 * another day or model is refused (CL_ERR_CONFLICT naming it). */
int ct_store_plan_import(struct ct_store *store, const struct ct_plan_entry *entries, size_t count,
                         const char *actor, size_t *added, char *err, size_t errlen);

/* One submission of the plan feed: its request id (1 to 64 of ! to ~), the SHA-256 (lower-case
 * hex) of what was submitted, and who submitted it (the audit actor). */
struct ct_plan_submission {
    const char *request_id;
    const char *digest;
    const char *actor;
};

/* As ct_store_plan_import, once per request id, in the same transaction: a request id seen
 * before with the same digest changes nothing (*repeated = 1, *added as the first time); with
 * another digest it is refused (CL_ERR_CONFLICT). */
int ct_store_plan_submit(struct ct_store *store, const struct ct_plan_submission *submission,
                         const struct ct_plan_entry *entries, size_t count, size_t *added,
                         int *repeated, char *err, size_t errlen);
/* Whether device_number is in the plan: CL_OK with its day (YYYY-MM-DD), CL_ERR_NOT_FOUND if
 * not planned (manual entry is checked against the plan [input device 156]). */
int ct_store_planned_day(struct ct_store *store, const char *device_number, char day[11]);

/* Device numbers of certificate-managed models planned for day that hold no certificate yet and
 * are in no pending fetch request, in order; *numbers is malloc'd (an array of fixed strings). */
int ct_store_numbers_to_fetch(struct ct_store *store, const char *day, size_t limit,
                              char (**numbers)[CT_DEVICE_NUMBER_MAX + 1], size_t *count);

/* ---- fetching from ca-server [S1/S2] ---- */
/* Records a request (id and its device numbers) before it is sent. */
int ct_store_fetch_begin(struct ct_store *store, const char *request_id, const char *day,
                         int replacement, const char *const *numbers, size_t count, char *err,
                         size_t errlen);

/* Requests recorded but not completed (to resend after a restart), oldest first. */
struct ct_pending_fetch {
    char request_id[CT_REQUEST_ID_MAX + 1];
    int replacement;
    size_t count;
    char (*numbers)[CT_DEVICE_NUMBER_MAX + 1]; /* malloc'd */
};
int ct_store_fetch_pending(struct ct_store *store, struct ct_pending_fetch **pending,
                           size_t *count);
void ct_pending_fetch_free(struct ct_pending_fetch *pending, size_t count);

/* Gives up a pending request that ca-server will never answer (e.g. it refuses it for good): it
 * is no longer pending, its numbers may be requested again (CL_ERR_STATE if it is completed;
 * already abandoned: CL_OK). Audited. */
int ct_store_fetch_abandon(struct ct_store *store, const char *request_id, const char *reason,
                           const char *actor, char *err, size_t errlen);

/* One pack of an answer. */
struct ct_pack_item {
    const char *device_number;
    const char *serial_hex;
    const char *pack;
};

/* In one transaction: stores every pack (state stored, flag 0; for a replacement request the
 * device's failed certificate becomes replaced with the new pack) and completes the request.
 * Idempotent: completing a completed request changes nothing. */
int ct_store_fetch_complete(struct ct_store *store, const char *request_id,
                            const struct ct_pack_item *items, size_t count, char *err,
                            size_t errlen);

/* ---- the line service [S5-S12] ---- */
/* S5/S6: the pack for device_number, claimed by line_id. Refused with a reason: CL_ERR_NOT_FOUND
 * (not in store), CL_ERR_STATE (already written, or failed and no replacement yet, or pack
 * deleted), CL_ERR_CONFLICT (being served to another line right now: claimed by another line
 * within claim_seconds). The same line asking again gets the same pack. *pack is malloc'd. */
int ct_store_claim(struct ct_store *store, const char *device_number, const char *line_id,
                   int claim_seconds, char **pack, char serial_hex[CT_SERIAL_HEX_MAX + 1],
                   char *err, size_t errlen);

/* 1 if device_number failed on a line and still waits for its replacement pack (ca-server was
 * unreachable when the write result came), else 0 (also on a database error). */
int ct_store_awaits_replacement(struct ct_store *store, const char *device_number);

/* S9: the device received its pack: stored -> delivered (only for the claiming line). */
int ct_store_delivered(struct ct_store *store, const char *device_number, const char *line_id,
                       char *err, size_t errlen);

/* S11 OK: written, flag 1, and an installation report queued (serial, proof), in one
 * transaction. Idempotent for the same serial. */
int ct_store_written(struct ct_store *store, const char *device_number, const char *line_id,
                     const char *serial_hex, const char *proof, time_t written_at, char *err,
                     size_t errlen);

/* S11 NG: failed, with the reason; the claim is released. */
int ct_store_failed(struct ct_store *store, const char *device_number, const char *line_id,
                    const char *reason, char *err, size_t errlen);

/* ---- installation reports and receipts [seed 004] ---- */
struct ct_report {
    long long id;
    char device_number[CT_DEVICE_NUMBER_MAX + 1];
    char serial_hex[CT_SERIAL_HEX_MAX + 1];
    char proof[CT_VERIFY_HEX + 1];
    time_t written_at;
    int attempts;
};
/* Reports due now (queued, next attempt reached), oldest first, at most limit. */
int ct_store_reports_due(struct ct_store *store, time_t now, size_t limit,
                         struct ct_report **reports, size_t *count);
/* A verified receipt: the report is done; with delete_written, the pack is deleted too
 * [effect 5]. */
int ct_store_receipt(struct ct_store *store, long long report_id, time_t received_at,
                     const char *signature_b64, const char *signer_pem, int delete_written);
/* A verified receipt of a batch, and what became of it (ct_store_receipts). */
struct ct_receipt_row {
    long long report_id;
    time_t received_at;
    const char *signature_b64, *signer_pem; /* its own signature; unused under a manifest */
    int rc;                                 /* CL_OK: stored (or held already) */
};
/* The signed manifest a batch's receipts were verified under (common/receipt.h). */
struct ct_receipt_manifest {
    const char *manifest, *signature_b64, *signer_pem;
};
/* ct_store_receipt for each row, in one transaction of set-based statements (one UPDATE of the
 * reports, one of the written packs): a report done already keeps its first receipt, a malformed
 * row (CL_ERR_INVALID_ARGUMENT) or a report that does not exist (CL_ERR_NOT_FOUND) is skipped;
 * a database failure keeps none (each row's rc says so too) and is returned. With manifest, it
 * is kept once and each report stored refers to it instead of a signature of its own. */
int ct_store_receipts(struct ct_store *store, const struct ct_receipt_manifest *manifest,
                      struct ct_receipt_row *rows, size_t count, int delete_written);
/* A failed attempt: retry at next_attempt (the reason is kept for operators). */
int ct_store_report_retry(struct ct_store *store, long long report_id, time_t next_attempt,
                          const char *reason);

/* ca-server refused the report for good (wrong proof, certificate superseded or revoked): the
 * report ends rejected with reason, and the certificate fails as after an NG write (a failed_pack
 * entry, flag 0), so that the next scan provisions a replacement. One transaction, audited;
 * CL_ERR_STATE if the report is not queued. */
int ct_store_report_reject(struct ct_store *store, long long report_id, const char *reason);
/* For the metrics: the reports queued (not yet answered) and the Unix time of the last fetch
 * request completed (0: none). A cl_err code. */
int ct_store_gauges(struct ct_store *store, long *queued, long long *last_fetch);

/* ---- retirement of packs deleted unwritten (store/retirements.c) ---- */
/* In one transaction: deletes the packs of unwritten certificates stored more than days ago and
 * queues them for retirement (EXPIRED_STOCK); *expired counts them. Audited. */
int ct_store_expire_stock(struct ct_store *store, long long days, size_t *expired);

struct ct_retirement {
    char serial_hex[CT_SERIAL_HEX_MAX + 1];
    char device_number[CT_DEVICE_NUMBER_MAX + 1];
    int discontinued; /* reason DISCONTINUED, else EXPIRED_STOCK */
    int attempts;
};
/* Queued retirements due now, all with the reason of the oldest, at most limit. */
int ct_store_retirements_due(struct ct_store *store, time_t now, size_t limit,
                             struct ct_retirement **rows, size_t *count);
enum ct_retirement_outcome { CT_RETIRED, CT_RETIRE_REFUSED, CT_RETIRE_LATER }; /* in this order */
/* Records what ca-server answered for rows: done, refused (final, with reason) or retry at
 * next_attempt (with reason). */
int ct_store_retirement_outcome(struct ct_store *store, const struct ct_retirement *rows,
                                size_t count, enum ct_retirement_outcome outcome,
                                time_t next_attempt, const char *reason);

/* ---- operators [FIG 14] and audit ---- */
/* Adds an operator (an admin) with a slow salted hash (PBKDF2-HMAC-SHA256, random salt,
 * >= 200000 iterations) of the password; CL_ERR_EXISTS if the id is taken. replace 0, or
 * CT_OPERATOR_FIRST: the first operator, added without a login, only while there is no operator
 * at all (checked and inserted in one transaction under a table lock), else CL_ERR_PERMISSION.
 * Never changes an existing operator (ct_store_operator_password does). */
#define CT_OPERATOR_FIRST 2
int ct_store_operator_set(struct ct_store *store, const char *operator_id, const char *password,
                          int replace, const char *actor);
/* Replaces the password of an existing operator (disabled ones included), audited; never adds
 * one: CL_ERR_NOT_FOUND for an unknown or removed id, nothing written (err says why). */
int ct_store_operator_password(struct ct_store *store, const char *operator_id,
                               const char *password, const char *actor, char *err, size_t errlen);
/* An active operator's standing for the console's sessions: CL_OK with stamp (its role and
 * when it last changed: a new password, a state change), CL_ERR_PERMISSION if no active
 * operator has the id, or the store's failure. */
int ct_store_operator_stamp(struct ct_store *store, const char *operator_id, char *stamp,
                            size_t cap);
/* CL_OK if the password is right, CL_ERR_PERMISSION otherwise (same time either way as far as
 * practical; unknown ids included). */
int ct_store_operator_check(struct ct_store *store, const char *operator_id, const char *password);
/* Roles: admin (everything, operators included), operator (console actions), viewer (views
 * only). A login as ct_store_operator_check that also refuses a disabled or removed operator and
 * gives the role (role_out: at least 16 bytes). */
int ct_store_operator_login(struct ct_store *store, const char *operator_id, const char *password,
                            char *role_out, size_t role_len);
/* Adds an operator with a role (admin, operator, viewer); CL_ERR_EXISTS if the id is or was
 * taken (a removed operator's id is never reused). Audited. */
int ct_store_operator_add(struct ct_store *store, const char *operator_id, const char *password,
                          const char *role, const char *actor);
/* Sets an operator's state: "active", "disabled" or "removed" (final). Refused with CL_ERR_STATE
 * if it would leave no active admin, or changes a removed operator; CL_ERR_NOT_FOUND for an
 * unknown id. Audited. */
int ct_store_operator_state(struct ct_store *store, const char *operator_id, const char *state,
                            const char *actor, char *err, size_t errlen);
/* How many operators exist (negative cl_err code on failure): the first may be added without a
 * login. */
long ct_store_operator_count(struct ct_store *store);
int ct_store_audit(struct ct_store *store, const char *actor, const char *action,
                   const char *detail);

/* ---- what operators see [paragraph 0090] ---- */
struct ct_model_status {
    char model_code[CT_MODEL_CODE_MAX + 1];
    int certificate_managed;
    long held;             /* packs held (not deleted), any state but written */
    long used_today;       /* written today */
    long remaining;        /* planned today and not yet written */
    long failed;           /* failed, waiting for a replacement */
    long awaiting_receipt; /* written, report not yet answered */
    long rejected;         /* reports ca-server refused whose device has no replacement written
                            * yet (open: closed by the replacement's write, ct_store_written) */
    long retiring;         /* deleted packs not yet retired at ca-server */
    char ca_state[16];     /* the model to ca-server (struct ct_model_row) */
    int local_override;    /* -1 none, else the operator's flag */
};
int ct_store_status(struct ct_store *store, const char *day, struct ct_model_status **rows,
                    size_t *count);

struct ct_cert_row {
    char device_number[CT_DEVICE_NUMBER_MAX + 1];
    char model_code[CT_MODEL_CODE_MAX + 1];
    char state[16];
    int write_flag;
    int pack_held;
    char line_id[CT_LINE_ID_MAX + 1];
    char serial_hex[CT_SERIAL_HEX_MAX + 1];
    time_t created_at, delivered_at, written_at;
    char report[12];         /* installation report of this serial: "", queued, done, rejected */
    char report_reason[513]; /* ca-server's reason when rejected */
    time_t replaced_at;      /* the last replacement pack's arrival; 0 none [FIG 20] */
};
/* Certificates in a state ("" = any) of a model ("" = any), at most limit. */
int ct_store_cert_list(struct ct_store *store, const char *state, const char *model_code,
                       size_t limit, struct ct_cert_row **rows, size_t *count);

/* Deletes the packs of a discontinued model (keeps the rows, pack NULL) and queues the unwritten
 * ones for retirement at ca-server, in one transaction; *deleted counts them. */
int ct_store_delete_model_packs(struct ct_store *store, const char *model_code, const char *actor,
                                size_t *deleted);

#endif
