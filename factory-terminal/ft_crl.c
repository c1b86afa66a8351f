/* ft_crl.c: the CRL a line enforces: fetched from the comm-terminal (ct:RevocationList) at start
 * and every crl_fetch_s by a thread of its own (its own connection: the station's is used by
 * the provisioning thread), verified and installed by the holder both TLS contexts check, and
 * kept in crl_file (atomic write) for a restart with the comm-terminal away. */
#include "ft_crl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "atomic_file.h"
#include "crl_config.h"
#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_client.h"

struct ft_crl {
    const struct ft_config *config;
    struct cl_crl_holder *holder;
    struct cl_client *ct;
    struct cl_client_settings settings;
    struct cl_tls *tls;
    pthread_t thread;
    int started, stopping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

static void log_enforced(const struct ft_crl *c, const char *from)
{
    struct cl_crl_status st;
    char next[21];
    struct tm tm;

    cl_crl_holder_status(c->holder, &st);
    gmtime_r(&st.next_update, &tm);
    strftime(next, sizeof(next), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cl_log_info("line %s: enforcing CRL number %llu (%zu entries, nextUpdate %s%s) from %s",
                c->config->line_id, st.number, st.entries, next, st.stale ? ", STALE" : "", from);
}

/* One ct:RevocationList call; a newer CRL is installed and kept. */
static int fetch(struct ft_crl *c, char *err, size_t errlen)
{
    struct cl_crl_status st;
    struct ct__RevocationList request;
    struct ct__RevocationListResponse response = {0};
    unsigned char *der = NULL;
    size_t len = 0;
    int rc = CL_OK;

    cl_crl_holder_status(c->holder, &st);
    request.heldNumber = st.number;
    if (soap_call___ct__RevocationList(cl_client_soap(c->ct), cl_client_endpoint(c->ct), NULL,
                                       &request, &response) != SOAP_OK) {
        char why[400];
        rc = cl_client_explain(c->ct, why, sizeof(why));
        snprintf(err, errlen, "the comm-terminal's CRL: %s", why);
    } else if (response.crl != NULL && response.number != st.number &&
               (rc = cl_crl_from_wire(response.crl, &der, &len)) != CL_OK) {
        snprintf(err, errlen, "the comm-terminal's CRL number %llu is not base64",
                 (unsigned long long)response.number);
    }
    cl_client_end_call(c->ct);
    if (rc != CL_OK || der == NULL)
        return rc;
    rc = cl_crl_holder_install(c->holder, der, len, err, errlen);
    if (rc == CL_OK) {
        log_enforced(c, "the comm-terminal");
        /* The kept connection was verified under the older CRL: the next fetch connects anew,
         * so that a comm-terminal this CRL lists is refused at once. */
        struct cl_client *fresh = NULL;
        char why[256];
        if (cl_client_new(&c->settings, c->tls, &fresh, why, sizeof(why)) == CL_OK) {
            cl_client_free(c->ct);
            c->ct = fresh;
        }
        if (c->config->crl_file[0] != '\0' &&
            cl_atomic_write(c->config->crl_file, der, len, 0644) != CL_OK)
            cl_log_warn("line %s: cannot keep the CRL in %s: %s", c->config->line_id,
                        c->config->crl_file, strerror(errno));
    } else if (rc == CL_ERR_EXISTS) {
        rc = CL_OK;
    }
    free(der);
    return rc;
}

static void *fetcher(void *arg)
{
    struct ft_crl *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)c->config->crl.fetch_s;
        while (!c->stopping && pthread_cond_timedwait(&c->wake, &c->lock, &until) != ETIMEDOUT)
            ;
        if (c->stopping)
            break;
        pthread_mutex_unlock(&c->lock);
        char err[512];
        if (fetch(c, err, sizeof(err)) != CL_OK)
            cl_log_warn("line %s: CRL not updated (the one held stays enforced): %s",
                        c->config->line_id, err);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* The CRL kept from an earlier run, if any. */
static void load_kept(struct ft_crl *c)
{
    struct stat sb;
    char err[512];

    if (c->config->crl_file[0] == '\0' || stat(c->config->crl_file, &sb) != 0)
        return;
    if (cl_crl_holder_install_file(c->holder, c->config->crl_file, err, sizeof(err)) == CL_OK)
        log_enforced(c, c->config->crl_file);
    else
        cl_log_warn("line %s: the CRL kept in %s is not used: %s", c->config->line_id,
                    c->config->crl_file, err);
}

static int start_thread(struct ft_crl *c)
{
    pthread_condattr_t attr;
    sigset_t block, old;

    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &attr);
    pthread_condattr_destroy(&attr);
    /* SIGINT and SIGTERM stay for the main thread's reads. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    c->started = pthread_create(&c->thread, NULL, fetcher, c) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return c->started ? CL_OK : CL_ERR_NOMEM;
}

int ft_crl_start(const struct ft_config *config, struct cl_tls *client_tls,
                 struct cl_tls *server_tls, struct ft_crl **out, char *err, size_t errlen)
{
    struct ft_crl *c = calloc(1, sizeof(*c));
    char why[512];
    int rc;

    *out = NULL;
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    c->config = config;
    if ((rc = cl_crl_config_holder(&config->crl, &config->tls, &c->holder, err, errlen)) != CL_OK)
        goto fail;
    if ((rc = cl_tls_check_revocation(client_tls, c->holder)) != CL_OK ||
        (rc = cl_tls_check_revocation(server_tls, c->holder)) != CL_OK) {
        snprintf(err, errlen, "cannot check revocation on the line's TLS contexts");
        goto fail;
    }
    load_kept(c);
    c->settings.endpoint = config->comm_terminal.endpoint;
    c->settings.server_name = config->comm_terminal.server_name;
    c->settings.server_role = CL_ROLE_COMM_TERMINAL;
    cl_limits_config_apply(&config->limits, &c->settings.limits);
    c->tls = client_tls;
    if ((rc = cl_client_new(&c->settings, client_tls, &c->ct, err, errlen)) != CL_OK)
        goto fail;
    if (fetch(c, why, sizeof(why)) != CL_OK) {
        struct cl_crl_status st;
        cl_crl_holder_status(c->holder, &st);
        if (st.installed)
            cl_log_warn("line %s: CRL not fetched at start (%s); enforcing CRL number %llu kept",
                        config->line_id, why, st.number);
        else
            cl_log_warn("line %s: CRL not fetched at start (%s); no CRL held "
                        "(crl_missing_policy %s)",
                        config->line_id, why, cl_crl_missing_policy_name(st.policy.missing));
    }
    if ((rc = start_thread(c)) != CL_OK) {
        snprintf(err, errlen, "cannot start the CRL fetcher");
        goto fail;
    }
    *out = c;
    return CL_OK;
fail:
    ft_crl_free(c);
    return rc;
}

void ft_crl_stop(struct ft_crl *c)
{
    if (c == NULL)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stopping = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
        c->started = 0;
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
    }
    cl_client_free(c->ct); /* before the TLS context it uses */
    c->ct = NULL;
}

void ft_crl_free(struct ft_crl *c)
{
    if (c == NULL)
        return;
    ft_crl_stop(c);
    cl_crl_holder_free(c->holder);
    free(c);
}
