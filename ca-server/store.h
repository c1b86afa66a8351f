/* store.h: ca-server's state in PostgreSQL. The only part of ca-server that speaks SQL (the files
 * of store/ alone include libpq-fe.h). Every state change is one transaction; a function returns
 * only after its commit. Schema: versioned migrations applied by ca_store_migrate.
 *
 * Tables: device_model; certificate (serial PK, device number, model, state intent -> issued ->
 * installed, or superseded / revoked; at most one certificate per device number in intent,
 * issued or installed, enforced by a partial unique index; the pack goes, pack_purged_at stamped,
 * at installation, supersession and revocation by a trigger, and after pack_retention_hours by
 * ca_store_purge_packs); batch_request and batch_item (FIG 21 requests with their id, body hash
 * and requester, for idempotency); device_owner (the factory each device number belongs to);
 * service_certificate; crl_publication (the last CRL number, the newest CRL); audit_log. */
#ifndef CERTLINE_CA_STORE_H
#define CERTLINE_CA_STORE_H

#include <stddef.h>
#include <time.h>

struct ca_store;

#define CA_MODEL_CODE_MAX 8
#define CA_DEVICE_NUMBER_MAX 21
#define CA_SERIAL_HEX_MAX 40
#define CA_VERIFY_HEX 64
#define CA_FACTORY_MAX 64 /* a factory's name: its comm-terminal certificate's CN */

/* Most device numbers one batch may name. */
#define CA_BATCH_MAX 10000

/* Opens a connection (conninfo as libpq takes it). err never contains the password.
 * A store is one connection: use it from one thread at a time (one store per worker thread). */
int ca_store_open(const char *conninfo, struct ca_store **out, char *err, size_t errlen);
void ca_store_close(struct ca_store *store);

/* After an idempotent piece of work on the store failed with rc: whether to do it again, because
 * the database connection was lost (a failover); see cl_pg_again. */
int ca_store_again(struct ca_store *store, int rc, int *runs);

/* For tests: where this store takes the serials of new intents (cl_serial_ordered by default,
 * time-ordered so that the serial indexes take their inserts on their rightmost pages; NULL
 * restores it). */
void ca_store_set_serial_source(struct ca_store *store,
                                int (*source)(char serial_hex[CA_SERIAL_HEX_MAX + 1]));

/* Applies the migrations not applied yet, each in its own transaction; *applied counts them. */
int ca_store_migrate(struct ca_store *store, int *applied, char *err, size_t errlen);
/* For tests of the migrations: as ca_store_migrate, but only the migrations up to version last
 * (a store as an older ca-server left it, to be filled and then migrated the rest of the way). */
int ca_store_migrate_upto(struct ca_store *store, int last, int *applied, char *err, size_t errlen);

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
/* Changes a model's certificate-managed flag [FIG 19A], audited (actor); CL_ERR_NOT_FOUND for an
 * unknown model. Setting the flag it has already changes nothing and is not audited. */
int ca_store_model_set_managed(struct ca_store *store, const char *code, int certificate_managed,
                               const char *actor);
/* *models is malloc'd (free it), ordered by code. */
int ca_store_model_list(struct ca_store *store, struct ca_model **models, size_t *count);
/* The model lock: one model-add or model-rotate at a time on the database, whichever instance
 * runs it (a session-level advisory lock, ended by ca_store_models_unlock or by the connection's
 * end). *got is 1 when this connection took it (or holds it), 0 when another holds it. */
int ca_store_models_try_lock(struct ca_store *store, int *got, char *err, size_t errlen);
void ca_store_models_unlock(struct ca_store *store);

/* ---- pre-write keys per model and period [seed 004, effect 3] (store/prewrite_keys.c) ---- */
struct ca_prewrite_key {
    char key_id[65];
    char model_code[CA_MODEL_CODE_MAX + 1];
    time_t valid_from; /* in force from; the current key is the latest not in the future */
    time_t created_at;
    int first;   /* the model's first key (models/<code>/prewrite.enc) */
    int current; /* set by the reads: this is the model's current key at the time they name */
};
/* Records a new key of an existing model, in force from valid_from, audited as model-rotate.
 * CL_ERR_EXISTS if the key id is taken or the model has a key from that very moment;
 * CL_ERR_NOT_FOUND if the model is unknown. */
int ca_store_prewrite_add(struct ca_store *store, const struct ca_prewrite_key *key,
                          const char *actor);
/* The model's current key at time at: the latest valid_from not after it (CL_ERR_NOT_FOUND if
 * none). ca-server's clock decides, as it does for certificate validity. */
int ca_store_prewrite_current(struct ca_store *store, const char *model_code, time_t at,
                              struct ca_prewrite_key *key);
/* Every key of the model, oldest first, current marked as at time at (*keys malloc'd). */
int ca_store_prewrite_list(struct ca_store *store, const char *model_code, time_t at,
                           struct ca_prewrite_key **keys, size_t *count);

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
 * records one intent with a fresh time-ordered serial per number (retrying on a serial collision),
 * and the request. items has room for count entries. err names the offending device number. */
int ca_store_batch_begin(struct ca_store *store, const char *request_id,
                         const unsigned char body_hash[32], int replacement, const char *requester,
                         const char *const *device_numbers, size_t count,
                         struct ca_batch_item *items, enum ca_batch_state *state, char *err,
                         size_t errlen);

/* Factories apart: a device number belongs to the factory (the requester, the comm-terminal
 * certificate's CN) that first asked for it, or that an operator assigned it to. In the batch's
 * transaction a factory's request claims its unowned numbers and is refused (CL_ERR_PERMISSION,
 * naming the first such number in request order, never its owner) if another factory owns one,
 * for new, resent and replacement requests alike; a known request id is answered only to the
 * requester that recorded it (CL_ERR_PERMISSION otherwise). A requester "operator:<login>" (the
 * offline batch) is not checked and claims nothing; operators resume each other's requests. */

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
 * request (a concurrent call with the same id waits until this one ends) and all its intents in
 * the store's one certificate order (store_internal.h, CERTIFICATE_LOCK_ORDER: no deadlock with an
 * assignment or an installation batch of the same numbers), and checks it is known, not
 * completed (CL_ERR_CONFLICT) and of count items. add stores items as issued, in any number
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

/* One report of a batch: what ca_store_install takes, and its outcome. */
struct ca_install_item {
    const char *device_number, *serial_hex, *value;
    int rc;             /* CL_OK, or what ca_store_install would answer for this report alone */
    time_t received_at; /* CL_OK: the installation time to put in the receipt */
    char err[256];      /* rc != CL_OK: why */
};
/* ca_store_install for each item, in one transaction: each item gets its own outcome. A database
 * failure rolls the whole batch back and is returned (CL_ERR_DB, err saying why); CL_OK once
 * the outcomes are committed. */
int ca_store_install_batch(struct ca_store *store, struct ca_install_item *items, size_t count,
                           time_t now, char *err, size_t errlen);

/* ---- device numbers and their factories ---- */
struct ca_owner {
    char device_number[CA_DEVICE_NUMBER_MAX + 1];
    char factory[CA_FACTORY_MAX + 1];
    char source[16]; /* "request" (first asked), "operator" (assigned), "migration" (backfilled) */
    char detail[65]; /* the request id that claimed it, or the operator who assigned it */
    time_t since;
};

/* Assigns the device numbers (format CODE-SERIAL, at most CA_ASSIGN_MAX) to factory, in one
 * audited transaction, whoever owned them. CL_ERR_NOT_FOUND if no comm-terminal service
 * certificate was issued for factory; CL_ERR_INVALID_ARGUMENT naming a malformed number. */
#define CA_ASSIGN_MAX 100000
int ca_store_assign(struct ca_store *store, const char *const *device_numbers, size_t count,
                    const char *factory, const char *actor, char *err, size_t errlen);

/* The factory of a device number; CL_ERR_NOT_FOUND if it has none. */
int ca_store_owner_get(struct ca_store *store, const char *device_number, struct ca_owner *owner);

/* The device numbers of factory (NULL or "" = every factory), by number, at most limit;
 * *rows is malloc'd. */
int ca_store_owner_list(struct ca_store *store, const char *factory, size_t limit,
                        struct ca_owner **rows, size_t *count);

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
    char owner[CA_FACTORY_MAX + 1]; /* the factory the device number belongs to ("" if none) */
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

/* Revokes an intent/issued/installed certificate (CL_ERR_STATE otherwise) with reason
 * unspecified; reason is free text kept for operators. */
int ca_store_revoke(struct ca_store *store, const char *serial_hex, const char *reason,
                    const char *actor);

/* The same with an RFC 5280 reason code (enum cl_crl_reason, cl_crl_reason_valid) for the CRL;
 * comment (NULL or "": the reason's name) is kept as the free-text reason. CL_ERR_NOT_FOUND when
 * no device certificate has this serial (a service certificate may: ca_store_service_revoke). */
int ca_store_revoke_reason(struct ca_store *store, const char *serial_hex, int reason_code,
                           const char *comment, const char *actor);

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

/* Revokes a service certificate (reason code and comment as ca_store_revoke_reason).
 * CL_ERR_NOT_FOUND (no service certificate with this serial), CL_ERR_STATE (already revoked). */
int ca_store_service_revoke(struct ca_store *store, const char *serial_hex, int reason_code,
                            const char *comment, const char *actor);

/* ---- revocation list (store/revocations.c) ---- */
struct ca_revoked {
    char serial_hex[CA_SERIAL_HEX_MAX + 1];
    time_t revoked_at;
    int reason; /* enum cl_crl_reason: superseded (4) for replaced device certificates */
};

/* What one CRL lists, with its number. */
struct ca_crl_snapshot {
    unsigned long long number;  /* cRLNumber: one more than any taken before on this database */
    long long mark;             /* ca_store_revocation_mark at the snapshot */
    struct ca_revoked *entries; /* malloc'd: free with ca_crl_snapshot_clear */
    size_t count;
};

/* In one transaction: takes the next CRL number (one row shared by every ca-server on the
 * database, so numbers grow across restarts and instances) and lists every signed certificate
 * the CA revoked: device certificates superseded or revoked and service certificates revoked
 * (intents never signed are left out). */
int ca_store_crl_snapshot(struct ca_store *store, struct ca_crl_snapshot *out, char *err,
                          size_t errlen);
void ca_crl_snapshot_clear(struct ca_crl_snapshot *snapshot);

/* Raises the CRL number kept in the database to at least number (a CRL with that number is in
 * force already, e.g. from crl_file after the database was restored from an older backup), so
 * that the next CRL published is newer than it and every reader takes it. */
int ca_store_crl_number_at_least(struct ca_store *store, unsigned long long number, char *err,
                                 size_t errlen);

/* The newest CRL an instance signed on this database (ca_store_crl_keep), for the others. */
struct ca_crl_kept {
    unsigned long long number; /* 0: none kept yet */
    long long mark;            /* the revocation mark it covers */
    time_t this_update, next_update;
    unsigned char *der; /* malloc'd (NULL unless newer than asked): free with ca_crl_kept_clear */
    size_t der_len;
};

/* Keeps a CRL just signed as the newest, unless a newer one is kept already (another instance
 * signed a later number meanwhile). */
int ca_store_crl_keep(struct ca_store *store, const struct ca_crl_kept *crl, char *err,
                      size_t errlen);

/* The newest CRL kept: its number, mark and dates; its DER only if its number is above
 * newer_than. */
int ca_store_crl_newest(struct ca_store *store, unsigned long long newer_than,
                        struct ca_crl_kept *out, char *err, size_t errlen);
void ca_crl_kept_clear(struct ca_crl_kept *crl);

/* A mark of the revocations so far (how many certificates the CRL lists; 0: none): a publisher
 * compares it with its last CRL's to learn that something was revoked since. */
int ca_store_revocation_mark(struct ca_store *store, long long *mark, char *err, size_t errlen);

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
