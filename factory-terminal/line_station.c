/* line_station.c: the per-device sequence S5..S13 [FIG 18] and the hand-over of the device's
 * write result (S10), once its MAC proves it answers this device's S7, from the line server's
 * handler thread to the main thread, which alone talks to the comm-terminal (one kept-alive
 * client, S5, S9, S11 in that order). */
#include "line_station.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "input_check.h"
#include "log.h"
#include "pack.h"
#include "pack_transmission.h"
#include "soapH.h"
#include "soap_client.h"

#define WAIT_SLICE_MS 250   /* how often a waiting main thread looks at the stop flag */
#define WIRE_REASON_MAX 257 /* ct:Reason and line:Reason: at most 256 bytes */

/* A write result held by the handler that received it, until the main thread answers it. */
struct pending {
    struct ft_write_report report;
    unsigned long seq;
    int consumed; /* the main thread has taken the report */
    int answered;
    struct ft_write_answer answer;
};

struct ft_station {
    const struct ft_config *config;
    struct cl_tls *tls;
    const atomic_int *stop;
    struct cl_soap_limits limits;
    struct cl_client *ct; /* the comm-terminal, kept alive across devices (main thread only) */
    int answer_wait_s;    /* how long a handler waits for the comm-terminal's verdict */

    pthread_mutex_t lock;
    pthread_cond_t changed; /* on CLOCK_MONOTONIC */
    /* The device being provisioned, under lock. */
    int active;    /* published: S10 for it is expected (or may come early) */
    int accepting; /* S10 is accepted now */
    int reported;  /* a write result was accepted for it (and not withdrawn) */
    int releasing; /* the line is stopping: no more waiting */
    char device_number[32];
    char model_code[16];
    char serial[48];
    struct cl_transmission transmission; /* of the S7 in progress; wiped when it ends */
    struct pending *pending;             /* the handler's report, until answered or withdrawn */
    unsigned long next_seq;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on the condition until the monotonic time deadline_ms; returns ETIMEDOUT after it. */
static int wait_until(struct ft_station *st, long long deadline_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000),
                          .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
    return pthread_cond_timedwait(&st->changed, &st->lock, &ts);
}

int ft_station_new(const struct ft_config *config, struct cl_tls *client_tls,
                   const atomic_int *stop, struct ft_station **out, char *err, size_t errlen)
{
    struct ft_station *st = calloc(1, sizeof(*st));
    struct cl_client_settings settings;
    pthread_condattr_t attr;
    int rc;

    *out = NULL;
    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    st->config = config;
    st->tls = client_tls;
    st->stop = stop;
    cl_limits_config_apply(&config->limits, &st->limits);
    /* A handler waits while the main thread sends S9 and S11, each bounded by the transfer
     * timeout; beyond that the device gets an NG answer rather than a hung connection. */
    st->answer_wait_s = 2 * st->limits.transfer_timeout_s + 5;
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->changed, &attr);
    pthread_condattr_destroy(&attr);

    settings.endpoint = config->comm_terminal.endpoint;
    settings.server_name = config->comm_terminal.server_name;
    settings.server_role = CL_ROLE_COMM_TERMINAL;
    settings.limits = st->limits;
    if ((rc = cl_client_new(&settings, client_tls, &st->ct, err, errlen)) != CL_OK) {
        ft_station_free(st);
        return rc;
    }
    *out = st;
    return CL_OK;
}

void ft_station_free(struct ft_station *st)
{
    if (st == NULL)
        return;
    cl_client_free(st->ct);
    cl_transmission_wipe(&st->transmission);
    pthread_cond_destroy(&st->changed);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* ---- the device being provisioned (shared with the handler) ---- */

static void publish(struct ft_station *st, const char *device_number, const struct cl_pack *pack,
                    const struct cl_transmission *tx)
{
    pthread_mutex_lock(&st->lock);
    cl_copy_text(st->device_number, sizeof(st->device_number), device_number);
    cl_copy_text(st->model_code, sizeof(st->model_code), pack->model_code);
    cl_copy_text(st->serial, sizeof(st->serial), pack->serial_hex);
    st->transmission = *tx;
    st->active = 1;
    st->accepting = 1;
    st->reported = 0;
    st->pending = NULL;
    pthread_mutex_unlock(&st->lock);
}

/* With the lock held: gives the handler waiting for an answer a, or if a is NULL an NG saying
 * reason, and wakes it. */
static void give_answer(struct ft_station *st, const struct ft_write_answer *a, const char *reason)
{
    if (a != NULL) {
        st->pending->answer = *a;
    } else {
        st->pending->answer.ok = 0;
        snprintf(st->pending->answer.reason, sizeof(st->pending->answer.reason), "%s", reason);
    }
    st->pending->answered = 1;
    st->pending = NULL;
    pthread_cond_broadcast(&st->changed);
}

/* Ends the device: no more write results are taken for it, and a handler still holding one
 * gets answer (or, if NULL, a generic NG). */
static void retire(struct ft_station *st, const struct ft_write_answer *answer)
{
    pthread_mutex_lock(&st->lock);
    if (st->pending != NULL)
        give_answer(st, answer, "the factory terminal did not finish this device; re-scan it");
    st->active = 0;
    st->accepting = 0;
    st->reported = 0;
    st->device_number[0] = '\0';
    cl_transmission_wipe(&st->transmission);
    pthread_mutex_unlock(&st->lock);
}

enum wait_outcome { WAIT_REPORT, WAIT_TIMEOUT, WAIT_ABANDONED };

/* The main thread waits for the device's write result until deadline_ms (monotonic). On
 * WAIT_REPORT, *report is a copy and *seq identifies it for answer(). Either way no further
 * write result is accepted for this device. */
static enum wait_outcome wait_report(struct ft_station *st, long long deadline_ms,
                                     struct ft_write_report *report, unsigned long *seq)
{
    enum wait_outcome outcome;

    pthread_mutex_lock(&st->lock);
    for (;;) {
        long long now = now_ms();
        if (st->pending != NULL && !st->pending->consumed) {
            *report = st->pending->report;
            *seq = st->pending->seq;
            st->pending->consumed = 1;
            outcome = WAIT_REPORT;
            break;
        }
        /* A second stop request abandons the wait; the first lets the device finish. */
        if (atomic_load(st->stop) >= 2 || st->releasing) {
            outcome = WAIT_ABANDONED;
            break;
        }
        if (now >= deadline_ms) {
            outcome = WAIT_TIMEOUT;
            break;
        }
        (void)wait_until(st, now + WAIT_SLICE_MS < deadline_ms ? now + WAIT_SLICE_MS : deadline_ms);
    }
    st->accepting = 0;
    pthread_mutex_unlock(&st->lock);
    return outcome;
}

/* Hands the comm-terminal's verdict to the handler holding report seq (if it still waits). */
static void answer(struct ft_station *st, unsigned long seq, const struct ft_write_answer *a)
{
    pthread_mutex_lock(&st->lock);
    if (st->pending != NULL && st->pending->seq == seq) {
        give_answer(st, a, NULL);
    } else {
        cl_log_warn("%s: the device stopped waiting before the comm-terminal's answer could be "
                    "passed on (S13 not sent)",
                    st->device_number);
    }
    pthread_mutex_unlock(&st->lock);
}

void ft_station_release(struct ft_station *st)
{
    pthread_mutex_lock(&st->lock);
    st->releasing = 1;
    st->accepting = 0;
    if (st->pending != NULL && !st->pending->consumed)
        give_answer(st, NULL, "the factory terminal is stopping; re-scan the device");
    pthread_cond_broadcast(&st->changed);
    pthread_mutex_unlock(&st->lock);
}

/* Whether peer may report for the device being provisioned: its model's common certificate or
 * the device's own certificate. */
static int peer_may_report(const struct ft_station *st, const struct cl_peer *peer)
{
    if (peer->role == CL_ROLE_DEVICE_COMMON)
        return strcmp(peer->number, st->model_code) == 0;
    if (peer->role == CL_ROLE_DEVICE)
        return strcmp(peer->number, st->device_number) == 0;
    return 0;
}

/* Under lock, for the device in progress: whether report carries the transmission id of the S7
 * sent for it and a MAC that verifies under that S7's key. Another device of the same model holds
 * the same common certificate, but not the key. */
static int check_binding(const struct ft_station *st, const struct ft_write_report *report,
                         char *why, size_t whylen)
{
    struct cl_write_result_fields fields = {
        .transmission_id = report->transmission_id,
        .device_number = report->device_number,
        .ok = report->ok,
        .reason = report->reason,
        .certificate_serial = report->serial,
        .verification_value = report->verification,
    };
    char shown[48];

    if (report->transmission_id[0] == '\0' || report->mac[0] == '\0') {
        snprintf(why, whylen,
                 "the write result for %s carries no transmission id and MAC: it cannot be told "
                 "from a forgery by another device of model %s (the device must authenticate it "
                 "with the key its S7 carried)",
                 st->device_number, st->model_code);
        return CL_ERR_PERMISSION;
    }
    if (strcmp(report->transmission_id, st->transmission.id) != 0) {
        snprintf(why, whylen,
                 "the write result for %s answers transmission %s, not the one in progress: "
                 "refused as stale or replayed",
                 st->device_number, cl_shown(report->transmission_id, shown, sizeof(shown)));
        return CL_ERR_PERMISSION;
    }
    if (!cl_write_result_mac_ok(&st->transmission, &fields, report->mac)) {
        snprintf(why, whylen,
                 "the MAC of the write result for %s does not verify under the key of its "
                 "transmission: refused, it is not from the device that received the pack",
                 st->device_number);
        return CL_ERR_PERMISSION;
    }
    return CL_OK;
}

int ft_station_write_result(struct ft_station *st, const struct cl_peer *peer,
                            const struct ft_write_report *report, struct ft_write_answer *out,
                            char *why, size_t whylen)
{
    struct pending p;
    char who[160], value[CL_VERIFY_HEX_DIGITS + 1];
    int rc = CL_OK;
    long long deadline;

    memset(&p, 0, sizeof(p));
    memset(out, 0, sizeof(*out));
    cl_peer_describe(peer, who, sizeof(who));
    pthread_mutex_lock(&st->lock);
    if (!st->active || st->releasing) {
        snprintf(why, whylen, "line %s has no device in progress: scan the device first",
                 st->config->line_id);
        rc = CL_ERR_STATE;
    } else if (!st->accepting) {
        snprintf(why, whylen, "line %s no longer waits for the write result of %s",
                 st->config->line_id, st->device_number);
        rc = CL_ERR_STATE;
    } else if (strcmp(report->device_number, st->device_number) != 0) {
        snprintf(why, whylen, "write result for %s, but the device in progress on line %s is %s",
                 report->device_number, st->config->line_id, st->device_number);
        rc = CL_ERR_CONFLICT;
    } else if (!peer_may_report(st, peer)) {
        snprintf(why, whylen,
                 "%s may not report for %s: expected the common certificate of model %s or the "
                 "device's own certificate",
                 who, st->device_number, st->model_code);
        rc = CL_ERR_PERMISSION;
    } else if ((rc = check_binding(st, report, why, whylen)) != CL_OK) {
        /* refused: it does not count, and the station keeps waiting for the device's own */
    } else if (st->reported) {
        snprintf(why, whylen, "a write result for %s was already received", st->device_number);
        rc = CL_ERR_EXISTS;
    } else if (report->ok && strcmp(report->serial, st->serial) != 0) {
        snprintf(why, whylen, "%s reports certificate serial %s written, but its pack is serial %s",
                 st->device_number, report->serial[0] ? report->serial : "(none)", st->serial);
        rc = CL_ERR_CONFLICT;
    } else if (report->ok && !cl_verify_value_ok(report->verification, value)) {
        snprintf(why, whylen, "an OK write result needs the verification value (%d hex digits)",
                 CL_VERIFY_HEX_DIGITS);
        rc = CL_ERR_INVALID_ARGUMENT;
    }
    if (rc != CL_OK) {
        pthread_mutex_unlock(&st->lock);
        return rc;
    }

    p.report = *report;
    /* The reason was checked as the device sent it; operators and the comm-terminal get it
     * clipped to printable text. */
    ft_clip_text(p.report.reason, sizeof(p.report.reason), report->reason);
    p.seq = ++st->next_seq;
    st->pending = &p;
    st->reported = 1;
    pthread_cond_broadcast(&st->changed);
    cl_log_debug("%s: write result %s received from %s", report->device_number,
                 report->ok ? "OK" : "NG", who);
    deadline = now_ms() + (long long)st->answer_wait_s * 1000;
    while (!p.answered && now_ms() < deadline)
        (void)wait_until(st, deadline);
    if (p.answered) {
        *out = p.answer;
    } else {
        /* Give up waiting; if the main thread never took the report, the device may send it
         * again. */
        if (st->pending == &p) {
            st->pending = NULL;
            if (!p.consumed)
                st->reported = 0;
        }
        out->ok = 0;
        snprintf(out->reason, sizeof(out->reason),
                 "the factory terminal got no answer from the comm-terminal within %d s; "
                 "re-scan the device",
                 st->answer_wait_s);
    }
    pthread_mutex_unlock(&st->lock);
    return CL_OK;
}

/* ---- the sequence ---- */

static void set_outcome(struct ft_outcome *o, enum ft_result result, const char *stage,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void set_outcome(struct ft_outcome *o, enum ft_result result, const char *stage,
                        const char *fmt, ...)
{
    va_list ap;
    o->result = result;
    o->stage = stage;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
    va_end(ap);
}

/* A failed comm-terminal call: explains it and frees what it allocated. Returns the cl_err. */
static int ct_failed(struct ft_station *st, char *buf, size_t len)
{
    int code = cl_client_explain(st->ct, buf, len);
    cl_client_end_call(st->ct);
    return code;
}

/* S9: the device's S8 answer, told to the comm-terminal. Failures are logged only: the S11
 * record is what counts (the comm-terminal accepts it from a claimed pack too). */
static void notify_reception(struct ft_station *st, const char *device_number, int ok,
                             const char *reason)
{
    struct ct__ReceptionNotice notice = {0};
    struct ct__ReceptionResponse response = {0};
    char number[32], text[WIRE_REASON_MAX], why[512];

    cl_copy_text(number, sizeof(number), device_number);
    ft_clip_text(text, sizeof(text), reason);
    notice.deviceNumber = number;
    notice.result = ok ? ct__Result__OK : ct__Result__NG;
    notice.reason = ok ? NULL : text;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (soap_call___ct__ReceptionNotice(cl_client_soap(st->ct), cl_client_endpoint(st->ct),
                                            NULL, &notice, &response) == SOAP_OK) {
            cl_client_end_call(st->ct);
            return;
        }
        if (ct_failed(st, why, sizeof(why)) != CL_ERR_CLOSED)
            break;
    }
    cl_log_warn("%s: reception notice (S9 %s) not recorded by the comm-terminal: %s", device_number,
                ok ? "OK" : "NG", why);
}

/* S11/S12. Returns CL_OK with the comm-terminal's answer, or its cl_err with why. */
static int send_write_result(struct ft_station *st, const struct ft_write_report *r,
                             int *replacement_known, int *replacement_ready, char *note,
                             size_t notelen, char *why, size_t whylen)
{
    struct ct__WriteResult request = {0};
    struct ct__ReceptionResponse response = {0};
    struct ft_write_report copy = *r; /* the generated struct wants writable strings */
    char reason[WIRE_REASON_MAX];
    int rc = CL_OK;

    request.deviceNumber = copy.device_number;
    request.result = copy.ok ? ct__Result__OK : ct__Result__NG;
    if (copy.ok) {
        request.certificateSerial = copy.serial;
        request.verificationValue = copy.verification;
    } else {
        request.reason = ft_clip_text(reason, sizeof(reason),
                                      copy.reason[0] ? copy.reason : "NG without a reason");
    }
    *replacement_known = 0;
    *replacement_ready = 0;
    note[0] = '\0';
    /* An OK write result may be sent again (the comm-terminal records the same serial once),
     * so a kept-alive connection found closed is retried. An NG is sent once: a lost answer may
     * hide a recorded NG whose replacement is already stored, and a second NG would then be
     * refused; the operator re-scans either way. */
    for (int attempt = 0; attempt < (copy.ok ? 2 : 1); attempt++) {
        rc = CL_OK;
        if (soap_call___ct__WriteResult(cl_client_soap(st->ct), cl_client_endpoint(st->ct), NULL,
                                        &request, &response) == SOAP_OK)
            break;
        if ((rc = ct_failed(st, why, whylen)) != CL_ERR_CLOSED)
            return rc;
    }
    if (rc != CL_OK)
        return rc;
    if (response.result != ct__Result__OK) {
        snprintf(why, whylen, "the comm-terminal answered NG: %s",
                 response.reason ? response.reason : "(no reason)");
        cl_client_end_call(st->ct);
        return CL_ERR_STATE;
    }
    if (!copy.ok) {
        *replacement_known = 1;
        *replacement_ready = response.replacementReady != NULL && *response.replacementReady;
    }
    ft_clip_text(note, notelen, response.reason);
    cl_client_end_call(st->ct);
    return CL_OK;
}

/* S5/S6: the pack for device_number, parsed (public fields only), and its text (malloc'd). */
static int fetch_pack(struct ft_station *st, const char *device_number, struct cl_pack *pack,
                      char **pack_text, struct ft_outcome *o)
{
    struct ct__CertificateTransmissionRequest request = {0};
    struct ct__CertificateTransmission response = {0};
    char number[32], why[512], shown[48];
    int rc = CL_OK;

    *pack_text = NULL;
    cl_copy_text(number, sizeof(number), device_number);
    request.deviceNumber = number;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = CL_OK;
        if (soap_call___ct__CertificateTransmissionRequest(cl_client_soap(st->ct),
                                                           cl_client_endpoint(st->ct), NULL,
                                                           &request, &response) == SOAP_OK)
            break;
        if ((rc = ct_failed(st, why, sizeof(why))) != CL_ERR_CLOSED)
            break;
    }
    if (rc != CL_OK) {
        set_outcome(o, FT_RESULT_NG, "S5", "comm-terminal: %s", why);
        return rc;
    }
    if (response.deviceNumber == NULL || strcmp(response.deviceNumber, device_number) != 0 ||
        response.pack == NULL) {
        set_outcome(o, FT_RESULT_NG, "S6", "comm-terminal sent the pack of %s instead",
                    cl_shown(response.deviceNumber, shown, sizeof(shown)));
        rc = CL_ERR_CONFLICT;
    } else if ((rc = cl_pack_parse(response.pack, pack, why, sizeof(why))) != CL_OK) {
        set_outcome(o, FT_RESULT_NG, "S6", "comm-terminal sent an unusable pack: %s", why);
    } else if (strcmp(pack->device_number, device_number) != 0) {
        set_outcome(o, FT_RESULT_NG, "S6", "comm-terminal sent a pack made for %s",
                    pack->device_number);
        cl_pack_free(pack);
        rc = CL_ERR_CONFLICT;
    } else if ((*pack_text = strdup(response.pack)) == NULL) {
        set_outcome(o, FT_RESULT_NG, "S6", "out of memory");
        cl_pack_free(pack);
        rc = CL_ERR_NOMEM;
    }
    cl_client_end_call(st->ct);
    return rc;
}

static void replacement_text(struct ft_outcome *o, const char *note)
{
    size_t n = strlen(o->reason);
    if (!o->replacement_known)
        return;
    if (o->replacement_ready)
        snprintf(o->reason + n, sizeof(o->reason) - n, "; replacement ready, re-scan");
    else
        snprintf(o->reason + n, sizeof(o->reason) - n, "; no replacement yet%s%s",
                 note[0] ? ": " : "", note);
}

void ft_station_process(struct ft_station *st, const char *device_number, struct ft_outcome *o)
{
    struct cl_pack pack;
    struct ft_write_report report;
    struct ft_write_answer reply;
    struct cl_transmission tx;
    char *pack_text = NULL, why[512], note[WIRE_REASON_MAX], device_reason[FT_REASON_MAX];
    long long start = now_ms(), accepted_at;
    unsigned long seq = 0;
    int accepted = 0, rc;

    memset(o, 0, sizeof(*o));
    memset(&report, 0, sizeof(report));
    cl_copy_text(o->device_number, sizeof(o->device_number), device_number);

    /* S5/S6 */
    if (fetch_pack(st, device_number, &pack, &pack_text, o) != CL_OK)
        goto done;
    cl_copy_text(o->serial, sizeof(o->serial), pack.serial_hex);
    if (atomic_load(st->stop) != 0) {
        set_outcome(o, FT_RESULT_NG, "S7",
                    "abandoned before the pack was sent: the factory terminal is stopping; "
                    "re-scan the device");
        goto done_pack;
    }

    /* S7/S8 with a fresh transmission key: published first, since the device may report its
     * write before S8 arrives here. */
    if (cl_transmission_new(&tx) != CL_OK) {
        set_outcome(o, FT_RESULT_NG, "S7", "no random transmission key could be drawn");
        goto done_pack;
    }
    publish(st, device_number, &pack, &tx);
    rc = ft_transmit(st->config, st->tls, &st->limits, device_number, &pack, pack_text, &tx,
                     &accepted, device_reason, sizeof(device_reason));
    cl_transmission_wipe(&tx);
    if (rc != CL_OK || !accepted) {
        struct ft_write_answer refused = {.ok = 0};
        if (rc != CL_OK)
            set_outcome(o, FT_RESULT_NG, "S7", "%s", device_reason);
        else
            set_outcome(o, FT_RESULT_NG, "S8", "device refused the pack: %s",
                        device_reason[0] ? device_reason : "(no reason given)");
        snprintf(refused.reason, sizeof(refused.reason),
                 "the transmission was not completed; "
                 "re-scan the device");
        retire(st, &refused);
        notify_reception(st, device_number, 0, o->reason); /* S9 NG */
        goto done_pack;
    }
    accepted_at = now_ms();
    notify_reception(st, device_number, 1, NULL); /* S9 OK */

    /* S10 */
    switch (
        wait_report(st, accepted_at + st->config->write_result_timeout_s * 1000, &report, &seq)) {
    case WAIT_ABANDONED:
        set_outcome(o, FT_RESULT_NG, "S10",
                    "abandoned while the device was writing: the factory terminal was stopped; "
                    "re-scan the device");
        retire(st, NULL);
        goto done_pack;
    case WAIT_TIMEOUT:
        retire(st, NULL);
        memset(&report, 0, sizeof(report));
        cl_copy_text(report.device_number, sizeof(report.device_number), device_number);
        snprintf(report.reason, sizeof(report.reason),
                 "no write result from the device within %lld s",
                 st->config->write_result_timeout_s);
        set_outcome(o, FT_RESULT_NG, "S10", "%s", report.reason);
        rc = send_write_result(st, &report, &o->replacement_known, &o->replacement_ready, note,
                               sizeof(note), why, sizeof(why));
        if (rc != CL_OK) {
            size_t n = strlen(o->reason);
            o->stage = "S11";
            snprintf(o->reason + n, sizeof(o->reason) - n, "; the comm-terminal was not told: %s",
                     why);
        }
        replacement_text(o, note);
        goto done_pack;
    case WAIT_REPORT:
        break;
    }

    /* S11/S12, then S13 through the waiting handler. */
    rc = send_write_result(st, &report, &o->replacement_known, &o->replacement_ready, note,
                           sizeof(note), why, sizeof(why));
    memset(&reply, 0, sizeof(reply));
    if (rc != CL_OK) {
        reply.ok = 0;
        if (rc == CL_ERR_SOAP_FAULT || rc == CL_ERR_STATE)
            snprintf(reply.reason, sizeof(reply.reason),
                     "the comm-terminal did not record the write result; re-scan the device");
        else
            snprintf(reply.reason, sizeof(reply.reason),
                     "comm-terminal unreachable; re-scan the device");
        set_outcome(o, FT_RESULT_NG, "S11", "the comm-terminal did not record the %s write: %s",
                    report.ok ? "OK" : "NG", why);
        o->replacement_known = 0;
    } else if (report.ok) {
        reply.ok = 1;
        set_outcome(o, FT_RESULT_OK, "S13", "%s", "");
    } else {
        reply.ok = 1; /* the NG write is recorded */
        set_outcome(o, FT_RESULT_NG, "S10", "write failed on the device: %s",
                    report.reason[0] ? report.reason : "(no reason given)");
        replacement_text(o, note);
    }
    answer(st, seq, &reply);
    retire(st, NULL);

done_pack:
    cl_pack_free(&pack);
    free(pack_text);
done:
    o->elapsed_ms = now_ms() - start;
    if (o->result == FT_RESULT_OK)
        cl_log_info("%s: OK, certificate %s written and recorded", device_number, o->serial);
    else
        cl_log_warn("%s: NG at %s: %s", device_number, o->stage, o->reason);
}
