/* pg_password.c: an operator's password checked against the stored row a store read. */
#include "pg_password.h"

#include "input_check.h"
#include "password_hash.h"

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
