/* console_session.c: an operator console's sessions (held here, by a random id the browser keeps in
 * a cookie; never the password), their CSRF tokens, and the lockout after failed logins. Both live
 * in this process only: a restart ends every session and forgets the failures. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/platform_util.h>

#include "console_core.h"

#define SESSIONS_MAX 512
#define FAILURES_MAX 1024

struct failure {
    char operator_id[CS_OPERATOR_ID_MAX + 1];
    time_t at[CS_LOCKOUT_FAILURES]; /* the last failures, oldest overwritten */
    unsigned next;
};

struct cs_sessions {
    pthread_mutex_t lock;
    long lifetime_s;
    struct cs_session table[SESSIONS_MAX]; /* id[0] == '\0': free */
    struct failure failures[FAILURES_MAX];
};

int cs_sessions_new(long lifetime_s, struct cs_sessions **out)
{
    struct cs_sessions *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (s == NULL)
        return -1;
    pthread_mutex_init(&s->lock, NULL);
    s->lifetime_s = lifetime_s;
    *out = s;
    return 0;
}

void cs_sessions_free(struct cs_sessions *sessions)
{
    if (sessions == NULL)
        return;
    pthread_mutex_destroy(&sessions->lock);
    mbedtls_platform_zeroize(sessions, sizeof(*sessions)); /* the ids and tokens */
    free(sessions);
}

long cs_session_lifetime(const struct cs_sessions *sessions)
{
    return sessions->lifetime_s;
}

int cs_random_token(char out[CS_TOKEN_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[CS_TOKEN_HEX / 2];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return -1;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[CS_TOKEN_HEX] = '\0';
    mbedtls_platform_zeroize(raw, sizeof(raw));
    return 0;
}

/* Compares two tokens in time independent of where they differ. */
static int same_token(const char *a, const char *b)
{
    unsigned char diff = 0;
    if (strlen(a) != CS_TOKEN_HEX || strlen(b) != CS_TOKEN_HEX)
        return 0;
    for (size_t i = 0; i < CS_TOKEN_HEX; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int cs_session_open(struct cs_sessions *sessions, const char *operator_id, const char *role,
                    const char *stamp, struct cs_session *out)
{
    time_t now = time(NULL);
    struct cs_session fresh = {0};
    int rc = -1;

    if (cs_random_token(fresh.id) != 0 || cs_random_token(fresh.csrf) != 0)
        return -1;
    snprintf(fresh.operator_id, sizeof(fresh.operator_id), "%s", operator_id);
    snprintf(fresh.role, sizeof(fresh.role), "%s", role);
    snprintf(fresh.stamp, sizeof(fresh.stamp), "%s", stamp);
    fresh.expires = now + sessions->lifetime_s;
    pthread_mutex_lock(&sessions->lock);
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        struct cs_session *s = &sessions->table[i];
        if (s->id[0] == '\0' || s->expires <= now) {
            *s = fresh;
            *out = fresh;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&sessions->lock);
    return rc;
}

int cs_session_find(struct cs_sessions *sessions, const char *id, struct cs_session *out)
{
    time_t now = time(NULL);
    int rc = -1;

    if (strlen(id) != CS_TOKEN_HEX)
        return -1;
    pthread_mutex_lock(&sessions->lock);
    for (size_t i = 0; i < SESSIONS_MAX; i++) {
        struct cs_session *s = &sessions->table[i];
        if (s->id[0] != '\0' && same_token(s->id, id)) {
            if (s->expires > now) {
                s->expires = now + sessions->lifetime_s;
                *out = *s;
                rc = 0;
            } else {
                memset(s, 0, sizeof(*s));
            }
            break;
        }
    }
    pthread_mutex_unlock(&sessions->lock);
    return rc;
}

void cs_session_close(struct cs_sessions *sessions, const char *id)
{
    pthread_mutex_lock(&sessions->lock);
    for (size_t i = 0; i < SESSIONS_MAX; i++)
        if (sessions->table[i].id[0] != '\0' && same_token(sessions->table[i].id, id))
            memset(&sessions->table[i], 0, sizeof(sessions->table[i]));
    pthread_mutex_unlock(&sessions->lock);
}

void cs_session_close_operator(struct cs_sessions *sessions, const char *operator_id)
{
    pthread_mutex_lock(&sessions->lock);
    for (size_t i = 0; i < SESSIONS_MAX; i++)
        if (sessions->table[i].id[0] != '\0' &&
            strcmp(sessions->table[i].operator_id, operator_id) == 0)
            memset(&sessions->table[i], 0, sizeof(sessions->table[i]));
    pthread_mutex_unlock(&sessions->lock);
}

/* The failure record of operator_id (created when make, reusing the stalest slot); NULL if
 * none. Called locked. */
static struct failure *failure_of(struct cs_sessions *sessions, const char *operator_id, int make)
{
    struct failure *stalest = &sessions->failures[0];
    for (size_t i = 0; i < FAILURES_MAX; i++) {
        struct failure *f = &sessions->failures[i];
        if (strcmp(f->operator_id, operator_id) == 0 && f->operator_id[0] != '\0')
            return f;
        time_t last = f->at[(f->next + CS_LOCKOUT_FAILURES - 1) % CS_LOCKOUT_FAILURES];
        time_t stalest_last =
            stalest->at[(stalest->next + CS_LOCKOUT_FAILURES - 1) % CS_LOCKOUT_FAILURES];
        if (last < stalest_last)
            stalest = f;
    }
    if (!make)
        return NULL;
    memset(stalest, 0, sizeof(*stalest));
    snprintf(stalest->operator_id, sizeof(stalest->operator_id), "%s", operator_id);
    return stalest;
}

int cs_locked(struct cs_sessions *sessions, const char *operator_id)
{
    time_t now = time(NULL);
    int recent = 0;
    pthread_mutex_lock(&sessions->lock);
    const struct failure *f = failure_of(sessions, operator_id, 0);
    for (int i = 0; f != NULL && i < CS_LOCKOUT_FAILURES; i++)
        recent += f->at[i] != 0 && now - f->at[i] < CS_LOCKOUT_WINDOW_S;
    pthread_mutex_unlock(&sessions->lock);
    return recent >= CS_LOCKOUT_FAILURES;
}

void cs_login_failed(struct cs_sessions *sessions, const char *operator_id)
{
    pthread_mutex_lock(&sessions->lock);
    struct failure *f = failure_of(sessions, operator_id, 1);
    f->at[f->next] = time(NULL);
    f->next = (f->next + 1) % CS_LOCKOUT_FAILURES;
    pthread_mutex_unlock(&sessions->lock);
}

void cs_login_succeeded(struct cs_sessions *sessions, const char *operator_id)
{
    pthread_mutex_lock(&sessions->lock);
    struct failure *f = failure_of(sessions, operator_id, 0);
    if (f != NULL)
        memset(f, 0, sizeof(*f));
    pthread_mutex_unlock(&sessions->lock);
}
