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
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/version.h>

#include "bench_reconnect.h"
#include "error.h"
#include "soapH.h"

/* As the programs set theirs up: comm-terminal/ca_link.c, factory-terminal/ft_main.c and
 * line_station.c, device-agent/da_serve.c (S10 uses the common identity) and da_commands.c. */
const struct link_def links[LINK_COUNT] = {
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

const char *const case_names[CASE_COUNT] = {"full", "from cache", "resumed"};
const char *const case_keys[CASE_COUNT] = {"full", "full_from_cache", "resumed"};

struct link_run runs[LINK_COUNT];
static struct tp_dir dir; /* the test PKI made here (dir.top set), or named by --pki */
static char pack_filler[PACK_FILLER_BYTES + 1];
static struct cl_soap_limits client_limits;

/* ---- set-up ---- */

static struct cl_tls *new_tls(enum cl_tls_side side, const char *identity)
{
    char err[256];
    struct cl_tls *tls = NULL;

    if (tp_tls_new(side, dir.pki, identity, NULL, &tls, err, sizeof(err)) != CL_OK)
        bench_die("TLS %s: %s", identity, err);
    return tls;
}

static struct cl_verify_cache *new_cache(void)
{
    struct cl_verify_cache *cache = NULL;
    if (cl_verify_cache_new(CL_VERIFY_CACHE_DEFAULT_ENTRIES, CL_VERIFY_CACHE_DEFAULT_MAX_AGE_S,
                            &cache) != CL_OK)
        bench_die("cannot make a verified-chain cache");
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
        bench_die("server for %s: %s", def->name, err);
    snprintf(lr->endpoint, sizeof(lr->endpoint), "https://127.0.0.1:%d/certline", lr->server.port);

    lr->client_tls = new_tls(CL_TLS_CLIENT, def->client_id);
    if (def->client_cached) {
        lr->client_cache = new_cache();
        if (cl_tls_share_verified_chains(lr->client_tls, lr->client_cache) != CL_OK)
            bench_die("client cache for %s", def->name);
    }
    if (def->client_signing_table &&
        cl_tls_keep_signing_table(lr->client_tls, err, sizeof(err)) != CL_OK)
        bench_die("client signing table for %s: %s", def->name, err);
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
        bench_die("client for %s: %s", lr->def->name, err);
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
        bench_die("%s: call not served: %s", lr->def->name, why);
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
            bench_die("%s: the first connection of a kept client made %u handshakes (%u resumed)",
                      lr->def->name, t0_total, t0_resumed);
    }
    usleep(SETTLE_US);
    cache_counts(lr->client_cache, &f0, &c0);
    for (int s = 0; s < 2; s++) {
        v0[s] = atomic_load(&ec_verify[s]);
        m0[s] = atomic_load(&ec_mul[s]);
    }
    proc0 = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    thr0 = bench_clock_s(CLOCK_THREAD_CPUTIME_ID);

    for (size_t i = 0; i < n; i++) {
        struct cl_verify_cache *fresh = NULL;
        double w0, w1, c_0, c_1;

        if (kind == CASE_FULL && lr->def->client_cached) {
            fresh = new_cache(); /* nothing verified yet: the chain is verified in full */
            (void)cl_tls_share_verified_chains(lr->client_tls, fresh);
        }
        c_0 = bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
        w0 = bench_now_s();
        if (kind == CASE_RESUMED) {
            call(lr, kept);
            close_connection(kept);
        } else {
            struct cl_client *client = new_client(lr);
            call(lr, client);
            handshakes(client, &t, &res);
            if (t != 1 || res != 0)
                bench_die("%s, %s: a fresh client made %u handshakes (%u resumed)", lr->def->name,
                          case_names[kind], t, res);
            cl_client_free(client);
        }
        w1 = bench_now_s();
        c_1 = bench_clock_s(CLOCK_THREAD_CPUTIME_ID);
        wall[i] = (w1 - w0) * 1e3;
        client_cpu += c_1 - c_0;
        if (fresh != NULL) {
            unsigned long ff, fc;
            cl_verify_cache_counts(fresh, &ff, &fc);
            if (ff != 1 || fc != 0)
                bench_die(
                    "%s, full: a fresh cache verified %lu chain(s) in full, %lu from the cache",
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
            bench_die("%s: %zu reconnects of a kept client made %u handshakes, %u of them resumed: "
                      "resumption is not happening",
                      lr->def->name, n, t - t0_total, res - t0_resumed);
        cl_client_free(kept); /* already closed: nothing more for the server */
    } else {
        r->handshakes += n;
    }
    usleep(SETTLE_US);
    {
        double thr = bench_clock_s(CLOCK_THREAD_CPUTIME_ID) - thr0;
        double proc = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID) - proc0;
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
        bench_die(
            "%s, from cache: %lu chain(s) verified in full and %lu from the cache, expected 0 "
            "and %zu",
            lr->def->name, f1 - f0, c1 - c0, n);
    if (kind == CASE_RESUMED && (f1 - f0 != 0 || c1 - c0 != 0))
        bench_die("%s, resumed: the verified-chain cache was consulted (%lu full, %lu cached)",
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

/* ---- the test PKI ---- */

static void make_pki(void)
{
    if (tp_dir_make(&dir, "certline-bench-reconnect", NULL, NULL) != 0)
        bench_die("cannot make the test PKI in %s", dir.pki);
}

static void remove_pki(void)
{
    if (dir.top[0] != '\0')
        (void)tp_dir_remove(&dir);
    dir.top[0] = '\0';
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
    struct bench_machine m0, m1;
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
        bench_die("cannot make %s: %s", out_dir, strerror(errno));

    bench_start("bench_reconnect");
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
                bench_die("out of memory");
        }
        warm_up(&runs[l]);
    }

    bench_machine_snapshot(&m0);
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
                r->round_p50[round] = bench_median(r->wall_ms + r->n - n, n);
            }
        fprintf(stderr, "bench_reconnect: round %zu of %zu done\n", round + 1, rounds);
    }
    bench_machine_snapshot(&m1);

    for (size_t l = 0; l < LINK_COUNT; l++)
        for (int c = 0; c < CASE_COUNT; c++)
            if (runs[l].cases[c].used)
                qsort(runs[l].cases[c].wall_ms, runs[l].cases[c].n, sizeof(double),
                      bench_cmp_double);
    print_tables(rounds, n);
    {
        double wall = m1.wall_s - m0.wall_s;
        double other = (m1.busy_s - m0.busy_s) - (m1.own_cpu_s - m0.own_cpu_s);
        char model[256];
        bench_cpu_model(model, sizeof(model));
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
