/* store/certificates.c: device certificates: states, lookups, listing and revocation. */
#include "store_internal.h"
#include <stdbool.h>
#include <string.h>

/* ---- certificates ---- */

const char *ca_cert_state_name(enum ca_cert_state state)
{
    switch (state) {
    case CA_CERT_INTENT:
        return "intent";
    case CA_CERT_ISSUED:
        return "issued";
    case CA_CERT_INSTALLED:
        return "installed";
    case CA_CERT_SUPERSEDED:
        return "superseded";
    case CA_CERT_REVOKED:
        return "revoked";
    case CA_CERT_UNKNOWN:
        break;
    }
    return "unknown";
}

enum ca_cert_state ca_cert_state_from_name(const char *name)
{
    for (int s = CA_CERT_INTENT; s < CA_CERT_UNKNOWN; s++)
        if (strcmp(name, ca_cert_state_name((enum ca_cert_state)s)) == 0)
            return (enum ca_cert_state)s;
    return CA_CERT_UNKNOWN;
}

void ca_cert_from_row(const PGresult *res, int row, void *cert)
{
    struct ca_cert_row *out = cert;
    memset(out, 0, sizeof(*out));
    cl_copy_text(out->serial_hex, sizeof(out->serial_hex), cl_pg_get_text(res, row, 0));
    cl_copy_text(out->device_number, sizeof(out->device_number), cl_pg_get_text(res, row, 1));
    cl_copy_text(out->model_code, sizeof(out->model_code), cl_pg_get_text(res, row, 2));
    out->state = ca_cert_state_from_name(cl_pg_get_text(res, row, 3));
    cl_copy_text(out->request_id, sizeof(out->request_id), cl_pg_get_text(res, row, 4));
    out->created_at = (time_t)cl_pg_get_ll(res, row, 5);
    out->issued_at = (time_t)cl_pg_get_ll(res, row, 6);
    out->installed_at = (time_t)cl_pg_get_ll(res, row, 7);
    out->ended_at = (time_t)cl_pg_get_ll(res, row, 8);
    cl_copy_text(out->reason, sizeof(out->reason), cl_pg_get_text(res, row, 9));
    cl_copy_text(out->owner, sizeof(out->owner), cl_pg_get_text(res, row, 10));
}

/* A malformed number or serial matches nothing: CL_OK with CA_CERT_UNKNOWN (a device's
 * certificate may carry anything; that is an answer, not a failure). */
int ca_store_cert_state(struct ca_store *store, const char *device_number, const char *serial_hex,
                        struct ca_cert_row *row)
{
    const char *values[] = {serial_hex, device_number};
    char err[384];
    PGresult *res;
    int rc;

    if (store == NULL || row == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(row, 0, sizeof(*row));
    row->state = CA_CERT_UNKNOWN;
    if (!device_number_ok(device_number, NULL) || !cl_serial_ok(serial_hex))
        return CL_OK;
    cl_copy_text(row->device_number, sizeof(row->device_number), device_number);
    cl_copy_text(row->serial_hex, sizeof(row->serial_hex), serial_hex);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " CERT_COLUMNS
                          " FROM certificate WHERE serial = $1 AND device_number = $2",
                          2, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading a certificate's state", err);
    if (PQntuples(res) == 1)
        ca_cert_from_row(res, 0, row);
    PQclear(res);
    return CL_OK;
}

int ca_store_cert_list(struct ca_store *store, const char *device_number, const char *model_code,
                       const char *state, size_t limit, struct ca_cert_row **rows, size_t *count)
{
    char limit_text[24], buf[48];
    const char *values[] = {device_number != NULL ? device_number : "",
                            model_code != NULL ? model_code : "", state != NULL ? state : "",
                            limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count))
        return CL_ERR_INVALID_ARGUMENT;
    if (values[0][0] != '\0' && !device_number_ok(values[0], NULL)) {
        cl_log_warn("certificate list: device number \"%s\" is malformed",
                    cl_shown(values[0], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_model_filter_ok("certificate list", values[1]))
        return CL_ERR_INVALID_ARGUMENT;
    if (values[2][0] != '\0' && ca_cert_state_from_name(values[2]) == CA_CERT_UNKNOWN) {
        cl_log_warn("certificate list: \"%s\" is not a state (intent, issued, installed, "
                    "superseded, revoked)",
                    cl_shown(values[2], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    cl_pg_limit_text(limit_text, limit, 1000000);
    /* One model, in any state but the rare ones (their partial (state, seq) index is better):
     * read from certificate_model_seq (model_code, seq) backwards, so the walk meets only the
     * model's rows however many newer ones other models have (at 10M with the newest 28,400 of
     * other models, the seq walk took 875 ms). The model is bounded by a range, not an
     * equality: with model_code = constant PostgreSQL drops model_code from the ORDER BY and
     * walks the seq index instead, by its estimate that a quarter of the newest rows match. */
    bool model_order = values[1][0] != '\0' && values[0][0] == '\0' &&
                       (values[2][0] == '\0' || strcmp(values[2], "installed") == 0);
    *rows = cl_pg_list(
        store->db,
        model_order ? "SELECT " CERT_COLUMNS " FROM certificate"
                      " WHERE model_code >= $2 AND model_code <= $2"
                      " AND ($1 = '' OR device_number = $1)"
                      " AND ($3 = '' OR state = $3)"
                      " ORDER BY model_code DESC, seq DESC LIMIT $4::bigint"
                    : "SELECT " CERT_COLUMNS " FROM certificate"
                      " WHERE ($1 = '' OR device_number = $1)"
                      " AND ($2 = '' OR model_code = $2)"
                      " AND ($3 = '' OR state = $3) ORDER BY seq DESC LIMIT $4::bigint",
        4, values, sizeof(**rows), ca_cert_from_row, count, &rc, logged, "listing certificates");
    return rc;
}

/* CL_ERR_NOT_FOUND for an unknown serial and for an intent (not signed yet). */
int ca_store_cert_der(struct ca_store *store, const char *serial_hex, unsigned char **der,
                      size_t *len)
{
    const char *values[] = {serial_hex};
    char err[384];
    PGresult *res;
    int rc;

    if (der != NULL)
        *der = NULL;
    if (len != NULL)
        *len = 0;
    if (store == NULL || der == NULL || len == NULL || !cl_serial_ok(serial_hex))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_exec(store->db, &res, "SELECT cert_der FROM certificate WHERE serial = $1", 1,
                         values, NULL, NULL, 1, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading a certificate", err);
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return CL_ERR_NOT_FOUND;
    }
    *len = (size_t)PQgetlength(res, 0, 0);
    *der = malloc(*len > 0 ? *len : 1);
    if (*der == NULL) {
        *len = 0;
        PQclear(res);
        return CL_ERR_NOMEM;
    }
    memcpy(*der, PQgetvalue(res, 0, 0), *len);
    PQclear(res);
    return CL_OK;
}

int ca_store_revoke(struct ca_store *store, const char *serial_hex, const char *reason,
                    const char *actor)
{
    return ca_store_revoke_reason(store, serial_hex, CL_CRL_REASON_UNSPECIFIED, reason, actor);
}

int ca_store_revoke_reason(struct ca_store *store, const char *serial_hex, int reason_code,
                           const char *comment, const char *actor)
{
    char code_text[8];
    const char *values[] = {serial_hex, comment, code_text};
    char err[384], buf[48], detail[DETAIL_MAX + 1];
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!revocation_ok("revocation", serial_hex, reason_code, &comment, actor))
        return CL_ERR_INVALID_ARGUMENT;
    values[1] = comment;
    snprintf(code_text, sizeof(code_text), "%d", reason_code);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc =
             cl_pg_query(store->db, &res,
                         "UPDATE certificate SET state = 'revoked', ended_at = now(), reason = $2,"
                         " reason_code = $3::smallint"
                         " WHERE serial = $1 AND state IN " VALID_STATES " RETURNING device_number",
                         3, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "revoking a certificate", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        rc = cl_pg_query(store->db, &res, "SELECT state FROM certificate WHERE serial = $1", 1,
                         values, err, sizeof(err));
        if (rc != CL_OK)
            return logged(cl_pg_fail(store->db, rc), "revoking a certificate", err);
        if (PQntuples(res) == 0) {
            cl_log_warn("revocation: no device certificate with serial %s",
                        cl_shown(serial_hex, buf, sizeof(buf)));
            rc = CL_ERR_NOT_FOUND;
        } else {
            cl_log_warn("revocation: certificate %s is already %s", serial_hex,
                        PQgetvalue(res, 0, 0));
            rc = CL_ERR_STATE;
        }
        PQclear(res);
        return cl_pg_fail(store->db, rc);
    }
    snprintf(detail, sizeof(detail), "certificate %s of device number %s: %s: %s", serial_hex,
             PQgetvalue(res, 0, 0), cl_crl_reason_name(reason_code), comment);
    PQclear(res);
    if ((rc = cl_pg_audit_in_tx(store->db, actor, "revoke", detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "revoking a certificate", err);
    return CL_OK;
}
