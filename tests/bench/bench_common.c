/* bench_common.c: the start-up, clocks, statistics and figure printing the C benchmark drivers
 * share. */
#define _POSIX_C_SOURCE 200809L
#include "bench_common.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *program_name = "bench";

void bench_start(const char *program)
{
    program_name = program;
    signal(SIGPIPE, SIG_IGN);
}

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: FAILED: ", program_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

const char *bench_option(int argc, char **argv, int first, const char *name)
{
    for (int i = first; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

int bench_count(const char *text, long long max, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && end != text && *end == '\0' && *out >= 1 && *out <= max;
}

double bench_clock_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_now_s(void)
{
    return bench_clock_s(CLOCK_MONOTONIC);
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

size_t bench_rank(size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return rank;
}

double bench_quantile(const double *sorted, size_t n, double q)
{
    return sorted[bench_rank(n, q) - 1];
}

double bench_median(const double *values, size_t n)
{
    double *copy = malloc(n * sizeof(*copy)), m;
    if (copy == NULL)
        bench_die("out of memory");
    memcpy(copy, values, n * sizeof(*copy));
    qsort(copy, n, sizeof(*copy), bench_cmp_double);
    m = bench_quantile(copy, n, 0.5);
    free(copy);
    return m;
}

double bench_min(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

double bench_max(const double *v, size_t n)
{
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

void bench_machine_snapshot(struct bench_machine *m)
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
    m->own_cpu_s = bench_clock_s(CLOCK_PROCESS_CPUTIME_ID);
    m->wall_s = bench_now_s();
}

void bench_cpu_model(char *out, size_t len)
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

void bench_print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}
