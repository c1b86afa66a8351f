/* raw_tls_client.c: see raw_tls_client.h. */
#include "raw_tls_client.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

int raw_tls_exchange(int port, const struct raw_tls_options *options, const char *request,
                     size_t request_len, char *response, size_t cap, struct raw_tls_result *result)
{
    mbedtls_net_context net;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_x509_crt own, trust;
    mbedtls_pk_context key;
    char port_text[16];
    int ret, rc = -1;

    memset(result, 0, sizeof(*result));
    response[0] = '\0';
    mbedtls_net_init(&net);
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ssl_init(&ssl);
    mbedtls_x509_crt_init(&own);
    mbedtls_x509_crt_init(&trust);
    mbedtls_pk_init(&key);

    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&trust, options->trust_file) != 0)
        goto out;
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_ca_chain(&conf, &trust, NULL);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_1);
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, options->max_minor_version);
    if (options->cert_file != NULL) {
        if (mbedtls_x509_crt_parse_file(&own, options->cert_file) != 0 ||
            mbedtls_pk_parse_keyfile(&key, options->key_file, NULL) != 0 ||
            mbedtls_ssl_conf_own_cert(&conf, &own, &key) != 0)
            goto out;
    }
    if (mbedtls_ssl_setup(&ssl, &conf) != 0 ||
        mbedtls_ssl_set_hostname(&ssl, options->server_name) != 0)
        goto out;
    snprintf(port_text, sizeof(port_text), "%d", port);
    if (mbedtls_net_connect(&net, "127.0.0.1", port_text, MBEDTLS_NET_PROTO_TCP) != 0)
        goto out;
    mbedtls_net_set_block(&net);
    mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
    rc = 0;
    do
        ret = mbedtls_ssl_handshake(&ssl);
    while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
    result->handshake_ret = ret;
    if (ret != 0)
        goto out;
    for (size_t sent = 0; sent < request_len;) {
        ret = mbedtls_ssl_write(&ssl, (const unsigned char *)request + sent, request_len - sent);
        if (ret <= 0)
            break; /* the server may refuse before reading everything */
        sent += (size_t)ret;
    }
    while (result->received + 1 < cap) {
        ret = mbedtls_ssl_read(&ssl, (unsigned char *)response + result->received,
                               cap - 1 - result->received);
        if (ret <= 0)
            break;
        result->received += (size_t)ret;
    }
    response[result->received] = '\0';
out:
    mbedtls_ssl_close_notify(&ssl);
    mbedtls_net_free(&net);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&own);
    mbedtls_x509_crt_free(&trust);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return rc;
}
