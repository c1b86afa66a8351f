/* ct_store.c: the comm-terminal's state in PostgreSQL (see ct_store.h): the schema and its
 * migrations, the certificate-managed model list and the production plan [FIG 19A/19B], FIG 21
 * fetches (request recorded before it is sent), the certificate DB [FIG 20] with the line
 * service's claims and states, installation reports and receipts, operators (PBKDF2 hashes) and
 * the audit log. The only file of comm-terminal that includes libpq-fe.h.
 *
 * A store is one connection (common/pg_db.h), used by one thread at a time. Every value goes to the
 * server as a parameter (PQexecParams); the only SQL text is constant. Every state change is one
 * transaction (ROLLBACK on any error) and a function returns success only after its COMMIT. The
 * database enforces the invariants itself: a device number is planned once (plan_device primary
 * key), holds at most one certificate row (primary key) and sits in at most one pending request (a
 * partial unique index); a claim locks the certificate row (SELECT ... FOR UPDATE), so two lines
 * asking for one number at once are served one after the other and the second sees the first's
 * claim. */
#include "ct_store.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>

#include "error.h"
#include "input_check.h"
#include "log.h"
#include "pg_db.h"
#include "x509_issue.h"

/* Bounds of the inputs that ct_store.h leaves open. */
#define ACTOR_MAX 64
#define ACTION_MAX 64
#define DETAIL_MAX 512
#define REASON_MAX 1024         /* a write failure's reason (256 characters on the wire) */
#define RETRY_REASON_MAX 512    /* kept of a report attempt's failure */
#define SIGNATURE_B64_MAX 4096  /* a receipt's signature, base64 */
#define SIGNER_PEM_MAX 16384    /* a receipt's signer certificate, PEM */
#define PASSWORD_MIN 8          /* operator passwords, bytes */
#define PASSWORD_MAX 1024       /* */
#define CLAIM_SECONDS_MAX 86400 /* a claim never outlives a day */
#define PLAN_ENTRIES_LIMIT 10000
#define PLAN_UNITS_LIMIT 100000
#define SERIAL_NUMBER_MAX 999999999999LL /* the 12 digits of a device number's serial */
#define LIST_MAX 1000000                 /* rows one listing returns at most */

/* Operator passwords: PBKDF2-HMAC-SHA256, 16-byte salt, 32-byte hash. */
#define PBKDF2_ITERATIONS 200000
#define PBKDF2_ITERATIONS_MAX 10000000
#define SALT_LEN 16
#define HASH_LEN 32

/* Advisory lock keys (first of the two int4 keys): migrations, and one request id. */
#define LOCK_MIGRATE 0x43540001
#define LOCK_REQUEST 0x43540002

/* PostgreSQL's type oid of text (pg_type.h; fixed since the first release). */
#define TEXT_OID 25

/* The order of device numbers: by model, then by the serial's value. */
#define NUMBER_ORDER(n)                                                                            \
    "split_part(" n ", '-', 1) COLLATE \"C\", split_part(" n ", '-', 2)::numeric, " n              \
    " COLLATE \"C\""

struct ct_store {
    struct cl_pg *db;
};

/* ---- migrations ---- */

static const char *const migration_1[] = {
    "CREATE TABLE model ("
    " code text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{1,8}$'),"
    " certificate_managed boolean NOT NULL,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE plan ("
    " model_code text NOT NULL REFERENCES model (code),"
    " day date NOT NULL,"
    " units integer NOT NULL CHECK (units > 0),"
    " imported_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (model_code, day))",

    /* Every planned device number, once and forever. */
    "CREATE TABLE plan_device ("
    " device_number text PRIMARY KEY CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " model_code text NOT NULL,"
    " day date NOT NULL,"
    " FOREIGN KEY (model_code, day) REFERENCES plan (model_code, day),"
    " CONSTRAINT plan_device_number_of_model"
    "  CHECK (split_part(device_number, '-', 1) = model_code))",
    "CREATE INDEX plan_device_day ON plan_device (day, model_code)",

    "CREATE TABLE fetch_request ("
    " request_id text PRIMARY KEY CHECK (request_id ~ '^[!-~]{1,64}$'),"
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    " day date NOT NULL,"
    " replacement boolean NOT NULL,"
    " item_count integer NOT NULL CHECK (item_count BETWEEN 1 AND 1000),"
    " state text NOT NULL CHECK (state IN ('pending', 'completed', 'abandoned')),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " ended_at timestamptz,"
    " reason text CHECK (octet_length(reason) <= 512),"
    " CONSTRAINT fetch_request_ended CHECK ((state = 'pending') = (ended_at IS NULL)))",

    /* pending mirrors the request's state, so that the database itself keeps a device number
     * in at most one pending request. */
    "CREATE TABLE fetch_item ("
    " request_id text NOT NULL REFERENCES fetch_request (request_id),"
    " position integer NOT NULL CHECK (position >= 0),"
    " device_number text NOT NULL CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " pending boolean NOT NULL,"
    " PRIMARY KEY (request_id, position),"
    " UNIQUE (request_id, device_number))",
    "CREATE UNIQUE INDEX fetch_item_one_pending ON fetch_item (device_number) WHERE pending",

    "CREATE TABLE certificate ("
    " device_number text PRIMARY KEY CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " model_code text NOT NULL REFERENCES model (code),"
    " serial text NOT NULL CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " pack text CHECK (octet_length(pack) BETWEEN 1 AND 32768),"
    " state text NOT NULL"
    "  CHECK (state IN ('stored', 'delivered', 'written', 'failed', 'replaced')),"
    " write_flag smallint NOT NULL DEFAULT 0 CHECK (write_flag IN (0, 1)),"
    " request_id text NOT NULL REFERENCES fetch_request (request_id),"
    " claimed_by_line text CHECK (claimed_by_line ~ '^[!-~]{1,32}$'),"
    " claimed_at timestamptz,"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " delivered_at timestamptz,"
    " written_at timestamptz,"
    " failed_at timestamptz,"
    " fail_reason text CHECK (octet_length(fail_reason) <= 1024),"
    " pack_deleted_at timestamptz,"
    " CONSTRAINT certificate_number_of_model"
    "  CHECK (split_part(device_number, '-', 1) = model_code),"
    " CONSTRAINT certificate_flag_is_written CHECK ((state = 'written') = (write_flag = 1)),"
    " CONSTRAINT certificate_written_at CHECK (state <> 'written' OR written_at IS NOT NULL),"
    " CONSTRAINT certificate_pack_deleted CHECK ((pack IS NULL) = (pack_deleted_at IS NOT NULL)),"
    " CONSTRAINT certificate_claim CHECK (claimed_at IS NULL OR claimed_by_line IS NOT NULL))",
    "CREATE INDEX certificate_model_state ON certificate (model_code, state)",

    /* Every pack whose write failed (the row above then holds its replacement). */
    "CREATE TABLE failed_pack ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " device_number text NOT NULL REFERENCES certificate (device_number),"
    " serial text NOT NULL,"
    " line_id text NOT NULL,"
    " reason text NOT NULL CHECK (octet_length(reason) <= 1024),"
    " failed_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE report ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " device_number text NOT NULL REFERENCES certificate (device_number),"
    " serial text NOT NULL CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " proof text NOT NULL CHECK (proof ~ '^[0-9a-f]{64}$'),"
    " written_at timestamptz NOT NULL,"
    " state text NOT NULL CHECK (state IN ('queued', 'done')),"
    " attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
    " next_attempt timestamptz NOT NULL,"
    " last_error text CHECK (octet_length(last_error) <= 512),"
    " received_at timestamptz,"
    " signature text CHECK (octet_length(signature) <= 4096),"
    " signer_pem text CHECK (octet_length(signer_pem) <= 16384),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " UNIQUE (device_number, serial),"
    " CONSTRAINT report_done CHECK (state <> 'done'"
    "  OR (received_at IS NOT NULL AND signature IS NOT NULL AND signer_pem IS NOT NULL)))",
    "CREATE INDEX report_queued ON report (next_attempt, id) WHERE state = 'queued'",

    "CREATE TABLE operator ("
    " operator_id text PRIMARY KEY CHECK (operator_id ~ '^[!-~]{1,32}$'),"
    " salt bytea NOT NULL CHECK (octet_length(salt) = 16),"
    " iterations integer NOT NULL CHECK (iterations BETWEEN 200000 AND 10000000),"
    " hash bytea NOT NULL CHECK (octet_length(hash) = 32),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " updated_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE audit_log ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " at timestamptz NOT NULL DEFAULT now(),"
    " actor text NOT NULL CHECK (octet_length(actor) BETWEEN 1 AND 64),"
    " action text NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 64),"
    " detail text NOT NULL DEFAULT '' CHECK (octet_length(detail) <= 512))",
    NULL,
};

static const struct cl_pg_migration migrations[] = {
    {1, "initial schema", migration_1},
};

static const struct cl_pg_schema schema = {"comm-terminal", LOCK_MIGRATE, migrations,
                                           sizeof(migrations) / sizeof(migrations[0])};

/* ---- errors and checks of outside values ---- */

/* CODE-SERIAL: [0-9A-Z]{1,8}-[0-9]{1,12}. */
static int device_number_ok(const char *s)
{
    size_t n = 0, d = 0;
    if (s == NULL)
        return 0;
    while (n <= CT_MODEL_CODE_MAX && cl_is_upper_alnum(s[n]))
        n++;
    if (n == 0 || n > CT_MODEL_CODE_MAX || s[n] != '-')
        return 0;
    while (d <= 12 && s[n + 1 + d] >= '0' && s[n + 1 + d] <= '9')
        d++;
    return d > 0 && d <= 12 && s[n + 1 + d] == '\0';
}

/* 1..max characters of base64. */
static int base64_ok(const char *s, size_t max)
{
    size_t n;
    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= max || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '='))
            return 0;
    }
    return n > 0;
}

/* YYYY-MM-DD, a real date (years 2000..2999); *tm gets it (local midnight) if not NULL. */
static int day_ok(const char *s, struct tm *tm)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, max;
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1)
        return 0;
    max = days[m - 1] + (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
    if (d > max)
        return 0;
    if (tm != NULL) {
        memset(tm, 0, sizeof(*tm));
        tm->tm_year = y - 1900;
        tm->tm_mon = m - 1;
        tm->tm_mday = d;
        tm->tm_isdst = -1;
    }
    return 1;
}

/* Compares n bytes in time that does not depend on where they differ. */
static int equal_const_time(const unsigned char *a, const unsigned char *b, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* A printable ASCII copy of free text from elsewhere (a transport error), at most size - 1
 * bytes: kept for operators, never refused. */
static void sanitize(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (; src != NULL && src[n] != '\0' && n + 1 < size; n++)
        dst[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
    dst[n] = '\0';
}

/* For the functions that have no err: a failure is logged here, once (refusals as warnings,
 * database failures as errors). */
static int logged(int rc, const char *what, const char *err)
{
    if (rc == CL_ERR_DB || rc == CL_ERR_NOMEM || rc == CL_ERR_INTERNAL)
        cl_log_error("%s: %s", what, err);
    else if (rc != CL_OK)
        cl_log_warn("%s: %s", what, err);
    return rc;
}

/* In the middle of a transaction: records one audit entry. */
static int audit_in_tx(struct ct_store *store, const char *actor, const char *action,
                       const char *detail, char *err, size_t errlen)
{
    const char *values[] = {actor, action, detail};
    return cl_pg_query(store->db, NULL,
                       "INSERT INTO audit_log (actor, action, detail) VALUES ($1, $2, $3)", 3,
                       values, err, errlen);
}

static int actor_ok(const char *actor, char *err, size_t errlen)
{
    char buf[48];
    if (cl_text_ok(actor, 1, ACTOR_MAX))
        return 1;
    cl_err_set(err, errlen, "actor \"%s\" must be 1 to %d bytes of printable UTF-8",
               cl_shown(actor, buf, sizeof(buf)), ACTOR_MAX);
    return 0;
}

static int number_refused(const char *what, const char *number, char *err, size_t errlen)
{
    char buf[48];
    cl_err_set(err, errlen,
               "%s: device number \"%s\" is malformed (CODE-SERIAL: 1 to 8 of 0-9 A-Z, "
               "'-', 1 to 12 digits)",
               what, cl_shown(number, buf, sizeof(buf)));
    return CL_ERR_INVALID_ARGUMENT;
}

static int line_refused(const char *number, const char *line_id, char *err, size_t errlen)
{
    char buf[48];
    cl_err_set(err, errlen, "device number %s: line id \"%s\" must be 1 to %d printable characters",
               number, cl_shown(line_id, buf, sizeof(buf)), CT_LINE_ID_MAX);
    return CL_ERR_INVALID_ARGUMENT;
}

/* Writes v big-endian (network order) at out + at; returns the position after it. */
static size_t put_u32(unsigned char *out, size_t at, uint32_t v)
{
    out[at] = (unsigned char)(v >> 24);
    out[at + 1] = (unsigned char)(v >> 16);
    out[at + 2] = (unsigned char)(v >> 8);
    out[at + 3] = (unsigned char)v;
    return at + 4;
}

/* A PostgreSQL array literal of device numbers (validated: no character needs quoting). */
static char *number_array(const char *const *numbers, size_t count)
{
    size_t len = 3, at = 0;
    char *out;
    for (size_t i = 0; i < count; i++)
        len += strlen(numbers[i]) + 1;
    if ((out = malloc(len)) == NULL)
        return NULL;
    out[at++] = '{';
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(numbers[i]);
        if (i > 0)
            out[at++] = ',';
        memcpy(out + at, numbers[i], n);
        at += n;
    }
    out[at++] = '}';
    out[at] = '\0';
    return out;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first number listed twice, or NULL. */
static const char *duplicate_number(const char *const *numbers, size_t count, int *nomem)
{
    const char **sorted = malloc((count > 0 ? count : 1) * sizeof(*sorted));
    const char *dup = NULL;
    *nomem = sorted == NULL;
    if (sorted == NULL)
        return NULL;
    memcpy(sorted, numbers, count * sizeof(*sorted));
    qsort(sorted, count, sizeof(*sorted), compare_strings);
    for (size_t i = 1; i < count && dup == NULL; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* ---- connection ---- */

int ct_store_open(const char *conninfo, struct ct_store **out, char *err, size_t errlen)
{
    struct cl_pg *db;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL) {
        cl_err_set(err, errlen, "no database conninfo");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_open(conninfo, "comm-terminal", &db, err, errlen)) != CL_OK)
        return rc;
    if ((*out = calloc(1, sizeof(**out))) == NULL) {
        cl_pg_close(db);
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    (*out)->db = db;
    return CL_OK;
}

void ct_store_close(struct ct_store *store)
{
    if (store == NULL)
        return;
    cl_pg_close(store->db);
    free(store);
}

/* ---- migrations ---- */

int ct_store_migrate(struct ct_store *store, int *applied, char *err, size_t errlen)
{
    return cl_pg_migrate(store != NULL ? store->db : NULL, &schema, applied, err, errlen);
}

/* ---- models and plan [FIG 19A/19B] ---- */

int ct_store_model_set(struct ct_store *store, const char *code, int certificate_managed,
                       const char *actor)
{
    const char *values[] = {code, certificate_managed ? "true" : "false"};
    char err[384], buf[48], detail[128];
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_model_code_ok(code)) {
        cl_log_warn("device model code \"%s\" is malformed (1 to 8 of 0-9 A-Z)",
                    cl_shown(code, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("device model %s: %s", code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(detail, sizeof(detail), "device model %s: %scertificate-managed", code,
             certificate_managed ? "" : "not ");
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "INSERT INTO model (code, certificate_managed) VALUES ($1, $2::boolean)"
                          " ON CONFLICT (code) DO UPDATE SET certificate_managed ="
                          " excluded.certificate_managed, updated_at = now()",
                          2, values, err, sizeof(err))) != CL_OK ||
        (rc = audit_in_tx(store, actor, "model_set", detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "marking a device model", err);
    return CL_OK;
}

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
    if (memchr(e->day, '\0', sizeof(e->day)) == NULL || !day_ok(e->day, NULL)) {
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
                   "plan entry %zu: device model %s is not registered (mark it first: "
                   "certificate-managed or not)",
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

int ct_store_plan_import(struct ct_store *store, const struct ct_plan_entry *entries, size_t count,
                         const char *actor, size_t *added, char *err, size_t errlen)
{
    char detail[DETAIL_MAX + 1];
    size_t new_numbers = 0;
    int rc;

    if (added != NULL)
        *added = 0;
    if (store == NULL || added == NULL || (entries == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store, plan or result");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count < 1 || count > PLAN_ENTRIES_LIMIT) {
        cl_err_set(err, errlen, "a plan has 1 to %d entries, not %zu", PLAN_ENTRIES_LIMIT, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++)
        if (!plan_entry_ok(&entries[i], i, err, errlen))
            return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    for (size_t i = 0; i < count && rc == CL_OK; i++)
        rc = plan_one(store, &entries[i], i, &new_numbers, err, errlen);
    if (rc == CL_OK) {
        snprintf(detail, sizeof(detail),
                 "%zu plan entr%s (first %s on %s), %zu new device number(s)", count,
                 count == 1 ? "y" : "ies", entries[0].model_code, entries[0].day, new_numbers);
        rc = audit_in_tx(store, actor, "plan_import", detail, err, errlen);
    }
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    if (rc != CL_OK)
        return cl_pg_fail(store->db, rc);
    *added = new_numbers;
    cl_log_info("production plan imported: %zu entries, %zu new device number(s)", count,
                new_numbers);
    return CL_OK;
}

int ct_store_numbers_to_fetch(struct ct_store *store, const char *day, size_t limit,
                              char (**numbers)[CT_DEVICE_NUMBER_MAX + 1], size_t *count)
{
    char limit_text[24], err[384], buf[48];
    const char *values[] = {day, limit_text};
    PGresult *res;
    int rc, n;

    if (numbers != NULL)
        *numbers = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || numbers == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!day_ok(day, NULL)) {
        cl_log_warn("numbers to fetch: \"%s\" is not a date (YYYY-MM-DD)",
                    cl_shown(day, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (limit < 1) {
        cl_log_warn("numbers to fetch for %s: a limit of 0", day);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (limit > LIST_MAX)
        limit = LIST_MAX;
    snprintf(limit_text, sizeof(limit_text), "%zu", limit);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT p.device_number FROM plan_device p"
                          " JOIN model m ON m.code = p.model_code AND m.certificate_managed"
                          " WHERE p.day = $1::date"
                          " AND NOT EXISTS (SELECT 1 FROM certificate c"
                          "  WHERE c.device_number = p.device_number)"
                          " AND NOT EXISTS (SELECT 1 FROM fetch_item f"
                          "  WHERE f.device_number = p.device_number AND f.pending)"
                          " ORDER BY " NUMBER_ORDER("p.device_number") " LIMIT $2::bigint",
                          2, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "listing the numbers to fetch", err);
    if ((*numbers = cl_pg_rows(res, sizeof(**numbers), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        cl_copy_text((*numbers)[i], sizeof((*numbers)[i]), cl_pg_get_text(res, i, 0));
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}

/* ---- fetching from ca-server [S1/S2] ---- */

/* Checks a request id; err names it. */
static int request_id_ok(const char *request_id, char *err, size_t errlen)
{
    char buf[48];
    if (cl_token_ok(request_id, CT_REQUEST_ID_MAX))
        return 1;
    cl_err_set(err, errlen, "request id \"%s\" must be 1 to %d printable characters without spaces",
               cl_shown(request_id, buf, sizeof(buf)), CT_REQUEST_ID_MAX);
    return 0;
}

/* The request is recorded already: the same numbers in the same order and the same kind are a
 * repeated begin (CL_OK); anything else is CL_ERR_CONFLICT. */
static int begin_known(struct ct_store *store, const char *request_id, int replacement,
                       const char *const *numbers, size_t count, char *err, size_t errlen)
{
    const char *values[] = {request_id};
    PGresult *res;
    int rc, same;

    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT r.replacement, r.state, f.device_number FROM fetch_request r"
                          " JOIN fetch_item f USING (request_id) WHERE r.request_id = $1"
                          " ORDER BY f.position",
                          1, values, err, errlen)) != CL_OK)
        return rc;
    same = (size_t)PQntuples(res) == count && cl_pg_get_bool(res, 0, 0) == (replacement != 0);
    for (size_t i = 0; same && i < count; i++)
        same = strcmp(cl_pg_get_text(res, (int)i, 2), numbers[i]) == 0;
    if (!same) {
        cl_err_set(err, errlen, "request id %s was recorded with other device numbers", request_id);
        rc = CL_ERR_CONFLICT;
    } else if (strcmp(cl_pg_get_text(res, 0, 1), "abandoned") == 0) {
        cl_err_set(err, errlen, "request id %s was abandoned; use a new one", request_id);
        rc = CL_ERR_STATE;
    }
    PQclear(res);
    return rc;
}

int ct_store_fetch_begin(struct ct_store *store, const char *request_id, const char *day,
                         int replacement, const char *const *numbers, size_t count, char *err,
                         size_t errlen)
{
    char count_text[24], buf[48], *list = NULL;
    const char *values[5];
    const char *dup;
    PGresult *res;
    int rc, nomem;

    if (store == NULL || (numbers == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store or device numbers");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (!day_ok(day, NULL)) {
        cl_err_set(err, errlen, "request %s: \"%s\" is not a date (YYYY-MM-DD)", request_id,
                   cl_shown(day, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count < 1 || count > CT_FETCH_MAX) {
        cl_err_set(err, errlen, "request %s: 1 to %d device numbers, not %zu", request_id,
                   CT_FETCH_MAX, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++)
        if (!device_number_ok(numbers[i]))
            return number_refused(request_id, numbers[i], err, errlen);
    dup = duplicate_number(numbers, count, &nomem);
    if (nomem) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    if (dup != NULL) {
        cl_err_set(err, errlen, "request %s: device number %s is listed twice", request_id, dup);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((list = number_array(numbers, count)) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    snprintf(count_text, sizeof(count_text), "%zu", count);
    values[0] = request_id;
    values[1] = list;
    values[2] = day;
    values[3] = replacement ? "true" : "false";
    values[4] = count_text;

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        goto out;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT 1 FROM fetch_request WHERE request_id = $1", 1,
                          values, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) > 0) {
        PQclear(res);
        if ((rc = begin_known(store, request_id, replacement, numbers, count, err, errlen)) ==
            CL_OK)
            rc = cl_pg_commit(store->db, err, errlen);
        goto fail;
    }
    PQclear(res);
    /* Every number of a known, certificate-managed model. */
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT u.n, split_part(u.n, '-', 1), m.certificate_managed"
                          " FROM unnest($1::text[]) WITH ORDINALITY AS u (n, i)"
                          " LEFT JOIN model m ON m.code = split_part(u.n, '-', 1)"
                          " WHERE m.code IS NULL OR NOT m.certificate_managed ORDER BY u.i LIMIT 1",
                          1, values + 1, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        cl_err_set(err, errlen, "request %s: device number %s: device model %s is %s", request_id,
                   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                   PQgetisnull(res, 0, 2) ? "not registered" : "not certificate-managed");
        PQclear(res);
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    PQclear(res);
    const char *request_values[] = {request_id, day, values[3], count_text};
    if ((rc = cl_pg_query(
             store->db, NULL,
             "INSERT INTO fetch_request (request_id, day, replacement, item_count, state)"
             " VALUES ($1, $2::date, $3::boolean, $4::int, 'pending')",
             4, request_values, err, errlen)) != CL_OK)
        goto fail;
    /* A number in another pending request is skipped here (the partial unique index; a
     * concurrent request holding it is waited for), then named. */
    if ((rc = cl_pg_query(store->db, &res,
                          "INSERT INTO fetch_item (request_id, position, device_number, pending)"
                          " SELECT $1, i - 1, n, true"
                          " FROM unnest($2::text[]) WITH ORDINALITY AS u (n, i)"
                          " ON CONFLICT DO NOTHING",
                          2, values, err, errlen)) != CL_OK)
        goto fail;
    size_t inserted = cl_pg_affected(res);
    PQclear(res);
    if (inserted != count) {
        if ((rc = cl_pg_query(store->db, &res,
                              "SELECT f.device_number, f.request_id"
                              " FROM unnest($2::text[]) WITH ORDINALITY AS u (n, i)"
                              " JOIN fetch_item f ON f.device_number = u.n AND f.pending"
                              " WHERE f.request_id <> $1 ORDER BY u.i LIMIT 1",
                              2, values, err, errlen)) != CL_OK)
            goto fail;
        if (PQntuples(res) == 1)
            cl_err_set(err, errlen, "request %s: device number %s is already in pending request %s",
                       request_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        else
            cl_err_set(err, errlen, "request %s: a device number is in another pending request",
                       request_id);
        PQclear(res);
        rc = CL_ERR_CONFLICT;
        goto fail;
    }
    /* After the items (a concurrent completion has committed by now): the certificates. A plain
     * request is for numbers that hold none; a replacement replaces a failed one. */
    const char *check_values[] = {list, values[3]};
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT u.n, c.state FROM unnest($1::text[]) WITH ORDINALITY AS u (n, i)"
                          " LEFT JOIN certificate c ON c.device_number = u.n"
                          " WHERE CASE WHEN $2::boolean THEN c.state IS DISTINCT FROM 'failed'"
                          " ELSE c.state IS NOT NULL END ORDER BY u.i LIMIT 1",
                          2, check_values, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        const char *number = PQgetvalue(res, 0, 0), *state = cl_pg_get_text(res, 0, 1);
        if (!replacement) {
            cl_err_set(err, errlen,
                       "request %s: device number %s already holds a certificate (%s); device "
                       "numbers are never reused",
                       request_id, number, state);
            rc = CL_ERR_EXISTS;
        } else if (state[0] == '\0') {
            cl_err_set(err, errlen, "request %s: device number %s holds no certificate to replace",
                       request_id, number);
            rc = CL_ERR_NOT_FOUND;
        } else {
            cl_err_set(err, errlen,
                       "request %s: device number %s is %s, not failed: only a failed certificate "
                       "is replaced",
                       request_id, number, state);
            rc = CL_ERR_STATE;
        }
        PQclear(res);
        goto fail;
    }
    PQclear(res);
    rc = cl_pg_commit(store->db, err, errlen);
fail:
    if (rc != CL_OK)
        cl_pg_rollback(store->db);
out:
    free(list);
    return rc;
}

int ct_store_fetch_pending(struct ct_store *store, struct ct_pending_fetch **pending, size_t *count)
{
    char err[384];
    PGresult *res;
    size_t requests = 0, at;
    int rc, n;

    if (pending != NULL)
        *pending = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || pending == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT r.request_id, r.replacement, f.device_number"
                          " FROM fetch_request r JOIN fetch_item f USING (request_id)"
                          " WHERE r.state = 'pending' ORDER BY r.seq, f.position",
                          0, NULL, err, sizeof(err))) != CL_OK)
        return logged(rc, "listing pending requests", err);
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, i - 1, 0)) != 0)
            requests++;
    *pending = calloc(requests > 0 ? requests : 1, sizeof(**pending));
    if (*pending == NULL) {
        PQclear(res);
        return CL_ERR_NOMEM;
    }
    at = 0;
    for (int i = 0; i < n;) {
        struct ct_pending_fetch *p = &(*pending)[at];
        int first = i;
        while (i < n && strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, first, 0)) == 0)
            i++;
        cl_copy_text(p->request_id, sizeof(p->request_id), PQgetvalue(res, first, 0));
        p->replacement = cl_pg_get_bool(res, first, 1);
        p->count = (size_t)(i - first);
        p->numbers = calloc(p->count, sizeof(*p->numbers));
        if (p->numbers == NULL) {
            ct_pending_fetch_free(*pending, at);
            *pending = NULL;
            PQclear(res);
            return CL_ERR_NOMEM;
        }
        for (int k = first; k < i; k++)
            cl_copy_text(p->numbers[k - first], sizeof(p->numbers[0]), PQgetvalue(res, k, 2));
        at++;
    }
    *count = requests;
    PQclear(res);
    return CL_OK;
}

void ct_pending_fetch_free(struct ct_pending_fetch *pending, size_t count)
{
    if (pending == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        free(pending[i].numbers);
    free(pending);
}

int ct_store_fetch_abandon(struct ct_store *store, const char *request_id, const char *reason,
                           const char *actor, char *err, size_t errlen)
{
    char why[RETRY_REASON_MAX + 1], detail[DETAIL_MAX + 1];
    const char *values[] = {request_id, why};
    PGresult *res;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen) || !actor_ok(actor, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    sanitize(why, sizeof(why), reason != NULL && reason[0] != '\0' ? reason : "abandoned");
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT state FROM fetch_request WHERE request_id = $1",
                          1, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) == 0 || strcmp(PQgetvalue(res, 0, 0), "pending") != 0) {
        if (PQntuples(res) == 0) {
            cl_err_set(err, errlen, "no request with id %s", request_id);
            rc = CL_ERR_NOT_FOUND;
        } else if (strcmp(PQgetvalue(res, 0, 0), "completed") == 0) {
            cl_err_set(err, errlen, "request %s is completed; it cannot be abandoned", request_id);
            rc = CL_ERR_STATE;
        }
        PQclear(res);
        return rc == CL_OK ? cl_pg_commit(store->db, err, errlen) : cl_pg_fail(store->db, rc);
    }
    PQclear(res);
    snprintf(detail, sizeof(detail), "request %s: %.400s", request_id, why);
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_request SET state = 'abandoned', ended_at = now(),"
                          " reason = $2 WHERE request_id = $1",
                          2, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_item SET pending = false WHERE request_id = $1", 1, values,
                          err, errlen)) != CL_OK ||
        (rc = audit_in_tx(store, actor, "fetch_abandon", detail, err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    cl_log_warn("request %s abandoned: %s", request_id, why);
    return CL_OK;
}

static int compare_items(const void *a, const void *b)
{
    const struct ct_pack_item *x = *(const struct ct_pack_item *const *)a;
    const struct ct_pack_item *y = *(const struct ct_pack_item *const *)b;
    return strcmp(x->device_number, y->device_number);
}

/* The answer holds exactly the request's numbers (in any order, each once). */
static int answer_matches(struct ct_store *store, const char *request_id,
                          const struct ct_pack_item *items, size_t count, char *err, size_t errlen)
{
    const char *values[] = {request_id};
    const struct ct_pack_item **sorted = malloc(count * sizeof(*sorted));
    PGresult *res;
    int rc;

    if (sorted == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = &items[i];
    qsort(sorted, count, sizeof(*sorted), compare_items);
    rc = cl_pg_query(store->db, &res,
                     "SELECT device_number FROM fetch_item WHERE request_id = $1"
                     " ORDER BY device_number COLLATE \"C\"",
                     1, values, err, errlen);
    if (rc == CL_OK) {
        size_t n = (size_t)PQntuples(res);
        if (n != count) {
            cl_err_set(err, errlen, "request %s named %zu device number(s); the answer has %zu",
                       request_id, n, count);
            rc = CL_ERR_CONFLICT;
        }
        /* A number the request did not name, then one named twice (with the counts equal,
         * nothing else can differ). */
        for (size_t i = 0; rc == CL_OK && i < count; i++) {
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(PQgetvalue(res, (int)mid, 0), sorted[i]->device_number);
                if (cmp == 0)
                    lo = hi = mid + 1;
                else if (cmp < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            if (lo == 0 || strcmp(PQgetvalue(res, (int)lo - 1, 0), sorted[i]->device_number) != 0) {
                cl_err_set(err, errlen,
                           "request %s: the answer has device number %s, which the request did not "
                           "name",
                           request_id, sorted[i]->device_number);
                rc = CL_ERR_CONFLICT;
            } else if (i > 0 &&
                       strcmp(sorted[i]->device_number, sorted[i - 1]->device_number) == 0) {
                cl_err_set(err, errlen, "request %s: the answer has device number %s twice",
                           request_id, sorted[i]->device_number);
                rc = CL_ERR_CONFLICT;
            }
        }
        PQclear(res);
    }
    free(sorted);
    return rc;
}

/* One field of every item, as a text[] in PostgreSQL's binary array format (what array_recv
 * reads: dimensions, element type, then each element's length and bytes), so that no value needs
 * quoting; *len gets its size. NULL if out of memory or too large for one parameter. */
static char *binary_text_array(const struct ct_pack_item *items, size_t count,
                               const char *(*field)(const struct ct_pack_item *), int *len)
{
    size_t total = 5 * 4, at = 0;
    unsigned char *out;

    for (size_t i = 0; i < count; i++)
        total += 4 + strlen(field(&items[i]));
    if (total > (size_t)INT_MAX || (out = malloc(total)) == NULL)
        return NULL;
    const uint32_t header[] = {1, 0, TEXT_OID, (uint32_t)count, 1}; /* ndim, no NULLs, type, */
    for (size_t k = 0; k < 5; k++)                                  /* length, lower bound */
        at = put_u32(out, at, header[k]);
    for (size_t i = 0; i < count; i++) {
        const char *text = field(&items[i]);
        size_t n = strlen(text);
        at = put_u32(out, at, (uint32_t)n);
        memcpy(out + at, text, n);
        at += n;
    }
    *len = (int)total;
    return (char *)out;
}

static const char *item_number(const struct ct_pack_item *item)
{
    return item->device_number;
}

static const char *item_serial(const struct ct_pack_item *item)
{
    return item->serial_hex;
}

static const char *item_pack(const struct ct_pack_item *item)
{
    return item->pack;
}

/* In the completing transaction: every pack of the answer in one statement. A plain request
 * inserts a certificate per number; a replacement turns each failed certificate into its
 * replacement (flag 0, no claim, new creation time). A number that cannot take its pack (it
 * holds a certificate already, or is no longer failed) is named and nothing is stored. */
static int store_packs(struct ct_store *store, const char *request_id, int replacement,
                       const struct ct_pack_item *items, size_t count, char *err, size_t errlen)
{
    char *arrays[3] = {NULL, NULL, NULL};
    int lengths[4] = {0, 0, 0, 0}, formats[4] = {1, 1, 1, 0};
    PGresult *res = NULL;
    int rc;

    arrays[0] = binary_text_array(items, count, item_number, &lengths[0]);
    arrays[1] = binary_text_array(items, count, item_serial, &lengths[1]);
    arrays[2] = binary_text_array(items, count, item_pack, &lengths[2]);
    const char *values[] = {arrays[0], arrays[1], arrays[2], request_id};
    if (arrays[0] == NULL || arrays[1] == NULL || arrays[2] == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    if (!replacement)
        rc = cl_pg_exec(store->db, &res,
                        "INSERT INTO certificate (device_number, model_code, serial, pack, state,"
                        " request_id) SELECT u.n, split_part(u.n, '-', 1), u.s, u.p, 'stored', $4"
                        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u (n, s, p)"
                        " ON CONFLICT (device_number) DO NOTHING",
                        4, values, lengths, formats, 0, err, errlen);
    else
        rc = cl_pg_exec(store->db, &res,
                        "UPDATE certificate c SET state = 'replaced', serial = u.s, pack = u.p,"
                        " pack_deleted_at = NULL, write_flag = 0, request_id = $4,"
                        " claimed_at = NULL, created_at = now(), delivered_at = NULL,"
                        " written_at = NULL"
                        " FROM unnest($1::text[], $2::text[], $3::text[]) AS u (n, s, p)"
                        " WHERE c.device_number = u.n AND c.state = 'failed'",
                        4, values, lengths, formats, 0, err, errlen);
    if (rc != CL_OK || cl_pg_affected(res) == count)
        goto out;
    /* Some number took no pack: the first one in the answer's order that is not this
     * request's now. */
    PQclear(res);
    res = NULL;
    const int name_formats[2] = {1, 0};
    const char *name_values[] = {arrays[0], request_id};
    if ((rc = cl_pg_exec(store->db, &res,
                         "SELECT u.n FROM unnest($1::text[]) WITH ORDINALITY AS u (n, i)"
                         " LEFT JOIN certificate c ON c.device_number = u.n"
                         " WHERE c.request_id IS DISTINCT FROM $2 ORDER BY u.i LIMIT 1",
                         2, name_values, lengths, name_formats, 0, err, errlen)) != CL_OK)
        goto out;
    const char *number = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "(unknown)";
    if (replacement) {
        cl_err_set(err, errlen, "request %s: device number %s is no longer failed", request_id,
                   number);
        rc = CL_ERR_STATE;
    } else {
        cl_err_set(err, errlen, "request %s: device number %s already holds a certificate",
                   request_id, number);
        rc = CL_ERR_CONFLICT;
    }
out:
    PQclear(res);
    for (size_t k = 0; k < 3; k++)
        free(arrays[k]);
    return rc;
}

int ct_store_fetch_complete(struct ct_store *store, const char *request_id,
                            const struct ct_pack_item *items, size_t count, char *err,
                            size_t errlen)
{
    const char *values[] = {request_id};
    PGresult *res;
    int rc, replacement;

    if (store == NULL || (items == NULL && count > 0)) {
        cl_err_set(err, errlen, "no store or packs");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (count < 1 || count > CT_FETCH_MAX) {
        cl_err_set(err, errlen, "request %s: an answer has 1 to %d packs, not %zu", request_id,
                   CT_FETCH_MAX, count);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++) {
        char buf[48];
        const struct ct_pack_item *item = &items[i];
        if (!device_number_ok(item->device_number))
            return number_refused(request_id, item->device_number, err, errlen);
        if (!cl_serial_ok(item->serial_hex)) {
            cl_err_set(
                err, errlen,
                "request %s: device number %s: serial \"%s\" is malformed (2 to 40 upper-case "
                "hex digits)",
                request_id, item->device_number, cl_shown(item->serial_hex, buf, sizeof(buf)));
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (!cl_utf8_ok(item->pack, 1, CT_PACK_MAX, 1)) {
            cl_err_set(err, errlen,
                       "request %s: device number %s: the pack must be 1 to %d bytes of UTF-8 text",
                       request_id, item->device_number, CT_PACK_MAX);
            return CL_ERR_INVALID_ARGUMENT;
        }
    }

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT state, replacement FROM fetch_request WHERE request_id = $1"
                          " FOR UPDATE",
                          1, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_err_set(err, errlen, "no request with id %s was recorded", request_id);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    if (strcmp(PQgetvalue(res, 0, 0), "completed") == 0) {
        PQclear(res);
        return cl_pg_commit(store->db, err, errlen); /* done before: nothing changes */
    }
    if (strcmp(PQgetvalue(res, 0, 0), "abandoned") == 0) {
        PQclear(res);
        cl_err_set(err, errlen, "request %s was abandoned; its answer is not stored", request_id);
        return cl_pg_fail(store->db, CL_ERR_STATE);
    }
    replacement = cl_pg_get_bool(res, 0, 1);
    PQclear(res);
    if ((rc = answer_matches(store, request_id, items, count, err, errlen)) != CL_OK ||
        (rc = store_packs(store, request_id, replacement, items, count, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_request SET state = 'completed', ended_at = now()"
                          " WHERE request_id = $1",
                          1, values, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, NULL,
                          "UPDATE fetch_item SET pending = false WHERE request_id = $1", 1, values,
                          err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    cl_log_info("request %s: %zu %spack(s) stored", request_id, count,
                replacement ? "replacement " : "");
    return CL_OK;
}

/* ---- the line service [S5-S12] ---- */

/* Why a device number has no certificate row (CL_ERR_NOT_FOUND, or the database failure). */
static int not_in_store(struct ct_store *store, const char *number, char *err, size_t errlen)
{
    const char *values[] = {number};
    PGresult *res;
    int rc =
        cl_pg_query(store->db, &res,
                    "SELECT (SELECT certificate_managed FROM model"
                    "  WHERE code = split_part($1, '-', 1)),"
                    " (SELECT day::text FROM plan_device WHERE device_number = $1),"
                    " (SELECT request_id FROM fetch_item WHERE device_number = $1 AND pending)",
                    1, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (PQgetisnull(res, 0, 0))
        cl_err_set(err, errlen, "%s is not in store: device model %.*s is not registered", number,
                   (int)strcspn(number, "-"), number);
    else if (!cl_pg_get_bool(res, 0, 0))
        cl_err_set(err, errlen, "%s is not in store: device model %.*s is not certificate-managed",
                   number, (int)strcspn(number, "-"), number);
    else if (!PQgetisnull(res, 0, 2))
        cl_err_set(err, errlen, "%s is not in store yet: its certificate is requested (request %s)",
                   number, PQgetvalue(res, 0, 2));
    else if (!PQgetisnull(res, 0, 1))
        cl_err_set(err, errlen,
                   "%s is not in store: planned for %s, its certificate is not fetched", number,
                   PQgetvalue(res, 0, 1));
    else
        cl_err_set(err, errlen, "%s is not in store (not in the production plan)", number);
    PQclear(res);
    return CL_ERR_NOT_FOUND;
}

/* Columns of the row a line operation locks. */
enum { ROW_STATE, ROW_SERIAL, ROW_LINE, ROW_CLAIMED, ROW_PACK_HELD, ROW_ACTIVE };

/* Locks the certificate row of number (FOR UPDATE) inside the caller's transaction: *res holds
 * state, serial, claiming line, whether claimed, whether the pack is held, and whether the
 * claim is younger than claim_seconds. CL_ERR_NOT_FOUND (err says why) when there is none. */
static int lock_row(struct ct_store *store, const char *number, int claim_seconds, PGresult **res,
                    char *err, size_t errlen)
{
    char seconds[16];
    const char *values[] = {number, seconds};
    int rc;

    snprintf(seconds, sizeof(seconds), "%d", claim_seconds);
    rc = cl_pg_query(store->db, res,
                     "SELECT state, serial, coalesce(claimed_by_line, ''), claimed_at IS NOT NULL,"
                     " pack IS NOT NULL,"
                     " coalesce(claimed_at > now() - make_interval(secs => $2::int), false)"
                     " FROM certificate WHERE device_number = $1 FOR UPDATE",
                     2, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (PQntuples(*res) == 1)
        return CL_OK;
    PQclear(*res);
    *res = NULL;
    return not_in_store(store, number, err, errlen);
}

/* CL_OK if line holds the claim of the locked row, else CL_ERR_CONFLICT saying who does. */
static int claim_held(const PGresult *res, const char *number, const char *line_id, char *err,
                      size_t errlen)
{
    const char *holder = cl_pg_get_text(res, 0, ROW_LINE);
    if (cl_pg_get_bool(res, 0, ROW_CLAIMED) && strcmp(holder, line_id) == 0)
        return CL_OK;
    if (cl_pg_get_bool(res, 0, ROW_CLAIMED))
        cl_err_set(err, errlen, "%s is claimed by line %s, not line %s", number, holder, line_id);
    else
        cl_err_set(err, errlen, "%s is not claimed by line %s: ask for its pack first", number,
                   line_id);
    return CL_ERR_CONFLICT;
}

int ct_store_claim(struct ct_store *store, const char *device_number, const char *line_id,
                   int claim_seconds, char **pack, char serial_hex[CT_SERIAL_HEX_MAX + 1],
                   char *err, size_t errlen)
{
    const char *values[] = {device_number, line_id};
    PGresult *res = NULL, *packed = NULL;
    const char *state;
    int rc;

    if (pack != NULL)
        *pack = NULL;
    if (serial_hex != NULL)
        serial_hex[0] = '\0';
    if (store == NULL || pack == NULL || serial_hex == NULL) {
        cl_err_set(err, errlen, "no store or result");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!device_number_ok(device_number))
        return number_refused("certificate request", device_number, err, errlen);
    if (!cl_token_ok(line_id, CT_LINE_ID_MAX))
        return line_refused(device_number, line_id, err, errlen);
    if (claim_seconds < 0 || claim_seconds > CLAIM_SECONDS_MAX) {
        cl_err_set(err, errlen, "claim time %d s is not 0..%d", claim_seconds, CLAIM_SECONDS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = lock_row(store, device_number, claim_seconds, &res, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    state = cl_pg_get_text(res, 0, ROW_STATE);
    if (strcmp(state, "written") == 0) {
        cl_err_set(err, errlen, "%s is already written (serial %s, line %s)", device_number,
                   cl_pg_get_text(res, 0, ROW_SERIAL), cl_pg_get_text(res, 0, ROW_LINE));
        rc = CL_ERR_STATE;
    } else if (strcmp(state, "failed") == 0) {
        cl_err_set(err, errlen, "%s failed on line %s and has no replacement yet", device_number,
                   cl_pg_get_text(res, 0, ROW_LINE));
        rc = CL_ERR_STATE;
    } else if (!cl_pg_get_bool(res, 0, ROW_PACK_HELD)) {
        cl_err_set(err, errlen, "the pack of %s was deleted", device_number);
        rc = CL_ERR_STATE;
    } else if (cl_pg_get_bool(res, 0, ROW_ACTIVE) &&
               strcmp(cl_pg_get_text(res, 0, ROW_LINE), line_id) != 0) {
        cl_err_set(err, errlen, "%s is being served to line %s", device_number,
                   cl_pg_get_text(res, 0, ROW_LINE));
        rc = CL_ERR_CONFLICT;
    }
    PQclear(res);
    if (rc != CL_OK)
        return cl_pg_fail(store->db, rc);
    if ((rc = cl_pg_query(store->db, &packed,
                          "UPDATE certificate SET claimed_by_line = $2, claimed_at = now()"
                          " WHERE device_number = $1 RETURNING pack, serial",
                          2, values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if ((*pack = strdup(cl_pg_get_text(packed, 0, 0))) == NULL) {
        PQclear(packed);
        cl_err_set(err, errlen, "out of memory");
        return cl_pg_fail(store->db, CL_ERR_NOMEM);
    }
    cl_copy_text(serial_hex, CT_SERIAL_HEX_MAX + 1, cl_pg_get_text(packed, 0, 1));
    PQclear(packed);
    if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK) {
        free(*pack);
        *pack = NULL;
        serial_hex[0] = '\0';
        return cl_pg_fail(store->db, rc);
    }
    return CL_OK;
}

int ct_store_awaits_replacement(struct ct_store *store, const char *device_number)
{
    const char *values[] = {device_number};
    PGresult *res = NULL;
    char err[256];
    int waits;

    if (store == NULL || !device_number_ok(device_number))
        return 0;
    if (cl_pg_query(store->db, &res,
                    "SELECT 1 FROM certificate WHERE device_number = $1 AND state = 'failed'", 1,
                    values, err, sizeof(err)) != CL_OK)
        return 0;
    waits = PQntuples(res) == 1;
    PQclear(res);
    return waits;
}

int ct_store_delivered(struct ct_store *store, const char *device_number, const char *line_id,
                       char *err, size_t errlen)
{
    const char *values[] = {device_number};
    PGresult *res;
    const char *state;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!device_number_ok(device_number))
        return number_refused("reception notice", device_number, err, errlen);
    if (!cl_token_ok(line_id, CT_LINE_ID_MAX))
        return line_refused(device_number, line_id, err, errlen);
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = lock_row(store, device_number, 0, &res, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    state = cl_pg_get_text(res, 0, ROW_STATE);
    if (strcmp(state, "written") == 0 || strcmp(state, "failed") == 0) {
        cl_err_set(err, errlen, "%s is %s: a reception cannot be recorded", device_number, state);
        rc = CL_ERR_STATE;
    } else {
        rc = claim_held(res, device_number, line_id, err, errlen);
    }
    PQclear(res);
    /* The device has its pack and is writing it: the claim is renewed. */
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET state = 'delivered', claimed_at = now(),"
                         " delivered_at = coalesce(delivered_at, now()) WHERE device_number = $1",
                         1, values, err, errlen);
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    return rc == CL_OK ? CL_OK : cl_pg_fail(store->db, rc);
}

int ct_store_written(struct ct_store *store, const char *device_number, const char *line_id,
                     const char *serial_hex, const char *proof, time_t written_at, char *err,
                     size_t errlen)
{
    char value[CT_VERIFY_HEX + 1], when[24], buf[48];
    const char *values[] = {device_number, serial_hex, value, when};
    PGresult *res;
    const char *state, *serial;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!device_number_ok(device_number))
        return number_refused("write result", device_number, err, errlen);
    if (!cl_token_ok(line_id, CT_LINE_ID_MAX))
        return line_refused(device_number, line_id, err, errlen);
    if (!cl_serial_ok(serial_hex)) {
        cl_err_set(err, errlen, "%s: serial \"%s\" is malformed (2 to 40 upper-case hex digits)",
                   device_number, cl_shown(serial_hex, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_verify_value_ok(proof, value)) {
        cl_err_set(err, errlen, "%s: the installation proof must be %d hex digits", device_number,
                   CT_VERIFY_HEX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (written_at <= 0) {
        cl_err_set(err, errlen, "%s: no write time", device_number);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(when, sizeof(when), "%lld", (long long)written_at);
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = lock_row(store, device_number, 0, &res, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    state = cl_pg_get_text(res, 0, ROW_STATE);
    serial = cl_pg_get_text(res, 0, ROW_SERIAL);
    if (strcmp(state, "written") == 0) {
        /* A repeated S11 (the answer was lost): the same serial from the same line is fine. */
        if (strcmp(serial, serial_hex) != 0 ||
            strcmp(cl_pg_get_text(res, 0, ROW_LINE), line_id) != 0) {
            cl_err_set(err, errlen, "%s is already written (serial %s, line %s)", device_number,
                       serial, cl_pg_get_text(res, 0, ROW_LINE));
            rc = CL_ERR_CONFLICT;
        }
        PQclear(res);
        return rc == CL_OK ? cl_pg_commit(store->db, err, errlen) : cl_pg_fail(store->db, rc);
    }
    if (strcmp(state, "failed") == 0) {
        cl_err_set(err, errlen,
                   "%s failed (serial %s): its write cannot be recorded; ask for the "
                   "replacement",
                   device_number, serial);
        rc = CL_ERR_STATE;
    } else if ((rc = claim_held(res, device_number, line_id, err, errlen)) == CL_OK &&
               strcmp(serial, serial_hex) != 0) {
        cl_err_set(err, errlen,
                   "line %s reports serial %s written on %s, but its pack is serial %s", line_id,
                   serial_hex, device_number, serial);
        rc = CL_ERR_CONFLICT;
    }
    PQclear(res);
    if (rc == CL_OK) {
        const char *update_values[] = {device_number, when};
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET state = 'written', write_flag = 1,"
                         " written_at = to_timestamp($2::bigint) WHERE device_number = $1",
                         2, update_values, err, errlen);
    }
    /* The installation report is queued in the same transaction: due at once. */
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, NULL,
                         "INSERT INTO report (device_number, serial, proof, written_at, state,"
                         " next_attempt) VALUES ($1, $2, $3, to_timestamp($4::bigint), 'queued',"
                         " least(now(), to_timestamp($4::bigint)))",
                         4, values, err, errlen);
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    return rc == CL_OK ? CL_OK : cl_pg_fail(store->db, rc);
}

int ct_store_failed(struct ct_store *store, const char *device_number, const char *line_id,
                    const char *reason, char *err, size_t errlen)
{
    const char *values[] = {device_number, line_id, reason != NULL ? reason : ""};
    PGresult *res;
    const char *state;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!device_number_ok(device_number))
        return number_refused("write result", device_number, err, errlen);
    if (!cl_token_ok(line_id, CT_LINE_ID_MAX))
        return line_refused(device_number, line_id, err, errlen);
    if (!cl_utf8_ok(values[2], 0, REASON_MAX, 1)) {
        cl_err_set(err, errlen, "%s: the failure reason must be at most %d bytes of UTF-8 text",
                   device_number, REASON_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = lock_row(store, device_number, 0, &res, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    state = cl_pg_get_text(res, 0, ROW_STATE);
    if (strcmp(state, "failed") == 0) {
        /* A repeated S11 NG from the line that reported it: already recorded. */
        if (strcmp(cl_pg_get_text(res, 0, ROW_LINE), line_id) != 0) {
            cl_err_set(err, errlen, "%s failed on line %s, not line %s", device_number,
                       cl_pg_get_text(res, 0, ROW_LINE), line_id);
            rc = CL_ERR_CONFLICT;
        }
        PQclear(res);
        return rc == CL_OK ? cl_pg_commit(store->db, err, errlen) : cl_pg_fail(store->db, rc);
    }
    if (strcmp(state, "written") == 0) {
        cl_err_set(err, errlen, "%s is already written (serial %s): a failure cannot be recorded",
                   device_number, cl_pg_get_text(res, 0, ROW_SERIAL));
        rc = CL_ERR_STATE;
    } else {
        rc = claim_held(res, device_number, line_id, err, errlen);
    }
    PQclear(res);
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, NULL,
                         "INSERT INTO failed_pack (device_number, serial, line_id, reason)"
                         " SELECT device_number, serial, $2, $3 FROM certificate"
                         " WHERE device_number = $1",
                         3, values, err, errlen);
    if (rc == CL_OK)
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET state = 'failed', failed_at = now(),"
                         " fail_reason = $3, claimed_at = NULL"
                         " WHERE device_number = $1 AND claimed_by_line = $2",
                         3, values, err, errlen);
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    if (rc != CL_OK)
        return cl_pg_fail(store->db, rc);
    cl_log_info("%s failed on line %s", device_number, line_id);
    return CL_OK;
}

/* ---- installation reports and receipts [seed 004] ---- */

int ct_store_reports_due(struct ct_store *store, time_t now, size_t limit,
                         struct ct_report **reports, size_t *count)
{
    char now_text[24], limit_text[24], err[384];
    const char *values[] = {now_text, limit_text};
    PGresult *res;
    int rc, n;

    if (reports != NULL)
        *reports = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || reports == NULL || count == NULL || limit < 1)
        return CL_ERR_INVALID_ARGUMENT;
    if (limit > LIST_MAX)
        limit = LIST_MAX;
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
    snprintf(limit_text, sizeof(limit_text), "%zu", limit);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT id, device_number, serial, proof,"
                          " floor(extract(epoch FROM written_at))::bigint, attempts FROM report"
                          " WHERE state = 'queued' AND next_attempt <= to_timestamp($1::bigint)"
                          " ORDER BY id LIMIT $2::bigint",
                          2, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "listing the installation reports due", err);
    if ((*reports = cl_pg_rows(res, sizeof(**reports), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        struct ct_report *r = &(*reports)[i];
        r->id = cl_pg_get_ll(res, i, 0);
        cl_copy_text(r->device_number, sizeof(r->device_number), cl_pg_get_text(res, i, 1));
        cl_copy_text(r->serial_hex, sizeof(r->serial_hex), cl_pg_get_text(res, i, 2));
        cl_copy_text(r->proof, sizeof(r->proof), cl_pg_get_text(res, i, 3));
        r->written_at = (time_t)cl_pg_get_ll(res, i, 4);
        r->attempts = (int)cl_pg_get_ll(res, i, 5);
    }
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}

int ct_store_receipt(struct ct_store *store, long long report_id, time_t received_at,
                     const char *signature_b64, const char *signer_pem, int delete_written)
{
    char id[24], when[24], err[384];
    const char *values[] = {id, when, signature_b64, signer_pem};
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (report_id < 1 || received_at <= 0 || !base64_ok(signature_b64, SIGNATURE_B64_MAX) ||
        !cl_utf8_ok(signer_pem, 1, SIGNER_PEM_MAX, 1)) {
        cl_log_warn("receipt for report %lld refused: report id, time, signature (base64, at "
                    "most %d) or signer certificate (PEM, at most %d bytes) malformed",
                    report_id, SIGNATURE_B64_MAX, SIGNER_PEM_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    snprintf(id, sizeof(id), "%lld", report_id);
    snprintf(when, sizeof(when), "%lld", (long long)received_at);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        return logged(rc, "storing a receipt", err);
    if ((rc = cl_pg_query(store->db, &res,
                          "SELECT state, device_number, serial FROM report WHERE id = $1::bigint"
                          " FOR UPDATE",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "storing a receipt", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_log_warn("receipt: no installation report %lld", report_id);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    if (strcmp(PQgetvalue(res, 0, 0), "done") == 0) {
        PQclear(res); /* held already: the first receipt stays */
        return logged(cl_pg_commit(store->db, err, sizeof(err)), "storing a receipt", err);
    }
    PQclear(res);
    rc = cl_pg_query(store->db, NULL,
                     "UPDATE report SET state = 'done', received_at = to_timestamp($2::bigint),"
                     " signature = $3, signer_pem = $4 WHERE id = $1::bigint",
                     4, values, err, sizeof(err));
    /* Effect 5: the written pack goes once its receipt is held. */
    if (rc == CL_OK && delete_written)
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate c SET pack = NULL, pack_deleted_at = now()"
                         " FROM report r WHERE r.id = $1::bigint AND c.device_number ="
                         " r.device_number AND c.serial = r.serial AND c.state = 'written'"
                         " AND c.pack IS NOT NULL",
                         1, values, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "storing a receipt", err);
    return CL_OK;
}

int ct_store_report_retry(struct ct_store *store, long long report_id, time_t next_attempt,
                          const char *reason)
{
    char id[24], when[24], why[RETRY_REASON_MAX + 1], err[384];
    const char *values[] = {id, when, why};
    PGresult *res;
    int rc;

    if (store == NULL || report_id < 1 || next_attempt <= 0)
        return CL_ERR_INVALID_ARGUMENT;
    snprintf(id, sizeof(id), "%lld", report_id);
    snprintf(when, sizeof(when), "%lld", (long long)next_attempt);
    sanitize(why, sizeof(why), reason != NULL && reason[0] != '\0' ? reason : "no reason given");
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "UPDATE report SET attempts = attempts + 1,"
                          " next_attempt = to_timestamp($2::bigint), last_error = $3"
                          " WHERE id = $1::bigint AND state = 'queued' RETURNING id",
                          3, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "recording a report attempt", err);
    int updated = PQntuples(res);
    PQclear(res);
    if (updated == 0) {
        if ((rc = cl_pg_query(store->db, &res, "SELECT state FROM report WHERE id = $1::bigint", 1,
                              values, err, sizeof(err))) != CL_OK)
            return logged(cl_pg_fail(store->db, rc), "recording a report attempt", err);
        rc = PQntuples(res) == 0 ? CL_ERR_NOT_FOUND : CL_ERR_STATE;
        PQclear(res);
        cl_log_warn("report %lld: %s", report_id,
                    rc == CL_ERR_NOT_FOUND ? "no such report" : "its receipt is held already");
        return cl_pg_fail(store->db, rc);
    }
    if ((rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "recording a report attempt", err);
    return CL_OK;
}

/* ---- operators [FIG 14] and audit ---- */

/* PBKDF2-HMAC-SHA256 of password (len bytes). */
static int password_hash(const char *password, size_t len, const unsigned char salt[SALT_LEN],
                         unsigned iterations, unsigned char out[HASH_LEN])
{
    mbedtls_md_context_t md;
    int ret;

    mbedtls_md_init(&md);
    ret = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (ret == 0)
        ret = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)password, len, salt, SALT_LEN,
                                        iterations, HASH_LEN, out);
    mbedtls_md_free(&md);
    return ret == 0 ? CL_OK : CL_ERR_CRYPTO;
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
    if (!actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("operator %s: %s", operator_id, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_random_bytes(salt, sizeof(salt))) != CL_OK ||
        (rc = password_hash(password, plen, salt, PBKDF2_ITERATIONS, hash)) != CL_OK) {
        cl_log_error("operator %s: the password could not be hashed", operator_id);
        return rc;
    }
    snprintf(iterations, sizeof(iterations), "%d", PBKDF2_ITERATIONS);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        goto out;
    rc = cl_pg_exec(store->db, &res,
                    replace ? "INSERT INTO operator (operator_id, salt, iterations, hash)"
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
    if (PQntuples(res) == 0) {
        PQclear(res);
        cl_log_warn("operator %s already exists", operator_id);
        rc = CL_ERR_EXISTS;
        goto out;
    }
    snprintf(detail, sizeof(detail), "operator %s: %s", operator_id,
             cl_pg_get_bool(res, 0, 0) ? "password replaced" : "added");
    PQclear(res);
    if ((rc = audit_in_tx(store, actor, "operator_set", detail, err, sizeof(err))) == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
out:
    mbedtls_platform_zeroize(hash, sizeof(hash));
    if (rc == CL_ERR_EXISTS)
        return cl_pg_fail(store->db, rc); /* logged above */
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "setting an operator", err);
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
    memset(expected, 0, sizeof(expected));
    if (operator_id_ok(operator_id)) {
        if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
            (rc = cl_pg_exec(store->db, &res,
                             "SELECT salt, iterations, hash FROM operator WHERE operator_id = $1",
                             1, values, NULL, NULL, 1, err, sizeof(err))) != CL_OK)
            return logged(rc, "checking an operator", err);
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
    rc = password_hash(password != NULL ? password : "", plen, salt, iterations, hash);
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
        return logged(rc, "counting operators", err);
    n = (long)cl_pg_get_ll(res, 0, 0);
    PQclear(res);
    return n;
}

int ct_store_audit(struct ct_store *store, const char *actor, const char *action,
                   const char *detail)
{
    char err[384], buf[48];
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (detail == NULL)
        detail = "";
    if (!actor_ok(actor, err, sizeof(err)) || !cl_token_ok(action, ACTION_MAX) ||
        !cl_text_ok(detail, 0, DETAIL_MAX)) {
        cl_log_warn("audit entry \"%s\" refused: actor (1 to %d), action (1 to %d) or detail (at "
                    "most %d bytes) malformed",
                    cl_shown(action, buf, sizeof(buf)), ACTOR_MAX, ACTION_MAX, DETAIL_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = audit_in_tx(store, actor, action, detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "writing the audit log", err);
    return CL_OK;
}

/* ---- what operators see [paragraph 0090] ---- */

int ct_store_status(struct ct_store *store, const char *day, struct ct_model_status **rows,
                    size_t *count)
{
    char from[24], to[24], err[384], buf[48];
    const char *values[] = {day, from, to};
    struct tm tm;
    time_t start, end;
    PGresult *res;
    int rc, n;

    if (rows != NULL)
        *rows = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || rows == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!day_ok(day, &tm)) {
        cl_log_warn("status: \"%s\" is not a date (YYYY-MM-DD)", cl_shown(day, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* The day in this process's local time, as the factory's clock says "today". */
    start = mktime(&tm);
    tm.tm_mday++;
    tm.tm_hour = 0;
    tm.tm_isdst = -1;
    end = mktime(&tm);
    snprintf(from, sizeof(from), "%lld", (long long)start);
    snprintf(to, sizeof(to), "%lld", (long long)end);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT m.code, m.certificate_managed,"
                          " (SELECT count(*) FROM certificate c WHERE c.model_code = m.code"
                          "  AND c.pack IS NOT NULL AND c.state <> 'written'),"
                          " (SELECT count(*) FROM certificate c WHERE c.model_code = m.code"
                          "  AND c.state = 'written' AND c.written_at >= to_timestamp($2::bigint)"
                          "  AND c.written_at < to_timestamp($3::bigint)),"
                          " (SELECT count(*) FROM plan_device p WHERE p.model_code = m.code"
                          "  AND p.day = $1::date AND NOT EXISTS (SELECT 1 FROM certificate c"
                          "  WHERE c.device_number = p.device_number AND c.state = 'written')),"
                          " (SELECT count(*) FROM certificate c WHERE c.model_code = m.code"
                          "  AND c.state = 'failed'),"
                          " (SELECT count(*) FROM report r JOIN certificate c"
                          "  ON c.device_number = r.device_number WHERE c.model_code = m.code"
                          "  AND r.state = 'queued')"
                          " FROM model m ORDER BY m.code COLLATE \"C\"",
                          3, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading the status", err);
    if ((*rows = cl_pg_rows(res, sizeof(**rows), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        struct ct_model_status *row = &(*rows)[i];
        cl_copy_text(row->model_code, sizeof(row->model_code), cl_pg_get_text(res, i, 0));
        row->certificate_managed = cl_pg_get_bool(res, i, 1);
        row->held = (long)cl_pg_get_ll(res, i, 2);
        row->used_today = (long)cl_pg_get_ll(res, i, 3);
        row->remaining = (long)cl_pg_get_ll(res, i, 4);
        row->failed = (long)cl_pg_get_ll(res, i, 5);
        row->awaiting_receipt = (long)cl_pg_get_ll(res, i, 6);
    }
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}

static int cert_state_ok(const char *state)
{
    static const char *const states[] = {"stored", "delivered", "written", "failed", "replaced"};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(state, states[i]) == 0)
            return 1;
    return 0;
}

int ct_store_cert_list(struct ct_store *store, const char *state, const char *model_code,
                       size_t limit, struct ct_cert_row **rows, size_t *count)
{
    char limit_text[24], err[384], buf[48];
    const char *values[] = {state != NULL ? state : "", model_code != NULL ? model_code : "",
                            limit_text};
    PGresult *res;
    int rc, n;

    if (rows != NULL)
        *rows = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || rows == NULL || count == NULL || limit < 1)
        return CL_ERR_INVALID_ARGUMENT;
    if (values[0][0] != '\0' && !cert_state_ok(values[0])) {
        cl_log_warn("certificate list: \"%s\" is not a state (stored, delivered, written, failed, "
                    "replaced)",
                    cl_shown(values[0], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (values[1][0] != '\0' && !cl_model_code_ok(values[1])) {
        cl_log_warn("certificate list: device model \"%s\" is malformed",
                    cl_shown(values[1], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (limit > LIST_MAX)
        limit = LIST_MAX;
    snprintf(limit_text, sizeof(limit_text), "%zu", limit);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT device_number, model_code, state, write_flag, pack IS NOT NULL,"
                          " coalesce(claimed_by_line, ''), serial,"
                          " floor(extract(epoch FROM created_at))::bigint,"
                          " floor(extract(epoch FROM delivered_at))::bigint,"
                          " floor(extract(epoch FROM written_at))::bigint"
                          " FROM certificate WHERE ($1 = '' OR state = $1)"
                          " AND ($2 = '' OR model_code = $2)"
                          " ORDER BY " NUMBER_ORDER("device_number") " LIMIT $3::bigint",
                          3, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "listing certificates", err);
    if ((*rows = cl_pg_rows(res, sizeof(**rows), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        struct ct_cert_row *row = &(*rows)[i];
        cl_copy_text(row->device_number, sizeof(row->device_number), cl_pg_get_text(res, i, 0));
        cl_copy_text(row->model_code, sizeof(row->model_code), cl_pg_get_text(res, i, 1));
        cl_copy_text(row->state, sizeof(row->state), cl_pg_get_text(res, i, 2));
        row->write_flag = (int)cl_pg_get_ll(res, i, 3);
        row->pack_held = cl_pg_get_bool(res, i, 4);
        cl_copy_text(row->line_id, sizeof(row->line_id), cl_pg_get_text(res, i, 5));
        cl_copy_text(row->serial_hex, sizeof(row->serial_hex), cl_pg_get_text(res, i, 6));
        row->created_at = (time_t)cl_pg_get_ll(res, i, 7);
        row->delivered_at = (time_t)cl_pg_get_ll(res, i, 8);
        row->written_at = (time_t)cl_pg_get_ll(res, i, 9);
    }
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}

int ct_store_delete_model_packs(struct ct_store *store, const char *model_code, const char *actor,
                                size_t *deleted)
{
    const char *values[] = {model_code};
    char err[384], buf[48], detail[128];
    PGresult *res;
    size_t n;
    int rc;

    if (deleted != NULL)
        *deleted = 0;
    if (store == NULL || deleted == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_model_code_ok(model_code)) {
        cl_log_warn("deleting packs: device model code \"%s\" is malformed",
                    cl_shown(model_code, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("deleting the packs of %s: %s", model_code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res, "SELECT 1 FROM model WHERE code = $1", 1, values, err,
                          sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "deleting a model's packs", err);
    int known = PQntuples(res) == 1;
    PQclear(res);
    if (!known) {
        cl_log_warn("deleting packs: device model %s is not registered", model_code);
        return cl_pg_fail(store->db, CL_ERR_NOT_FOUND);
    }
    if ((rc = cl_pg_query(store->db, &res,
                          "UPDATE certificate SET pack = NULL, pack_deleted_at = now()"
                          " WHERE model_code = $1 AND pack IS NOT NULL",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "deleting a model's packs", err);
    n = cl_pg_affected(res);
    PQclear(res);
    snprintf(detail, sizeof(detail), "device model %s: %zu pack(s) deleted", model_code, n);
    if ((rc = audit_in_tx(store, actor, "delete_model_packs", detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "deleting a model's packs", err);
    *deleted = n;
    cl_log_info("%s", detail);
    return CL_OK;
}
