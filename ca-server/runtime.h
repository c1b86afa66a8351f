/* runtime.h: what a running ca-server shares between its threads: configuration, the CA, a
 * pool of database connections and the CRL publisher (one store per request at a time). */
#ifndef CERTLINE_CA_RUNTIME_H
#define CERTLINE_CA_RUNTIME_H

#include <stddef.h>

#include "authority.h"
#include "ca_config.h"
#include "store.h"

struct ca_db_pool;
struct ca_crl_publisher;
struct ca_pack_purge;

struct ca_runtime {
    const struct ca_config *config;
    struct ca_authority *authority;
    struct ca_db_pool *pool;
    struct ca_crl_publisher *crl;             /* serve's CRL publisher (crl_publisher.h) */
    struct ca_pack_purge *purge;              /* pack_purge.c */
    struct ca_prewrite_token *prewrite_token; /* device_key_token: prewrite_token.h; NULL: files */
};

/* Starts the thread that purges packs past pack_retention_hours (every minute) and folds the
 * issuance counts (every issuance_fold_s); stop joins it. */
int ca_pack_purge_start(struct ca_runtime *runtime);
void ca_pack_purge_stop(struct ca_runtime *runtime);

/* Opens count connections to conninfo. */
int ca_db_pool_new(const char *conninfo, size_t count, struct ca_db_pool **out, char *err,
                   size_t errlen);
void ca_db_pool_free(struct ca_db_pool *pool);

/* Takes a connection, waiting while all are in use; give it back with ca_db_pool_release. */
struct ca_store *ca_db_pool_acquire(struct ca_db_pool *pool);
void ca_db_pool_release(struct ca_db_pool *pool, struct ca_store *store);
/* The console's share (common/pool.h): at most limit connections, each taken within wait_ms
 * or not at all, never ahead of ca_db_pool_acquire's callers. */
void ca_db_pool_set_share(struct ca_db_pool *pool, size_t limit);
struct ca_store *ca_db_pool_acquire_share(struct ca_db_pool *pool, long wait_ms);
void ca_db_pool_release_share(struct ca_db_pool *pool, struct ca_store *store);

#endif
