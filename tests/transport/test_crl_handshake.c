/* test_crl_handshake.c: revocation in every TLS handshake (tls.h, cl_tls_check_revocation), on
 * loopback with the test PKI and CRLs signed by its issuing CA: a revoked client is refused by a
 * server and a revoked server by a client, in a full handshake, with the chain from the
 * verified-chain cache and in a resumed session, before any request reaches a handler; a valid
 * peer is served; a newer CRL installed while the programs run takes effect on the next
 * handshake; the refusal is logged with the peer, the serial and the reason; the policy that
 * refuses peers before the first CRL. */
#define _XOPEN_SOURCE 700 /* usleep */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#include "crl_build.h"
#include "crl_holder.h"
#include "error.h"
#include "soapH.h"
#include "test_pki.h"
#include "x509_issue.h"

#define CA_NAME "ca.certline.test"
#define SERVER_IDLE_S 1

static struct tp_dir dir;
static struct cl_signer *signer; /* the test PKI's issuing CA */
static char ca_bundle[PATH_MAX];
static char serial_ca_server[CL_SERIAL_HEX_MAX + 1], serial_comm[CL_SERIAL_HEX_MAX + 1];
static atomic_int served;
static unsigned long long crl_number; /* every CRL made gets the next number */

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    atomic_fetch_add(&served, 1);
    response->requestId = request->requestId;
    response->item = soap_malloc(soap, sizeof(*response->item));
    if (response->item == NULL)
        return soap_receiver_fault(soap, "out of memory", NULL);
    response->__sizeItem = 1;
    response->item[0].deviceNumber = request->deviceNumber[0];
    response->item[0].pack = soap_strdup(soap, "{}");
    return SOAP_OK;
}

static unsigned char *read_all(const char *name, size_t *len)
{
    char path[PATH_MAX], err[256];
    unsigned char *data = NULL;

    tp_path(path, dir.pki, name);
    if (cl_crl_read_file(path, &data, len, err, sizeof(err)) != CL_OK)
        fail_msg("%s", err);
    return data;
}

/* The serial of the test PKI's certificate name, upper-case hex. */
static void serial_of(const char *name, char out[CL_SERIAL_HEX_MAX + 1])
{
    mbedtls_x509_crt crt;
    char path[PATH_MAX];

    tp_path(path, dir.pki, name);
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse_file(&crt, path), 0);
    for (size_t i = 0; i < crt.serial.len; i++)
        snprintf(out + 2 * i, 3, "%02X", crt.serial.p[i]);
    mbedtls_x509_crt_free(&crt);
}

static int setup(void **state)
{
    unsigned char *cert, *key;
    size_t cert_len, key_len;
    char err[256];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (tp_dir_make(&dir, "test_crl_handshake", "test.log", "test_crl_handshake") != 0)
        return -1;
    cert = read_all("issuing.crt", &cert_len);
    key = read_all("issuing.key", &key_len);
    if (cl_signer_new(cert, cert_len + 1, key, key_len + 1, "certline test", &signer, err,
                      sizeof(err)) != CL_OK) {
        fprintf(stderr, "signer: %s\n", err);
        return -1;
    }
    free(cert);
    free(key);
    tp_path(ca_bundle, dir.pki, "ca-bundle.crt");
    serial_of("ca-server.crt", serial_ca_server);
    serial_of("comm-terminal.crt", serial_comm);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cl_signer_free(signer);
    return tp_dir_remove(&dir);
}

static struct cl_crl_holder *holder_new(enum cl_crl_missing_policy missing)
{
    struct cl_crl_policy policy = {CL_CRL_STALE_WARN, missing};
    struct cl_crl_holder *h = NULL;
    char err[256];
    if (cl_crl_holder_new(&policy, ca_bundle, NULL, &h, err, sizeof(err)) != CL_OK)
        fail_msg("holder: %s", err);
    return h;
}

/* Installs a new CRL (the next number) listing serial (NULL: only an unrelated serial). */
static void publish(struct cl_crl_holder *h, const char *serial, int reason)
{
    struct cl_crl_entry entries[] = {{"0A0B0C0D0E0F1011", time(NULL) - 86400, 4},
                                     {serial, time(NULL) - 60, reason}};
    struct cl_crl_params params = {time(NULL) - 60, time(NULL) + 86400, ++crl_number};
    unsigned char *der = NULL;
    size_t len = 0;
    char err[256];

    if (cl_crl_build(signer, &params, entries, serial != NULL ? 2 : 1, &der, &len, err,
                     sizeof(err)) != CL_OK ||
        cl_crl_holder_install(h, der, len, err, sizeof(err)) != CL_OK)
        fail_msg("publishing CRL %llu: %s", crl_number, err);
    free(der);
}

static void server_start(struct tp_server *ts, const char *identity, struct cl_crl_holder *crl)
{
    struct tp_server_options options = {
        .recv_timeout_s = SERVER_IDLE_S, .max_connections = 4, .crl = crl};
    char err[256];
    if (tp_server_start(ts, dir.pki, identity, &options, err, sizeof(err)) != CL_OK)
        fail_msg("server %s: %s", identity, err);
}

/* A comm-terminal client context, checking servers against crl and caching chains in cache
 * (either may be NULL). */
static struct cl_tls *client_tls(struct cl_crl_holder *crl, struct cl_verify_cache *cache)
{
    struct cl_tls *tls = NULL;
    char err[256];
    if (tp_tls_new(CL_TLS_CLIENT, dir.pki, "comm-terminal", NULL, &tls, err, sizeof(err)) != CL_OK)
        fail_msg("client: %s", err);
    if (crl != NULL)
        assert_int_equal(cl_tls_check_revocation(tls, crl), CL_OK);
    if (cache != NULL)
        assert_int_equal(cl_tls_share_verified_chains(tls, cache), CL_OK);
    return tls;
}

static struct cl_client *client_new(struct cl_tls *tls, int port)
{
    struct cl_client *client = NULL;
    char err[256];
    if (tp_client_new(tls, port, CA_NAME, CL_ROLE_CA_SERVER, 10, &client, err, sizeof(err)) !=
        CL_OK)
        fail_msg("client: %s", err);
    return client;
}

/* One request on client; CL_OK if served, else the code with the reason in why. */
static int request(struct cl_client *client, char *why, size_t whylen)
{
    struct ca__CertificateTransmissionRequest req = {0};
    struct ca__CertificateTransmission resp;
    char id[] = "crl-test", number[] = "3012-000001", *numbers[] = {number};
    int rc = CL_OK;

    req.requestId = id;
    req.replacement = false_;
    req.__sizeDeviceNumber = 1;
    req.deviceNumber = numbers;
    snprintf(why, whylen, "served");
    if (soap_call___ca__CertificateTransmissionRequest(
            cl_client_soap(client), cl_client_endpoint(client), NULL, &req, &resp) != SOAP_OK)
        rc = cl_client_explain(client, why, whylen);
    cl_client_end_call(client);
    return rc;
}

/* A request on client is served (1) or refused before any handler ran (0), as expected; when
 * refused by the client itself, why mentions the revocation. */
static void expect(struct cl_client *client, int serve, const char *needle)
{
    char why[512];
    int before = atomic_load(&served), rc = request(client, why, sizeof(why));

    if (serve && rc != CL_OK)
        fail_msg("expected the request to be served, got %s: %s", cl_err_name(rc), why);
    if (!serve && rc == CL_OK)
        fail_msg("expected the request to be refused, it was served");
    if (needle != NULL && strstr(why, needle) == NULL)
        fail_msg("expected \"%s\" in: %s", needle, why);
    assert_int_equal(atomic_load(&served), before + (serve ? 1 : 0));
}

/* The one-shot form: a new client (a full handshake unless the tls caches chains). */
static void expect_once(struct cl_tls *tls, int port, int serve, const char *needle)
{
    struct cl_client *client = client_new(tls, port);
    expect(client, serve, needle);
    cl_client_free(client);
}

static void assert_logged(const char *who, const char *serial, const char *reason)
{
    char needle[256];
    snprintf(needle, sizeof(needle), "refusing %s", who);
    assert_int_equal(tp_log_wait(dir.log_path, needle), 0);
    snprintf(needle, sizeof(needle), "certificate serial %s revoked at ", serial);
    assert_int_equal(tp_log_wait(dir.log_path, needle), 0);
    snprintf(needle, sizeof(needle), "(%s) by CRL number", reason);
    assert_int_equal(tp_log_wait(dir.log_path, needle), 0);
}

static void assert_handshakes(struct cl_client *client, unsigned total, unsigned resumed)
{
    unsigned t, r;
    cl_client_handshakes(client, &t, &r);
    if (t != total || r != resumed)
        fail_msg("expected %u handshakes (%u resumed), got %u (%u resumed)", total, resumed, t, r);
}

static void idle_past_server_timeout(void)
{
    usleep((SERVER_IDLE_S * 1000 + 600) * 1000);
}

/* Server side, full handshakes: served under a CRL that does not list the client, refused on
 * the next handshake once a newer CRL lists it, with the refusal logged. */
static void test_server_refuses_revoked_client(void **state)
{
    struct cl_crl_holder *crl = holder_new(CL_CRL_MISSING_ALLOW);
    struct tp_server ts;
    struct cl_tls *tls = client_tls(NULL, NULL);

    (void)state;
    server_start(&ts, "ca-server", crl);
    expect_once(tls, ts.port, 1, NULL); /* no CRL yet: allowed */
    publish(crl, serial_ca_server, CL_CRL_REASON_SUPERSEDED);
    expect_once(tls, ts.port, 1, NULL); /* a CRL that does not list the client */
    publish(crl, serial_comm, CL_CRL_REASON_KEY_COMPROMISE);
    expect_once(tls, ts.port, 0, NULL);
    assert_logged("client O=certline test, OU=comm-terminal, CN=comm.certline.test", serial_comm,
                  "keyCompromise");
    tp_server_stop(&ts);
    cl_tls_free(tls);
    cl_crl_holder_free(crl);
}

/* Server side, a connection kept alive: made while the client was valid, its next request after
 * a newer CRL lists the client is refused on that same connection, before any handler runs. */
static void test_server_refuses_revoked_client_kept_alive(void **state)
{
    struct cl_crl_holder *crl = holder_new(CL_CRL_MISSING_ALLOW);
    struct tp_server ts;
    struct cl_tls *tls = client_tls(NULL, NULL);
    struct cl_client *client;

    (void)state;
    server_start(&ts, "ca-server", crl);
    publish(crl, serial_ca_server, CL_CRL_REASON_SUPERSEDED);
    client = client_new(tls, ts.port);
    expect(client, 1, NULL);
    expect(client, 1, NULL);
    assert_handshakes(client, 1, 0); /* one connection, kept */
    publish(crl, serial_comm, CL_CRL_REASON_KEY_COMPROMISE);
    expect(client, 0, "revoked");
    assert_handshakes(client, 1, 0); /* refused on the kept connection, not at a new handshake */
    assert_logged("client O=certline test, OU=comm-terminal, CN=comm.certline.test", serial_comm,
                  "keyCompromise");
    cl_client_free(client);
    tp_server_stop(&ts);
    cl_tls_free(tls);
    cl_crl_holder_free(crl);
}

/* Server side, resumed session: the client's session was made while it was valid; once revoked,
 * its resumption is refused. */
static void test_server_refuses_revoked_client_resuming(void **state)
{
    struct cl_crl_holder *crl = holder_new(CL_CRL_MISSING_ALLOW);
    struct tp_server ts;
    struct cl_tls *tls = client_tls(NULL, NULL);
    struct cl_client *client;

    (void)state;
    publish(crl, NULL, 0);
    server_start(&ts, "ca-server", crl);
    client = client_new(tls, ts.port);
    expect(client, 1, NULL);
    idle_past_server_timeout();
    expect(client, 1, NULL); /* resumed and served */
    assert_handshakes(client, 2, 1);
    publish(crl, serial_comm, CL_CRL_REASON_AFFILIATION_CHANGED);
    idle_past_server_timeout();
    expect(client, 0, NULL);
    assert_handshakes(client, 3, 2);
    assert_logged("client O=certline test", serial_comm, "affiliationChanged");
    cl_client_free(client);
    tp_server_stop(&ts);
    cl_tls_free(tls);
    cl_crl_holder_free(crl);
}

/* Client side, full handshakes: the revoked ca-server is refused, the re-issued one (same name,
 * another serial) served, with the same client context. */
static void test_client_refuses_revoked_server(void **state)
{
    struct cl_crl_holder *crl = holder_new(CL_CRL_MISSING_ALLOW);
    struct cl_tls *tls = client_tls(crl, NULL);
    struct tp_server revoked, reissued;

    (void)state;
    server_start(&revoked, "ca-server", NULL);
    server_start(&reissued, "ca-server-reissued", NULL);
    expect_once(tls, revoked.port, 1, NULL);
    publish(crl, serial_ca_server, CL_CRL_REASON_SUPERSEDED);
    expect_once(tls, revoked.port, 0, "revoked");
    expect_once(tls, reissued.port, 1, NULL);
    assert_logged("server " CA_NAME " O=certline test, OU=ca-server, CN=" CA_NAME, serial_ca_server,
                  "superseded");
    tp_server_stop(&revoked);
    tp_server_stop(&reissued);
    cl_tls_free(tls);
    cl_crl_holder_free(crl);
}

/* Client side, the chain from the verified-chain cache: revocation is never cached. */
static void test_client_refuses_revoked_server_from_cache(void **state)
{
    struct cl_crl_holder *crl = holder_new(CL_CRL_MISSING_ALLOW);
    struct cl_verify_cache *cache = NULL;
    struct cl_tls *tls;
    struct tp_server ts;
    unsigned long full, cached;

    (void)state;
    assert_int_equal(cl_verify_cache_new(8, 3600, &cache), CL_OK);
    tls = client_tls(crl, cache);
    publish(crl, NULL, 0);
    server_start(&ts, "ca-server", NULL);
    expect_once(tls, ts.port, 1, NULL); /* verified in full, cached */
    expect_once(tls, ts.port, 1, NULL); /* from the cache */
    publish(crl, serial_ca_server, CL_CRL_REASON_CESSATION_OF_OPERATION);
    expect_once(tls, ts.port, 0, "revoked");
    cl_verify_cache_counts(cache, &full, &cached);
    assert_int_equal(full, 1);
    assert_int_equal(cached, 2); /* the refused chain came from the cache too */
    assert_logged("server " CA_NAME, serial_ca_server, "cessationOfOperation");
    tp_server_stop(&ts);
    cl_tls_free(tls);
    cl_verify_cache_free(cache);
    cl_crl_holder_free(crl);
}

/* Client side, resumed session: a session made with a valid server is not resumed once the
 * server is revoked (the resumption is refused and the session forgotten). */
static void test_client_refuses_revoked_server_resuming(void **state)
{
    struct cl_crl_holder *crl = holder_new(CL_CRL_MISSING_ALLOW);
    struct cl_tls *tls = client_tls(crl, NULL);
    struct cl_client *client;
    struct tp_server ts;

    (void)state;
    server_start(&ts, "ca-server", NULL);
    client = client_new(tls, ts.port);
    expect(client, 1, NULL);
    idle_past_server_timeout();
    expect(client, 1, NULL);
    assert_handshakes(client, 2, 1);
    publish(crl, serial_ca_server, CL_CRL_REASON_PRIVILEGE_WITHDRAWN);
    idle_past_server_timeout();
    expect(client, 0, "revoked");    /* the saved session offered, resumed, refused */
    assert_handshakes(client, 2, 1); /* a refused handshake is not counted */
    assert_logged("server " CA_NAME, serial_ca_server, "privilegeWithdrawn");
    assert_int_equal(tp_log_wait(dir.log_path, "TLS session with " CA_NAME " forgotten"), 0);
    /* A newer CRL without it (as after certificateHold): a full handshake, the session gone. */
    publish(crl, NULL, 0);
    expect(client, 1, NULL);
    assert_handshakes(client, 3, 1);
    cl_client_free(client);
    tp_server_stop(&ts);
    cl_tls_free(tls);
    cl_crl_holder_free(crl);
}

/* The policy that refuses peers until the first CRL, on both ends. */
static void test_refused_before_first_crl(void **state)
{
    struct cl_crl_holder *server_crl = holder_new(CL_CRL_MISSING_REFUSE);
    struct cl_crl_holder *client_crl = holder_new(CL_CRL_MISSING_REFUSE);
    struct cl_tls *plain = client_tls(NULL, NULL), *strict = client_tls(client_crl, NULL);
    struct tp_server ts;

    (void)state;
    server_start(&ts, "ca-server", server_crl);
    expect_once(plain, ts.port, 0, NULL);
    assert_int_equal(tp_log_wait(dir.log_path, "refusing client: no CRL installed yet"), 0);
    publish(server_crl, NULL, 0);
    expect_once(plain, ts.port, 1, NULL);
    expect_once(strict, ts.port, 0, "CRL");
    publish(client_crl, NULL, 0);
    expect_once(strict, ts.port, 1, NULL);
    tp_server_stop(&ts);
    cl_tls_free(plain);
    cl_tls_free(strict);
    cl_crl_holder_free(server_crl);
    cl_crl_holder_free(client_crl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_refuses_revoked_client),
        cmocka_unit_test(test_server_refuses_revoked_client_kept_alive),
        cmocka_unit_test(test_server_refuses_revoked_client_resuming),
        cmocka_unit_test(test_client_refuses_revoked_server),
        cmocka_unit_test(test_client_refuses_revoked_server_from_cache),
        cmocka_unit_test(test_client_refuses_revoked_server_resuming),
        cmocka_unit_test(test_refused_before_first_crl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
