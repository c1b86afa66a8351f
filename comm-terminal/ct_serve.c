/* ct_serve.c: `comm-terminal serve`: the line service and the plan feed's SOAP operations, plus
 * background threads: the installation reporter, which also retires deleted packs (receipts and
 * retirements queue and retry while ca-server is away; lines are served from the stored batch
 * meanwhile), the daily fetch at fetch_time, the CRL fetch every crl_fetch_s (ct_crl.c; the line
 * service enforces the CRL held), and the plan inbox every plan_inbox_poll_s (plan_inbox.c). */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "ct_commands.h"
#include "ct_crl.h"
#include "error.h"
#include "log.h"
#include "ct_metrics.h"
#include "plan_feed.h"
#include "soap_server.h"

static struct cl_server *running;
static struct ct_console *console; /* the operator console, or NULL */
static atomic_int stopping;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stopping, 1);
    if (running != NULL)
        cl_server_stop(running);
    ct_console_stop(console);
}

/* Sleeps up to seconds, waking early when the server stops. */
static void nap(long seconds)
{
    for (long i = 0; i < seconds * 10 && !atomic_load(&stopping); i++)
        usleep(100000);
}

static void *reporter(void *arg)
{
    struct ct_runtime *rt = arg;
    while (!atomic_load(&stopping)) {
        struct ct_store *store = cl_pool_acquire(rt->pool);
        ct_report_due(rt, store);
        ct_retire_due(rt, store);
        ct_metrics_read_store(store);
        cl_pool_release(rt->pool, store);
        nap((long)rt->config->report_interval_s);
    }
    return NULL;
}

static void *crl_fetcher(void *arg)
{
    struct ct_runtime *rt = arg;
    while (!atomic_load(&stopping)) {
        char err[512];
        if (ct_crl_fetch(rt, err, sizeof(err)) != CL_OK)
            cl_log_warn("CRL not updated (the one held stays enforced; retrying in %lld s): %s",
                        rt->config->crl.fetch_s, err);
        nap((long)rt->config->crl.fetch_s);
    }
    return NULL;
}

static void *daily_fetch(void *arg)
{
    struct ct_runtime *rt = arg;
    char last_day[11] = "";
    int hour = 0, minute = 0;

    if (sscanf(rt->config->fetch_time, "%d:%d", &hour, &minute) != 2)
        return NULL;
    while (!atomic_load(&stopping)) {
        time_t now = time(NULL);
        struct tm tm;
        char day[11], err[512];
        localtime_r(&now, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
        if (strcmp(day, last_day) != 0 && tm.tm_hour * 60 + tm.tm_min >= hour * 60 + minute) {
            struct ct_store *store = cl_pool_acquire(rt->pool);
            cl_log_info("daily fetch for %s at fetch_time %s", day, rt->config->fetch_time);
            pthread_mutex_lock(&rt->fetch_lock);
            int rc = ct_fetch_day(rt, store, day, NULL, err, sizeof(err));
            pthread_mutex_unlock(&rt->fetch_lock);
            cl_pool_release(rt->pool, store);
            if (rc == CL_OK)
                strcpy(last_day, day);
            else
                cl_log_warn("daily fetch for %s failed (retrying in a minute): %s", day, err);
        }
        /* Wakes at the start of the next minute, so the fetch begins within a second of
         * fetch_time (and a failed one is retried a minute later). */
        now = time(NULL);
        localtime_r(&now, &tm);
        nap(60 - tm.tm_sec > 0 ? 60 - tm.tm_sec : 1);
    }
    return NULL;
}

static void *plan_watch(void *arg)
{
    struct ct_runtime *rt = arg;
    while (!atomic_load(&stopping)) {
        struct ct_store *store = cl_pool_acquire(rt->pool);
        char err[512];
        int done = 0, rejected = 0;
        if (ct_plan_inbox_poll(rt, store, &done, &rejected, err, sizeof(err)) != CL_OK)
            cl_log_warn("plan inbox not read (retrying in %lld s): %s",
                        rt->config->plan_inbox_poll_s, err);
        cl_pool_release(rt->pool, store);
        nap((long)rt->config->plan_inbox_poll_s);
    }
    return NULL;
}

int ct_command_serve(struct ct_runtime *rt, int argc, char **argv)
{
    struct cl_server_settings settings = {.iface = CL_IFACE_COMM_TERMINAL};
    struct cl_tls_settings tls_settings;
    struct cl_tls *tls = NULL;
    struct cl_metrics_http *metrics = NULL;
    pthread_t report_thread, fetch_thread, crl_thread, inbox_thread;
    int fetching = 0, watching = 0, code = 1;
    char err[512];
    (void)argc;
    (void)argv;

    size_t share; /* the console's connections: checked before anything starts */
    if (cs_console_db_share(&rt->config->console, rt->config->db_connections, &share, err,
                            sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        return 1;
    }
    cl_tls_config_settings(&rt->config->tls, &tls_settings);
    if (cl_tls_new(CL_TLS_SERVER, &tls_settings, &tls, err, sizeof(err)) != CL_OK ||
        cl_tls_check_revocation(tls, ct_crl_holder(rt)) != CL_OK) {
        cl_log_error("%s", tls == NULL ? err : "the CRL holder is missing");
        cl_tls_free(tls);
        return 1;
    }
    settings.host = rt->config->listen.host;
    settings.port = (int)rt->config->listen.port;
    settings.max_connections = (int)rt->config->listen.max_connections;
    settings.app = rt;
    cl_limits_config_apply(&rt->config->limits, &settings.limits);
    if (cl_server_new(&settings, tls, &running, err, sizeof(err)) != CL_OK ||
        ct_metrics_start(rt, &metrics, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        cl_server_free(running);
        running = NULL;
        cl_tls_free(tls);
        return 1;
    }
    if (ct_console_start(rt, tls, &console, err, sizeof(err)) != CL_OK) {
        cl_log_error("operator console: %s", err);
        cl_server_free(running);
        running = NULL;
        cl_tls_free(tls);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    /* The reporter and the CRL fetch are part of serving: without either, refuse to serve. */
    int reporting = pthread_create(&report_thread, NULL, reporter, rt) == 0;
    int crl_fetching = reporting && pthread_create(&crl_thread, NULL, crl_fetcher, rt) == 0;
    if (crl_fetching && rt->config->fetch_time[0] != '\0')
        fetching = pthread_create(&fetch_thread, NULL, daily_fetch, rt) == 0;
    if (crl_fetching && rt->config->plan_inbox[0] != '\0')
        watching = pthread_create(&inbox_thread, NULL, plan_watch, rt) == 0;
    if (!crl_fetching || (rt->config->plan_inbox[0] != '\0' && !watching)) {
        cl_log_error("cannot start the installation reporter, the CRL fetch or the plan inbox "
                     "thread");
        code = 1;
    } else {
        cl_log_info("serving the comm-terminal interface on %s port %d", settings.host,
                    cl_server_port(running));
        printf("listening on %s:%d\n", settings.host, cl_server_port(running));
        fflush(stdout);
        code = cl_server_run(running) == CL_OK ? 0 : 1;
    }
    atomic_store(&stopping, 1);
    /* A fetch under way (daily, ct:FetchNow, the console's) ends after its current request; a
     * call waiting on ca-server is broken off. Whole answers stay stored, the rest pending. */
    ct_fetch_stop(rt);
    if (reporting)
        pthread_join(report_thread, NULL);
    if (crl_fetching)
        pthread_join(crl_thread, NULL);
    if (fetching)
        pthread_join(fetch_thread, NULL);
    if (watching)
        pthread_join(inbox_thread, NULL);
    cl_log_info("stopping");
    cl_metrics_http_stop(metrics);
    {
        struct ct_console *c = console;
        console = NULL; /* as below for the server */
        ct_console_free(c);
        cs_fetch_wait(); /* a fetch the console started */
    }
    {
        struct cl_server *server = running;
        running = NULL; /* before freeing: a late signal must not touch a freed server */
        cl_server_free(server);
    }
    cl_tls_free(tls);
    return code;
}
