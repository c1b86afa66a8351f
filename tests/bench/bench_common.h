/* bench_common.h: the start-up, clocks, statistics and figure printing the C benchmark drivers
 * (bench_issue_raw, bench_lines, bench_reconnect) share. */
#ifndef CERTLINE_BENCH_COMMON_H
#define CERTLINE_BENCH_COMMON_H

#include <stddef.h>
#include <time.h>

/* Start-up of every driver: names it in its messages (bench_die) and ignores SIGPIPE, as every
 * certline program does. */
void bench_start(const char *program);

/* Prints "PROGRAM: FAILED: message" on stderr and exits 1. */
void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The value after option name among argv[first..argc-1], or NULL. */
const char *bench_option(int argc, char **argv, int first, const char *name);

/* Parses a whole decimal number 1..max into out; 1 if it is one, 0 if not. */
int bench_count(const char *text, long long max, long long *out);

/* Seconds on clock (CLOCK_MONOTONIC: wall time; CLOCK_*_CPUTIME_ID: CPU time). */
double bench_clock_s(clockid_t clock);

/* Wall seconds on the monotonic clock. */
double bench_now_s(void);

/* ---- statistics ---- */

/* qsort's comparison of doubles. */
int bench_cmp_double(const void *a, const void *b);

/* The 1-based nearest rank of quantile q among n sorted values (1..n). */
size_t bench_rank(size_t n, double q);

/* Nearest-rank quantile of n sorted values. */
double bench_quantile(const double *sorted, size_t n, double q);

/* Median of n unsorted values (sorts a copy). */
double bench_median(const double *values, size_t n);

double bench_min(const double *v, size_t n);
double bench_max(const double *v, size_t n);

/* ---- the machine and the figures ---- */

struct bench_machine {
    double load[3];
    double busy_s; /* all CPUs, not idle or iowait, from /proc/stat */
    double own_cpu_s;
    double wall_s;
};

/* Load averages, the CPUs' busy time, this process's CPU time, and the wall clock, now. */
void bench_machine_snapshot(struct bench_machine *m);

/* The CPU's model name from /proc/cpuinfo ("unknown" if none). */
void bench_cpu_model(char *out, size_t len);

/* Prints s as a JSON string (quoted and escaped) on stdout. */
void bench_print_json_string(const char *s);

#endif
