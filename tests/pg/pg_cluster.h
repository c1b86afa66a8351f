/* pg_cluster.h: a private PostgreSQL cluster for integration tests: initdb into a fresh folder
 * under /tmp, a server listening on a unix socket in that folder only (no TCP, so no port
 * clashes between parallel tests), and removal of everything on stop. Run as root, the server
 * tools run as the `postgres` user (initdb and postgres refuse root). The server binaries are
 * taken from $CERTLINE_PG_BINDIR, else /usr/lib/postgresql/15/bin. */
#ifndef CERTLINE_TEST_PG_CLUSTER_H
#define CERTLINE_TEST_PG_CLUSTER_H

#include <stddef.h>

struct pg_cluster;

/* Creates and starts a cluster (superuser "certline", trust authentication, UTF8, fsync off).
 * Returns 0, or -1 with err saying why (with the tail of the tools' output); after a failure
 * nothing is left behind and *out is NULL. */
int pg_cluster_start(struct pg_cluster **out, char *err, size_t errlen);

/* "host=<dir> port=<n> user=certline dbname=postgres". */
const char *pg_cluster_conninfo(const struct pg_cluster *cluster);

/* Creates database name ([a-z0-9_], 1 to 63 characters) and writes its conninfo. Returns 0 or
 * -1 (the reason goes to stderr). */
int pg_cluster_create_db(struct pg_cluster *cluster, const char *name, char *conninfo_out,
                         size_t len);

/* Stops the server (pg_ctl stop -m fast) and removes the whole folder. NULL is a no-op. */
void pg_cluster_stop(struct pg_cluster *cluster);

#endif
