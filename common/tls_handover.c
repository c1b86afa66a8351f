/* tls_handover.c: a TLS session made in one direction resumed in the other (see tls.h,
 * cl_tls_hand_sessions): the factory terminal's S7 connection to a device and the device's S10
 * connection back share one authenticated session. */
#include "tls_internal.h"

#include <stdlib.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "log.h"

void cl_tls_handover_init(struct cl_tls *tls)
{
    pthread_mutex_init(&tls->handed_lock, NULL);
    mbedtls_ssl_session_init(&tls->handed);
    mbedtls_x509_crt_init(&tls->handed_chain);
}

/* Drops a handed session not taken yet (with handed_lock held, or at the end). */
static void drop_handed(struct cl_tls *tls)
{
    mbedtls_ssl_session_free(&tls->handed); /* zeroises the master secret */
    mbedtls_x509_crt_free(&tls->handed_chain);
    mbedtls_ssl_session_init(&tls->handed);
    mbedtls_x509_crt_init(&tls->handed_chain);
    tls->have_handed = 0;
}

void cl_tls_handover_free(struct cl_tls *tls)
{
    drop_handed(tls);
    pthread_mutex_destroy(&tls->handed_lock);
}

int cl_tls_hand_sessions(struct cl_tls *from, struct cl_tls *to, enum cl_role peer_role)
{
    if (from == NULL || to == NULL || from->side == to->side || peer_role == CL_ROLE_NONE)
        return CL_ERR_INVALID_ARGUMENT;
    from->hand_to = to;
    from->hand_role = peer_role;
    return CL_OK;
}

/* A copy of session (through its serialised form) and of chain, as the client's next offer. */
static void hand_to_client(struct cl_tls *to, const mbedtls_ssl_session *session,
                           const mbedtls_x509_crt *chain)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int ret = -1;

    (void)mbedtls_ssl_session_save(session, NULL, 0, &len);
    if (len == 0 || (buf = malloc(len)) == NULL)
        return;
    pthread_mutex_lock(&to->handed_lock);
    drop_handed(to);
    if (mbedtls_ssl_session_save(session, buf, len, &len) == 0 &&
        mbedtls_ssl_session_load(&to->handed, buf, len) == 0) {
        ret = 0;
        for (const mbedtls_x509_crt *c = chain; ret == 0 && c != NULL && c->raw.p != NULL;
             c = c->next)
            ret = mbedtls_x509_crt_parse_der(&to->handed_chain, c->raw.p, c->raw.len);
    }
    if (ret == 0)
        to->have_handed = 1;
    else
        drop_handed(to);
    pthread_mutex_unlock(&to->handed_lock);
    mbedtls_platform_zeroize(buf, len);
    free(buf);
}

void cl_tls_handover_note(struct cl_tls *tls, const mbedtls_ssl_session *session,
                          const mbedtls_x509_crt *verified_chain, enum cl_role peer_role)
{
    struct cl_tls *to = tls->hand_to;

    if (to == NULL || session == NULL || peer_role != tls->hand_role || session->id_len == 0)
        return;
    if (to->side == CL_TLS_SERVER) {
        /* Our client session: the peer may resume it when it connects to our server. */
        if (mbedtls_ssl_cache_set(&to->cache, session) == 0)
            cl_log_debug("TLS session with the %s handed to this program's server",
                         cl_role_name(peer_role));
    } else if (verified_chain != NULL && verified_chain->raw.p != NULL) {
        /* Our server session, whose client chain mbedTLS verified in full just now. */
        hand_to_client(to, session, verified_chain);
        cl_log_debug("TLS session with the %s handed to this program's client",
                     cl_role_name(peer_role));
    }
}

int cl_tls_handover_take(struct cl_tls *tls, mbedtls_ssl_session *session, mbedtls_x509_crt *chain)
{
    int taken = 0;

    pthread_mutex_lock(&tls->handed_lock);
    if (tls->have_handed) {
        mbedtls_ssl_session_free(session);
        mbedtls_x509_crt_free(chain);
        /* Moved: the structures own their buffers, which now belong to the caller's copies. */
        *session = tls->handed;
        *chain = tls->handed_chain;
        mbedtls_ssl_session_init(&tls->handed);
        mbedtls_x509_crt_init(&tls->handed_chain);
        tls->have_handed = 0;
        taken = 1;
    }
    pthread_mutex_unlock(&tls->handed_lock);
    return taken;
}
