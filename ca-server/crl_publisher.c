/* crl_publisher.c: serve's CRL publisher thread and the current CRL it keeps (crl_publisher.h). */
#include "crl_publisher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "commands.h"
#include "crl_publish.h"
#include "error.h"
#include "log.h"
#include "runtime.h"

struct ca_crl_publisher {
    struct ca_runtime *runtime;
    struct cl_crl_holder *holder;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop, kicked; /* under lock */
    /* the current CRL, under lock */
    char *b64;
    size_t b64_len;
    unsigned long long number;
    time_t this_update, next_update;
    /* the publishing thread's own */
    long long mark;
    time_t due; /* when the next CRL is due whatever happens */
};

/* Swaps in a CRL just published: the holder first, so that handshakes enforce it before any
 * comm-terminal is told of it. */
static void take(struct ca_crl_publisher *p, const struct ca_crl *crl)
{
    const struct ca_config *config = p->runtime->config;
    size_t b64_len = 0;
    char err[320], *b64;
    int rc;

    rc = cl_crl_holder_install(p->holder, crl->der, crl->der_len, err, sizeof(err));
    if (rc != CL_OK && rc != CL_ERR_EXISTS)
        cl_log_error("CRL number %llu not enforced by serve: %s", crl->number, err);
    mbedtls_base64_encode(NULL, 0, &b64_len, crl->der, crl->der_len);
    if ((b64 = malloc(b64_len + 1)) == NULL ||
        mbedtls_base64_encode((unsigned char *)b64, b64_len + 1, &b64_len, crl->der,
                              crl->der_len) != 0) {
        free(b64);
        cl_log_error("CRL number %llu: out of memory", crl->number);
        return;
    }
    /* ca:RevocationList carries the CRL as one string: a comm-terminal must accept it. */
    if (b64_len > (size_t)config->limits.max_string_bytes ||
        b64_len + 1024 > (size_t)config->limits.max_message_bytes)
        cl_log_warn("CRL number %llu is %zu bytes of base64 (%zu entries): comm-terminals fetching "
                    "it need limits.max_string_bytes and max_message_bytes above that",
                    crl->number, b64_len, crl->entries);
    pthread_mutex_lock(&p->lock);
    free(p->b64);
    p->b64 = b64;
    p->b64_len = b64_len;
    p->number = crl->number;
    p->this_update = crl->this_update;
    p->next_update = crl->next_update;
    pthread_mutex_unlock(&p->lock);
}

/* Publishes one CRL; on failure the next try is one poll away. */
static void publish(struct ca_crl_publisher *p)
{
    const struct ca_config *config = p->runtime->config;
    struct ca_crl crl;
    struct ca_store *store;
    time_t now = time(NULL);
    char err[512], next_update[32];
    int rc;

    store = ca_db_pool_acquire(p->runtime->pool);
    rc = ca_crl_publish(config, p->runtime->authority, store, now, &crl, err, sizeof(err));
    ca_db_pool_release(p->runtime->pool, store);
    if (rc != CL_OK) {
        cl_log_error("publishing the CRL failed (retried in %d s): %s", CA_CRL_POLL_S, err);
        p->due = now + CA_CRL_POLL_S;
        return;
    }
    take(p, &crl);
    p->mark = crl.mark;
    p->due = now + (time_t)config->crl_period_s;
    ca_format_time(crl.next_update, next_update, sizeof(next_update));
    cl_log_info("published CRL number %llu: %zu entries, next update %s", crl.number, crl.entries,
                next_update);
    ca_crl_clear(&crl);
}

/* Another ca-server instance on the database signed a CRL newer than the one served here:
 * serve that one (1), so that every instance answers the same CRL number. */
static int adopt_newer(struct ca_crl_publisher *p)
{
    struct ca_crl_kept kept;
    struct ca_crl crl;
    struct cl_crl_status enforced;
    unsigned long long held;
    char err[320];
    int rc;

    cl_crl_holder_status(p->holder, &enforced);
    pthread_mutex_lock(&p->lock);
    held = p->number > enforced.number ? p->number : enforced.number;
    pthread_mutex_unlock(&p->lock);
    struct ca_store *store = ca_db_pool_acquire(p->runtime->pool);
    rc = ca_store_crl_newest(store, held, &kept, err, sizeof(err));
    ca_db_pool_release(p->runtime->pool, store);
    if (rc != CL_OK || kept.der == NULL) {
        if (rc != CL_OK)
            cl_log_warn("CRL publisher: %s", err);
        ca_crl_kept_clear(&kept);
        return 0;
    }
    rc = ca_crl_adopt(p->runtime->config, &kept, &crl, err, sizeof(err));
    if (rc != CL_OK)
        cl_log_warn("CRL number %llu of another instance not taken: %s", kept.number, err);
    ca_crl_kept_clear(&kept);
    if (rc != CL_OK)
        return 0;
    take(p, &crl);
    p->mark = crl.mark;
    p->due = crl.this_update + (time_t)p->runtime->config->crl_period_s;
    cl_log_info("took CRL number %llu, published by another instance: %zu bytes", crl.number,
                crl.der_len);
    ca_crl_clear(&crl);
    return 1;
}

/* Whether something was revoked since the last CRL (a failure to ask counts as no). */
static int revoked_since(struct ca_crl_publisher *p)
{
    struct ca_store *store = ca_db_pool_acquire(p->runtime->pool);
    long long mark = 0;
    char err[320];
    int rc = ca_store_revocation_mark(store, &mark, err, sizeof(err));
    ca_db_pool_release(p->runtime->pool, store);
    if (rc != CL_OK)
        cl_log_warn("CRL publisher: %s", err);
    return rc == CL_OK && mark != p->mark;
}

static void *run(void *arg)
{
    struct ca_crl_publisher *p = arg;

    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec until = {.tv_sec = time(NULL) + CA_CRL_POLL_S};
        if (p->due < until.tv_sec)
            until.tv_sec = p->due;
        while (!p->stop && !p->kicked &&
               pthread_cond_timedwait(&p->wake, &p->lock, &until) != ETIMEDOUT)
            ;
        if (p->stop)
            break;
        int kicked = p->kicked;
        p->kicked = 0;
        pthread_mutex_unlock(&p->lock);
        if (!kicked)
            adopt_newer(p); /* what another instance published covers what it covers */
        if (kicked || time(NULL) >= p->due || revoked_since(p))
            publish(p);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int ca_crl_publisher_start(struct ca_runtime *runtime, struct cl_crl_holder *holder,
                           struct ca_crl_publisher **out, char *err, size_t errlen)
{
    struct ca_crl_publisher *p;
    char path[600], why[320];

    *out = NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        cl_err_set(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    p->runtime = runtime;
    p->holder = holder;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    /* The last CRL written, so that handshakes enforce it even if publishing fails now. */
    ca_crl_file_path(runtime->config, path, sizeof(path));
    if (cl_crl_holder_install_file(holder, path, why, sizeof(why)) != CL_OK) {
        cl_log_info("no earlier CRL installed from %s: %s", path, why);
    } else {
        /* The next CRL must be newer than the one in force, even if the database is older. */
        struct cl_crl_status held;
        struct ca_store *store = ca_db_pool_acquire(runtime->pool);
        cl_crl_holder_status(holder, &held);
        if (ca_store_crl_number_at_least(store, held.number, why, sizeof(why)) != CL_OK)
            cl_log_warn("CRL number %llu from %s not carried to the database: %s", held.number,
                        path, why);
        ca_db_pool_release(runtime->pool, store);
    }
    publish(p);
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        cl_err_set(err, errlen, "cannot start the CRL publisher thread");
        ca_crl_publisher_stop(p);
        return CL_ERR_INTERNAL;
    }
    p->started = 1;
    *out = p;
    return CL_OK;
}

void ca_crl_publisher_stop(struct ca_crl_publisher *p)
{
    if (p == NULL)
        return;
    if (p->started) {
        pthread_mutex_lock(&p->lock);
        p->stop = 1;
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->thread, NULL);
    }
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->b64);
    free(p);
}

void ca_crl_publisher_kick(struct ca_crl_publisher *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->kicked = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

int ca_crl_publisher_answer(struct ca_crl_publisher *p, unsigned long long held_number,
                            void *(*alloc)(void *ctx, size_t size), void *ctx,
                            struct ca_crl_answer *out)
{
    int rc = CL_OK;

    memset(out, 0, sizeof(*out));
    if (p == NULL)
        return CL_ERR_NOT_FOUND;
    pthread_mutex_lock(&p->lock);
    if (p->b64 == NULL) {
        rc = CL_ERR_NOT_FOUND;
    } else {
        out->number = p->number;
        out->this_update = p->this_update;
        out->next_update = p->next_update;
        if (held_number != p->number) {
            if ((out->crl_b64 = alloc(ctx, p->b64_len + 1)) != NULL)
                memcpy(out->crl_b64, p->b64, p->b64_len + 1);
            else
                rc = CL_ERR_NOMEM;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}
