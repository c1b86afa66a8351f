/* test_verified_chains.c: the verified-chain cache the factory terminal and the device-agent
 * use (tls.h, cl_tls_share_verified_chains) and the held signing table, on loopback with the
 * test PKI: a chain verified once is not verified again, and with a good chain cached every bad
 * peer (wrong name, wrong role, untrusted, expired, other trusted roots) is still refused before
 * any request is sent; entries age out, the cache stays bounded, and servers still require and
 * verify client certificates. Also the copied (sibling) context the device-agent uses. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_server.h"
#include "tls.h"
#include "tls_verify.h"

#ifndef CERTLINE_SOURCE_DIR
#error "CERTLINE_SOURCE_DIR must point at the source tree"
#endif

#define CA_NAME "ca.certline.test"
#define EVIL_NAME "evil.certline.test"
#define COMM_NAME "comm.certline.test"

struct running_server {
    struct cl_tls *tls;
    struct cl_server *server;
    pthread_t thread;
    int port;
};

static char top[64];
static char pki[1024];
static struct cl_verify_cache *server_cache; /* shared by the good and the second server */
static struct running_server good;           /* ca-server certificate, cache, held table */
static struct running_server second;         /* valid chain, another name (evil.certline.test) */
static struct running_server expired;        /* expired comm-terminal certificate */
static struct running_server untrusted;      /* comm-terminal lookalike under another root */

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int handler_calls;

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    pthread_mutex_lock(&calls_lock);
    handler_calls++;
    pthread_mutex_unlock(&calls_lock);
    response->requestId = request->requestId;
    response->__sizeItem = 1;
    response->item = soap_malloc(soap, sizeof(*response->item));
    if (response->item == NULL)
        return soap_receiver_fault(soap, "out of memory", NULL);
    response->item[0].deviceNumber = request->deviceNumber[0];
    response->item[0].pack = "{}";
    return SOAP_OK;
}

static int calls(void)
{
    pthread_mutex_lock(&calls_lock);
    int n = handler_calls;
    pthread_mutex_unlock(&calls_lock);
    return n;
}

static void path_of(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", pki, name);
}

static int new_tls(enum cl_tls_side side, const char *identity, const char *trust_name,
                   struct cl_tls **out)
{
    char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX], name[128], err[256];

    snprintf(name, sizeof(name), "%s.chain.crt", identity);
    path_of(cert, name);
    snprintf(name, sizeof(name), "%s.key", identity);
    path_of(key, name);
    path_of(trust, trust_name);
    struct cl_tls_settings settings = {.cert_file = cert, .key_file = key, .trust_file = trust};
    if (cl_tls_new(side, &settings, out, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "TLS %s: %s\n", identity, err);
        return -1;
    }
    return 0;
}

static void *server_main(void *arg)
{
    struct running_server *rs = arg;
    cl_server_run(rs->server);
    return NULL;
}

static int start_server(struct running_server *rs, const char *identity, int tuned)
{
    char err[256];
    struct cl_server_settings settings = {
        .host = "127.0.0.1", .port = 0, .iface = CL_IFACE_CA, .max_connections = 8};

    if (new_tls(CL_TLS_SERVER, identity, "root.crt", &rs->tls) != 0)
        return -1;
    if (tuned && (cl_tls_share_verified_chains(rs->tls, server_cache) != CL_OK ||
                  cl_tls_keep_signing_table(rs->tls, err, sizeof(err)) != CL_OK))
        return -1;
    cl_soap_limits_default(&settings.limits);
    settings.limits.recv_timeout_s = 10;
    if (cl_server_new(&settings, rs->tls, &rs->server, err, sizeof(err)) != CL_OK)
        return -1;
    rs->port = cl_server_port(rs->server);
    return pthread_create(&rs->thread, NULL, server_main, rs) == 0 ? 0 : -1;
}

static void stop_server(struct running_server *rs)
{
    if (rs->server == NULL)
        return;
    cl_server_stop(rs->server);
    pthread_join(rs->thread, NULL);
    cl_server_free(rs->server);
    cl_tls_free(rs->tls);
    memset(rs, 0, sizeof(*rs));
}

/* One call from a new connection (a new client) made with tls; returns the cl_err code of its
 * failure (CL_OK if served) and the explanation in why. */
static int call_once(struct cl_tls *tls, int port, const char *server_name, enum cl_role role,
                     char *why, size_t whylen)
{
    struct cl_client_settings settings;
    struct cl_client *client = NULL;
    struct ca__CertificateTransmissionRequest req;
    struct ca__CertificateTransmission resp;
    char endpoint[128], err[256], number[] = "3012-000001", *numbers[] = {number};
    int rc;

    snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d/ca", port);
    settings.endpoint = endpoint;
    settings.server_name = server_name;
    settings.server_role = role;
    cl_soap_limits_default(&settings.limits);
    settings.limits.recv_timeout_s = 10;
    assert_int_equal(cl_client_new(&settings, tls, &client, err, sizeof(err)), CL_OK);
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
    int before = calls();
    int rc = call_once(tls, port, name, role, why, sizeof(why));
    if (rc != code || strstr(why, needle) == NULL)
        fail_msg("expected %s with \"%s\", got %s: %s", cl_err_name(code), needle, cl_err_name(rc),
                 why);
    assert_int_equal(calls(), before);
}

static void assert_served(struct cl_tls *tls, int port, const char *name, enum cl_role role)
{
    char why[512];
    int before = calls();
    int rc = call_once(tls, port, name, role, why, sizeof(why));
    if (rc != CL_OK)
        fail_msg("expected the call to be served, got %s: %s", cl_err_name(rc), why);
    assert_int_equal(calls(), before + 1);
}

/* ---- tests ---- */

static void test_second_connection_uses_the_cache(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 1, 0);
    for (int i = 0; i < 3; i++)
        assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 1, 3);
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
}

static void test_bad_peers_refused_with_good_chain_cached(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
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
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
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

    assert_int_equal(cl_verify_cache_new(8, 1, &cache), CL_OK);
    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 1, 1);
    usleep(1100000);
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 2, 1);
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
}

static void test_cache_is_bounded(void **state)
{
    struct cl_verify_cache *cache;
    (void)state;

    assert_int_equal(cl_verify_cache_new(1, 3600, &cache), CL_OK);
    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_served(tls, second.port, EVIL_NAME, CL_ROLE_CA_SERVER); /* takes the only entry */
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);     /* so in full again */
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    assert_counts(cache, 3, 1);
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
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
    int before = calls();
    int rc = call_once(stranger, good.port, CA_NAME, CL_ROLE_CA_SERVER, why, sizeof(why));
    assert_true(rc == CL_ERR_TLS_HANDSHAKE || rc == CL_ERR_CLOSED);
    assert_int_equal(calls(), before);
    cl_tls_free(stranger);
    cl_verify_cache_counts(server_cache, &full_after, &cached_after);
    assert_int_equal(full_after, full_before);
    assert_int_equal(cached_after, 0);
    /* And a good client is still served. */
    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    struct cl_tls *tls = cached_client(cache, "root.crt");
    assert_served(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER);
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
}

static void *concurrent_calls(void *arg)
{
    struct cl_tls *tls = arg;
    char why[512];
    for (int i = 0; i < 5; i++)
        if (call_once(tls, good.port, CA_NAME, CL_ROLE_CA_SERVER, why, sizeof(why)) != CL_OK)
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
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
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

/* ---- set-up ---- */

static int make_pki(const char *dir)
{
    char script[PATH_MAX];
    pid_t pid;
    int status;

    snprintf(script, sizeof(script), "%s/tests/pki/make-test-pki.sh", CERTLINE_SOURCE_DIR);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        execlp("bash", "bash", script, dir, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    char log_path[PATH_MAX];
    int fd;
    (void)state;

    snprintf(top, sizeof(top), "/tmp/certline-verified-XXXXXX");
    if (mkdtemp(top) == NULL)
        return -1;
    snprintf(pki, sizeof(pki), "%s/pki", top);
    if (make_pki(pki) != 0)
        return -1;
    snprintf(log_path, sizeof(log_path), "%s/server.log", top);
    if ((fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
        return -1;
    cl_log_set_sink(fd);
    cl_log_set_level(CL_LOG_DEBUG);
    cl_log_set_program("test-verified-chains");
    /* As every certline program does: a peer that closes first must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (cl_verify_cache_new(8, 3600, &server_cache) != CL_OK)
        return -1;
    if (start_server(&good, "ca-server", 1) != 0 ||
        start_server(&second, "wrong-name-ca-server", 1) ||
        start_server(&expired, "expired-comm-terminal", 0) != 0 ||
        start_server(&untrusted, "other-comm-terminal", 0) != 0)
        return -1;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    (void)state;
    stop_server(&good);
    stop_server(&second);
    stop_server(&expired);
    stop_server(&untrusted);
    cl_verify_cache_free(server_cache);
    cl_log_set_sink(2);
    return nftw(top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
