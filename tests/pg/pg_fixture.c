/* pg_fixture.c: the cmocka fixtures the store tests share over one private cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pg_cluster.h"
#include "pg_fixture.h"

static struct pg_cluster *cluster;

int pg_fixture_group_setup(void **state)
{
    char err[4096];
    (void)state;
    if (pg_cluster_start(&cluster, err, sizeof(err)) != 0) {
        fprintf(stderr, "cannot start the private PostgreSQL cluster: %s\n", err);
        return -1;
    }
    return 0;
}

int pg_fixture_group_teardown(void **state)
{
    (void)state;
    pg_cluster_stop(cluster);
    cluster = NULL;
    return 0;
}

void pg_fixture_create_db(const char *db, char *info, size_t infolen, char *conninfo, size_t len)
{
    assert_int_equal(pg_cluster_create_db(cluster, db, info, infolen), 0);
    if (conninfo != NULL)
        snprintf(conninfo, len, "%s", info);
}

PGconn *pg_fixture_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(conn));
    return conn;
}

void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", text, part);
}
