/* test_log.c: record format, level filtering, escaping, redaction of key material, truncation,
 * and whole lines under concurrent logging. Output is captured through a file sink. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "test_util.h"

#define THREADS 4
#define LINES_PER_THREAD 250

struct capture {
    char dir[64];
    char path[128];
    int fd;
};

static int setup(void **state)
{
    struct capture *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -1;
    if (cl_test_dir_make(c->dir, sizeof(c->dir), "test_log") != 0)
        return -1;
    snprintf(c->path, sizeof(c->path), "%s/log", c->dir);
    c->fd = open(c->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (c->fd < 0)
        return -1;
    cl_log_set_sink(c->fd);
    cl_log_set_level(CL_LOG_INFO);
    cl_log_set_program("ca-server");
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct capture *c = *state;
    cl_log_set_sink(2);
    cl_log_set_level(CL_LOG_INFO);
    cl_log_set_program(NULL);
    close(c->fd);
    cl_test_dir_remove(c->dir);
    free(c);
    return 0;
}

/* Everything logged since the last call (NUL-terminated; free it). */
static char *captured(struct capture *c)
{
    struct stat st;
    char *buf;
    size_t len = 0;

    assert_int_equal(fstat(c->fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    while (len < (size_t)st.st_size) {
        ssize_t n = pread(c->fd, buf + len, (size_t)st.st_size - len, (off_t)len);
        assert_true(n > 0);
        len += (size_t)n;
    }
    buf[len] = '\0';
    assert_int_equal(ftruncate(c->fd, 0), 0);
    return buf;
}

static size_t count_char(const char *s, char ch)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == ch;
    return n;
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Asserts that line starts "YYYY-MM-DDTHH:MM:SS.mmmZ program[pid] level: " and returns the
 * message after it. */
static const char *check_prefix(const char *line, const char *program, const char *level)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    char expect[128];

    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd')
            assert_true(is_digit(line[i]));
        else
            assert_int_equal(line[i], shape[i]);
    }
    line += sizeof(shape) - 1;
    snprintf(expect, sizeof(expect), "%s[%ld] %s: ", program, (long)getpid(), level);
    if (strncmp(line, expect, strlen(expect)) != 0)
        fail_msg("expected \"%s\" in \"%s\"", expect, line);
    return line + strlen(expect);
}

/* Asserts one whole record with message msg at line; returns the start of the next line. */
static const char *expect_line(const char *line, const char *level, const char *msg)
{
    const char *m = check_prefix(line, "ca-server", level);
    const char *nl = strchr(m, '\n');

    assert_non_null(nl);
    if ((size_t)(nl - m) != strlen(msg) || strncmp(m, msg, strlen(msg)) != 0)
        fail_msg("expected message \"%s\", got \"%.*s\"", msg, (int)(nl - m), m);
    return nl + 1;
}

/* The same clock the logger reads (time() may lag CLOCK_REALTIME by up to a second). */
static void utc_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
}

static void test_format(void **state)
{
    struct capture *c = *state;
    char before[32], after[32], stamp[32];
    char *out;

    /* A local time zone five hours off UTC must not show in the records. */
    assert_int_equal(setenv("TZ", "XST-5", 1), 0);
    tzset();
    utc_now(before, sizeof(before));
    cl_log_warn("hello %d %s", 42, "world");
    utc_now(after, sizeof(after));
    unsetenv("TZ");
    tzset();
    out = captured(c);
    assert_string_equal(expect_line(out, "warn", "hello 42 world"), "");
    /* The timestamp is UTC and current. */
    memcpy(stamp, out, 19);
    stamp[19] = '\0';
    assert_true(strcmp(stamp, before) >= 0);
    assert_true(strcmp(stamp, after) <= 0);
    free(out);

    cl_log_set_program(NULL);
    cl_log_error("x");
    out = captured(c);
    assert_string_equal(check_prefix(out, "certline", "error"), "x\n");
    free(out);

    cl_log_set_program("bad\nname");
    cl_log_info("y");
    out = captured(c);
    assert_string_equal(check_prefix(out, "bad?name", "info"), "y\n");
    free(out);
}

/* Exactly two records were logged since the last look: level1 msg1, then level2 msg2. */
static void expect_two_records(struct capture *c, const char *level1, const char *msg1,
                               const char *level2, const char *msg2)
{
    char *out = captured(c);
    const char *p;

    assert_int_equal(count_char(out, '\n'), 2);
    p = expect_line(out, level1, msg1);
    p = expect_line(p, level2, msg2);
    assert_string_equal(p, "");
    free(out);
}

static void test_levels(void **state)
{
    struct capture *c = *state;
    char *out;

    assert_int_equal(cl_log_get_level(), CL_LOG_INFO); /* the default */
    cl_log_set_level(CL_LOG_WARN);
    assert_int_equal(cl_log_get_level(), CL_LOG_WARN);
    assert_true(cl_log_enabled(CL_LOG_ERROR));
    assert_true(cl_log_enabled(CL_LOG_WARN));
    assert_false(cl_log_enabled(CL_LOG_INFO));
    cl_log_debug("d1");
    cl_log_info("i1");
    cl_log_warn("w1");
    cl_log_error("e1");
    expect_two_records(c, "warn", "w1", "error", "e1");

    cl_log_set_level(CL_LOG_DEBUG);
    cl_log_debug("d2");
    cl_log_info("i2");
    expect_two_records(c, "debug", "d2", "info", "i2");

    cl_log_set_level(CL_LOG_ERROR);
    cl_log_warn("w3");
    out = captured(c);
    assert_string_equal(out, "");
    free(out);

    /* A negative sink discards everything. */
    cl_log_set_sink(-1);
    assert_false(cl_log_enabled(CL_LOG_ERROR));
    cl_log_error("gone");
    cl_log_set_sink(c->fd);
    out = captured(c);
    assert_string_equal(out, "");
    free(out);
}

static void test_level_parse(void **state)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const char *const bad[] = {"", "WARN", "warning", "Info", "debug ", "trace", "0"};
    enum cl_log_level level;

    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cl_log_level_parse(names[i], &level), CL_OK);
        assert_int_equal(level, i);
        assert_string_equal(cl_log_level_name(level), names[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        level = CL_LOG_DEBUG;
        assert_int_equal(cl_log_level_parse(bad[i], &level), CL_ERR_INVALID_ARGUMENT);
        assert_int_equal(level, CL_LOG_DEBUG);
    }
    assert_int_equal(cl_log_level_parse(NULL, &level), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_log_level_parse("info", NULL), CL_ERR_INVALID_ARGUMENT);
    assert_string_equal(cl_log_level_name((enum cl_log_level)7), "unknown");
}

static void test_escaping(void **state)
{
    struct capture *c = *state;
    char *out;

    cl_log_info("a\nb\r\tc%cd%ce", 1, 0x7f);
    out = captured(c);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_string_equal(expect_line(out, "info", "a\\nb\\r\\tc\\x01d\\x7fe"), "");
    free(out);

    /* A forged second record stays inside the first. */
    cl_log_warn("user %s", "x\n2026-01-01T00:00:00.000Z ca-server[1] error: forged");
    out = captured(c);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_string_equal(
        expect_line(out, "warn", "user x\\n2026-01-01T00:00:00.000Z ca-server[1] error: forged"),
        "");
    free(out);

    /* UTF-8 passes through; errno is preserved. */
    errno = ENOENT;
    cl_log_info("caf\xc3\xa9");
    assert_int_equal(errno, ENOENT);
    out = captured(c);
    assert_string_equal(expect_line(out, "info", "caf\xc3\xa9"), "");
    free(out);
}

static void expect_redacted(struct capture *c, const char *input, const char *expected)
{
    char *out;

    cl_log_info("%s", input);
    out = captured(c);
    assert_int_equal(count_char(out, '\n'), 1);
    assert_string_equal(expect_line(out, "info", expected), "");
    free(out);
}

static void test_redact_pem(void **state)
{
    struct capture *c = *state;

    expect_redacted(c,
                    "loaded key -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n"
                    "c2VjcmV0LWtleQ==\n-----END PRIVATE KEY----- from disk",
                    "loaded key [redacted private key] from disk");
    expect_redacted(c,
                    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIOq7\n-----END EC PRIVATE KEY-----\n"
                    "next",
                    "[redacted private key]\\nnext");
    expect_redacted(c,
                    "x -----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkq\n"
                    "-----END ENCRYPTED PRIVATE KEY-----",
                    "x [redacted private key]");
    expect_redacted(c,
                    "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIEpAIBAAKC\n"
                    "-----END RSA PRIVATE KEY-----",
                    "[redacted private key]");
    expect_redacted(
        c, "blob -----BEGIN ENCRYPTED DATA-----\nU2FsdGVk\n-----END ENCRYPTED DATA----- ok",
        "blob [redacted private key] ok");
    /* No END line: everything from BEGIN on goes. */
    expect_redacted(c, "start -----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nsecret tail words",
                    "start [redacted private key]");
    expect_redacted(c, "cut -----BEGIN OPENSSH PRIVATE KEY", "cut [redacted private key]");
    /* A certificate is not a key: its lines stay, only long base64 runs go. */
    expect_redacted(c,
                    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n"
                    "-----END CERTIFICATE-----",
                    "-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIU\\n"
                    "-----END CERTIFICATE-----");
}

static void test_redact_runs(void **state)
{
    struct capture *c = *state;
    static const char hex64[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    char input[256];

    snprintf(input, sizeof(input), "session key %s used", hex64);
    expect_redacted(c, input, "session key [redacted] used");
    snprintf(input, sizeof(input), "%s", hex64);
    expect_redacted(c, input, "[redacted]");
    /* Ordinary text, short hex and serials stay. */
    expect_redacted(c, "issued serial 0A1B to device line-3 (deadbeef)",
                    "issued serial 0A1B to device line-3 (deadbeef)");
    /* A certificate serial (up to 40 hex digits) stays; 41 hex digits go, also when glued to
     * other base64 characters. */
    expect_redacted(c, "serial 5A3F0C1D2E3F405162738495A6B7C8D90A1B2C3D ok",
                    "serial 5A3F0C1D2E3F405162738495A6B7C8D90A1B2C3D ok");
    expect_redacted(c, "id 0123456789abcdef0123456789abcdef012345678 end", "id [redacted] end");
    expect_redacted(c, "id:x0123456789ABCDEF0123456789ABCDEF012345678;", "id:x[redacted];");
    /* 43 base64 characters stay, 44 (a 32-byte key) go. */
    expect_redacted(c, "tok ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZabc end",
                    "tok ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZabc end");
    expect_redacted(c, "tok ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZabcd end",
                    "tok [redacted] end");
    expect_redacted(c, "password=c2VjcmV0IGtleSBtYXRlcmlhbCBmb3IgdGVzdGluZyE+/w== (oops)",
                    "[redacted] (oops)");
    /* Runs are cut by newlines, which are then escaped. */
    expect_redacted(c, "a\nghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZabcd\nb", "a\\n[redacted]\\nb");
}

static void test_truncation(void **state)
{
    struct capture *c = *state;
    char *big = malloc(20001);
    char *out;
    size_t len;

    assert_non_null(big);
    for (size_t i = 0; i < 20000; i++)
        big[i] = "ab "[i % 3];
    big[20000] = '\0';

    for (size_t n = 3000; n <= 20000; n += 17000) {
        big[n] = '\0';
        cl_log_info("%s", big);
        out = captured(c);
        len = strlen(out);
        assert_true(len <= CL_LOG_LINE_MAX);
        assert_true(len > CL_LOG_LINE_MAX - 16);
        assert_int_equal(count_char(out, '\n'), 1);
        assert_string_equal(out + len - 4, "...\n");
        free(out);
        big[n] = "ab "[n % 3];
    }

    /* Escapes are never cut in half. */
    memset(big, '\n', 3000);
    big[3000] = '\0';
    cl_log_info("%s", big);
    out = captured(c);
    len = strlen(out);
    assert_true(len <= CL_LOG_LINE_MAX);
    assert_string_equal(out + len - 4, "...\n");
    assert_int_equal(out[len - 5], 'n');
    assert_int_equal(out[len - 6], '\\');
    free(out);
    free(big);
}

struct worker {
    int id;
};

static const char padding[] = "lorem ipsum dolor sit amet, consectetur adipiscing elit; ";

static void *log_lines(void *arg)
{
    const struct worker *w = arg;
    for (int i = 0; i < LINES_PER_THREAD; i++)
        cl_log_info("thread %d line %d %s%s%s%s%s%s%s%s%s%s end", w->id, i, padding, padding,
                    padding, padding, padding, padding, padding, padding, padding, padding);
    return NULL;
}

static void test_threads(void **state)
{
    struct capture *c = *state;
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    static unsigned char seen[THREADS][LINES_PER_THREAD];
    char tail[1024];
    char *out, *line, *save = NULL;
    size_t lines = 0;

    snprintf(tail, sizeof(tail), "%s%s%s%s%s%s%s%s%s%s end", padding, padding, padding, padding,
             padding, padding, padding, padding, padding, padding);
    for (int i = 0; i < THREADS; i++) {
        workers[i].id = i;
        assert_int_equal(pthread_create(&threads[i], NULL, log_lines, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);

    out = captured(c);
    assert_int_equal(count_char(out, '\n'), THREADS * LINES_PER_THREAD);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *msg = check_prefix(line, "ca-server", "info");
        int t = -1, n = -1, used = 0;

        assert_int_equal(sscanf(msg, "thread %d line %d %n", &t, &n, &used), 2);
        assert_true(t >= 0 && t < THREADS && n >= 0 && n < LINES_PER_THREAD);
        assert_string_equal(msg + used, tail);
        assert_int_equal(seen[t][n], 0);
        seen[t][n] = 1;
        lines++;
    }
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels, setup, teardown),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test_setup_teardown(test_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_pem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
