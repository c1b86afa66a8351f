/* store/service.c: service certificates issued by the CA, recorded for the audit, and their
 * revocation. */
#include "store_internal.h"

/* ---- service certificates ---- */

int ca_store_service_issued(struct ca_store *store, const char *serial_hex, const char *role,
                            const char *name, const char *number, const char *actor)
{
    const char *values[] = {serial_hex, role, name, number != NULL ? number : "", actor};
    char err[384], buf[48], detail[DETAIL_MAX + 1];
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_serial_ok(serial_hex) || !cl_token_ok(role, ROLE_MAX) ||
        !cl_text_ok(name, 1, SERVICE_NAME_MAX) || !cl_text_ok(values[3], 0, NUMBER_MAX)) {
        cl_log_warn("service certificate %s: serial, role (at most %d), name (1 to %d) or "
                    "number (at most %d) malformed",
                    cl_shown(serial_hex, buf, sizeof(buf)), ROLE_MAX, SERVICE_NAME_MAX, NUMBER_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_pg_audit_actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("service certificate %s: %s", serial_hex, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(detail, sizeof(detail), "%s certificate for %s%s%s (serial %s)", role, name,
             values[3][0] != '\0' ? ", number " : "", values[3], serial_hex);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        return logged(rc, "recording a service certificate", err);
    rc = cl_pg_query(store->db, &res,
                     "INSERT INTO service_certificate (serial, role, name, number, actor)"
                     " SELECT $1, $2, $3, $4, $5"
                     " WHERE NOT EXISTS (SELECT 1 FROM certificate WHERE serial = $1)",
                     5, values, err, sizeof(err));
    if (rc == CL_OK) {
        size_t n = cl_pg_affected(res);
        PQclear(res);
        if (n == 0) {
            cl_log_warn("serial %s is already a device certificate's", serial_hex);
            return cl_pg_fail(store->db, CL_ERR_EXISTS);
        }
    } else if (cl_pg_unique_violation(store->db)) {
        cl_log_warn("service certificate %s is already recorded", serial_hex);
        return cl_pg_fail(store->db, CL_ERR_EXISTS);
    }
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "service-issue", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "recording a service certificate", err);
    return CL_OK;
}

int ca_store_service_revoke(struct ca_store *store, const char *serial_hex, int reason_code,
                            const char *comment, const char *actor)
{
    char code_text[8];
    const char *values[] = {serial_hex, code_text, comment};
    char err[384], detail[DETAIL_MAX + 1];
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!revocation_ok("service certificate revocation", serial_hex, reason_code, &comment, actor))
        return CL_ERR_INVALID_ARGUMENT;
    values[2] = comment;
    snprintf(code_text, sizeof(code_text), "%d", reason_code);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT role, name, revoked_at IS NOT NULL FROM service_certificate"
                          " WHERE serial = $1 FOR UPDATE",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "revoking a service certificate", err);
    if (PQntuples(res) != 1 || cl_pg_get_bool(res, 0, 2)) {
        rc = PQntuples(res) != 1 ? CL_ERR_NOT_FOUND : CL_ERR_STATE;
        if (rc == CL_ERR_STATE)
            cl_log_warn("service certificate %s is already revoked", serial_hex);
        PQclear(res);
        return cl_pg_fail(store->db, rc);
    }
    snprintf(detail, sizeof(detail), "%s certificate %s of %s: %s: %s", PQgetvalue(res, 0, 0),
             serial_hex, PQgetvalue(res, 0, 1), cl_crl_reason_name(reason_code), comment);
    PQclear(res);
    rc =
        cl_pg_query(store->db, NULL,
                    "UPDATE service_certificate SET revoked_at = now(), reason_code = $2::smallint,"
                    " revocation_comment = $3 WHERE serial = $1",
                    3, values, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_audit_in_tx(store->db, actor, "revoke", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "revoking a service certificate", err);
    return CL_OK;
}
