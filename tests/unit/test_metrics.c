/* test_metrics.c: the metrics registry and its Prometheus text (exact text of a small registry,
 * cumulative histogram buckets, escaping, the series bound), the catalog, and the HTTP listener
 * (GET /metrics answered; other methods, paths, oversized and malformed requests refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "metrics.h"
#include "metrics_catalog.h"
#include "metrics_http.h"

static const struct cl_metric_def requests = {
    "t_requests_total", "requests by method", CL_METRIC_COUNTER, {"method", "code"}, {0}, 0, 1};
static const struct cl_metric_def depth = {
    "t_depth", "queue depth\\now\nthen", CL_METRIC_GAUGE, {0}, {0}, 0, 1};
static const struct cl_metric_def latency = {
    "t_latency_seconds", "latency", CL_METRIC_HISTOGRAM, {0}, {0.125, 0.5, 1}, 3, 1};
static const struct cl_metric_def hidden = {
    "t_hidden", "another scope", CL_METRIC_GAUGE, {0}, {0}, 0, 2};

static void test_exact_text(void **state)
{
    struct cl_metrics *m = cl_metrics_new(10);
    size_t len = 0;
    int r, d, l, h;
    char *text;
    (void)state;

    assert_non_null(m);
    r = cl_metrics_define(m, &requests);
    d = cl_metrics_define(m, &depth);
    l = cl_metrics_define(m, &latency);
    h = cl_metrics_define(m, &hidden);
    assert_true(r == 0 && d == 1 && l == 2 && h == 3);
    cl_metrics_add(m, r, (const char *const[]){"GET", "200"}, 1);
    cl_metrics_add(m, r, (const char *const[]){"GET", "200"}, 2);
    cl_metrics_add(m, r, (const char *const[]){"PO\"ST\\x\ny", "405"}, 1);
    cl_metrics_add(m, r, (const char *const[]){"GET", "200"}, -5); /* ignored: a counter */
    cl_metrics_set(m, r, (const char *const[]){"GET", "200"}, 0);  /* ignored: not a gauge */
    cl_metrics_set(m, d, NULL, 7);
    cl_metrics_add(m, d, NULL, -2.5);
    cl_metrics_observe(m, l, NULL, 0.0625);
    cl_metrics_observe(m, l, NULL, 0.125); /* le is inclusive */
    cl_metrics_observe(m, l, NULL, 0.75);
    cl_metrics_observe(m, l, NULL, 3);
    cl_metrics_observe(m, d, NULL, 1); /* ignored: not a histogram */
    cl_metrics_set(m, h, NULL, 1);
    text = cl_metrics_render(m, 1, &len);
    assert_non_null(text);
    assert_string_equal(text, "# HELP t_requests_total requests by method\n"
                              "# TYPE t_requests_total counter\n"
                              "t_requests_total{method=\"GET\",code=\"200\"} 3\n"
                              "t_requests_total{method=\"PO\\\"ST\\\\x\\ny\",code=\"405\"} 1\n"
                              "# HELP t_depth queue depth\\\\now\\nthen\n"
                              "# TYPE t_depth gauge\n"
                              "t_depth 4.5\n"
                              "# HELP t_latency_seconds latency\n"
                              "# TYPE t_latency_seconds histogram\n"
                              "t_latency_seconds_bucket{le=\"0.125\"} 2\n"
                              "t_latency_seconds_bucket{le=\"0.5\"} 2\n"
                              "t_latency_seconds_bucket{le=\"1\"} 3\n"
                              "t_latency_seconds_bucket{le=\"+Inf\"} 4\n"
                              "t_latency_seconds_sum 3.9375\n"
                              "t_latency_seconds_count 4\n");
    assert_int_equal(len, strlen(text));
    free(text);
    text = cl_metrics_render(m, 2, NULL);
    assert_string_equal(text, "# HELP t_hidden another scope\n# TYPE t_hidden gauge\nt_hidden 1\n");
    free(text);
    cl_metrics_free(m);
}

static void test_untouched_families(void **state)
{
    static const struct cl_metric_def plain = {
        "t_plain_total", "p", CL_METRIC_COUNTER, {0}, {0}, 0, 1};
    static const struct cl_metric_def one = {"t_one", "h", CL_METRIC_HISTOGRAM, {0}, {2}, 1, 1};
    struct cl_metrics *m = cl_metrics_new(10);
    char *text;
    (void)state;

    assert_int_equal(cl_metrics_define(m, &requests), 0);
    assert_int_equal(cl_metrics_define(m, &plain), 1);
    assert_int_equal(cl_metrics_define(m, &one), 2);
    text = cl_metrics_render(m, 1, NULL);
    assert_string_equal(text, "# HELP t_requests_total requests by method\n"
                              "# TYPE t_requests_total counter\n"
                              "# HELP t_plain_total p\n# TYPE t_plain_total counter\n"
                              "t_plain_total 0\n"
                              "# HELP t_one h\n# TYPE t_one histogram\n"
                              "t_one_bucket{le=\"2\"} 0\nt_one_bucket{le=\"+Inf\"} 0\n"
                              "t_one_sum 0\nt_one_count 0\n");
    free(text);
    cl_metrics_free(m);
}

static void test_bad_definitions(void **state)
{
    struct cl_metrics *m = cl_metrics_new(10);
    struct cl_metric_def def = requests;
    (void)state;

    def.name = "9lives";
    assert_int_equal(cl_metrics_define(m, &def), -1);
    def.name = "has space";
    assert_int_equal(cl_metrics_define(m, &def), -1);
    def = requests;
    def.labels[0] = "le";
    assert_int_equal(cl_metrics_define(m, &def), -1);
    def.labels[0] = "__reserved";
    assert_int_equal(cl_metrics_define(m, &def), -1);
    def.labels[0] = NULL; /* a gap before "code" */
    assert_int_equal(cl_metrics_define(m, &def), -1);
    def = latency;
    def.buckets[1] = 0.125; /* not ascending */
    assert_int_equal(cl_metrics_define(m, &def), -1);
    def.nbuckets = 0;
    assert_int_equal(cl_metrics_define(m, &def), -1);
    /* updates of an unknown family do nothing */
    cl_metrics_add(m, 5, NULL, 1);
    cl_metrics_add(m, -1, NULL, 1);
    cl_metrics_free(m);
}

static void test_series_bound(void **state)
{
    static const struct cl_metric_def one = {
        "t_by_name_total", "h", CL_METRIC_COUNTER, {"name"}, {0}, 0, 1};
    struct cl_metrics *m = cl_metrics_new(2);
    char long_value[200], *text;
    (void)state;

    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    assert_int_equal(cl_metrics_define(m, &one), 0);
    cl_metrics_add(m, 0, (const char *const[]){"a"}, 1);
    cl_metrics_add(m, 0, (const char *const[]){long_value}, 1);
    cl_metrics_add(m, 0, (const char *const[]){long_value}, 1); /* the same, cut */
    cl_metrics_add(m, 0, (const char *const[]){"c"}, 1);
    cl_metrics_add(m, 0, (const char *const[]){"d"}, 1);
    cl_metrics_add(m, 0, (const char *const[]){"a"}, 1);
    cl_metrics_add(m, 0, NULL, 1); /* ignored: labels missing */
    text = cl_metrics_render(m, 1, NULL);
    char expect[512];
    snprintf(expect, sizeof(expect),
             "# HELP t_by_name_total h\n# TYPE t_by_name_total counter\n"
             "t_by_name_total{name=\"a\"} 2\nt_by_name_total{name=\"%.*s\"} 2\n"
             "t_by_name_total{name=\"other\"} 2\n",
             CL_METRIC_MAX_VALUE, long_value);
    assert_string_equal(text, expect);
    free(text);
    cl_metrics_free(m);
}

static int collected;
static void collect(void *arg)
{
    cl_metrics_set(arg, 0, NULL, ++collected);
}

static void test_collect_hook(void **state)
{
    struct cl_metrics *m = cl_metrics_new(2);
    char *text;
    (void)state;

    assert_int_equal(cl_metrics_define(m, &depth), 0);
    assert_int_equal(cl_metrics_on_collect(m, collect, m), 0);
    free(cl_metrics_render(m, 1, NULL));
    text = cl_metrics_render(m, 1, NULL);
    assert_non_null(strstr(text, "\nt_depth 2\n"));
    free(text);
    cl_metrics_free(m);
}

static void test_catalog(void **state)
{
    char *text;
    (void)state;

    assert_non_null(cl_metrics_global());
    CL_METRIC_INC(CL_M_PACKS_ISSUED, "factory-e", "3012");
    CL_METRIC_INC0(CL_M_FT_SCANS);
    cl_metric_observe(CL_M_ISSUANCE_SECONDS, 0.2, NULL);
    text = cl_metrics_render(cl_metrics_global(), CL_METRICS_CA, NULL);
    assert_non_null(strstr(text, "certline_packs_issued_total{factory=\"factory-e\",model=\"3012\"}"
                                 " 1\n"));
    assert_non_null(strstr(text, "certline_issuance_seconds_bucket{le=\"0.25\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE certline_tls_handshakes_total counter\n"));
    assert_null(strstr(text, "certline_scans_total"));
    free(text);
    text = cl_metrics_render(cl_metrics_global(), CL_METRICS_FT, NULL);
    assert_non_null(strstr(text, "\ncertline_scans_total 1\n"));
    assert_null(strstr(text, "certline_packs_issued_total"));
    free(text);
}

/* ---- the listener ---- */

static int connect_to(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    return fd;
}

/* Sends request (len bytes; 0: a string) to 127.0.0.1:port and returns what came back (malloc'd).
 */
static char *exchange(int port, const char *request, size_t len)
{
    size_t got = 0, cap = 1 << 16;
    char *reply = calloc(1, cap + 1);
    int fd = connect_to(port);

    if (len == 0)
        len = strlen(request);
    for (size_t sent = 0; sent < len;) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server stopped reading */
        sent += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(fd, reply + got, cap - got, 0);
        if (n <= 0 || (got += (size_t)n) == cap)
            break;
    }
    close(fd);
    return reply;
}

/* The reply to request, which must begin with "HTTP/1.1 " and status (malloc'd). */
static char *expect_status(int port, const char *request, size_t len, const char *status)
{
    char *reply = exchange(port, request, len), line[64];
    snprintf(line, sizeof(line), "HTTP/1.1 %s ", status);
    if (strncmp(reply, line, strlen(line)) != 0)
        fail_msg("%.40s: expected %s, got \"%.40s\"", request, status, reply);
    return reply;
}

/* GET /metrics is answered 200 within 5 s: a connection just ended may hold its slot (503)
 * for a moment. */
static void answered_soon(int port)
{
    char *reply = NULL;
    for (int i = 0; i < 250; i++) {
        free(reply);
        reply = exchange(port, "GET /metrics HTTP/1.1\r\n\r\n", 0);
        if (strncmp(reply, "HTTP/1.1 503 ", 13) != 0)
            break;
        usleep(20000);
    }
    assert_true(strncmp(reply, "HTTP/1.1 200 ", 13) == 0);
    free(reply);
}

static void test_listener(void **state)
{
    struct cl_metrics_config config = {.host = "127.0.0.1", .port = 0, .max_connections = 4};
    struct cl_metrics *m = cl_metrics_new(4);
    struct cl_metrics_http *http = NULL;
    char err[256], *reply, *big;
    int port;
    (void)state;

    assert_int_equal(cl_metrics_define(m, &depth), 0);
    cl_metrics_set(m, 0, NULL, 3);
    /* port 0: no listener */
    assert_int_equal(cl_metrics_http_start(&config, m, 1, &http, err, sizeof(err)), CL_OK);
    assert_null(http);
    /* a free port, found by binding one first */
    {
        struct sockaddr_in addr = {.sin_family = AF_INET};
        socklen_t alen = sizeof(addr);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
        config.port = ntohs(addr.sin_port);
        close(fd);
    }
    assert_int_equal(cl_metrics_http_start(&config, m, 1, &http, err, sizeof(err)), CL_OK);
    assert_non_null(http);
    port = cl_metrics_http_port(http);
    assert_int_equal(port, config.port);

    reply = expect_status(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, "200");
    assert_non_null(strstr(reply, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_non_null(strstr(reply, "\r\n\r\n# HELP t_depth"));
    assert_non_null(strstr(reply, "\nt_depth 3\n"));
    free(reply);
    free(expect_status(port, "GET /metrics?x=1 HTTP/1.0\n\n", 0, "200"));
    reply = expect_status(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0, "405");
    assert_non_null(strstr(reply, "Allow: GET\r\n"));
    free(reply);
    free(expect_status(port, "GET / HTTP/1.1\r\n\r\n", 0, "404"));
    free(expect_status(port, "GET /metricsx HTTP/1.1\r\n\r\n", 0, "404"));
    free(expect_status(port, "\x16\x03\x01\x02\x00\r\n\r\n", 9, "400")); /* a TLS hello */
    free(expect_status(port, "get /metrics HTTP/1.1\r\n\r\n", 0, "400"));
    free(expect_status(port, "GET /metrics SMTP\r\n\r\n", 0, "400"));
    /* one space between the parts, no more, no less (a fuzzing finding: GET/metrics was 200) */
    free(expect_status(port, "GET/metrics HTTP/1.0 /metrics HTTP/1.0\r\n\r\n", 0, "400"));
    free(expect_status(port, "GET  /metrics HTTP/1.1\r\n\r\n", 0, "400"));
    free(expect_status(port, "GET /metrics HTTP/1.1 \r\n\r\n", 0, "400"));
    big = malloc(100000);
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(big + 26, 'a', 100000 - 26);
    reply = exchange(port, big, 100000);
    assert_true(reply[0] == '\0' || strncmp(reply, "HTTP/1.1 431 ", 13) == 0);
    assert_null(strstr(reply, "t_depth"));
    free(reply);
    free(big);
    /* max_connections (4) held by silent clients: one more is answered 503 at once */
    {
        int silent[4];
        for (int i = 0; i < 4; i++)
            silent[i] = connect_to(port);
        free(expect_status(port, "GET /metrics HTTP/1.1\r\n\r\n", 0, "503"));
        for (int i = 0; i < 4; i++)
            close(silent[i]);
        answered_soon(port); /* their threads end once they see the close */
    }
    /* a client that connects and says nothing is dropped; the listener still answers others */
    {
        int idle = connect_to(port);
        answered_soon(port);
        cl_metrics_http_stop(http); /* with the idle connection still open */
        close(idle);
    }
    cl_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_text),      cmocka_unit_test(test_untouched_families),
        cmocka_unit_test(test_bad_definitions), cmocka_unit_test(test_series_bound),
        cmocka_unit_test(test_collect_hook),    cmocka_unit_test(test_catalog),
        cmocka_unit_test(test_listener),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
