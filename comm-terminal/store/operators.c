/* store/operators.c: operators [FIG 14]: PBKDF2 password hashes, login checks and the count. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "keyfile.h"
#include "x509_issue.h"

/* ---- operators [FIG 14] ---- */

/* Compares n bytes in time that does not depend on where they differ. */
static int equal_const_time(const unsigned char *a, const unsigned char *b, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int operator_id_ok(const char *operator_id)
{
    return cl_token_ok(operator_id, CT_OPERATOR_ID_MAX);
}

int ct_store_operator_set(struct ct_store *store, const char *operator_id, const char *password,
                          int replace, const char *actor)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char iterations[16], err[384], buf[48], detail[128];
    const char *values[] = {operator_id, (const char *)salt, iterations, (const char *)hash};
    const int lengths[] = {0, SALT_LEN, 0, HASH_LEN};
    const int formats[] = {0, 1, 0, 1};
    PGresult *res;
    size_t plen;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!operator_id_ok(operator_id)) {
        cl_log_warn("operator id \"%s\" must be 1 to %d printable characters without spaces",
                    cl_shown(operator_id, buf, sizeof(buf)), CT_OPERATOR_ID_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    plen = password != NULL ? strnlen(password, PASSWORD_MAX + 1) : 0;
    if (plen < PASSWORD_MIN || plen > PASSWORD_MAX) {
        cl_log_warn("operator %s: the password must be %d to %d bytes", operator_id, PASSWORD_MIN,
                    PASSWORD_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("operator %s: %s", operator_id, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_random_bytes(salt, sizeof(salt))) != CL_OK ||
        (rc = cl_pbkdf2_sha256(password, plen, salt, SALT_LEN, PBKDF2_ITERATIONS, hash,
                               HASH_LEN)) != CL_OK) {
        cl_log_error("operator %s: the password could not be hashed", operator_id);
        return rc;
    }
    snprintf(iterations, sizeof(iterations), "%d", PBKDF2_ITERATIONS);
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
                        ? "INSERT INTO operator (operator_id, salt, iterations, hash)"
                          " SELECT $1, $2, $3::int, $4"
                          " WHERE NOT EXISTS (SELECT 1 FROM operator) RETURNING false"
                    : replace ? "INSERT INTO operator (operator_id, salt, iterations, hash)"
                                " VALUES ($1, $2, $3::int, $4) ON CONFLICT (operator_id) DO UPDATE"
                                " SET salt = excluded.salt, iterations = excluded.iterations,"
                                " hash = excluded.hash, updated_at = now()"
                                " RETURNING (xmax <> 0)"
                              : "INSERT INTO operator (operator_id, salt, iterations, hash)"
                                " VALUES ($1, $2, $3::int, $4) ON CONFLICT (operator_id) DO NOTHING"
                                " RETURNING false",
                    4, values, lengths, formats, 0, err, sizeof(err));
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
    snprintf(detail, sizeof(detail), "operator %s: %s", operator_id,
             cl_pg_get_bool(res, 0, 0) ? "password replaced" : "added");
    PQclear(res);
    if ((rc = cl_pg_audit_in_tx(store->db, actor, "operator_set", detail, err, sizeof(err))) ==
        CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
out:
    mbedtls_platform_zeroize(hash, sizeof(hash));
    if (rc == CL_ERR_EXISTS || rc == CL_ERR_PERMISSION)
        return cl_pg_fail(store->db, rc); /* logged above */
    if (rc != CL_OK)
        return cts_logged(cl_pg_fail(store->db, rc), "setting an operator", err);
    return CL_OK;
}

int ct_store_operator_check(struct ct_store *store, const char *operator_id, const char *password)
{
    /* An unknown or malformed id costs one hash too, with a salt no stored hash matches. */
    static const unsigned char dummy_salt[SALT_LEN] = "certline-nobody";
    unsigned char salt[SALT_LEN], expected[HASH_LEN], hash[HASH_LEN];
    const char *values[] = {operator_id};
    char err[384], buf[48];
    unsigned iterations = PBKDF2_ITERATIONS;
    size_t plen = password != NULL ? strnlen(password, PASSWORD_MAX + 1) : 0;
    int known = 0, rc;
    PGresult *res;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memcpy(salt, dummy_salt, SALT_LEN);
    mbedtls_platform_zeroize(expected, sizeof(expected));
    if (operator_id_ok(operator_id)) {
        if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
            (rc = cl_pg_exec(store->db, &res,
                             "SELECT salt, iterations, hash FROM operator WHERE operator_id = $1",
                             1, values, NULL, NULL, 1, err, sizeof(err))) != CL_OK)
            return cts_logged(rc, "checking an operator", err);
        if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == SALT_LEN &&
            PQgetlength(res, 0, 1) == 4 && PQgetlength(res, 0, 2) == HASH_LEN) {
            const unsigned char *n = (const unsigned char *)PQgetvalue(res, 0, 1);
            unsigned stored =
                (unsigned)n[0] << 24 | (unsigned)n[1] << 16 | (unsigned)n[2] << 8 | (unsigned)n[3];
            if (stored >= PBKDF2_ITERATIONS && stored <= PBKDF2_ITERATIONS_MAX) {
                memcpy(salt, PQgetvalue(res, 0, 0), SALT_LEN);
                memcpy(expected, PQgetvalue(res, 0, 2), HASH_LEN);
                iterations = stored;
                known = 1;
            }
        }
        PQclear(res);
    }
    if (plen > PASSWORD_MAX)
        plen = PASSWORD_MAX; /* hashed all the same, refused below */
    rc = cl_pbkdf2_sha256(password != NULL ? password : "", plen, salt, SALT_LEN, iterations, hash,
                          HASH_LEN);
    if (rc != CL_OK)
        return rc;
    int match = equal_const_time(hash, expected, HASH_LEN);
    mbedtls_platform_zeroize(hash, sizeof(hash));
    mbedtls_platform_zeroize(expected, sizeof(expected));
    if (known && match && plen >= 1 && password != NULL && strlen(password) <= PASSWORD_MAX)
        return CL_OK;
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
