/* fetch_progress.h: how far the day's fetch under way (or the last one) has come, for the
 * console: requests answered and stored out of those to send, packs stored, its result. Kept in
 * the runtime (rt->fetch_progress); every fetch (daily, ct:FetchNow, the console's) reports
 * into it (fetch_day.c). */
#ifndef CERTLINE_FETCH_PROGRESS_H
#define CERTLINE_FETCH_PROGRESS_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

/* A copy of the progress, as read at one moment. */
struct ct_fetch_status {
    int running;           /* a fetch is under way */
    int ran;               /* a fetch began since the comm-terminal started */
    char day[11];          /* the day it fetches for */
    size_t requests_total; /* requests it is to send (pending ones of earlier fetches, then new) */
    size_t requests_done;  /* of them, answered and stored (or passed over: refused) */
    size_t packs_stored;   /* packs stored by the answers so far */
    time_t started, ended; /* ended: 0 while running */
    int rc;                /* its result once ended (a cl_err code) */
    char result[512];      /* why it failed, once ended; "" when it succeeded */
};

struct ct_fetch_progress {
    pthread_mutex_t lock;
    struct ct_fetch_status status;
};

void ct_fetch_progress_init(struct ct_fetch_progress *progress);
void ct_fetch_progress_free(struct ct_fetch_progress *progress);
/* A fetch for day begins; the counts restart at 0. */
void ct_fetch_progress_begin(struct ct_fetch_progress *progress, const char *day);
/* It is to send requests in all (never fewer than those done already). */
void ct_fetch_progress_total(struct ct_fetch_progress *progress, size_t requests);
/* One request answered and its packs stored (packs 0: passed over). */
void ct_fetch_progress_request(struct ct_fetch_progress *progress, size_t packs);
/* It ended with rc (why: its failure, or NULL). */
void ct_fetch_progress_end(struct ct_fetch_progress *progress, int rc, const char *why);
void ct_fetch_progress_read(struct ct_fetch_progress *progress, struct ct_fetch_status *out);

#endif
