/* store/console.c: the read-only views of ca-server's console: certificate search and one
 * certificate's detail (issuance per factory and day: store/issuance.c). */
#include "store_internal.h"

#include <ctype.h>

#include "store_console.h"

/* 1 if text holds only letters, digits and '-' (a prefix of a number or serial). */
static int prefix_ok(const char *text, size_t max)
{
    if (strlen(text) > max)
        return 0;
    for (const char *p = text; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return 0;
    return 1;
}

int ca_store_cert_search(struct ca_store *store, const struct ca_cert_filter *f, size_t limit,
                         struct ca_cert_row **rows, size_t *count)
{
    char limit_text[24];
    const char *values[] = {f->number ? f->number : "", f->serial ? f->serial : "",
                            f->state ? f->state : "",   f->factory ? f->factory : "",
                            f->day ? f->day : "",       limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, rows, count) || !prefix_ok(values[0], CA_DEVICE_NUMBER_MAX) ||
        !prefix_ok(values[1], CA_SERIAL_HEX_MAX) ||
        (values[2][0] != '\0' && ca_cert_state_from_name(values[2]) == CA_CERT_UNKNOWN) ||
        strlen(values[3]) > CA_FACTORY_MAX || !console_day_ok(values[4]))
        return CL_ERR_INVALID_ARGUMENT;
    cl_pg_limit_text(limit_text, limit, 100000);
    *rows = cl_pg_list(store->db,
                       "SELECT " CERT_COLUMNS " FROM certificate"
                       " WHERE ($1 = '' OR device_number LIKE upper($1) || '%')"
                       " AND ($2 = '' OR serial LIKE upper($2) || '%')"
                       " AND ($3 = '' OR state = $3)"
                       " AND ($4 = '' OR device_number IN"
                       "  (SELECT o.device_number FROM device_owner o WHERE o.factory = $4))"
                       " AND ($5 = '' OR (created_at >= NULLIF($5, '')::date"
                       "  AND created_at < NULLIF($5, '')::date + 1))"
                       " ORDER BY seq DESC LIMIT $6::bigint",
                       6, values, sizeof(**rows), ca_cert_from_row, count, &rc, logged,
                       "searching certificates");
    return rc;
}

int ca_store_cert_detail(struct ca_store *store, const char *serial_hex, struct ca_cert_detail *out)
{
    const char *values[] = {serial_hex};
    char err[384];
    PGresult *res;
    int rc;

    memset(out, 0, sizeof(*out));
    out->reason_code = -1;
    if (store == NULL || serial_hex == NULL || !prefix_ok(serial_hex, CA_SERIAL_HEX_MAX))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " CERT_COLUMNS ", coalesce(reason_code, -1), superseded_by,"
                          " pack IS NOT NULL,"
                          " floor(extract(epoch FROM pack_purged_at))::bigint,"
                          " (SELECT r.requester FROM batch_request r"
                          "  WHERE r.request_id = certificate.request_id),"
                          " (SELECT floor(extract(epoch FROM r.created_at))::bigint"
                          "  FROM batch_request r WHERE r.request_id = certificate.request_id)"
                          " FROM certificate WHERE serial = upper($1)",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading a certificate", err);
    if (PQntuples(res) != 1) {
        PQclear(res);
        return CL_ERR_NOT_FOUND;
    }
    ca_cert_from_row(res, 0, &out->row);
    out->reason_code = (int)cl_pg_get_ll(res, 0, 11);
    cl_copy_text(out->superseded_by, sizeof(out->superseded_by), cl_pg_get_text(res, 0, 12));
    out->pack_held = cl_pg_get_bool(res, 0, 13);
    out->pack_purged_at = (time_t)cl_pg_get_ll(res, 0, 14);
    cl_copy_text(out->requester, sizeof(out->requester), cl_pg_get_text(res, 0, 15));
    out->requested_at = (time_t)cl_pg_get_ll(res, 0, 16);
    PQclear(res);
    return CL_OK;
}
