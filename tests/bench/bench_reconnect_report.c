/* bench_reconnect_report.c: bench_reconnect's figures: the tables it prints and the JSON it
 * writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <mbedtls/version.h>

#include "bench_reconnect.h"

void print_tables(size_t rounds, size_t n)
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
                double v = side == 0 ? bench_median(r->client_cpu_ms, rounds)
                                     : bench_median(r->server_cpu_ms, rounds);
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
                snprintf(cell[c], sizeof(cell[c]), "%.2f/%.2f",
                         bench_quantile(r->wall_ms, r->n, 0.5),
                         bench_quantile(r->wall_ms, r->n, 0.99));
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
            snprintf(spread, sizeof(spread), "%.2f-%.2f", bench_min(r->round_p50, rounds),
                     bench_max(r->round_p50, rounds));
            snprintf(ec, sizeof(ec), "%.0f+%.0f | %.0f+%.0f", (double)r->ec_verify[0] / r->n,
                     (double)r->ec_mul[0] / r->n, (double)r->ec_verify[1] / r->n,
                     (double)r->ec_mul[1] / r->n);
            printf("%-34s %-10s %7zu %7.2f %7.2f %7.2f %7.2f %13s %8.2f %8.2f %13s %4lu/%-4lu\n",
                   lr->def->name, case_names[c], r->n, r->wall_ms[0],
                   bench_quantile(r->wall_ms, r->n, 0.5), bench_quantile(r->wall_ms, r->n, 0.99),
                   r->wall_ms[r->n - 1], spread, bench_median(r->client_cpu_ms, rounds),
                   bench_median(r->server_cpu_ms, rounds), ec, r->resumed, r->handshakes);
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

int write_json(const char *out_dir, size_t rounds, size_t n, const struct bench_machine *m0,
               const struct bench_machine *m1, const char *started)
{
    char path[PATH_MAX], model[256];
    cJSON *root = cJSON_CreateObject(), *machine, *jlinks;
    struct utsname un;
    char *text;
    FILE *f;
    double wall = m1->wall_s - m0->wall_s;
    double other = (m1->busy_s - m0->busy_s) - (m1->own_cpu_s - m0->own_cpu_s);

    bench_cpu_model(model, sizeof(model));
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
            cJSON_AddNumberToObject(w, "p50", r4(bench_quantile(r->wall_ms, r->n, 0.5)));
            cJSON_AddNumberToObject(w, "p90", r4(bench_quantile(r->wall_ms, r->n, 0.9)));
            cJSON_AddNumberToObject(w, "p99", r4(bench_quantile(r->wall_ms, r->n, 0.99)));
            cJSON_AddNumberToObject(w, "max", r4(r->wall_ms[r->n - 1]));
            cJSON_AddItemToObject(w, "round_p50", json_array(r->round_p50, rounds));
            cJSON_AddItemToObject(o, "client_cpu_ms_per_reconnect_rounds",
                                  json_array(r->client_cpu_ms, rounds));
            cJSON_AddItemToObject(o, "server_cpu_ms_per_reconnect_rounds",
                                  json_array(r->server_cpu_ms, rounds));
            cJSON_AddNumberToObject(o, "client_cpu_ms_per_reconnect",
                                    r4(bench_median(r->client_cpu_ms, rounds)));
            cJSON_AddNumberToObject(o, "server_cpu_ms_per_reconnect",
                                    r4(bench_median(r->server_cpu_ms, rounds)));
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
