/* pack_purge.c: the thread of `serve` that purges the packs (sealed device keys) of certificates
 * issued and never installed once pack_retention_hours have passed (every minute), and folds the
 * rows the issuance counts gained meanwhile (one per statement that signed, installed or revoked)
 * every issuance_fold_s. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "error.h"
#include "log.h"
#include "runtime.h"
#include "store_console.h"

#define PURGE_PERIOD_S 60

struct ca_pack_purge {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
};

static void *purger(void *arg)
{
    struct ca_runtime *rt = arg;
    struct ca_pack_purge *p = rt->purge;

    struct timespec purged_at = {0, 0}, now;
    int purged_once = 0;

    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec until;
        long purged = 0;
        pthread_mutex_unlock(&p->lock);
        struct ca_store *store = ca_db_pool_acquire(rt->pool);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!purged_once || now.tv_sec - purged_at.tv_sec >= PURGE_PERIOD_S) {
            purged_once = 1;
            purged_at = now;
            if (ca_store_purge_packs(store, rt->config->pack_retention_hours, &purged) == CL_OK &&
                purged > 0)
                cl_log_info("%ld pack(s) issued more than %lld h ago and never installed purged",
                            purged, rt->config->pack_retention_hours);
        }
        ca_store_issuance_fold(store, NULL);
        ca_db_pool_release(rt->pool, store);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)rt->config->issuance_fold_s;
        pthread_mutex_lock(&p->lock);
        if (!p->stopping)
            pthread_cond_timedwait(&p->wake, &p->lock, &until);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int ca_pack_purge_start(struct ca_runtime *rt)
{
    struct ca_pack_purge *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return CL_ERR_NOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    rt->purge = p;
    if (pthread_create(&p->thread, NULL, purger, rt) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p);
        rt->purge = NULL;
        return CL_ERR_INTERNAL;
    }
    return CL_OK;
}

void ca_pack_purge_stop(struct ca_runtime *rt)
{
    struct ca_pack_purge *p = rt->purge;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
    rt->purge = NULL;
}
