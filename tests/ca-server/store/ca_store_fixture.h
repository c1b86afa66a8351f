/* ca_store_fixture.h: what the ca-server store tests share (ca_store_fixture.c), and each
 * aggregate's group of tests (test_<aggregate>.c), run over one private cluster by
 * test_ca_store.c. Include after cmocka.h. */
#ifndef CERTLINE_TEST_CA_STORE_FIXTURE_H
#define CERTLINE_TEST_CA_STORE_FIXTURE_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "store.h"

/* The groups: each runs its tests and returns how many failed. */
int ca_store_connection_tests(void);
int ca_store_models_tests(void);
int ca_store_batches_tests(void);
int ca_store_batch_races_tests(void);
int ca_store_completion_tests(void);
int ca_store_installations_tests(void);
int ca_store_certificates_tests(void);
int ca_store_audit_tests(void);
int ca_store_service_tests(void);
int ca_store_owners_tests(void);
int ca_store_revocations_tests(void);
int ca_store_retention_tests(void);
int ca_store_prewrite_keys_tests(void);
int ca_store_issuance_tests(void);
int ca_store_lock_order_tests(void);

#define CONST_LIST(numbers) ((const char *const *)(numbers))

/* A fresh database, migrated; its conninfo in conninfo (if not NULL). */
struct ca_store *fresh_store(const char *db, char *conninfo, size_t len);

/* A fresh database migrated up to version only (as an older ca-server left it), for the
 * migration tests (test_ca_migrations.c); its conninfo in conninfo (if not NULL). */
struct ca_store *store_at_version(const char *db, int version, char *conninfo, size_t len);

/* Adds a model (its key id "prewrite-<code>"); the test fails if it cannot. */
void add_model(struct ca_store *store, const char *code, const char *key_type, int managed);

/* n device numbers "<model>-<first..>" (six digits); free with free_numbers. */
char **make_numbers(const char *model, unsigned first, size_t n);
void free_numbers(char **numbers, size_t n);

/* The request body hash of a seed. */
void body_hash(unsigned seed, unsigned char hash[32]);

/* Begins a batch of requester (body hash of seed); returns ca_store_batch_begin's code. */
int begin_as(struct ca_store *store, const char *requester, const char *id, unsigned seed,
             int replacement, const char *const *numbers, size_t n, struct ca_batch_item *items,
             enum ca_batch_state *state, char *err, size_t errlen);

/* Begins a batch of "comm-terminal-1" and expects state. */
void begin(struct ca_store *store, const char *id, unsigned seed, int replacement,
           const char *const *numbers, size_t n, struct ca_batch_item *items,
           enum ca_batch_state expected);

/* Begins a batch that must be refused with code; err gets why. */
void begin_refused(struct ca_store *store, const char *id, unsigned seed, int replacement,
                   const char *const *numbers, size_t n, int code, char *err, size_t errlen);

/* "Signs" every item of a batch and completes it. */
void complete(struct ca_store *store, const char *id, const struct ca_batch_item *items, size_t n);

/* Begins a new batch (no replacement) and completes it: every item issued. */
void issue(struct ca_store *store, const char *id, unsigned seed, char **numbers, size_t n,
           struct ca_batch_item *items);

/* What ca_store_install answered: its code, the receipt time (-1 if it left it) and why. */
struct install_result {
    int rc;
    time_t received;
    char err[512];
};

/* An installation report of serial for number with proof, at time at. */
struct install_result install(struct ca_store *store, const char *number, const char *serial,
                              const char *proof, time_t at);

/* The same with the proof number's device sends (fake_proof). */
struct install_result install_proven(struct ca_store *store, const char *number, const char *serial,
                                     time_t at);

/* How many certificates are listed for number and state (NULL: any). */
size_t count_certs(struct ca_store *store, const char *number, const char *state);

/* The state of number's certificate serial. */
enum ca_cert_state state_of(struct ca_store *store, const char *number, const char *serial);

/* Runs sql (no parameters) and returns its SQLSTATE ("" on success); the first value, if any,
 * goes to value. */
void sql(PGconn *conn, const char *statement, char *sqlstate, char *value, size_t len);

/* A connection of its own to conninfo; the test fails if there is none. */
PGconn *connect_raw(const char *conninfo);

/* Sleeps ms milliseconds. */
void nap_ms(long ms);

#endif
