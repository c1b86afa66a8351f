/* fetch_progress.c: the fetch under way, as counted for the console (fetch_progress.h). */
#include "fetch_progress.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

void ct_fetch_progress_init(struct ct_fetch_progress *p)
{
    memset(&p->status, 0, sizeof(p->status));
    pthread_mutex_init(&p->lock, NULL);
}

void ct_fetch_progress_free(struct ct_fetch_progress *p)
{
    pthread_mutex_destroy(&p->lock);
}

void ct_fetch_progress_begin(struct ct_fetch_progress *p, const char *day)
{
    pthread_mutex_lock(&p->lock);
    memset(&p->status, 0, sizeof(p->status));
    p->status.running = 1;
    p->status.ran = 1;
    snprintf(p->status.day, sizeof(p->status.day), "%s", day);
    p->status.started = time(NULL);
    pthread_mutex_unlock(&p->lock);
}

void ct_fetch_progress_total(struct ct_fetch_progress *p, size_t requests)
{
    pthread_mutex_lock(&p->lock);
    p->status.requests_total =
        requests > p->status.requests_done ? requests : p->status.requests_done;
    pthread_mutex_unlock(&p->lock);
}

void ct_fetch_progress_request(struct ct_fetch_progress *p, size_t packs)
{
    pthread_mutex_lock(&p->lock);
    p->status.requests_done++;
    p->status.packs_stored += packs;
    if (p->status.requests_total < p->status.requests_done)
        p->status.requests_total = p->status.requests_done;
    pthread_mutex_unlock(&p->lock);
}

void ct_fetch_progress_end(struct ct_fetch_progress *p, int rc, const char *why)
{
    pthread_mutex_lock(&p->lock);
    p->status.running = 0;
    p->status.ended = time(NULL);
    p->status.rc = rc;
    snprintf(p->status.result, sizeof(p->status.result), "%s",
             rc == CL_OK || why == NULL ? "" : why);
    pthread_mutex_unlock(&p->lock);
}

void ct_fetch_progress_read(struct ct_fetch_progress *p, struct ct_fetch_status *out)
{
    pthread_mutex_lock(&p->lock);
    *out = p->status;
    pthread_mutex_unlock(&p->lock);
}
