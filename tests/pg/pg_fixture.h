/* pg_fixture.h: the cmocka fixtures the store tests share: one private cluster (pg_cluster.h) per
 * test executable, a database per test, a direct connection, fake proofs and packs, and a text
 * assertion. Include after cmocka.h. */
#ifndef CERTLINE_TEST_PG_FIXTURE_H
#define CERTLINE_TEST_PG_FIXTURE_H

#include <stddef.h>

#include <libpq-fe.h>

/* One cmocka group of a store test executable: runs its tests, returns how many failed. */
typedef int (*pg_fixture_group)(void);

/* The main of a store test executable: starts the private cluster, runs every group over it, then
 * stops and removes the cluster. Returns the exit status (0 when every test passed; 1, with the
 * reason on stderr, if the cluster cannot start). */
int pg_fixture_run_groups(const pg_fixture_group *groups, size_t count);

/* Creates database db in the cluster (the test fails if it cannot) and returns its conninfo (valid
 * until the next call); the conninfo is copied to conninfo too if that is not NULL. */
const char *pg_fixture_create_db(const char *db, char *conninfo, size_t len);

/* A direct connection for what only SQL can check (the test fails if it cannot connect). */
PGconn *pg_fixture_connect(const char *conninfo);

/* Fails the test with "what: err" unless rc is CL_OK. */
void pg_fixture_require(int rc, const char *what, const char *err);

/* The installation proof a device sends for a device number as the tests' "signer" expects it:
 * digits hex characters and a NUL. */
void fake_proof(const char *number, char *proof, size_t digits);

/* The pack the tests' "signer" makes for a device number and serial. */
void fake_pack(const char *number, const char *serial, char *pack, size_t len);

/* Fails the test unless text contains part. */
void assert_contains(const char *text, const char *part);

#endif
