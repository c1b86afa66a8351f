/* store.c: ca-server's state in PostgreSQL (see store.h): the schema and its migrations, device
 * models, FIG 21 batches (intent before signing, packs after), installation proofs, revocation,
 * service certificates and the audit log. The only file of ca-server that includes libpq-fe.h.
 *
 * A store is one connection (common/pg_db.h), used by one thread at a time: ca-server opens one
 * per worker thread. Every value goes to the server as a parameter (PQexecParams); the only SQL
 * text is constant. Every multi-step operation is one transaction (ROLLBACK on any error) and a
 * function returns success only after its COMMIT. The database enforces the invariants itself
 * (checks, foreign keys, and a partial unique index: at most one intent/issued/installed
 * certificate per device number), so two connections racing for one device number cannot both win:
 * the loser gets a unique violation (SQLSTATE 23505), which becomes CL_ERR_CONFLICT. Calls with one
 * request id are serialised by a transaction-level advisory lock on that id. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "error.h"
#include "input_check.h"
#include "log.h"
#include "pg_array.h"
#include "pg_db.h"
#include "x509_issue.h"

/* Bounds of the inputs that store.h leaves open. */
#define REQUEST_ID_MAX 64   /* struct ca_cert_row.request_id */
#define ACTOR_MAX 64        /* struct ca_audit_row.actor; requester too */
#define ACTION_MAX 64       /* struct ca_audit_row.action */
#define DETAIL_MAX 512      /* struct ca_audit_row.detail */
#define REASON_MAX 256      /* struct ca_cert_row.reason */
#define KEY_ID_MAX 64       /* struct ca_model.key_id */
#define ROLE_MAX 32         /* service certificate role */
#define SERVICE_NAME_MAX 64 /* service certificate name (CL_PEER_NAME_MAX) */
#define NUMBER_MAX 32       /* service certificate number (CL_PEER_NUMBER_MAX) */
#define CERT_DER_MAX 65536  /* one device certificate, DER */
#define PACK_MAX 65536      /* one certificate pack (twice CL_PACK_MAX_BYTES) */
#define SERIAL_TRIES 8      /* fresh serials tried when one collides */

/* Advisory lock keys (first of the two int4 keys): migrations, and one request id. */
#define LOCK_MIGRATE 0x43530001
#define LOCK_REQUEST 0x43530002

#define VALID_STATES "('intent', 'issued', 'installed')"

struct ca_store {
    struct cl_pg *db;
    int (*serial_source)(char serial_hex[CA_SERIAL_HEX_MAX + 1]);
};

/* ---- migrations ---- */

static const char *const migration_1[] = {
    "CREATE TABLE device_model ("
    " code text PRIMARY KEY CHECK (code ~ '^[0-9A-Z]{1,8}$'),"
    " key_type text NOT NULL CHECK (key_type IN ('p256', 'rsa2048', 'rsa3072')),"
    " certificate_managed boolean NOT NULL,"
    " key_id text NOT NULL UNIQUE CHECK (octet_length(key_id) BETWEEN 1 AND 64),"
    " created_at timestamptz NOT NULL DEFAULT now())",

    "CREATE TABLE batch_request ("
    " request_id text PRIMARY KEY CHECK (octet_length(request_id) BETWEEN 1 AND 64),"
    " body_hash bytea NOT NULL CHECK (octet_length(body_hash) = 32),"
    " replacement boolean NOT NULL,"
    " requester text NOT NULL CHECK (octet_length(requester) BETWEEN 1 AND 64),"
    " item_count integer NOT NULL CHECK (item_count > 0),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " completed_at timestamptz)",

    "CREATE TABLE certificate ("
    " serial text PRIMARY KEY CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,"
    " device_number text NOT NULL CHECK (device_number ~ '^[0-9A-Z]{1,8}-[0-9]{1,12}$'),"
    " model_code text NOT NULL REFERENCES device_model (code),"
    " state text NOT NULL"
    "  CHECK (state IN ('intent', 'issued', 'installed', 'superseded', 'revoked')),"
    " request_id text REFERENCES batch_request (request_id),"
    " cert_der bytea,"
    " pack text,"
    " server_value text CHECK (server_value ~ '^[0-9a-f]{64}$'),"
    " created_at timestamptz NOT NULL DEFAULT now(),"
    " issued_at timestamptz,"
    " installed_at timestamptz,"
    " ended_at timestamptz,"
    " reason text CHECK (octet_length(reason) <= 256),"
    " superseded_by text REFERENCES certificate (serial),"
    " CONSTRAINT certificate_number_of_model"
    "  CHECK (split_part(device_number, '-', 1) = model_code),"
    " CONSTRAINT certificate_issued_complete CHECK (state NOT IN ('issued', 'installed')"
    "  OR (cert_der IS NOT NULL AND pack IS NOT NULL AND server_value IS NOT NULL"
    "      AND issued_at IS NOT NULL)),"
    " CONSTRAINT certificate_installed_at"
    "  CHECK (state <> 'installed' OR installed_at IS NOT NULL),"
    " CONSTRAINT certificate_ended_at"
    "  CHECK (state NOT IN ('superseded', 'revoked') OR ended_at IS NOT NULL),"
    " CONSTRAINT certificate_superseded_by"
    "  CHECK (superseded_by IS NULL OR state = 'superseded'))",

    /* At most one valid certificate per device number, whoever writes. */
    "CREATE UNIQUE INDEX certificate_one_valid_per_device ON certificate (device_number)"
    " WHERE state IN ('intent', 'issued', 'installed')",
    "CREATE INDEX certificate_device_number ON certificate (device_number)",
    "CREATE INDEX certificate_model_code ON certificate (model_code)",
    "CREATE INDEX certificate_request_id ON certificate (request_id)",

    "CREATE TABLE batch_item ("
    " request_id text NOT NULL REFERENCES batch_request (request_id),"
    " position integer NOT NULL CHECK (position >= 0),"
    " device_number text NOT NULL,"
    " serial text NOT NULL UNIQUE REFERENCES certificate (serial),"
    " PRIMARY KEY (request_id, position),"
    " UNIQUE (request_id, device_number))",

    "CREATE TABLE service_certificate ("
    " serial text PRIMARY KEY CHECK (serial ~ '^([0-9A-F]{2}){1,20}$'),"
    " role text NOT NULL CHECK (octet_length(role) BETWEEN 1 AND 32),"
    " name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 64),"
    " number text NOT NULL DEFAULT '' CHECK (octet_length(number) <= 32),"
    " issued_at timestamptz NOT NULL DEFAULT now(),"
    " actor text NOT NULL)",

    "CREATE TABLE audit_log ("
    " id bigserial PRIMARY KEY,"
    " at timestamptz NOT NULL DEFAULT now(),"
    " actor text NOT NULL CHECK (octet_length(actor) <= 64),"
    " action text NOT NULL CHECK (octet_length(action) BETWEEN 1 AND 64),"
    " detail text NOT NULL DEFAULT '' CHECK (octet_length(detail) <= 512))",
    NULL,
};

/* Packs are sealed keys, base64 and PEM: compression gains little and costs CPU on every
 * completion, so they are stored out of line uncompressed. */
static const char *const migration_2[] = {
    "ALTER TABLE certificate ALTER COLUMN pack SET STORAGE EXTERNAL",
    NULL,
};

static const struct cl_pg_migration migrations[] = {
    {1, "initial schema", migration_1},
    {2, "packs stored uncompressed", migration_2},
};

static const struct cl_pg_schema schema = {"ca-server", LOCK_MIGRATE, migrations,
                                           sizeof(migrations) / sizeof(migrations[0])};

/* ---- errors and checks of outside values ---- */

/* CODE-SERIAL: [0-9A-Z]{1,8}-[0-9]{1,12}; *code_len gets the length of CODE. */
static int device_number_ok(const char *s, size_t *code_len)
{
    size_t n = 0, d = 0;
    if (s == NULL)
        return 0;
    while (n <= CA_MODEL_CODE_MAX && cl_is_upper_alnum(s[n]))
        n++;
    if (n == 0 || n > CA_MODEL_CODE_MAX || s[n] != '-')
        return 0;
    while (d <= 12 && s[n + 1 + d] >= '0' && s[n + 1 + d] <= '9')
        d++;
    if (d == 0 || d > 12 || s[n + 1 + d] != '\0')
        return 0;
    if (code_len != NULL)
        *code_len = n;
    return 1;
}

/* Compares n bytes in time that does not depend on where they differ. */
static int equal_const_time(const char *a, const char *b, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* For the functions that have no err: a database failure is logged here, once. */
static int logged(int rc, const char *what, const char *err)
{
    if (rc == CL_ERR_DB)
        cl_log_warn("%s: %s", what, err);
    return rc;
}

/* In the middle of a transaction: records one audit entry. */
static int audit_in_tx(struct ca_store *store, const char *actor, const char *action,
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

/* ---- connection ---- */

int ca_store_open(const char *conninfo, struct ca_store **out, char *err, size_t errlen)
{
    struct cl_pg *db;
    int rc;

    if (out == NULL) {
        cl_err_set(err, errlen, "no database conninfo");
        return CL_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    if ((rc = cl_pg_open(conninfo, "ca-server", &db, err, errlen)) != CL_OK)
        return rc;
    if ((*out = calloc(1, sizeof(**out))) == NULL) {
        cl_pg_close(db);
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    (*out)->db = db;
    (*out)->serial_source = cl_serial_random;
    return CL_OK;
}

void ca_store_close(struct ca_store *store)
{
    if (store == NULL)
        return;
    cl_pg_close(store->db);
    free(store);
}

void ca_store_set_serial_source(struct ca_store *store,
                                int (*source)(char serial_hex[CA_SERIAL_HEX_MAX + 1]))
{
    if (store != NULL)
        store->serial_source = source != NULL ? source : cl_serial_random;
}

/* ---- migrations ---- */

int ca_store_migrate(struct ca_store *store, int *applied, char *err, size_t errlen)
{
    return cl_pg_migrate(store != NULL ? store->db : NULL, &schema, applied, err, errlen);
}

/* ---- device models ---- */

#define MODEL_COLUMNS                                                                              \
    "code, key_type, certificate_managed, key_id, floor(extract(epoch FROM created_at))::bigint"

static void model_from_row(const PGresult *res, int row, struct ca_model *model)
{
    memset(model, 0, sizeof(*model));
    cl_copy_text(model->code, sizeof(model->code), cl_pg_get_text(res, row, 0));
    cl_copy_text(model->key_type, sizeof(model->key_type), cl_pg_get_text(res, row, 1));
    model->certificate_managed = cl_pg_get_bool(res, row, 2);
    cl_copy_text(model->key_id, sizeof(model->key_id), cl_pg_get_text(res, row, 3));
    model->created_at = (time_t)cl_pg_get_ll(res, row, 4);
}

int ca_store_model_add(struct ca_store *store, const struct ca_model *model, const char *actor)
{
    char err[384], buf[48], detail[256];
    const char *values[4];
    int rc;

    if (store == NULL || model == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (memchr(model->code, '\0', sizeof(model->code)) == NULL ||
        memchr(model->key_type, '\0', sizeof(model->key_type)) == NULL ||
        memchr(model->key_id, '\0', sizeof(model->key_id)) == NULL) {
        cl_log_warn("device model: code, key type or key id is not terminated");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_model_code_ok(model->code)) {
        cl_log_warn("device model code \"%s\" is malformed (1 to 8 of 0-9 A-Z)",
                    cl_shown(model->code, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(model->key_type, "p256") != 0 && strcmp(model->key_type, "rsa2048") != 0 &&
        strcmp(model->key_type, "rsa3072") != 0) {
        cl_log_warn("device model %s: key type \"%s\" is not p256, rsa2048 or rsa3072", model->code,
                    cl_shown(model->key_type, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_token_ok(model->key_id, KEY_ID_MAX)) {
        cl_log_warn("device model %s: key id \"%s\" must be 1 to %d printable characters",
                    model->code, cl_shown(model->key_id, buf, sizeof(buf)), KEY_ID_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("device model %s: %s", model->code, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    values[0] = model->code;
    values[1] = model->key_type;
    values[2] = model->certificate_managed ? "true" : "false";
    values[3] = model->key_id;
    snprintf(detail, sizeof(detail), "device model %s (%s, %scertificate-managed, key id %s)",
             model->code, model->key_type, model->certificate_managed ? "" : "not ", model->key_id);
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK)
        return logged(rc, "adding a device model", err);
    rc = cl_pg_query(store->db, NULL,
                     "INSERT INTO device_model (code, key_type, certificate_managed, key_id)"
                     " VALUES ($1, $2, $3::boolean, $4)",
                     4, values, err, sizeof(err));
    if (rc != CL_OK && cl_pg_unique_violation(store->db)) {
        cl_pg_rollback(store->db);
        if (cl_pg_constraint_is(store->db, "device_model_key_id_key"))
            cl_log_warn("key id %s is already used by another device model", model->key_id);
        else
            cl_log_warn("device model %s already exists", model->code);
        return CL_ERR_EXISTS;
    }
    if (rc == CL_OK)
        rc = audit_in_tx(store, actor, "model-add", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "adding a device model", err);
    return CL_OK;
}

int ca_store_model_get(struct ca_store *store, const char *code, struct ca_model *model)
{
    const char *values[] = {code};
    char err[384];
    PGresult *res;
    int rc;

    if (store == NULL || model == NULL || !cl_model_code_ok(code))
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " MODEL_COLUMNS " FROM device_model WHERE code = $1", 1, values,
                          err, sizeof(err))) != CL_OK)
        return logged(rc, "reading a device model", err);
    if (PQntuples(res) == 1)
        model_from_row(res, 0, model);
    else
        rc = CL_ERR_NOT_FOUND;
    PQclear(res);
    return rc;
}

int ca_store_model_list(struct ca_store *store, struct ca_model **models, size_t *count)
{
    char err[384];
    PGresult *res;
    int rc, n;

    if (models != NULL)
        *models = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || models == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " MODEL_COLUMNS " FROM device_model ORDER BY code COLLATE \"C\"",
                          0, NULL, err, sizeof(err))) != CL_OK)
        return logged(rc, "listing device models", err);
    if ((*models = cl_pg_rows(res, sizeof(**models), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        model_from_row(res, i, &(*models)[i]);
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}

/* ---- FIG 21 batches ---- */

struct sorted_number {
    const char *number;
    size_t index; /* position in the request */
};

static int compare_numbers(const void *a, const void *b)
{
    const struct sorted_number *x = a, *y = b;
    return strcmp(x->number, y->number);
}

/* Where number sits in the request (sorted holds the request sorted by number). */
static size_t request_index(const struct sorted_number *sorted, size_t count, const char *number)
{
    struct sorted_number key = {number, 0};
    const struct sorted_number *hit =
        bsearch(&key, sorted, count, sizeof(*sorted), compare_numbers);
    return hit != NULL ? hit->index : count;
}

static int request_id_ok(const char *request_id, char *err, size_t errlen)
{
    char buf[48];
    if (cl_token_ok(request_id, REQUEST_ID_MAX))
        return 1;
    cl_err_set(err, errlen, "request id \"%s\" must be 1 to %d printable characters",
               cl_shown(request_id, buf, sizeof(buf)), REQUEST_ID_MAX);
    return 0;
}

/* The request is known and its body matches: loads its items in request order. */
static int load_known(struct ca_store *store, const char *request_id,
                      const char *const *device_numbers, size_t count, int done,
                      struct ca_batch_item *items, char *err, size_t errlen)
{
    const char *values[] = {request_id};
    PGresult *res;
    int rc;

    rc = cl_pg_query(store->db, &res,
                     "SELECT b.device_number, b.serial, c.model_code, m.key_type, c.state, c.pack"
                     " FROM batch_item b JOIN certificate c ON c.serial = b.serial"
                     " JOIN device_model m ON m.code = c.model_code"
                     " WHERE b.request_id = $1 ORDER BY b.position",
                     1, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if ((size_t)PQntuples(res) != count) {
        cl_err_set(err, errlen, "request id %s was used with another body", request_id);
        PQclear(res);
        return CL_ERR_CONFLICT;
    }
    for (size_t i = 0; i < count && rc == CL_OK; i++) {
        struct ca_batch_item *item = &items[i];
        const char *state = cl_pg_get_text(res, (int)i, 4);
        if (strcmp(cl_pg_get_text(res, (int)i, 0), device_numbers[i]) != 0) {
            cl_err_set(err, errlen, "request id %s was used with another body", request_id);
            rc = CL_ERR_CONFLICT;
            break;
        }
        cl_copy_text(item->device_number, sizeof(item->device_number),
                     cl_pg_get_text(res, (int)i, 0));
        cl_copy_text(item->serial_hex, sizeof(item->serial_hex), cl_pg_get_text(res, (int)i, 1));
        cl_copy_text(item->model_code, sizeof(item->model_code), cl_pg_get_text(res, (int)i, 2));
        cl_copy_text(item->key_type, sizeof(item->key_type), cl_pg_get_text(res, (int)i, 3));
        if (!done && strcmp(state, "intent") != 0) {
            /* Revoked or replaced while the request waited for its signatures. */
            cl_err_set(err, errlen,
                       "device number %s: its intent (serial %s) of request id %s is now %s; "
                       "send a new request",
                       item->device_number, item->serial_hex, request_id, state);
            rc = CL_ERR_STATE;
        } else if (done) {
            if (PQgetisnull(res, (int)i, 5)) {
                cl_err_set(err, errlen, "device number %s: request id %s has no stored pack",
                           item->device_number, request_id);
                rc = CL_ERR_INTERNAL;
            } else if ((item->pack = strdup(PQgetvalue(res, (int)i, 5))) == NULL) {
                cl_err_set(err, errlen, "out of memory");
                rc = CL_ERR_NOMEM;
            }
        }
    }
    PQclear(res);
    return rc;
}

/* A model of the request, looked up once. */
struct model_seen {
    char code[CA_MODEL_CODE_MAX + 1];
    char key_type[16];
};

/* Checks that every number's model is known and certificate-managed; fills model and key type
 * of every item. */
static int check_models(struct ca_store *store, const char *const *device_numbers, size_t count,
                        struct ca_batch_item *items, char *err, size_t errlen)
{
    struct model_seen *seen = calloc(count, sizeof(*seen));
    size_t nseen = 0;
    int rc = CL_OK;

    if (seen == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count && rc == CL_OK; i++) {
        char code[CA_MODEL_CODE_MAX + 1];
        size_t m, code_len = 0;
        (void)device_number_ok(device_numbers[i], &code_len); /* checked before */
        memcpy(code, device_numbers[i], code_len);
        code[code_len] = '\0';
        m = 0;
        while (m < nseen && strcmp(seen[m].code, code) != 0)
            m++;
        if (m == nseen) {
            const char *values[] = {code};
            PGresult *res;
            rc = cl_pg_query(
                store->db, &res,
                "SELECT key_type, certificate_managed FROM device_model WHERE code = $1", 1, values,
                err, errlen);
            if (rc != CL_OK)
                break;
            if (PQntuples(res) == 0) {
                cl_err_set(err, errlen, "device number %s: unknown device model %s",
                           device_numbers[i], code);
                rc = CL_ERR_INVALID_ARGUMENT;
            } else if (!cl_pg_get_bool(res, 0, 1)) {
                cl_err_set(err, errlen,
                           "device number %s: device model %s is not certificate-managed",
                           device_numbers[i], code);
                rc = CL_ERR_INVALID_ARGUMENT;
            } else {
                cl_copy_text(seen[m].code, sizeof(seen[m].code), code);
                cl_copy_text(seen[m].key_type, sizeof(seen[m].key_type), cl_pg_get_text(res, 0, 0));
                nseen++;
            }
            PQclear(res);
            if (rc != CL_OK)
                break;
        }
        cl_copy_text(items[i].device_number, sizeof(items[i].device_number), device_numbers[i]);
        cl_copy_text(items[i].model_code, sizeof(items[i].model_code), seen[m].code);
        cl_copy_text(items[i].key_type, sizeof(items[i].key_type), seen[m].key_type);
    }
    free(seen);
    return rc;
}

/* Records one intent (certificate row and batch item), drawing serials until one is free (of
 * device and service certificates alike: one CA, one serial space). */
static int record_intent(struct ca_store *store, const char *request_id, size_t position,
                         struct ca_batch_item *item, char *err, size_t errlen)
{
    char pos[24];
    const char *values[] = {item->serial_hex, item->device_number, item->model_code, request_id,
                            pos};
    snprintf(pos, sizeof(pos), "%zu", position);
    for (int attempt = 0; attempt < SERIAL_TRIES; attempt++) {
        PGresult *res;
        int rc = store->serial_source(item->serial_hex);
        if (rc != CL_OK || !cl_serial_ok(item->serial_hex)) {
            cl_err_set(err, errlen, "device number %s: no serial number could be drawn",
                       item->device_number);
            return rc != CL_OK ? rc : CL_ERR_INTERNAL;
        }
        rc = cl_pg_query(store->db, &res,
                         "WITH c AS (INSERT INTO certificate"
                         " (serial, device_number, model_code, state, request_id)"
                         " SELECT $1, $2, $3, 'intent', $4"
                         " WHERE NOT EXISTS (SELECT 1 FROM service_certificate WHERE serial = $1)"
                         " ON CONFLICT (serial) DO NOTHING RETURNING serial)"
                         " INSERT INTO batch_item (request_id, position, device_number, serial)"
                         " SELECT $4, $5::int, $2, serial FROM c RETURNING serial",
                         5, values, err, errlen);
        if (rc != CL_OK)
            return rc;
        int inserted = PQntuples(res);
        PQclear(res);
        if (inserted == 1)
            return CL_OK;
        cl_log_info("serial %s is taken; drawing another for %s", item->serial_hex,
                    item->device_number);
    }
    cl_err_set(err, errlen, "device number %s: no free serial number after %d tries",
               item->device_number, SERIAL_TRIES);
    return CL_ERR_INTERNAL;
}

/* The valid certificate each number held when the request locked them ("" if none). */
typedef char serial_text[CA_SERIAL_HEX_MAX + 1];

/* After a unique violation on the one-valid-certificate index: the request's first number (in
 * request order) that a concurrent request gave a new valid certificate meanwhile, for the
 * message. Runs after the rollback. */
static void concurrent_holder(struct ca_store *store, const char *request_id,
                              const struct sorted_number *sorted, size_t count, const char *list,
                              const serial_text *old_serials, char *err, size_t errlen)
{
    const char *values[] = {list};
    PGresult *res;
    size_t first = count;
    int row = 0;

    cl_err_set(err, errlen,
               "a device number of request id %s was recorded by a concurrent request; send it "
               "again",
               request_id);
    if (cl_pg_query(store->db, &res,
                    "SELECT device_number, serial FROM certificate"
                    " WHERE device_number = ANY ($1::text[]) AND state IN " VALID_STATES,
                    1, values, NULL, 0) != CL_OK)
        return;
    for (int r = 0; r < PQntuples(res); r++) {
        size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
        if (at < first && strcmp(PQgetvalue(res, r, 1), old_serials[at]) != 0) {
            first = at;
            row = r;
        }
    }
    if (first < count)
        cl_err_set(err, errlen, "device number %s already holds a valid certificate (serial %s)",
                   PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
    PQclear(res);
}

/* Records the intents of the whole request (certificate rows and batch items, in number order)
 * in one statement. A number whose drawn serial was taken (by another certificate, a service
 * certificate, or the same draw twice in this request) then draws again on its own, by
 * record_intent. list is the request's numbers as an array literal. */
static int record_intents(struct ca_store *store, const char *request_id,
                          const struct sorted_number *sorted, size_t count, const char *list,
                          const serial_text *old_serials, struct ca_batch_item *items, char *err,
                          size_t errlen)
{
    struct cl_pg_array serials, numbers, models, positions;
    unsigned char *recorded = calloc(count, 1);
    PGresult *res = NULL;
    int rc = CL_OK;

    cl_pg_array_init(&serials);
    cl_pg_array_init(&numbers);
    cl_pg_array_init(&models);
    cl_pg_array_init(&positions);
    if (recorded == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t k = 0; k < count && rc == CL_OK; k++) {
        struct ca_batch_item *item = &items[sorted[k].index];
        rc = store->serial_source(item->serial_hex);
        if (rc != CL_OK || !cl_serial_ok(item->serial_hex)) {
            cl_err_set(err, errlen, "device number %s: no serial number could be drawn",
                       item->device_number);
            rc = rc != CL_OK ? rc : CL_ERR_INTERNAL;
            break;
        }
        cl_pg_array_add(&serials, item->serial_hex);
        cl_pg_array_add(&numbers, item->device_number);
        cl_pg_array_add(&models, item->model_code);
        cl_pg_array_add_size(&positions, sorted[k].index);
    }
    if (rc == CL_OK) {
        const char *values[] = {cl_pg_array_finish(&serials), cl_pg_array_finish(&numbers),
                                cl_pg_array_finish(&models), cl_pg_array_finish(&positions),
                                request_id};
        if (values[0] == NULL || values[1] == NULL || values[2] == NULL || values[3] == NULL) {
            cl_err_set(err, errlen, "out of memory");
            rc = CL_ERR_NOMEM;
        } else {
            rc = cl_pg_query(
                store->db, &res,
                "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[])"
                "  WITH ORDINALITY AS t(serial, device_number, model_code, position, ord)),"
                " c AS (INSERT INTO certificate"
                "  (serial, device_number, model_code, state, request_id)"
                "  SELECT i.serial, i.device_number, i.model_code, 'intent', $5 FROM input i"
                "  WHERE NOT EXISTS (SELECT 1 FROM service_certificate s WHERE s.serial = i.serial)"
                "  ORDER BY i.ord"
                "  ON CONFLICT (serial) DO NOTHING RETURNING serial, device_number)"
                " INSERT INTO batch_item (request_id, position, device_number, serial)"
                " SELECT $5, i.position, c.device_number, c.serial FROM c JOIN input i"
                "  ON i.serial = c.serial AND i.device_number = c.device_number"
                " RETURNING device_number",
                5, values, err, errlen);
        }
    }
    if (rc != CL_OK && cl_pg_unique_violation(store->db) &&
        cl_pg_constraint_is(store->db, "certificate_one_valid_per_device")) {
        cl_pg_rollback(store->db);
        concurrent_holder(store, request_id, sorted, count, list, old_serials, err, errlen);
        rc = CL_ERR_CONFLICT;
    }
    if (rc == CL_OK && (size_t)PQntuples(res) != count) {
        for (int r = 0; r < PQntuples(res); r++) {
            size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
            if (at < count)
                recorded[at] = 1;
        }
        for (size_t k = 0; k < count && rc == CL_OK; k++) {
            size_t i = sorted[k].index;
            if (recorded[i])
                continue;
            cl_log_info("serial %s is taken; drawing another for %s", items[i].serial_hex,
                        items[i].device_number);
            rc = record_intent(store, request_id, i, &items[i], err, errlen);
            if (rc != CL_OK && cl_pg_unique_violation(store->db) &&
                cl_pg_constraint_is(store->db, "certificate_one_valid_per_device")) {
                cl_pg_rollback(store->db);
                concurrent_holder(store, request_id, sorted, count, list, old_serials, err, errlen);
                rc = CL_ERR_CONFLICT;
            }
        }
    }
    PQclear(res);
    free(recorded);
    cl_pg_array_free(&serials);
    cl_pg_array_free(&numbers);
    cl_pg_array_free(&models);
    cl_pg_array_free(&positions);
    return rc;
}

/* The NEW path of batch_begin, inside its transaction. sorted is the request sorted by number. */
static int begin_new(struct ca_store *store, const char *request_id,
                     const unsigned char body_hash[32], int replacement, const char *requester,
                     const char *const *device_numbers, size_t count,
                     const struct sorted_number *sorted, struct ca_batch_item *items, char *err,
                     size_t errlen)
{
    char count_text[24], reason[REASON_MAX + 1], detail[DETAIL_MAX + 1], *list = NULL;
    serial_text *old_serials = NULL;
    PGresult *res = NULL;
    size_t used = 0;
    int rc;

    if ((rc = check_models(store, device_numbers, count, items, err, errlen)) != CL_OK)
        return rc;

    snprintf(count_text, sizeof(count_text), "%zu", count);
    {
        const char *values[] = {request_id, (const char *)body_hash, replacement ? "true" : "false",
                                requester, count_text};
        const int lengths[] = {0, 32, 0, 0, 0};
        const int formats[] = {0, 1, 0, 0, 0};
        rc = cl_pg_exec(store->db, NULL,
                        "INSERT INTO batch_request"
                        " (request_id, body_hash, replacement, requester, item_count)"
                        " VALUES ($1, $2, $3::boolean, $4, $5::int)",
                        5, values, lengths, formats, 0, err, errlen);
        if (rc != CL_OK && cl_pg_unique_violation(store->db)) {
            cl_err_set(err, errlen, "request id %s is in use by a concurrent request", request_id);
            return CL_ERR_CONFLICT;
        }
        if (rc != CL_OK)
            return rc;
    }

    /* The numbers' valid certificates, locked in number order (as every batch locks them, so
     * two batches never wait for each other in a circle). */
    list = malloc(count * (CA_DEVICE_NUMBER_MAX + 1) + 3);
    old_serials = calloc(count, sizeof(*old_serials));
    if (list == NULL || old_serials == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    list[used++] = '{';
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(sorted[i].number);
        if (i > 0)
            list[used++] = ',';
        memcpy(list + used, sorted[i].number, n); /* [0-9A-Z-] only: no quoting needed */
        used += n;
    }
    list[used++] = '}';
    list[used] = '\0';
    {
        const char *values[] = {list};
        rc = cl_pg_query(store->db, &res,
                         "SELECT device_number, serial, state FROM certificate"
                         " WHERE device_number = ANY ($1::text[]) AND state IN " VALID_STATES
                         " ORDER BY device_number COLLATE \"C\" FOR UPDATE",
                         1, values, err, errlen);
        if (rc != CL_OK)
            goto out;
    }
    if (PQntuples(res) > 0 && !replacement) {
        /* Name the first such number in request order. */
        size_t first = count;
        int row = 0;
        for (int r = 0; r < PQntuples(res); r++) {
            size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
            if (at < first) {
                first = at;
                row = r;
            }
        }
        cl_err_set(err, errlen, "device number %s already holds a valid certificate (serial %s)",
                   PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
        rc = CL_ERR_CONFLICT;
        goto out;
    }
    /* A replacement answers an NG write: a certificate already installed in a device is never
     * superseded by a batch (an operator revokes it instead). */
    for (int r = 0; r < PQntuples(res); r++) {
        if (strcmp(PQgetvalue(res, r, 2), "installed") == 0) {
            cl_err_set(err, errlen,
                       "device number %s holds an installed certificate (serial %s); a replacement "
                       "is only for one that was never installed",
                       PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            rc = CL_ERR_CONFLICT;
            goto out;
        }
    }
    snprintf(reason, sizeof(reason), "replaced (request id %s)", request_id);
    for (int r = 0; r < PQntuples(res); r++) {
        const char *values[] = {PQgetvalue(res, r, 1), reason};
        size_t at = request_index(sorted, count, PQgetvalue(res, r, 0));
        if (at < count)
            cl_copy_text(old_serials[at], sizeof(old_serials[at]), values[0]);
        rc =
            cl_pg_query(store->db, NULL,
                        "UPDATE certificate SET state = 'superseded', ended_at = now(), reason = $2"
                        " WHERE serial = $1",
                        2, values, err, errlen);
        if (rc != CL_OK)
            goto out;
    }

    /* The intents, in number order too. */
    if ((rc = record_intents(store, request_id, sorted, count, list, old_serials, items, err,
                             errlen)) != CL_OK)
        goto out;
    for (size_t i = 0; i < count; i++) {
        if (old_serials[i][0] == '\0')
            continue;
        const char *values[] = {old_serials[i], items[i].serial_hex};
        rc = cl_pg_query(store->db, NULL,
                         "UPDATE certificate SET superseded_by = $2 WHERE serial = $1", 2, values,
                         err, errlen);
        if (rc != CL_OK)
            goto out;
    }

    snprintf(detail, sizeof(detail), "request id %s: %zu device number(s)%s, first %s", request_id,
             count, replacement ? ", replacement" : "", device_numbers[0]);
    rc = audit_in_tx(store, requester, "batch", detail, err, errlen);
out:
    PQclear(res);
    free(list);
    free(old_serials);
    return rc;
}

int ca_store_batch_begin(struct ca_store *store, const char *request_id,
                         const unsigned char body_hash[32], int replacement, const char *requester,
                         const char *const *device_numbers, size_t count,
                         struct ca_batch_item *items, enum ca_batch_state *state, char *err,
                         size_t errlen)
{
    struct sorted_number *sorted = NULL;
    const char *values[] = {request_id, (const char *)body_hash};
    const int lengths[] = {0, 32};
    const int formats[] = {0, 1};
    char buf[48];
    PGresult *res;
    int rc;

    if (store == NULL || body_hash == NULL || device_numbers == NULL || items == NULL ||
        state == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_text_ok(requester, 1, ACTOR_MAX)) {
        cl_err_set(err, errlen, "requester \"%s\" must be 1 to %d bytes of printable UTF-8",
                   cl_shown(requester, buf, sizeof(buf)), ACTOR_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (count == 0 || count > CA_BATCH_MAX) {
        cl_err_set(err, errlen, "request id %s names %zu device numbers (1 to %d)", request_id,
                   count, CA_BATCH_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    memset(items, 0, count * sizeof(*items));
    for (size_t i = 0; i < count; i++) {
        if (!device_number_ok(device_numbers[i], NULL)) {
            cl_err_set(err, errlen,
                       "device number \"%s\" is malformed (MODEL-SERIAL: 1 to 8 of 0-9 A-Z, '-', "
                       "1 to 12 digits)",
                       cl_shown(device_numbers[i], buf, sizeof(buf)));
            return CL_ERR_INVALID_ARGUMENT;
        }
    }
    sorted = malloc(count * sizeof(*sorted));
    if (sorted == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        sorted[i] = (struct sorted_number){device_numbers[i], i};
    qsort(sorted, count, sizeof(*sorted), compare_numbers);
    for (size_t i = 1; i < count; i++) {
        if (strcmp(sorted[i - 1].number, sorted[i].number) == 0) {
            cl_err_set(err, errlen, "device number %s appears twice in request id %s",
                       sorted[i].number, request_id);
            free(sorted);
            return CL_ERR_INVALID_ARGUMENT;
        }
    }

    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        goto out;
    if ((rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_exec(store->db, &res,
                         "SELECT body_hash = $2::bytea, completed_at IS NOT NULL"
                         " FROM batch_request WHERE request_id = $1",
                         2, values, lengths, formats, 0, err, errlen)) != CL_OK)
        goto fail;
    if (PQntuples(res) == 1) {
        int same = cl_pg_get_bool(res, 0, 0), done = cl_pg_get_bool(res, 0, 1);
        PQclear(res);
        if (!same) {
            cl_err_set(err, errlen, "request id %s was used with another body", request_id);
            rc = CL_ERR_CONFLICT;
            goto fail;
        }
        rc = load_known(store, request_id, device_numbers, count, done, items, err, errlen);
        if (rc != CL_OK)
            goto fail;
        if ((rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
            goto fail;
        *state = done ? CA_BATCH_DONE : CA_BATCH_PENDING;
        goto out;
    }
    PQclear(res);
    rc = begin_new(store, request_id, body_hash, replacement, requester, device_numbers, count,
                   sorted, items, err, errlen);
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    if (rc != CL_OK)
        goto fail;
    *state = CA_BATCH_NEW;
    goto out;
fail:
    cl_pg_rollback(store->db);
    ca_batch_items_free(items, count);
    memset(items, 0, count * sizeof(*items));
out:
    free(sorted);
    return rc;
}

static int compare_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Why the serial of item was not stored as issued: not in this request, or no longer an
 * intent (err says which). */
static int why_not_issued(struct ca_store *store, const char *request_id,
                          const struct ca_issued_item *item, char *err, size_t errlen)
{
    const char *values[] = {request_id, item->serial_hex};
    PGresult *res;
    int rc = cl_pg_query(store->db, &res,
                         "SELECT c.device_number, c.state FROM batch_item b"
                         " JOIN certificate c ON c.serial = b.serial"
                         " WHERE b.request_id = $1 AND b.serial = $2",
                         2, values, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (PQntuples(res) == 0) {
        cl_err_set(err, errlen, "serial %s is not part of request id %s", item->serial_hex,
                   request_id);
        rc = CL_ERR_INVALID_ARGUMENT;
    } else {
        cl_err_set(err, errlen, "device number %s: certificate %s is %s, not an intent",
                   PQgetvalue(res, 0, 0), item->serial_hex, PQgetvalue(res, 0, 1));
        rc = CL_ERR_STATE;
    }
    PQclear(res);
    return rc;
}

/* Inside batch_complete's transaction: every item intent -> issued, in one statement. Each must
 * be an intent of this request; the first (in item order) that is not names the failure. */
static int store_issued(struct ca_store *store, const char *request_id,
                        const struct ca_issued_item *items, size_t count, char *err, size_t errlen)
{
    struct cl_pg_array serials, certs, packs, values_hex;
    const char **stored = NULL;
    PGresult *res = NULL;
    int rc;

    cl_pg_array_init(&serials);
    cl_pg_array_init(&certs);
    cl_pg_array_init(&packs);
    cl_pg_array_init(&values_hex);
    for (size_t i = 0; i < count; i++) {
        cl_pg_array_add(&serials, items[i].serial_hex);
        cl_pg_array_add_hex(&certs, items[i].cert_der, items[i].cert_len);
        cl_pg_array_add(&packs, items[i].pack);
        cl_pg_array_add(&values_hex, items[i].server_value);
    }
    const char *values[] = {request_id, cl_pg_array_finish(&serials), cl_pg_array_finish(&certs),
                            cl_pg_array_finish(&packs), cl_pg_array_finish(&values_hex)};
    if (values[1] == NULL || values[2] == NULL || values[3] == NULL || values[4] == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    rc = cl_pg_query(
        store->db, &res,
        "UPDATE certificate c SET state = 'issued', cert_der = decode(t.cert_hex, 'hex'),"
        " pack = t.pack, server_value = t.server_value, issued_at = now()"
        " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])"
        "  AS t(serial, cert_hex, pack, server_value), batch_item b"
        " WHERE b.request_id = $1 AND b.serial = t.serial"
        " AND c.serial = b.serial AND c.state = 'intent'"
        " RETURNING c.serial",
        5, values, err, errlen);
    if (rc != CL_OK || (size_t)PQntuples(res) == count)
        goto out;
    /* Not all of them: find the first item that was not stored. */
    if ((stored = malloc(((size_t)PQntuples(res) + 1) * sizeof(*stored))) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++)
        stored[r] = PQgetvalue(res, r, 0);
    qsort(stored, (size_t)PQntuples(res), sizeof(*stored), compare_text);
    rc = CL_ERR_INVALID_ARGUMENT;
    cl_err_set(err, errlen, "request id %s: a serial appears twice", request_id);
    for (size_t i = 0; i < count; i++) {
        const char *key = items[i].serial_hex;
        if (bsearch(&key, stored, (size_t)PQntuples(res), sizeof(*stored), compare_text) == NULL) {
            rc = why_not_issued(store, request_id, &items[i], err, errlen);
            break;
        }
    }
out:
    free(stored);
    PQclear(res);
    cl_pg_array_free(&serials);
    cl_pg_array_free(&certs);
    cl_pg_array_free(&packs);
    cl_pg_array_free(&values_hex);
    return rc;
}

/* Checks the signed items before any of them reaches the database. */
static int issued_items_ok(const char *request_id, const struct ca_issued_item *items, size_t count,
                           char *err, size_t errlen)
{
    char buf[48];

    if (items == NULL || count == 0 || count > CA_BATCH_MAX) {
        cl_err_set(err, errlen, "request id %s: %zu signed items (1 to %d)", request_id, count,
                   CA_BATCH_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (size_t i = 0; i < count; i++) {
        const struct ca_issued_item *item = &items[i];
        if (!cl_serial_ok(item->serial_hex)) {
            cl_err_set(err, errlen, "request id %s: serial \"%s\" is malformed", request_id,
                       cl_shown(item->serial_hex, buf, sizeof(buf)));
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (item->cert_der == NULL || item->cert_len == 0 || item->cert_len > CERT_DER_MAX ||
            !cl_utf8_ok(item->pack, 1, PACK_MAX, 1)) {
            cl_err_set(err, errlen,
                       "serial %s: the certificate (at most %d bytes) and the pack (at most %d "
                       "bytes of text) are required",
                       item->serial_hex, CERT_DER_MAX, PACK_MAX);
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (item->server_value == NULL || strlen(item->server_value) != CA_VERIFY_HEX ||
            strspn(item->server_value, "0123456789abcdef") != CA_VERIFY_HEX) {
            cl_err_set(err, errlen, "serial %s: the server value must be %d lower-case hex digits",
                       item->serial_hex, CA_VERIFY_HEX);
            return CL_ERR_INVALID_ARGUMENT;
        }
    }
    return CL_OK;
}

int ca_store_complete_begin(struct ca_store *store, const char *request_id, size_t count, char *err,
                            size_t errlen)
{
    const char *id_values[] = {request_id};
    PGresult *res;
    int rc;

    if (store == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!request_id_ok(request_id, err, errlen))
        return CL_ERR_INVALID_ARGUMENT;
    if (count == 0 || count > CA_BATCH_MAX) {
        cl_err_set(err, errlen, "request id %s: %zu signed items (1 to %d)", request_id, count,
                   CA_BATCH_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, errlen)) != CL_OK)
        return rc;
    /* The transaction stays open while the packs are signed: a server-wide idle timeout must not
     * end it between two parts. */
    if ((rc = cl_pg_query(store->db, NULL, "SET LOCAL idle_in_transaction_session_timeout = 0", 0,
                          NULL, err, errlen)) != CL_OK ||
        (rc = cl_pg_lock(store->db, LOCK_REQUEST, request_id, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT completed_at IS NOT NULL, item_count FROM batch_request"
                          " WHERE request_id = $1 FOR UPDATE",
                          1, id_values, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    if (PQntuples(res) == 0) {
        cl_err_set(err, errlen, "unknown request id %s", request_id);
        rc = CL_ERR_NOT_FOUND;
    } else if (cl_pg_get_bool(res, 0, 0)) {
        /* Another worker signed the same pending request and completed it first: its packs
         * are the answer (ask again); these are never stored nor handed out. */
        cl_err_set(err, errlen,
                   "request id %s was completed meanwhile; send it again for its packs",
                   request_id);
        rc = CL_ERR_CONFLICT;
    } else if ((size_t)cl_pg_get_ll(res, 0, 1) != count) {
        cl_err_set(err, errlen, "request id %s has %lld device numbers, not %zu", request_id,
                   cl_pg_get_ll(res, 0, 1), count);
        rc = CL_ERR_INVALID_ARGUMENT;
    }
    PQclear(res);
    return rc != CL_OK ? cl_pg_fail(store->db, rc) : CL_OK;
}

int ca_store_complete_add(struct ca_store *store, const char *request_id,
                          const struct ca_issued_item *items, size_t count, char *err,
                          size_t errlen)
{
    int rc = issued_items_ok(request_id, items, count, err, errlen);

    if (rc == CL_OK && !cl_pg_in_transaction(store->db)) {
        cl_err_set(err, errlen, "request id %s: no completion under way", request_id);
        rc = CL_ERR_INTERNAL; /* a misuse here, not the caller's fault */
    }
    if (rc == CL_OK)
        rc = store_issued(store, request_id, items, count, err, errlen);
    return rc != CL_OK ? cl_pg_fail(store->db, rc) : CL_OK;
}

int ca_store_complete_commit(struct ca_store *store, const char *request_id, char *err,
                             size_t errlen)
{
    const char *id_values[] = {request_id};
    PGresult *res;
    int rc;

    if (!cl_pg_in_transaction(store->db)) {
        cl_err_set(err, errlen, "request id %s: no completion under way", request_id);
        return cl_pg_fail(store->db, CL_ERR_INTERNAL); /* a misuse here, not the caller's fault */
    }
    /* Every item of the request must have been stored as issued. */
    rc = cl_pg_query(store->db, &res,
                     "SELECT count(*) FROM batch_item b JOIN certificate c ON c.serial = b.serial"
                     " WHERE b.request_id = $1 AND c.state = 'intent'",
                     1, id_values, err, errlen);
    if (rc != CL_OK)
        return cl_pg_fail(store->db, rc);
    long long unsigned_items = cl_pg_get_ll(res, 0, 0);
    PQclear(res);
    if (unsigned_items != 0) {
        cl_err_set(err, errlen, "request id %s: %lld device numbers have no signed certificate",
                   request_id, unsigned_items);
        return cl_pg_fail(store->db, CL_ERR_INVALID_ARGUMENT);
    }
    if ((rc = cl_pg_query(store->db, NULL,
                          "UPDATE batch_request SET completed_at = now() WHERE request_id = $1", 1,
                          id_values, err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, errlen)) != CL_OK)
        return cl_pg_fail(store->db, rc);
    return CL_OK;
}

void ca_store_complete_abort(struct ca_store *store)
{
    if (store != NULL)
        cl_pg_rollback(store->db);
}

int ca_store_batch_complete(struct ca_store *store, const char *request_id,
                            const struct ca_issued_item *items, size_t count, char *err,
                            size_t errlen)
{
    int rc;

    if (store == NULL || items == NULL) {
        cl_err_set(err, errlen, "missing argument");
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* Checked before the transaction too, so that a bad item costs no round trip. */
    if (cl_token_ok(request_id, REQUEST_ID_MAX) &&
        (rc = issued_items_ok(request_id, items, count, err, errlen)) != CL_OK)
        return rc;
    if ((rc = ca_store_complete_begin(store, request_id, count, err, errlen)) != CL_OK ||
        (rc = ca_store_complete_add(store, request_id, items, count, err, errlen)) != CL_OK)
        return rc;
    return ca_store_complete_commit(store, request_id, err, errlen);
}

void ca_batch_items_free(struct ca_batch_item *items, size_t count)
{
    if (items == NULL)
        return;
    for (size_t i = 0; i < count; i++) {
        free(items[i].pack);
        items[i].pack = NULL;
    }
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
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, errlen);
    if (rc != CL_OK) {
        *received_at = 0;
        return cl_pg_fail(store->db, rc);
    }
    return CL_OK;
}

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

static enum ca_cert_state state_from_name(const char *name)
{
    for (int s = CA_CERT_INTENT; s < CA_CERT_UNKNOWN; s++)
        if (strcmp(name, ca_cert_state_name((enum ca_cert_state)s)) == 0)
            return (enum ca_cert_state)s;
    return CA_CERT_UNKNOWN;
}

#define CERT_COLUMNS                                                                               \
    "serial, device_number, model_code, state, request_id,"                                        \
    " floor(extract(epoch FROM created_at))::bigint,"                                              \
    " floor(extract(epoch FROM issued_at))::bigint,"                                               \
    " floor(extract(epoch FROM installed_at))::bigint,"                                            \
    " floor(extract(epoch FROM ended_at))::bigint, reason"

static void cert_from_row(const PGresult *res, int row, struct ca_cert_row *out)
{
    memset(out, 0, sizeof(*out));
    cl_copy_text(out->serial_hex, sizeof(out->serial_hex), cl_pg_get_text(res, row, 0));
    cl_copy_text(out->device_number, sizeof(out->device_number), cl_pg_get_text(res, row, 1));
    cl_copy_text(out->model_code, sizeof(out->model_code), cl_pg_get_text(res, row, 2));
    out->state = state_from_name(cl_pg_get_text(res, row, 3));
    cl_copy_text(out->request_id, sizeof(out->request_id), cl_pg_get_text(res, row, 4));
    out->created_at = (time_t)cl_pg_get_ll(res, row, 5);
    out->issued_at = (time_t)cl_pg_get_ll(res, row, 6);
    out->installed_at = (time_t)cl_pg_get_ll(res, row, 7);
    out->ended_at = (time_t)cl_pg_get_ll(res, row, 8);
    cl_copy_text(out->reason, sizeof(out->reason), cl_pg_get_text(res, row, 9));
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
        cert_from_row(res, 0, row);
    PQclear(res);
    return CL_OK;
}

int ca_store_cert_list(struct ca_store *store, const char *device_number, const char *model_code,
                       const char *state, size_t limit, struct ca_cert_row **rows, size_t *count)
{
    char limit_text[24], err[384], buf[48];
    const char *values[] = {device_number != NULL ? device_number : "",
                            model_code != NULL ? model_code : "", state != NULL ? state : "",
                            limit_text};
    PGresult *res;
    int rc, n;

    if (rows != NULL)
        *rows = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || rows == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (values[0][0] != '\0' && !device_number_ok(values[0], NULL)) {
        cl_log_warn("certificate list: device number \"%s\" is malformed",
                    cl_shown(values[0], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (values[1][0] != '\0' && !cl_model_code_ok(values[1])) {
        cl_log_warn("certificate list: device model \"%s\" is malformed",
                    cl_shown(values[1], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (values[2][0] != '\0' && state_from_name(values[2]) == CA_CERT_UNKNOWN) {
        cl_log_warn("certificate list: \"%s\" is not a state (intent, issued, installed, "
                    "superseded, revoked)",
                    cl_shown(values[2], buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (limit > 1000000)
        limit = 1000000;
    snprintf(limit_text, sizeof(limit_text), "%zu", limit);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT " CERT_COLUMNS " FROM certificate"
                          " WHERE ($1 = '' OR device_number = $1) AND ($2 = '' OR model_code = $2)"
                          " AND ($3 = '' OR state = $3) ORDER BY seq DESC LIMIT $4::bigint",
                          4, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "listing certificates", err);
    if ((*rows = cl_pg_rows(res, sizeof(**rows), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        cert_from_row(res, i, &(*rows)[i]);
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
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
    const char *values[] = {serial_hex, reason};
    char err[384], buf[48], detail[DETAIL_MAX + 1];
    PGresult *res;
    int rc;

    if (store == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_serial_ok(serial_hex)) {
        cl_log_warn("revocation: serial \"%s\" is malformed",
                    cl_shown(serial_hex, buf, sizeof(buf)));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (reason == NULL || reason[0] == '\0')
        values[1] = reason = "unspecified";
    if (!cl_text_ok(reason, 1, REASON_MAX)) {
        cl_log_warn("revocation of %s: the reason must be at most %d bytes of printable UTF-8",
                    serial_hex, REASON_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!actor_ok(actor, err, sizeof(err))) {
        cl_log_warn("revocation of %s: %s", serial_hex, err);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(store->db, err, sizeof(err))) != CL_OK ||
        (rc =
             cl_pg_query(store->db, &res,
                         "UPDATE certificate SET state = 'revoked', ended_at = now(), reason = $2"
                         " WHERE serial = $1 AND state IN " VALID_STATES " RETURNING device_number",
                         2, values, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "revoking a certificate", err);
    if (PQntuples(res) == 0) {
        PQclear(res);
        rc = cl_pg_query(store->db, &res, "SELECT state FROM certificate WHERE serial = $1", 1,
                         values, err, sizeof(err));
        if (rc != CL_OK)
            return logged(cl_pg_fail(store->db, rc), "revoking a certificate", err);
        if (PQntuples(res) == 0) {
            cl_log_warn("revocation: no certificate with serial %s", serial_hex);
            rc = CL_ERR_NOT_FOUND;
        } else {
            cl_log_warn("revocation: certificate %s is already %s", serial_hex,
                        PQgetvalue(res, 0, 0));
            rc = CL_ERR_STATE;
        }
        PQclear(res);
        return cl_pg_fail(store->db, rc);
    }
    snprintf(detail, sizeof(detail), "certificate %s of device number %s: %s", serial_hex,
             PQgetvalue(res, 0, 0), reason);
    PQclear(res);
    if ((rc = audit_in_tx(store, actor, "revoke", detail, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_commit(store->db, err, sizeof(err))) != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "revoking a certificate", err);
    return CL_OK;
}

/* ---- service certificates and audit ---- */

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
    if (!actor_ok(actor, err, sizeof(err))) {
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
        rc = audit_in_tx(store, actor, "service-issue", detail, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_pg_commit(store->db, err, sizeof(err));
    if (rc != CL_OK)
        return logged(cl_pg_fail(store->db, rc), "recording a service certificate", err);
    return CL_OK;
}

int ca_store_audit(struct ca_store *store, const char *actor, const char *action,
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

int ca_store_audit_list(struct ca_store *store, size_t limit, struct ca_audit_row **rows,
                        size_t *count)
{
    char limit_text[24], err[384];
    const char *values[] = {limit_text};
    PGresult *res;
    int rc, n;

    if (rows != NULL)
        *rows = NULL;
    if (count != NULL)
        *count = 0;
    if (store == NULL || rows == NULL || count == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    if (limit > 1000000)
        limit = 1000000;
    snprintf(limit_text, sizeof(limit_text), "%zu", limit);
    if ((rc = cl_pg_ready(store->db, err, sizeof(err))) != CL_OK ||
        (rc = cl_pg_query(store->db, &res,
                          "SELECT id, floor(extract(epoch FROM at))::bigint, actor, action, detail"
                          " FROM audit_log ORDER BY id DESC LIMIT $1::bigint",
                          1, values, err, sizeof(err))) != CL_OK)
        return logged(rc, "reading the audit log", err);
    if ((*rows = cl_pg_rows(res, sizeof(**rows), &n)) == NULL)
        return CL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        struct ca_audit_row *row = &(*rows)[i];
        row->id = cl_pg_get_ll(res, i, 0);
        row->at = (time_t)cl_pg_get_ll(res, i, 1);
        cl_copy_text(row->actor, sizeof(row->actor), cl_pg_get_text(res, i, 2));
        cl_copy_text(row->action, sizeof(row->action), cl_pg_get_text(res, i, 3));
        cl_copy_text(row->detail, sizeof(row->detail), cl_pg_get_text(res, i, 4));
    }
    *count = (size_t)n;
    PQclear(res);
    return CL_OK;
}
