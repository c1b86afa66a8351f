/* pg_password.h: an operator's login checked against the row a store read (both stores keep
 * operators the same way: salt, iterations, hash, role, whether active). */
#ifndef CERTLINE_PG_PASSWORD_H
#define CERTLINE_PG_PASSWORD_H

#include <stddef.h>

#include <libpq-fe.h>

/* res: NULL (no row read: a malformed id), or the binary result of a query returning at most
 * one row of salt (bytea), iterations (int4), hash (bytea), role (text), active (bool).
 * Computes one hash in every case. 1: the password matches an active operator (role copied);
 * 0: refused (*disabled set when only because the operator is not active); a negative cl_err
 * code if no hash could be computed. */
int cl_pg_password_check(const PGresult *res, const char *password, char *role, size_t role_len,
                         int *disabled);

/* An active operator's standing for the consoles' sessions: its role and when its row last
 * changed (a new password, a state change), from table's row whose column key is id.
 * CL_OK with stamp, CL_ERR_PERMISSION if no active operator has the id, or the failure (err
 * says why). table and key are the store's own names, never outside input. */
struct cl_pg;
int cl_pg_operator_stamp(struct cl_pg *db, const char *table, const char *key, const char *id,
                         char *stamp, size_t cap, char *err, size_t errlen);

#endif
