/* bench_reconnect.c: what a reconnect costs on each certline link, full versus resumed TLS. */

/* Usage: bench_reconnect OUT_DIR [--reconnects N] [--rounds R] [--pki DIR]
 *
 * One process, loopback, the project's own cl_client and cl_server with real mutual TLS (the
 * policy of common/tls.c) and one real SOAP call per reconnect. Per link, the client and server
 * are set up as the programs set up theirs (client mode, verified-chain caches, held signing
 * tables), with the test PKI identities closest to the link's (tests/pki/make-test-pki.sh, made
 * into a temporary folder unless --pki names one). The handlers answer at once: what is measured
 * is the transport, not the server's work.
 *
 * Cases, N reconnects each (default 200), in R rounds (default 3) interleaved over the links:
 *   full        a fresh cl_client for every connection: no session to offer, a full handshake.
 *               For a client with a verified-chain cache, the cache is also fresh (empty), so
 *               the server's chain is verified in full, as the first time.
 *   from cache  (cached clients only) a fresh cl_client on the link's long-lived TLS context
 *               whose cache holds the server's chain: a full handshake, chain signatures not
 *               checked again (what S7 is after a model's first device: the factory terminal
 *               uses a new client per device).
 *   resumed     one kept client; the connection is closed after every call, so the next call
 *               reconnects and offers the saved session. cl_client_handshakes must count every
 *               reconnect as resumed, or the benchmark fails.
 * The wall time of one reconnect runs from before cl_client_new (or the call, for the kept
 * client) to after the connection is closed again (cl_client_free, or soap_closesock).
 * Client CPU: the calling thread's CPU clock over those windows. Server CPU: the process's CPU
 * clock minus the calling thread's over the whole case (the other threads are the servers'),
 * after the servers have settled. EC operations: calls of mbedtls_ecp_muladd_restartable (one
 * per ECDSA verification) and the other calls of mbedtls_ecp_mul_restartable (ECDH key and
 * secret, ECDSA signing), counted per side by interposing on libmbedcrypto's exported symbols
 * (this needs mbedTLS as a shared library, as Debian ships it).
 *
 * Prints a summary and a detailed table; writes OUT_DIR/bench-reconnect.json. Exit 0 if every
 * call was served and every resumption happened, 1 otherwise, 2 on bad usage. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/ecp.h>
#include <mbedtls/version.h>

#include "error.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_server.h"
#include "test_pki.h"
#include "tls.h"
#include "tls_verify.h"

#define ROUNDS_MAX 20
#define RECONNECTS_MAX 100000
#define PACK_FILLER_BYTES 3000 /* about a real pack's size (S7 carries one) */
#define SETTLE_US 50000        /* lets the server threads finish closing before CPU is read */
#define WARMUP_CALLS 5
#define DEVICE_NUMBER "3012-000001"

/* ---- public-key operations: counted per side by interposition on libmbedcrypto ---- */

static pthread_t client_thread; /* the calling thread; every other thread is a server's */
static atomic_ulong ec_verify[2], ec_mul[2]; /* [0] client, [1] server */
/* Inside an ECDSA verification: its own multiplications are not counted again. */
static _Thread_local int in_verify;

static int side_of_caller(void)
{
    return pthread_equal(pthread_self(), client_thread) ? 0 : 1;
}

static void *real_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "bench_reconnect: %s not found in libmbedcrypto: %s\n", name, dlerror());
        abort();
    }
    return p;
}

typedef int (*ecp_mul_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                          const mbedtls_ecp_point *, int (*)(void *, unsigned char *, size_t),
                          void *, mbedtls_ecp_restart_ctx *);
typedef int (*ecp_muladd_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                             const mbedtls_ecp_point *, const mbedtls_mpi *,
                             const mbedtls_ecp_point *, mbedtls_ecp_restart_ctx *);

int mbedtls_ecp_mul_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R, const mbedtls_mpi *m,
                                const mbedtls_ecp_point *P,
                                int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                                mbedtls_ecp_restart_ctx *rs_ctx)
{
    static _Atomic(ecp_mul_fn) real;
    ecp_mul_fn f = atomic_load(&real);
    if (f == NULL) {
        void *p = real_symbol("mbedtls_ecp_mul_restartable");
        memcpy(&f, &p, sizeof(f));
        atomic_store(&real, f);
    }
    if (!in_verify)
        atomic_fetch_add(&ec_mul[side_of_caller()], 1);
    return f(grp, R, m, P, f_rng, p_rng, rs_ctx);
}

int mbedtls_ecp_muladd_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R,
                                   const mbedtls_mpi *m, const mbedtls_ecp_point *P,
                                   const mbedtls_mpi *n, const mbedtls_ecp_point *Q,
                                   mbedtls_ecp_restart_ctx *rs_ctx)
{
    static _Atomic(ecp_muladd_fn) real;
    ecp_muladd_fn f = atomic_load(&real);
    if (f == NULL) {
        void *p = real_symbol("mbedtls_ecp_muladd_restartable");
        memcpy(&f, &p, sizeof(f));
        atomic_store(&real, f);
    }
    int ret;
    atomic_fetch_add(&ec_verify[side_of_caller()], 1);
    in_verify++; /* it multiplies through mbedtls_ecp_mul_restartable itself */
    ret = f(grp, R, m, P, n, Q, rs_ctx);
    in_verify--;
    return ret;
}

/* ---- the handlers: answer at once ---- */

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    response->requestId = request->requestId;
    response->__sizeItem = 1;
    response->item = soap_malloc(soap, sizeof(*response->item));
    if (response->item == NULL)
        return soap_receiver_fault(soap, "out of memory", NULL);
    response->item[0].deviceNumber = request->deviceNumber[0];
    response->item[0].pack = soap_strdup(soap, "{}");
    return SOAP_OK;
}

int __ca__CheckIn(struct soap *soap, struct ca__CheckIn *request,
                  struct ca__CheckInResponse *response)
{
    (void)soap;
    response->deviceNumber = request->claimedDeviceNumber;
    response->state = ca__DeviceState__INSTALLED;
    return SOAP_OK;
}

int __ct__ReceptionNotice(struct soap *soap, struct ct__ReceptionNotice *request,
                          struct ct__ReceptionResponse *response)
{
    (void)soap;
    response->deviceNumber = request->deviceNumber;
    response->result = ct__Result__OK;
    return SOAP_OK;
}

int __dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                                   struct dev__ReceptionResponse *response)
{
    (void)soap;
    response->deviceNumber = request->deviceNumber;
    response->result = dev__Result__OK;
    return SOAP_OK;
}

int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                        struct line__ReceptionResponse *response)
{
    (void)soap;
    response->deviceNumber = request->deviceNumber;
    response->result = line__Result__OK;
    return SOAP_OK;
}

/* ---- the links ---- */

enum call_kind { CALL_CA_BATCH, CALL_CT_NOTICE, CALL_DEV_PACK, CALL_LINE_RESULT, CALL_CA_CHECKIN };

struct link_def {
    const char *name;                  /* as printed */
    const char *key;                   /* in the JSON */
    const char *client_id, *server_id; /* test PKI identities */
    const char *server_name;
    enum cl_role server_role;
    enum cl_interface iface;
    int client_cached;        /* cl_tls_share_verified_chains on the client */
    int client_signing_table; /* cl_tls_keep_signing_table on the client */
    int server_cached;        /* the server records verified chains */
    int server_signing_table;
    enum call_kind call;
    const char *call_name;
};

/* As the programs set theirs up: comm-terminal/ca_link.c, factory-terminal/ft_main.c and
 * line_station.c, device-agent/da_serve.c (S10 uses the common identity) and da_commands.c. */
static const struct link_def links[] = {
    {"comm-terminal -> ca-server", "comm-terminal_to_ca-server", "comm-terminal", "ca-server",
     "ca.certline.test", CL_ROLE_CA_SERVER, CL_IFACE_CA, 0, 0, 0, 0, CALL_CA_BATCH,
     "ca:CertificateTransmissionRequest (1 number)"},
    {"factory-terminal -> comm-terminal", "factory-terminal_to_comm-terminal",
     "factory-terminal-1001", "comm-terminal", "comm.certline.test", CL_ROLE_COMM_TERMINAL,
     CL_IFACE_COMM_TERMINAL, 1, 1, 0, 0, CALL_CT_NOTICE, "ct:ReceptionNotice (S9)"},
    {"factory-terminal -> device (S7)", "factory-terminal_to_device", "factory-terminal-1001",
     "device-common-3012", "3012 common", CL_ROLE_DEVICE_COMMON, CL_IFACE_DEVICE, 1, 1, 1, 0,
     CALL_DEV_PACK, "dev:CertificateTransmission (3,000-byte pack)"},
    {"device -> factory-terminal (S10)", "device_to_factory-terminal", "device-common-3012",
     "factory-terminal-1001", "line-1001.certline.test", CL_ROLE_FACTORY_TERMINAL, CL_IFACE_LINE, 1,
     0, 1, 1, CALL_LINE_RESULT, "line:WriteResult (S10)"},
    {"device -> ca-server (check-in)", "device_to_ca-server", "device-3012-000001", "ca-server",
     "ca.certline.test", CL_ROLE_CA_SERVER, CL_IFACE_CA, 0, 0, 0, 0, CALL_CA_CHECKIN, "ca:CheckIn"},
};
#define LINK_COUNT (sizeof(links) / sizeof(links[0]))

enum case_kind { CASE_FULL, CASE_FROM_CACHE, CASE_RESUMED, CASE_COUNT };
static const char *const case_names[CASE_COUNT] = {"full", "from cache", "resumed"};
static const char *const case_keys[CASE_COUNT] = {"full", "full_from_cache", "resumed"};

struct case_result {
    int used;
    double *wall_ms; /* rounds * reconnects samples */
    size_t n;
    double round_p50[ROUNDS_MAX];
    double client_cpu_ms[ROUNDS_MAX], server_cpu_ms[ROUNDS_MAX]; /* per reconnect */
    unsigned long ec_verify[2], ec_mul[2];                       /* totals over all rounds */
    unsigned long handshakes, resumed, chains_full, chains_cached;
};

struct link_run {
    const struct link_def *def;
    struct cl_verify_cache *server_cache;
    struct tp_server server;
    char endpoint[128];
    struct cl_tls *client_tls;            /* kept for the whole run, as a program keeps its own */
    struct cl_verify_cache *client_cache; /* its long-lived cache (cached clients) */
    struct case_result cases[CASE_COUNT];
};

static struct tp_dir dir; /* the test PKI made here (dir.top set), or named by --pki */
static char pack_filler[PACK_FILLER_BYTES + 1];
static struct cl_soap_limits client_limits;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "bench_reconnect: FAILED: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- set-up ---- */

static struct cl_tls *new_tls(enum cl_tls_side side, const char *identity)
{
    char err[256];
    struct cl_tls *tls = NULL;

    if (tp_tls_new(side, dir.pki, identity, NULL, &tls, err, sizeof(err)) != CL_OK)
        die("TLS %s: %s", identity, err);
    return tls;
}

static struct cl_verify_cache *new_cache(void)
{
    struct cl_verify_cache *cache = NULL;
    if (cl_verify_cache_new(CL_VERIFY_CACHE_DEFAULT_ENTRIES, CL_VERIFY_CACHE_DEFAULT_MAX_AGE_S,
                            &cache) != CL_OK)
        die("cannot make a verified-chain cache");
    return cache;
}

static void link_start(struct link_run *lr, const struct link_def *def)
{
    char err[256];
    struct tp_server_options options = {.iface = def->iface, .max_connections = 16};

    memset(lr, 0, sizeof(*lr));
    lr->def = def;
    if (def->server_cached)
        lr->server_cache = new_cache();
    options.cache = lr->server_cache;
    options.signing_table = def->server_signing_table;
    if (tp_server_start(&lr->server, dir.pki, def->server_id, &options, err, sizeof(err)) != CL_OK)
        die("server for %s: %s", def->name, err);
    snprintf(lr->endpoint, sizeof(lr->endpoint), "https://127.0.0.1:%d/certline", lr->server.port);

    lr->client_tls = new_tls(CL_TLS_CLIENT, def->client_id);
    if (def->client_cached) {
        lr->client_cache = new_cache();
        if (cl_tls_share_verified_chains(lr->client_tls, lr->client_cache) != CL_OK)
            die("client cache for %s", def->name);
    }
    if (def->client_signing_table &&
        cl_tls_keep_signing_table(lr->client_tls, err, sizeof(err)) != CL_OK)
        die("client signing table for %s: %s", def->name, err);
}

static void link_stop(struct link_run *lr)
{
    tp_server_stop(&lr->server);
    cl_tls_free(lr->client_tls);
    cl_verify_cache_free(lr->server_cache);
    cl_verify_cache_free(lr->client_cache);
    for (int c = 0; c < CASE_COUNT; c++)
        free(lr->cases[c].wall_ms);
}

static struct cl_client *new_client(const struct link_run *lr)
{
    struct cl_client_settings settings;
    struct cl_client *client = NULL;
    char err[256];

    settings.endpoint = lr->endpoint;
    settings.server_name = lr->def->server_name;
    settings.server_role = lr->def->server_role;
    settings.limits = client_limits;
    if (cl_client_new(&settings, lr->client_tls, &client, err, sizeof(err)) != CL_OK)
        die("client for %s: %s", lr->def->name, err);
    return client;
}

/* The link's call, once; dies unless it is served with the expected answer. */
static void call(const struct link_run *lr, struct cl_client *client)
{
    struct soap *soap = cl_client_soap(client);
    const char *url = cl_client_endpoint(client);
    char number[] = DEVICE_NUMBER, id[] = "bench-reconnect", why[512];
    int ok = 0;

    switch (lr->def->call) {
    case CALL_CA_BATCH: {
        char *numbers[] = {number};
        struct ca__CertificateTransmissionRequest req = {0};
        struct ca__CertificateTransmission resp = {0};
        req.requestId = id;
        req.replacement = false_;
        req.__sizeDeviceNumber = 1;
        req.deviceNumber = numbers;
        ok = soap_call___ca__CertificateTransmissionRequest(soap, url, NULL, &req, &resp) ==
                 SOAP_OK &&
             resp.__sizeItem == 1;
        break;
    }
    case CALL_CT_NOTICE: {
        struct ct__ReceptionNotice req = {0};
        struct ct__ReceptionResponse resp = {0};
        req.deviceNumber = number;
        req.result = ct__Result__OK;
        ok = soap_call___ct__ReceptionNotice(soap, url, NULL, &req, &resp) == SOAP_OK &&
             resp.result == ct__Result__OK;
        break;
    }
    case CALL_DEV_PACK: {
        struct dev__CertificateTransmission req = {0};
        struct dev__ReceptionResponse resp = {0};
        req.deviceNumber = number;
        req.pack = pack_filler;
        ok = soap_call___dev__CertificateTransmission(soap, url, NULL, &req, &resp) == SOAP_OK &&
             resp.result == dev__Result__OK;
        break;
    }
    case CALL_LINE_RESULT: {
        struct line__WriteResult req = {0};
        struct line__ReceptionResponse resp = {0};
        req.deviceNumber = number;
        req.result = line__Result__OK;
        ok = soap_call___line__WriteResult(soap, url, NULL, &req, &resp) == SOAP_OK &&
             resp.result == line__Result__OK;
        break;
    }
    case CALL_CA_CHECKIN: {
        struct ca__CheckIn req = {0};
        struct ca__CheckInResponse resp = {0};
        req.claimedDeviceNumber = number;
        ok = soap_call___ca__CheckIn(soap, url, NULL, &req, &resp) == SOAP_OK &&
             resp.deviceNumber != NULL && resp.state == ca__DeviceState__INSTALLED;
        break;
    }
    }
    if (!ok) {
        if (soap->error != SOAP_OK)
            (void)cl_client_explain(client, why, sizeof(why));
        else
            snprintf(why, sizeof(why), "unexpected answer");
        die("%s: call not served: %s", lr->def->name, why);
    }
    cl_client_end_call(client);
}

/* Closes the kept connection: the next call reconnects (as after the server's idle timeout). */
static void close_connection(struct cl_client *client)
{
    struct soap *soap = cl_client_soap(client);
    soap->keep_alive = 0;
    (void)soap_closesock(soap);
}

static void handshakes(struct cl_client *client, unsigned *total, unsigned *resumed)
{
    cl_client_handshakes(client, total, resumed);
}

static void cache_counts(struct cl_verify_cache *cache, unsigned long *full, unsigned long *cached)
{
    *full = *cached = 0;
    if (cache != NULL)
        cl_verify_cache_counts(cache, full, cached);
}

/* ---- one case: N reconnects ---- */

static void run_case(struct link_run *lr, enum case_kind kind, int round, size_t n)
{
    struct case_result *r = &lr->cases[kind];
    struct cl_client *kept = NULL;
    unsigned t0_total = 0, t0_resumed = 0, t, res;
    unsigned long f0, c0, f1, c1;
    unsigned long v0[2], m0[2];
    double proc0, thr0, client_cpu = 0;
    double *wall = r->wall_ms + r->n;

    if (kind == CASE_RESUMED) {
        kept = new_client(lr);
        call(lr, kept); /* the full handshake whose session is then resumed */
        close_connection(kept);
        handshakes(kept, &t0_total, &t0_resumed);
        if (t0_total != 1 || t0_resumed != 0)
            die("%s: the first connection of a kept client made %u handshakes (%u resumed)",
                lr->def->name, t0_total, t0_resumed);
    }
    usleep(SETTLE_US);
    cache_counts(lr->client_cache, &f0, &c0);
    for (int s = 0; s < 2; s++) {
        v0[s] = atomic_load(&ec_verify[s]);
        m0[s] = atomic_load(&ec_mul[s]);
    }
    proc0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    thr0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);

    for (size_t i = 0; i < n; i++) {
        struct cl_verify_cache *fresh = NULL;
        double w0, w1, c_0, c_1;

        if (kind == CASE_FULL && lr->def->client_cached) {
            fresh = new_cache(); /* nothing verified yet: the chain is verified in full */
            (void)cl_tls_share_verified_chains(lr->client_tls, fresh);
        }
        c_0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
        w0 = mono_s();
        if (kind == CASE_RESUMED) {
            call(lr, kept);
            close_connection(kept);
        } else {
            struct cl_client *client = new_client(lr);
            call(lr, client);
            handshakes(client, &t, &res);
            if (t != 1 || res != 0)
                die("%s, %s: a fresh client made %u handshakes (%u resumed)", lr->def->name,
                    case_names[kind], t, res);
            cl_client_free(client);
        }
        w1 = mono_s();
        c_1 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
        wall[i] = (w1 - w0) * 1e3;
        client_cpu += c_1 - c_0;
        if (fresh != NULL) {
            unsigned long ff, fc;
            cl_verify_cache_counts(fresh, &ff, &fc);
            if (ff != 1 || fc != 0)
                die("%s, full: a fresh cache verified %lu chain(s) in full, %lu from the cache",
                    lr->def->name, ff, fc);
            r->chains_full += ff;
            (void)cl_tls_share_verified_chains(lr->client_tls, lr->client_cache);
            cl_verify_cache_free(fresh);
        }
    }

    if (kind == CASE_RESUMED) {
        handshakes(kept, &t, &res);
        r->handshakes += t - t0_total;
        r->resumed += res - t0_resumed;
        if (t - t0_total != n || res - t0_resumed != n)
            die("%s: %zu reconnects of a kept client made %u handshakes, %u of them resumed: "
                "resumption is not happening",
                lr->def->name, n, t - t0_total, res - t0_resumed);
        cl_client_free(kept); /* already closed: nothing more for the server */
    } else {
        r->handshakes += n;
    }
    usleep(SETTLE_US);
    {
        double thr = cpu_s(CLOCK_THREAD_CPUTIME_ID) - thr0;
        double proc = cpu_s(CLOCK_PROCESS_CPUTIME_ID) - proc0;
        r->client_cpu_ms[round] = client_cpu * 1e3 / (double)n;
        r->server_cpu_ms[round] = (proc - thr) * 1e3 / (double)n;
    }
    for (int s = 0; s < 2; s++) {
        r->ec_verify[s] += atomic_load(&ec_verify[s]) - v0[s];
        r->ec_mul[s] += atomic_load(&ec_mul[s]) - m0[s];
    }
    cache_counts(lr->client_cache, &f1, &c1);
    r->chains_full += f1 - f0;
    r->chains_cached += c1 - c0;
    if (kind == CASE_FROM_CACHE && (f1 - f0 != 0 || c1 - c0 != n))
        die("%s, from cache: %lu chain(s) verified in full and %lu from the cache, expected 0 "
            "and %zu",
            lr->def->name, f1 - f0, c1 - c0, n);
    if (kind == CASE_RESUMED && (f1 - f0 != 0 || c1 - c0 != 0))
        die("%s, resumed: the verified-chain cache was consulted (%lu full, %lu cached)",
            lr->def->name, f1 - f0, c1 - c0);
    r->n += n;
}

/* Untimed: a few connections of each kind, so that every code path and page is warm. */
static void warm_up(struct link_run *lr)
{
    struct cl_client *kept = new_client(lr);
    for (int i = 0; i < WARMUP_CALLS; i++) {
        struct cl_client *client = new_client(lr);
        call(lr, client);
        cl_client_free(client);
        call(lr, kept);
        close_connection(kept);
    }
    cl_client_free(kept);
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Nearest-rank quantile of sorted values. */
static double quantile(const double *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static double median_of(const double *values, size_t n)
{
    double copy[ROUNDS_MAX];
    memcpy(copy, values, n * sizeof(*copy));
    qsort(copy, n, sizeof(*copy), cmp_double);
    return quantile(copy, n, 0.5);
}

/* Median of unsorted samples (sorts a copy). */
static double median_of_samples(const double *values, size_t n)
{
    double *copy = malloc(n * sizeof(*copy)), m;
    if (copy == NULL)
        die("out of memory");
    memcpy(copy, values, n * sizeof(*copy));
    qsort(copy, n, sizeof(*copy), cmp_double);
    m = quantile(copy, n, 0.5);
    free(copy);
    return m;
}

static double min_of(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double max_of(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* ---- the machine ---- */

struct machine_snapshot {
    double load[3];
    double busy_s; /* all CPUs, not idle or iowait, from /proc/stat */
    double own_cpu_s;
    double wall_s;
};

static void machine_snapshot(struct machine_snapshot *m)
{
    FILE *f;
    unsigned long long v[10] = {0};
    long hz = sysconf(_SC_CLK_TCK);

    memset(m, 0, sizeof(*m));
    if ((f = fopen("/proc/loadavg", "r")) != NULL) {
        if (fscanf(f, "%lf %lf %lf", &m->load[0], &m->load[1], &m->load[2]) != 3)
            m->load[0] = m->load[1] = m->load[2] = -1;
        fclose(f);
    }
    if ((f = fopen("/proc/stat", "r")) != NULL) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                   &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8)
            /* user nice system [idle] [iowait] irq softirq steal */
            m->busy_s = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
        fclose(f);
    }
    m->own_cpu_s = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    m->wall_s = mono_s();
}

static void cpu_model(char *out, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];

    snprintf(out, len, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon != NULL) {
                colon += colon[1] == ' ' ? 2 : 1;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(out, len, "%s", colon);
            }
            break;
        }
    fclose(f);
}

/* ---- the test PKI ---- */

static void make_pki(void)
{
    if (tp_dir_make(&dir, "certline-bench-reconnect", NULL, NULL) != 0)
        die("cannot make the test PKI in %s", dir.pki);
}

static void remove_pki(void)
{
    if (dir.top[0] != '\0')
        (void)tp_dir_remove(&dir);
    dir.top[0] = '\0';
}

/* ---- output ---- */

static struct link_run runs[LINK_COUNT];

static void print_tables(size_t rounds, size_t n)
{
    printf("\nPer reconnect: wall ms = client made or reused, TCP connect, TLS handshake, one SOAP "
           "call, close;\np50 and p99 of %zu samples per case (%zu rounds of %zu). CPU ms per "
           "reconnect: median of the rounds'\naverages. full = new session, chain verified in "
           "full; cache = new session, chain from the\nverified-chain cache; res = resumed "
           "session.\n\n",
           rounds * n, rounds, n);
    printf("%-34s %-6s %13s %13s %13s  %-25s  %-25s\n", "link", "mode", "full p50/p99",
           "cache p50/p99", "res p50/p99", "client CPU full/cache/res",
           "server CPU full/cache/res");
    for (size_t l = 0; l < LINK_COUNT; l++) {
        struct link_run *lr = &runs[l];
        char cell[CASE_COUNT][32], cpu[2][64];

        for (int side = 0; side < 2; side++) {
            cpu[side][0] = '\0';
            for (int c = 0; c < CASE_COUNT; c++) {
                struct case_result *r = &lr->cases[c];
                size_t len = strlen(cpu[side]);
                double v = side == 0 ? median_of(r->client_cpu_ms, rounds)
                                     : median_of(r->server_cpu_ms, rounds);
                if (r->used)
                    snprintf(cpu[side] + len, sizeof(cpu[side]) - len, "%s%.2f", c ? " / " : "", v);
                else
                    snprintf(cpu[side] + len, sizeof(cpu[side]) - len, "%s-", c ? " / " : "");
            }
        }
        for (int c = 0; c < CASE_COUNT; c++) {
            struct case_result *r = &lr->cases[c];
            if (!r->used)
                snprintf(cell[c], sizeof(cell[c]), "-");
            else
                snprintf(cell[c], sizeof(cell[c]), "%.2f/%.2f", quantile(r->wall_ms, r->n, 0.5),
                         quantile(r->wall_ms, r->n, 0.99));
        }
        printf("%-34s %-6s %13s %13s %13s  %-25s  %-25s\n", lr->def->name,
               lr->def->client_cached ? "cached" : "plain", cell[CASE_FULL], cell[CASE_FROM_CACHE],
               cell[CASE_RESUMED], cpu[0], cpu[1]);
    }

    printf("\nDetail (wall ms over all samples; round p50 = the lowest and highest of the rounds' "
           "medians;\nEC ops per reconnect: ECDSA verifications + other scalar multiplications, "
           "client | server):\n\n");
    printf("%-34s %-10s %7s %7s %7s %7s %7s %13s %8s %8s %13s %9s\n", "link", "case", "n", "min",
           "p50", "p99", "max", "round p50", "cli CPU", "srv CPU", "EC cli|srv", "res/hs");
    for (size_t l = 0; l < LINK_COUNT; l++) {
        struct link_run *lr = &runs[l];
        for (int c = 0; c < CASE_COUNT; c++) {
            struct case_result *r = &lr->cases[c];
            char spread[32], ec[32];
            if (!r->used)
                continue;
            snprintf(spread, sizeof(spread), "%.2f-%.2f", min_of(r->round_p50, rounds),
                     max_of(r->round_p50, rounds));
            snprintf(ec, sizeof(ec), "%.0f+%.0f | %.0f+%.0f", (double)r->ec_verify[0] / r->n,
                     (double)r->ec_mul[0] / r->n, (double)r->ec_verify[1] / r->n,
                     (double)r->ec_mul[1] / r->n);
            printf("%-34s %-10s %7zu %7.2f %7.2f %7.2f %7.2f %13s %8.2f %8.2f %13s %4lu/%-4lu\n",
                   lr->def->name, case_names[c], r->n, r->wall_ms[0],
                   quantile(r->wall_ms, r->n, 0.5), quantile(r->wall_ms, r->n, 0.99),
                   r->wall_ms[r->n - 1], spread, median_of(r->client_cpu_ms, rounds),
                   median_of(r->server_cpu_ms, rounds), ec, r->resumed, r->handshakes);
        }
    }
}

/* Rounded to 0.1 microsecond (figures in ms), so that the JSON stays readable. */
static double r4(double v)
{
    return (double)(long long)(v * 1e4 + (v < 0 ? -0.5 : 0.5)) / 1e4;
}

static cJSON *json_array(const double *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(r4(v[i])));
    return a;
}

static int write_json(const char *out_dir, size_t rounds, size_t n,
                      const struct machine_snapshot *m0, const struct machine_snapshot *m1,
                      const char *started)
{
    char path[PATH_MAX], model[256];
    cJSON *root = cJSON_CreateObject(), *machine, *jlinks;
    struct utsname un;
    char *text;
    FILE *f;
    double wall = m1->wall_s - m0->wall_s;
    double other = (m1->busy_s - m0->busy_s) - (m1->own_cpu_s - m0->own_cpu_s);

    cpu_model(model, sizeof(model));
    uname(&un);
    cJSON_AddStringToObject(root, "benchmark", "bench_reconnect");
    cJSON_AddStringToObject(root, "started_utc", started);
    cJSON_AddNumberToObject(root, "reconnects_per_round", (double)n);
    cJSON_AddNumberToObject(root, "rounds", (double)rounds);
    cJSON_AddStringToObject(root, "mbedtls", MBEDTLS_VERSION_STRING);
    machine = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(machine, "cpu", model);
    cJSON_AddNumberToObject(machine, "nproc", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(machine, "kernel", un.release);
    cJSON_AddItemToObject(machine, "loadavg_start", json_array(m0->load, 3));
    cJSON_AddItemToObject(machine, "loadavg_end", json_array(m1->load, 3));
    cJSON_AddNumberToObject(machine, "wall_s", r4(wall));
    cJSON_AddNumberToObject(machine, "own_cpu_s", r4(m1->own_cpu_s - m0->own_cpu_s));
    cJSON_AddNumberToObject(machine, "other_cpu_s", r4(other));
    cJSON_AddNumberToObject(machine, "other_cores_busy", r4(wall > 0 ? other / wall : 0));
    jlinks = cJSON_AddArrayToObject(root, "links");
    for (size_t l = 0; l < LINK_COUNT; l++) {
        struct link_run *lr = &runs[l];
        cJSON *jl = cJSON_CreateObject(), *jc = cJSON_AddObjectToObject(jl, "cases");
        cJSON_AddStringToObject(jl, "link", lr->def->name);
        cJSON_AddStringToObject(jl, "key", lr->def->key);
        cJSON_AddStringToObject(jl, "client_mode", lr->def->client_cached ? "cached" : "plain");
        cJSON_AddStringToObject(jl, "client_identity", lr->def->client_id);
        cJSON_AddStringToObject(jl, "server_identity", lr->def->server_id);
        cJSON_AddBoolToObject(jl, "client_signing_table", lr->def->client_signing_table);
        cJSON_AddBoolToObject(jl, "server_records_chains", lr->def->server_cached);
        cJSON_AddBoolToObject(jl, "server_signing_table", lr->def->server_signing_table);
        cJSON_AddStringToObject(jl, "call", lr->def->call_name);
        for (int c = 0; c < CASE_COUNT; c++) {
            struct case_result *r = &lr->cases[c];
            cJSON *o, *w;
            if (!r->used)
                continue;
            o = cJSON_AddObjectToObject(jc, case_keys[c]);
            cJSON_AddNumberToObject(o, "n", (double)r->n);
            w = cJSON_AddObjectToObject(o, "wall_ms");
            cJSON_AddNumberToObject(w, "min", r4(r->wall_ms[0]));
            cJSON_AddNumberToObject(w, "p50", r4(quantile(r->wall_ms, r->n, 0.5)));
            cJSON_AddNumberToObject(w, "p90", r4(quantile(r->wall_ms, r->n, 0.9)));
            cJSON_AddNumberToObject(w, "p99", r4(quantile(r->wall_ms, r->n, 0.99)));
            cJSON_AddNumberToObject(w, "max", r4(r->wall_ms[r->n - 1]));
            cJSON_AddItemToObject(w, "round_p50", json_array(r->round_p50, rounds));
            cJSON_AddItemToObject(o, "client_cpu_ms_per_reconnect_rounds",
                                  json_array(r->client_cpu_ms, rounds));
            cJSON_AddItemToObject(o, "server_cpu_ms_per_reconnect_rounds",
                                  json_array(r->server_cpu_ms, rounds));
            cJSON_AddNumberToObject(o, "client_cpu_ms_per_reconnect",
                                    r4(median_of(r->client_cpu_ms, rounds)));
            cJSON_AddNumberToObject(o, "server_cpu_ms_per_reconnect",
                                    r4(median_of(r->server_cpu_ms, rounds)));
            cJSON_AddNumberToObject(o, "client_ecdsa_verify_per_reconnect",
                                    (double)r->ec_verify[0] / r->n);
            cJSON_AddNumberToObject(o, "client_ec_mul_per_reconnect", (double)r->ec_mul[0] / r->n);
            cJSON_AddNumberToObject(o, "server_ecdsa_verify_per_reconnect",
                                    (double)r->ec_verify[1] / r->n);
            cJSON_AddNumberToObject(o, "server_ec_mul_per_reconnect", (double)r->ec_mul[1] / r->n);
            cJSON_AddNumberToObject(o, "handshakes", (double)r->handshakes);
            cJSON_AddNumberToObject(o, "resumed", (double)r->resumed);
            cJSON_AddNumberToObject(o, "chains_verified_in_full", (double)r->chains_full);
            cJSON_AddNumberToObject(o, "chains_from_cache", (double)r->chains_cached);
        }
        cJSON_AddItemToArray(jlinks, jl);
    }
    snprintf(path, sizeof(path), "%s/bench-reconnect.json", out_dir);
    text = cJSON_Print(root);
    cJSON_Delete(root);
    if (text == NULL || (f = fopen(path, "w")) == NULL) {
        fprintf(stderr, "bench_reconnect: cannot write %s: %s\n", path, strerror(errno));
        free(text);
        return -1;
    }
    fprintf(f, "%s\n", text);
    free(text);
    if (fclose(f) != 0)
        return -1;
    printf("\nwrote %s\n", path);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_reconnect OUT_DIR [--reconnects N] [--rounds R] [--pki DIR]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *out_dir = NULL;
    size_t n = 200, rounds = 3;
    struct machine_snapshot m0, m1;
    char started[32];
    time_t now = time(NULL);

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reconnects") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--pki") == 0 && i + 1 < argc)
            snprintf(dir.pki, sizeof(dir.pki), "%s", argv[++i]);
        else if (argv[i][0] != '-' && out_dir == NULL)
            out_dir = argv[i];
        else
            usage();
    }
    if (out_dir == NULL || n < 1 || n > RECONNECTS_MAX || rounds < 1 || rounds > ROUNDS_MAX)
        usage();
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
        die("cannot make %s: %s", out_dir, strerror(errno));

    signal(SIGPIPE, SIG_IGN); /* as every certline program */
    client_thread = pthread_self();
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    memset(pack_filler, 'p', PACK_FILLER_BYTES);
    cl_soap_limits_default(&client_limits);
    if (dir.pki[0] == '\0')
        make_pki();
    atexit(remove_pki);

    for (size_t l = 0; l < LINK_COUNT; l++) {
        link_start(&runs[l], &links[l]);
        for (int c = 0; c < CASE_COUNT; c++) {
            struct case_result *r = &runs[l].cases[c];
            r->used = c != CASE_FROM_CACHE || links[l].client_cached;
            if (r->used && (r->wall_ms = calloc(n * rounds, sizeof(double))) == NULL)
                die("out of memory");
        }
        warm_up(&runs[l]);
    }

    machine_snapshot(&m0);
    printf("bench_reconnect %s: %zu reconnects per case, %zu rounds; load average %.2f %.2f %.2f\n",
           started, n, rounds, m0.load[0], m0.load[1], m0.load[2]);
    fflush(stdout);
    for (size_t round = 0; round < rounds; round++) {
        for (size_t l = 0; l < LINK_COUNT; l++)
            for (int c = 0; c < CASE_COUNT; c++) {
                struct case_result *r = &runs[l].cases[c];
                if (!r->used)
                    continue;
                run_case(&runs[l], (enum case_kind)c, (int)round, n);
                r->round_p50[round] = median_of_samples(r->wall_ms + r->n - n, n);
            }
        fprintf(stderr, "bench_reconnect: round %zu of %zu done\n", round + 1, rounds);
    }
    machine_snapshot(&m1);

    for (size_t l = 0; l < LINK_COUNT; l++)
        for (int c = 0; c < CASE_COUNT; c++)
            if (runs[l].cases[c].used)
                qsort(runs[l].cases[c].wall_ms, runs[l].cases[c].n, sizeof(double), cmp_double);
    print_tables(rounds, n);
    {
        double wall = m1.wall_s - m0.wall_s;
        double other = (m1.busy_s - m0.busy_s) - (m1.own_cpu_s - m0.own_cpu_s);
        char model[256];
        cpu_model(model, sizeof(model));
        printf("\nmachine: %s, %ld CPUs, mbedTLS %s. Measured over %.1f s: load average %.2f at "
               "start, %.2f at end;\nother processes used %.1f CPU-s (%.2f cores on average), this "
               "benchmark %.1f CPU-s.\n",
               model, sysconf(_SC_NPROCESSORS_ONLN), MBEDTLS_VERSION_STRING, wall, m0.load[0],
               m1.load[0], other, wall > 0 ? other / wall : 0, m1.own_cpu_s - m0.own_cpu_s);
    }
    if (write_json(out_dir, rounds, n, &m0, &m1, started) != 0)
        return 1;
    for (size_t l = 0; l < LINK_COUNT; l++)
        link_stop(&runs[l]);
    return 0;
}
