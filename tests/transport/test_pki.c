/* test_pki.c: shared fixtures of the TLS tests and benchmarks: test PKI, temp folder, servers. */
#define _XOPEN_SOURCE 700 /* nftw, mkdtemp, usleep */
#include "test_pki.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "soapH.h"

#ifndef CERTLINE_SOURCE_DIR
#error "CERTLINE_SOURCE_DIR must point at the source tree"
#endif

int tp_make_pki(const char *pki_dir, const char *short_end)
{
    char script[PATH_MAX], option[] = "--short-lived", end[32], dir[PATH_MAX], shell[] = "bash";
    char *full[] = {shell, script, dir, NULL}, *brief[] = {shell, script, option, end, dir, NULL};
    pid_t pid;
    int status;

    snprintf(script, sizeof(script), "%s/tests/pki/make-test-pki.sh", CERTLINE_SOURCE_DIR);
    snprintf(end, sizeof(end), "%s", short_end ? short_end : "");
    snprintf(dir, sizeof(dir), "%s", pki_dir);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        execvp(shell, short_end ? brief : full);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int tp_remove_tree(const char *top)
{
    return nftw(top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tp_dir_make(struct tp_dir *dir, const char *prefix, const char *log_name, const char *program)
{
    int fd;

    memset(dir, 0, sizeof(*dir));
    snprintf(dir->top, sizeof(dir->top), "/tmp/%s-XXXXXX", prefix);
    if (mkdtemp(dir->top) == NULL) {
        dir->top[0] = '\0';
        return -1;
    }
    snprintf(dir->pki, sizeof(dir->pki), "%s/pki", dir->top);
    if (tp_make_pki(dir->pki, NULL) != 0) {
        fprintf(stderr, "cannot make the test PKI in %s\n", dir->pki);
        return -1;
    }
    if (log_name == NULL)
        return 0;
    snprintf(dir->log_path, sizeof(dir->log_path), "%s/%s", dir->top, log_name);
    fd = open(dir->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0)
        return -1;
    cl_log_set_sink(fd);
    cl_log_set_level(CL_LOG_DEBUG);
    cl_log_set_program(program);
    return 0;
}

int tp_dir_remove(struct tp_dir *dir)
{
    if (dir->log_path[0] != '\0')
        cl_log_set_sink(2);
    return tp_remove_tree(dir->top);
}

int tp_log_wait(const char *log_path, const char *needle)
{
    static char text[1 << 20];
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(log_path, "r");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        if (f)
            fclose(f);
        text[n] = '\0';
        if (strstr(text, needle) != NULL)
            return 0;
        usleep(50000);
    }
    return -1;
}

void tp_path(char *out, const char *pki_dir, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", pki_dir, name);
}

int tp_tls_new(enum cl_tls_side side, const char *pki_dir, const char *identity,
               const char *trust_name, struct cl_tls **out, char *err, size_t errlen)
{
    char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX], name[128];

    snprintf(name, sizeof(name), "%s.chain.crt", identity);
    tp_path(cert, pki_dir, name);
    snprintf(name, sizeof(name), "%s.key", identity);
    tp_path(key, pki_dir, name);
    tp_path(trust, pki_dir, trust_name ? trust_name : "root.crt");
    struct cl_tls_settings settings = {.cert_file = cert, .key_file = key, .trust_file = trust};
    return cl_tls_new(side, &settings, out, err, errlen);
}

int tp_client_new(struct cl_tls *tls, int port, const char *server_name, enum cl_role role,
                  int recv_timeout_s, struct cl_client **out, char *err, size_t errlen)
{
    char endpoint[128];
    struct cl_client_settings settings;

    snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d/ca", port);
    settings.endpoint = endpoint;
    settings.server_name = server_name;
    settings.server_role = role;
    cl_soap_limits_default(&settings.limits);
    settings.limits.recv_timeout_s = recv_timeout_s;
    return cl_client_new(&settings, tls, out, err, errlen);
}

void *tp_server_main(void *arg)
{
    struct tp_server *ts = arg;
    cl_server_run(ts->server);
    return NULL;
}

int tp_server_start(struct tp_server *ts, const char *pki_dir, const char *identity,
                    const struct tp_server_options *options, char *err, size_t errlen)
{
    struct cl_server_settings settings = {.host = "127.0.0.1",
                                          .port = options->port,
                                          .iface = options->iface,
                                          .max_connections = options->max_connections};
    int rc;

    memset(ts, 0, sizeof(*ts));
    rc = tp_tls_new(CL_TLS_SERVER, pki_dir, identity, NULL, &ts->tls, err, errlen);
    if (rc != CL_OK)
        return rc;
    if (options->cache != NULL) {
        rc = cl_tls_share_verified_chains(ts->tls, options->cache);
        if (rc != CL_OK) {
            snprintf(err, errlen, "cannot share the verified-chain cache");
            goto fail;
        }
    }
    if (options->signing_table && (rc = cl_tls_keep_signing_table(ts->tls, err, errlen)) != CL_OK)
        goto fail;
    if (options->crl != NULL && (rc = cl_tls_check_revocation(ts->tls, options->crl)) != CL_OK)
        goto fail;
    cl_soap_limits_default(&settings.limits);
    if (options->recv_timeout_s)
        settings.limits.recv_timeout_s = options->recv_timeout_s;
    if (options->max_message_bytes)
        settings.limits.max_message_bytes = options->max_message_bytes;
    if ((rc = cl_server_new(&settings, ts->tls, &ts->server, err, errlen)) != CL_OK)
        goto fail;
    ts->port = cl_server_port(ts->server);
    if (pthread_create(&ts->thread, NULL, tp_server_main, ts) != 0) {
        snprintf(err, errlen, "cannot start a server thread");
        cl_server_free(ts->server);
        rc = CL_ERR_IO;
        goto fail;
    }
    return CL_OK;
fail:
    cl_tls_free(ts->tls);
    memset(ts, 0, sizeof(*ts));
    return rc;
}

void tp_server_stop(struct tp_server *ts)
{
    if (ts->server == NULL)
        return;
    cl_server_stop(ts->server);
    pthread_join(ts->thread, NULL);
    cl_server_free(ts->server);
    cl_tls_free(ts->tls);
    memset(ts, 0, sizeof(*ts));
}

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int handler_calls;

void tp_count_call(void)
{
    pthread_mutex_lock(&calls_lock);
    handler_calls++;
    pthread_mutex_unlock(&calls_lock);
}

int tp_calls(void)
{
    pthread_mutex_lock(&calls_lock);
    int n = handler_calls;
    pthread_mutex_unlock(&calls_lock);
    return n;
}

int tp_answer_batch(struct soap *soap, const struct ca__CertificateTransmissionRequest *request,
                    struct ca__CertificateTransmission *response, int n, const char *pack)
{
    response->requestId = request->requestId;
    response->__sizeItem = n;
    response->item = soap_malloc(soap, sizeof(*response->item) * (size_t)n);
    if (response->item == NULL)
        return soap_receiver_fault(soap, "out of memory", NULL);
    for (int i = 0; i < n; i++) {
        response->item[i].deviceNumber = request->deviceNumber[i];
        response->item[i].pack = pack != NULL ? soap_strdup(soap, pack) : NULL;
    }
    return SOAP_OK;
}
