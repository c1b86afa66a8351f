/* test_verified_chains.c: the verified-chain cache the factory terminal and the device-agent
 * use (tls.h, cl_tls_share_verified_chains) and the held signing table, on loopback with the
 * test PKI: a chain verified once is not verified again, and with a good chain cached every bad
 * peer (wrong name, wrong role, untrusted, expired, other trusted roots) is still refused before
 * any request is sent; entries age out, the cache stays bounded, and servers still require and
 * verify client certificates. Also the copied (sibling) context the device-agent uses.
 * Certificates for the cases the PKI script has none of are made here with mbedTLS (no
 * serverAuth, no digitalSignature, secp384r1, a SAN that differs from the CN, expiring in
 * seconds); the ones an mbedTLS server would refuse to present come from a rogue server that
 * swaps them in after its certificate pick. Each is refused by the client's own check after the
 * handshake, also when its chain is answered from the cache, and no request is sent. */
#define _XOPEN_SOURCE 700 /* usleep */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509.h>

#include "error.h"
#include "soapH.h"
#include "test_verified_chains.h"

static struct tp_dir dir;
static struct cl_verify_cache *server_cache; /* shared by the good and the second server */
static struct tp_server good;                /* ca-server certificate, cache, held table */
static struct tp_server second;              /* valid chain, another name (evil.certline.test) */
static struct tp_server expired;             /* expired comm-terminal certificate */
static struct tp_server untrusted;           /* comm-terminal lookalike under another root */

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    tp_count_call();
    return tp_answer_batch(soap, request, response, 1, "{}");
}

void vc_path(char *out, const char *name)
{
    tp_path(out, dir.pki, name);
}

static int new_tls(enum cl_tls_side side, const char *identity, const char *trust_name,
                   struct cl_tls **out)
{
    char err[256];

    if (tp_tls_new(side, dir.pki, identity, trust_name, out, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "TLS %s: %s\n", identity, err);
        return -1;
    }
    return 0;
}

/* A server with identity's certificate; tuned: sharing server_cache, holding a signing table. */
static int start_server(struct tp_server *rs, const char *identity, int tuned)
{
    char err[256];
    struct tp_server_options options = {.recv_timeout_s = 10,
                                        .max_connections = 8,
                                        .cache = tuned ? server_cache : NULL,
                                        .signing_table = tuned};

    if (tp_server_start(rs, dir.pki, identity, &options, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "server %s: %s\n", identity, err);
        return -1;
    }
    return 0;
}

/* A server with the ca-server certificate recording verified chains in cache. */
static void start_recorder(struct tp_server *rs, struct cl_verify_cache *cache)
{
    char err[256];
    struct tp_server_options options = {.recv_timeout_s = 10, .max_connections = 4, .cache = cache};

    assert_int_equal(tp_server_start(rs, dir.pki, "ca-server", &options, err, sizeof(err)), CL_OK);
}

int vc_call_once(struct cl_tls *tls, int port, const char *server_name, enum cl_role role,
                 char *why, size_t whylen)
{
    struct cl_client *client = NULL;
    struct ca__CertificateTransmissionRequest req;
    struct ca__CertificateTransmission resp;
    char err[256], number[] = "3012-000001", *numbers[] = {number};
    int rc;

    assert_int_equal(tp_client_new(tls, port, server_name, role, 10, &client, err, sizeof(err)),
                     CL_OK);
    memset(&req, 0, sizeof(req));
    req.requestId = "verified-chains";
    req.replacement = false_;
    req.__sizeDeviceNumber = 1;
    req.deviceNumber = numbers;
    if (soap_call___ca__CertificateTransmissionRequest(
            cl_client_soap(client), cl_client_endpoint(client), NULL, &req, &resp) == SOAP_OK) {
        rc = CL_OK;
        snprintf(why, whylen, "served");
    } else {
        rc = cl_client_explain(client, why, whylen);
    }
    cl_client_free(client);
    return rc;
}

/* A client with the comm-terminal identity, trusting trust_name, using cache. */
static struct cl_tls *cached_client(struct cl_verify_cache *cache, const char *trust_name)
{
    struct cl_tls *tls = NULL;
    assert_int_equal(new_tls(CL_TLS_CLIENT, "comm-terminal", trust_name, &tls), 0);
    assert_int_equal(cl_tls_share_verified_chains(tls, cache), CL_OK);
    return tls;
}

static void assert_counts(struct cl_verify_cache *cache, unsigned long full, unsigned long cached)
{
    unsigned long f, c;
    cl_verify_cache_counts(cache, &f, &c);
    if (f != full || c != cached)
        fail_msg("expected %lu full and %lu cached verifications, got %lu and %lu", full, cached, f,
                 c);
}

/* A refusal with the expected code and words, and no request reached a handler. */
static void assert_refused(struct cl_tls *tls, int port, const char *name, enum cl_role role,
                           int code, const char *needle)
{
    char why[512];
    int before = tp_calls();
    int rc = vc_call_once(tls, port, name, role, why, sizeof(why));
    if (rc != code || strstr(why, needle) == NULL)
        fail_msg("expected %s with \"%s\", got %s: %s", cl_err_name(code), needle, cl_err_name(rc),
                 why);
    assert_int_equal(tp_calls(), before);
}

static void assert_served(struct cl_tls *tls, int port, const char *name, enum cl_role role)
{
    char why[512];
    int before = tp_calls();
    int rc = vc_call_once(tls, port, name, role, why, sizeof(why));
    if (rc != CL_OK)
        fail_msg("expected the call to be served, got %s: %s", cl_err_name(rc), why);
    assert_int_equal(tp_calls(), before + 1);
}

/* A new cache (max_entries, max_age_s) in *cache and a comm-terminal client sharing it, trusting
 * root.crt, served once by the good server. */
static struct cl_tls *served_client(struct cl_verify_cache **cache, size_t max_entries,
                                    int max_age_s)
{
    assert_int_equal(cl_verify_cache_new(max_entries, max_age_s, cache), CL_OK);
    struct cl_tls *tls = cached_client(*cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    return tls;
}

static void release(struct cl_tls *tls, struct cl_verify_cache *cache)
{
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
}

/* ---- tests ---- */

static void test_second_connection_uses_the_cache(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    struct cl_tls *tls = served_client(&cache, 8, 3600);
    assert_counts(cache, 1, 0);
    for (int i = 0; i < 3; i++)
        assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 1, 3);
    release(tls, cache);
}

static void test_bad_peers_refused_with_good_chain_cached(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    struct cl_tls *tls = served_client(&cache, 8, 3600);
    /* The cached chain itself, but not the name or role this connection expects. */
    assert_refused(tls, good.port, COMM_NAME, CL_ROLE_CA_SERVER, CL_ERR_PEER_NAME,
                   "server certificate rejected: The certificate Common Name (CN) does not "
                   "match");
    assert_refused(tls, good.port, CA_NAME, CL_ROLE_COMM_TERMINAL, CL_ERR_PEER_ROLE,
                   "has role ca-server, expected comm-terminal");
    /* Other chains: signed under another root, expired. */
    assert_refused(tls, untrusted.port, COMM_NAME, CL_ROLE_COMM_TERMINAL, CL_ERR_TLS_PEER_VERIFY,
                   "server certificate rejected: The certificate is not correctly signed by the "
                   "trusted CA");
    assert_refused(tls, expired.port, COMM_NAME, CL_ROLE_COMM_TERMINAL, CL_ERR_TLS_PEER_VERIFY,
                   "server certificate rejected: The certificate validity has expired");
    /* A valid chain with another name: verified in full, refused on its name. */
    assert_refused(tls, second.port, CA_NAME, CL_ROLE_CA_SERVER, CL_ERR_PEER_NAME,
                   "does not match");
    /* Refusals are never cached: they are checked in full each time. */
    assert_refused(tls, untrusted.port, COMM_NAME, CL_ROLE_COMM_TERMINAL, CL_ERR_TLS_PEER_VERIFY,
                   "not correctly signed");
    assert_counts(cache, 2, 2); /* good and second in full; good's name and role from cache */
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    release(tls, cache);
}

static void test_entries_bound_to_the_trusted_roots(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    struct cl_tls *ours = cached_client(cache, "root.crt");
    struct cl_tls *theirs = cached_client(cache, "other-root.crt");
    assert_served(ours, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    /* Same cache, same chain, but a context trusting another root: no hit, refused. */
    assert_refused(theirs, good.port, CA_NAME, CL_ROLE_CA_SERVER, CL_ERR_TLS_PEER_VERIFY,
                   "not correctly signed");
    assert_counts(cache, 1, 0);
    cl_tls_free(ours);
    cl_tls_free(theirs);
    cl_verify_cache_free(cache);
}

static void test_entries_age_out(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    struct cl_tls *tls = served_client(&cache, 8, 1);
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 1, 1);
    usleep(1100000);
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 2, 1);
    release(tls, cache);
}

static void test_cache_is_bounded(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    struct cl_tls *tls = served_client(&cache, 1, 3600);
    assert_served(tls, second.port, EVIL_NAME, CL_ROLE_CA_SERVER); /* takes the only entry */
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);     /* so in full again */
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 3, 1);
    release(tls, cache);
}

static void test_server_still_requires_client_certificates(void **state)
{
    struct cl_verify_cache *cache;
    struct cl_tls *stranger = NULL;
    unsigned long full_before, cached_before, full_after, cached_after;
    char why[512];
    (void)state;

    /* The good server shares server_cache and has recorded the clients it verified. */
    cl_verify_cache_counts(server_cache, &full_before, &cached_before);
    assert_true(full_before > 0);
    assert_int_equal(cached_before, 0); /* servers never skip the verification */
    /* A client under another root is refused by the server although a chain is cached. */
    assert_int_equal(new_tls(CL_TLS_CLIENT, "other-comm-terminal", "root.crt", &stranger), 0);
    int before = tp_calls();
    int rc = vc_call_once(stranger, good.port, CA_NAME, CL_ROLE_CA_SERVER, why, sizeof(why));
    assert_true(rc == CL_ERR_TLS_HANDSHAKE || rc == CL_ERR_CLOSED);
    assert_int_equal(tp_calls(), before);
    cl_tls_free(stranger);
    cl_verify_cache_counts(server_cache, &full_after, &cached_after);
    assert_int_equal(full_after, full_before);
    assert_int_equal(cached_after, 0);
    /* And a good client is still served. */
    struct cl_tls *tls = served_client(&cache, 8, 3600);
    release(tls, cache);
}

static void *concurrent_calls(void *arg)
{
    struct cl_tls *tls = arg;
    char why[512];
    for (int i = 0; i < 5; i++)
        if (vc_call_once(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER, why, sizeof(why)) != CL_OK)
            return (void *)1;
    return NULL;
}

/* The good server signs with its held table from several connection threads at once. */
static void test_held_signing_table_under_concurrency(void **state)
{
    struct cl_verify_cache *cache;
    pthread_t threads[4];
    void *result;
    (void)state;

    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_int_equal(cl_tls_keep_signing_table(tls, (char[128]){0}, 128), CL_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, concurrent_calls, tls), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], &result), 0);
        assert_null(result);
    }
    release(tls, cache);
}

/* The device-agent builds its S10 client as a copy of its S7 server context: the copy
 * authenticates with the same identity and verifies servers as a fresh context would. */
static void test_sibling_context(void **state)
{
    struct cl_tls *server_side = NULL, *client_side = NULL;
    char err[256];
    (void)state;

    assert_int_equal(new_tls(CL_TLS_SERVER, "comm-terminal", "root.crt", &server_side), 0);
    assert_int_equal(cl_tls_keep_signing_table(server_side, err, sizeof(err)), CL_OK);
    assert_int_equal(cl_tls_new_sibling(server_side, CL_TLS_CLIENT, &client_side, err, sizeof(err)),
                     CL_OK);
    assert_served(client_side, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_refused(client_side, untrusted.port, COMM_NAME, CL_ROLE_COMM_TERMINAL,
                   CL_ERR_TLS_PEER_VERIFY, "not correctly signed");
    assert_refused(client_side, good.port, COMM_NAME, CL_ROLE_CA_SERVER, CL_ERR_PEER_NAME,
                   "does not match");
    cl_tls_free(client_side);
    cl_tls_free(server_side);
}

/* A server leaf for clientAuth only. The cross-direction case first: a server sharing the
 * client's cache verifies that chain as a client's and records it; presented later by a server
 * to a client sharing the cache, it is a cache hit (its signatures) and still refused on EKU. */
static void test_refused_without_server_auth_even_when_cached_by_a_server(void **state)
{
    struct cl_verify_cache *cache;
    struct tp_server recorder = {0};
    struct cl_tls *as_client = NULL;
    char why[512];
    (void)state;

    vc_make_server_leaf("client-auth-only", CA_NAME, CA_NAME, MBEDTLS_ECP_DP_SECP256R1,
                        MBEDTLS_X509_KU_DIGITAL_SIGNATURE, EKU_CLIENT, 0);
    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    /* A ca-server sharing the cache, met by a client presenting the clientAuth-only chain. */
    start_recorder(&recorder, cache);
    assert_int_equal(new_tls(CL_TLS_CLIENT, "client-auth-only", "root.crt", &as_client), 0);
    (void)vc_call_once(as_client, recorder.port, CA_NAME, CL_ROLE_CA_SERVER, why, sizeof(why));
    cl_tls_free(as_client);
    tp_server_stop(&recorder);
    assert_counts(cache, 1, 0); /* recorded as a verified client chain */

    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 2, 0);
    vc_assert_client_refuses(tls, "client-auth-only", CL_ERR_TLS_PEER_VERIFY,
                             "Usage does not match the extendedKeyUsage extension");
    assert_counts(cache, 2, 1); /* the chain came from the cache; the EKU check did not */
    release(tls, cache);
}

/* With the good chain served first: the rogue server presenting the leaf name is refused with
 * why, first after a full verification (which records its good signatures), then from the cache. */
static void assert_bad_leaf_refused_twice(const char *name, const char *why)
{
    struct cl_verify_cache *cache;
    struct cl_tls *tls = served_client(&cache, 8, 3600);
    for (int i = 0; i < 2; i++)
        vc_assert_client_refuses(tls, name, CL_ERR_TLS_PEER_VERIFY, why);
    assert_counts(cache, 2, 1);
    release(tls, cache);
}

/* A leaf whose keyUsage lacks digitalSignature. */
static void test_refused_without_digital_signature(void **state)
{
    (void)state;

    vc_make_server_leaf("key-agreement-only", CA_NAME, CA_NAME, MBEDTLS_ECP_DP_SECP256R1,
                        MBEDTLS_X509_KU_KEY_AGREEMENT, EKU_SERVER | EKU_CLIENT, 0);
    assert_bad_leaf_refused_twice("key-agreement-only",
                                  "Usage does not match the keyUsage extension");
}

/* A leaf key on secp384r1, outside the configured P-256/x25519. */
static void test_refused_on_a_curve_not_configured(void **state)
{
    (void)state;

    vc_make_server_leaf("p384-ca-server", CA_NAME, CA_NAME, MBEDTLS_ECP_DP_SECP384R1,
                        MBEDTLS_X509_KU_DIGITAL_SIGNATURE, EKU_SERVER | EKU_CLIENT, 0);
    assert_bad_leaf_refused_twice("p384-ca-server", "signed with an unacceptable key");
}

/* A subjectAltName that does not name the server, with a CN that does: the SAN is present, so
 * the CN is not used. Refused in full and from the cache; the SAN's own name is served. */
static void test_refused_when_san_differs_though_cn_matches(void **state)
{
    struct cl_verify_cache *cache;
    struct tp_server san_server = {0};
    (void)state;

    vc_make_server_leaf("san-mismatch-ca-server", CA_NAME, "other.certline.test",
                        MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
                        EKU_SERVER | EKU_CLIENT, 0);
    assert_int_equal(start_server(&san_server, "san-mismatch-ca-server", 0), 0);
    struct cl_tls *tls = served_client(&cache, 8, 3600);
    for (int i = 0; i < 2; i++)
        assert_refused(tls, san_server.port, CA_NAME, CL_ROLE_CA_SERVER, CL_ERR_PEER_NAME,
                       "server certificate rejected: The certificate Common Name (CN) does not "
                       "match");
    assert_counts(cache, 2, 1);
    assert_served(tls, san_server.port, "other.certline.test", CL_ROLE_CA_SERVER);
    assert_counts(cache, 2, 2);
    release(tls, cache);
    tp_server_stop(&san_server);
}

/* Chains verified and cached while current, presented again once expired: a leaf whose notAfter
 * has passed, and a leaf under a trusted root whose notAfter has passed. Both refused. */
static void test_refused_once_expired_while_cached(void **state)
{
    struct cl_verify_cache *cache;
    struct tp_server short_leaf = {0}, short_root = {0};
    time_t until = time(NULL) + 8; /* outlives the set-up and cached calls on a busy machine */
    (void)state;

    vc_make_server_leaf("short-lived-ca-server", CA_NAME, CA_NAME, MBEDTLS_ECP_DP_SECP256R1,
                        MBEDTLS_X509_KU_DIGITAL_SIGNATURE, EKU_SERVER | EKU_CLIENT, until);
    struct cert_spec root = {.name = "short-lived-root",
                             .subject = "O=certline test,CN=certline short-lived test root",
                             .curve = MBEDTLS_ECP_DP_SECP256R1,
                             .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN,
                             .not_after = until};
    vc_make_cert(&root);
    struct cert_spec leaf = {.name = "under-short-lived-root",
                             .subject = "O=certline test,OU=ca-server,CN=" CA_NAME,
                             .issuer = "short-lived-root",
                             .curve = MBEDTLS_ECP_DP_SECP256R1,
                             .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
                             .eku = EKU_SERVER | EKU_CLIENT,
                             .san = CA_NAME};
    vc_make_cert(&leaf);
    /* That server presents its leaf alone: only the trusted root's own validity can refuse it. */
    vc_write_text("under-short-lived-root.chain.crt", "", "under-short-lived-root.crt");
    assert_int_equal(start_server(&short_leaf, "short-lived-ca-server", 0), 0);
    assert_int_equal(start_server(&short_root, "under-short-lived-root", 0), 0);

    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    struct cl_tls *ours = cached_client(cache, "root.crt");
    struct cl_tls *short_trust = cached_client(cache, "short-lived-root.crt");
    assert_served(ours, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    for (int i = 0; i < 2; i++) {
        assert_served(ours, short_leaf.port, CA_NAME, CL_ROLE_CA_SERVER);
        assert_served(short_trust, short_root.port, CA_NAME, CL_ROLE_CA_SERVER);
    }
    if (time(NULL) > until)
        fail_msg("too slow: the short-lived certificates expired before the cached calls");
    assert_counts(cache, 3, 2); /* both short-lived chains cached while current */

    while (time(NULL) <= until) /* notAfter is inclusive, to the second */
        usleep(200000);
    assert_refused(ours, short_leaf.port, CA_NAME, CL_ROLE_CA_SERVER, CL_ERR_TLS_PEER_VERIFY,
                   "server certificate rejected: The certificate validity has expired");
    assert_refused(short_trust, short_root.port, CA_NAME, CL_ROLE_CA_SERVER, CL_ERR_TLS_PEER_VERIFY,
                   "server certificate rejected: The certificate validity has expired");
    assert_counts(cache, 3, 2); /* neither answered from the cache */
    assert_served(ours, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 3, 3);
    cl_tls_free(ours);
    cl_tls_free(short_trust);
    cl_verify_cache_free(cache);
    tp_server_stop(&short_leaf);
    tp_server_stop(&short_root);
}

/* A server records a client chain only when mbedTLS verified it in this handshake: a resumed
 * session (here right after the full handshake) records nothing. */
static void test_server_records_only_verified_handshakes(void **state)
{
    struct cl_verify_cache *cache;
    struct tp_server recorder = {0};
    struct cl_tls *tls = NULL;
    struct cl_client *client = NULL;
    struct ca__CertificateTransmissionRequest req;
    struct ca__CertificateTransmission resp;
    char err[256], number[] = "3012-000001", *numbers[] = {number};
    unsigned total, resumed;
    (void)state;

    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    start_recorder(&recorder, cache);

    assert_int_equal(new_tls(CL_TLS_CLIENT, "comm-terminal", "root.crt", &tls), 0);
    assert_int_equal(tp_client_new(tls, recorder.port, CA_NAME, CL_ROLE_CA_SERVER, 10, &client, err,
                                   sizeof(err)),
                     CL_OK);
    memset(&req, 0, sizeof(req));
    req.requestId = "verified-chains";
    req.replacement = false_;
    req.__sizeDeviceNumber = 1;
    req.deviceNumber = numbers;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(soap_call___ca__CertificateTransmissionRequest(
                             cl_client_soap(client), cl_client_endpoint(client), NULL, &req, &resp),
                         SOAP_OK);
        cl_client_end_call(client);
        (void)soap_force_closesock(cl_client_soap(client)); /* the next call connects again */
    }
    cl_client_handshakes(client, &total, &resumed);
    assert_int_equal(total, 3);
    assert_int_equal(resumed, 2);
    assert_counts(cache, 1, 0); /* the full handshake only */
    cl_client_free(client);
    cl_tls_free(tls);
    tp_server_stop(&recorder);
    cl_verify_cache_free(cache);
}

/* ---- set-up ---- */

static int setup(void **state)
{
    (void)state;

    if (tp_dir_make(&dir, "certline-verified", "server.log", "test-verified-chains") != 0)
        return -1;
    /* As every certline program does: a peer that closes first must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (vc_rng_start() != 0)
        return -1;
    if (cl_verify_cache_new(8, 3600, &server_cache) != CL_OK)
        return -1;
    if (start_server(&good, "ca-server", 1) != 0 ||
        start_server(&second, "wrong-name-ca-server", 1) ||
        start_server(&expired, "expired-comm-terminal", 0) != 0 ||
        start_server(&untrusted, "other-comm-terminal", 0) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tp_server_stop(&good);
    tp_server_stop(&second);
    tp_server_stop(&expired);
    tp_server_stop(&untrusted);
    cl_verify_cache_free(server_cache);
    vc_rng_free();
    return tp_dir_remove(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_connection_uses_the_cache),
        cmocka_unit_test(test_bad_peers_refused_with_good_chain_cached),
        cmocka_unit_test(test_entries_bound_to_the_trusted_roots),
        cmocka_unit_test(test_entries_age_out),
        cmocka_unit_test(test_cache_is_bounded),
        cmocka_unit_test(test_server_still_requires_client_certificates),
        cmocka_unit_test(test_held_signing_table_under_concurrency),
        cmocka_unit_test(test_sibling_context),
        cmocka_unit_test(test_refused_without_server_auth_even_when_cached_by_a_server),
        cmocka_unit_test(test_refused_without_digital_signature),
        cmocka_unit_test(test_refused_on_a_curve_not_configured),
        cmocka_unit_test(test_refused_when_san_differs_though_cn_matches),
        cmocka_unit_test(test_refused_once_expired_while_cached),
        cmocka_unit_test(test_server_records_only_verified_handshakes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
