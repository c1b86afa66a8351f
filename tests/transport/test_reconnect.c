/* test_reconnect.c: one client kept through time, as the programs keep theirs: idle longer than
 * the server's receive timeout, a fault, the server restarted, the server's certificate re-issued,
 * the server away and back; each followed by more work on the same client, in both client modes
 * (mbedTLS verifying in the handshake, as the comm-terminal's client; the verified-chain cache, as
 * the factory terminal's and the device-agent's). A resumed session is checked like a full one,
 * and a session refused once is never offered again. Loopback, test PKI made at test time. */
#define _XOPEN_SOURCE 700 /* usleep */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_server.h"
#include "test_pki.h"
#include "tls.h"
#include "tls_verify.h"

#define CA_NAME "ca.certline.test"
#define SERVER_IDLE_S 1 /* the test servers' receive timeout */
#define SHORT_LIFE_S 3  /* the short-lived server certificate's first life; doubled if slow */
#define SHORT_LIFE_MAX_S 48
#define FAULT_ID "fault-please"

static struct tp_dir dir;

/* The ca interface's batch operation: answers each number, or a fault for FAULT_ID. */
int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    tp_count_call();
    if (strcmp(request->requestId, FAULT_ID) == 0)
        return soap_sender_fault(soap, "Refused for the test", NULL);
    return tp_answer_batch(soap, request, response, 1, "{}");
}

static struct cl_tls *new_tls(enum cl_tls_side side, const char *identity)
{
    char err[256];
    struct cl_tls *tls = NULL;

    if (tp_tls_new(side, dir.pki, identity, NULL, &tls, err, sizeof(err)) != CL_OK)
        fail_msg("TLS %s: %s", identity, err);
    return tls;
}

/* A server with identity's certificate on port (0: any free port). */
static void start_server(struct tp_server *rs, const char *identity, int port)
{
    char err[256];
    struct tp_server_options options = {
        .port = port, .recv_timeout_s = SERVER_IDLE_S, .max_connections = 4};

    if (tp_server_start(rs, dir.pki, identity, &options, err, sizeof(err)) != CL_OK)
        fail_msg("server on port %d: %s", port, err);
}

/* The client under test: kept from its first call to its last, like a program's. */
struct kept_client {
    struct cl_tls *tls;
    struct cl_verify_cache *cache; /* NULL: mbedTLS verifies in the handshake */
    struct cl_client *client;
};

static void open_client(struct kept_client *kc, int port, int cached)
{
    char err[256];

    memset(kc, 0, sizeof(*kc));
    kc->tls = new_tls(CL_TLS_CLIENT, "comm-terminal");
    if (cached) {
        assert_int_equal(cl_verify_cache_new(8, 3600, &kc->cache), CL_OK);
        assert_int_equal(cl_tls_share_verified_chains(kc->tls, kc->cache), CL_OK);
    }
    assert_int_equal(
        tp_client_new(kc->tls, port, CA_NAME, CL_ROLE_CA_SERVER, 10, &kc->client, err, sizeof(err)),
        CL_OK);
}

static void close_client(struct kept_client *kc)
{
    cl_client_free(kc->client);
    cl_tls_free(kc->tls);
    cl_verify_cache_free(kc->cache);
}

/* One call; returns its cl_err code (CL_OK if served) with the explanation in why. */
static int call(struct kept_client *kc, const char *request_id, char *why, size_t whylen)
{
    char id[64];
    struct ca__CertificateTransmissionRequest req;
    struct ca__CertificateTransmission resp;
    char number[] = "3012-000001", *numbers[] = {number};
    int rc = CL_OK;

    memset(&req, 0, sizeof(req));
    snprintf(id, sizeof(id), "%s", request_id);
    req.requestId = id;
    req.replacement = false_;
    req.__sizeDeviceNumber = 1;
    req.deviceNumber = numbers;
    snprintf(why, whylen, "served");
    if (soap_call___ca__CertificateTransmissionRequest(cl_client_soap(kc->client),
                                                       cl_client_endpoint(kc->client), NULL, &req,
                                                       &resp) != SOAP_OK)
        rc = cl_client_explain(kc->client, why, whylen);
    cl_client_end_call(kc->client);
    return rc;
}

static void assert_served(struct kept_client *kc)
{
    char why[512];
    int before = tp_calls(), rc = call(kc, "reconnect-test", why, sizeof(why));
    if (rc != CL_OK)
        fail_msg("expected the call to be served, got %s: %s", cl_err_name(rc), why);
    assert_int_equal(tp_calls(), before + 1);
}

/* Like assert_served, while a certificate ending at end may have ended on a slow machine:
 * returns 0 if the call was refused for that (the caller tries a longer life), 1 if served. */
static int served_before(struct kept_client *kc, time_t end)
{
    char why[512];
    int before = tp_calls(), rc = call(kc, "reconnect-test", why, sizeof(why));
    if (rc == CL_ERR_TLS_PEER_VERIFY && strstr(why, "validity has expired") != NULL &&
        time(NULL) >= end)
        return 0;
    if (rc != CL_OK)
        fail_msg("expected the call to be served, got %s: %s", cl_err_name(rc), why);
    assert_int_equal(tp_calls(), before + 1);
    return 1;
}

/* Handshakes so far: total and resumed, as the client counts them. */
static void assert_handshakes(struct kept_client *kc, unsigned total, unsigned resumed)
{
    unsigned t, r;
    cl_client_handshakes(kc->client, &t, &r);
    if (t != total || r != resumed)
        fail_msg("expected %u handshakes (%u resumed), got %u (%u resumed)", total, resumed, t, r);
}

static void idle_past_server_timeout(void)
{
    usleep((SERVER_IDLE_S * 1000 + 600) * 1000); /* the configured 1 s timeout, not a real day */
}

static size_t log_count(const char *needle)
{
    char buf[1 << 16];
    size_t n = 0, count = 0;
    FILE *f = fopen(dir.log_path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (const char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        count++;
    return count;
}

/* The five situations in turn on one client, each followed by more work. */
static void through_time(int cached)
{
    struct tp_server server = {0};
    struct kept_client kc;
    char why[512];
    int port;
    unsigned long full, from_cache;

    start_server(&server, "ca-server", 0);
    port = server.port;
    open_client(&kc, port, cached);
    assert_served(&kc);
    assert_handshakes(&kc, 1, 0);

    /* 1. Idle longer than the server's receive timeout: the server closed; a resumed session. */
    idle_past_server_timeout();
    assert_served(&kc);
    assert_handshakes(&kc, 2, 1);
    idle_past_server_timeout();
    assert_served(&kc);
    assert_handshakes(&kc, 3, 2);

    /* 2. A fault (gSOAP closes the connection after one), then more work. */
    int before = tp_calls();
    assert_int_equal(call(&kc, FAULT_ID, why, sizeof(why)), CL_ERR_SOAP_FAULT);
    assert_non_null(strstr(why, "Refused for the test"));
    assert_int_equal(tp_calls(), before + 1);
    assert_served(&kc);
    assert_served(&kc);

    /* 3. The server restarted (same certificate, same port): it knows no session; a full
     * handshake, and then resumption of the new session. */
    tp_server_stop(&server);
    start_server(&server, "ca-server", port);
    unsigned total, resumed;
    cl_client_handshakes(kc.client, &total, &resumed);
    assert_served(&kc);
    assert_handshakes(&kc, total + 1, resumed);
    idle_past_server_timeout();
    assert_served(&kc);
    assert_handshakes(&kc, total + 2, resumed + 1);

    /* 4. The server's certificate re-issued (same name, new key) while the client holds a saved
     * session: the new chain is verified in full, then its own session resumes. */
    if (cached)
        cl_verify_cache_counts(kc.cache, &full, &from_cache);
    tp_server_stop(&server);
    start_server(&server, "ca-server-reissued", port);
    cl_client_handshakes(kc.client, &total, &resumed);
    assert_served(&kc);
    assert_handshakes(&kc, total + 1, resumed);
    if (cached) {
        unsigned long f, c;
        cl_verify_cache_counts(kc.cache, &f, &c);
        assert_int_equal(f, full + 1); /* the new chain, verified in full */
    }
    idle_past_server_timeout();
    assert_served(&kc);
    assert_handshakes(&kc, total + 2, resumed + 1);

    /* 5. The server away for a while: clear refusals, then back: served again. */
    tp_server_stop(&server);
    for (int i = 0; i < 3; i++) {
        int rc = call(&kc, "while-away", why, sizeof(why));
        if (rc != CL_ERR_CONNECT || strstr(why, "cannot connect") == NULL)
            fail_msg("server away: expected CL_ERR_CONNECT, got %s: %s", cl_err_name(rc), why);
    }
    start_server(&server, "ca-server", port);
    assert_served(&kc);
    assert_served(&kc);

    close_client(&kc);
    tp_server_stop(&server);
}

static void test_through_time_verified_in_handshake(void **state)
{
    (void)state;
    through_time(0);
}

static void test_through_time_with_verified_chain_cache(void **state)
{
    (void)state;
    through_time(1);
}

/* After the server's certificate expired, the client's next call and the one after it. */
static void assert_refused_then_not_offered(struct kept_client *kc)
{
    char why[512];
    size_t offered = log_count("offering the saved TLS session to " CA_NAME);
    size_t forgotten = log_count("TLS session with " CA_NAME " forgotten");
    int before = tp_calls(), rc = call(kc, "after-expiry", why, sizeof(why));

    if (rc != CL_ERR_TLS_PEER_VERIFY || strstr(why, "validity has expired") == NULL)
        fail_msg("resumed session with an expired server: got %s: %s", cl_err_name(rc), why);
    assert_int_equal(log_count("offering the saved TLS session to " CA_NAME), offered + 1);
    assert_int_equal(log_count("TLS session with " CA_NAME " forgotten"), forgotten + 1);

    rc = call(kc, "after-expiry", why, sizeof(why));
    if (rc != CL_ERR_TLS_PEER_VERIFY || strstr(why, "validity has expired") == NULL)
        fail_msg("full handshake with an expired server: got %s: %s", cl_err_name(rc), why);
    assert_int_equal(log_count("offering the saved TLS session to " CA_NAME), offered + 1);
    assert_int_equal(tp_calls(), before); /* nothing reached the server's handler */
    assert_handshakes(kc, 1, 0);
}

/* A server whose certificate expires while the clients hold its session (the server keeps the
 * session in its cache and would resume it): the resumed session is refused as a full handshake
 * would be, the session is forgotten, and the next connection does not offer it. Both modes. */
static void test_refused_session_not_offered_again(void **state)
{
    struct tp_server server = {0};
    struct kept_client plain, cached;
    time_t end = 0;
    (void)state;

    /* The certificate must outlive the set-up and first calls, and no more: on a slow machine
     * its life is doubled until it does. */
    for (int life = SHORT_LIFE_S;; life *= 2) {
        char end_text[32];
        end = time(NULL) + life;
        strftime(end_text, sizeof(end_text), "%Y%m%d%H%M%SZ", gmtime(&end));
        assert_int_equal(tp_make_pki(dir.pki, end_text), 0);
        start_server(&server, "short-lived-ca-server", 0);
        open_client(&plain, server.port, 0);
        open_client(&cached, server.port, 1);
        if (served_before(&plain, end) && served_before(&cached, end) && time(NULL) < end)
            break;
        if (life >= SHORT_LIFE_MAX_S)
            fail_msg("too slow: a certificate living %d s ended before the first calls", life);
        close_client(&plain);
        close_client(&cached);
        tp_server_stop(&server);
    }
    assert_handshakes(&plain, 1, 0);
    assert_handshakes(&cached, 1, 0);
    while (time(NULL) <= end) /* notAfter is inclusive, to the second */
        usleep(200000);
    assert_refused_then_not_offered(&plain);
    assert_refused_then_not_offered(&cached);
    close_client(&plain);
    close_client(&cached);
    tp_server_stop(&server);
}

static int setup(void **state)
{
    (void)state;

    signal(SIGPIPE, SIG_IGN); /* as every certline program: a closed peer is an error, not death */
    return tp_dir_make(&dir, "certline-reconnect", "test.log", "test-reconnect");
}

static int teardown(void **state)
{
    (void)state;
    return tp_dir_remove(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_session_not_offered_again),
        cmocka_unit_test(test_through_time_verified_in_handshake),
        cmocka_unit_test(test_through_time_with_verified_chain_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
