/* pg_password.c: an operator's password checked against the stored row a store read. */
#include "pg_password.h"

#include <stdio.h>

#include "error.h"
#include "input_check.h"
#include "password_hash.h"
#include "pg_db.h"

int cl_pg_operator_stamp(struct cl_pg *db, const char *table, const char *key, const char *id,
                         char *stamp, size_t cap, char *err, size_t errlen)
{
    const char *values[] = {id};
    char sql[256];
    PGresult *res;
    int rc;

    snprintf(sql, sizeof(sql),
             "SELECT role || ' ' || coalesce(floor(extract(epoch FROM updated_at) * 1000000)"
             "::bigint::text, '') FROM %s WHERE %s = $1 AND state = 'active'",
             table, key);
    if ((rc = cl_pg_ready(db, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(db, &res, sql, 1, values, err, errlen)) != CL_OK)
        return rc;
    rc = PQntuples(res) == 1 ? CL_OK : CL_ERR_PERMISSION;
    snprintf(stamp, cap, "%s", rc == CL_OK ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return rc;
}

int cl_pg_password_check(const PGresult *res, const char *password, char *role, size_t role_len,
                         int *disabled)
{
    struct cl_password_hash stored;
    char held_role[16] = "";
    int known = 0, active = 0;

    *disabled = 0;
    if (role != NULL && role_len > 0)
        role[0] = '\0';
    if (res != NULL && PQntuples(res) == 1 &&
        cl_password_hash_read(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
                              PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1),
                              PQgetvalue(res, 0, 2), (size_t)PQgetlength(res, 0, 2), &stored)) {
        known = 1;
        cl_copy_text(held_role, sizeof(held_role), PQgetvalue(res, 0, 3));
        active = PQgetlength(res, 0, 4) == 1 && PQgetvalue(res, 0, 4)[0] == 1;
    }
    int match = cl_password_matches(password, known ? &stored : NULL);
    cl_password_hash_clear(&stored);
    if (match <= 0)
        return match;
    if (!active) {
        *disabled = 1;
        return 0;
    }
    if (role != NULL && role_len > 0)
        cl_copy_text(role, role_len, held_role);
    return 1;
}
