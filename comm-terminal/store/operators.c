/* store/operators.c: operators [FIG 14]: PBKDF2 password hashes, roles, login checks, disabling
 * and removal, and the count. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

#include "password_hash.h"
#include "pg_password.h"

/* ---- operators [FIG 14] ---- */

static int operator_id_ok(const char *operator_id)
{
    return cl_token_ok(operator_id, CT_OPERATOR_ID_MAX);
}

static int role_ok(const char *role)
{
    return role != NULL && (strcmp(role, "admin") == 0 || strcmp(role, "operator") == 0 ||
                            strcmp(role, "viewer") == 0);
}

/* Adds an operator (role; NULL: an admin, as every operator was before roles), or with
 * CT_OPERATOR_FIRST the first one without a login. Never changes an existing operator. */
static int operator_write(struct ct_store *store, const char *operator_id, const char *password,
                          int replace, const char *role, const char *actor)
{
    struct cl_password_hash ph;
    char iterations[16], err[384], buf[48], detail[128];
    const char *values[] = {operator_id, (const char *)ph.salt, iterations, (const char *)ph.hash,
                            role != NULL ? role : "admin"};
    const int lengths[] = {0, CL_PASSWORD_SALT_LEN, 0, CL_PASSWORD_HASH_LEN, 0};
    const int formats[] = {0, 1, 0, 1, 0};
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!operator_id_ok(operator_id)) {
        cl_log_warn("operator id \"%s\" must be 1 to %d printable characters without spaces",
                    cl_shown(operator_id, buf, sizeof(buf)), CT_OPERATOR_ID_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_password_length_ok(password)) {
        cl_log_warn("operator %s: the password must be %d to %d bytes", operator_id,
                    CL_PASSWORD_MIN, CL_PASSWORD_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("operator %s: %s", operator_id, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_password_hash_new(password, &ph)) != CL_OK) {
        cl_log_error("operator %s: the password could not be hashed", operator_id);
        return rc;
    }
    snprintf(iterations, sizeof(iterations), "%u", ph.iterations);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        goto out;
    /* The first operator, added without a login: whether there is none yet and the insert are
     * one step under a lock that two first adds cannot both hold, so only one of them gets in
     * (the other then sees the first's row and is refused). */
    if (replace == CT_OPERATOR_FIRST &&
        (rc = cl_pg_query(store->db, NULL, "LOCK TABLE operator IN SHARE ROW EXCLUSIVE MODE", 0,
                          NULL, err, sizeof(err))) != CL_OK)
        goto out;
    rc = cl_pg_exec(store->db, &res,
                    replace == CT_OPERATOR_FIRST
                        ? "INSERT INTO operator (operator_id, salt, iterations, hash, role)"
                          " SELECT $1, $2, $3::int, $4, $5"
                          " WHERE NOT EXISTS (SELECT 1 FROM operator) RETURNING false"
                        : "INSERT INTO operator (operator_id, salt, iterations, hash, role)"
                          " VALUES ($1, $2, $3::int, $4, $5) ON CONFLICT (operator_id) DO NOTHING"
                          " RETURNING false",
                    5, values, lengths, formats, 0, err, sizeof(err));
    if (rc != CL_OK)
        goto out;
    if (PQntuples(res) == 0 && replace == CT_OPERATOR_FIRST) {
        PQclear(res);
        cl_log_warn("operator %s: not added without a login, an operator exists already",
                    operator_id);
        rc = CL_ERR_PERMISSION;
        goto out;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_log_warn("operator %s already exists", operator_id);
        rc = CL_ERR_EXISTS;
        goto out;
    }
    snprintf(detail, sizeof(detail), "operator %s: added%s", operator_id,
             role != NULL ? (strcmp(role, "admin") == 0      ? " (admin)"
                             : strcmp(role, "operator") == 0 ? " (operator)"
                                                             : " (viewer)")
                          : "");
    PQclear(res);
    if ((rc = cl_pg_audit_in_tx(store->db, actor, "operator_set", detail, err, sizeof(err))) ==
        CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
out:
    cl_password_hash_clear(&ph);
    if (rc == CL_ERR_EXISTS || rc == CL_ERR_PERMISSION)
        return cl_pg_fail(store->db, rc); /* logged above */
    if (rc != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "setting an operator", err);
    return CL_OK;
}

int ct_store_operator_set(struct ct_store *store, const char *operator_id, const char *password,
                          int replace, const char *actor)
{
    if (replace != 0 && replace != CT_OPERATOR_FIRST)
        return CL_ERR_INVALID_ARGUMENT; /* a password is changed with ct_store_operator_password */
    return operator_write(store, operator_id, password, replace, NULL, actor);
}

int ct_store_operator_password(struct ct_store *store, const char *operator_id,
                               const char *password, const char *actor, char *err, size_t errlen)
{
    struct cl_password_hash ph;
    char iterations[16], detail[128], buf[48];
    const char *values[] = {operator_id, (const char *)ph.salt, iterations, (const char *)ph.hash};
    const int lengths[] = {0, CL_PASSWORD_SALT_LEN, 0, CL_PASSWORD_HASH_LEN};
    const int formats[] = {0, 1, 0, 1};
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!operator_id_ok(operator_id)) {
        cl_err_set(err, errlen, "operator id \"%s\" is malformed",
                   cl_shown(operator_id, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_password_length_ok(password)) {
        cl_err_set(err, errlen, "a password is %d to %d bytes", CL_PASSWORD_MIN, CL_PASSWORD_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_password_hash_new(password, &ph)) != CL_OK) {
        cl_err_set(err, errlen, "the password could not be hashed");
        return rc;
    }
    snprintf(iterations, sizeof(iterations), "%u", ph.iterations);
    /* Only an existing operator's row is changed (a removed one's never): no row, no write. */
    if ((rc = cl_pg_begin(store->db, err, errlen)) == CL_OK)
        rc = cl_pg_exec(store->db, &res,
                        "UPDATE operator SET salt = $2, iterations = $3::int, hash = $4,"
                        " updated_at = now() WHERE operator_id = $1 AND state <> 'removed'",
                        4, values, lengths, formats, 0, err, errlen);
    cl_password_hash_clear(&ph);
    if (rc != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "changing a password", err);
    int found = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!found) {
        cl_err_set(err, errlen, "no such operator: %s (or it was removed)", operator_id);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    snprintf(detail, sizeof(detail), "operator %s: password replaced", operator_id);
    if ((rc = cl_pg_audit_in_tx(store->db, actor, "operator_set", detail, err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "changing a password", err);
    cl_log_info("%s", detail);
    return CL_OK;
}

int ct_store_operator_add(struct ct_store *store, const char *operator_id, const char *password,
                          const char *role, const char *actor)
{
    if (!role_ok(role)) {
        cl_log_warn("operator %s: a role is admin, operator or viewer",
                    operator_id != NULL ? operator_id : "-");
        return CL_ERR_INVALID_ARGUMENT;
    }
    return operator_write(store, operator_id, password, 0, role, actor);
}

int ct_store_operator_stamp(struct ct_store *store, const char *operator_id, char *stamp,
                            size_t cap)
{
    char err[384];
    if (store == NULL || !operator_id_ok(operator_id))
        return CL_ERR_INVALID_ARGUMENT;
    int rc = cl_pg_operator_stamp(store->db, "operator", "operator_id", operator_id, stamp, cap,
                                  err, sizeof(err));
    return rc == CL_OK || rc == CL_ERR_PERMISSION
               ? rc
               : cts_logged(rc, "reading an operator's standing", err);
}

int ct_store_operator_check(struct ct_store *store, const char *operator_id, const char *password)
{
    return ct_store_operator_login(store, operator_id, password, NULL, 0);
}

int ct_store_operator_login(struct ct_store *store, const char *operator_id, const char *password,
                            char *role_out, size_t role_len)
{
    const char *values[] = {operator_id};
    char err[384], buf[48];
    PGresult *res = NULL;
    int rc, disabled;

    if (role_out != NULL && role_len > 0)
        role_out[0] = '\0';
    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (operator_id_ok(operator_id) &&
        ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
         (rc = cl_pg_exec(store->db, &res,
                          "SELECT salt, iterations, hash, role, state = 'active' FROM operator"
                          " WHERE operator_id = $1",
                          1, values, NULL, NULL, 1, err, sizeof(err))) != CL_OK))
        return cts_logged(rc, "checking an operator", err);
    int match = cl_pg_password_check(res, password, role_out, role_len, &disabled);
    PQclear(res);
    if (match < 0)
        return match;
    if (match)
        return CL_OK;
    if (disabled)
        cl_log_warn("operator \"%s\": login refused: disabled or removed", operator_id);
    else
        cl_log_warn("operator \"%s\": login refused", cl_shown(operator_id, buf, sizeof(buf)));
    return CL_ERR_PERMISSION;
}

long ct_store_operator_count(struct ct_store *store)
{
    char err[384];
    PGresult *res;
    long n;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT count(*) FROM operator", 0, NULL, err,
                          sizeof(err))) != CL_OK)
        return cts_logged(rc, "counting operators", err);
    n = (long)cl_pg_get_ll(res, 0, 0);
    PQclear(res);
    return n;
}

int ct_store_operator_state(struct ct_store *store, const char *operator_id, const char *state,
                            const char *actor, char *err, size_t errlen)
{
    const char *values[] = {operator_id, state};
    char detail[128], buf[48];
    PGresult *res;
    int rc;

    if (store == NULL || state == NULL ||
        (strcmp(state, "active") != 0 && strcmp(state, "disabled") != 0 &&
         strcmp(state, "removed") != 0)) {
        cl_err_set(err, errlen, "an operator is active, disabled or removed");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!operator_id_ok(operator_id)) {
        cl_err_set(err, errlen, "operator id \"%s\" is malformed",
                   cl_shown(operator_id, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    /* Every admin row locked: two admins disabling each other at once are served in turn. */
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "SELECT 1 FROM operator WHERE role = 'admin' OR operator_id = $1"
                          " FOR UPDATE",
                          1, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT state, role = 'admin' AND state = 'active',"
                          " (SELECT count(*) FROM operator WHERE role = 'admin'"
                          "  AND state = 'active') FROM operator WHERE operator_id = $1",
                          1, values, err, errlen)) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "changing an operator", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_err_set(err, errlen, "no operator %s", operator_id);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    int removed = strcmp(PQgetvalue(res, 0, 0), "removed") == 0,
        unchanged = strcmp(PQgetvalue(res, 0, 0), state) == 0,
        last_admin = cl_pg_get_bool(res, 0, 1) && cl_pg_get_ll(res, 0, 2) <= 1;
    PQclear(res);
    if (unchanged)
        return cl_pg_commit(store->db, err, errlen);
    if (removed) {
        cl_err_set(err, errlen, "operator %s was removed", operator_id);
        return cl_pg_fail(store->db, CL_ERR_STATE);
    }
    if (last_admin && strcmp(state, "active") != 0) {
        cl_err_set(err, errlen, "operator %s is the last active admin", operator_id);
        return cl_pg_fail(store->db, CL_ERR_STATE);
    }
    snprintf(detail, sizeof(detail), "operator %s: %s", operator_id,
             strcmp(state, "active") == 0 ? "enabled" : state);
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE operator SET state = $2, updated_at = now()"
                          " WHERE operator_id = $1",
                          2, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_audit_in_tx(store->db, actor, "operator_state", detail, err, errlen)) !=
            CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "changing an operator", err);
    cl_log_info("%s", detail);
    return CL_OK;
}
