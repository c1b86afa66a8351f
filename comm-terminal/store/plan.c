/* store/plan.c: the production plan [FIG 19B] (the model list is store/models.c). */
#include "ct_store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the plan [FIG 19B] ---- */

/* Checks one plan entry; err names it (index and model). */
static int plan_entry_ok(const struct ct_plan_entry *e, size_t index, char *err, size_t errlen)
{
    char buf[48];
    if (memchr(e->model_code, '\0', sizeof(e->model_code)) == NULL ||
        !cl_model_code_ok(e->model_code)) {
        cl_err_set(err, errlen, "plan entry %zu: device model code \"%s\" is malformed", index + 1,
                   memchr(e->model_code, '\0', sizeof(e->model_code)) != NULL
                       ? cl_shown(e->model_code, buf, sizeof(buf))
                       : "(unterminated)");
        return 0;
    }
    if (memchr(e->day, '\0', sizeof(e->day)) == NULL || !cts_day_ok(e->day, NULL)) {
        cl_err_set(err, errlen, "plan entry %zu (%s): \"%s\" is not a date (YYYY-MM-DD)", index + 1,
                   e->model_code,
                   memchr(e->day, '\0', sizeof(e->day)) != NULL ? cl_shown(e->day, buf, sizeof(buf))
                                                                : "(unterminated)");
        return 0;
    }
    if (e->units < 1 || e->units > PLAN_UNITS_LIMIT) {
        cl_err_set(err, errlen, "plan entry %zu (%s, %s): units %ld is not 1..%d", index + 1,
                   e->model_code, e->day, e->units, PLAN_UNITS_LIMIT);
        return 0;
    }
    if (e->serials != NULL) {
        for (long i = 0; i < e->units; i++)
            if (e->serials[i] < 0 || e->serials[i] > SERIAL_NUMBER_MAX) {
                cl_err_set(err, errlen, "plan entry %zu (%s, %s): serial %lld is not 0..%lld",
                           index + 1, e->model_code, e->day, e->serials[i], SERIAL_NUMBER_MAX);
                return 0;
            }
    } else if (e->first_serial < 0 || e->first_serial > SERIAL_NUMBER_MAX - (e->units - 1)) {
        cl_err_set(
            err, errlen, "plan entry %zu (%s, %s): serials %lld to %lld do not fit in 12 digits",
            index + 1, e->model_code, e->day, e->first_serial, e->first_serial + (e->units - 1));
        return 0;
    }
    if (e->serial_digits < 1 || e->serial_digits > 12) {
        cl_err_set(err, errlen, "plan entry %zu (%s, %s): serial digits %d is not 1..12", index + 1,
                   e->model_code, e->day, e->serial_digits);
        return 0;
    }
    return 1;
}

static int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The device numbers of one (checked) entry as an array literal (malloc'd). When an explicit
 * serial is listed twice, dup_number names its device number. */
static char *plan_numbers(const struct ct_plan_entry *e, char dup_number[CT_DEVICE_NUMBER_MAX + 1])
{
    size_t each = strlen(e->model_code) + 1 + 12 + 1, at = 0;
    char *out;

    dup_number[0] = '\0';
    if (e->serials != NULL) {
        long long *sorted = malloc((size_t)e->units * sizeof(*sorted));
        if (sorted == NULL)
            return NULL;
        memcpy(sorted, e->serials, (size_t)e->units * sizeof(*sorted));
        qsort(sorted, (size_t)e->units, sizeof(*sorted), compare_ll);
        for (long i = 1; i < e->units; i++)
            if (sorted[i] == sorted[i - 1]) {
                snprintf(dup_number, CT_DEVICE_NUMBER_MAX + 1, "%s-%0*lld", e->model_code,
                         e->serial_digits, sorted[i]);
                break;
            }
        free(sorted);
    }
    if ((out = malloc((size_t)e->units * each + 3)) == NULL)
        return NULL;
    out[at++] = '{';
    for (long i = 0; i < e->units; i++) {
        long long serial = e->serials != NULL ? e->serials[i] : e->first_serial + i;
        at += (size_t)snprintf(out + at, each + 1, "%s%s-%0*lld", i > 0 ? "," : "", e->model_code,
                               e->serial_digits, serial);
    }
    out[at++] = '}';
    out[at] = '\0';
    return out;
}

/* One entry, inside the import's transaction: its plan row, its new device numbers, and the
 * check that none of its numbers is planned for another day. */
static int plan_one(struct ct_store *store, const struct ct_plan_entry *e, size_t index,
                    size_t *added, char *err, size_t errlen)
{
    char units[24], dup[CT_DEVICE_NUMBER_MAX + 1], *list;
    const char *values[] = {e->model_code, e->day, units};
    PGresult *res;
    int rc;

    if ((rc = cl_pg_query(store->db, &res, "SELECT certificate_managed FROM model WHERE code = $1",
                          1, values, err, errlen)) != CL_OK)
        return rc;
    int known = PQntuples(res) == 1;
    PQclear(res);
    if (!known) {
        cl_err_set(err, errlen,
                   "plan entry %zu: device model %s is not registered (models-sync reads "
                   "ca-server's model list; model-set marks it here)",
                   index + 1, e->model_code);
        return CL_ERR_NOT_FOUND;
    }
    if ((list = plan_numbers(e, dup)) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    if (dup[0] != '\0') {
        free(list);
        cl_err_set(err, errlen, "plan entry %zu (%s, %s): device number %s is listed twice",
                   index + 1, e->model_code, e->day, dup);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(units, sizeof(units), "%ld", e->units);
    rc = cl_pg_query(store->db, NULL,
                     "INSERT INTO plan (model_code, day, units) VALUES ($1, $2::date, $3::int)"
                     " ON CONFLICT (model_code, day) DO NOTHING",
                     3, values, err, errlen);
    if (rc == CL_OK) {
        const char *insert_values[] = {e->model_code, e->day, list};
        rc = cl_pg_query(
            store->db, &res,
            "INSERT INTO plan_device (device_number, model_code, day)"
            " SELECT n, $1, $2::date FROM unnest($3::text[]) WITH ORDINALITY AS u (n, i)"
            " ORDER BY i ON CONFLICT (device_number) DO NOTHING",
            3, insert_values, err, errlen);
        if (rc == CL_OK) {
            *added += cl_pg_affected(res);
            PQclear(res);
        }
    }
    /* After the insert (which waited for any concurrent import of the same numbers): a number
     * of this entry planned for another day is refused, whoever planned it. */
    if (rc == CL_OK) {
        const char *check_values[] = {e->day, list};
        rc = cl_pg_query(store->db, &res,
                         "SELECT p.device_number, p.day::text FROM unnest($2::text[])"
                         " WITH ORDINALITY AS u (n, i) JOIN plan_device p ON p.device_number = u.n"
                         " WHERE p.day <> $1::date ORDER BY u.i LIMIT 1",
                         2, check_values, err, errlen);
    }
    free(list);
    if (rc != CL_OK)
        return rc;
    if (PQntuples(res) == 1) {
        cl_err_set(err, errlen,
                   "plan entry %zu (%s, %s): device number %s is already planned for %s; device "
                   "numbers are never reused",
                   index + 1, e->model_code, e->day, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        PQclear(res);
        return CL_ERR_CONFLICT;
    }
    PQclear(res);
    return cl_pg_query(store->db, NULL,
                       "UPDATE plan SET units = (SELECT count(*) FROM plan_device"
                       " WHERE model_code = $1 AND day = $2::date)"
                       " WHERE model_code = $1 AND day = $2::date",
                       2, values, err, errlen);
}

/* Checks the arguments of an import before its transaction. */
static int plan_args_ok(struct ct_store *store, const struct ct_plan_entry *entries, size_t count,
                        const char *actor, size_t *added, char *err, size_t errlen)
{
    if (added != NULL)
        *added = 0;
    if (store == NULL || added == NULL || (entries == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store, plan or result");
        return 0;
    }
    if (count < 1 || count > PLAN_ENTRIES_LIMIT) {
        cl_err_set(err, errlen, "a plan has 1 to %d entries, not %zu", PLAN_ENTRIES_LIMIT, count);
        return 0;
    }
    if (!cl_pg_audit_actor_ok(actor, err, errlen))
        return 0;
    for (size_t i = 0; i < count; i++)
        if (!plan_entry_ok(&entries[i], i, err, errlen))
            return 0;
    return 1;
}

/* The entries and their audit entry, inside the caller's transaction. */
static int plan_in_tx(struct ct_store *store, const struct ct_plan_entry *entries, size_t count,
                      const char *actor, const char *source, size_t *added, char *err,
                      size_t errlen)
{
    char detail[DETAIL_MAX + 1];
    int rc = CL_OK;

    for (size_t i = 0; i < count && rc == CL_OK; i++)
        rc = plan_one(store, &entries[i], i, added, err, errlen);
    if (rc != CL_OK)
        return rc;
    snprintf(detail, sizeof(detail),
             "%zu plan entr%s (first %s on %s), %zu new device number(s)%s%.200s", count,
             count == 1 ? "y" : "ies", entries[0].model_code, entries[0].day, *added,
             source != NULL ? ", from " : "", source != NULL ? source : "");
    return cl_pg_audit_in_tx(store->db, actor, "plan_import", detail, err, errlen);
}

int ct_store_plan_import(struct ct_store *store, const struct ct_plan_entry *entries, size_t count,
                         const char *actor, size_t *added, char *err, size_t errlen)
{
    size_t new_numbers = 0;
    int rc;

    if (!plan_args_ok(store, entries, count, actor, added, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    rc = plan_in_tx(store, entries, count, actor, NULL, &new_numbers, err, errlen);
    if ((rc = cl_pg_finish(store->db, rc, err, errlen)) != CL_OK)
        return rc;
    *added = new_numbers;
    cl_log_info("production plan imported: %zu entries, %zu new device number(s)", count,
                new_numbers);
    return CL_OK;
}

int ct_store_plan_submit(struct ct_store *store, const struct ct_plan_submission *submission,
                         const struct ct_plan_entry *entries, size_t count, size_t *added,
                         int *repeated, char *err, size_t errlen)
{
    char entries_text[24], added_text[24], source[128];
    size_t new_numbers = 0;
    PGresult *res;
    int rc;

    if (repeated != NULL)
        *repeated = 0;
    if (submission == NULL || repeated == NULL ||
        !plan_args_ok(store, entries, count, submission->actor, added, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_token_ok(submission->request_id, 64) || strlen(submission->digest) != 64) {
        cl_err_set(err, errlen, "a submission needs a request id (1 to 64 of ! to ~) and a digest");
        return CL_ERR_INVALID_ARGUMENT;
    }
    const char *key[] = {submission->request_id};
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    /* Serialises submissions of one request id: a second waits for the first to commit. */
    if ((rc = cl_pg_lock(store->db, LOCK_SUBMISSION, submission->request_id, err, errlen)) == CL_OK)
        rc = cl_pg_query(store->db, &res,
                         "SELECT digest, added FROM plan_submission WHERE request_id = $1", 1, key,
                         err, errlen);
    if (rc == CL_OK && PQntuples(res) == 1) {
        int same = strcmp(PQgetvalue(res, 0, 0), submission->digest) == 0;
        new_numbers = (size_t)strtoul(PQgetvalue(res, 0, 1), NULL, 10);
        PQclear(res);
        cl_pg_fail(store->db, CL_OK); /* nothing to keep */
        if (!same) {
            cl_err_set(err, errlen, "request %s was submitted before with another plan",
                       submission->request_id);
            return CL_ERR_CONFLICT;
        }
        *added = new_numbers;
        *repeated = 1;
        return CL_OK;
    }
    if (rc == CL_OK) {
        PQclear(res);
        snprintf(source, sizeof(source), "request %s", submission->request_id);
        rc =
            plan_in_tx(store, entries, count, submission->actor, source, &new_numbers, err, errlen);
    }
    if (rc == CL_OK) {
        snprintf(entries_text, sizeof(entries_text), "%zu", count);
        snprintf(added_text, sizeof(added_text), "%zu", new_numbers);
        const char *values[] = {submission->request_id, submission->digest, entries_text,
                                added_text, submission->actor};
        rc = cl_pg_query(store->db, NULL,
                         "INSERT INTO plan_submission (request_id, digest, entries, added, actor)"
                         " VALUES ($1, $2, $3::int, $4::int, $5)",
                         5, values, err, errlen);
    }
    if ((rc = cl_pg_finish(store->db, rc, err, errlen)) != CL_OK)
        return rc;
    *added = new_numbers;
    cl_log_info("production plan %s imported: %zu entries, %zu new device number(s)",
                submission->request_id, count, new_numbers);
    return CL_OK;
}

static void number_from_row(const PGresult *res, int i, void *out)
{
    cl_copy_text(out, CT_DEVICE_NUMBER_MAX + 1, cl_pg_get_text(res, i, 0));
}

int ct_store_numbers_to_fetch(struct ct_store *store, const char *day, size_t limit,
                              char (**numbers)[CT_DEVICE_NUMBER_MAX + 1], size_t *count)
{
    char limit_text[24], buf[48];
    const char *values[] = {day, limit_text};
    int rc;

    if (!CL_PG_LIST_START(store, numbers, count))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cts_day_ok(day, NULL)) {
        cl_log_warn("numbers to fetch: \"%s\" is not a date (YYYY-MM-DD)",
                    cl_shown(day, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (limit < 1) {
        cl_log_warn("numbers to fetch for %s: a limit of 0", day);
        return CL_ERR_INVALID_ARGUMENT;
    }
    cl_pg_limit_text(limit_text, limit, LIST_MAX);
    *numbers = cl_pg_list(store->db,
                          "SELECT p.device_number FROM plan_device p"
                          " JOIN model m ON m.code = p.model_code AND m.certificate_managed"
                          " WHERE p.day = $1::date"
                          " AND NOT EXISTS (SELECT 1 FROM certificate c"
                          "  WHERE c.device_number = p.device_number)"
                          " AND NOT EXISTS (SELECT 1 FROM fetch_item f"
                          "  WHERE f.device_number = p.device_number AND f.pending)"
                          " ORDER BY " NUMBER_ORDER("p.device_number") " LIMIT $2::bigint",
                          2, values, sizeof(**numbers), number_from_row, count, &rc, cts_logged,
                          "listing the numbers to fetch");
    return rc;
}

int ct_store_planned_day(struct ct_store *store, const char *device_number, char day[11])
{
    const char *values[] = {device_number};
    char err[384];
    PGresult *res;
    int rc;

    if (store == NULL || day == NULL || !cts_device_number_ok(device_number))
        return CL_ERR_INVALID_ARGUMENT;
    day[0] = '\0';
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT day::text FROM plan_device WHERE device_number = $1", 1, values,
                          err, sizeof(err))) != CL_OK)
        return cts_logged(rc, "reading the plan", err);
    if (PQntuples(res) == 1)
        cl_copy_text(day, 11, cl_pg_get_text(res, 0, 0));
    else
        rc = CL_ERR_NOT_FOUND;
    PQclear(res);
    return rc;
}
