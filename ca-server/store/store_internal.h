/* store/store_internal.h: what the store's files share: struct ca_store, bounds, lock keys. */
/*
 * The store keeps ca-server's state in PostgreSQL (see store.h): the schema and its migrations,
 * device models, FIG 21 batches (intent before signing, packs after), the factory each device
 * number belongs to, installation proofs, revocation, service certificates and the audit log, one
 * file per aggregate. The store's files are
 * the only files of ca-server that include libpq-fe.h.
 *
 * A store is one connection (common/pg_db.h), used by one thread at a time: ca-server opens one
 * per worker thread. Every value goes to the server as a parameter (PQexecParams); the only SQL
 * text is constant. Every multi-step operation is one transaction (ROLLBACK on any error) and a
 * function returns success only after its COMMIT. The database enforces the invariants itself
 * (checks, foreign keys, and a partial unique index: at most one intent/issued/installed
 * certificate per device number), so two connections racing for one device number cannot both win:
 * the loser gets a unique violation (SQLSTATE 23505), which becomes CL_ERR_CONFLICT. Calls with one
 * request id are serialised by a transaction-level advisory lock on that id. */
#ifndef CERTLINE_CA_STORE_INTERNAL_H
#define CERTLINE_CA_STORE_INTERNAL_H

#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "crl_reason.h"
#include "error.h"
#include "input_check.h"
#include "log.h"
#include "pg_array.h"
#include "pg_audit.h"
#include "pg_db.h"
#include "x509_issue.h"

/* Bounds of the inputs that store.h leaves open. */
#define REQUEST_ID_MAX 64   /* struct ca_cert_row.request_id */
#define REASON_MAX 256      /* struct ca_cert_row.reason */
#define KEY_ID_MAX 64       /* struct ca_model.key_id */
#define ROLE_MAX 32         /* service certificate role */
#define SERVICE_NAME_MAX 64 /* service certificate name (CL_PEER_NAME_MAX) */
#define NUMBER_MAX 32       /* service certificate number (CL_PEER_NUMBER_MAX) */
#define CERT_DER_MAX 65536  /* one device certificate, DER */
#define PACK_MAX 65536      /* one certificate pack (twice CL_PACK_MAX_BYTES) */
#define SERIAL_TRIES 8      /* fresh serials tried when one collides */

/* The audit log's bounds (common/pg_audit.h). */
#define ACTOR_MAX CL_PG_AUDIT_ACTOR_MAX   /* struct ca_audit_row.actor; requester too */
#define ACTION_MAX CL_PG_AUDIT_ACTION_MAX /* struct ca_audit_row.action */
#define DETAIL_MAX CL_PG_AUDIT_DETAIL_MAX /* struct ca_audit_row.detail */

/* Advisory lock keys (first of the two int4 keys): migrations, and one request id. */
#define LOCK_MIGRATE 0x43530001
#define LOCK_REQUEST 0x43530002
#define LOCK_ISSUANCE_FOLD 0x43530003 /* one fold of the issuance counts at a time */
#define LOCK_MODELS 0x43530004        /* one model-add or model-rotate at a time (models.c) */

#define CERT_COLUMNS                                                                               \
    "serial, device_number, model_code, state, request_id,"                                        \
    " floor(extract(epoch FROM created_at))::bigint,"                                              \
    " floor(extract(epoch FROM issued_at))::bigint,"                                               \
    " floor(extract(epoch FROM installed_at))::bigint,"                                            \
    " floor(extract(epoch FROM ended_at))::bigint, reason,"                                        \
    " (SELECT o.factory FROM device_owner o WHERE o.device_number = certificate.device_number)"
/* Reads a row of CERT_COLUMNS into a struct ca_cert_row (store/certificates.c). */
void ca_cert_from_row(const PGresult *res, int row, void *cert);
/* The state named name; CA_CERT_UNKNOWN for no state. */
enum ca_cert_state ca_cert_state_from_name(const char *name);

#define VALID_STATES "('intent', 'issued', 'installed')"

/* The order every transaction that locks several certificate rows locks them in (FOR UPDATE,
 * FOR NO KEY UPDATE, FOR SHARE), so that two never wait for each other in a circle (PostgreSQL
 * would abort one, 40P01): by device number, then serial, in byte order. Owner rows
 * (device_owner), where a transaction locks them too, come first, in number order. Each writer
 * locks all its certificates in one statement (ORDER BY this, FOR ...) before it writes any of
 * them, never in the order a plan happens to visit them; what it writes later is held already:
 *  - a new FIG 21 batch (batches.c, begin_new): the owner rows it claims, then every certificate
 *    of its numbers FOR UPDATE, in the claiming statement (owners.c, ca_owners_claim), before the
 *    claim's trigger locks a new owner's certificates FOR SHARE to move the counts;
 *  - a signing batch (completion.c, ca_store_complete_begin): every intent of the request FOR NO
 *    KEY UPDATE, before the first pack is signed; the parts stored later (complete_add, in any
 *    order and chunks) and the commit lock nothing more;
 *  - an assignment (owners.c, ca_store_assign): the owner rows, then the numbers' certificates
 *    FOR SHARE, in one statement, before its triggers move the counts;
 *  - an installation batch (installations.c, lock_reported): the reported certificates FOR
 *    UPDATE;
 *  - a retirement (retention.c, lock_serials): the named certificates FOR UPDATE;
 *  - the pack purge (retention.c, ca_store_purge_packs): the rows it purges FOR NO KEY UPDATE,
 *    in an InitPlan read whole before the UPDATE touches a row.
 * The others lock one certificate row per transaction (ca_store_install, ca_store_revoke_reason)
 * or none (service certificates, models), so they close no circle; a known request's claim
 * (ca_owners_claim without valid) locks only the certificates of owner rows it adds,
 * FOR SHARE, number by number. tests/ca-server/store/test_lock_order.c races each of the six
 * against an assignment or an installation batch of the same numbers. */
#define CERTIFICATE_LOCK_ORDER "device_number COLLATE \"C\", serial COLLATE \"C\""

/* The connection first: cl_pg_store_open and cl_pg_store_close hold it there. */
struct ca_store {
    struct cl_pg *db;
    int (*serial_source)(char serial_hex[CA_SERIAL_HEX_MAX + 1]);
};

/* ---- errors and checks of outside values ---- */

/* Small helpers several parts use: static inline, so the library exports no name beyond store.h. */

/* CODE-SERIAL: [0-9A-Z]{1,8}-[0-9]{1,12}; *code_len gets the length of CODE. */
static inline int device_number_ok(const char *s, size_t *code_len)
{
    size_t n = 0, d = 0;
    if (s == NULL)
        return 0;
    while (n <= CA_MODEL_CODE_MAX && cl_is_upper_alnum(s[n]))
        n++;
    if (n == 0 || n > CA_MODEL_CODE_MAX || s[n] != '-')
        return 0;
    while (d <= 12 && s[n + 1 + d] >= '0' && s[n + 1 + d] <= '9')
        d++;
    if (d == 0 || d > 12 || s[n + 1 + d] != '\0')
        return 0;
    if (code_len != NULL)
        *code_len = n;
    return 1;
}

/* Every number well formed; else err names the first malformed one. */
static inline int device_numbers_ok(const char *const *numbers, size_t count, char *err,
                                    size_t errlen)
{
    char buf[48];
    for (size_t i = 0; i < count; i++) {
        if (!device_number_ok(numbers[i], NULL)) {
            cl_err_set(err, errlen,
                       "device number \"%s\" is malformed (MODEL-SERIAL: 1 to 8 of 0-9 A-Z, '-', "
                       "1 to 12 digits)",
                       cl_shown(numbers[i], buf, sizeof(buf)));
            return 0;
        }
    }
    return 1;
}

/* 1 if text is "" or a date "YYYY-MM-DD" (the console's day filters). */
static inline int console_day_ok(const char *text)
{
    static const char shape[] = "dddd-dd-dd";
    if (text[0] == '\0')
        return 1;
    if (strlen(text) != 10)
        return 0;
    for (int i = 0; i < 10; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)text[i]) : text[i] != '-')
            return 0;
    return 1;
}

/* For the functions that have no err: a database failure is logged here, once. */
static inline int logged(int rc, const char *what, const char *err)
{
    if (rc == CL_ERR_DB)
        cl_log_warn("%s: %s", what, err);
    return rc;
}

static inline int request_id_ok(const char *request_id, char *err, size_t errlen)
{
    char buf[48];
    if (cl_token_ok(request_id, REQUEST_ID_MAX))
        return 1;
    cl_err_set(err, errlen, "request id \"%s\" must be 1 to %d printable characters",
               cl_shown(request_id, buf, sizeof(buf)), REQUEST_ID_MAX);
    return 0;
}

/* ---- factories (owners.c), inside a batch's transaction ---- */

/* An operator's request (the offline batch: "operator:<login>"), not a factory's. */
static inline int requester_is_operator(const char *requester)
{
    return strncmp(requester, "operator:", 9) == 0;
}

/* A known request id answers only the requester that recorded it (operators are one party):
 * CL_OK, or CL_ERR_PERMISSION. */
int ca_owners_request_bound(const char *recorded, const char *requester, const char *request_id,
                            char *err, size_t errlen);

/* The request's numbers (request order) become requester's where unowned; CL_ERR_PERMISSION
 * naming the first one (request order) another factory owns. Nothing for an operator. With valid
 * (a new request, an operator's too), every certificate of the numbers is locked FOR UPDATE in
 * CERTIFICATE_LOCK_ORDER right after the owner rows, in the same statement, and *valid gets the
 * valid ones (device_number, serial, state; PQclear it). */
int ca_owners_claim(struct ca_store *store, const char *requester, const char *request_id,
                    const char *const *device_numbers, size_t count, PGresult **valid, char *err,
                    size_t errlen);

/* The checks of a revocation's inputs (device or service certificate), each failure logged
 * with what: serial, reason code, comment (NULL or "": the reason's name, set in *comment) and
 * actor. */
static inline int revocation_ok(const char *what, const char *serial_hex, int reason_code,
                                const char **comment, const char *actor)
{
    char buf[48], err[160];
    if (!cl_serial_ok(serial_hex)) {
        cl_log_warn("%s: serial \"%s\" is malformed", what, cl_shown(serial_hex, buf, sizeof(buf)));
        return 0;
    }
    if (!cl_crl_reason_valid(reason_code)) {
        cl_log_warn("%s of %s: reason code %d is not an RFC 5280 reason", what, serial_hex,
                    reason_code);
        return 0;
    }
    if (*comment == NULL || (*comment)[0] == '\0')
        *comment = cl_crl_reason_name(reason_code);
    if (!cl_text_ok(*comment, 1, REASON_MAX)) {
        cl_log_warn("%s of %s: the reason must be at most %d bytes of printable UTF-8", what,
                    serial_hex, REASON_MAX);
        return 0;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("%s of %s: %s", what, serial_hex, err);
        return 0;
    }
    return 1;
}

#endif
