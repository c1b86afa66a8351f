/* store/operators.c: CA operators, the accounts of ca-server's console: password hashes
 * (common/password_hash.h), roles, states, login checks. */
#include "store_internal.h"

#include "password_hash.h"
#include "pg_password.h"
#include "store_console.h"

static int login_ok(const char *login)
{
    return cl_token_ok(login, CA_LOGIN_MAX);
}

static int role_ok(const char *role)
{
    return role != NULL && (strcmp(role, "admin") == 0 || strcmp(role, "operator") == 0 ||
                            strcmp(role, "viewer") == 0);
}

int ca_store_operator_add(struct ca_store *store, const char *login, const char *password,
                          const char *role, const char *actor)
{
    struct cl_password_hash ph;
    char iterations[16], err[384], detail[96];
    const char *values[] = {login, (const char *)ph.salt, iterations, (const char *)ph.hash, role};
    const int lengths[] = {0, CL_PASSWORD_SALT_LEN, 0, CL_PASSWORD_HASH_LEN, 0};
    const int formats[] = {0, 1, 0, 1, 0};
    PGresult *res = NULL;
    int rc;

    if (store == NULL || !login_ok(login) || !role_ok(role) || !cl_password_length_ok(password) ||
        !cl_pg_audit_actor_ok(actor, err, sizeof(err)))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_password_hash_new(password, &ph)) != CL_OK)
        return rc;
    snprintf(iterations, sizeof(iterations), "%u", ph.iterations);
    snprintf(detail, sizeof(detail), "CA operator %s added (%s)", login, role);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) == CL_OK)
        rc = cl_pg_exec(store->db, &res,
                        "INSERT INTO ca_operator (login, salt, iterations, hash, role)"
                        " VALUES ($1, $2, $3::int, $4, $5) ON CONFLICT (login) DO NOTHING"
                        " RETURNING true",
                        5, values, lengths, formats, 0, err, sizeof(err));
    cl_password_hash_clear(&ph);
    if (rc == CL_OK && PQntuples(res) == 0)
        rc = CL_ERR_EXISTS;
    PQclear(res);
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "operator_add", detail, err, sizeof(err));
    if (rc == CL_ERR_EXISTS)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_finish(store->db, rc, err, sizeof(err))) != CL_OK)
        return logged(rc, "adding a CA operator", err);
    return CL_OK;
}

int ca_store_operator_state(struct ca_store *store, const char *login, const char *state,
                            const char *actor)
{
    const char *values[] = {login, state};
    char err[384], detail[96];
    PGresult *res = NULL;
    int rc;

    if (store == NULL || !login_ok(login) || state == NULL ||
        (strcmp(state, "active") != 0 && strcmp(state, "disabled") != 0) ||
        !cl_pg_audit_actor_ok(actor, err, sizeof(err)))
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(detail, sizeof(detail), "CA operator %s %s", login,
             strcmp(state, "active") == 0 ? "enabled" : "disabled");
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) == CL_OK)
        rc = cl_pg_query(store->db, &res,
                         "UPDATE ca_operator SET state = $2, updated_at = now()"
                         " WHERE login = $1 RETURNING true",
                         2, values, err, sizeof(err));
    if (rc == CL_OK && PQntuples(res) == 0)
        rc = CL_ERR_NOT_FOUND;
    PQclear(res);
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "operator_state", detail, err, sizeof(err));
    if (rc == CL_ERR_NOT_FOUND)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_finish(store->db, rc, err, sizeof(err))) != CL_OK)
        return logged(rc, "changing a CA operator", err);
    return CL_OK;
}

int ca_store_operator_stamp(struct ca_store *store, const char *login, char *stamp, size_t cap)
{
    char err[384];
    if (store == NULL || !login_ok(login))
        return CL_ERR_INVALID_ARGUMENT;
    int rc = cl_pg_operator_stamp(store->db, "ca_operator", "login", login, stamp, cap, err,
                                  sizeof(err));
    return rc == CL_OK || rc == CL_ERR_PERMISSION
               ? rc
               : logged(rc, "reading a CA operator's standing", err);
}

int ca_store_operator_login(struct ca_store *store, const char *login, const char *password,
                            char *role, size_t role_len)
{
    const char *values[] = {login};
    char err[384];
    PGresult *res = NULL;
    int rc, disabled;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (login_ok(login) && ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
                            (rc = cl_pg_exec(store->db, &res,
                                             "SELECT salt, iterations, hash, role, state = 'active'"
                                             " FROM ca_operator WHERE login = $1",
                                             1, values, NULL, NULL, 1, err, sizeof(err))) != CL_OK))
        return logged(rc, "checking a CA operator", err);
    int match = cl_pg_password_check(res, password, role, role_len, &disabled);
    PQclear(res);
    return match < 0 ? match : match ? CL_OK : CL_ERR_PERMISSION;
}
