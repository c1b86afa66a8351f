/* pool.c: see pool.h. */
#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "metrics_catalog.h"

struct cl_pool {
    pthread_mutex_t lock;
    pthread_cond_t available;       /* for cl_pool_acquire */
    pthread_cond_t share_available; /* for cl_pool_acquire_share */
    void (*close)(void *resource);
    size_t count, free_count;
    size_t waiting;                 /* cl_pool_acquire callers waiting */
    size_t share_waiting;           /* cl_pool_acquire_share callers waiting */
    size_t share_limit, share_held; /* the share's limit, and what it holds */
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
    pthread_cond_init(&pool->share_available, NULL);
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
        pthread_cond_destroy(&pool->share_available);
    }
    free(pool->all);
    free(pool->free_list);
    free(pool);
}

void *cl_pool_acquire(struct cl_pool *pool)
{
    void *resource;
    pthread_mutex_lock(&pool->lock);
    pool->waiting++;
    while (pool->free_count == 0)
        pthread_cond_wait(&pool->available, &pool->lock);
    pool->waiting--;
    resource = pool->free_list[--pool->free_count];
    /* What production leaves is the share's: a connection given back while this thread was
     * woken but not yet running (a second return, or the share's own) woke no share request,
     * which would otherwise sleep out its whole wait beside a free connection. */
    if (pool->waiting == 0 && pool->free_count > 0)
        pthread_cond_broadcast(&pool->share_available);
    pthread_mutex_unlock(&pool->lock);
    cl_metric_add(CL_M_DB_POOL_IN_USE, 1, NULL);
    return resource;
}

/* Gives resource back under pool->lock: to a production waiter first, else to the share (once
 * production waits no more, cl_pool_acquire wakes the share for what is left). */
static void give_back(struct cl_pool *pool, void *resource)
{
    pool->free_list[pool->free_count++] = resource;
    if (pool->waiting > 0)
        pthread_cond_signal(&pool->available);
    else
        pthread_cond_broadcast(&pool->share_available);
}

void cl_pool_release(struct cl_pool *pool, void *resource)
{
    pthread_mutex_lock(&pool->lock);
    give_back(pool, resource);
    pthread_mutex_unlock(&pool->lock);
    cl_metric_add(CL_M_DB_POOL_IN_USE, -1, NULL);
}

void cl_pool_set_share(struct cl_pool *pool, size_t limit)
{
    pthread_mutex_lock(&pool->lock);
    pool->share_limit = limit;
    pthread_cond_broadcast(&pool->share_available); /* a larger share may take one now */
    pthread_mutex_unlock(&pool->lock);
}

void *cl_pool_acquire_share(struct cl_pool *pool, long wait_ms)
{
    struct timespec until;
    void *resource = NULL;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&pool->lock);
    pool->share_waiting++;
    while (pool->share_held >= pool->share_limit || pool->free_count == 0 || pool->waiting > 0)
        if (pthread_cond_timedwait(&pool->share_available, &pool->lock, &until) != 0)
            break;
    pool->share_waiting--;
    if (pool->share_held < pool->share_limit && pool->free_count > 0 && pool->waiting == 0) {
        resource = pool->free_list[--pool->free_count];
        pool->share_held++;
    }
    pthread_mutex_unlock(&pool->lock);
    if (resource != NULL)
        cl_metric_add(CL_M_DB_POOL_IN_USE, 1, NULL);
    return resource;
}

void cl_pool_release_share(struct cl_pool *pool, void *resource)
{
    pthread_mutex_lock(&pool->lock);
    pool->share_held--;
    give_back(pool, resource);
    pthread_mutex_unlock(&pool->lock);
    cl_metric_add(CL_M_DB_POOL_IN_USE, -1, NULL);
}

void cl_pool_state(struct cl_pool *pool, struct cl_pool_state *out)
{
    pthread_mutex_lock(&pool->lock);
    out->free = pool->free_count;
    out->waiting = pool->waiting;
    out->share_waiting = pool->share_waiting;
    out->share_held = pool->share_held;
    pthread_mutex_unlock(&pool->lock);
}
