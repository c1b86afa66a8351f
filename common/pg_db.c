/* pg_db.c: the one PostgreSQL layer of the stores: connect, run, commit, migrate (see pg_db.h). */
#include "pg_db.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "input_check.h"
#include "log.h"

/* Readable input on an idle connection is a notice or the server's goodbye; at most this many
 * reads settle which, without waiting. */
#define MAX_IDLE_READS 8

#define MESSAGE_MAX 300 /* of a server's message kept in err */

/* A lost connection is reconnected for at most this long (a failover: the standby promoted), one
 * attempt every RECONNECT_PAUSE_MS; a transaction lost with its connection is run at most
 * CL_PG_RUNS times. */
#define RECONNECT_WAIT_MS 30000
#define RECONNECT_PAUSE_MS 250
#define CL_PG_RUNS 3

struct cl_pg {
    PGconn *conn;
    int drop;            /* the server took no writes or is going away: reconnect before reuse */
    char sqlstate[6];    /* SQLSTATE of the last failed statement, "" if none */
    char constraint[64]; /* the constraint it violated, if any */
};

/* Server notices ("relation already exists, skipping") go to the debug log, not stderr. */
static void log_notice(void *arg, const char *message)
{
    (void)arg;
    cl_log_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
}

/* Replaces every occurrence of secret in text with "***". */
static void redact(char *text, const char *secret)
{
    size_t slen = secret != NULL ? strlen(secret) : 0;
    char *p;
    if (slen == 0)
        return;
    while ((p = strstr(text, secret)) != NULL) {
        size_t keep = slen >= 3 ? 3 : slen;
        memset(p, '*', keep);
        memmove(p + keep, p + slen, strlen(p + slen) + 1);
    }
}

/* Parsed first: libpq's own parse errors may quote parts of the string (the password too), so
 * they are passed on only when they name an unknown keyword. password gets the password, if any. */
static int parse_conninfo(const char *conninfo, char *password, size_t size, char *err,
                          size_t errlen)
{
    char *parse_error = NULL;
    PQconninfoOption *options = PQconninfoParse(conninfo, &parse_error);
    int rc;

    if (options == NULL) {
        if (parse_error != NULL && strncmp(parse_error, "invalid connection option", 25) == 0) {
            size_t n = strcspn(parse_error, "\n");
            cl_err_set(err, errlen, "malformed database conninfo: %.*s", (int)(n < 200 ? n : 200),
                       parse_error);
        } else {
            cl_err_set(err, errlen,
                       "malformed database conninfo (keyword=value pairs or a "
                       "postgresql:// URI)");
        }
        rc = parse_error != NULL ? CL_ERR_CONFIG : CL_ERR_NOMEM;
        PQfreemem(parse_error);
        return rc;
    }
    for (PQconninfoOption *o = options; o->keyword != NULL; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
            cl_copy_text(password, size, o->val);
    PQconninfoFree(options);
    return CL_OK;
}

int cl_pg_open(const char *conninfo, const char *program, struct cl_pg **out, char *err,
               size_t errlen)
{
    static const char *const keywords[] = {"connect_timeout", "fallback_application_name", "dbname",
                                           "client_encoding", NULL};
    const char *values[] = {"10", program, conninfo, "UTF8", NULL};
    struct cl_pg *db;
    char password[256] = "", message[512];
    int rc;

    if (out != NULL)
        *out = NULL;
    if (out == NULL || conninfo == NULL) {
        cl_err_set(err, errlen, "no database conninfo");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = parse_conninfo(conninfo, password, sizeof(password), err, errlen)) != CL_OK)
        return rc;
    db = calloc(1, sizeof(*db));
    if (db == NULL) {
        mbedtls_platform_zeroize(password, sizeof(password));
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    db->conn = PQconnectdbParams(keywords, values, 1);
    if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK) {
        cl_copy_text(message, sizeof(message),
                     db->conn != NULL ? PQerrorMessage(db->conn) : "out of memory");
        message[strcspn(message, "\n")] = '\0'; /* libpq adds a line per address tried */
        redact(message, password);
        cl_err_set(err, errlen, "cannot connect to the database: %s", message);
        mbedtls_platform_zeroize(password, sizeof(password));
        cl_pg_close(db);
        return CL_ERR_DB;
    }
    mbedtls_platform_zeroize(password, sizeof(password));
    PQsetNoticeProcessor(db->conn, log_notice, NULL);
    *out = db;
    return CL_OK;
}

void cl_pg_close(struct cl_pg *db)
{
    if (db == NULL)
        return;
    PQfinish(db->conn);
    free(db);
}

void *cl_pg_store_open(const char *conninfo, const char *program, size_t size, int *rc, char *err,
                       size_t errlen)
{
    struct cl_pg *db;
    void *store;

    if ((*rc = cl_pg_open(conninfo, program, &db, err, errlen)) != CL_OK)
        return NULL;
    if ((store = calloc(1, size < sizeof(db) ? sizeof(db) : size)) == NULL) {
        cl_pg_close(db);
        cl_err_set(err, errlen, "out of memory");
        *rc = CL_ERR_NOMEM;
        return NULL;
    }
    memcpy(store, &db, sizeof(db));
    return store;
}

void cl_pg_store_close(void *store)
{
    struct cl_pg *db;

    if (store == NULL)
        return;
    memcpy(&db, store, sizeof(db));
    cl_pg_close(db);
    free(store);
}

/* Whether a statement that broke an idle connection may be sent once more on a new one. The server
 * may have ended the session (idle_session_timeout, a restart) just as the statement left:
 * cl_pg_ready cannot see a goodbye still on its way, and libpq then reports the goodbye without a
 * SQLSTATE. A statement that begins a transaction, reads or sets a session value changes nothing
 * if it did run, so it is sent again; any other statement's fate is unknown, and its caller hears
 * of the loss. */
static int safe_to_resend(PGconn *conn, const char *sql)
{
    static const char *const safe[] = {"BEGIN", "SELECT", "SHOW", "SET "};
    if (PQstatus(conn) != CONNECTION_BAD)
        return 0;
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
        if (strncmp(sql, safe[i], strlen(safe[i])) == 0)
            return 1;
    return 0;
}

/* A statement's result that is not a success: its SQLSTATE and constraint kept, err set, the
 * result cleared; CL_ERR_DB. */
static int failed(struct cl_pg *db, PGresult *res, char *err, size_t errlen)
{
    const char *field, *message;
    size_t mlen;

    if (res != NULL && (field = PQresultErrorField(res, PG_DIAG_SQLSTATE)) != NULL)
        cl_copy_text(db->sqlstate, sizeof(db->sqlstate), field);
    if (res != NULL && (field = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME)) != NULL)
        cl_copy_text(db->constraint, sizeof(db->constraint), field);
    /* A read-only server (a standby, or a primary being demoted: 25006) or one shutting down
     * (57P0x) is left: the next transaction connects to the one that takes writes. */
    if (strcmp(db->sqlstate, "25006") == 0 || strncmp(db->sqlstate, "57P", 3) == 0)
        db->drop = 1;
    message = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (message == NULL)
        message = PQerrorMessage(db->conn);
    mlen = strlen(message);
    while (mlen > 0 && (message[mlen - 1] == '\n' || message[mlen - 1] == ' '))
        mlen--;
    cl_err_set(err, errlen, "database error: %.*s", (int)(mlen < MESSAGE_MAX ? mlen : MESSAGE_MAX),
               message);
    PQclear(res);
    return CL_ERR_DB;
}

int cl_pg_exec(struct cl_pg *db, PGresult **out, const char *sql, int nparams,
               const char *const *values, const int *lengths, const int *formats, int binary_result,
               char *err, size_t errlen)
{
    PGresult *res;
    ExecStatusType status;

    db->sqlstate[0] = '\0';
    db->constraint[0] = '\0';
    if (out != NULL)
        *out = NULL;
    int was_idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
    res = PQexecParams(db->conn, sql, nparams, NULL, values, lengths, formats, binary_result);
    status = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && was_idle &&
        safe_to_resend(db->conn, sql)) {
        PQclear(res);
        PQreset(db->conn);
        if (PQstatus(db->conn) == CONNECTION_OK)
            cl_log_info("database connection re-established; statement sent again");
        res = PQexecParams(db->conn, sql, nparams, NULL, values, lengths, formats, binary_result);
        status = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    }
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return CL_OK;
    }
    return failed(db, res, err, errlen);
}

int cl_pg_send(struct cl_pg *db, const char *sql, char *err, size_t errlen)
{
    db->sqlstate[0] = '\0';
    db->constraint[0] = '\0';
    return PQsendQueryParams(db->conn, sql, 0, NULL, NULL, NULL, NULL, 0) == 1
               ? CL_OK
               : failed(db, NULL, err, errlen);
}

int cl_pg_take(struct cl_pg *db, PGresult **out, char *err, size_t errlen)
{
    PGresult *res = PQgetResult(db->conn), *more;

    *out = NULL;
    while ((more = PQgetResult(db->conn)) != NULL) /* one statement: nothing more but its end */
        PQclear(more);
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        *out = res;
        return CL_OK;
    }
    return failed(db, res, err, errlen);
}

int cl_pg_query(struct cl_pg *db, PGresult **out, const char *sql, int nparams,
                const char *const *values, char *err, size_t errlen)
{
    return cl_pg_exec(db, out, sql, nparams, values, NULL, NULL, 0, err, errlen);
}

int cl_pg_unique_violation(const struct cl_pg *db)
{
    return strcmp(db->sqlstate, "23505") == 0;
}

int cl_pg_constraint_is(const struct cl_pg *db, const char *name)
{
    return strcmp(db->constraint, name) == 0;
}

void cl_pg_rollback(struct cl_pg *db)
{
    if (PQtransactionStatus(db->conn) != PQTRANS_IDLE)
        PQclear(PQexec(db->conn, "ROLLBACK"));
}

int cl_pg_fail(struct cl_pg *db, int rc)
{
    cl_pg_rollback(db);
    return rc;
}

int cl_pg_finish(struct cl_pg *db, int rc, char *err, size_t errlen)
{
    if (rc == CL_OK)
        rc = cl_pg_commit(db, err, errlen);
    return rc == CL_OK ? CL_OK : cl_pg_fail(db, rc);
}

int cl_pg_lock(struct cl_pg *db, int key, const char *name, char *err, size_t errlen)
{
    char lock[16];
    const char *values[] = {lock, name};
    snprintf(lock, sizeof(lock), "%d", key);
    return name != NULL
               ? cl_pg_query(db, NULL, "SELECT pg_advisory_xact_lock($1::int, hashtext($2))", 2,
                             values, err, errlen)
               : cl_pg_query(db, NULL, "SELECT pg_advisory_xact_lock($1::int, 0)", 1, values, err,
                             errlen);
}

int cl_pg_again(struct cl_pg *db, int rc, int *runs)
{
    if (rc != CL_ERR_DB || (PQstatus(db->conn) == CONNECTION_OK && !db->drop) ||
        ++*runs >= CL_PG_RUNS)
        return 0;
    cl_log_warn("database connection lost during a transaction; running it again (run %d)",
                *runs + 1);
    return 1;
}

int cl_pg_in_transaction(const struct cl_pg *db)
{
    return PQtransactionStatus(db->conn) == PQTRANS_INTRANS;
}

/* Before work on an idle connection: whether it is still up. A server that ended an idle session
 * (idle_session_timeout, a restart, an administrator's pg_terminate_backend) has sent its
 * goodbye and closed, but libpq notices only at the next statement, which would then fail. This
 * reads what arrived while idle, without waiting, so a closed connection shows as
 * CONNECTION_BAD now and can be reset before the statement. */
static int idle_link_up(PGconn *conn)
{
    for (int i = 0; i < MAX_IDLE_READS && PQstatus(conn) == CONNECTION_OK; i++) {
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        if (p.fd < 0)
            return 0;
        if (poll(&p, 1, 0) != 1)
            break; /* nothing arrived: up as far as can be known without a round trip */
        if (!PQconsumeInput(conn))
            return 0; /* closed: libpq marks the connection bad */
    }
    return PQstatus(conn) == CONNECTION_OK;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects again, through every host of the conninfo (libpq's target_session_attrs picks the
 * one that takes writes), until one answers or RECONNECT_WAIT_MS have passed: during a failover
 * no server takes writes until the standby is promoted. */
static int reconnect(struct cl_pg *db, char *err, size_t errlen)
{
    long long start = now_ms(), waited;
    int logged = 0;

    db->drop = 0;
    for (;;) {
        PQreset(db->conn);
        waited = now_ms() - start;
        if (PQstatus(db->conn) == CONNECTION_OK)
            break;
        if (waited >= RECONNECT_WAIT_MS) {
            const char *message = PQerrorMessage(db->conn);
            size_t mlen = strcspn(message, "\n");
            cl_err_set(err, errlen, "database connection lost: %.*s",
                       (int)(mlen < MESSAGE_MAX ? mlen : MESSAGE_MAX), message);
            return CL_ERR_DB;
        }
        if (!logged++)
            cl_log_warn("database connection lost; waiting up to %d s for a server that takes "
                        "writes",
                        RECONNECT_WAIT_MS / 1000);
        nanosleep(&(struct timespec){.tv_nsec = RECONNECT_PAUSE_MS * 1000000L}, NULL);
    }
    cl_log_info("database connection re-established after %lld ms", waited);
    return CL_OK;
}

int cl_pg_ready(struct cl_pg *db, char *err, size_t errlen)
{
    int rc;
    if ((db->drop || !idle_link_up(db->conn)) && (rc = reconnect(db, err, errlen)) != CL_OK)
        return rc;
    cl_pg_rollback(db); /* nothing is ever left open, but never build on a stale transaction */
    return CL_OK;
}

int cl_pg_begin(struct cl_pg *db, char *err, size_t errlen)
{
    int rc = cl_pg_ready(db, err, errlen);
    return rc != CL_OK ? rc : cl_pg_query(db, NULL, "BEGIN", 0, NULL, err, errlen);
}

int cl_pg_commit(struct cl_pg *db, char *err, size_t errlen)
{
    PGresult *res;
    int rc = cl_pg_query(db, &res, "COMMIT", 0, NULL, err, errlen);
    if (rc != CL_OK && PQstatus(db->conn) != CONNECTION_OK) {
        cl_err_set(err, errlen,
                   "the database connection broke during COMMIT: whether the change "
                   "was recorded is unknown");
        return rc;
    }
    if (rc != CL_OK) {
        cl_pg_rollback(db);
        return rc;
    }
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        cl_err_set(err, errlen, "database error: the transaction was rolled back");
        rc = CL_ERR_DB;
    }
    PQclear(res);
    return rc;
}

long long cl_pg_get_ll(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int cl_pg_get_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

const char *cl_pg_get_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col);
}

void *cl_pg_rows(PGresult *res, size_t size, int *n)
{
    void *rows;
    *n = PQntuples(res);
    if ((rows = calloc(*n > 0 ? (size_t)*n : 1, size)) == NULL)
        PQclear(res);
    return rows;
}

size_t cl_pg_affected(PGresult *res)
{
    return (size_t)strtoul(PQcmdTuples(res), NULL, 10);
}

/* ---- listings ---- */

void cl_pg_limit_text(char text[24], size_t limit, size_t max)
{
    snprintf(text, 24, "%zu", limit > max ? max : limit);
}

void *cl_pg_list(struct cl_pg *db, const char *sql, int nparams, const char *const *values,
                 size_t size, cl_pg_row_reader read, size_t *count, int *rc, cl_pg_logger logged,
                 const char *what)
{
    char err[384];
    PGresult *res;
    char *rows;
    int n;

    if ((*rc = cl_pg_ready(db, err, sizeof(err))) != CL_OK ||
        (*rc = cl_pg_query(db, &res, sql, nparams, values, err, sizeof(err))) != CL_OK) {
        *rc = logged(*rc, what, err);
        return NULL;
    }
    if ((rows = cl_pg_rows(res, size, &n)) == NULL) {
        *rc = CL_ERR_NOMEM;
        return NULL;
    }
    for (int i = 0; i < n; i++)
        read(res, i, rows + (size_t)i * size);
    *count = (size_t)n;
    PQclear(res);
    return rows;
}

/* ---- migrations ---- */

static int migrate_one(struct cl_pg *db, const struct cl_pg_schema *schema,
                       const struct cl_pg_migration *m, int *applied, char *err, size_t errlen)
{
    char version[16];
    const char *values[] = {version};
    PGresult *res;
    int rc;

    snprintf(version, sizeof(version), "%d", m->version);
    if ((rc = cl_pg_begin(db, err, errlen)) != CL_OK)
        return rc;
    /* Two programs starting at once: the second waits, then finds the version applied. */
    if ((rc = cl_pg_lock(db, schema->lock_key, NULL, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(db, &res, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1,
                          values, err, errlen)) != CL_OK)
        return cl_pg_fail(db, rc);
    if (PQntuples(res) > 0) {
        PQclear(res);
        return cl_pg_commit(db, err, errlen);
    }
    PQclear(res);
    for (const char *const *sql = m->statements; *sql != NULL; sql++) {
        if ((rc = cl_pg_query(db, NULL, *sql, 0, NULL, err, errlen)) != CL_OK) {
            size_t used = err != NULL ? strlen(err) : 0;
            if (err != NULL && used + 1 < errlen)
                snprintf(err + used, errlen - used, " (migration %d, %s)", m->version, m->what);
            return cl_pg_fail(db, rc);
        }
    }
    if ((rc = cl_pg_query(db, NULL, "INSERT INTO schema_migrations (version) VALUES ($1::int)", 1,
                          values, err, errlen)) != CL_OK ||
        (rc = cl_pg_commit(db, err, errlen)) != CL_OK)
        return cl_pg_fail(db, rc);
    (*applied)++;
    cl_log_info("database migration %d (%s) applied", m->version, m->what);
    return CL_OK;
}

int cl_pg_migrate(struct cl_pg *db, const struct cl_pg_schema *schema, int *applied, char *err,
                  size_t errlen)
{
    PGresult *res;
    int rc = CL_OK, count = 0, newest, known;

    if (applied != NULL)
        *applied = 0;
    if (db == NULL || schema == NULL || schema->count == 0) {
        cl_err_set(err, errlen, "no store");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((rc = cl_pg_begin(db, err, errlen)) != CL_OK)
        return rc;
    if ((rc = cl_pg_lock(db, schema->lock_key, NULL, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(db, NULL,
                          "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " version integer PRIMARY KEY,"
                          " applied_at timestamptz NOT NULL DEFAULT now())",
                          0, NULL, err, errlen)) != CL_OK ||
        (rc = cl_pg_query(db, &res, "SELECT coalesce(max(version), 0) FROM schema_migrations", 0,
                          NULL, err, errlen)) != CL_OK)
        return cl_pg_fail(db, rc);
    newest = (int)cl_pg_get_ll(res, 0, 0);
    PQclear(res);
    if ((rc = cl_pg_commit(db, err, errlen)) != CL_OK)
        return rc;
    known = schema->steps[schema->count - 1].version;
    if (newest > known) {
        cl_err_set(err, errlen,
                   "the database schema is at version %d, newer than this %s knows (%d)", newest,
                   schema->program, known);
        return CL_ERR_STATE;
    }
    for (size_t i = 0; i < schema->count; i++)
        if ((rc = migrate_one(db, schema, &schema->steps[i], &count, err, errlen)) != CL_OK)
            break;
    if (applied != NULL)
        *applied = count;
    return rc;
}
