/* fetch_day.c: the day's fetch [S1/S2] as a pipeline. The calling thread records each request
 * (its id and numbers, before it is sent) and talks to ca-server; a storing thread with a
 * database connection of its own checks each answer's packs and stores them in one transaction,
 * while ca-server already issues the next request. The next request is recorded while ca-server
 * issues the current one.
 *
 * A request stays pending until its answer is stored, whole, in one transaction. Whatever stops
 * a fetch (ca-server away, a refused or bad answer, a failed store, a crash) therefore leaves
 * only whole answers stored and requests pending, which the next fetch resends first, under the
 * same ids, and ca-server answers with the same packs. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ca_fetch.h"
#include "error.h"
#include "log.h"

/* The storing thread and the one answer handed to it. */
struct storer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct ct_store *store; /* its own connection */
    const char *day;
    FILE *progress;
    struct ct_fetch_progress *counted; /* the console's view of this fetch */
    /* Guarded by lock: */
    int has_answer, quit;
    struct ct_answer answer;
    int resent;    /* the answer is to a request of an earlier fetch */
    int rc;        /* the first failure (CL_OK: none); no answer is taken after it */
    char err[512]; /* its reason */
    size_t fetched;
};

/* Where the day's requests come from: first those an earlier fetch left pending, then new. */
struct source {
    struct ct_runtime *rt;
    struct ct_store *store;
    const char *day;
    struct ct_pending_fetch *pending;
    size_t pending_count, pending_at;
};

/* Checks and stores one answer; the result goes to the progress output or into s->rc. */
static void store_answer(struct storer *s, struct ct_answer *answer, int resent)
{
    char err[sizeof(s->err) - 64];
    int rc = ct_answer_check(answer, err, sizeof(err));

    if (rc == CL_OK)
        rc = ct_store_fetch_complete(s->store, answer->request_id, answer->items, answer->count,
                                     err, sizeof(err));
    pthread_mutex_lock(&s->lock);
    if (rc != CL_OK) {
        s->rc = rc;
        snprintf(s->err, sizeof(s->err), "the answer to request %s was not stored: %.400s",
                 answer->request_id, err);
    } else if (!resent) {
        s->fetched += answer->count;
    }
    size_t fetched = s->fetched;
    pthread_mutex_unlock(&s->lock);
    if (rc == CL_OK)
        ct_fetch_progress_request(s->counted, answer->count);
    if (rc == CL_OK && s->progress != NULL) {
        if (resent)
            fprintf(s->progress, "resent request %s: %zu pack(s) stored\n", answer->request_id,
                    answer->count);
        else
            fprintf(s->progress, "fetched %zu pack(s) for %s (request %s)\n", fetched, s->day,
                    answer->request_id);
    }
}

static void *storer_run(void *arg)
{
    struct storer *s = arg;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->has_answer && !s->quit)
            pthread_cond_wait(&s->changed, &s->lock);
        if (!s->has_answer)
            break;
        struct ct_answer answer = s->answer;
        int resent = s->resent;
        pthread_mutex_unlock(&s->lock);
        store_answer(s, &answer, resent);
        ct_answer_free(&answer);
        pthread_mutex_lock(&s->lock);
        s->has_answer = 0;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static int storer_start(struct storer *s, struct ct_runtime *rt, const char *day, FILE *progress,
                        char *err, size_t errlen)
{
    char why[384];
    int rc;

    memset(s, 0, sizeof(*s));
    s->day = day;
    s->progress = progress;
    s->counted = &rt->fetch_progress;
    if ((rc = ct_store_open(rt->config->database.conninfo, &s->store, why, sizeof(why))) != CL_OK) {
        snprintf(err, errlen, "cannot open a database connection to store the answers: %s", why);
        return rc;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    if (pthread_create(&s->thread, NULL, storer_run, s) != 0) {
        snprintf(err, errlen, "cannot start the storing thread");
        pthread_cond_destroy(&s->changed);
        pthread_mutex_destroy(&s->lock);
        ct_store_close(s->store);
        return CL_ERR_INTERNAL;
    }
    return CL_OK;
}

/* Hands an answer over (it then belongs to the storer) once the previous one is stored; if that
 * failed, the answer is not taken and the failure is returned. */
static int storer_give(struct storer *s, struct ct_answer *answer, int resent, char *err,
                       size_t errlen)
{
    int rc;

    pthread_mutex_lock(&s->lock);
    while (s->has_answer)
        pthread_cond_wait(&s->changed, &s->lock);
    rc = s->rc;
    if (rc == CL_OK) {
        s->answer = *answer;
        s->resent = resent;
        s->has_answer = 1;
        memset(answer, 0, sizeof(*answer));
        pthread_cond_broadcast(&s->changed);
    } else {
        snprintf(err, errlen, "%s", s->err);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Waits until the last answer handed over is stored, then ends the thread. Returns the first
 * failure of storing (its reason in err) and the number of new packs in *fetched. */
static int storer_stop(struct storer *s, size_t *fetched, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->lock);
    s->quit = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    ct_store_close(s->store);
    if (s->rc != CL_OK)
        snprintf(err, errlen, "%s", s->err);
    *fetched = s->fetched;
    return s->rc;
}

/* The next request to send, recorded: a pending one of an earlier fetch (*resent = 1), else a
 * new one for the day's next numbers without a pack. count 0: nothing is left to fetch. */
static int next_request(struct source *src, struct ct_pending_fetch *out, int *resent, char *err,
                        size_t errlen)
{
    char(*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
    size_t count = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    *resent = src->pending_at < src->pending_count;
    if (*resent) {
        *out = src->pending[src->pending_at]; /* its numbers move to out */
        src->pending[src->pending_at++].numbers = NULL;
        return CL_OK;
    }
    rc = ct_store_numbers_to_fetch(src->store, src->day, (size_t)src->rt->config->fetch_chunk,
                                   &numbers, &count);
    if (rc != CL_OK || count == 0) {
        free(numbers);
        if (rc != CL_OK)
            snprintf(err, errlen, "cannot list the numbers to fetch for %s: %s", src->day,
                     cl_err_str(rc));
        return rc;
    }
    const char **list = calloc(count, sizeof(char *));
    if (list == NULL) {
        free(numbers);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count; i++)
        list[i] = numbers[i];
    rc = ct_new_request_id(src->rt->config->factory, src->day, out->request_id,
                           sizeof(out->request_id));
    if (rc != CL_OK)
        snprintf(err, errlen, "no request id could be drawn: %s", cl_err_str(rc));
    else
        rc = ct_store_fetch_begin(src->store, out->request_id, src->day, 0, list, count, err,
                                  errlen);
    free(list);
    if (rc != CL_OK) {
        free(numbers);
        return rc;
    }
    out->count = count;
    out->numbers = numbers;
    return CL_OK;
}

/* ca-server refuses a request for good (a Sender fault, reason in err): it is given up, so that
 * its numbers can be asked for again and later fetches are not blocked. A request of an earlier
 * fetch is passed over (CL_OK); a new one stops this fetch (CL_ERR_PERMISSION). */
static int refused(struct source *src, const struct ct_pending_fetch *request, int resent,
                   FILE *progress, char *err, size_t errlen)
{
    char why[256];
    int rc;

    cl_log_warn("request %s refused by ca-server; abandoned: %s", request->request_id, err);
    rc = ct_store_fetch_abandon(src->store, request->request_id, err, "comm-terminal", why,
                                sizeof(why));
    if (!resent)
        return CL_ERR_PERMISSION;
    ct_fetch_progress_request(&src->rt->fetch_progress, 0);
    if (progress != NULL)
        fprintf(progress, "request %s refused by ca-server and abandoned: %s\n",
                request->request_id, err);
    if (rc != CL_OK)
        snprintf(err, errlen, "%s", why);
    return rc;
}

/* The requests this fetch is to send: those pending, then the numbers left in chunks. */
static void count_requests(struct source *src)
{
    char(*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
    size_t left = 0, chunk = (size_t)src->rt->config->fetch_chunk;

    if (ct_store_numbers_to_fetch(src->store, src->day, 1000000, &numbers, &left) != CL_OK)
        left = 0;
    free(numbers);
    ct_fetch_progress_total(&src->rt->fetch_progress,
                            src->pending_count + (chunk > 0 ? (left + chunk - 1) / chunk : 0));
}

/* The fetch itself; ct_fetch_day counts it for the console. */
static int fetch_day(struct ct_runtime *rt, struct ct_store *store, const char *day, FILE *progress,
                     char *err, size_t errlen)
{
    struct source src = {.rt = rt, .store = store, .day = day};
    struct ct_pending_fetch current = {0}, next = {0};
    struct storer storer;
    char next_err[512], stored_err[512];
    size_t fetched = 0;
    int rc, stored_rc, resent = 0, next_resent = 0;

    /* ca-server's model list first [FIG 19A]: a model it stopped managing is not asked for. A
     * ca-server that cannot answer it leaves the list as last read. */
    size_t changed = 0;
    if (ct_models_sync(rt, store, &changed, err, errlen) != CL_OK)
        cl_log_warn("fetch for %s: ca-server's model list not read (%s); the list last read "
                    "applies",
                    day, err);
    else if (changed > 0 && progress != NULL)
        fprintf(progress, "model list: %zu model(s) changed at ca-server\n", changed);
    err[0] = '\0';
    /* First what a crash or a failure left unanswered: the same id, the same numbers. */
    if ((rc = ct_store_fetch_pending(store, &src.pending, &src.pending_count)) != CL_OK) {
        snprintf(err, errlen, "cannot read pending requests");
        return rc;
    }
    count_requests(&src);
    if ((rc = storer_start(&storer, rt, day, progress, err, errlen)) != CL_OK) {
        ct_pending_fetch_free(src.pending, src.pending_count);
        return rc;
    }
    rc = next_request(&src, &current, &resent, err, errlen);
    while (rc == CL_OK && current.count > 0) {
        struct ct_answer answer = {0};
        int next_rc;

        if (atomic_load(&rt->stopping)) {
            snprintf(err, errlen, "stopped by the comm-terminal's shutdown");
            rc = CL_ERR_STATE;
            break;
        }
        if ((rc = ct_ca_send(rt, &current, err, errlen)) != CL_OK)
            break;
        cl_log_info("request %s: %zu number(s) sent", current.request_id, current.count);
        /* While ca-server issues this one, the next is recorded. */
        next_rc = next_request(&src, &next, &next_resent, next_err, sizeof(next_err));
        rc = ct_ca_receive(rt, &current, &answer, err, errlen);
        if (rc == CL_ERR_PERMISSION)
            rc = refused(&src, &current, resent, progress, err, errlen);
        else if (rc == CL_OK) {
            cl_log_info("request %s: answer received", current.request_id);
            rc = storer_give(&storer, &answer, resent, err, errlen);
        }
        ct_answer_free(&answer);
        if (rc != CL_OK && rc != CL_ERR_PERMISSION && atomic_load(&rt->stopping)) {
            char why[400];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen,
                     "stopped by the comm-terminal's shutdown (request %s left pending: %s)",
                     current.request_id, why);
            rc = CL_ERR_STATE;
        }
        if (rc == CL_OK && next_rc != CL_OK) {
            snprintf(err, errlen, "%s", next_err);
            rc = next_rc;
        }
        free(current.numbers);
        current = next;
        resent = next_resent;
        memset(&next, 0, sizeof(next));
    }
    free(current.numbers);
    ct_pending_fetch_free(src.pending, src.pending_count);
    /* The answers handed over are stored (or have failed) before the fetch returns. */
    stored_rc = storer_stop(&storer, &fetched, stored_err, sizeof(stored_err));
    if (stored_rc != CL_OK && rc == CL_OK) {
        snprintf(err, errlen, "%s", stored_err);
        rc = stored_rc;
    } else if (stored_rc != CL_OK && strcmp(err, stored_err) != 0) {
        cl_log_error("fetch for %s: %s", day, stored_err);
    }
    if (rc == CL_OK)
        cl_log_info("fetch for %s: %zu new pack(s)", day, fetched);
    return rc;
}

int ct_fetch_day(struct ct_runtime *rt, struct ct_store *store, const char *day, FILE *progress,
                 char *err, size_t errlen)
{
    ct_fetch_progress_begin(&rt->fetch_progress, day);
    int rc = fetch_day(rt, store, day, progress, err, errlen);
    ct_fetch_progress_end(&rt->fetch_progress, rc, err);
    return rc;
}

void ct_fetch_stop(struct ct_runtime *rt)
{
    atomic_store(&rt->stopping, 1);
    ct_ca_break(rt);
}
