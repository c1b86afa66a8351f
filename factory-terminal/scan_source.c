/* scan_source.c: reads scans one line at a time from stdin, a file or a serial tty (termios set
 * up for a barcode scanner and restored on close), with a bound on every line and a way out
 * when the program is asked to stop. */
#include "scan_source.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "error.h"

#define POLL_MS 250

struct ft_scan_source {
    int fd;
    int owned;  /* close fd on ft_scan_close */
    int is_tty; /* a serial scanner: saved holds the settings to restore */
    struct termios saved;
    char what[320];
    char buf[4096];
    size_t start, end;
    int eof;
    /* the line being assembled */
    char cur[FT_SCAN_MAX + 1];
    size_t curlen;
    int overflow;
};

static const struct {
    long baud;
    speed_t speed;
} bauds[] = {
    {1200, B1200},   {2400, B2400},   {4800, B4800},     {9600, B9600},     {19200, B19200},
    {38400, B38400}, {57600, B57600}, {115200, B115200}, {230400, B230400},
};

int ft_scan_baud_ok(long baud)
{
    for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
        if (bauds[i].baud == baud)
            return 1;
    return 0;
}

static struct ft_scan_source *source_new(int fd, int owned)
{
    struct ft_scan_source *s = calloc(1, sizeof(*s));
    if (s != NULL) {
        s->fd = fd;
        s->owned = owned;
    }
    return s;
}

int ft_scan_open_stdin(struct ft_scan_source **out, char *err, size_t errlen)
{
    *out = source_new(STDIN_FILENO, 0);
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    snprintf((*out)->what, sizeof((*out)->what), "stdin");
    return CL_OK;
}

int ft_scan_open_file(const char *path, struct ft_scan_source **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    *out = NULL;
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the scan file %s: %s", path, strerror(errno));
        return CL_ERR_IO;
    }
    if ((*out = source_new(fd, 1)) == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    snprintf((*out)->what, sizeof((*out)->what), "file %.300s", path);
    return CL_OK;
}

int ft_scan_open_tty(const char *path, long baud, struct ft_scan_source **out, char *err,
                     size_t errlen)
{
    struct termios t;
    speed_t speed = B0;
    int fd, flags;

    *out = NULL;
    for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
        if (bauds[i].baud == baud)
            speed = bauds[i].speed;
    if (speed == B0) {
        snprintf(err, errlen, "unsupported baud rate %ld (1200 to 230400)", baud);
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* Non-blocking open: a serial port without carrier would otherwise block here. */
    fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the scanner %s: %s", path, strerror(errno));
        return CL_ERR_IO;
    }
    if (!isatty(fd) || tcgetattr(fd, &t) != 0) {
        snprintf(err, errlen, "%s is not a serial terminal (use --scans for a file)", path);
        close(fd);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((*out = source_new(fd, 1)) == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    (*out)->saved = t;
    /* 8N1, receiver on, no modem control, no flow control. */
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    /* CR becomes LF, so CR or LF ends a scan; no parity marking, no software flow control. */
    t.c_iflag &= ~(tcflag_t)(IGNCR | INLCR | ISTRIP | IXON | IXOFF | IXANY | INPCK | PARMRK |
                             IGNBRK | BRKINT);
    t.c_iflag |= ICRNL | IGNPAR;
    /* Canonical lines, no echo, no signals or editing from the scanner's bytes. */
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL | ISIG | IEXTEN);
    t.c_lflag |= ICANON;
    t.c_cc[VEOF] = _POSIX_VDISABLE;
    t.c_cc[VEOL] = _POSIX_VDISABLE;
    t.c_cc[VEOL2] = _POSIX_VDISABLE;
    t.c_cc[VERASE] = _POSIX_VDISABLE;
    t.c_cc[VKILL] = _POSIX_VDISABLE;
    if (cfsetispeed(&t, speed) != 0 || cfsetospeed(&t, speed) != 0 ||
        tcsetattr(fd, TCSANOW, &t) != 0) {
        snprintf(err, errlen, "cannot set up the scanner %s at %ld baud: %s", path, baud,
                 strerror(errno));
        (void)tcsetattr(fd, TCSANOW, &(*out)->saved);
        ft_scan_close(*out);
        *out = NULL;
        return CL_ERR_IO;
    }
    (*out)->is_tty = 1;
    (void)tcflush(fd, TCIFLUSH); /* nothing scanned before the line started counts */
    if ((flags = fcntl(fd, F_GETFL)) >= 0)
        (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    snprintf((*out)->what, sizeof((*out)->what), "serial %.280s at %ld baud", path, baud);
    return CL_OK;
}

const char *ft_scan_describe(const struct ft_scan_source *source)
{
    return source->what;
}

void ft_scan_close(struct ft_scan_source *source)
{
    if (source == NULL)
        return;
    if (source->is_tty)
        (void)tcsetattr(source->fd, TCSANOW, &source->saved);
    if (source->owned)
        close(source->fd);
    free(source);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Finishes the line being assembled. Returns 1 and fills line if it is a scan (or too long),
 * 0 if it is to be skipped. */
static int finish_line(struct ft_scan_source *s, char line[FT_SCAN_MAX + 1],
                       enum ft_scan_kind *kind)
{
    size_t a = 0, b = s->curlen;
    int overflow = s->overflow;

    s->cur[s->curlen] = '\0';
    s->curlen = 0;
    s->overflow = 0;
    while (a < b && is_blank(s->cur[a]))
        a++;
    if (a < b && s->cur[a] == '#')
        return 0; /* a comment, however long */
    if (overflow) {
        memcpy(line, s->cur, FT_SCAN_MAX + 1);
        *kind = FT_SCAN_TOO_LONG;
        return 1;
    }
    while (b > a && is_blank(s->cur[b - 1]))
        b--;
    if (a == b)
        return 0;
    memcpy(line, s->cur + a, b - a);
    line[b - a] = '\0';
    *kind = FT_SCAN_LINE;
    return 1;
}

/* Refills the buffer. Returns 1 if bytes (or EOF) arrived, 0 if stopped, -1 on error. */
static int refill(struct ft_scan_source *s, const atomic_int *stop, char *err, size_t errlen)
{
    for (;;) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        int r;
        ssize_t n;

        if (stop != NULL && atomic_load(stop))
            return 0;
        r = poll(&p, 1, POLL_MS);
        if (r < 0 && errno != EINTR) {
            snprintf(err, errlen, "%s: %s", s->what, strerror(errno));
            return -1;
        }
        if (r <= 0)
            continue;
        n = read(s->fd, s->buf, sizeof(s->buf));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            snprintf(err, errlen, "%s: read failed: %s", s->what, strerror(errno));
            return -1;
        }
        if (n == 0 && s->is_tty) {
            /* End-of-file characters are disabled: this is a hang-up. */
            snprintf(err, errlen, "%s: the scanner hung up (disconnected?)", s->what);
            return -1;
        }
        s->start = 0;
        s->end = (size_t)n;
        s->eof = n == 0;
        return 1;
    }
}

enum ft_scan_kind ft_scan_next(struct ft_scan_source *s, char line[FT_SCAN_MAX + 1],
                               const atomic_int *stop, char *err, size_t errlen)
{
    enum ft_scan_kind kind;

    line[0] = '\0';
    for (;;) {
        while (s->start < s->end) {
            unsigned char c = (unsigned char)s->buf[s->start++];
            if (c == '\n' || c == '\r') {
                if (finish_line(s, line, &kind))
                    return kind;
                continue;
            }
            if (s->curlen < FT_SCAN_MAX)
                s->cur[s->curlen++] = (c == '\t' || (c >= 0x20 && c < 0x7f)) ? (char)c : '?';
            else
                s->overflow = 1;
        }
        if (s->eof) {
            if ((s->curlen > 0 || s->overflow) && finish_line(s, line, &kind))
                return kind; /* a last line without its end */
            return FT_SCAN_EOF;
        }
        switch (refill(s, stop, err, errlen)) {
        case 0:
            return FT_SCAN_STOPPED;
        case -1:
            return FT_SCAN_ERROR;
        default:
            break;
        }
    }
}
