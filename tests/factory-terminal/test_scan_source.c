/* test_scan_source.c: the factory-terminal's scan sources (factory-terminal/scan_source.c): a
 * file (trimming, blank and comment lines, CRLF, the 64-byte bound, control bytes, the last line
 * without its end, EOF), stdin played by a pipe (the stop flag, before and while waiting), and a
 * serial scanner played by a pseudo-terminal (termios while open and restored on close, CR or LF
 * ending a scan, no echo, hang-up, refused baud rates and non-terminals). Also the wire
 * contract's device-number check (common/input_check.c). */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "input_check.h"
#include "scan_source.h"

/* ---- helpers ---- */

/* A pointer an open function must overwrite with NULL when it fails. */
static int sentinel;
#define NOT_NULL ((struct ft_scan_source *)(void *)&sentinel)

#define OPEN_TEXT(text) open_scans(text, sizeof(text) - 1)

/* A scan file holding exactly len bytes of data, opened as a source (the file itself is removed
 * at once: the source keeps its descriptor). */
static struct ft_scan_source *open_scans(const char *data, size_t len)
{
    char path[] = "/tmp/test_scan_source.XXXXXX";
    char err[512] = "";
    struct ft_scan_source *source = NULL;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    assert_int_equal(ft_scan_open_file(path, &source, err, sizeof(err)), CL_OK);
    assert_non_null(source);
    assert_int_equal(unlink(path), 0);
    assert_non_null(strstr(ft_scan_describe(source), "file /tmp/test_scan_source."));
    return source;
}

static void expect_scan(struct ft_scan_source *source, const atomic_int *stop,
                        enum ft_scan_kind kind, const char *line)
{
    char got[FT_SCAN_MAX + 1];
    char err[512] = "";

    memset(got, 'x', sizeof(got));
    assert_int_equal(ft_scan_next(source, got, stop, err, sizeof(err)), kind);
    assert_string_equal(got, line);
    assert_string_equal(err, "");
}

/* The lowest descriptor number not in use (to see that nothing leaked). */
static int lowest_free_fd(void)
{
    int fd = dup(STDERR_FILENO);
    assert_true(fd >= 0);
    assert_int_equal(close(fd), 0);
    return fd;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

struct delayed_stop {
    atomic_int *stop;
    long ms;
};

static void *stop_later(void *arg)
{
    const struct delayed_stop *d = arg;
    struct timespec t = {d->ms / 1000, (d->ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
    atomic_store(d->stop, 1);
    return NULL;
}

/* ---- a file source ---- */

static void test_file_trims_and_skips(void **state)
{
    static const char data[] = " \t3012-000001 \t\n" /* surrounding spaces and tabs */
                               "\n"                  /* blank */
                               " \t \n"              /* blank but for spaces and tabs */
                               "# a comment\n"       /* comment */
                               "  \t# an indented comment\n"
                               "3012-000002\r\n"     /* CRLF: one scan, no empty one */
                               "\t 3012-000003 \r\n" /* CRLF after trailing blanks */
                               "30 12\t9\n"          /* inner blanks are kept */
                               "A#1\n"               /* '#' not first: not a comment */
                               "\r\n\r\n"            /* blank CRLF lines */
                               "3012-000004\r"       /* a lone CR ends a scan too */
                               "3012-000005";        /* the last line without its end */
    struct ft_scan_source *source;
    (void)state;

    source = open_scans(data, sizeof(data) - 1);
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000001");
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000002");
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000003");
    expect_scan(source, NULL, FT_SCAN_LINE, "30 12\t9");
    expect_scan(source, NULL, FT_SCAN_LINE, "A#1");
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000004");
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000005");
    expect_scan(source, NULL, FT_SCAN_EOF, "");
    expect_scan(source, NULL, FT_SCAN_EOF, ""); /* and stays at the end */
    ft_scan_close(source);
}

static void test_file_line_bound(void **state)
{
    char data[8192], exact[FT_SCAN_MAX + 1], longer[FT_SCAN_MAX + 2];
    size_t n = 0;
    struct ft_scan_source *source;
    (void)state;

    for (size_t i = 0; i < FT_SCAN_MAX; i++)
        exact[i] = (char)('A' + i % 26);
    exact[FT_SCAN_MAX] = '\0';
    memcpy(longer, exact, FT_SCAN_MAX);
    longer[FT_SCAN_MAX] = 'Z';
    longer[FT_SCAN_MAX + 1] = '\0';

    n += (size_t)sprintf(data + n, "%s\n", exact);   /* exactly 64 bytes: a scan */
    n += (size_t)sprintf(data + n, "%s\n", longer);  /* 65 bytes: too long */
    n += (size_t)sprintf(data + n, "3012-000001\n"); /* read normally after it */
    n += (size_t)sprintf(data + n, "%s\r\n", exact); /* 64 bytes and CRLF: a scan */
    memset(data + n, '7', 5000);                     /* longer than the read buffer */
    n += 5000;
    n += (size_t)sprintf(data + n, "\n3012-000002\n");
    n += (size_t)sprintf(data + n, "#%s%s\n", longer, longer); /* a long comment is skipped */
    n += (size_t)sprintf(data + n, "%s", longer);              /* too long, and no end */

    source = open_scans(data, n);
    expect_scan(source, NULL, FT_SCAN_LINE, exact);
    expect_scan(source, NULL, FT_SCAN_TOO_LONG, exact); /* its beginning */
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000001");
    expect_scan(source, NULL, FT_SCAN_LINE, exact);
    {
        char sevens[FT_SCAN_MAX + 1];
        memset(sevens, '7', FT_SCAN_MAX);
        sevens[FT_SCAN_MAX] = '\0';
        expect_scan(source, NULL, FT_SCAN_TOO_LONG, sevens); /* reported once */
    }
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000002");
    expect_scan(source, NULL, FT_SCAN_TOO_LONG, exact);
    expect_scan(source, NULL, FT_SCAN_EOF, "");
    ft_scan_close(source);
}

static void test_file_control_bytes(void **state)
{
    static const char data[] = "30\x01"
                               "2-0\0"
                               "1\x7f\xff\n"          /* SOH, NUL, DEL, a non-ASCII byte */
                               "\x1b[A3012-000001\n"; /* an escape sequence */
    char line[FT_SCAN_MAX + 1], err[512] = "";
    struct ft_scan_source *source;
    (void)state;

    source = open_scans(data, sizeof(data) - 1);
    assert_int_equal(ft_scan_next(source, line, NULL, err, sizeof(err)), FT_SCAN_LINE);
    assert_string_equal(line, "30?2-0?1??");
    assert_false(cl_wire_device_number_ok(line));
    expect_scan(source, NULL, FT_SCAN_LINE, "?[A3012-000001");
    expect_scan(source, NULL, FT_SCAN_EOF, "");
    ft_scan_close(source);
}

static void test_file_end(void **state)
{
    struct ft_scan_source *source;
    (void)state;

    source = OPEN_TEXT("");
    expect_scan(source, NULL, FT_SCAN_EOF, "");
    ft_scan_close(source);

    source = OPEN_TEXT("\n \n# only comments\n#no end");
    expect_scan(source, NULL, FT_SCAN_EOF, "");
    ft_scan_close(source);

    source = OPEN_TEXT("3012-000001\n   "); /* a last line of blanks only */
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000001");
    expect_scan(source, NULL, FT_SCAN_EOF, "");
    ft_scan_close(source);
}

static void test_file_missing(void **state)
{
    char err[512] = "";
    struct ft_scan_source *source = NOT_NULL;
    int free_fd = lowest_free_fd();
    (void)state;

    assert_int_equal(ft_scan_open_file("/nonexistent/scans.txt", &source, err, sizeof(err)),
                     CL_ERR_IO);
    assert_null(source);
    assert_non_null(strstr(err, "/nonexistent/scans.txt"));
    assert_non_null(strstr(err, strerror(ENOENT)));
    assert_int_equal(lowest_free_fd(), free_fd);
}

/* ---- stdin, played by a pipe ---- */

static void test_stdin_stop(void **state)
{
    int p[2], saved_stdin = dup(STDIN_FILENO);
    char err[512] = "";
    struct ft_scan_source *source = NULL;
    atomic_int stop = 0;
    struct delayed_stop later = {&stop, 300};
    struct timespec start;
    pthread_t thread;
    (void)state;

    assert_int_equal(pipe(p), 0);
    if (p[0] != STDIN_FILENO) { /* it is when the test was started with stdin closed */
        assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
        assert_int_equal(close(p[0]), 0);
    }

    assert_int_equal(ft_scan_open_stdin(&source, err, sizeof(err)), CL_OK);
    assert_string_equal(ft_scan_describe(source), "stdin");

    assert_int_equal(write(p[1], "3012-000001\n", 12), 12);
    expect_scan(source, &stop, FT_SCAN_LINE, "3012-000001");

    /* Stop already asked: back at once, nothing read. */
    atomic_store(&stop, 1);
    clock_gettime(CLOCK_MONOTONIC, &start);
    expect_scan(source, &stop, FT_SCAN_STOPPED, "");
    assert_true(seconds_since(&start) < 0.2);

    /* Stop asked while waiting for a scan, half of which has arrived. */
    atomic_store(&stop, 0);
    assert_int_equal(write(p[1], "3012-", 5), 5);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(pthread_create(&thread, NULL, stop_later, &later), 0);
    expect_scan(source, &stop, FT_SCAN_STOPPED, "");
    assert_true(seconds_since(&start) >= 0.25); /* it did wait */
    assert_true(seconds_since(&start) < 2.0);   /* and noticed soon */
    assert_int_equal(pthread_join(thread, NULL), 0);

    /* The half scan is kept; the rest completes it. */
    atomic_store(&stop, 0);
    assert_int_equal(write(p[1], "000002\n", 7), 7);
    expect_scan(source, &stop, FT_SCAN_LINE, "3012-000002");

    assert_int_equal(close(p[1]), 0);
    expect_scan(source, &stop, FT_SCAN_EOF, "");
    ft_scan_close(source);
    assert_true(fcntl(STDIN_FILENO, F_GETFD) >= 0); /* stdin is not the source's to close */

    if (saved_stdin >= 0) {
        assert_int_equal(dup2(saved_stdin, STDIN_FILENO), STDIN_FILENO);
        close(saved_stdin);
    } else {
        close(STDIN_FILENO);
    }
}

/* ---- a serial scanner, played by a pseudo-terminal ---- */

struct pty {
    int master;
    int slave; /* the test's own descriptor on the scanner side, to look at its settings */
    char path[128];
    struct termios before;
};

static int pty_setup(void **state)
{
    struct pty *t = calloc(1, sizeof(*t));
    const char *name;

    if (t == NULL)
        return -1;
    t->master = posix_openpt(O_RDWR | O_NOCTTY);
    if (t->master < 0 || grantpt(t->master) != 0 || unlockpt(t->master) != 0 ||
        (name = ptsname(t->master)) == NULL || strlen(name) >= sizeof(t->path))
        return -1;
    strcpy(t->path, name);
    if ((t->slave = open(t->path, O_RDWR | O_NOCTTY)) < 0 || tcgetattr(t->slave, &t->before) != 0)
        return -1;
    /* Settings unlike the scanner's, so that their restoration shows. */
    t->before.c_lflag &= ~(tcflag_t)ICANON;
    t->before.c_lflag |= ECHO | ISIG;
    t->before.c_iflag &= ~(tcflag_t)ICRNL;
    t->before.c_iflag |= IXON;
    t->before.c_cc[VMIN] = 1;
    t->before.c_cc[VTIME] = 0;
    if (cfsetispeed(&t->before, B4800) != 0 || cfsetospeed(&t->before, B4800) != 0 ||
        tcsetattr(t->slave, TCSANOW, &t->before) != 0 || tcgetattr(t->slave, &t->before) != 0)
        return -1;
    *state = t;
    return 0;
}

static int pty_teardown(void **state)
{
    struct pty *t = *state;
    if (t != NULL) {
        if (t->slave >= 0)
            close(t->slave);
        if (t->master >= 0)
            close(t->master);
        free(t);
    }
    return 0;
}

/* Reads whatever fd has until it has been quiet for 200 ms. */
static void drain(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[256];

    while (poll(&p, 1, 200) == 1)
        assert_true(read(fd, buf, sizeof(buf)) > 0);
}

static void expect_settings_equal(const struct termios *a, const struct termios *b)
{
    assert_int_equal(a->c_iflag, b->c_iflag);
    assert_int_equal(a->c_oflag, b->c_oflag);
    assert_int_equal(a->c_cflag, b->c_cflag);
    assert_int_equal(a->c_lflag, b->c_lflag);
    assert_memory_equal(a->c_cc, b->c_cc, sizeof(a->c_cc));
    assert_int_equal(cfgetispeed(a), cfgetispeed(b));
    assert_int_equal(cfgetospeed(a), cfgetospeed(b));
}

static void test_tty_scans(void **state)
{
    struct pty *t = *state;
    struct ft_scan_source *source = NULL;
    struct termios now;
    struct pollfd echo = {.events = POLLIN}, pending = {.events = POLLIN};
    char err[512] = "", expected[200];
    atomic_int stop = 0;
    struct delayed_stop later = {&stop, 2000};
    pthread_t thread;
    int free_fd;

    assert_int_equal(cfgetispeed(&t->before), B4800); /* the pty keeps a speed */
    /* Something the scanner sent before the line started: waiting on the scanner's side. */
    assert_int_equal(write(t->master, "9999-999999\n", 12), 12);
    pending.fd = t->slave;
    assert_int_equal(poll(&pending, 1, 2000), 1);
    drain(t->master); /* its echo under the settings before */

    free_fd = lowest_free_fd();
    assert_int_equal(ft_scan_open_tty(t->path, 19200, &source, err, sizeof(err)), CL_OK);
    assert_non_null(source);
    snprintf(expected, sizeof(expected), "serial %s at 19200 baud", t->path);
    assert_string_equal(ft_scan_describe(source), expected);

    /* The scanner's settings while open. */
    assert_int_equal(tcgetattr(t->slave, &now), 0);
    assert_true(now.c_lflag & ICANON);
    assert_true(now.c_iflag & ICRNL);
    assert_false(now.c_lflag & ECHO);
    assert_false(now.c_lflag & ISIG);
    assert_false(now.c_iflag & IXON);
    assert_int_equal(now.c_cflag & CSIZE, CS8);
    assert_false(now.c_cflag & PARENB);
    assert_int_equal(cfgetispeed(&now), B19200);
    assert_int_equal(cfgetospeed(&now), B19200);

    /* The scanner sends CR after one number, LF after the next. Each scan is read before the
     * next one comes: a CR alone must end it (else the wait ends in a stop, 2 s later). */
    assert_int_equal(write(t->master, "3012-000001\r", 12), 12);
    assert_int_equal(pthread_create(&thread, NULL, stop_later, &later), 0);
    expect_scan(source, &stop, FT_SCAN_LINE, "3012-000001"); /* and not what came before */
    assert_int_equal(write(t->master, "3012-000002\n", 12), 12);
    expect_scan(source, &stop, FT_SCAN_LINE, "3012-000002");
    assert_int_equal(pthread_join(thread, NULL), 0);

    /* Nothing is echoed back to the scanner. */
    echo.fd = t->master;
    assert_int_equal(poll(&echo, 1, 200), 0);

    /* Waiting for a scan ends when asked to stop (the guard above has by now). */
    assert_int_equal(atomic_load(&stop), 1);
    expect_scan(source, &stop, FT_SCAN_STOPPED, "");

    ft_scan_close(source);
    assert_int_equal(lowest_free_fd(), free_fd); /* its descriptor is closed */
    assert_int_equal(tcgetattr(t->slave, &now), 0);
    expect_settings_equal(&now, &t->before);
}

static void test_tty_hang_up(void **state)
{
    struct pty *t = *state;
    struct ft_scan_source *source = NULL;
    char line[FT_SCAN_MAX + 1], err[512] = "";

    assert_int_equal(ft_scan_open_tty(t->path, 9600, &source, err, sizeof(err)), CL_OK);
    assert_int_equal(write(t->master, "3012-000001\n", 12), 12);
    expect_scan(source, NULL, FT_SCAN_LINE, "3012-000001");
    assert_int_equal(close(t->master), 0); /* the scanner is unplugged */
    t->master = -1;
    assert_int_equal(ft_scan_next(source, line, NULL, err, sizeof(err)), FT_SCAN_ERROR);
    assert_non_null(strstr(err, t->path));
    ft_scan_close(source);
}

static void test_tty_bad_baud(void **state)
{
    struct pty *t = *state;
    struct ft_scan_source *source = NOT_NULL;
    struct termios now;
    char err[512] = "";
    static const long good[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};
    static const long bad[] = {0, -9600, 300, 14400, 19201, 460800, 9600L * 1000};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(ft_scan_baud_ok(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(ft_scan_baud_ok(bad[i]));

    assert_int_equal(ft_scan_open_tty(t->path, 14400, &source, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(source);
    assert_non_null(strstr(err, "unsupported baud rate 14400"));
    assert_int_equal(tcgetattr(t->slave, &now), 0);
    expect_settings_equal(&now, &t->before); /* not touched */
}

static void test_tty_refuses_non_terminal(void **state)
{
    struct ft_scan_source *source = NOT_NULL;
    char err[512] = "";
    int free_fd = lowest_free_fd();
    (void)state;

    assert_int_equal(ft_scan_open_tty("/dev/null", 9600, &source, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(source);
    assert_string_equal(err, "/dev/null is not a serial terminal (use --scans for a file)");
    assert_int_equal(lowest_free_fd(), free_fd); /* not left open */

    source = NOT_NULL;
    err[0] = '\0';
    assert_int_equal(ft_scan_open_tty("/nonexistent/ttyUSB0", 9600, &source, err, sizeof(err)),
                     CL_ERR_IO);
    assert_null(source);
    assert_non_null(strstr(err, "cannot open the scanner /nonexistent/ttyUSB0"));
}

/* ---- the wire contract's device number ---- */

static void test_wire_device_number(void **state)
{
    static const char *const good[] = {"3012-000001", "A123-1", "ABCDEFGH-123456789012", "0-0"};
    static const char *const bad[] = {"",
                                      "3012",
                                      "3012-",
                                      "-1",
                                      "a123-1",
                                      "3012-0000000000001",
                                      "ABCDEFGHI-1",
                                      "3012-00x1",
                                      "3012--1",
                                      "3012-1 ",
                                      " 3012-1",
                                      "3012-1\n",
                                      "3012_1",
                                      "30 12-1",
                                      "3012-1-2",
                                      "3012-+1",
                                      "A.B-1"};
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!cl_wire_device_number_ok(good[i]))
            fail_msg("\"%s\" refused", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cl_wire_device_number_ok(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    }
    assert_false(cl_wire_device_number_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_trims_and_skips),
        cmocka_unit_test(test_file_line_bound),
        cmocka_unit_test(test_file_control_bytes),
        cmocka_unit_test(test_file_end),
        cmocka_unit_test(test_file_missing),
        cmocka_unit_test(test_stdin_stop),
        cmocka_unit_test_setup_teardown(test_tty_scans, pty_setup, pty_teardown),
        cmocka_unit_test_setup_teardown(test_tty_hang_up, pty_setup, pty_teardown),
        cmocka_unit_test_setup_teardown(test_tty_bad_baud, pty_setup, pty_teardown),
        cmocka_unit_test(test_tty_refuses_non_terminal),
        cmocka_unit_test(test_wire_device_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
