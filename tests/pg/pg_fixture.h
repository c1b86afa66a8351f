/* pg_fixture.h: the cmocka fixtures the store tests share: one private cluster (pg_cluster.h) per
 * group, a database per test, a direct connection, and a text assertion. Include after cmocka.h. */
#ifndef CERTLINE_TEST_PG_FIXTURE_H
#define CERTLINE_TEST_PG_FIXTURE_H

#include <stddef.h>

#include <libpq-fe.h>

/* Group setup: starts the private cluster (-1, with the reason on stderr, if it cannot). */
int pg_fixture_group_setup(void **state);

/* Group teardown: stops the cluster and removes it. */
int pg_fixture_group_teardown(void **state);

/* Creates database db in the cluster (the test fails if it cannot); its conninfo goes to info and,
 * if conninfo is not NULL, to conninfo too. */
void pg_fixture_create_db(const char *db, char *info, size_t infolen, char *conninfo, size_t len);

/* A direct connection for what only SQL can check (the test fails if it cannot connect). */
PGconn *pg_fixture_connect(const char *conninfo);

/* Fails the test unless text contains part. */
void assert_contains(const char *text, const char *part);

#endif
