/* store/installations.c: installation reports: the device's proof of installation, the receipt. */
#include "store_internal.h"

/* Compares n bytes in time that does not depend on where they differ. */
static int equal_const_time(const char *a, const char *b, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* ---- installation ---- */

int ca_store_install(struct ca_store *store, const char *device_number, const char *serial_hex,
                     const char *value, time_t now, time_t *received_at, char *err, size_t errlen)
{
    const char *values[] = {serial_hex, device_number, NULL};
    char given[CA_VERIFY_HEX + 1], buf[48], now_text[24];
    PGresult *res;
    int rc;

    if (received_at != NULL)
        *received_at = 0;
    if (store == NULL || received_at == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!device_number_ok(device_number, NULL)) {
        cl_err_set(err, errlen, "device number \"%s\" is malformed",
                   cl_shown(device_number, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_serial_ok(serial_hex)) {
        cl_err_set(err, errlen, "device number %s: serial \"%s\" is malformed", device_number,
                   cl_shown(serial_hex, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_verify_value_ok(value, given)) {
        cl_err_set(err, errlen, "device number %s: the verification value must be %d hex digits",
                   device_number, CA_VERIFY_HEX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (now <= 0) {
        cl_err_set(err, errlen, "no installation time");
        return CL_ERR_INVALID_ARGUMENT;
    }

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT state, server_value,"
                          " floor(extract(epoch FROM installed_at))::bigint"
                          " FROM certificate WHERE serial = $1 AND device_number = $2 FOR UPDATE",
                          2, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) == 0) {
        cl_err_set(err, errlen, "no certificate %s for device number %s", serial_hex,
                   device_number);
        rc = CL_ERR_NOT_FOUND;
    } else {
        const char *state = PQgetvalue(res, 0, 0);
        const char *expected = cl_pg_get_text(res, 0, 1);
        if (strcmp(state, "issued") != 0 && strcmp(state, "installed") != 0) {
            cl_err_set(err, errlen, "certificate %s of device number %s is %s%s", serial_hex,
                       device_number, state,
                       strcmp(state, "intent") == 0 ? ", not issued yet" : "");
            rc = CL_ERR_STATE;
        } else if (strlen(expected) != CA_VERIFY_HEX ||
                   !equal_const_time(expected, given, CA_VERIFY_HEX)) {
            cl_err_set(err, errlen,
                       "the installation proof of device number %s (serial %s) does not match",
                       device_number, serial_hex);
            rc = CL_ERR_CRYPTO;
        } else if (strcmp(state, "installed") == 0) {
            *received_at =
                (time_t)cl_pg_get_ll(res, 0, 2); /* reported before: the first time holds */
        } else {
            snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
            values[2] = now_text;
            PQclear(res);
            res = NULL;
            rc = cl_pg_query(store->db, NULL,
                             "UPDATE certificate SET state = 'installed',"
                             " installed_at = to_timestamp($3::bigint)"
                             " WHERE serial = $1 AND device_number = $2",
                             3, values, err, errlen);
            if (rc == CL_OK)
                *received_at = now;
        }
    }
    PQclear(res);
    if ((rc = cl_pg_finish(store->db, rc, err, errlen)) != CL_OK)
        *received_at = 0;
    return rc;
}
