/* bench_crl.c: what revocation costs (issue 14): CRL build time and size, load and parse time,
 * lookup time, and the cost of a TLS handshake with a 100,000-entry CRL against none.
 *
 * Usage: bench_crl OUT_DIR [--sizes N,N,...] [--handshakes H] [--rounds R]
 *
 * One process, the test PKI made into a temporary folder (tests/pki/make-test-pki.sh), CRLs
 * signed by its issuing CA (P-256) through common/crl_build.c. Per size (default 10000, 100000,
 * 1000000 entries of random 16-octet serials, one reason in six left unspecified):
 *   build       cl_crl_build: the DER written and signed (the serial list is made beforehand);
 *   DER, PEM    the sizes;
 *   install     cl_crl_holder_install from the DER: parse, signature check, sort, swap in;
 *   lookup      cl_crl_lookup of listed and unlisted serials (octets), per lookup.
 * Each as wall time and as this thread's CPU time (the process's for handshakes, whose servers
 * run on their own threads): on a loaded machine, compare the CPU figures.
 * Handshakes (default 200 per case in 3 interleaved rounds): a fresh comm-terminal client per
 * call to an in-process ca-server (full mutual-TLS handshake, one SOAP call, close), with no
 * CRL, and with a CRL of 100,000 entries checked on both ends (cl_tls_check_revocation).
 * Prints a table and writes OUT_DIR/bench-crl.json. Exit 0 if every call was served, 1
 * otherwise, 2 on bad usage. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "crl_build.h"
#include "crl_check.h"
#include "crl_holder.h"
#include "error.h"
#include "soapH.h"
#include "test_pki.h"
#include "x509_issue.h"

#define SIZES_MAX 8
#define HANDSHAKE_CRL_ENTRIES 100000
#define LOOKUPS 200000

struct options {
    size_t sizes[SIZES_MAX];
    int n_sizes, handshakes, rounds;
    const char *out_dir;
};

static struct tp_dir dir;
static struct cl_signer *signer;
static unsigned long long crl_number;

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    struct ca__PackItem *item = soap_malloc(soap, sizeof(*item));
    if (item == NULL)
        return soap_receiver_fault(soap, "out of memory", NULL);
    item->deviceNumber = request->deviceNumber[0];
    item->pack = soap_strdup(soap, "{}");
    response->requestId = request->requestId;
    response->item = item;
    response->__sizeItem = 1;
    return SOAP_OK;
}

static double clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time, and CPU time (this thread's; the whole process's for handshakes, whose servers run
 * on their own threads): on a loaded machine the CPU figures are the ones to compare. */
struct span {
    double wall, cpu;
};

static struct span span_start(clockid_t cpu_clock)
{
    return (struct span){clock_s(CLOCK_MONOTONIC), clock_s(cpu_clock)};
}

static struct span span_end(struct span start, clockid_t cpu_clock)
{
    return (struct span){clock_s(CLOCK_MONOTONIC) - start.wall, clock_s(cpu_clock) - start.cpu};
}

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){{10000, 100000, 1000000}, 3, 200, 3, NULL};
    if (argc < 2)
        return -1;
    o->out_dir = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sizes") == 0) {
            char *p = argv[i + 1];
            for (o->n_sizes = 0; *p != '\0' && o->n_sizes < SIZES_MAX; o->n_sizes++) {
                o->sizes[o->n_sizes] = strtoul(p, &p, 10);
                if (*p == ',')
                    p++;
            }
        } else if (strcmp(argv[i], "--handshakes") == 0) {
            o->handshakes = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            o->rounds = atoi(argv[i + 1]);
        } else {
            return -1;
        }
    }
    return o->n_sizes > 0 && o->handshakes > 0 && o->rounds > 0 ? 0 : -1;
}

static int load_signer(void)
{
    char cert_path[PATH_MAX], key_path[PATH_MAX], err[256];
    unsigned char *cert = NULL, *key = NULL;
    size_t cert_len, key_len;
    int rc;

    tp_path(cert_path, dir.pki, "issuing.crt");
    tp_path(key_path, dir.pki, "issuing.key");
    rc = cl_crl_read_file(cert_path, &cert, &cert_len, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_crl_read_file(key_path, &key, &key_len, err, sizeof(err));
    if (rc == CL_OK)
        rc = cl_signer_new(cert, cert_len + 1, key, key_len + 1, "certline test", &signer, err,
                           sizeof(err));
    if (rc != CL_OK)
        fprintf(stderr, "bench_crl: the issuing CA: %s\n", err);
    free(cert);
    free(key);
    return rc == CL_OK ? 0 : -1;
}

/* count random serials (hex) and entries naming them. */
static int make_entries(size_t count, char (**serials)[CL_SERIAL_HEX_MAX + 1],
                        struct cl_crl_entry **entries)
{
    time_t now = time(NULL);

    *serials = calloc(count, sizeof(**serials));
    *entries = calloc(count, sizeof(**entries));
    if (*serials == NULL || *entries == NULL)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (cl_serial_random((*serials)[i]) != CL_OK)
            return -1;
        (*entries)[i] =
            (struct cl_crl_entry){(*serials)[i], now - (time_t)(i % 86400), (int)(i % 6)};
    }
    return 0;
}

/* Builds a CRL of the entries; its DER in *der. 0 and the time taken, or -1. */
static int build(const struct cl_crl_entry *entries, size_t count, unsigned char **der, size_t *len,
                 struct span *took)
{
    struct cl_crl_params params = {time(NULL) - 60, time(NULL) + 7 * 86400, ++crl_number};
    struct span t0 = span_start(CLOCK_THREAD_CPUTIME_ID);
    char err[256];

    if (cl_crl_build(signer, &params, entries, count, der, len, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "bench_crl: build: %s\n", err);
        return -1;
    }
    *took = span_end(t0, CLOCK_THREAD_CPUTIME_ID);
    return 0;
}

static struct cl_crl_holder *holder_new(void)
{
    struct cl_crl_holder *h = NULL;
    char path[PATH_MAX], err[256];

    tp_path(path, dir.pki, "ca-bundle.crt");
    if (cl_crl_holder_new(NULL, path, NULL, &h, err, sizeof(err)) != CL_OK)
        fprintf(stderr, "bench_crl: holder: %s\n", err);
    return h;
}

static int bench_size(size_t count, cJSON *results)
{
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = NULL, err[256], *pem = NULL;
    unsigned char(*keys)[CL_CRL_SERIAL_MAX] = NULL, *der = NULL, absent[8] = {0x0A, 0x0B};
    size_t *key_lens = NULL, len = 0, found = 0;
    struct cl_crl_entry *entries = NULL;
    struct cl_crl_holder *h = holder_new();
    struct cl_crl *crl = NULL;
    struct span t_build, t_install, t_lookup, t0;
    int rc = -1;

    if (h == NULL || make_entries(count, &serials, &entries) != 0 ||
        (keys = calloc(count, sizeof(*keys))) == NULL ||
        (key_lens = calloc(count, sizeof(*key_lens))) == NULL)
        goto out;
    for (size_t i = 0; i < count; i++) /* the lookups take octets, as a handshake has them */
        (void)cl_crl_serial_parse(serials[i], keys[i], &key_lens[i]);
    if (build(entries, count, &der, &len, &t_build) != 0 ||
        cl_crl_der_to_pem(der, len, &pem) != CL_OK)
        goto out;
    t0 = span_start(CLOCK_THREAD_CPUTIME_ID);
    if (cl_crl_holder_install(h, der, len, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "bench_crl: install: %s\n", err);
        goto out;
    }
    t_install = span_end(t0, CLOCK_THREAD_CPUTIME_ID);
    crl = cl_crl_holder_current(h);
    t0 = span_start(CLOCK_THREAD_CPUTIME_ID);
    for (size_t i = 0; i < LOOKUPS; i++) { /* half listed, half not */
        size_t k = (i * 7919) % count;
        found += i % 2 ? (size_t)cl_crl_lookup(crl, keys[k], key_lens[k], NULL)
                       : (size_t)cl_crl_lookup(crl, absent, sizeof(absent), NULL);
    }
    t_lookup = span_end(t0, CLOCK_THREAD_CPUTIME_ID);
    if (found != LOOKUPS / 2) {
        fprintf(stderr, "bench_crl: %zu of %d listed serials found\n", found, LOOKUPS / 2);
        goto out;
    }
    printf("%9zu entries  DER %10zu B (%.1f B/entry)  PEM %10zu B\n"
           "%19s build %7.3f s (CPU %7.3f s)  install %7.3f s (CPU %7.3f s)  lookup %5.0f ns "
           "(CPU %5.0f ns)\n",
           count, len, (double)len / (double)(count ? count : 1), strlen(pem), "", t_build.wall,
           t_build.cpu, t_install.wall, t_install.cpu, t_lookup.wall / LOOKUPS * 1e9,
           t_lookup.cpu / LOOKUPS * 1e9);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "entries", (double)count);
    cJSON_AddNumberToObject(r, "der_bytes", (double)len);
    cJSON_AddNumberToObject(r, "pem_bytes", (double)strlen(pem));
    cJSON_AddNumberToObject(r, "build_s", t_build.wall);
    cJSON_AddNumberToObject(r, "build_cpu_s", t_build.cpu);
    cJSON_AddNumberToObject(r, "install_s", t_install.wall);
    cJSON_AddNumberToObject(r, "install_cpu_s", t_install.cpu);
    cJSON_AddNumberToObject(r, "lookup_ns", t_lookup.wall / LOOKUPS * 1e9);
    cJSON_AddNumberToObject(r, "lookup_cpu_ns", t_lookup.cpu / LOOKUPS * 1e9);
    cJSON_AddItemToArray(results, r);
    rc = 0;
out:
    cl_crl_release(crl);
    cl_crl_holder_free(h);
    free(pem);
    free(der);
    free(serials);
    free(entries);
    free(keys);
    free(key_lens);
    return rc;
}

/* n full handshakes (fresh client each, one call); 0 and the time they took, or -1. */
static int handshakes(struct cl_tls *tls, int port, int n, struct span *took)
{
    struct ca__CertificateTransmissionRequest req = {0};
    struct ca__CertificateTransmission resp;
    char id[] = "bench-crl", number[] = "3012-000001", *numbers[] = {number}, err[256];
    struct span t0 = span_start(CLOCK_PROCESS_CPUTIME_ID);

    req.requestId = id;
    req.replacement = false_;
    req.__sizeDeviceNumber = 1;
    req.deviceNumber = numbers;
    for (int i = 0; i < n; i++) {
        struct cl_client *client = NULL;
        int ok = tp_client_new(tls, port, "ca.certline.test", CL_ROLE_CA_SERVER, 10, &client, err,
                               sizeof(err)) == CL_OK &&
                 soap_call___ca__CertificateTransmissionRequest(cl_client_soap(client),
                                                                cl_client_endpoint(client), NULL,
                                                                &req, &resp) == SOAP_OK;
        if (!ok && client != NULL)
            cl_client_explain(client, err, sizeof(err));
        cl_client_free(client);
        if (!ok) {
            fprintf(stderr, "bench_crl: call %d refused: %s\n", i, err);
            return -1;
        }
    }
    *took = span_end(t0, CLOCK_PROCESS_CPUTIME_ID);
    return 0;
}

static int bench_handshakes(const struct options *o, cJSON *json)
{
    struct cl_crl_holder *server_crl = holder_new(), *client_crl = holder_new();
    struct cl_crl_entry *entries = NULL;
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = NULL, err[256];
    struct tp_server plain = {0}, checked = {0};
    struct tp_server_options plain_opt = {.max_connections = 4},
                             checked_opt = {.max_connections = 4, .crl = server_crl};
    struct cl_tls *plain_tls = NULL, *checked_tls = NULL;
    unsigned char *der = NULL;
    size_t len = 0;
    struct span sum[2] = {{0, 0}, {0, 0}}, a, b;
    int rc = -1, per_case = o->handshakes * o->rounds;

    if (server_crl == NULL || client_crl == NULL ||
        make_entries(HANDSHAKE_CRL_ENTRIES, &serials, &entries) != 0 ||
        build(entries, HANDSHAKE_CRL_ENTRIES, &der, &len, &a) != 0 ||
        cl_crl_holder_install(server_crl, der, len, err, sizeof(err)) != CL_OK ||
        cl_crl_holder_install(client_crl, der, len, err, sizeof(err)) != CL_OK)
        goto out;
    if (tp_server_start(&plain, dir.pki, "ca-server", &plain_opt, err, sizeof(err)) != CL_OK ||
        tp_server_start(&checked, dir.pki, "ca-server", &checked_opt, err, sizeof(err)) != CL_OK ||
        tp_tls_new(CL_TLS_CLIENT, dir.pki, "comm-terminal", NULL, &plain_tls, err, sizeof(err)) !=
            CL_OK ||
        tp_tls_new(CL_TLS_CLIENT, dir.pki, "comm-terminal", NULL, &checked_tls, err, sizeof(err)) !=
            CL_OK ||
        cl_tls_check_revocation(checked_tls, client_crl) != CL_OK) {
        fprintf(stderr, "bench_crl: %s\n", err);
        goto out;
    }
    if (handshakes(plain_tls, plain.port, 5, &a) != 0 ||
        handshakes(checked_tls, checked.port, 5, &b) != 0)
        goto out; /* warm-up */
    for (int r = 0; r < o->rounds; r++) {
        if (handshakes(plain_tls, plain.port, o->handshakes, &a) != 0 ||
            handshakes(checked_tls, checked.port, o->handshakes, &b) != 0)
            goto out;
        sum[0].wall += a.wall / per_case;
        sum[0].cpu += a.cpu / per_case;
        sum[1].wall += b.wall / per_case;
        sum[1].cpu += b.cpu / per_case;
    }
    printf("full handshake + call, both ends, per connection (%d each):\n"
           "  no CRL:                     %7.3f ms (CPU %7.3f ms)\n"
           "  %d-entry CRL on both ends: %7.3f ms (CPU %7.3f ms, %+.1f%%)\n",
           per_case, sum[0].wall * 1e3, sum[0].cpu * 1e3, HANDSHAKE_CRL_ENTRIES, sum[1].wall * 1e3,
           sum[1].cpu * 1e3, (sum[1].cpu / sum[0].cpu - 1) * 100);
    cJSON *h = cJSON_AddObjectToObject(json, "handshake");
    cJSON_AddNumberToObject(h, "crl_entries", HANDSHAKE_CRL_ENTRIES);
    cJSON_AddNumberToObject(h, "per_case", per_case);
    cJSON_AddNumberToObject(h, "no_crl_ms", sum[0].wall * 1e3);
    cJSON_AddNumberToObject(h, "no_crl_cpu_ms", sum[0].cpu * 1e3);
    cJSON_AddNumberToObject(h, "with_crl_ms", sum[1].wall * 1e3);
    cJSON_AddNumberToObject(h, "with_crl_cpu_ms", sum[1].cpu * 1e3);
    rc = 0;
out:
    tp_server_stop(&plain);
    tp_server_stop(&checked);
    cl_tls_free(plain_tls);
    cl_tls_free(checked_tls);
    cl_crl_holder_free(server_crl);
    cl_crl_holder_free(client_crl);
    free(der);
    free(serials);
    free(entries);
    return rc;
}

static int write_json(const char *out_dir, cJSON *json)
{
    char path[PATH_MAX], *text = cJSON_Print(json);
    FILE *f;
    int rc = -1;

    (void)mkdir(out_dir, 0755);
    snprintf(path, sizeof(path), "%s/bench-crl.json", out_dir);
    if (text != NULL && (f = fopen(path, "w")) != NULL) {
        rc = fputs(text, f) >= 0 ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(text);
    if (rc == 0)
        printf("wrote %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    cJSON *json = cJSON_CreateObject(), *sizes;
    int rc = 1;

    if (parse_options(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: bench_crl OUT_DIR [--sizes N,N,...] [--handshakes H] "
                        "[--rounds R]\n");
        cJSON_Delete(json);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (tp_dir_make(&dir, "bench_crl", NULL, NULL) != 0 || load_signer() != 0)
        goto out;
    sizes = cJSON_AddArrayToObject(json, "sizes");
    for (int i = 0; i < o.n_sizes; i++)
        if (bench_size(o.sizes[i], sizes) != 0)
            goto out;
    if (bench_handshakes(&o, json) != 0 || write_json(o.out_dir, json) != 0)
        goto out;
    rc = 0;
out:
    cl_signer_free(signer);
    tp_dir_remove(&dir);
    cJSON_Delete(json);
    return rc;
}
