/* bench_cfssl_load.c: the load generator of the cfssl comparison (issue 19, item 1): N
 * `/api/v1/cfssl/newcert` requests (server-side P-256 key and certificate) to `cfssl serve` over
 * mutual TLS, from C concurrent clients, each on one kept-alive connection.
 *
 * Written in C with mbedTLS so that the client takes little of the two cores the servers share
 * (a Python client would take several times cfssl's own CPU per certificate). Each answer is
 * read whole (Content-Length or chunked), parsed with cJSON, and must say "success": true and
 * carry a certificate and a private key; the last certificate is written to SAMPLE_OUT so that
 * the caller can check it with `openssl verify`. The handshakes happen before the clock starts.
 *
 * Usage: bench_cfssl_load HOST PORT SERVER_NAME CA_FILE CERT_FILE KEY_FILE N CLIENTS PREFIX
 *            SAMPLE_OUT
 *   SERVER_NAME: the name the server's certificate must carry; PREFIX: the start of every
 *   request's common name (PREFIX-000000001, ...), so that runs never repeat a name.
 * Prints one line: "bench_cfssl_load certificates=N clients=C seconds=S certs_per_s=R
 * client_cpu_s=U". */
#define _GNU_SOURCE /* strcasestr() */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "bench_common.h"

#define MAX_CLIENTS 16
#define ANSWER_MAX (64 * 1024)

struct tls_files {
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own;
    mbedtls_pk_context key;
};

struct client {
    pthread_t thread;
    const char *host, *port, *server_name, *prefix;
    struct tls_files *files;
    long long first, count; /* the request numbers first .. first + count - 1 */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    mbedtls_net_context net;
    char in[ANSWER_MAX];
    size_t in_len;
    char body[ANSWER_MAX];
    size_t body_len;
    char last_cert[4096];
    const char *failure;
};

static pthread_barrier_t start_line;

static void tls_check(int rc, const char *what)
{
    if (rc != 0) {
        char text[160];
        mbedtls_strerror(rc, text, sizeof text);
        bench_die("%s: %s (-0x%04x)", what, text, (unsigned)-rc);
    }
}

static void client_connect(struct client *c)
{
    mbedtls_entropy_init(&c->entropy);
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_init(&c->ssl);
    mbedtls_net_init(&c->net);
    tls_check(mbedtls_ctr_drbg_seed(&c->drbg, mbedtls_entropy_func, &c->entropy, NULL, 0),
              "random generator");
    tls_check(mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT),
              "TLS configuration");
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->files->ca, NULL);
    tls_check(mbedtls_ssl_conf_own_cert(&c->conf, &c->files->own, &c->files->key),
              "client certificate");
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    tls_check(mbedtls_ssl_setup(&c->ssl, &c->conf), "TLS setup");
    tls_check(mbedtls_ssl_set_hostname(&c->ssl, c->server_name), "server name");
    tls_check(mbedtls_net_connect(&c->net, c->host, c->port, MBEDTLS_NET_PROTO_TCP), "connect");
    mbedtls_ssl_set_bio(&c->ssl, &c->net, mbedtls_net_send, mbedtls_net_recv, NULL);
    tls_check(mbedtls_ssl_handshake(&c->ssl), "TLS handshake");
}

static void client_close(struct client *c)
{
    mbedtls_ssl_close_notify(&c->ssl);
    mbedtls_net_free(&c->net);
    mbedtls_ssl_free(&c->ssl);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_ctr_drbg_free(&c->drbg);
    mbedtls_entropy_free(&c->entropy);
}

static int send_all(struct client *c, const char *data, size_t len)
{
    while (len > 0) {
        int n = mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, len);
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more of the answer into c->in; -1 at the end of the connection or an error. */
static int read_more(struct client *c)
{
    if (c->in_len >= sizeof c->in - 1)
        return -1;
    int n =
        mbedtls_ssl_read(&c->ssl, (unsigned char *)c->in + c->in_len, sizeof c->in - 1 - c->in_len);
    if (n <= 0)
        return -1;
    c->in_len += (size_t)n;
    c->in[c->in_len] = '\0';
    return 0;
}

/* Makes sure that c->in holds at least need bytes. */
static int have(struct client *c, size_t need)
{
    while (c->in_len < need)
        if (read_more(c) != 0)
            return -1;
    return 0;
}

/* Reads one HTTP/1.1 answer (status 200, body by Content-Length or chunked) into c->body; the
 * bytes after it stay in c->in. */
static int read_answer(struct client *c)
{
    char *end;
    while ((end = strstr(c->in, "\r\n\r\n")) == NULL)
        if (read_more(c) != 0)
            return -1;
    size_t head = (size_t)(end - c->in) + 4;
    if (strncmp(c->in, "HTTP/1.1 200", 12) != 0)
        return -1;
    const char *length = strcasestr(c->in, "\r\nContent-Length:");
    const char *chunked = strcasestr(c->in, "\r\nTransfer-Encoding: chunked");
    size_t pos = head;
    c->body_len = 0;
    if (length != NULL && length < end) {
        size_t n = strtoul(length + 17, NULL, 10);
        if (n >= sizeof c->body || have(c, head + n) != 0)
            return -1;
        memcpy(c->body, c->in + head, n);
        c->body_len = n;
        pos = head + n;
    } else if (chunked != NULL && chunked < end) {
        for (;;) {
            char *line_end;
            while ((line_end = strstr(c->in + pos, "\r\n")) == NULL)
                if (read_more(c) != 0)
                    return -1;
            size_t n = strtoul(c->in + pos, NULL, 16);
            pos = (size_t)(line_end - c->in) + 2;
            if (have(c, pos + n + 2) != 0 || c->body_len + n >= sizeof c->body)
                return -1;
            memcpy(c->body + c->body_len, c->in + pos, n);
            c->body_len += n;
            pos += n + 2; /* the chunk and its CRLF; after the last (empty) chunk, the final CRLF */
            if (n == 0)
                break;
        }
    } else {
        return -1;
    }
    c->body[c->body_len] = '\0';
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    c->in[c->in_len] = '\0';
    return 0;
}

/* The answer must be a success with a certificate and a private key; keeps the certificate. */
static int check_answer(struct client *c)
{
    cJSON *root = cJSON_ParseWithLength(c->body, c->body_len);
    int ok = 0;
    if (root != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "success"))) {
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
        const cJSON *cert = cJSON_GetObjectItemCaseSensitive(result, "certificate");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(result, "private_key");
        if (cJSON_IsString(cert) && cJSON_IsString(key) &&
            strstr(key->valuestring, "PRIVATE KEY") != NULL &&
            strlen(cert->valuestring) < sizeof c->last_cert) {
            strcpy(c->last_cert, cert->valuestring);
            ok = 1;
        }
    }
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

static void *client_run(void *arg)
{
    struct client *c = arg;
    client_connect(c);
    pthread_barrier_wait(&start_line);
    for (long long i = c->first; i < c->first + c->count && c->failure == NULL; i++) {
        char body[512], request[1024];
        int body_len = snprintf(body, sizeof body,
                                "{\"request\":{\"CN\":\"%s-%09lld\",\"names\":[{\"O\":\"certline "
                                "bench\",\"OU\":\"device\"}],\"key\":{\"algo\":\"ecdsa\","
                                "\"size\":256}}}",
                                c->prefix, i);
        int len = snprintf(request, sizeof request,
                           "POST /api/v1/cfssl/newcert HTTP/1.1\r\nHost: %s\r\n"
                           "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                           c->server_name, body_len, body);
        if (len <= 0 || (size_t)len >= sizeof request || send_all(c, request, (size_t)len) != 0)
            c->failure = "sending a request";
        else if (read_answer(c) != 0)
            c->failure = "reading an answer (not HTTP 200, or the connection closed)";
        else if (check_answer(c) != 0)
            c->failure = "an answer without success, certificate and private key";
    }
    client_close(c);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_start("bench_cfssl_load");
    long long total, clients;
    if (argc != 11 || !bench_count(argv[7], 100000000, &total) ||
        !bench_count(argv[8], MAX_CLIENTS, &clients))
        bench_die("usage: bench_cfssl_load HOST PORT SERVER_NAME CA_FILE CERT_FILE KEY_FILE N "
                  "CLIENTS PREFIX SAMPLE_OUT");
    static struct tls_files files;
    mbedtls_x509_crt_init(&files.ca);
    mbedtls_x509_crt_init(&files.own);
    mbedtls_pk_init(&files.key);
    tls_check(mbedtls_x509_crt_parse_file(&files.ca, argv[4]), argv[4]);
    tls_check(mbedtls_x509_crt_parse_file(&files.own, argv[5]), argv[5]);
    tls_check(mbedtls_pk_parse_keyfile(&files.key, argv[6], NULL), argv[6]);

    static struct client all[MAX_CLIENTS];
    pthread_barrier_init(&start_line, NULL, (unsigned)clients + 1);
    long long next = 1;
    for (long long k = 0; k < clients; k++) {
        struct client *c = &all[k];
        c->host = argv[1];
        c->port = argv[2];
        c->server_name = argv[3];
        c->prefix = argv[9];
        c->files = &files;
        c->first = next;
        c->count = total / clients + (k < total % clients ? 1 : 0);
        next += c->count;
        if (pthread_create(&c->thread, NULL, client_run, c) != 0)
            bench_die("cannot start a client thread");
    }
    pthread_barrier_wait(&start_line); /* every client has made its handshake */
    double cpu0 = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = bench_now_s();
    for (long long k = 0; k < clients; k++)
        pthread_join(all[k].thread, NULL);
    double seconds = bench_now_s() - t0, cpu = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    for (long long k = 0; k < clients; k++)
        if (all[k].failure != NULL)
            bench_die("client %lld: %s", k + 1, all[k].failure);
    FILE *sample = fopen(argv[10], "w");
    if (sample == NULL || fputs(all[0].last_cert, sample) < 0 || fclose(sample) != 0)
        bench_die("cannot write %s", argv[10]);
    printf("bench_cfssl_load certificates=%lld clients=%lld seconds=%.3f certs_per_s=%.1f "
           "client_cpu_s=%.3f\n",
           total, clients, seconds, (double)total / seconds, cpu);
    mbedtls_pk_free(&files.key);
    mbedtls_x509_crt_free(&files.own);
    mbedtls_x509_crt_free(&files.ca);
    pthread_barrier_destroy(&start_line);
    return 0;
}
