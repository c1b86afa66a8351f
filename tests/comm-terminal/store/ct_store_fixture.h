/* ct_store_fixture.h: what the comm-terminal store tests share (ct_store_fixture.c), and each
 * part's group of tests (test_<part>.c, as in comm-terminal/store/), run over one private
 * cluster by test_ct_store.c. Include after cmocka.h. */
#ifndef CERTLINE_TEST_CT_STORE_FIXTURE_H
#define CERTLINE_TEST_CT_STORE_FIXTURE_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "ct_store.h"

/* The groups: each runs its tests and returns how many failed. */
int ct_store_schema_tests(void);
int ct_store_plan_tests(void);
int ct_store_fetch_tests(void);
int ct_store_packs_tests(void);
int ct_store_claims_tests(void);
int ct_store_reports_tests(void);
int ct_store_console_tests(void);
int ct_store_operators_tests(void);
int ct_store_audit_tests(void);
int ct_store_retirements_tests(void);
int ct_store_crl_tests(void);
int ct_store_records_tests(void);
int ct_store_rejections_tests(void);
int ct_store_views_tests(void);

#define ACTOR "operator:test"

/* Opens a store on conninfo (the test fails if it cannot). */
struct ct_store *open_store(const char *conninfo);

/* A fresh database, migrated; its conninfo in conninfo (if not NULL). */
struct ct_store *fresh_store(const char *db, char *conninfo, size_t len);

/* A fresh database migrated up to version only (as an older comm-terminal left it), for the
 * migration tests (test_ct_migrations.c); its conninfo in conninfo (if not NULL). */
struct ct_store *store_at_version(const char *db, int version, char *conninfo, size_t len);

/* The local date of t, YYYY-MM-DD. */
void day_of(time_t t, char day[11]);

/* A plan entry of units numbers from first_serial (six digits). */
struct ct_plan_entry entry(const char *model, const char *day, long units, long long first_serial);

/* Imports a plan (the test fails if it cannot); returns how many numbers it added. */
size_t import(struct ct_store *store, const struct ct_plan_entry *entries, size_t count);

/* Sets a model, certificate-managed or not (the test fails if it cannot). */
void model(struct ct_store *store, const char *code, int managed);

/* A serial for a device number's pack of generation gen ("0<gen>" + the number's digits). */
void fake_serial(const char *number, int gen, char serial[CT_SERIAL_HEX_MAX + 1]);

/* Begins a fetch (the test fails if it cannot). */
void begin(struct ct_store *store, const char *id, const char *day, int replacement,
           const char *const *numbers, size_t n);

/* Begins a fetch that must be refused with code and an error containing needle (if not NULL). */
void begin_refused(struct ct_store *store, const char *id, const char *day, int replacement,
                   const char *const *numbers, size_t n, int code, const char *needle);

/* Completes a request with fake packs of generation gen. */
void complete(struct ct_store *store, const char *id, const char *const *numbers, size_t n,
              int gen);

/* Begins and completes a fetch. */
void fetch(struct ct_store *store, const char *id, const char *day, int replacement,
           const char *const *numbers, size_t n, int gen);

/* Model 3012 certificate-managed, planned today for units numbers from 3012-000001, and numbers
 * fetched in request req-1 (generation 1); returns how many numbers the plan added. */
size_t plan_and_fetch(struct ct_store *store, const char *today, long units,
                      const char *const *numbers, size_t n);

/* Claims and expects success; returns the pack (free it). */
char *claim(struct ct_store *store, const char *number, const char *line, int seconds,
            char serial[CT_SERIAL_HEX_MAX + 1]);

/* Claims and expects code, no pack, no serial and an error containing needle (if not NULL). */
void claim_refused(struct ct_store *store, const char *number, const char *line, int seconds,
                   int code, const char *needle);

/* S11 OK from line with the proof the device sends; returns ct_store_written's code. */
int written(struct ct_store *store, const char *number, const char *line, const char *serial,
            char *err, size_t len);

/* The listing row of one device number (fails if absent). */
struct ct_cert_row row_of(struct ct_store *store, const char *number);

/* How many certificates are listed for state and model ("": any). */
size_t count_listed(struct ct_store *store, const char *state, const char *model_code);

/* Runs a statement (no parameters) that must succeed; returns its first value as a number. */
long long sql_value(PGconn *conn, const char *statement);

/* Runs a query that must return a row; its first value goes to out. */
void sql_text(PGconn *conn, const char *statement, char *out, size_t len);

/* ---- the migration tests (test_ct_migrations.c, test_ct_migration_steps.c) ---- */
int ct_migrations_data_tests(void);
int ct_migrations_steps_tests(void);

/* The newest migration applied. */
long long schema_version(PGconn *conn);

/* How many planned numbers carry a written flag (migration 11) other than whether a certificate
 * for that number is written. */
long long plan_flags_wrong(PGconn *conn);

/* The numbers of model planned for day whose certificate is not written, counted from scratch
 * (not from migration 11's flag). */
long long open_from_scratch(PGconn *conn, const char *day, const char *model_code);

/* ct_store_status's remaining count of every model on day (Today's) equals open_from_scratch. */
void expect_status_from_scratch(struct ct_store *store, PGconn *conn, const char *day);

/* Each index named exists, valid, ready and live (pg_index). */
void expect_indexes_valid(PGconn *conn, const char *const *names, size_t count);

#endif
