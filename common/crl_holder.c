/* crl_holder.c: the current CRL shared by a program's threads, swapped under a mutex when a
 * newer one is installed, and the revocation check of peer chains (see crl_holder.h). Readers
 * take a reference under the lock and search without it; the replaced CRL is freed by whoever
 * lets go of it last. */
#include "crl_holder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crl_reason.h"
#include "error.h"
#include "log.h"

struct cl_crl_holder {
    pthread_mutex_t lock;
    struct cl_crl *current; /* NULL until the first install */
    struct cl_crl_policy policy;
    mbedtls_x509_crt cas; /* may sign CRLs; checked to chain to the self-signed ones */
};

static const char *const stale_names[] = {"warn", "refuse"};
static const char *const missing_names[] = {"allow", "refuse"};

static int parse_choice(const char *name, const char *const names[2], int *out, const char *what,
                        char *err, size_t errlen)
{
    for (int i = 0; name != NULL && i < 2; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = i;
            return CL_OK;
        }
    cl_err_set(err, errlen, "%s must be \"%s\" or \"%s\", not \"%.32s\"", what, names[0], names[1],
               name != NULL ? name : "");
    return CL_ERR_INVALID_ARGUMENT;
}

int cl_crl_stale_policy_parse(const char *name, enum cl_crl_stale_policy *out, char *err,
                              size_t errlen)
{
    int v, rc = parse_choice(name, stale_names, &v, "the policy for a CRL past its nextUpdate", err,
                             errlen);
    if (rc == CL_OK)
        *out = (enum cl_crl_stale_policy)v;
    return rc;
}

int cl_crl_missing_policy_parse(const char *name, enum cl_crl_missing_policy *out, char *err,
                                size_t errlen)
{
    int v,
        rc = parse_choice(name, missing_names, &v, "the policy before the first CRL", err, errlen);
    if (rc == CL_OK)
        *out = (enum cl_crl_missing_policy)v;
    return rc;
}

const char *cl_crl_stale_policy_name(enum cl_crl_stale_policy policy)
{
    return policy == CL_CRL_STALE_REFUSE ? "refuse" : "warn";
}

const char *cl_crl_missing_policy_name(enum cl_crl_missing_policy policy)
{
    return policy == CL_CRL_MISSING_REFUSE ? "refuse" : "allow";
}

static int self_signed(const mbedtls_x509_crt *c)
{
    return c->subject_raw.len == c->issuer_raw.len &&
           memcmp(c->subject_raw.p, c->issuer_raw.p, c->issuer_raw.len) == 0;
}

/* Every CA certificate not self-signed chains to a self-signed one of the list (dates aside: an
 * issuing CA past its end may still have a CRL that matters). */
static int check_cas(const mbedtls_x509_crt *cas, char *err, size_t errlen)
{
    mbedtls_x509_crt roots, one;
    int rc = CL_OK, have_root = 0;

    mbedtls_x509_crt_init(&roots);
    for (const mbedtls_x509_crt *c = cas; c != NULL && c->raw.p != NULL; c = c->next)
        if (self_signed(c) && mbedtls_x509_crt_parse_der(&roots, c->raw.p, c->raw.len) == 0)
            have_root = 1;
    for (const mbedtls_x509_crt *c = cas; rc == CL_OK && c != NULL && c->raw.p != NULL;
         c = c->next) {
        uint32_t flags = 0;
        char name[200];
        if (!c->ca_istrue || self_signed(c))
            continue;
        mbedtls_x509_crt_init(&one);
        if (!have_root || mbedtls_x509_crt_parse_der(&one, c->raw.p, c->raw.len) != 0 ||
            (mbedtls_x509_crt_verify(&one, &roots, NULL, NULL, &flags, NULL, NULL) != 0 &&
             (flags & ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)) !=
                 0)) {
            mbedtls_x509_dn_gets(name, sizeof(name), &c->subject);
            cl_err_set(err, errlen, "the CA certificate %s does not chain to a root given with it",
                       name);
            rc = CL_ERR_PERMISSION;
        }
        mbedtls_x509_crt_free(&one);
    }
    mbedtls_x509_crt_free(&roots);
    return rc;
}

int cl_crl_holder_new(const struct cl_crl_policy *policy, const char *ca_file, const char *ca_pem,
                      struct cl_crl_holder **out, char *err, size_t errlen)
{
    struct cl_crl_holder *h;
    int ret, rc;

    *out = NULL;
    if (ca_file == NULL && ca_pem == NULL) {
        cl_err_set(err, errlen, "the CRL holder needs the CA certificates that sign CRLs");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return CL_ERR_NOMEM;
    mbedtls_x509_crt_init(&h->cas);
    pthread_mutex_init(&h->lock, NULL);
    if (policy != NULL)
        h->policy = *policy;
    ret = ca_file != NULL
              ? mbedtls_x509_crt_parse_file(&h->cas, ca_file)
              : mbedtls_x509_crt_parse(&h->cas, (const unsigned char *)ca_pem, strlen(ca_pem) + 1);
    if (ret != 0 || h->cas.raw.p == NULL) {
        cl_err_set(err, errlen, "cannot load the CA certificates %s (mbedTLS -0x%04x)",
                   ca_file != NULL ? ca_file : "(in memory)", (unsigned)(ret < 0 ? -ret : ret));
        cl_crl_holder_free(h);
        return CL_ERR_TLS_SETUP;
    }
    if ((rc = check_cas(&h->cas, err, errlen)) != CL_OK) {
        cl_crl_holder_free(h);
        return rc;
    }
    *out = h;
    return CL_OK;
}

void cl_crl_holder_free(struct cl_crl_holder *holder)
{
    if (holder == NULL)
        return;
    cl_crl_release(holder->current);
    mbedtls_x509_crt_free(&holder->cas);
    pthread_mutex_destroy(&holder->lock);
    free(holder);
}

static void format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "(unknown)");
}

int cl_crl_holder_install(struct cl_crl_holder *holder, const unsigned char *data, size_t len,
                          char *err, size_t errlen)
{
    struct cl_crl *crl, *old = NULL;
    unsigned long long have = 0;
    char next[32];
    int rc = CL_OK;

    if ((rc = cl_crl_parse(data, len, &holder->cas, &crl, err, errlen)) != CL_OK)
        return rc;
    pthread_mutex_lock(&holder->lock);
    if (holder->current != NULL)
        have = cl_crl_number(holder->current);
    if (holder->current != NULL && cl_crl_number(crl) <= have) {
        rc = cl_crl_number(crl) == have ? CL_ERR_EXISTS : CL_ERR_STATE;
    } else {
        old = holder->current;
        holder->current = crl;
        crl = NULL;
    }
    pthread_mutex_unlock(&holder->lock);
    if (rc != CL_OK) {
        cl_err_set(err, errlen,
                   rc == CL_ERR_EXISTS ? "CRL number %llu is the one installed already"
                                       : "CRL number %llu is older than the installed number %llu",
                   cl_crl_number(crl), have);
        cl_crl_release(crl);
        return rc;
    }
    cl_crl_release(old);
    crl = cl_crl_holder_current(holder);
    if (crl != NULL) {
        format_time(cl_crl_next_update(crl), next, sizeof(next));
        cl_log_info("CRL number %llu installed: %zu revoked certificates, next update %s",
                    cl_crl_number(crl), cl_crl_count(crl), next);
        cl_crl_release(crl);
    }
    return CL_OK;
}

int cl_crl_holder_install_file(struct cl_crl_holder *holder, const char *path, char *err,
                               size_t errlen)
{
    unsigned char *data;
    size_t len;
    int rc;

    if ((rc = cl_crl_read_file(path, &data, &len, err, errlen)) != CL_OK)
        return rc;
    rc = cl_crl_holder_install(holder, data, len, err, errlen);
    free(data);
    return rc;
}

struct cl_crl *cl_crl_holder_current(struct cl_crl_holder *holder)
{
    struct cl_crl *crl;

    pthread_mutex_lock(&holder->lock);
    crl = cl_crl_retain(holder->current);
    pthread_mutex_unlock(&holder->lock);
    return crl;
}

void cl_crl_holder_status(struct cl_crl_holder *holder, struct cl_crl_status *out)
{
    struct cl_crl *crl = cl_crl_holder_current(holder);

    memset(out, 0, sizeof(*out));
    out->policy = holder->policy;
    if (crl == NULL)
        return;
    out->installed = 1;
    out->number = cl_crl_number(crl);
    out->this_update = cl_crl_this_update(crl);
    out->next_update = cl_crl_next_update(crl);
    out->entries = cl_crl_count(crl);
    out->stale = time(NULL) > out->next_update;
    cl_crl_release(crl);
}

/* Logs why a listed certificate is refused: who, its subject, serial, date and reason. */
static void log_revoked(const mbedtls_x509_crt *c, const struct cl_crl_revoked *rev,
                        const char *who, unsigned long long number)
{
    char subject[256], serial[2 * 21 + 1], when[32];
    const char *reason = cl_crl_reason_name(rev->reason);
    size_t n = 0;

    if (mbedtls_x509_dn_gets(subject, sizeof(subject), &c->subject) < 0)
        snprintf(subject, sizeof(subject), "(unreadable subject)");
    for (size_t i = 0; i < c->serial.len && n + 2 < sizeof(serial); i++, n += 2)
        snprintf(serial + n, 3, "%02X", c->serial.p[i]);
    serial[n] = '\0';
    format_time(rev->revoked_at, when, sizeof(when));
    cl_log_warn("refusing %s %s: certificate serial %s revoked at %s (%s) by CRL number %llu", who,
                subject, serial, when, reason != NULL ? reason : "unspecified", number);
}

int cl_crl_holder_check_chain(struct cl_crl_holder *holder, const mbedtls_x509_crt *chain,
                              const char *who, uint32_t *flags)
{
    struct cl_crl *crl = cl_crl_holder_current(holder);
    struct cl_crl_revoked rev;
    char next[32];

    if (who == NULL)
        who = "peer";
    if (crl == NULL) {
        if (holder->policy.missing == CL_CRL_MISSING_ALLOW)
            return 0;
        cl_log_warn("refusing %s: no CRL installed yet and the policy refuses peers until one is",
                    who);
        *flags |= MBEDTLS_X509_BADCRL_NOT_TRUSTED;
        return -1;
    }
    for (const mbedtls_x509_crt *c = chain; c != NULL && c->raw.p != NULL; c = c->next)
        if (cl_crl_lists(crl, c, &rev)) {
            log_revoked(c, &rev, who, cl_crl_number(crl));
            *flags |= MBEDTLS_X509_BADCERT_REVOKED;
        }
    if (time(NULL) > cl_crl_next_update(crl)) {
        format_time(cl_crl_next_update(crl), next, sizeof(next));
        if (holder->policy.stale == CL_CRL_STALE_REFUSE) {
            cl_log_warn("refusing %s: CRL number %llu is past its next update %s and the policy "
                        "refuses peers until a newer CRL is installed",
                        who, cl_crl_number(crl), next);
            *flags |= MBEDTLS_X509_BADCRL_EXPIRED;
        } else if (cl_crl_first_notice(crl)) {
            cl_log_warn("CRL number %llu is past its next update %s: its entries are still "
                        "enforced; install a newer CRL",
                        cl_crl_number(crl), next);
        }
    }
    cl_crl_release(crl);
    return (*flags & (MBEDTLS_X509_BADCERT_REVOKED | MBEDTLS_X509_BADCRL_EXPIRED)) != 0 ? -1 : 0;
}
