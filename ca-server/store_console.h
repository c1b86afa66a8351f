/* store_console.h: what ca-server's console asks of the store (store/operators.c: CA operator
 * accounts; store/console.c and store/issuance.c: the console's views). Same rules as store.h. */
#ifndef CERTLINE_CA_STORE_CONSOLE_H
#define CERTLINE_CA_STORE_CONSOLE_H

#include <stddef.h>
#include <time.h>

#include "store.h"

/* ---- CA operators: accounts for the console (store/operators.c) ---- */
#define CA_LOGIN_MAX 32 /* 1..32 printable characters, no spaces */

/* Adds a CA operator with a role (viewer, operator, admin) and a password (hashed as
 * common/password_hash.h), audited under actor. CL_ERR_EXISTS if the login is taken,
 * CL_ERR_INVALID_ARGUMENT for a malformed login, role or password length. */
int ca_store_operator_add(struct ca_store *store, const char *login, const char *password,
                          const char *role, const char *actor);
/* Sets a CA operator's state: "active" or "disabled", audited. CL_ERR_NOT_FOUND if unknown. */
int ca_store_operator_state(struct ca_store *store, const char *login, const char *state,
                            const char *actor);
/* An active CA operator's standing for the console's sessions: CL_OK with stamp (its role and
 * when it last changed), CL_ERR_PERMISSION if no active operator has the login, or the store's
 * failure. */
int ca_store_operator_stamp(struct ca_store *store, const char *login, char *stamp, size_t cap);
/* Checks a login: CL_OK with its role; CL_ERR_PERMISSION for an unknown login, a wrong password
 * or a disabled operator (one hash is computed in every case). */
int ca_store_operator_login(struct ca_store *store, const char *login, const char *password,
                            char *role, size_t role_len);

/* ---- the console's views (store/console.c; issuance: store/issuance.c) ---- */
/* Certificates signed per factory (the device number's owner, "" none) and day (local date of
 * issued_at, "YYYY-MM-DD"), for the days from since (a date) on, newest first. Read from the
 * counts the database keeps per day and factory (migration 11), or, when this session's time
 * zone is not the one they are kept in (logged), counted from every certificate. */
struct ca_issuance_row {
    char day[11];
    char factory[CA_FACTORY_MAX + 1];
    long long issued, installed, revoked; /* signed that day; of them now installed, revoked */
};
int ca_store_issuance(struct ca_store *store, const char *since, size_t limit,
                      struct ca_issuance_row **rows, size_t *count);
/* Replaces the rows of the issuance counts (one appended per statement that changed them) by one
 * per day and factory; `serve` does it every minute (pack_purge.c) and ca_store_issuance once it
 * has read many. *folded (if not NULL) gets how many rows were replaced, 0 if another fold was
 * under way. */
int ca_store_issuance_fold(struct ca_store *store, long *folded);

/* Certificate search: every filter NULL or "" = any; number and serial match a prefix
 * (case-insensitive), day is the local date of created_at. Newest first, at most limit. */
struct ca_cert_filter {
    const char *number, *serial, *state, *factory, *day;
};
int ca_store_cert_search(struct ca_store *store, const struct ca_cert_filter *filter, size_t limit,
                         struct ca_cert_row **rows, size_t *count);

/* One certificate for its detail page: the row, its revocation reason code (-1 none), the
 * certificate it was superseded by, whether its pack is still held, the request that asked for
 * it and its requester. CL_ERR_NOT_FOUND if no device certificate has this serial. */
struct ca_cert_detail {
    struct ca_cert_row row;
    int reason_code;
    char superseded_by[CA_SERIAL_HEX_MAX + 1];
    int pack_held;
    time_t pack_purged_at;
    char requester[65];
    time_t requested_at;
};
int ca_store_cert_detail(struct ca_store *store, const char *serial_hex,
                         struct ca_cert_detail *out);

/* The audit log filtered: actor and action exact ("" any), text a substring of the detail, day
 * a local date ("" any); newest first, at most limit. */
struct ca_audit_filter {
    const char *actor, *action, *text, *day;
};
int ca_store_audit_search(struct ca_store *store, const struct ca_audit_filter *filter,
                          size_t limit, struct ca_audit_row **rows, size_t *count);

#endif
