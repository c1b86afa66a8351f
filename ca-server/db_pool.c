/* db_pool.c: a fixed set of database connections shared by the request threads. */
#include "runtime.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

struct ca_db_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;
    size_t count, free_count;
    struct ca_store **all, **free_list;
};

int ca_db_pool_new(const char *conninfo, size_t count, struct ca_db_pool **out, char *err,
                   size_t errlen)
{
    struct ca_db_pool *pool = calloc(1, sizeof(*pool));
    int rc = CL_OK;

    *out = NULL;
    if (pool == NULL || (pool->all = calloc(count, sizeof(*pool->all))) == NULL ||
        (pool->free_list = calloc(count, sizeof(*pool->free_list))) == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = CL_ERR_NOMEM;
        goto fail;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    for (; pool->count < count; pool->count++) {
        rc = ca_store_open(conninfo, &pool->all[pool->count], err, errlen);
        if (rc != CL_OK)
            goto fail;
        pool->free_list[pool->free_count++] = pool->all[pool->count];
    }
    *out = pool;
    return CL_OK;
fail:
    ca_db_pool_free(pool);
    return rc;
}

void ca_db_pool_free(struct ca_db_pool *pool)
{
    if (pool == NULL)
        return;
    if (pool->all != NULL) {
        for (size_t i = 0; i < pool->count; i++)
            ca_store_close(pool->all[i]);
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->available);
    }
    free(pool->all);
    free(pool->free_list);
    free(pool);
}

struct ca_store *ca_db_pool_acquire(struct ca_db_pool *pool)
{
    struct ca_store *store;
    pthread_mutex_lock(&pool->lock);
    while (pool->free_count == 0)
        pthread_cond_wait(&pool->available, &pool->lock);
    store = pool->free_list[--pool->free_count];
    pthread_mutex_unlock(&pool->lock);
    return store;
}

void ca_db_pool_release(struct ca_db_pool *pool, struct ca_store *store)
{
    pthread_mutex_lock(&pool->lock);
    pool->free_list[pool->free_count++] = store;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}
