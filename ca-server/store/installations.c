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

/* The checks of one report's inputs, before any transaction; given gets the proof's digits. */
static int install_input_ok(const char *device_number, const char *serial_hex, const char *value,
                            char given[CA_VERIFY_HEX + 1], char *err, size_t errlen)
{
    char buf[48];

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
    return CL_OK;
}

/* Inside the caller's transaction: checks the proof of one installation and marks it installed.
 * CL_ERR_DB leaves the transaction to be rolled back; any other code concerns this report only. */
static int install_locked(struct ca_store *store, const char *device_number, const char *serial_hex,
                          const char *given, const char *now_text, time_t now, time_t *received_at,
                          char *err, size_t errlen)
{
    const char *values[] = {serial_hex, device_number, now_text};
    PGresult *res;
    int rc;

    *received_at = 0;
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT state, server_value,"
                          " floor(extract(epoch FROM installed_at))::bigint"
                          " FROM certificate WHERE serial = $1 AND device_number = $2 FOR UPDATE",
                          2, values, err, errlen)) != CL_OK)
        return rc;
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
    return rc;
}

int ca_store_install(struct ca_store *store, const char *device_number, const char *serial_hex,
                     const char *value, time_t now, time_t *received_at, char *err, size_t errlen)
{
    char given[CA_VERIFY_HEX + 1], now_text[24];
    int rc;

    if (received_at != NULL)
        *received_at = 0;
    if (store == NULL || received_at == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = install_input_ok(device_number, serial_hex, value, given, err, errlen)) != CL_OK)
        return rc;
    if (now <= 0) {
        cl_err_set(err, errlen, "no installation time");
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    rc = install_locked(store, device_number, serial_hex, given, now_text, now, received_at, err,
                        errlen);
    if (rc == CL_ERR_DB)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_finish(store->db, rc, err, errlen)) != CL_OK)
        *received_at = 0;
    return rc;
}

/* Inside the batch's transaction: locks the certificates of the well-formed reports all at once,
 * in CERTIFICATE_LOCK_ORDER whatever the order of the reports, so that an owner change, a new
 * batch, a signing batch, a retirement or the pack purge of the same numbers (each locks them in
 * that order too) and this batch never wait for each other in a circle. */
static int lock_reported(struct ca_store *store, const struct ca_install_item *items, size_t count,
                         char *err, size_t errlen)
{
    struct cl_pg_array serials, numbers;
    const char *values[2];
    int rc;

    cl_pg_array_init(&serials);
    cl_pg_array_init(&numbers);
    for (size_t i = 0; i < count; i++) {
        if (items[i].rc != CL_OK)
            continue;
        cl_pg_array_add(&serials, items[i].serial_hex);
        cl_pg_array_add(&numbers, items[i].device_number);
    }
    values[0] = cl_pg_array_finish(&serials);
    values[1] = cl_pg_array_finish(&numbers);
    if (values[0] == NULL || values[1] == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
    } else {
        rc = cl_pg_query(store->db, NULL,
                         "SELECT 1 FROM certificate WHERE (serial, device_number) IN"
                         " (SELECT * FROM unnest($1::text[], $2::text[]))"
                         " ORDER BY " CERTIFICATE_LOCK_ORDER " FOR UPDATE",
                         2, values, err, errlen);
    }
    cl_pg_array_free(&serials);
    cl_pg_array_free(&numbers);
    return rc;
}

int ca_store_install_batch(struct ca_store *store, struct ca_install_item *items, size_t count,
                           time_t now, char *err, size_t errlen)
{
    char given[CA_VERIFY_HEX + 1], now_text[24];
    int rc;

    if (store == NULL || (items == NULL && count > 0) || now <= 0) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
    for (size_t i = 0; i < count; i++) {
        struct ca_install_item *item = &items[i];
        item->received_at = 0;
        item->rc = install_input_ok(item->device_number, item->serial_hex, item->value, given,
                                    item->err, sizeof(item->err));
    }
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = lock_reported(store, items, count, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    for (size_t i = 0; i < count; i++) {
        struct ca_install_item *item = &items[i];
        if (item->rc == CL_OK) {
            cl_verify_value_ok(item->value, given); /* the proof's digits, checked above */
            item->rc = install_locked(store, item->device_number, item->serial_hex, given, now_text,
                                      now, &item->received_at, item->err, sizeof(item->err));
        }
        if (item->rc != CL_OK && item->rc != CL_ERR_INVALID_ARGUMENT &&
            item->rc != CL_ERR_NOT_FOUND && item->rc != CL_ERR_STATE && item->rc != CL_ERR_CRYPTO) {
            /* a query failed: the transaction is lost, nothing of the batch is kept */
            cl_err_set(err, errlen, "%s", item->err);
            return cl_pg_fail(store->db, item->rc);
        }
    }
    if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK) {
        cl_pg_fail(store->db, rc);
        for (size_t i = 0; i < count; i++)
            items[i].received_at = 0;
    }
    return rc;
}
