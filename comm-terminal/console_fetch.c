/* console_fetch.c: the console's fetch now: POST /fetch starts the day's fetch in a thread of
 * its own (audited under the operator when it starts and when it ends); GET /fetch shows the
 * fetch under way, or the last one, with its progress (requests answered of those to send, packs
 * stored), refreshing itself every second until it ends, then its result. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "console.h"
#include "ct_commands.h"
#include "error.h"
#include "log.h"

#define REFRESH_S 1

/* The one fetch the console may have started; its thread is joined before the next one starts
 * and at shutdown (cs_fetch_wait). */
static struct {
    pthread_mutex_t lock;
    pthread_t thread;
    int started; /* a thread was started and not joined yet */
    int ended;   /* that thread has ended */
    struct ct_runtime *rt;
    char day[11];
    char operator_id[CT_OPERATOR_ID_MAX + 1];
} job = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *fetch_run(void *arg)
{
    struct ct_runtime *rt = job.rt;
    char err[512] = "", detail[200];
    (void)arg;

    struct ct_store *store = cl_pool_acquire(rt->pool);
    pthread_mutex_lock(&rt->fetch_lock);
    int rc = ct_fetch_day(rt, store, job.day, NULL, err, sizeof(err));
    pthread_mutex_unlock(&rt->fetch_lock);
    struct ct_fetch_status status;
    ct_fetch_progress_read(&rt->fetch_progress, &status);
    snprintf(detail, sizeof(detail), "console: %s %s (%zu request(s), %zu pack(s) stored)", job.day,
             rc == CL_OK ? "done" : "failed", status.requests_done, status.packs_stored);
    (void)ct_store_audit(store, job.operator_id, "fetch_now", detail);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK)
        cl_log_warn("console fetch for %s failed: %s", job.day, err);
    pthread_mutex_lock(&job.lock);
    job.ended = 1;
    pthread_mutex_unlock(&job.lock);
    return NULL;
}

/* Starts the fetch for day: 1 started, 0 a fetch is under way already, -1 no thread. */
static int fetch_start(struct ct_runtime *rt, const char *day, const char *operator_id)
{
    int started = -1;

    pthread_mutex_lock(&job.lock);
    if (job.started && !job.ended) {
        pthread_mutex_unlock(&job.lock);
        return 0;
    }
    if (job.started) {
        pthread_join(job.thread, NULL);
        job.started = 0;
    }
    /* Another fetch (daily, ct:FetchNow) holds the lock: it is the one shown. */
    if (pthread_mutex_trylock(&rt->fetch_lock) != 0) {
        pthread_mutex_unlock(&job.lock);
        return 0;
    }
    /* Shown as under way at once, before the thread takes the lock. */
    ct_fetch_progress_begin(&rt->fetch_progress, day);
    pthread_mutex_unlock(&rt->fetch_lock);
    job.rt = rt;
    job.ended = 0;
    snprintf(job.day, sizeof(job.day), "%s", day);
    snprintf(job.operator_id, sizeof(job.operator_id), "%s", operator_id);
    if (pthread_create(&job.thread, NULL, fetch_run, NULL) == 0) {
        job.started = 1;
        started = 1;
    } else {
        ct_fetch_progress_end(&rt->fetch_progress, CL_ERR_INTERNAL, "no thread for the fetch");
    }
    pthread_mutex_unlock(&job.lock);
    return started;
}

void cs_fetch_wait(void)
{
    /* Joined without job.lock: the thread takes it as it ends. Once the console is stopped
     * nothing starts another, and serve has asked the fetch to stop (ct_fetch_stop). */
    pthread_mutex_lock(&job.lock);
    int started = job.started;
    pthread_t thread = job.thread;
    job.started = 0;
    pthread_mutex_unlock(&job.lock);
    if (started)
        pthread_join(thread, NULL);
}

void cs_action_fetch(struct cs_ctx *ctx)
{
    char day[11], detail[64];

    if (!cs_may_act(ctx, "operator"))
        return;
    cs_today(day);
    int started = fetch_start(ctx->app->rt, day, ctx->session->operator_id);
    if (started < 0) {
        cs_error_page(ctx, 503, "the fetch could not be started (no thread)");
        return;
    }
    if (started) {
        snprintf(detail, sizeof(detail), "console: %s started", day);
        (void)ct_store_audit(ctx->store, ctx->session->operator_id, "fetch_now_started", detail);
    }
    cs_redirect(ctx->resp, started ? "/fetch" : "/fetch?already=1");
}

void cs_page_fetch(struct cs_ctx *ctx)
{
    struct cs_buf *b = &ctx->resp->body;
    struct ct_fetch_status s;
    char already[4];

    ct_fetch_progress_read(&ctx->app->rt->fetch_progress, &s);
    cs_query(ctx, "already", already, sizeof(already));
    cs_page_start(ctx, "Fetch now");
    if (s.running)
        cs_printf(b, "<meta http-equiv=\"refresh\" content=\"%d\">", REFRESH_S);
    if (already[0] == '1' && s.running)
        cs_puts(b, "<p class=\"alert\">A fetch was under way already: its progress is shown.</p>");
    if (!s.ran) {
        cs_puts(b, "<p id=\"fetch-state\" data-state=\"none\">No fetch since the comm-terminal "
                   "started.</p>");
    } else {
        const char *state = s.running ? "running" : s.rc == CL_OK ? "done" : "failed";
        cs_printf(b,
                  "<p id=\"fetch-state\" data-state=\"%s\" data-done=\"%zu\" data-total=\"%zu\" "
                  "data-packs=\"%zu\">Fetch for %s %s: <span id=\"fetch-requests\">%zu of %zu"
                  "</span> request(s) answered and stored, <span id=\"fetch-packs\">%zu</span> "
                  "pack(s) stored.</p>",
                  state, s.requests_done, s.requests_total, s.packs_stored, s.day,
                  s.running ? "under way" : "ended", s.requests_done, s.requests_total,
                  s.packs_stored);
        cs_printf(b, "<p><progress value=\"%zu\" max=\"%zu\"></progress></p><p>Started ",
                  s.requests_done, s.requests_total > 0 ? s.requests_total : 1);
        cs_time(b, s.started);
        if (!s.running) {
            cs_puts(b, ", ended ");
            cs_time(b, s.ended);
        }
        cs_puts(b, ".</p>");
        if (s.running) {
            cs_printf(b,
                      "<p>This page refreshes itself every %d s until the fetch ends "
                      "(<a href=\"/fetch\">refresh now</a>).</p>",
                      REFRESH_S);
        } else {
            cs_printf(b, "<p class=\"%s\" id=\"result\">", s.rc == CL_OK ? "ok" : "alert");
            if (s.rc == CL_OK)
                cs_printf(b, "fetch for %s done: %zu new pack(s) stored", s.day, s.packs_stored);
            else {
                cs_printf(b, "fetch for %s failed: ", s.day);
                cs_html(b, s.result[0] ? s.result : cl_err_str(s.rc));
            }
            cs_puts(b, "</p>");
        }
    }
    cs_puts(b, "<p><a href=\"/actions\">Back to the actions</a></p>");
    cs_page_end(ctx);
}
