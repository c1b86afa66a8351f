/* test_session_handover.c: the S7 session resumed for S10 in the other direction
 * (cl_tls_hand_sessions), as the factory terminal and the device-agent use it: S10 resumes
 * without a second full handshake; a resumed session whose server is not the identity the
 * client expects is refused (and not offered again); a session with a peer of another role is
 * not handed over. Loopback, test PKI made at test time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_server.h"
#include "soap_tls.h"
#include "test_pki.h"
#include "tls.h"
#include "tls_verify.h"

#define DEVICE_ID "device-common-3012"
#define DEVICE_NAME "3012 common"
#define LINE_ID "factory-terminal-1001"
#define LINE_NAME "line-1001.certline.test"
#define OTHER_LINE_NAME "line-1002.certline.test"

static struct tp_dir dir;
static enum cl_role line_peer_role; /* the role the line server's handler saw last */

int __dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                                   struct dev__ReceptionResponse *response)
{
    (void)soap;
    tp_count_call();
    response->deviceNumber = request->deviceNumber;
    response->result = dev__Result__OK;
    return SOAP_OK;
}

int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                        struct line__ReceptionResponse *response)
{
    tp_count_call();
    line_peer_role = cl_soap_peer(soap)->role;
    response->deviceNumber = request->deviceNumber;
    response->result = line__Result__OK;
    return SOAP_OK;
}

/* One program's two sides: a server serving iface and its client sibling, the server's sessions
 * with server_hands peers handed to the client, or the client's with client_hands peers to the
 * server (CL_ROLE_NONE: none); both with one verified-chain cache, as the programs have. */
struct program {
    struct tp_server srv;
    struct cl_tls *client_tls;
    struct cl_verify_cache *cache;
};

static void program_start(struct program *p, const char *identity, enum cl_interface iface,
                          enum cl_role server_hands, enum cl_role client_hands)
{
    struct cl_server_settings settings = {
        .host = "127.0.0.1", .iface = iface, .max_connections = 2};
    char err[256];

    memset(p, 0, sizeof(*p));
    if (tp_tls_new(CL_TLS_SERVER, dir.pki, identity, NULL, &p->srv.tls, err, sizeof(err)) !=
            CL_OK ||
        cl_tls_new_sibling(p->srv.tls, CL_TLS_CLIENT, &p->client_tls, err, sizeof(err)) != CL_OK)
        fail_msg("TLS %s: %s", identity, err);
    assert_int_equal(cl_verify_cache_new(8, 3600, &p->cache), CL_OK);
    assert_int_equal(cl_tls_share_verified_chains(p->srv.tls, p->cache), CL_OK);
    assert_int_equal(cl_tls_share_verified_chains(p->client_tls, p->cache), CL_OK);
    if (server_hands != CL_ROLE_NONE)
        assert_int_equal(cl_tls_hand_sessions(p->srv.tls, p->client_tls, server_hands), CL_OK);
    if (client_hands != CL_ROLE_NONE)
        assert_int_equal(cl_tls_hand_sessions(p->client_tls, p->srv.tls, client_hands), CL_OK);
    cl_soap_limits_default(&settings.limits);
    settings.limits.recv_timeout_s = 5;
    if (cl_server_new(&settings, p->srv.tls, &p->srv.server, err, sizeof(err)) != CL_OK)
        fail_msg("server %s: %s", identity, err);
    p->srv.port = cl_server_port(p->srv.server);
    assert_int_equal(pthread_create(&p->srv.thread, NULL, tp_server_main, &p->srv), 0);
}

static void program_stop(struct program *p)
{
    tp_server_stop(&p->srv); /* frees the server's context too */
    cl_tls_free(p->client_tls);
    cl_verify_cache_free(p->cache);
}

static struct cl_client *client_to(struct program *from, const struct program *to,
                                   const char *server_name, enum cl_role role)
{
    struct cl_client *client = NULL;
    char err[256];

    if (tp_client_new(from->client_tls, to->srv.port, server_name, role, 5, &client, err,
                      sizeof(err)) != CL_OK)
        fail_msg("client: %s", err);
    return client;
}

/* S7: from's client to the device program's server, one call; CL_OK or the failure's code. */
static int s7(struct program *from, const struct program *device, enum cl_role role,
              const char *name)
{
    struct cl_client *client = client_to(from, device, name, role);
    struct dev__CertificateTransmission req = {0};
    struct dev__ReceptionResponse resp = {0};
    char number[] = "3012-000001", pack[] = "pack", why[512];
    int rc = CL_OK;

    req.deviceNumber = number;
    req.pack = pack;
    if (soap_call___dev__CertificateTransmission(cl_client_soap(client), cl_client_endpoint(client),
                                                 NULL, &req, &resp) != SOAP_OK)
        rc = cl_client_explain(client, why, sizeof(why));
    cl_client_free(client);
    return rc;
}

/* S10: the device program's client to line's server, expecting server_name; *resumed is
 * whether the handshake resumed a session. CL_OK or the failure's code. */
static int s10(struct program *device, const struct program *line, const char *server_name,
               unsigned *resumed)
{
    struct cl_client *client = client_to(device, line, server_name, CL_ROLE_FACTORY_TERMINAL);
    struct line__WriteResult req = {0};
    struct line__ReceptionResponse resp = {0};
    char number[] = "3012-000001", reason[] = "test", why[512];
    unsigned total = 0;
    int rc = CL_OK;

    req.deviceNumber = number;
    req.result = line__Result__NG;
    req.reason = reason;
    line_peer_role = CL_ROLE_NONE;
    if (soap_call___line__WriteResult(cl_client_soap(client), cl_client_endpoint(client), NULL,
                                      &req, &resp) != SOAP_OK)
        rc = cl_client_explain(client, why, sizeof(why));
    cl_client_handshakes(client, &total, resumed);
    cl_client_free(client);
    return rc;
}

struct line_setup {
    struct program device, line;
};

static int setup(void **state)
{
    struct line_setup *s = calloc(1, sizeof(*s));
    program_start(&s->device, DEVICE_ID, CL_IFACE_DEVICE, CL_ROLE_FACTORY_TERMINAL, CL_ROLE_NONE);
    program_start(&s->line, LINE_ID, CL_IFACE_LINE, CL_ROLE_NONE, CL_ROLE_DEVICE_COMMON);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct line_setup *s = *state;
    program_stop(&s->device);
    program_stop(&s->line);
    free(s);
    return 0;
}

/* S7 full, S10 resumed: the line server sees the device's common role on the resumed session. */
static void test_s10_resumes_s7(void **state)
{
    struct line_setup *s = *state;
    unsigned resumed = 0;
    int before = tp_calls();

    assert_int_equal(s7(&s->line, &s->device, CL_ROLE_DEVICE_COMMON, DEVICE_NAME), CL_OK);
    assert_int_equal(s10(&s->device, &s->line, LINE_NAME, &resumed), CL_OK);
    assert_int_equal(resumed, 1);
    assert_int_equal(line_peer_role, CL_ROLE_DEVICE_COMMON);
    assert_int_equal(tp_calls(), before + 2);
    /* Handed once: the next S10 without a new S7 makes a full handshake. */
    assert_int_equal(s10(&s->device, &s->line, LINE_NAME, &resumed), CL_OK);
    assert_int_equal(resumed, 0);
}

/* The device expects another factory terminal than the one of its S7: the resumed session's
 * server is refused (its leaf names line-1001), nothing is sent, and the session is not offered
 * again: the next S10 is a full handshake. */
static void test_resumed_other_identity_refused(void **state)
{
    struct line_setup *s = *state;
    unsigned resumed = 0;
    int before;

    assert_int_equal(s7(&s->line, &s->device, CL_ROLE_DEVICE_COMMON, DEVICE_NAME), CL_OK);
    before = tp_calls();
    assert_int_equal(s10(&s->device, &s->line, OTHER_LINE_NAME, &resumed), CL_ERR_PEER_NAME);
    assert_int_equal(tp_calls(), before);
    assert_int_equal(s10(&s->device, &s->line, LINE_NAME, &resumed), CL_OK);
    assert_int_equal(resumed, 0);
}

/* A factory terminal of another line resuming the session made with line 1001: the line
 * server of 1002 has no such session (full handshake), and a 1002 server given it by mistake
 * is refused by the device as not the identity it verified at S7. */
static void test_session_at_other_line_refused(void **state)
{
    struct line_setup *s = *state;
    struct program other;
    unsigned resumed = 0;
    int before;

    program_start(&other, "factory-terminal-1002", CL_IFACE_LINE, CL_ROLE_NONE,
                  CL_ROLE_DEVICE_COMMON);
    /* line 1001's client hands its S7 session to line 1002's server (a misconfiguration) */
    assert_int_equal(cl_tls_hand_sessions(s->line.client_tls, other.srv.tls, CL_ROLE_DEVICE_COMMON),
                     CL_OK);
    assert_int_equal(s7(&s->line, &s->device, CL_ROLE_DEVICE_COMMON, DEVICE_NAME), CL_OK);
    before = tp_calls();
    assert_int_equal(s10(&s->device, &other, OTHER_LINE_NAME, &resumed), CL_ERR_PEER_NAME);
    assert_int_equal(tp_calls(), before);
    /* afresh: a full handshake with line 1002 itself is fine */
    assert_int_equal(s10(&s->device, &other, OTHER_LINE_NAME, &resumed), CL_OK);
    assert_int_equal(resumed, 0);
    assert_int_equal(
        cl_tls_hand_sessions(s->line.client_tls, s->line.srv.tls, CL_ROLE_DEVICE_COMMON), CL_OK);
    program_stop(&other);
}

/* The device hands only sessions with a factory terminal: an S7 connection from a comm-terminal
 * (refused by the device interface's policy after the handshake) leaves nothing to resume. */
static void test_other_role_not_handed(void **state)
{
    struct line_setup *s = *state;
    struct program ct;
    unsigned resumed = 1;

    program_start(&ct, "comm-terminal", CL_IFACE_COMM_TERMINAL, CL_ROLE_NONE,
                  CL_ROLE_DEVICE_COMMON);
    assert_int_not_equal(s7(&ct, &s->device, CL_ROLE_DEVICE_COMMON, DEVICE_NAME), CL_OK);
    assert_int_equal(s10(&s->device, &s->line, LINE_NAME, &resumed), CL_OK);
    assert_int_equal(resumed, 0);
    program_stop(&ct);
}

static void test_same_side_refused(void **state)
{
    struct line_setup *s = *state;
    assert_int_equal(
        cl_tls_hand_sessions(s->line.srv.tls, s->device.srv.tls, CL_ROLE_DEVICE_COMMON),
        CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_tls_hand_sessions(s->line.client_tls, s->line.srv.tls, CL_ROLE_NONE),
                     CL_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_s10_resumes_s7, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resumed_other_identity_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_at_other_line_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_role_not_handed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_side_refused, setup, teardown),
    };
    int failed;

    signal(SIGPIPE, SIG_IGN);
    if (tp_dir_make(&dir, "certline-handover", "handover.log", "test_session_handover") != 0)
        return 1;
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    tp_dir_remove(&dir);
    return failed;
}
