/* pool.c: see pool.h. */
#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "metrics_catalog.h"

struct cl_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;
    void (*close)(void *resource);
    size_t count, free_count;
    void **all, **free_list;
    int counted; /* in the pool metrics (certline_db_pool_size) */
};

int cl_pool_new(size_t count,
                int (*open)(const void *arg, void **resource, char *err, size_t errlen),
                void (*close)(void *resource), const void *arg, struct cl_pool **out, char *err,
                size_t errlen)
{
    struct cl_pool *pool = calloc(1, sizeof(*pool));
    int rc = CL_OK;

    *out = NULL;
    if (pool == NULL || count == 0 || (pool->all = calloc(count, sizeof(void *))) == NULL ||
        (pool->free_list = calloc(count, sizeof(void *))) == NULL) {
        snprintf(err, errlen, count == 0 ? "a pool needs at least one resource" : "out of memory");
        rc = count == 0 ? CL_ERR_INVALID_ARGUMENT : CL_ERR_NOMEM;
        goto fail;
    }
    pool->close = close;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->available, NULL);
    for (; pool->count < count; pool->count++) {
        rc = open(arg, &pool->all[pool->count], err, errlen);
        if (rc != CL_OK)
            goto fail;
        pool->free_list[pool->free_count++] = pool->all[pool->count];
    }
    *out = pool;
    pool->counted = 1;
    cl_metric_add(CL_M_DB_POOL_SIZE, (double)count, NULL);
    return CL_OK;
fail:
    cl_pool_free(pool);
    return rc;
}

void cl_pool_free(struct cl_pool *pool)
{
    if (pool == NULL)
        return;
    if (pool->all != NULL && pool->free_list != NULL) {
        for (size_t i = 0; i < pool->count; i++)
            pool->close(pool->all[i]);
        if (pool->counted)
            cl_metric_add(CL_M_DB_POOL_SIZE, -(double)pool->count, NULL);
        pthread_mutex_destroy(&pool->lock);
        pthread_cond_destroy(&pool->available);
    }
    free(pool->all);
    free(pool->free_list);
    free(pool);
}

void *cl_pool_acquire(struct cl_pool *pool)
{
    void *resource;
    pthread_mutex_lock(&pool->lock);
    while (pool->free_count == 0)
        pthread_cond_wait(&pool->available, &pool->lock);
    resource = pool->free_list[--pool->free_count];
    pthread_mutex_unlock(&pool->lock);
    cl_metric_add(CL_M_DB_POOL_IN_USE, 1, NULL);
    return resource;
}

void cl_pool_release(struct cl_pool *pool, void *resource)
{
    pthread_mutex_lock(&pool->lock);
    pool->free_list[pool->free_count++] = resource;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
    cl_metric_add(CL_M_DB_POOL_IN_USE, -1, NULL);
}
