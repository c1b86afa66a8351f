/* bench_lines.c: the load generator of the many-lines benchmark (issue 7, item 4).
 *
 * Simulates N production lines against ONE comm-terminal: one thread per line, each with its own
 * factory-terminal certificate (the comm-terminal takes the line id from it) and one kept-alive
 * mutual-TLS connection, doing per device exactly the calls a factory terminal makes
 * (factory-terminal/line_station.c): S5 ct:CertificateTransmissionRequest, then S9
 * ct:ReceptionNotice OK, then S11 ct:WriteResult OK with the certificate serial and the real
 * installation proof. The device itself (S7, S8, S10, S13) is not simulated: a line goes on to
 * its next device as soon as S11 is answered, so the figure is what the comm-terminal can serve.
 *
 * Two modes:
 *   bench_lines proofs PREWRITE_KEY_FILE < PACKS > DEVICES
 *     PACKS: one "device-number<TAB>pack-json" per line (as stored by the comm-terminal).
 *     PREWRITE_KEY_FILE: the model's pre-write key, base64 (model-export's "prewrite_key").
 *     For each pack: opens the key (cl_pack_open_key) and computes the proof the device would
 *     send after writing (cl_verify_value_server). Writes "device-number serial proof" lines.
 *     Run before the measurement: a device computes its proof, not the line.
 *   bench_lines run --endpoint URL --server-name NAME --trust ROOT --certs DIR --lines N
 *                   --devices DEVICES --seconds S
 *     Line k (1..N) uses DIR/line-k.chain.crt and DIR/line-k.key and the k-th contiguous slice
 *     of DEVICES. Each line first provisions one device untimed (the TLS handshake, the
 *     comm-terminal's connection thread); then all lines start together and run until S seconds
 *     have passed or their slice is used up. Every S6 pack is parsed (cl_pack_parse, as a
 *     factory terminal does) and must name the device and the serial expected.
 *     Prints one JSON object: devices, seconds, devices_per_s, errors, retries (a call re-sent
 *     once on a connection the server had closed, as line_station.c does), latency quantiles
 *     in ms per device (S5+S9+S11) and per call, the generator's own CPU seconds, and the first
 *     error messages. Exit 0 if the run completed (errors are counted, not fatal). The line
 *     "bench_lines: timed window starts" on stderr marks the start of the clock. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/x509_crt.h>

#include "bench_common.h"
#include "error.h"
#include "keyfile.h"
#include "pack.h"
#include "soapH.h"
#include "soap_client.h"
#include "soap_tls.h"
#include "tls.h"

#define LINES_MAX 256
#define NUMBER_MAX 32
#define SERIAL_MAX 48
#define ERRORS_KEPT 8
#define PACK_LINE_MAX (CL_PACK_MAX_BYTES + 64)

struct device {
    char number[NUMBER_MAX];
    char serial[SERIAL_MAX];
    char proof[CL_VERIFY_HEX + 1];
};

/* One device's timings, microseconds. */
struct timing {
    unsigned s5, s9, s11;
};

struct line {
    int index; /* 1..N */
    pthread_t thread;
    struct cl_tls *tls;
    struct cl_client *client;
    struct device *devices; /* its slice */
    size_t count, next;
    struct timing *timings; /* one per timed device */
    size_t done;            /* timed devices completed (with or without error) */
    size_t errors, retries;
    int ran_out; /* the slice was used up before the deadline */
    int setup_failed;
    double end; /* monotonic seconds when it stopped */
    char first_error[512];
};

static const char *endpoint, *server_name, *trust_file, *certs_dir;
static double deadline;
static pthread_barrier_t warm_barrier, start_barrier; /* all warm; deadline set */
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;
static char errors_kept[ERRORS_KEPT][600];
static int errors_kept_count;

static unsigned micros_since(double t0)
{
    double d = (bench_now_s() - t0) * 1e6;
    return d < 0 ? 0 : d > 4e9 ? 4000000000u : (unsigned)d;
}

static void keep_error(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void keep_error(struct line *l, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    l->errors++;
    if (l->first_error[0] == '\0')
        snprintf(l->first_error, sizeof(l->first_error), "%s", text);
    pthread_mutex_lock(&error_lock);
    if (errors_kept_count < ERRORS_KEPT)
        snprintf(errors_kept[errors_kept_count++], sizeof(errors_kept[0]), "line %d: %.500s",
                 l->index, text);
    pthread_mutex_unlock(&error_lock);
}

/* A failed call: explains it, frees what it allocated; returns the cl_err. */
static int failed(struct line *l, char *why, size_t len)
{
    int code = cl_client_explain(l->client, why, len);
    cl_client_end_call(l->client);
    return code;
}

/* S5, S9, S11 for one device. Returns 0 when all three succeeded; t gets the timings. */
static int provision(struct line *l, const struct device *d, struct timing *t)
{
    struct ct__CertificateTransmissionRequest request = {0};
    struct ct__CertificateTransmission transmission = {0};
    struct ct__ReceptionNotice notice = {0};
    struct ct__WriteResult result = {0};
    struct ct__ReceptionResponse response = {0};
    struct soap *soap = cl_client_soap(l->client);
    const char *url = cl_client_endpoint(l->client);
    char number[NUMBER_MAX], serial[SERIAL_MAX], proof[CL_VERIFY_HEX + 1], why[512];
    struct cl_pack pack;
    int rc = CL_OK, ok = 1;
    double t0;

    memcpy(number, d->number, sizeof(number));
    memcpy(serial, d->serial, sizeof(serial));
    memcpy(proof, d->proof, sizeof(proof));

    /* S5/S6 */
    t0 = bench_now_s();
    request.deviceNumber = number;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = CL_OK;
        if (soap_call___ct__CertificateTransmissionRequest(soap, url, NULL, &request,
                                                           &transmission) == SOAP_OK)
            break;
        if ((rc = failed(l, why, sizeof(why))) != CL_ERR_CLOSED)
            break;
        l->retries++;
    }
    if (rc != CL_OK) {
        keep_error(l, "S5 %s: %s", number, why);
        return -1;
    }
    if (transmission.deviceNumber == NULL || strcmp(transmission.deviceNumber, number) != 0 ||
        transmission.pack == NULL) {
        keep_error(l, "S6 %s: the answer is for another device", number);
        ok = 0;
    } else if (cl_pack_parse(transmission.pack, &pack, why, sizeof(why)) != CL_OK) {
        keep_error(l, "S6 %s: unusable pack: %s", number, why);
        ok = 0;
    } else {
        if (strcmp(pack.device_number, number) != 0 || strcmp(pack.serial_hex, serial) != 0) {
            keep_error(l, "S6 %s: pack for %s serial %s, expected serial %s", number,
                       pack.device_number, pack.serial_hex, serial);
            ok = 0;
        }
        cl_pack_free(&pack);
    }
    cl_client_end_call(l->client);
    t->s5 = micros_since(t0);
    if (!ok)
        return -1;

    /* S9 OK */
    t0 = bench_now_s();
    notice.deviceNumber = number;
    notice.result = ct__Result__OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = CL_OK;
        if (soap_call___ct__ReceptionNotice(soap, url, NULL, &notice, &response) == SOAP_OK)
            break;
        if ((rc = failed(l, why, sizeof(why))) != CL_ERR_CLOSED)
            break;
        l->retries++;
    }
    if (rc != CL_OK) {
        keep_error(l, "S9 %s: %s", number, why);
        ok = 0; /* the factory terminal goes on to S11 all the same */
    } else {
        cl_client_end_call(l->client);
    }
    t->s9 = micros_since(t0);

    /* S11 OK with the serial and the proof; S12 */
    t0 = bench_now_s();
    memset(&response, 0, sizeof(response));
    result.deviceNumber = number;
    result.result = ct__Result__OK;
    result.certificateSerial = serial;
    result.verificationValue = proof;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = CL_OK;
        if (soap_call___ct__WriteResult(soap, url, NULL, &result, &response) == SOAP_OK)
            break;
        if ((rc = failed(l, why, sizeof(why))) != CL_ERR_CLOSED)
            break;
        l->retries++;
    }
    if (rc != CL_OK) {
        keep_error(l, "S11 %s: %s", number, why);
        ok = 0;
    } else {
        if (response.result != ct__Result__OK) {
            keep_error(l, "S12 %s: NG: %s", number, response.reason ? response.reason : "-");
            ok = 0;
        }
        cl_client_end_call(l->client);
    }
    t->s11 = micros_since(t0);
    return ok ? 0 : -1;
}

static int line_setup(struct line *l, char *err, size_t errlen)
{
    char cert[1024], key[1024];
    struct cl_tls_settings tls = {0};
    struct cl_client_settings settings;

    snprintf(cert, sizeof(cert), "%s/line-%d.chain.crt", certs_dir, l->index);
    snprintf(key, sizeof(key), "%s/line-%d.key", certs_dir, l->index);
    tls.cert_file = cert;
    tls.key_file = key;
    tls.trust_file = trust_file;
    if (cl_tls_new(CL_TLS_CLIENT, &tls, &l->tls, err, errlen) != CL_OK)
        return -1;
    settings.endpoint = endpoint;
    settings.server_name = server_name;
    settings.server_role = CL_ROLE_COMM_TERMINAL;
    cl_soap_limits_default(&settings.limits);
    return cl_client_new(&settings, l->tls, &l->client, err, errlen) == CL_OK ? 0 : -1;
}

static void *line_main(void *arg)
{
    struct line *l = arg;
    char err[512];
    struct timing warm;

    if (line_setup(l, err, sizeof(err)) != 0) {
        keep_error(l, "setup: %s", err);
        l->setup_failed = 1;
    } else if (l->count == 0) {
        keep_error(l, "setup: no device numbers for this line");
        l->setup_failed = 1;
    } else if (provision(l, &l->devices[l->next++], &warm) != 0) {
        l->setup_failed = 1; /* the warm-up device failed: its error is counted */
    }
    pthread_barrier_wait(&warm_barrier);
    pthread_barrier_wait(&start_barrier); /* the main thread has set the deadline */
    if (!l->setup_failed) {
        while (bench_now_s() < deadline) {
            if (l->next >= l->count) {
                l->ran_out = 1;
                break;
            }
            (void)provision(l, &l->devices[l->next++], &l->timings[l->done]);
            l->done++;
        }
    }
    l->end = bench_now_s();
    return NULL;
}

/* ---- input ---- */

static int read_devices(const char *path, struct device **out, size_t *count)
{
    FILE *f = fopen(path, "r");
    size_t cap = 1024, n = 0;
    struct device *d = malloc(cap * sizeof(*d));
    char line[256];

    if (f == NULL || d == NULL) {
        fprintf(stderr, "bench_lines: cannot read %s: %s\n", path, strerror(errno));
        free(d);
        if (f != NULL)
            fclose(f);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (n == cap) {
            struct device *more = realloc(d, 2 * cap * sizeof(*d));
            if (more == NULL)
                break;
            d = more;
            cap *= 2;
        }
        if (sscanf(line, "%31s %47s %64s", d[n].number, d[n].serial, d[n].proof) == 3)
            n++;
    }
    fclose(f);
    *out = d;
    *count = n;
    return 0;
}

static int read_prewrite_key(const char *path, unsigned char key[CL_PREWRITE_KEY_BYTES])
{
    FILE *f = fopen(path, "r");
    char text[128] = "";
    size_t len = 0, olen = 0;
    unsigned char buf[64];

    if (f == NULL) {
        fprintf(stderr, "bench_lines: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (mbedtls_base64_decode(buf, sizeof(buf), &olen, (const unsigned char *)text, len) != 0 ||
        olen != CL_PREWRITE_KEY_BYTES) {
        fprintf(stderr, "bench_lines: %s does not hold a base64 pre-write key of %d bytes\n", path,
                CL_PREWRITE_KEY_BYTES);
        return -1;
    }
    memcpy(key, buf, CL_PREWRITE_KEY_BYTES);
    return 0;
}

/* ---- proofs mode ---- */

static int proofs(const char *key_path)
{
    unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
    char *line = malloc(PACK_LINE_MAX), err[256];
    size_t n = 0;
    int code = 0;

    if (line == NULL || read_prewrite_key(key_path, prewrite) != 0) {
        free(line);
        return 1;
    }
    while (fgets(line, PACK_LINE_MAX, stdin) != NULL) {
        char *tab = strchr(line, '\t'), *json;
        struct cl_pack pack;
        unsigned char *key = NULL;
        size_t key_len = 0;
        mbedtls_x509_crt crt;
        char proof[CL_VERIFY_HEX + 1];

        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (tab == NULL) {
            fprintf(stderr, "bench_lines: a pack line without a tab\n");
            code = 1;
            break;
        }
        *tab = '\0';
        json = tab + 1;
        if (cl_pack_parse(json, &pack, err, sizeof(err)) != CL_OK) {
            fprintf(stderr, "bench_lines: pack of %s: %s\n", line, err);
            code = 1;
            break;
        }
        mbedtls_x509_crt_init(&crt);
        if (strcmp(pack.device_number, line) != 0 ||
            cl_pack_open_key(&pack, prewrite, &key, &key_len) != CL_OK ||
            mbedtls_x509_crt_parse(&crt, (const unsigned char *)pack.certificate_pem,
                                   strlen(pack.certificate_pem) + 1) != 0) {
            fprintf(stderr, "bench_lines: the pack of %s cannot be opened with this key\n", line);
            mbedtls_x509_crt_free(&crt);
            cl_pack_free(&pack);
            code = 1;
            break;
        }
        cl_verify_value_server(pack.device_number, pack.serial_hex, crt.raw.p, crt.raw.len, key,
                               key_len, proof);
        printf("%s %s %s\n", pack.device_number, pack.serial_hex, proof);
        n++;
        cl_secret_free(key, key_len);
        mbedtls_x509_crt_free(&crt);
        cl_pack_free(&pack);
    }
    free(line);
    fprintf(stderr, "bench_lines: %zu proof(s) computed\n", n);
    return code;
}

/* ---- run mode ---- */

static int compare_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of the sorted v[0..n-1], in ms. */
static double quantile_ms(const unsigned *v, size_t n, double q)
{
    return v[bench_rank(n, q) - 1] / 1000.0;
}

/* Prints "name": {"p50":...,"p90":...,"p99":...,"max":...,"mean":...} in ms; sorts v. */
static void print_quantiles(const char *name, unsigned *v, size_t n, int last)
{
    double sum = 0;
    if (n == 0) {
        printf("  \"%s\": null%s\n", name, last ? "" : ",");
        return;
    }
    qsort(v, n, sizeof(*v), compare_unsigned);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    printf("  \"%s\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f, "
           "\"mean\": %.3f}%s\n",
           name, quantile_ms(v, n, 0.50), quantile_ms(v, n, 0.90), quantile_ms(v, n, 0.99),
           v[n - 1] / 1000.0, sum / (double)n / 1000.0, last ? "" : ",");
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static const char *option(int argc, char **argv, const char *name)
{
    return bench_option(argc, argv, 2, name);
}

static int run(int argc, char **argv)
{
    const char *lines_text = option(argc, argv, "--lines"),
               *devices_path = option(argc, argv, "--devices"),
               *seconds_text = option(argc, argv, "--seconds");
    struct device *devices = NULL;
    struct line *lines;
    size_t count = 0, total = 0, errors = 0, retries = 0, ran_out = 0, setup_failed = 0;
    unsigned *all, *s5, *s9, *s11;
    int n;
    double seconds, start, end = 0, cpu0;

    endpoint = option(argc, argv, "--endpoint");
    server_name = option(argc, argv, "--server-name");
    trust_file = option(argc, argv, "--trust");
    certs_dir = option(argc, argv, "--certs");
    if (endpoint == NULL || server_name == NULL || trust_file == NULL || certs_dir == NULL ||
        lines_text == NULL || devices_path == NULL || seconds_text == NULL) {
        fprintf(stderr, "usage: bench_lines run --endpoint URL --server-name NAME --trust ROOT "
                        "--certs DIR --lines N --devices FILE --seconds S\n");
        return 2;
    }
    n = atoi(lines_text);
    seconds = atof(seconds_text);
    if (n < 1 || n > LINES_MAX || seconds <= 0) {
        fprintf(stderr, "bench_lines: --lines 1..%d and --seconds > 0\n", LINES_MAX);
        return 2;
    }
    if (read_devices(devices_path, &devices, &count) != 0)
        return 1;
    lines = calloc((size_t)n, sizeof(*lines));
    if (lines == NULL)
        return 1;
    for (int i = 0; i < n; i++) {
        size_t per = count / (size_t)n;
        lines[i].index = i + 1;
        lines[i].devices = devices + (size_t)i * per;
        lines[i].count = per;
        lines[i].timings = calloc(per > 0 ? per : 1, sizeof(struct timing));
        if (lines[i].timings == NULL)
            return 1;
    }
    pthread_barrier_init(&warm_barrier, NULL, (unsigned)n + 1);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&lines[i].thread, NULL, line_main, &lines[i]) != 0) {
            fprintf(stderr, "bench_lines: cannot start line %d\n", i + 1);
            return 1;
        }
    /* Every line is warm; the deadline is written before the second barrier releases them. */
    pthread_barrier_wait(&warm_barrier);
    start = bench_now_s();
    cpu0 = cpu_seconds();
    deadline = start + seconds;
    pthread_barrier_wait(&start_barrier);
    /* Tells the driver the timed window has begun (it samples CPU counters now). */
    fprintf(stderr, "bench_lines: timed window starts\n");
    fflush(stderr);
    for (int i = 0; i < n; i++)
        pthread_join(lines[i].thread, NULL);
    double cpu = cpu_seconds() - cpu0;

    for (int i = 0; i < n; i++) {
        total += lines[i].done;
        errors += lines[i].errors;
        retries += lines[i].retries;
        ran_out += (size_t)lines[i].ran_out;
        setup_failed += (size_t)lines[i].setup_failed;
        if (lines[i].end > end)
            end = lines[i].end;
    }
    all = calloc(total + 1, sizeof(unsigned));
    s5 = calloc(total + 1, sizeof(unsigned));
    s9 = calloc(total + 1, sizeof(unsigned));
    s11 = calloc(total + 1, sizeof(unsigned));
    if (all == NULL || s5 == NULL || s9 == NULL || s11 == NULL)
        return 1;
    for (int i = 0, k = 0; i < n; i++)
        for (size_t j = 0; j < lines[i].done; j++, k++) {
            const struct timing *t = &lines[i].timings[j];
            s5[k] = t->s5;
            s9[k] = t->s9;
            s11[k] = t->s11;
            all[k] = t->s5 + t->s9 + t->s11;
        }
    printf("{\n  \"lines\": %d,\n  \"devices\": %zu,\n  \"seconds\": %.3f,\n"
           "  \"devices_per_s\": %.1f,\n  \"errors\": %zu,\n  \"retries\": %zu,\n"
           "  \"lines_ran_out\": %zu,\n  \"lines_failed_setup\": %zu,\n"
           "  \"devices_available\": %zu,\n  \"generator_cpu_s\": %.2f,\n",
           n, total, end - start, total / (end - start), errors, retries, ran_out, setup_failed,
           count, cpu);
    print_quantiles("latency_ms", all, total, 0);
    print_quantiles("s5_ms", s5, total, 0);
    print_quantiles("s9_ms", s9, total, 0);
    print_quantiles("s11_ms", s11, total, 0);
    printf("  \"first_errors\": [");
    for (int i = 0; i < errors_kept_count; i++) {
        printf("%s\n    ", i ? "," : "");
        bench_print_json_string(errors_kept[i]);
    }
    printf("]\n}\n");
    for (int i = 0; i < n; i++) {
        cl_client_free(lines[i].client);
        cl_tls_free(lines[i].tls);
        free(lines[i].timings);
    }
    free(lines);
    free(devices);
    free(all);
    free(s5);
    free(s9);
    free(s11);
    return 0;
}

int main(int argc, char **argv)
{
    bench_start("bench_lines");
    if (argc >= 3 && strcmp(argv[1], "proofs") == 0)
        return proofs(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return run(argc, argv);
    fprintf(stderr, "usage: bench_lines proofs PREWRITE_KEY_FILE < PACKS > DEVICES\n"
                    "       bench_lines run --endpoint URL --server-name NAME --trust ROOT "
                    "--certs DIR --lines N --devices FILE --seconds S\n");
    return 2;
}
