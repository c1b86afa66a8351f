/* db_pool.c: ca-server's database connections, in a common/pool.h pool. */
#include "runtime.h"

#include "pool.h"

static int open_store(const void *conninfo, void **store, char *err, size_t errlen)
{
    return ca_store_open(conninfo, (struct ca_store **)store, err, errlen);
}

static void close_store(void *store)
{
    ca_store_close(store);
}

int ca_db_pool_new(const char *conninfo, size_t count, struct ca_db_pool **out, char *err,
                   size_t errlen)
{
    return cl_pool_new(count, open_store, close_store, conninfo, (struct cl_pool **)out, err,
                       errlen);
}

void ca_db_pool_free(struct ca_db_pool *pool)
{
    cl_pool_free((struct cl_pool *)pool);
}

struct ca_store *ca_db_pool_acquire(struct ca_db_pool *pool)
{
    return cl_pool_acquire((struct cl_pool *)pool);
}

void ca_db_pool_release(struct ca_db_pool *pool, struct ca_store *store)
{
    cl_pool_release((struct cl_pool *)pool, store);
}

void ca_db_pool_set_share(struct ca_db_pool *pool, size_t limit)
{
    cl_pool_set_share((struct cl_pool *)pool, limit);
}

struct ca_store *ca_db_pool_acquire_share(struct ca_db_pool *pool, long wait_ms)
{
    return cl_pool_acquire_share((struct cl_pool *)pool, wait_ms);
}

void ca_db_pool_release_share(struct ca_db_pool *pool, struct ca_store *store)
{
    cl_pool_release_share((struct cl_pool *)pool, store);
}
