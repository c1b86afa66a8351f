/* contract_server.c: a test double for the stock-client contract test (test_stock_client.py),
 * not a certline program. It serves all four certline interfaces over mutual TLS with handlers
 * that answer fixed, schema-valid values derived from the request and the authenticated peer, so
 * a stock SOAP client (python3-zeep) loading only the published WSDLs can call every operation
 * and check the answers. The role policy (common/policy.c) runs in front of these handlers as in
 * the real programs, so refusals are the real ones.
 *
 * Usage: contract_server PKI_DIR   (a PKI made by tests/pki/make-test-pki.sh)
 * Prints one line {"ca": port, "comm-terminal": port, "device": port, "line": port} on stdout,
 * then serves until stdin closes or SIGTERM/SIGINT arrives, stops every server and exits 0.
 *
 * What the handlers answer:
 *   ca:CertificateTransmissionRequest  requestId echoed, one item per device number, in request
 *                                      order, pack {"device":"<number>"}
 *   ca:InstallationReport              receipt echoing the fields, receivedAt = writtenAt + 1 s,
 *                                      signature "c2lnbmF0dXJl", signerCertificate
 *                                      "-----BEGIN CERTIFICATE-----test"
 *   ca:ReportBatch                     one outcome per report, in order: RECEIPT with the
 *                                      receipt ca:InstallationReport would answer, or REFUSED
 *                                      ("Installation proof rejected", reason "proof <value>")
 *                                      when the verification value is all zeros
 *   ca:CheckIn                         deviceNumber = the number in the peer's certificate, state
 *                                      ISSUED, detail "claimed <number>" if the body claimed one
 *   ct:CertificateTransmissionRequest  the device number, pack {"device":"<number>","line":"<id>"}
 *                                      with the line id of the peer's certificate
 *   ct:ReceptionNotice                 OK, reason "notice <OK|NG>"
 *   ct:WriteResult                     OK, replacementReady true after NG (reason "replacement
 *                                      stored"), else false (reason "recorded <serial>")
 *   ct:SubmitPlan                      requestId echoed, entries = lines of the plan, 0 new device
 *                                      numbers, repeated false
 *   ct:FetchNow                        the day asked (or "2026-12-06"), done, 0 remaining, reason
 *                                      "fetched for <peer name>"
 *   dev:CertificateTransmission        OK, reason "pack of <n> bytes, transmission <id> with a
 *                                      <k>-digit key" ("-" and 0 for absent elements)
 *   line:WriteResult                   OK, reason "<OK|NG> from <role> <number>" (the peer),
 *                                      then ", transmission <id> with a <m>-digit MAC"
 * Every answer echoes the request's device number. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_server.h"

/* ---- helpers for the handlers ---- */

/* printf into memory owned by the request's gSOAP context (freed by soap_end). */
__attribute__((format(printf, 2, 3))) static char *soap_printf(struct soap *soap,
                                                               const char *format, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, format);
    n = vsnprintf(buf, sizeof(buf), format, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    return soap_strdup(soap, buf);
}

#define NOMEM(soap) soap_receiver_fault(soap, "out of memory", NULL)

/* ---- ca interface (ca-server) ---- */

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    int n = request->__sizeDeviceNumber;

    if (n < 1 || request->deviceNumber == NULL)
        return soap_sender_fault(soap, "no device numbers", NULL);
    response->requestId = request->requestId;
    response->__sizeItem = n;
    response->item = soap_malloc(soap, sizeof(*response->item) * (size_t)n);
    if (response->item == NULL)
        return NOMEM(soap);
    for (int i = 0; i < n; i++) {
        response->item[i].deviceNumber = request->deviceNumber[i];
        response->item[i].pack = soap_printf(soap, "{\"device\":\"%s\"}", request->deviceNumber[i]);
        if (response->item[i].pack == NULL)
            return NOMEM(soap);
    }
    return SOAP_OK;
}

int __ca__InstallationReport(struct soap *soap, struct ca__InstallationReport *request,
                             struct ca__InstallationReceipt *response)
{
    response->deviceNumber = request->deviceNumber;
    response->certificateSerial = request->certificateSerial;
    response->verificationValue = request->verificationValue;
    response->receivedAt = request->writtenAt + 1;
    response->signature = soap_strdup(soap, "c2lnbmF0dXJl");
    response->signerCertificate = soap_strdup(soap, "-----BEGIN CERTIFICATE-----test");
    if (response->signature == NULL || response->signerCertificate == NULL)
        return NOMEM(soap);
    return SOAP_OK;
}

int __ca__ReportBatch(struct soap *soap, struct ca__ReportBatch *request,
                      struct ca__ReceiptBatch *response)
{
    int n = request->__sizeReport;

    if (n < 1 || request->report == NULL)
        return soap_sender_fault(soap, "no reports", NULL);
    response->__sizeOutcome = n;
    response->outcome = soap_malloc(soap, sizeof(*response->outcome) * (size_t)n);
    if (response->outcome == NULL)
        return NOMEM(soap);
    for (int i = 0; i < n; i++) {
        struct ca__InstallationReport *report = &request->report[i];
        struct ca__ReportOutcome *outcome = &response->outcome[i];
        memset(outcome, 0, sizeof(*outcome));
        outcome->deviceNumber = report->deviceNumber;
        outcome->certificateSerial = report->certificateSerial;
        if (strspn(report->verificationValue, "0") == strlen(report->verificationValue)) {
            outcome->verdict = ca__ReportVerdict__REFUSED;
            outcome->refusal = soap_strdup(soap, "Installation proof rejected");
            outcome->reason = soap_printf(soap, "proof %s", report->verificationValue);
            if (outcome->refusal == NULL || outcome->reason == NULL)
                return NOMEM(soap);
            continue;
        }
        outcome->verdict = ca__ReportVerdict__RECEIPT;
        outcome->receipt = soap_malloc(soap, sizeof(*outcome->receipt));
        if (outcome->receipt == NULL)
            return NOMEM(soap);
        if (__ca__InstallationReport(soap, report, outcome->receipt) != SOAP_OK)
            return soap->error;
    }
    return SOAP_OK;
}

int __ca__CheckIn(struct soap *soap, struct ca__CheckIn *request,
                  struct ca__CheckInResponse *response)
{
    const struct cl_peer *peer = cl_soap_peer(soap);

    response->deviceNumber = soap_strdup(soap, peer->number);
    if (response->deviceNumber == NULL)
        return NOMEM(soap);
    response->state = ca__DeviceState__ISSUED;
    response->certificateSerial = NULL; /* optional, left out */
    response->detail = NULL;
    if (request->claimedDeviceNumber != NULL) {
        response->detail = soap_printf(soap, "claimed %s", request->claimedDeviceNumber);
        if (response->detail == NULL)
            return NOMEM(soap);
    }
    return SOAP_OK;
}

/* A CRL's time fields in the canned answers: 2026-11-21T16:52:11Z and a day later. */
#define CRL_THIS_UPDATE ((time_t)1795279931)

int __ca__RevocationList(struct soap *soap, struct ca__RevocationList *request,
                         struct ca__RevocationListResponse *response)
{
    response->number = request->heldNumber + 1;
    response->thisUpdate = CRL_THIS_UPDATE;
    response->nextUpdate = CRL_THIS_UPDATE + 86400;
    response->crl = soap_strdup(soap, "MAA="); /* base64 of an empty DER SEQUENCE */
    return response->crl ? SOAP_OK : NOMEM(soap);
}

int __ca__Retire(struct soap *soap, struct ca__Retire *request, struct ca__RetireResponse *response)
{
    if (request->__sizeCertificateSerial < 1 || request->certificateSerial == NULL)
        return soap_sender_fault(soap, "no serials", NULL);
    response->retired =
        request->reason == ca__RetireReason__DISCONTINUED ? request->__sizeCertificateSerial : 0;
    return SOAP_OK;
}

/* Two canned models; only those asked for (none: both). */
int __ca__Models(struct soap *soap, struct ca__Models *request, struct ca__ModelsResponse *response)
{
    static const char *const codes[] = {"3012", "3013"};
    response->model = soap_malloc(soap, 2 * sizeof(*response->model));
    if (response->model == NULL)
        return NOMEM(soap);
    response->__sizeModel = 0;
    for (int i = 0; i < 2; i++) {
        int asked = request->__sizeModelCode <= 0;
        for (int k = 0; k < request->__sizeModelCode; k++)
            asked |= strcmp(request->modelCode[k], codes[i]) == 0;
        if (!asked)
            continue;
        response->model[response->__sizeModel].code = soap_strdup(soap, codes[i]);
        response->model[response->__sizeModel].certificateManaged = i == 0 ? true_ : false_;
        response->__sizeModel++;
    }
    return SOAP_OK;
}

/* ---- comm-terminal interface (comm-terminal) ---- */

int __ct__CertificateTransmissionRequest(struct soap *soap,
                                         struct ct__CertificateTransmissionRequest *request,
                                         struct ct__CertificateTransmission *response)
{
    const struct cl_peer *peer = cl_soap_peer(soap);

    response->deviceNumber = request->deviceNumber;
    response->pack = soap_printf(soap, "{\"device\":\"%s\",\"line\":\"%s\"}", request->deviceNumber,
                                 peer->number);
    return response->pack ? SOAP_OK : NOMEM(soap);
}

int __ct__ReceptionNotice(struct soap *soap, struct ct__ReceptionNotice *request,
                          struct ct__ReceptionResponse *response)
{
    response->deviceNumber = request->deviceNumber;
    response->result = ct__Result__OK;
    response->reason =
        soap_printf(soap, "notice %s", request->result == ct__Result__NG ? "NG" : "OK");
    return response->reason ? SOAP_OK : NOMEM(soap);
}

int __ct__WriteResult(struct soap *soap, struct ct__WriteResult *request,
                      struct ct__ReceptionResponse *response)
{
    response->deviceNumber = request->deviceNumber;
    response->result = ct__Result__OK;
    if (request->result == ct__Result__NG) {
        static enum xsd__boolean ready = true_;
        response->replacementReady = &ready;
        response->reason = soap_strdup(soap, "replacement stored");
    } else {
        response->reason = soap_printf(
            soap, "recorded %s", request->certificateSerial ? request->certificateSerial : "-");
    }
    return response->reason ? SOAP_OK : NOMEM(soap);
}

int __ct__RevocationList(struct soap *soap, struct ct__RevocationList *request,
                         struct ct__RevocationListResponse *response)
{
    (void)soap;
    /* Held already: the answer carries only the number. */
    response->number = request->heldNumber;
    response->thisUpdate = NULL;
    response->nextUpdate = NULL;
    response->crl = NULL;
    return SOAP_OK;
}

int __ct__SubmitPlan(struct soap *soap, struct ct__SubmitPlan *request,
                     struct ct__SubmitPlanResponse *response)
{
    (void)soap;
    int lines = 0;
    for (const char *p = request->plan; *p != '\0'; p++)
        lines += *p == '\n';
    response->requestId = request->requestId;
    response->entries = lines;
    response->newDeviceNumbers = 0;
    response->repeated = false_;
    return SOAP_OK;
}

int __ct__FetchNow(struct soap *soap, struct ct__FetchNow *request,
                   struct ct__FetchNowResponse *response)
{
    response->day = request->day != NULL ? request->day : "2026-12-06";
    response->state = ct__FetchState__done;
    response->remaining = 0;
    response->reason = soap_printf(soap, "fetched for %s", cl_soap_peer(soap)->name);
    return response->reason ? SOAP_OK : NOMEM(soap);
}

/* ---- device interface (device-agent) ---- */

int __dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                                   struct dev__ReceptionResponse *response)
{
    response->deviceNumber = request->deviceNumber;
    response->result = dev__Result__OK;
    response->reason =
        soap_printf(soap, "pack of %zu bytes, transmission %s with a %zu-digit key",
                    request->pack ? strlen(request->pack) : (size_t)0,
                    request->transmissionId ? request->transmissionId : "-",
                    request->transmissionKey ? strlen(request->transmissionKey) : (size_t)0);
    return response->reason ? SOAP_OK : NOMEM(soap);
}

/* ---- line interface (factory-terminal) ---- */

int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                        struct line__ReceptionResponse *response)
{
    const struct cl_peer *peer = cl_soap_peer(soap);

    response->deviceNumber = request->deviceNumber;
    response->result = line__Result__OK;
    response->reason =
        soap_printf(soap, "%s from %s %s, transmission %s with a %zu-digit MAC",
                    request->result == line__Result__NG ? "NG" : "OK", cl_role_name(peer->role),
                    peer->number, request->transmissionId ? request->transmissionId : "-",
                    request->resultMac ? strlen(request->resultMac) : (size_t)0);
    return response->reason ? SOAP_OK : NOMEM(soap);
}

/* ---- the four servers ---- */

#define SERVER_COUNT 4

struct running {
    enum cl_interface iface;
    struct cl_tls *tls;
    struct cl_server *server;
    pthread_t thread;
    int started; /* the thread runs */
};

static void *server_main(void *arg)
{
    struct running *r = arg;
    int rc = cl_server_run(r->server);
    if (rc != CL_OK)
        cl_log_error("%s: server stopped: %s", cl_interface_name(r->iface), cl_err_name(rc));
    return NULL;
}

/* Every server presents the ca-server identity (ca.certline.test): the test PKI has no server
 * certificate for a device-agent or a line, and the stock client only checks that the server's
 * certificate chains to the test root and names ca.certline.test. */
static int start(struct running *r, const char *pki)
{
    char cert[PATH_MAX], key[PATH_MAX], trust[PATH_MAX], err[256];
    struct cl_server_settings settings = {
        .host = "127.0.0.1", .port = 0, .iface = r->iface, .max_connections = 16};
    struct cl_tls_settings tls_settings = {.cert_file = cert, .key_file = key, .trust_file = trust};
    int rc;

    snprintf(cert, sizeof(cert), "%s/ca-server.chain.crt", pki);
    snprintf(key, sizeof(key), "%s/ca-server.key", pki);
    snprintf(trust, sizeof(trust), "%s/root.crt", pki);
    rc = cl_tls_new(CL_TLS_SERVER, &tls_settings, &r->tls, err, sizeof(err));
    if (rc == CL_OK) {
        cl_soap_limits_default(&settings.limits);
        rc = cl_server_new(&settings, r->tls, &r->server, err, sizeof(err));
    }
    if (rc != CL_OK) {
        cl_log_error("%s: %s", cl_interface_name(r->iface), err);
        return -1;
    }
    if (pthread_create(&r->thread, NULL, server_main, r) != 0) {
        cl_log_error("%s: cannot start the server thread", cl_interface_name(r->iface));
        return -1;
    }
    r->started = 1;
    return 0;
}

static void stop_all(struct running *servers)
{
    for (int i = 0; i < SERVER_COUNT; i++)
        if (servers[i].started)
            cl_server_stop(servers[i].server);
    for (int i = 0; i < SERVER_COUNT; i++) {
        if (servers[i].started)
            pthread_join(servers[i].thread, NULL);
        cl_server_free(servers[i].server);
        cl_tls_free(servers[i].tls);
        servers[i].server = NULL;
        servers[i].tls = NULL;
        servers[i].started = 0;
    }
}

/* Waits until stdin reaches end of file (or fails) or SIGTERM/SIGINT arrives through sigfd. */
static void wait_for_end(int sigfd)
{
    struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN},
                            {.fd = sigfd, .events = POLLIN}};
    char buf[256];

    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (fds[1].revents) {
            struct signalfd_siginfo info;
            if (read(sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info))
                cl_log_info("signal %u: stopping", info.ssi_signo);
            return;
        }
        if (fds[0].revents) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                cl_log_info("stdin closed: stopping");
                return;
            }
        }
    }
}

int main(int argc, char **argv)
{
    struct running servers[SERVER_COUNT] = {
        {.iface = CL_IFACE_CA},
        {.iface = CL_IFACE_COMM_TERMINAL},
        {.iface = CL_IFACE_DEVICE},
        {.iface = CL_IFACE_LINE},
    };
    sigset_t signals;
    int sigfd, ok = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s PKI_DIR\n", argv[0]);
        return 2;
    }
    cl_log_set_program("contract-server");

    /* Blocked before any thread starts, so every thread inherits the mask and the signals are
     * read from the signalfd only. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &signals, NULL) != 0 ||
        (sigfd = signalfd(-1, &signals, SFD_CLOEXEC)) < 0) {
        perror("contract_server: signalfd");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < SERVER_COUNT && ok; i++)
        ok = start(&servers[i], argv[1]) == 0;
    if (ok) {
        printf("{\"ca\": %d, \"comm-terminal\": %d, \"device\": %d, \"line\": %d}\n",
               cl_server_port(servers[0].server), cl_server_port(servers[1].server),
               cl_server_port(servers[2].server), cl_server_port(servers[3].server));
        ok = fflush(stdout) == 0;
    }
    if (ok)
        wait_for_end(sigfd);
    stop_all(servers);
    close(sigfd);
    return ok ? 0 : 1;
}
