/* test_verified_chains_rogue.c: a rogue server for test_verified_chains that presents a chain an
 * mbedTLS server would refuse to present, and the check that the client refuses it itself. */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "test_verified_chains.h"

/* mbedTLS's server picks its certificate only if its own chain suits the client (serverAuth,
 * digitalSignature, a curve the client offered): a certline server could never present the
 * chains below, a hostile one could. This one passes mbedTLS's pick with a good decoy chain
 * (the ca-server's), then swaps in the chain to present just before its Certificate message;
 * it signs with the presented leaf's key, so the handshake completes and only the client's own
 * check can refuse. It serves one connection and records whether any application data came. */
struct rogue_server {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt decoy;     /* what mbedTLS's pick checks (then what is presented) */
    mbedtls_x509_crt presented; /* what the client gets (then the decoy) */
    mbedtls_pk_context key;     /* the presented leaf's key */
    int listener, port;
    pthread_t thread;
    int handshake_ret; /* 0: the handshake completed */
    int read_ret;      /* how reading after the handshake ended */
    size_t app_bytes;  /* application data received */
};

static void swap_chains(struct rogue_server *rs)
{
    mbedtls_x509_crt tmp = rs->decoy;
    rs->decoy = rs->presented;
    rs->presented = tmp;
}

static void *rogue_main(void *arg)
{
    struct rogue_server *rs = arg;
    struct pollfd p = {.fd = rs->listener, .events = POLLIN};
    struct timeval timeout = {.tv_sec = 10};
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    unsigned char buf[1024];
    int swapped = 0, ret;

    rs->handshake_ret = rs->read_ret = -1;
    if (poll(&p, 1, 10000) != 1)
        return NULL;
    mbedtls_net_init(&net);
    if ((net.fd = accept(rs->listener, NULL, NULL)) < 0)
        return NULL;
    (void)setsockopt(net.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    mbedtls_ssl_init(&ssl);
    ret = mbedtls_ssl_setup(&ssl, &rs->conf);
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    while (ret == 0 && ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        if (!swapped && ssl.state == MBEDTLS_SSL_SERVER_CERTIFICATE) {
            swap_chains(rs); /* the certificate is picked; now present the other chain */
            swapped = 1;
        }
        ret = mbedtls_ssl_handshake_step(&ssl);
    }
    if (swapped)
        swap_chains(rs);
    rs->handshake_ret = ret;
    while (ret == 0) {
        ret = mbedtls_ssl_read(&ssl, buf, sizeof(buf));
        if (ret > 0) {
            rs->app_bytes += (size_t)ret;
            ret = 0;
        }
    }
    rs->read_ret = ret;
    mbedtls_ssl_free(&ssl);
    mbedtls_net_free(&net);
    return NULL;
}

/* Starts a rogue server presenting NAME.chain.crt with NAME.key. */
static void rogue_start(struct rogue_server *rs, const char *name)
{
    char path[PATH_MAX], file[128];
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);

    memset(rs, 0, sizeof(*rs));
    mbedtls_ssl_config_init(&rs->conf);
    mbedtls_x509_crt_init(&rs->decoy);
    mbedtls_x509_crt_init(&rs->presented);
    mbedtls_pk_init(&rs->key);
    vc_path(path, "ca-server.chain.crt");
    assert_int_equal(mbedtls_x509_crt_parse_file(&rs->decoy, path), 0);
    snprintf(file, sizeof(file), "%s.chain.crt", name);
    vc_path(path, file);
    assert_int_equal(mbedtls_x509_crt_parse_file(&rs->presented, path), 0);
    snprintf(file, sizeof(file), "%s.key", name);
    vc_path(path, file);
    assert_int_equal(mbedtls_pk_parse_keyfile(&rs->key, path, NULL), 0);
    assert_int_equal(mbedtls_ssl_config_defaults(&rs->conf, MBEDTLS_SSL_IS_SERVER,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT),
                     0);
    mbedtls_ssl_conf_min_version(&rs->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_authmode(&rs->conf, MBEDTLS_SSL_VERIFY_NONE);
    mbedtls_ssl_conf_rng(&rs->conf, mbedtls_ctr_drbg_random, &vc_drbg);
    assert_int_equal(mbedtls_ssl_conf_own_cert(&rs->conf, &rs->decoy, &rs->key), 0);

    assert_true((rs->listener = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    assert_int_equal(bind(rs->listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(rs->listener, 4), 0);
    assert_int_equal(getsockname(rs->listener, (struct sockaddr *)&addr, &len), 0);
    rs->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&rs->thread, NULL, rogue_main, rs), 0);
}

static void rogue_stop(struct rogue_server *rs)
{
    pthread_join(rs->thread, NULL);
    close(rs->listener);
    mbedtls_ssl_config_free(&rs->conf);
    mbedtls_pk_free(&rs->key);
    mbedtls_x509_crt_free(&rs->presented);
    mbedtls_x509_crt_free(&rs->decoy);
}

/* The client (tls, expecting the ca-server) completes the handshake with a rogue server
 * presenting NAME's chain, then refuses it with the expected code and words: a fatal alert,
 * and not one byte of a request sent. */
void vc_assert_client_refuses(struct cl_tls *tls, const char *name, int code, const char *needle)
{
    struct rogue_server rs;
    char why[512];
    int before = tp_calls();

    rogue_start(&rs, name);
    int rc = vc_call_once(tls, rs.port, CA_NAME, CL_ROLE_CA_SERVER, why, sizeof(why));
    rogue_stop(&rs);
    if (rc != code || strstr(why, needle) == NULL)
        fail_msg("%s: expected %s with \"%s\", got %s: %s", name, cl_err_name(code), needle,
                 cl_err_name(rc), why);
    if (rs.handshake_ret != 0)
        fail_msg("%s: the rogue server's handshake failed (-0x%04x): not the client's own check",
                 name, (unsigned)-rs.handshake_ret);
    assert_int_equal(rs.read_ret, MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE);
    assert_int_equal(rs.app_bytes, 0);
    assert_int_equal(tp_calls(), before);
}
