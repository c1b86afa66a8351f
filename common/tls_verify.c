/* tls_verify.c: checks a peer's certificate chain after the handshake, as mbedTLS's
 * VERIFY_REQUIRED would during it, and remembers chains whose signatures were already checked
 * (see tls.h, cl_tls_share_verified_chains). */
#include "tls_verify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/sha256.h>

#include "crl_holder.h"
#include "error.h"
#include "tls_internal.h"

/* One chain whose signatures chain to the trusted roots: only its digest is kept. */
struct verified_chain {
    unsigned char digest[CL_TLS_DIGEST_LEN]; /* chain_digest(): the roots and every presented DER */
    long long verified_at_ms;                /* monotonic; 0 = free slot */
};

struct cl_verify_cache {
    pthread_mutex_t lock;
    size_t max_entries;
    long long max_age_ms;
    struct verified_chain *entries;
    unsigned long full, cached;
};

static long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cl_verify_cache_new(size_t max_entries, int max_age_s, struct cl_verify_cache **out)
{
    struct cl_verify_cache *cache;

    *out = NULL;
    if (max_entries == 0 || max_entries > 4096 || max_age_s <= 0)
        return CL_ERR_INVALID_ARGUMENT;
    if ((cache = calloc(1, sizeof(*cache))) == NULL)
        return CL_ERR_NOMEM;
    if ((cache->entries = calloc(max_entries, sizeof(*cache->entries))) == NULL) {
        free(cache);
        return CL_ERR_NOMEM;
    }
    pthread_mutex_init(&cache->lock, NULL);
    cache->max_entries = max_entries;
    cache->max_age_ms = (long long)max_age_s * 1000;
    *out = cache;
    return CL_OK;
}

void cl_verify_cache_free(struct cl_verify_cache *cache)
{
    if (cache == NULL)
        return;
    pthread_mutex_destroy(&cache->lock);
    free(cache->entries);
    free(cache);
}

void cl_verify_cache_counts(struct cl_verify_cache *cache, unsigned long *full,
                            unsigned long *cached)
{
    pthread_mutex_lock(&cache->lock);
    *full = cache->full;
    *cached = cache->cached;
    pthread_mutex_unlock(&cache->lock);
}

void cl_tls_digest_certs(const mbedtls_x509_crt *certs, const unsigned char *prefix,
                         unsigned char digest[CL_TLS_DIGEST_LEN])
{
    mbedtls_sha256_context sha;

    mbedtls_sha256_init(&sha);
    (void)mbedtls_sha256_starts_ret(&sha, 0);
    if (prefix != NULL)
        (void)mbedtls_sha256_update_ret(&sha, prefix, CL_TLS_DIGEST_LEN);
    for (const mbedtls_x509_crt *c = certs; c != NULL && c->raw.p != NULL; c = c->next) {
        /* Each DER with its length first, so no two different lists hash the same input. */
        unsigned char len[4] = {(unsigned char)(c->raw.len >> 24),
                                (unsigned char)(c->raw.len >> 16), (unsigned char)(c->raw.len >> 8),
                                (unsigned char)c->raw.len};
        (void)mbedtls_sha256_update_ret(&sha, len, sizeof(len));
        (void)mbedtls_sha256_update_ret(&sha, c->raw.p, c->raw.len);
    }
    (void)mbedtls_sha256_finish_ret(&sha, digest);
    mbedtls_sha256_free(&sha);
}

/* Every certificate in the list is inside its validity period now. */
static int all_current(const mbedtls_x509_crt *certs)
{
    for (const mbedtls_x509_crt *c = certs; c != NULL && c->raw.p != NULL; c = c->next)
        if (mbedtls_x509_time_is_past(&c->valid_to) || mbedtls_x509_time_is_future(&c->valid_from))
            return 0;
    return 1;
}

/* 1 if the chain with this digest was verified less than max_age ago. */
static int cache_hit(struct cl_verify_cache *cache, const unsigned char *digest)
{
    long long now = monotonic_ms();
    int hit = 0;

    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < cache->max_entries; i++) {
        struct verified_chain *e = &cache->entries[i];
        if (e->verified_at_ms == 0 || memcmp(e->digest, digest, CL_TLS_DIGEST_LEN) != 0)
            continue;
        if (now - e->verified_at_ms < cache->max_age_ms)
            hit = 1;
        else
            memset(e, 0, sizeof(*e)); /* too old: verify in full again */
        break;
    }
    if (hit)
        cache->cached++;
    pthread_mutex_unlock(&cache->lock);
    return hit;
}

/* Remembers (and counts) a fully verified chain: refreshes its entry, or takes a free slot or the
 * oldest. */
static void cache_store(struct cl_verify_cache *cache, const unsigned char *digest)
{
    long long now = monotonic_ms();
    struct verified_chain *slot = NULL;

    pthread_mutex_lock(&cache->lock);
    for (size_t i = 0; i < cache->max_entries; i++) {
        struct verified_chain *e = &cache->entries[i];
        if (e->verified_at_ms != 0 && memcmp(e->digest, digest, CL_TLS_DIGEST_LEN) == 0) {
            slot = e;
            break;
        }
        if (slot == NULL || e->verified_at_ms < slot->verified_at_ms)
            slot = e; /* a free slot (0) or the oldest entry */
    }
    if (slot == NULL) { /* max_entries is at least 1 */
        pthread_mutex_unlock(&cache->lock);
        return;
    }
    memcpy(slot->digest, digest, CL_TLS_DIGEST_LEN);
    slot->verified_at_ms = now > 0 ? now : 1;
    cache->full++;
    pthread_mutex_unlock(&cache->lock);
}

void cl_tls_note_verified(struct cl_tls *tls, const mbedtls_x509_crt *chain)
{
    unsigned char digest[CL_TLS_DIGEST_LEN];

    if (tls->verify_cache == NULL || chain == NULL || chain->raw.p == NULL)
        return;
    cl_tls_digest_certs(chain, tls->trust_digest, digest);
    cache_store(tls->verify_cache, digest);
}

/* Case-insensitive ASCII equality of a certificate string and a name. */
static int same_name(const mbedtls_x509_buf *value, const char *name)
{
    size_t len = strlen(name);

    if (value->p == NULL || value->len != len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char a = value->p[i], b = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* The leaf names the server: a subjectAltName dNSName if it has the extension, else a subject
 * CN; exact match, no wildcards (certline issues none). */
static int names_server(const mbedtls_x509_crt *leaf, const char *name)
{
    if (leaf->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) {
        for (const mbedtls_x509_sequence *san = &leaf->subject_alt_names; san != NULL;
             san = san->next)
            if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME) &&
                same_name(&san->buf, name))
                return 1;
        return 0;
    }
    for (const mbedtls_x509_name *n = &leaf->subject; n != NULL; n = n->next)
        if (n->oid.p != NULL && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 &&
            same_name(&n->val, name))
            return 1;
    return 0;
}

/* The leaf's key is RSA or on a curve this configuration allows (mbedTLS's own check). */
static int key_allowed(const struct cl_tls *tls, const mbedtls_x509_crt *leaf)
{
    const mbedtls_ecp_keypair *ec;

    if (!mbedtls_pk_can_do(&leaf->pk, MBEDTLS_PK_ECKEY))
        return 1;
    if ((ec = mbedtls_pk_ec(leaf->pk)) == NULL)
        return 0;
    for (const mbedtls_ecp_group_id *g = tls->conf.curve_list; *g != MBEDTLS_ECP_DP_NONE; g++)
        if (*g == ec->grp.id)
            return 1;
    return 0;
}

/* What mbedTLS checks on the leaf besides the chain, every time. */
static void check_leaf(const struct cl_tls *tls, const mbedtls_x509_crt *leaf,
                       const char *server_name, uint32_t *flags)
{
    const char *eku = server_name != NULL ? MBEDTLS_OID_SERVER_AUTH : MBEDTLS_OID_CLIENT_AUTH;
    size_t eku_len = server_name != NULL ? MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)
                                         : MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);

    if (server_name != NULL && !names_server(leaf, server_name))
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    if (!key_allowed(tls, leaf))
        *flags |= MBEDTLS_X509_BADCERT_BAD_KEY;
    if (mbedtls_x509_crt_check_key_usage(leaf, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0)
        *flags |= MBEDTLS_X509_BADCERT_KEY_USAGE;
    if (mbedtls_x509_crt_check_extended_key_usage(leaf, eku, eku_len) != 0)
        *flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
}

int cl_tls_verify_peer(struct cl_tls *tls, mbedtls_x509_crt *chain, const char *server_name,
                       uint32_t *flags)
{
    unsigned char digest[CL_TLS_DIGEST_LEN];

    *flags = 0;
    if (chain == NULL || chain->raw.p == NULL) {
        *flags = MBEDTLS_X509_BADCERT_MISSING;
        return -1;
    }
    /* The chain: from the cache only if this exact list of certificates was verified against
     * these roots, not too long ago, and every certificate (roots too) is still current. */
    cl_tls_digest_certs(chain, tls->trust_digest, digest);
    if (tls->verify_cache == NULL || !all_current(chain) || !all_current(&tls->trust) ||
        !cache_hit(tls->verify_cache, digest)) {
        uint32_t chain_flags = 0;
        int ret = mbedtls_x509_crt_verify_with_profile((mbedtls_x509_crt *)chain, &tls->trust, NULL,
                                                       tls->conf.cert_profile, NULL, &chain_flags,
                                                       NULL, NULL);
        if (ret == 0 && chain_flags == 0) {
            if (tls->verify_cache != NULL)
                cache_store(tls->verify_cache, digest);
        } else {
            *flags |= chain_flags != 0 ? chain_flags : MBEDTLS_X509_BADCERT_OTHER;
        }
    }
    check_leaf(tls, chain, server_name, flags);
    (void)cl_tls_check_revoked(tls, chain, server_name, flags);
    return *flags == 0 ? 0 : -1;
}

int cl_tls_check_revoked(const struct cl_tls *tls, const mbedtls_x509_crt *chain,
                         const char *server_name, uint32_t *flags)
{
    char who[300];

    if (tls->crl == NULL)
        return 0;
    if (server_name != NULL)
        snprintf(who, sizeof(who), "server %s", server_name);
    else
        snprintf(who, sizeof(who), "client");
    return cl_crl_holder_check_chain(tls->crl, chain, who, flags);
}

int cl_tls_recheck_peer(const struct cl_tls *tls, const mbedtls_x509_crt *chain,
                        const char *server_name, uint32_t *flags)
{
    *flags = 0;
    if (chain == NULL || chain->raw.p == NULL) {
        *flags = MBEDTLS_X509_BADCERT_MISSING;
        return -1;
    }
    /* The signatures were checked when the chain was first verified; time has moved since. */
    if (!all_current(chain) || !all_current(&tls->trust))
        *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
    check_leaf(tls, chain, server_name, flags);
    (void)cl_tls_check_revoked(tls, chain, server_name, flags);
    return *flags == 0 ? 0 : -1;
}
