/* da_serve.c: `device-agent serve`: the device on the line. A mutual-TLS SOAP server for the
 * device interface (factory-terminal peers only; the device presents its model's common
 * certificate) takes S7, checks the pack and answers S8; a writer thread writes an accepted pack
 * once S8 has gone out, then reports S10, authenticated with the key S7 carried, to the factory
 * terminal's line interface and logs its S13 answer. One pack is written at a time; its
 * transmission key is kept in memory only, until its S10 is answered. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "cli.h"
#include "da_commands.h"
#include "da_crl.h"
#include "da_identity.h"
#include "error.h"
#include "log.h"
#include "nv_image.h"
#include "pack_install.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_server.h"
#include "tls_verify.h"
#include "transmission_key.h"

#define S8_WAIT_S 5    /* longest wait for S8 to go out before writing anyway */
#define S10_ATTEMPTS 3 /* when the factory terminal cannot be reached at all */
#define FAIL_WRITES_MAX 1000000
#define DELAY_MS_MAX 600000

struct da_runtime {
    const struct da_config *config;
    struct nv_device device; /* guarded by lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int busy;     /* a pack is accepted and its write not yet reported */
    int pending;  /* the accepted pack waits for the writer */
    int answered; /* S8 for the pending pack has gone out */
    int stopping;
    struct cl_pack job;
    struct cl_transmission job_tx; /* the key of the accepted pack's S7 (wiped once used) */
    int fail_writes;               /* writes still to fail at step 1 (test hook) */
    int power_cut_after;           /* the first write stops dead after this step (test hook) */
    int once;                      /* stop after an OK write acknowledged by S13 OK */
    int delay_result_ms;           /* wait before each S10 (test hook) */
    struct cl_client *line;
};

static struct cl_server *running;
static struct da_runtime *serving; /* for the S8-sent hook */

static void on_signal(int sig)
{
    (void)sig;
    if (running != NULL)
        cl_server_stop(running);
}

/* gSOAP calls fdisconnect from soap_closesock at the end of each served request, that is once
 * the S8 answer has been sent (or its sending failed): the write may start only if it went out
 * (answered 1); otherwise the factory terminal takes the device as not reached (-1). */
static int s8_sent(struct soap *soap)
{
    struct da_runtime *rt = serving;
    soap->fdisconnect = NULL;
    if (rt != NULL) {
        pthread_mutex_lock(&rt->lock);
        rt->answered = soap->error == SOAP_OK ? 1 : -1;
        pthread_cond_broadcast(&rt->wake);
        pthread_mutex_unlock(&rt->lock);
    }
    return SOAP_OK;
}

static int answer_ng(struct soap *soap, struct dev__ReceptionResponse *response, const char *who,
                     const char *reason)
{
    char text[PI_REASON_MAX + 1];

    snprintf(text, sizeof(text), "%.*s", PI_REASON_MAX, reason);
    cl_log_warn("S7 from %s for %s: NG: %s", who, response->deviceNumber, text);
    response->result = dev__Result__NG;
    response->reason = soap_strdup(soap, text);
    return SOAP_OK;
}

/* S7 (FIG 23A): checks the pack and answers S8; nothing is written before the answer. */
int __dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                                   struct dev__ReceptionResponse *response)
{
    struct da_runtime *rt = cl_soap_app(soap);
    char who[160], err[300], reason[PI_REASON_MAX + 64];
    struct cl_pack pack;
    struct cl_transmission tx;
    int rc;

    cl_peer_describe(cl_soap_peer(soap), who, sizeof(who));
    response->deviceNumber = request->deviceNumber;
    response->result = dev__Result__NG;
    rc = cl_transmission_parse(request->transmissionId, request->transmissionKey, &tx);
    /* The key's text is not needed any more: in the request, and in what gSOAP has read. */
    if (request->transmissionKey != NULL)
        mbedtls_platform_zeroize(request->transmissionKey, strlen(request->transmissionKey));
    mbedtls_platform_zeroize(soap->buf, soap->bufidx);
    if (rc != CL_OK)
        return answer_ng(soap, response, who,
                         "S7 carries no transmission id and key (32 and 64 lower-case hex "
                         "digits): the write result could not be authenticated");
    if (cl_pack_parse(request->pack, &pack, err, sizeof(err)) != CL_OK) {
        cl_transmission_wipe(&tx);
        snprintf(reason, sizeof(reason), "pack refused: %s", err);
        return answer_ng(soap, response, who, reason);
    }
    pthread_mutex_lock(&rt->lock);
    if (rt->busy) {
        pthread_mutex_unlock(&rt->lock);
        cl_transmission_wipe(&tx);
        cl_pack_free(&pack);
        return answer_ng(soap, response, who,
                         "busy: the previous pack is still being written or reported");
    }
    rc = pi_accept(&rt->device, request->deviceNumber, &pack, cl_soap_tls_verified_chain(soap),
                   reason, sizeof(reason));
    if (rc == CL_OK) {
        rt->job = pack;
        rt->job_tx = tx;
        rt->busy = 1;
        rt->pending = 1;
        rt->answered = 0;
        soap->fdisconnect = s8_sent;
        pthread_cond_broadcast(&rt->wake);
    }
    pthread_mutex_unlock(&rt->lock);
    cl_transmission_wipe(&tx);
    if (rc != CL_OK) {
        cl_pack_free(&pack);
        return answer_ng(soap, response, who, reason);
    }
    cl_log_info("S7 from %s: pack %s for %s accepted (S8 OK); writing it next", who,
                pack.serial_hex, pack.device_number);
    response->result = dev__Result__OK;
    return SOAP_OK;
}

/* S10 (FIG 23B) to the factory terminal, with the transmission id and MAC under tx's key, and
 * its S13 answer. Returns 1 if an OK write was acknowledged with S13 OK. */
static int report(struct da_runtime *rt, const char *device_number,
                  const struct cl_transmission *tx, const struct pi_result *ok, const char *reason)
{
    struct line__WriteResult request = {0};
    struct line__ReceptionResponse answer = {0};
    struct cl_write_result_fields fields;
    char number[NV_DEVICE_NUMBER_MAX + 1], serial[NV_SERIAL_HEX_MAX + 1];
    char value[CL_VERIFY_HEX + 1], why[PI_REASON_MAX + 1], err[512];
    char id[CL_TRANSMISSION_ID_HEX + 1], mac[CL_WRITE_RESULT_MAC_HEX + 1];
    struct soap *soap = cl_client_soap(rt->line);
    int done = 0;

    snprintf(number, sizeof(number), "%s", device_number);
    request.deviceNumber = number;
    if (ok != NULL) {
        snprintf(serial, sizeof(serial), "%s", ok->serial_hex);
        snprintf(value, sizeof(value), "%s", ok->server_value);
        request.result = line__Result__OK;
        request.certificateSerial = serial;
        request.verificationValue = value;
    } else {
        snprintf(why, sizeof(why), "%.*s", PI_REASON_MAX, reason);
        request.result = line__Result__NG;
        request.reason = why;
    }
    snprintf(id, sizeof(id), "%s", tx->id);
    fields = (struct cl_write_result_fields){
        .transmission_id = id,
        .device_number = request.deviceNumber,
        .ok = ok != NULL,
        .reason = request.reason,
        .certificate_serial = request.certificateSerial,
        .verification_value = request.verificationValue,
    };
    if (cl_write_result_mac(tx, &fields, mac) != CL_OK) {
        cl_log_error("S10 write result (%s) for %s not sent: its MAC could not be computed; "
                     "still serving, a re-scan provisions again",
                     ok ? "OK" : "NG", number);
        return 0;
    }
    request.transmissionId = id;
    request.resultMac = mac;
    if (rt->delay_result_ms > 0)
        usleep((useconds_t)rt->delay_result_ms * 1000);
    for (int attempt = 1;; attempt++) {
        if (soap_call___line__WriteResult(soap, cl_client_endpoint(rt->line), NULL, &request,
                                          &answer) == SOAP_OK)
            break;
        int rc = cl_client_explain(rt->line, err, sizeof(err));
        cl_client_end_call(rt->line);
        if (rc == CL_ERR_CONNECT && attempt < S10_ATTEMPTS) {
            cl_log_warn("S10 for %s: %s; trying again", number, err);
            sleep(1);
            continue;
        }
        cl_log_error("S10 write result (%s) for %s not delivered to the factory terminal: %s; "
                     "still serving, a re-scan provisions again",
                     ok ? "OK" : "NG", number, err);
        return 0;
    }
    if (answer.result == line__Result__OK) {
        cl_log_info("S10 write result %s for %s delivered; S13: OK%s%s", ok ? "OK" : "NG", number,
                    answer.reason ? ": " : "", answer.reason ? answer.reason : "");
        done = ok != NULL;
    } else {
        cl_log_warn("S10 write result %s for %s delivered; S13: NG: %s", ok ? "OK" : "NG", number,
                    answer.reason ? answer.reason : "no reason given");
    }
    cl_client_end_call(rt->line);
    return done;
}

static void *writer(void *arg)
{
    struct da_runtime *rt = arg;
    struct timespec deadline;

    pthread_mutex_lock(&rt->lock);
    for (;;) {
        while (!rt->pending && !rt->stopping)
            pthread_cond_wait(&rt->wake, &rt->lock);
        if (rt->stopping)
            break;
        /* The write starts after the S8 answer has gone out. */
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += S8_WAIT_S;
        while (!rt->answered && !rt->stopping)
            if (pthread_cond_timedwait(&rt->wake, &rt->lock, &deadline) == ETIMEDOUT)
                break;
        if (rt->stopping)
            break;
        if (rt->answered != 1) {
            /* The factory terminal did not get S8 OK, so it records this device as not reached:
             * writing now would leave a certificate nobody records. A re-scan sends it again. */
            cl_log_warn("S8 OK for %s did not reach the factory terminal (%s); the pack is not "
                        "written",
                        rt->job.device_number,
                        rt->answered < 0 ? "sending failed" : "not sent in time");
            cl_pack_free(&rt->job);
            cl_transmission_wipe(&rt->job_tx);
            rt->pending = 0;
            rt->busy = 0;
            continue;
        }

        struct cl_pack job = rt->job;
        struct cl_transmission tx = rt->job_tx;
        struct nv_write_hooks hooks = {0};
        struct pi_result result;
        char reason[PI_REASON_MAX + 64], number[NV_DEVICE_NUMBER_MAX + 1];
        int rc;

        memset(&rt->job, 0, sizeof(rt->job));
        cl_transmission_wipe(&rt->job_tx);
        rt->pending = 0;
        if (rt->fail_writes > 0) {
            rt->fail_writes--;
            hooks.fail_at_step = 1;
        }
        hooks.power_cut_after = rt->power_cut_after;
        rt->power_cut_after = 0; /* the first write only */
        snprintf(number, sizeof(number), "%s", rt->device.nvram.device_number);
        rc = pi_write(&rt->device, &job, &hooks, &result, reason, sizeof(reason));
        pthread_mutex_unlock(&rt->lock);

        int done = report(rt, number, &tx, rc == CL_OK ? &result : NULL, reason);
        cl_transmission_wipe(&tx);
        cl_pack_free(&job);

        pthread_mutex_lock(&rt->lock);
        rt->busy = 0;
        if (done && rt->once) {
            cl_log_info("--once: the certificate is written and recorded; stopping");
            if (running != NULL)
                cl_server_stop(running);
        }
    }
    if (rt->pending) {
        cl_log_warn("stopping: the accepted pack %s for %s is not written", rt->job.serial_hex,
                    rt->job.device_number);
        cl_pack_free(&rt->job);
        cl_transmission_wipe(&rt->job_tx);
        rt->pending = 0;
    }
    pthread_mutex_unlock(&rt->lock);
    return NULL;
}

static int serve_options(struct da_runtime *rt, int argc, char **argv)
{
    const char *fail = cl_arg_value(argc, argv, "--fail-writes");
    const char *cut = cl_arg_value(argc, argv, "--power-cut-after-step");
    const char *delay = cl_arg_value(argc, argv, "--delay-write-result-ms");
    long long v;

    rt->once = cl_arg_flag(argc, argv, "--once");
    if (fail != NULL) {
        if (da_int_option("serve", "--fail-writes", fail, 0, FAIL_WRITES_MAX, &v) != 0)
            return -1;
        rt->fail_writes = (int)v;
    }
    if (cut != NULL) {
        if (da_int_option("serve", "--power-cut-after-step", cut, 1, NV_WRITE_STEPS, &v) != 0)
            return -1;
        rt->power_cut_after = (int)v;
    }
    if (delay != NULL) {
        if (da_int_option("serve", "--delay-write-result-ms", delay, 0, DELAY_MS_MAX, &v) != 0)
            return -1;
        rt->delay_result_ms = (int)v;
    }
    if (rt->fail_writes > 0 || rt->power_cut_after > 0 || rt->delay_result_ms > 0)
        cl_log_warn("TEST HOOKS ACTIVE: %d write(s) will fail, power cut after step %d of the "
                    "first write (0: none), each write result sent %d ms late; never use these "
                    "on a production line",
                    rt->fail_writes, rt->power_cut_after, rt->delay_result_ms);
    return 0;
}

int da_command_serve(const struct da_config *config, int argc, char **argv)
{
    static struct da_runtime rt;
    struct cl_server_settings settings = {.iface = CL_IFACE_DEVICE};
    struct cl_client_settings line = {0};
    struct cl_tls *server_tls = NULL, *client_tls = NULL;
    struct cl_verify_cache *verified = NULL;
    struct cl_crl_holder *crl = NULL;
    pthread_condattr_t attr;
    pthread_t writer_thread;
    int opened = 0, writing = 0, code = DA_EXIT_ERROR;
    char err[512];

    memset(&rt, 0, sizeof(rt));
    rt.config = config;
    if (serve_options(&rt, argc, argv) != 0)
        return DA_EXIT_USAGE;
    if (config->line.endpoint[0] == '\0') {
        fprintf(stderr, "device-agent serve: the configuration names no factory terminal "
                        "(\"line\": {\"endpoint\", \"server_name\"}) to report write results "
                        "to\n");
        return DA_EXIT_ERROR;
    }
    pthread_mutex_init(&rt.lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rt.wake, &attr);
    pthread_condattr_destroy(&attr);

    if (nv_open(config->flash_image, config->nvram_image, &rt.device, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    opened = 1;
    /* The common identity serves the jig and reports to the factory terminal; its key is
     * unsealed only while mbedTLS loads it. */
    if (da_tls_common_pair(&rt.device, &server_tls, &client_tls, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    /* S7 (server) and S10 (client) both meet the factory terminal's chain: S7 verifies it in
     * the handshake, S10 then checks only what is not the chain's signatures (tls.h); S10
     * resumes the S7 session (its master secret authenticates the factory terminal again). */
    if (cl_verify_cache_new(CL_VERIFY_CACHE_DEFAULT_ENTRIES, CL_VERIFY_CACHE_DEFAULT_MAX_AGE_S,
                            &verified) != CL_OK ||
        cl_tls_share_verified_chains(server_tls, verified) != CL_OK ||
        cl_tls_share_verified_chains(client_tls, verified) != CL_OK ||
        cl_tls_hand_sessions(server_tls, client_tls, CL_ROLE_FACTORY_TERMINAL) != CL_OK) {
        cl_log_error("cannot set up the verified-chain cache or the session handover");
        goto out;
    }
    if (da_crl_enforce(config, server_tls, client_tls, &crl, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    line.endpoint = config->line.endpoint;
    line.server_name = config->line.server_name;
    line.server_role = CL_ROLE_FACTORY_TERMINAL;
    cl_limits_config_apply(&config->limits, &line.limits);
    if (cl_client_new(&line, client_tls, &rt.line, err, sizeof(err)) != CL_OK) {
        cl_log_error("line: %s", err);
        goto out;
    }
    settings.host = config->listen.host;
    settings.port = (int)config->listen.port;
    settings.max_connections = (int)config->listen.max_connections;
    settings.app = &rt;
    cl_limits_config_apply(&config->limits, &settings.limits);
    if (cl_server_new(&settings, server_tls, &running, err, sizeof(err)) != CL_OK) {
        cl_log_error("%s", err);
        goto out;
    }
    serving = &rt;
    if (pthread_create(&writer_thread, NULL, writer, &rt) != 0) {
        cl_log_error("cannot start the writer thread");
        goto out;
    }
    writing = 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    cl_log_info("device %s (model %s, %s) serving its writing interface on %s port %d; write "
                "results go to %s",
                rt.device.nvram.device_number, rt.device.firmware.model_code,
                rt.device.has_certificate ? "a certificate is written" : "no certificate yet",
                settings.host, cl_server_port(running), config->line.endpoint);
    /* A line that scripts and tests can wait for. */
    fprintf(stderr, "listening on %s:%d\n", settings.host, cl_server_port(running));
    fflush(stderr);
    code = cl_server_run(running) == CL_OK ? DA_EXIT_OK : DA_EXIT_ERROR;
    cl_log_info("stopping");
out:
    if (writing) {
        pthread_mutex_lock(&rt.lock);
        rt.stopping = 1;
        pthread_cond_broadcast(&rt.wake);
        pthread_mutex_unlock(&rt.lock);
        pthread_join(writer_thread, NULL);
    }
    {
        struct cl_server *server = running;
        running = NULL; /* before freeing: a late signal must not touch a freed server */
        cl_server_free(server);
    }
    serving = NULL;
    cl_client_free(rt.line);
    cl_tls_free(client_tls);
    cl_tls_free(server_tls);
    cl_crl_holder_free(crl); /* after both contexts */
    cl_verify_cache_free(verified);
    if (opened)
        nv_close(&rt.device);
    pthread_cond_destroy(&rt.wake);
    pthread_mutex_destroy(&rt.lock);
    return code;
}
