/* test_transport.c: mutual TLS for gSOAP on mbedTLS, end to end on loopback with a test PKI made
 * at test time: good calls, kept connections, recovery after the server closed an idle one, and
 * every refusal, each with its reason and the server still serving afterwards. */
#define _XOPEN_SOURCE 700 /* usleep */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "error.h"
#include "log.h"
#include "raw_tls_client.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_server.h"
#include "test_pki.h"

#define CA_NAME "ca.certline.test"

static struct tp_dir dir;                /* temporary folder, test PKI, the servers' log */
static struct tp_server ca_server;       /* ca interface, ca-server certificate */
static struct tp_server short_idle;      /* same, but closes idle connections after 1 s */
static struct tp_server wrong_name;      /* ca-server role, but named evil.certline.test */
static struct tp_server wrong_role;      /* named ca.certline.test, but a comm-terminal cert */
static struct tp_server small_limits;    /* 2 KiB messages */
static struct tp_server two_connections; /* serves at most two connections at once */

/* What the handlers saw, so tests can assert the authenticated peer reached them. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_peer[160];
static int handler_calls;

static void path_of(char *out, const char *name)
{
    tp_path(out, dir.pki, name);
}

/* ---- handlers of the ca interface, as a test server ---- */

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    const struct cl_peer *peer = cl_soap_peer(soap);
    int n = request->__sizeDeviceNumber;

    pthread_mutex_lock(&seen_lock);
    cl_peer_describe(peer, seen_peer, sizeof(seen_peer));
    handler_calls++;
    pthread_mutex_unlock(&seen_lock);

    int rc = tp_answer_batch(soap, request, response, n, NULL);
    if (rc != SOAP_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        char pack[96];
        snprintf(pack, sizeof(pack), "{\"for\":\"%s\",\"to\":\"%s\"}", request->deviceNumber[i],
                 peer->name);
        response->item[i].pack = soap_strdup(soap, pack);
    }
    return SOAP_OK;
}

/* ---- helpers ---- */

static void start_server(struct tp_server *rs, const char *identity, int recv_timeout_s,
                         size_t max_message_bytes, int max_connections)
{
    char err[256];
    struct tp_server_options options = {.recv_timeout_s = recv_timeout_s,
                                        .max_message_bytes = max_message_bytes,
                                        .max_connections = max_connections};

    assert_int_equal(tp_server_start(rs, dir.pki, identity, &options, err, sizeof(err)), CL_OK);
    assert_true(rs->port > 0);
}

struct test_client {
    struct cl_tls *tls;
    struct cl_client *client;
};

static int open_client(struct test_client *tc, const char *identity, int port,
                       const char *server_name, enum cl_role server_role)
{
    char err[256];

    if (tp_tls_new(CL_TLS_CLIENT, dir.pki, identity, NULL, &tc->tls, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "client TLS: %s\n", err);
        return -1;
    }
    if (tp_client_new(tc->tls, port, server_name, server_role, 10, &tc->client, err, sizeof(err)) !=
        CL_OK) {
        fprintf(stderr, "client: %s\n", err);
        return -1;
    }
    return 0;
}

static void close_client(struct test_client *tc)
{
    cl_client_free(tc->client);
    cl_tls_free(tc->tls);
}

/* One FIG 21 call for n device numbers; returns the gSOAP result and leaves the answer in resp. */
static int batch_call(struct test_client *tc, int n, struct ca__CertificateTransmission *resp)
{
    static char numbers[1100][24];
    static char *list[1100];
    struct ca__CertificateTransmissionRequest req;

    assert_true(n <= 1100);
    memset(&req, 0, sizeof(req));
    for (int i = 0; i < n; i++) {
        snprintf(numbers[i], sizeof(numbers[i]), "3012-%06d", i + 1);
        list[i] = numbers[i];
    }
    req.requestId = "test-request-1";
    req.replacement = false_;
    req.__sizeDeviceNumber = n;
    req.deviceNumber = list;
    return soap_call___ca__CertificateTransmissionRequest(
        cl_client_soap(tc->client), cl_client_endpoint(tc->client), NULL, &req, resp);
}

/* A handshake the server aborted: depending on timing the client sees the server's alert or the
 * closed connection; either way it must say the handshake failed. The reason is in the server log.
 */
static void assert_handshake_refused(struct test_client *tc)
{
    char why[512];
    int code = cl_client_explain(tc->client, why, sizeof(why));
    if ((code != CL_ERR_TLS_HANDSHAKE && code != CL_ERR_CLOSED) ||
        strstr(why, "TLS handshake failed") == NULL)
        fail_msg("expected a failed handshake, got %s: %s", cl_err_name(code), why);
}

/* Explains the last failure of tc, asserts its code and that it says `needle`. */
static void assert_refused(struct test_client *tc, int expected_code, const char *needle)
{
    char why[512];
    int code = cl_client_explain(tc->client, why, sizeof(why));
    if (code != expected_code || strstr(why, needle) == NULL)
        fail_msg("expected %s with \"%s\", got %s: %s", cl_err_name(expected_code), needle,
                 cl_err_name(code), why);
}

/* Waits (up to 5 s) for the servers' log to contain needle: log lines are written by the server
 * thread, possibly just after the client saw the refusal. */
static void assert_logged(const char *needle)
{
    if (tp_log_wait(dir.log_path, needle) != 0)
        fail_msg("server log does not contain \"%s\"", needle);
}

/* After every refusal: a good client still gets served by the main server. */
static void assert_still_serving(void)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    assert_int_equal(open_client(&tc, "comm-terminal", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER),
                     0);
    assert_int_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_int_equal(resp.__sizeItem, 1);
    close_client(&tc);
}

static void raw_options(struct raw_tls_options *o, const char *identity)
{
    static char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX];
    char name[128];
    if (identity != NULL) {
        snprintf(name, sizeof(name), "%s.chain.crt", identity);
        path_of(cert, name);
        snprintf(name, sizeof(name), "%s.key", identity);
        path_of(key, name);
    }
    path_of(trust, "root.crt");
    o->cert_file = identity ? cert : NULL;
    o->key_file = identity ? key : NULL;
    o->trust_file = trust;
    o->server_name = CA_NAME;
    o->max_minor_version = MBEDTLS_SSL_MINOR_VERSION_3;
}

/* Sends an HTTP POST with body over TLS as comm-terminal; returns the response text. */
static const char *raw_post(int port, const char *body, const char *content_length)
{
    static char request[1 << 16], response[1 << 16];
    struct raw_tls_options o;
    struct raw_tls_result r;
    char length[32];
    int n;

    raw_options(&o, "comm-terminal");
    snprintf(length, sizeof(length), "%zu", strlen(body));
    n = snprintf(request, sizeof(request),
                 "POST /ca HTTP/1.1\r\nHost: " CA_NAME "\r\n"
                 "Content-Type: application/soap+xml; charset=utf-8\r\n"
                 "Content-Length: %s\r\nConnection: close\r\n\r\n%s",
                 content_length ? content_length : length, body);
    assert_true(n > 0 && (size_t)n < sizeof(request));
    assert_int_equal(raw_tls_exchange(port, &o, request, (size_t)n, response, sizeof(response), &r),
                     0);
    assert_int_equal(r.handshake_ret, 0);
    return response;
}

#define ENVELOPE(body)                                                                             \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"                                                   \
    "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "               \
    "xmlns:ca=\"urn:certline:ca:1\"><SOAP-ENV:Body>" body "</SOAP-ENV:Body></SOAP-ENV:Envelope>"

/* ---- fixture ---- */

static int setup(void **state)
{
    (void)state;

    if (tp_dir_make(&dir, "certline-transport", "server.log", "test-transport") != 0)
        return -1;
    start_server(&ca_server, "ca-server", 10, 0, 8);
    start_server(&short_idle, "ca-server", 1, 0, 8);
    start_server(&wrong_name, "wrong-name-ca-server", 10, 0, 8);
    start_server(&wrong_role, "comm-terminal", 10, 0, 8);
    start_server(&small_limits, "ca-server", 10, 2048, 8);
    start_server(&two_connections, "ca-server", 10, 0, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tp_server_stop(&ca_server);
    tp_server_stop(&short_idle);
    tp_server_stop(&wrong_name);
    tp_server_stop(&wrong_role);
    tp_server_stop(&small_limits);
    tp_server_stop(&two_connections);
    return tp_dir_remove(&dir);
}

/* ---- good paths ---- */

static void test_good_mutual_tls_call(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    (void)state;

    assert_int_equal(open_client(&tc, "comm-terminal", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER),
                     0);
    assert_int_equal(batch_call(&tc, 3, &resp), SOAP_OK);
    assert_string_equal(resp.requestId, "test-request-1");
    assert_int_equal(resp.__sizeItem, 3);
    assert_string_equal(resp.item[2].deviceNumber, "3012-000003");
    /* The handler saw the authenticated peer: the comm-terminal certificate's name. */
    assert_string_equal(resp.item[2].pack,
                        "{\"for\":\"3012-000003\",\"to\":\"comm.certline.test\"}");
    pthread_mutex_lock(&seen_lock);
    assert_string_equal(seen_peer, "comm-terminal comm.certline.test");
    pthread_mutex_unlock(&seen_lock);
    close_client(&tc);
}

static void test_kept_connection_is_reused(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    unsigned total, resumed;
    (void)state;

    assert_int_equal(open_client(&tc, "comm-terminal", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER),
                     0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(batch_call(&tc, 2, &resp), SOAP_OK);
        assert_int_equal(resp.__sizeItem, 2);
        cl_client_end_call(tc.client);
    }
    cl_client_handshakes(tc.client, &total, &resumed);
    assert_int_equal(total, 1); /* 20 calls, one connection */
    close_client(&tc);
}

static void test_recovers_after_server_closed_idle_connection(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    unsigned total, resumed;
    (void)state;

    assert_int_equal(open_client(&tc, "comm-terminal", short_idle.port, CA_NAME, CL_ROLE_CA_SERVER),
                     0);
    assert_int_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    cl_client_end_call(tc.client);
    sleep(2); /* the server closes the idle connection after its 1 s receive timeout */
    assert_int_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_string_equal(resp.item[0].deviceNumber, "3012-000001");
    cl_client_handshakes(tc.client, &total, &resumed);
    assert_int_equal(total, 2);   /* reconnected instead of writing into the dead connection */
    assert_int_equal(resumed, 1); /* and resumed the TLS session */
    close_client(&tc);
}

/* ---- refusals during the handshake ---- */

static void test_refuses_client_without_certificate(void **state)
{
    struct raw_tls_options o;
    struct raw_tls_result r;
    char response[256];
    (void)state;

    raw_options(&o, NULL);
    assert_int_equal(raw_tls_exchange(ca_server.port, &o, "x", 1, response, sizeof(response), &r),
                     0);
    assert_int_not_equal(r.handshake_ret, 0);
    assert_logged("presented no usable certificate");
    assert_still_serving();
}

static void test_refuses_certificate_from_another_ca(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    (void)state;

    assert_int_equal(
        open_client(&tc, "other-comm-terminal", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER), 0);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_handshake_refused(&tc);
    assert_logged("client certificate rejected: The certificate is not correctly signed by the "
                  "trusted CA");
    close_client(&tc);
    assert_still_serving();
}

static void test_refuses_expired_certificate(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    (void)state;

    assert_int_equal(
        open_client(&tc, "expired-comm-terminal", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER), 0);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_handshake_refused(&tc);
    assert_logged("client certificate rejected: The certificate validity has expired");
    close_client(&tc);
    assert_still_serving();
}

static void test_refuses_tls_1_1(void **state)
{
    struct raw_tls_options o;
    struct raw_tls_result r;
    char response[256];
    (void)state;

    raw_options(&o, "comm-terminal");
    o.max_minor_version = MBEDTLS_SSL_MINOR_VERSION_2;
    assert_int_equal(raw_tls_exchange(ca_server.port, &o, "x", 1, response, sizeof(response), &r),
                     0);
    assert_int_not_equal(r.handshake_ret, 0);
    assert_logged("peer offered a version below TLS 1.2");
    assert_still_serving();
}

static void test_refuses_wrong_server_name(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    (void)state;

    assert_int_equal(open_client(&tc, "comm-terminal", wrong_name.port, CA_NAME, CL_ROLE_CA_SERVER),
                     0);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_refused(&tc, CL_ERR_PEER_NAME, "does not match with the expected CN");
    pthread_mutex_lock(&seen_lock);
    int calls_before = handler_calls;
    pthread_mutex_unlock(&seen_lock);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK); /* and again: still refused */
    pthread_mutex_lock(&seen_lock);
    assert_int_equal(handler_calls, calls_before);
    pthread_mutex_unlock(&seen_lock);
    close_client(&tc);
    assert_still_serving();
}

static void test_refuses_server_with_wrong_role(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    (void)state;

    /* Right name, right CA, but the server's certificate says comm-terminal, not ca-server. */
    assert_int_equal(
        open_client(&tc, "comm-terminal", wrong_role.port, "comm.certline.test", CL_ROLE_CA_SERVER),
        0);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_refused(&tc, CL_ERR_PEER_ROLE, "has role comm-terminal, expected ca-server");
    close_client(&tc);
}

/* ---- refusals of requests ---- */

static void test_refuses_wrong_role_for_interface(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    (void)state;

    pthread_mutex_lock(&seen_lock);
    int calls_before = handler_calls;
    pthread_mutex_unlock(&seen_lock);
    assert_int_equal(
        open_client(&tc, "factory-terminal-1001", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER), 0);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_refused(&tc, CL_ERR_SOAP_FAULT,
                   "Not authorised: role factory-terminal (line-1001.certline.test) is not "
                   "admitted to ca:CertificateTransmissionRequest on the ca interface");
    close_client(&tc);

    /* A device certificate may check in, but not ask for a batch. */
    assert_int_equal(
        open_client(&tc, "device-3012-000001", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER), 0);
    assert_int_not_equal(batch_call(&tc, 1, &resp), SOAP_OK);
    assert_refused(&tc, CL_ERR_SOAP_FAULT, "role device (3012-000001) is not admitted");
    close_client(&tc);

    pthread_mutex_lock(&seen_lock);
    assert_int_equal(handler_calls, calls_before); /* no handler ran */
    pthread_mutex_unlock(&seen_lock);
    assert_logged("refused ca:CertificateTransmissionRequest from factory-terminal");
    assert_still_serving();
}

static void test_refuses_operation_of_another_interface(void **state)
{
    const char *response;
    (void)state;

    response = raw_post(ca_server.port,
                        "<?xml version=\"1.0\"?><SOAP-ENV:Envelope "
                        "xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "
                        "xmlns:ct=\"urn:certline:comm-terminal:1\"><SOAP-ENV:Body>"
                        "<ct:CertificateTransmissionRequest><ct:deviceNumber>3012-000001"
                        "</ct:deviceNumber></ct:CertificateTransmissionRequest>"
                        "</SOAP-ENV:Body></SOAP-ENV:Envelope>",
                        NULL);
    assert_non_null(strstr(response, "Not authorised"));
    assert_non_null(strstr(response, "belongs to the comm-terminal interface"));
    assert_still_serving();
}

static void test_refuses_message_over_size_cap(void **state)
{
    const char *response;
    char body[4096];
    (void)state;

    /* Announced too large: refused before the body is read. */
    response = raw_post(small_limits.port, ENVELOPE("<ca:CheckIn/>"), "5000000");
    assert_null(strstr(response, "200 OK"));
    assert_non_null(strstr(response, "Message too large"));
    assert_non_null(strstr(response, "exceeds the limit of 2048 bytes"));
    assert_logged("message of 5000000 bytes exceeds the limit of 2048 bytes");

    /* A real call whose body is over the cap. */
    memset(body, 'A', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    response = raw_post(small_limits.port, body, NULL);
    assert_null(strstr(response, "200 OK"));
    assert_non_null(strstr(response, "Message too large"));
    assert_still_serving();
}

static void test_refuses_list_over_cap(void **state)
{
    struct test_client tc;
    struct ca__CertificateTransmission resp;
    char why[512];
    (void)state;

    assert_int_equal(open_client(&tc, "comm-terminal", ca_server.port, CA_NAME, CL_ROLE_CA_SERVER),
                     0);
    assert_int_equal(batch_call(&tc, 1000, &resp), SOAP_OK); /* the cap itself is fine */
    assert_int_equal(resp.__sizeItem, 1000);
    cl_client_end_call(tc.client);
    assert_int_not_equal(batch_call(&tc, 1001, &resp), SOAP_OK);
    assert_int_equal(cl_client_explain(tc.client, why, sizeof(why)), CL_ERR_SOAP_FAULT);
    close_client(&tc);
    assert_still_serving();
}

static void test_refuses_string_over_cap(void **state)
{
    const char *response;
    (void)state;

    response = raw_post(ca_server.port,
                        ENVELOPE("<ca:CertificateTransmissionRequest><ca:requestId>r</ca:requestId>"
                                 "<ca:replacement>false</ca:replacement><ca:deviceNumber>"
                                 "3012-0000000000000000000000000000001</ca:deviceNumber>"
                                 "</ca:CertificateTransmissionRequest>"),
                        NULL);
    assert_null(strstr(response, "200 OK"));
    assert_non_null(strstr(response, "Fault"));
    assert_still_serving();
}

static void test_refuses_deep_nesting(void **state)
{
    char nested[8192] = "", request[16384];
    const char *response;
    (void)state;

    /* 500 levels inside a request. The wire check (common/xml_check.c) counts the depth of every
     * element against max_nesting (16; the schema itself nests at most 5 deep) before gSOAP
     * parses anything. */
    for (int i = 0; i < 500; i++)
        strcat(nested, "<x:a>");
    for (int i = 0; i < 500; i++)
        strcat(nested, "</x:a>");
    snprintf(request, sizeof(request),
             "<?xml version=\"1.0\"?><SOAP-ENV:Envelope "
             "xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:x=\"urn:x\" "
             "xmlns:ca=\"urn:certline:ca:1\"><SOAP-ENV:Body><ca:CertificateTransmissionRequest>"
             "<ca:requestId>r</ca:requestId><ca:replacement>false</ca:replacement>%s"
             "<ca:deviceNumber>3012-000001</ca:deviceNumber></ca:CertificateTransmissionRequest>"
             "</SOAP-ENV:Body></SOAP-ENV:Envelope>",
             nested);
    response = raw_post(ca_server.port, request, NULL);
    assert_null(strstr(response, "200 OK"));
    assert_non_null(strstr(response, "elements nested deeper than 16 levels"));
    assert_still_serving();
}

static void test_refuses_malformed_xml(void **state)
{
    const char *response;
    (void)state;

    response = raw_post(ca_server.port,
                        ENVELOPE("<ca:CertificateTransmissionRequest><ca:requestId>r"
                                 "</ca:deviceNumber></ca:CertificateTransmissionRequest>"),
                        NULL);
    assert_null(strstr(response, "200 OK"));
    assert_non_null(strstr(response, "syntax error in element 'ca:deviceNumber'"));
    assert_logged("answered with a fault: Validation constraint violation: syntax error in "
                  "element 'ca:deviceNumber'");
    assert_still_serving();
}

static void test_refuses_unknown_operation(void **state)
{
    const char *response;
    (void)state;

    response = raw_post(ca_server.port, ENVELOPE("<ca:IssueEverything/>"), NULL);
    assert_null(strstr(response, "200 OK"));
    assert_non_null(strstr(response, "ca:IssueEverything"));
    assert_non_null(strstr(response, "not implemented"));
    assert_still_serving();
}

static void test_refuses_connections_over_the_limit(void **state)
{
    struct test_client kept[2], extra;
    struct ca__CertificateTransmission resp;
    unsigned total, resumed;
    (void)state;

    for (int i = 0; i < 2; i++) { /* two kept-alive connections fill the server */
        assert_int_equal(open_client(&kept[i], "comm-terminal", two_connections.port, CA_NAME,
                                     CL_ROLE_CA_SERVER),
                         0);
        assert_int_equal(batch_call(&kept[i], 1, &resp), SOAP_OK);
        cl_client_end_call(kept[i].client);
    }
    assert_int_equal(
        open_client(&extra, "comm-terminal", two_connections.port, CA_NAME, CL_ROLE_CA_SERVER), 0);
    assert_int_not_equal(batch_call(&extra, 1, &resp), SOAP_OK);
    assert_logged("connection limit of 2 reached");
    for (int i = 0; i < 2; i++) { /* the kept ones are still served, on their connections */
        assert_int_equal(batch_call(&kept[i], 1, &resp), SOAP_OK);
        cl_client_handshakes(kept[i].client, &total, &resumed);
        assert_int_equal(total, 1);
    }
    close_client(&kept[0]);
    /* A slot is free again once the server has seen the close. */
    int served = 0;
    for (int attempt = 0; attempt < 50 && !served; attempt++) {
        served = batch_call(&extra, 1, &resp) == SOAP_OK;
        if (!served)
            usleep(100000);
    }
    assert_true(served);
    close_client(&kept[1]);
    close_client(&extra);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_mutual_tls_call),
        cmocka_unit_test(test_kept_connection_is_reused),
        cmocka_unit_test(test_recovers_after_server_closed_idle_connection),
        cmocka_unit_test(test_refuses_client_without_certificate),
        cmocka_unit_test(test_refuses_certificate_from_another_ca),
        cmocka_unit_test(test_refuses_expired_certificate),
        cmocka_unit_test(test_refuses_tls_1_1),
        cmocka_unit_test(test_refuses_wrong_server_name),
        cmocka_unit_test(test_refuses_server_with_wrong_role),
        cmocka_unit_test(test_refuses_wrong_role_for_interface),
        cmocka_unit_test(test_refuses_operation_of_another_interface),
        cmocka_unit_test(test_refuses_message_over_size_cap),
        cmocka_unit_test(test_refuses_list_over_cap),
        cmocka_unit_test(test_refuses_string_over_cap),
        cmocka_unit_test(test_refuses_deep_nesting),
        cmocka_unit_test(test_refuses_malformed_xml),
        cmocka_unit_test(test_refuses_unknown_operation),
        cmocka_unit_test(test_refuses_connections_over_the_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
