/* pg_db.h: the PostgreSQL layer both stores share: one connection, statements with parameters,
 * transactions, the migration runner, and errors that never show a secret or a value. Only store
 * files include it (as only they, and pg_db.c, include libpq-fe.h). */
#ifndef CERTLINE_PG_DB_H
#define CERTLINE_PG_DB_H

#include <stddef.h>

#include <libpq-fe.h>

/* One connection, used by one thread at a time, with the SQLSTATE and the constraint of the last
 * failed statement. */
struct cl_pg;

/* Connects with conninfo (keyword=value pairs or a postgresql:// URI); program becomes the
 * fallback application name. Server notices go to the debug log. On failure err gets a message
 * that never repeats the conninfo or its password. Returns CL_OK, CL_ERR_INVALID_ARGUMENT,
 * CL_ERR_CONFIG (malformed conninfo), CL_ERR_NOMEM or CL_ERR_DB (cannot connect). */
int cl_pg_open(const char *conninfo, const char *program, struct cl_pg **out, char *err,
               size_t errlen);

/* Closes the connection; NULL is a no-op. */
void cl_pg_close(struct cl_pg *db);

/* A store's open: connects as cl_pg_open does and allocates the store, size zeroed bytes whose
 * first member (a struct cl_pg *) gets the connection. Returns the store, or NULL with the reason
 * in err; *rc gets the code (CL_ERR_NOMEM or one of cl_pg_open's). */
void *cl_pg_store_open(const char *conninfo, const char *program, size_t size, int *rc, char *err,
                       size_t errlen);

/* A store's close: closes the connection in its first member and frees it; NULL is a no-op. */
void cl_pg_store_close(void *store);

/* Runs one statement. Parameters are text unless formats says otherwise; binary_result asks for
 * binary columns. On success *out (if not NULL) gets the result, for the caller to PQclear. On
 * failure err gets "database error: <primary message>" (never the statement's values), the
 * SQLSTATE and the violated constraint are kept, and CL_ERR_DB is returned. */
int cl_pg_exec(struct cl_pg *db, PGresult **out, const char *sql, int nparams,
               const char *const *values, const int *lengths, const int *formats, int binary_result,
               char *err, size_t errlen);

/* Sends a statement with no parameters and returns without waiting for it, so that the server
 * runs it while the caller works: CL_OK, or CL_ERR_DB as cl_pg_exec. Its rows are taken with
 * cl_pg_take; nothing else is sent before that (a rollback or any statement discards them). */
int cl_pg_send(struct cl_pg *db, const char *sql, char *err, size_t errlen);

/* Waits for the rows of the statement cl_pg_send sent: CL_OK with *out for the caller to PQclear,
 * or CL_ERR_DB (*out NULL) as cl_pg_exec fails. */
int cl_pg_take(struct cl_pg *db, PGresult **out, char *err, size_t errlen);

/* Shorthand: text parameters, text result. */
int cl_pg_query(struct cl_pg *db, PGresult **out, const char *sql, int nparams,
                const char *const *values, char *err, size_t errlen);

/* Whether the last failed statement violated a unique constraint (SQLSTATE 23505). */
int cl_pg_unique_violation(const struct cl_pg *db);

/* Whether the last failed statement violated the constraint called name. */
int cl_pg_constraint_is(const struct cl_pg *db, const char *name);

/* Makes sure the connection is up and on a server that takes writes, and that no transaction is
 * left open. A connection the server closed, or one left after a read-only or shutting-down
 * server's refusal, is made again through the conninfo's hosts (a multi-host conninfo with
 * target_session_attrs=read-write finds the promoted standby after a failover), retried for up
 * to 30 s; then "database connection lost: ...". */
int cl_pg_ready(struct cl_pg *db, char *err, size_t errlen);

/* cl_pg_ready, then BEGIN. */
int cl_pg_begin(struct cl_pg *db, char *err, size_t errlen);

/* COMMITs. A transaction the server had already aborted is CL_ERR_DB ("database error: the
 * transaction was rolled back"); a connection that broke during COMMIT is CL_ERR_DB with a
 * message saying that whether the change was recorded is unknown. */
int cl_pg_commit(struct cl_pg *db, char *err, size_t errlen);

/* Rolls back whatever transaction is open; nothing if none is. */
void cl_pg_rollback(struct cl_pg *db);

/* Rolls back after a failure and passes its code on. */
int cl_pg_fail(struct cl_pg *db, int rc);

/* Ends the transaction as rc says: CL_OK commits (cl_pg_commit), anything else rolls back
 * (cl_pg_fail); a failed commit is rolled back too. Returns CL_OK or the code. */
int cl_pg_finish(struct cl_pg *db, int rc, char *err, size_t errlen);

/* In a transaction: takes the transaction-level advisory lock (key, hashtext(name)), or (key, 0)
 * if name is NULL, waiting for whoever holds it (other names are not held up, but for the rare
 * hash collision). */
int cl_pg_lock(struct cl_pg *db, int key, const char *name, char *err, size_t errlen);

/* After an idempotent transaction failed with rc: whether to run it again, because its connection
 * was lost (before COMMIT, or during it with the outcome unknown: a second run of an idempotent
 * transaction then changes nothing) and *runs (0 at the first failure, counted here) is below
 * the limit of three runs. The next run's cl_pg_begin waits for the reconnection. */
int cl_pg_again(struct cl_pg *db, int rc, int *runs);

/* Whether a transaction is open and has not failed. */
int cl_pg_in_transaction(const struct cl_pg *db);

/* Reading results: a NULL reads as 0, false or "". */
long long cl_pg_get_ll(const PGresult *res, int row, int col);
int cl_pg_get_bool(const PGresult *res, int row, int col);
const char *cl_pg_get_text(const PGresult *res, int row, int col);

/* One zeroed element of size bytes (at least one element) per row of res, for the caller to fill
 * and free; *n gets the number of rows. NULL if out of memory, and res is then cleared. */
void *cl_pg_rows(PGresult *res, size_t size, int *n);

/* The rows a command changed. */
size_t cl_pg_affected(PGresult *res);

/* How a store logs a failure of a function without err: gets the code, what was being done and
 * err; returns the code. */
typedef int (*cl_pg_logger)(int rc, const char *what, const char *err);

/* ---- listings ---- */

/* A listing's first step: *rows = NULL and *count = 0 where given; true if store, rows and count
 * are all given. */
#define CL_PG_LIST_START(store, rows, count)                                                       \
    ((rows) != NULL ? (void)(*(rows) = NULL) : (void)0,                                            \
     (count) != NULL ? (void)(*(count) = 0) : (void)0,                                             \
     (store) != NULL && (rows) != NULL && (count) != NULL)

/* A listing's limit as the text of its bigint parameter: limit, but at most max. */
void cl_pg_limit_text(char text[24], size_t limit, size_t max);

/* What reads row i of res into the element at out. */
typedef void (*cl_pg_row_reader)(const PGresult *res, int i, void *out);

/* Runs a listing: cl_pg_ready, then the query with text parameters. Returns one zeroed element
 * of size bytes per row (at least one), each read by read, for the caller to free; *count gets
 * the number of rows and *rc CL_OK. On failure returns NULL with the code in *rc; a failure of
 * the database is handed to logged with what (running out of memory is not). */
void *cl_pg_list(struct cl_pg *db, const char *sql, int nparams, const char *const *values,
                 size_t size, cl_pg_row_reader read, size_t *count, int *rc, cl_pg_logger logged,
                 const char *what);

/* One numbered step of a schema: statements (NULL-terminated) applied in one transaction. */
struct cl_pg_migration {
    int version;
    const char *what;
    const char *const *statements;
};

/* A program's schema: its steps in ascending version order and the advisory lock key (first of
 * the two int4 keys) that serialises programs migrating one database at once. */
struct cl_pg_schema {
    const char *program; /* for "newer than <program> knows" */
    int lock_key;
    const struct cl_pg_migration *steps;
    size_t count;
};

/* Applies the steps not yet recorded in the table schema_migrations, each in its own
 * transaction under the advisory lock; *applied (if not NULL) gets how many were applied. A
 * database newer than the newest step is CL_ERR_STATE. */
int cl_pg_migrate(struct cl_pg *db, const struct cl_pg_schema *schema, int *applied, char *err,
                  size_t errlen);

#endif
