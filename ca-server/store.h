/* store.h: ca-server's state in PostgreSQL. The only part of ca-server that speaks SQL (the files
 * of store/ alone include libpq-fe.h). Every state change is one transaction; a function returns
 * only after its commit. Schema: versioned migrations applied by ca_store_migrate.
 *
 * Tables: device_model; certificate (serial PK, device number, model, state intent -> issued ->
 * installed, or superseded / revoked; at most one certificate per device number in intent,
 * issued or installed, enforced by a partial unique index; the pack goes, pack_purged_at stamped,
 * at installation, supersession and revocation by a trigger, and after pack_retention_hours by
 * ca_store_purge_packs); batch_request and batch_item (FIG 21
 * requests with their id and body hash, for idempotency); service_certificate; audit_log. */
#ifndef CERTLINE_CA_STORE_H
#define CERTLINE_CA_STORE_H

#include <stddef.h>
#include <time.h>

struct ca_store;

#define CA_MODEL_CODE_MAX 8
#define CA_DEVICE_NUMBER_MAX 21
#define CA_SERIAL_HEX_MAX 40
#define CA_VERIFY_HEX 64

/* Most device numbers one batch may name. */
#define CA_BATCH_MAX 10000

/* Opens a connection (conninfo as libpq takes it). err never contains the password.
 * A store is one connection: use it from one thread at a time (one store per worker thread). */
int ca_store_open(const char *conninfo, struct ca_store **out, char *err, size_t errlen);
void ca_store_close(struct ca_store *store);

/* For tests: where this store takes the serials of new intents (cl_serial_random by default;
 * NULL restores it). */
void ca_store_set_serial_source(struct ca_store *store,
                                int (*source)(char serial_hex[CA_SERIAL_HEX_MAX + 1]));

/* Applies the migrations not applied yet, each in its own transaction; *applied counts them. */
int ca_store_migrate(struct ca_store *store, int *applied, char *err, size_t errlen);

/* ---- device models [FIG 19A] ---- */
struct ca_model {
    char code[CA_MODEL_CODE_MAX + 1]; /* [0-9A-Z]{1,8} */
    char key_type[16];                /* "p256", "rsa2048", "rsa3072" */
    int certificate_managed;
    char key_id[65]; /* id of the model's pre-write key */
    time_t created_at;
};
/* CL_ERR_EXISTS if the code is taken. */
int ca_store_model_add(struct ca_store *store, const struct ca_model *model, const char *actor);
int ca_store_model_get(struct ca_store *store, const char *code, struct ca_model *model);
/* *models is malloc'd (free it), ordered by code. */
int ca_store_model_list(struct ca_store *store, struct ca_model **models, size_t *count);

/* ---- FIG 21 batches: intent before signing, packs after ---- */
enum ca_batch_state {
    CA_BATCH_NEW,     /* intents recorded now: sign and complete */
    CA_BATCH_PENDING, /* same id and body seen before, not completed (a crash): sign and complete */
    CA_BATCH_DONE     /* same id and body completed before: answer the stored packs */
};

struct ca_batch_item {
    char device_number[CA_DEVICE_NUMBER_MAX + 1];
    char model_code[CA_MODEL_CODE_MAX + 1];
    char key_type[16];
    char serial_hex[CA_SERIAL_HEX_MAX + 1];
    char *pack; /* CA_BATCH_DONE: the stored pack (malloc'd); otherwise NULL */
};

/* In one transaction: if request_id is known, compares body_hash (different: CL_ERR_CONFLICT,
 * "request id ... was used with another body") and loads its items in request order. Otherwise
 * validates every device number (format CODE-SERIAL, no duplicates, model known and
 * certificate-managed: else CL_ERR_INVALID_ARGUMENT naming the number), refuses a number that
 * already holds a valid certificate unless replacement (then that certificate becomes superseded),
 * records one intent with a fresh random serial per number (retrying on a serial collision), and
 * the request. items has room for count entries. err names the offending device number. */
int ca_store_batch_begin(struct ca_store *store, const char *request_id,
                         const unsigned char body_hash[32], int replacement, const char *requester,
                         const char *const *device_numbers, size_t count,
                         struct ca_batch_item *items, enum ca_batch_state *state, char *err,
                         size_t errlen);

/* The signing result of one item. */
struct ca_issued_item {
    const char *serial_hex;
    const unsigned char *cert_der;
    size_t cert_len;
    const char *pack;
    const char *server_value; /* expected installation proof, CA_VERIFY_HEX chars */
};

/* In one transaction: stores every item (intent -> issued) and marks the request completed. */
int ca_store_batch_complete(struct ca_store *store, const char *request_id,
                            const struct ca_issued_item *items, size_t count, char *err,
                            size_t errlen);

/* The same transaction in parts, so that storing overlaps signing. begin opens it, locks the
 * request (a concurrent call with the same id waits until this one ends) and checks it is known,
 * not completed (CL_ERR_CONFLICT) and of count items. add stores items as issued, in any number
 * of calls. commit checks that no item of the request is left an intent, marks it completed
 * and commits. On any failure the transaction is rolled back (nothing stored); abort rolls back
 * a completion that will not be finished. The store does nothing else in between. */
int ca_store_complete_begin(struct ca_store *store, const char *request_id, size_t count, char *err,
                            size_t errlen);
int ca_store_complete_add(struct ca_store *store, const char *request_id,
                          const struct ca_issued_item *items, size_t count, char *err,
                          size_t errlen);
int ca_store_complete_commit(struct ca_store *store, const char *request_id, char *err,
                             size_t errlen);
void ca_store_complete_abort(struct ca_store *store);

void ca_batch_items_free(struct ca_batch_item *items, size_t count); /* frees the packs */

/* ---- installation [seed 004] ---- */
/* Checks value against the expected proof of (device_number, serial) in constant time; marks the
 * certificate installed at now (or, when it already is, keeps the first time). *received_at is
 * the installation time to put in the receipt. CL_ERR_NOT_FOUND (unknown pair), CL_ERR_STATE
 * (superseded or revoked), CL_ERR_CRYPTO (value does not match). */
int ca_store_install(struct ca_store *store, const char *device_number, const char *serial_hex,
                     const char *value, time_t now, time_t *received_at, char *err, size_t errlen);

/* ---- what a device or an operator asks ---- */
enum ca_cert_state {
    CA_CERT_INTENT,
    CA_CERT_ISSUED,
    CA_CERT_INSTALLED,
    CA_CERT_SUPERSEDED,
    CA_CERT_REVOKED,
    CA_CERT_UNKNOWN
};
const char *ca_cert_state_name(enum ca_cert_state state); /* "intent", "issued", ... */

struct ca_cert_row {
    char serial_hex[CA_SERIAL_HEX_MAX + 1];
    char device_number[CA_DEVICE_NUMBER_MAX + 1];
    char model_code[CA_MODEL_CODE_MAX + 1];
    enum ca_cert_state state;
    char request_id[65];
    time_t created_at, issued_at, installed_at, ended_at; /* 0 when not (yet) */
    char reason[257];                                     /* revocation or supersession reason */
};

/* The state of the certificate with this serial and device number (CA_CERT_UNKNOWN if none). */
int ca_store_cert_state(struct ca_store *store, const char *device_number, const char *serial_hex,
                        struct ca_cert_row *row);

/* Certificates matching the filters (NULL or "" = any), newest first, at most limit rows;
 * *rows is malloc'd. */
int ca_store_cert_list(struct ca_store *store, const char *device_number, const char *model_code,
                       const char *state, size_t limit, struct ca_cert_row **rows, size_t *count);

/* The certificate DER of a serial (malloc'd). */
int ca_store_cert_der(struct ca_store *store, const char *serial_hex, unsigned char **der,
                      size_t *len);

/* Revokes an intent/issued/installed certificate (CL_ERR_STATE otherwise). */
int ca_store_revoke(struct ca_store *store, const char *serial_hex, const char *reason,
                    const char *actor);

/* ---- keys kept only while needed, retirement (store/retention.c) ---- */
/* Purges the packs of certificates issued more than hours ago and never installed (installation,
 * supersession and revocation purge theirs at once, by a trigger); *purged counts them. */
int ca_store_purge_packs(struct ca_store *store, long long hours, long *purged);

/* In one transaction: revokes (cessationOfOperation) the intent/issued certificates of serials
 * that requester asked for; superseded or revoked ones count as retired already. All or none:
 * CL_ERR_STATE (installed), CL_ERR_PERMISSION (issued to another requester), CL_ERR_NOT_FOUND,
 * with err naming the serial. retire_reason: "DISCONTINUED" or "EXPIRED_STOCK". */
int ca_store_retire(struct ca_store *store, const char *requester, const char *retire_reason,
                    const char *const *serials, size_t count, size_t *retired, char *err,
                    size_t errlen);

/* ---- service certificates and audit ---- */
int ca_store_service_issued(struct ca_store *store, const char *serial_hex, const char *role,
                            const char *name, const char *number, const char *actor);

/* Appends to the audit log (one transaction of its own). detail is free text (no secrets). */
int ca_store_audit(struct ca_store *store, const char *actor, const char *action,
                   const char *detail);

struct ca_audit_row {
    long long id;
    time_t at;
    char actor[65];
    char action[65];
    char detail[513];
};
/* The most recent entries, newest first (at most limit); *rows is malloc'd. */
int ca_store_audit_list(struct ca_store *store, size_t limit, struct ca_audit_row **rows,
                        size_t *count);

#endif
