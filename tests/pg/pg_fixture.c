/* pg_fixture.c: the cmocka fixtures the store tests share over one private cluster. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "pg_cluster.h"
#include "pg_fixture.h"

static struct pg_cluster *cluster;

int pg_fixture_run_groups(const pg_fixture_group *groups, size_t count)
{
    char err[4096];
    int failed = 0;

    signal(SIGPIPE, SIG_IGN);
    if (pg_cluster_start(&cluster, err, sizeof(err)) != 0) {
        fprintf(stderr, "cannot start the private PostgreSQL cluster: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < count; i++)
        failed += groups[i]();
    pg_cluster_stop(cluster);
    cluster = NULL;
    return failed != 0;
}

const char *pg_fixture_create_db(const char *db, char *conninfo, size_t len)
{
    static char info[256];
    assert_int_equal(pg_cluster_create_db(cluster, db, info, sizeof(info)), 0);
    if (conninfo != NULL)
        snprintf(conninfo, len, "%s", info);
    return info;
}

PGconn *pg_fixture_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(conn));
    return conn;
}

void pg_fixture_require(int rc, const char *what, const char *err)
{
    if (rc != CL_OK)
        fail_msg("%s: %s: %s", what, cl_err_name(rc), err);
}

void fake_proof(const char *number, char *proof, size_t digits)
{
    static const char hex[] = "0123456789abcdef";
    size_t len = strlen(number);
    for (size_t i = 0; i < digits; i++)
        proof[i] = hex[((unsigned char)number[i % len] * 7u + i) % 16];
    proof[digits] = '\0';
}

void fake_pack(const char *number, const char *serial, char *pack, size_t len)
{
    snprintf(pack, len, "{\"device_number\": \"%.32s\",\n \"serial\": \"%.40s\"}", number, serial);
}

void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", text, part);
}
