/* ft_main.c: factory-terminal, one process per production line: options, signals, and the
 * wiring of the scan source, the line server (S10 in, S13 out) and the per-device sequence. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "ft_crl.h"
#include "ft_config.h"
#include "input_check.h"
#include "line_station.h"
#include "log.h"
#include "metrics_catalog.h"
#include "process_guard.h"
#include "result_report.h"
#include "scan_source.h"
#include "soap_server.h"
#include "tls.h"
#include "tls_verify.h"

#define EXIT_NG 4    /* some device NG or some scan rejected */
#define EXIT_FATAL 1 /* configuration, TLS, listening, scan source, events file */

#define RUN_USAGE "run [--scans FILE | --tty DEVICE [--baud N]] [--json]"

/* Stop requests: 1 = stop after the current device, 2 = abandon it, 3 = exit at once. */
static atomic_int stop_requests;
static atomic_int server_failed;

static void on_signal(int sig)
{
    static const char finish[] =
        "factory-terminal: stopping after the current device (signal again to abandon it)\n";
    static const char abandon[] = "factory-terminal: abandoning the current device\n";
    int n = atomic_fetch_add(&stop_requests, 1) + 1;
    (void)sig;
    if (n == 1)
        (void)!write(STDERR_FILENO, finish, sizeof(finish) - 1);
    else if (n == 2)
        (void)!write(STDERR_FILENO, abandon, sizeof(abandon) - 1);
    else
        _exit(130);
}

static void usage(FILE *out)
{
    fprintf(out,
            "\ncommand:\n"
            "  " RUN_USAGE "\n"
            "      provision the devices scanned on this line, one at a time, until the end of\n"
            "      the scans; one result line per device on stdout, a summary on stderr\n"
            "      --scans FILE   read scans from FILE (default: stdin, e.g. a keyboard-wedge\n"
            "                     scanner typing the number and Enter)\n"
            "      --tty DEVICE   read scans from a serial scanner (8N1, CR or LF ends a scan)\n"
            "      --baud N       its speed (default %d)\n"
            "      --json         one JSON event per device on stdout instead of result lines\n"
            "\nexit status: 0 every device OK; 4 some device NG or scan rejected; 1 fatal error\n"
            "(configuration, TLS, listening, scan source, events file); 2 bad options\n",
            FT_DEFAULT_BAUD);
}

struct run_options {
    const char *scans;
    const char *tty;
    long baud;
    int json;
};

/* Returns 0 and fills *o, 1 if help was shown, or 2 after a message on stderr. */
static int parse_run_options(int argc, char **argv, struct run_options *o)
{
    const char *baud = NULL;

    memset(o, 0, sizeof(*o));
    o->baud = FT_DEFAULT_BAUD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: factory-terminal [-c FILE] [-l LEVEL] " RUN_USAGE "\n");
            usage(stdout);
            return 1;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--scans") != 0 && strcmp(a, "--tty") != 0 && strcmp(a, "--baud") != 0) {
            fprintf(stderr, "factory-terminal: run: unknown option \"%.64s\" (see run --help)\n",
                    a);
            return 2;
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "factory-terminal: run: %s needs a value\n", a);
            return 2;
        }
        const char **slot = strcmp(a, "--scans") == 0 ? &o->scans
                            : strcmp(a, "--tty") == 0 ? &o->tty
                                                      : &baud;
        if (*slot != NULL) {
            fprintf(stderr, "factory-terminal: run: %s given twice\n", a);
            return 2;
        }
        *slot = argv[++i];
    }
    if (o->scans != NULL && o->tty != NULL) {
        fprintf(stderr, "factory-terminal: run: --scans and --tty exclude each other\n");
        return 2;
    }
    if (baud != NULL) {
        char *end = NULL;
        errno = 0;
        o->baud = strtol(baud, &end, 10);
        if (o->tty == NULL) {
            fprintf(stderr, "factory-terminal: run: --baud goes with --tty\n");
            return 2;
        }
        if (errno != 0 || end == baud || *end != '\0' || !ft_scan_baud_ok(o->baud)) {
            fprintf(stderr,
                    "factory-terminal: run: --baud \"%.16s\" is not a supported rate (1200, 2400, "
                    "4800, 9600, 19200, 38400, 57600, 115200, 230400)\n",
                    baud);
            return 2;
        }
    }
    return 0;
}

struct line_server {
    struct cl_server *server;
    struct cl_metrics_http *metrics; /* GET /metrics, or NULL */
    pthread_t thread;
    int started;
};

static void *serve_line(void *arg)
{
    struct line_server *ls = arg;
    if (cl_server_run(ls->server) != CL_OK) {
        cl_log_error("the line server failed: devices can no longer report their write results; "
                     "stopping");
        atomic_store(&server_failed, 1);
        atomic_store(&stop_requests, 2);
    }
    return NULL;
}

/* Starts the line server in its own thread, with SIGINT and SIGTERM blocked there (and in the
 * connection threads it starts), so that signals interrupt the main thread's reads. */
static int start_line_server(const struct ft_config *config, struct cl_tls *tls,
                             struct ft_station *station, struct line_server *ls)
{
    struct cl_server_settings settings = {.iface = CL_IFACE_LINE};
    sigset_t block, old;
    char err[512];

    settings.host = config->listen.host;
    settings.port = (int)config->listen.port;
    settings.max_connections = (int)config->listen.max_connections;
    settings.app = station;
    cl_limits_config_apply(&config->limits, &settings.limits);
    if (cl_server_new(&settings, tls, &ls->server, err, sizeof(err)) != CL_OK) {
        cl_log_error("line interface: %s", err);
        return CL_ERR_IO;
    }
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    ls->started = pthread_create(&ls->thread, NULL, serve_line, ls) == 0;
    int metrics = ls->started ? cl_metrics_http_start(&config->metrics, cl_metrics_global(),
                                                      CL_METRICS_FT, &ls->metrics, err, sizeof(err))
                              : CL_OK;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (metrics != CL_OK) {
        cl_log_error("%s", err);
        return metrics; /* stop_line_server ends the server thread */
    }
    if (!ls->started) {
        cl_log_error("line interface: cannot start the server thread");
        cl_server_free(ls->server);
        ls->server = NULL;
        return CL_ERR_NOMEM;
    }
    fprintf(stderr, "listening on %s:%d\n", settings.host, cl_server_port(ls->server));
    fflush(stderr);
    cl_log_info("line %s: serving the line interface on %s port %d", config->line_id, settings.host,
                cl_server_port(ls->server));
    return CL_OK;
}

static void stop_line_server(struct line_server *ls)
{
    cl_metrics_http_stop(ls->metrics);
    ls->metrics = NULL;
    if (ls->server == NULL)
        return;
    cl_server_stop(ls->server);
    if (ls->started)
        pthread_join(ls->thread, NULL);
    cl_server_free(ls->server);
    ls->server = NULL;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

struct tally {
    long scanned, ok, ng, rejected;
};

static void reject(struct ft_outcome *o, const char *scan, const char *stage, const char *reason)
{
    memset(o, 0, sizeof(*o));
    cl_copy_text(o->device_number, sizeof(o->device_number), scan);
    o->result = FT_RESULT_REJECTED;
    o->stage = stage;
    cl_copy_text(o->reason, sizeof(o->reason), reason);
}

/* Reads and provisions until the scans end or a stop; returns the exit code. */
static int run_line(const struct ft_config *config, struct ft_scan_source *scans,
                    struct ft_station *station, struct ft_report *report)
{
    struct tally t = {0};
    char line[FT_SCAN_MAX + 1], err[512];
    int fatal = 0;

    cl_log_info("line %s: reading scans from %s", config->line_id, ft_scan_describe(scans));
    while (!atomic_load(&stop_requests)) {
        struct ft_outcome outcome;
        enum ft_scan_kind kind = ft_scan_next(scans, line, &stop_requests, err, sizeof(err));

        if (kind == FT_SCAN_EOF || kind == FT_SCAN_STOPPED)
            break;
        if (kind == FT_SCAN_ERROR) {
            cl_log_error("scans: %s", err);
            fatal = 1;
            break;
        }
        t.scanned++;
        if (kind == FT_SCAN_TOO_LONG) {
            char shown[FT_SCAN_MAX + 1];
            snprintf(shown, sizeof(shown), "%.40s...", line);
            reject(&outcome, shown, "scan", "scan longer than 64 bytes: not a device number");
        } else if (!cl_wire_device_number_ok(line)) {
            reject(&outcome, line, "scan",
                   "not a device number (model code, '-', serial: [0-9A-Z]{1,8}-[0-9]{1,12})");
        } else {
            ft_station_process(station, line, &outcome);
        }
        if (outcome.result == FT_RESULT_OK)
            t.ok++;
        else if (outcome.result == FT_RESULT_NG)
            t.ng++;
        else
            t.rejected++;
        if (ft_report_device(report, &outcome, err, sizeof(err)) != CL_OK) {
            cl_log_error("%s; stopping the line", err);
            fatal = 1;
            break;
        }
        if (atomic_load(&server_failed))
            break;
    }
    fprintf(stderr, "line %s: %ld scanned, %ld OK, %ld NG, %ld rejected\n", config->line_id,
            t.scanned, t.ok, t.ng, t.rejected);
    fflush(stderr);
    if (fatal || atomic_load(&server_failed))
        return EXIT_FATAL;
    return (t.ng > 0 || t.rejected > 0) ? EXIT_NG : 0;
}

/* Every device of a model presents the same common chain, twice per device (S7, S10): both
 * directions share one cache of verified chains, and both sign with a held table (tls.h). The
 * session of S7 (to the device's common identity) is handed to the line server, so the device's
 * S10 resumes it instead of a second full handshake. */
static int tune_tls(struct cl_tls *client_tls, struct cl_tls *server_tls,
                    struct cl_verify_cache **verified, char *err, size_t errlen)
{
    int rc = cl_verify_cache_new(CL_VERIFY_CACHE_DEFAULT_ENTRIES, CL_VERIFY_CACHE_DEFAULT_MAX_AGE_S,
                                 verified);

    if (rc != CL_OK) {
        snprintf(err, errlen, "verified-chain cache: %s", cl_err_str(rc));
        return rc;
    }
    if ((rc = cl_tls_share_verified_chains(client_tls, *verified)) != CL_OK ||
        (rc = cl_tls_share_verified_chains(server_tls, *verified)) != CL_OK ||
        (rc = cl_tls_hand_sessions(client_tls, server_tls, CL_ROLE_DEVICE_COMMON)) != CL_OK) {
        snprintf(err, errlen, "verified-chain cache or session handover: %s", cl_err_str(rc));
        return rc;
    }
    if ((rc = cl_tls_keep_signing_table(client_tls, err, errlen)) != CL_OK)
        return rc;
    return cl_tls_keep_signing_table(server_tls, err, errlen);
}

static int run(const struct ft_config *config, const struct run_options *options)
{
    struct cl_tls *client_tls = NULL, *server_tls = NULL;
    struct cl_verify_cache *verified = NULL;
    struct ft_scan_source *scans = NULL;
    struct ft_station *station = NULL;
    struct ft_report *report = NULL;
    struct ft_crl *crl = NULL;
    struct line_server ls = {0};
    char err[768];
    int code = EXIT_FATAL;

    install_signals();
    if (ft_config_prepare(config, &client_tls, &server_tls, err, sizeof(err)) != CL_OK ||
        tune_tls(client_tls, server_tls, &verified, err, sizeof(err)) != CL_OK ||
        ft_crl_start(config, client_tls, server_tls, &crl, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "factory-terminal: %s\n", err);
        goto out;
    }
    if (ft_report_open(config->line_id, options->json, config->events_file, &report, err,
                       sizeof(err)) != CL_OK) {
        fprintf(stderr, "factory-terminal: %s\n", err);
        goto out;
    }
    int rc = options->tty ? ft_scan_open_tty(options->tty, options->baud, &scans, err, sizeof(err))
             : options->scans ? ft_scan_open_file(options->scans, &scans, err, sizeof(err))
                              : ft_scan_open_stdin(&scans, err, sizeof(err));
    if (rc != CL_OK) {
        fprintf(stderr, "factory-terminal: %s\n", err);
        goto out;
    }
    if (ft_station_new(config, client_tls, &stop_requests, &station, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "factory-terminal: %s\n", err);
        goto out;
    }
    if (start_line_server(config, server_tls, station, &ls) != CL_OK)
        goto out;
    code = run_line(config, scans, station, report);
out:
    if (station != NULL)
        ft_station_release(station);
    stop_line_server(&ls);
    ft_crl_stop(crl);
    ft_station_free(station);
    ft_scan_close(scans);
    ft_report_close(report);
    cl_tls_free(client_tls);
    cl_tls_free(server_tls);
    ft_crl_free(crl); /* after the contexts that check against it */
    cl_verify_cache_free(verified);
    return code;
}

int main(int argc, char **argv)
{
    static const struct cl_program program = {
        "factory-terminal",
        "certline factory terminal: provisions the devices of one production line", RUN_USAGE,
        &ft_config_table, ft_config_check};
    static struct ft_config config;
    struct run_options options;
    struct cl_cli cli;
    int code;

    (void)cl_process_guard(); /* its TLS key and the packs it passes on stay in memory */
    /* "run --help" needs no configuration. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "-l") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-')
            continue;
        if (strcmp(argv[i], "run") == 0 && cl_arg_flag(argc - i, argv + i, "--help"))
            return parse_run_options(argc - i, argv + i, &options) == 1 ? 0 : 2;
        break;
    }
    switch (cl_cli_start(&program, argc, argv, &cli, &config, stdout, stderr, &code)) {
    case CL_CLI_RUN:
        break;
    case CL_CLI_EXIT_OK:
        if (cli.help_shown)
            usage(stdout);
        return code;
    case CL_CLI_EXIT_USAGE:
        return code;
    }
    if (cli.first_argument >= argc) {
        fprintf(stderr, "factory-terminal: a command is needed: " RUN_USAGE "\n");
        return 2;
    }
    if (strcmp(argv[cli.first_argument], "run") != 0) {
        fprintf(stderr, "factory-terminal: unknown command \"%.64s\" (the command is: %s)\n",
                argv[cli.first_argument], RUN_USAGE);
        return 2;
    }
    switch (parse_run_options(argc - cli.first_argument, argv + cli.first_argument, &options)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    return run(&config, &options);
}
