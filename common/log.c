/* log.c: formats, redacts and escapes one record into a bounded buffer, then writes it with a
 * single write(2). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "error.h"

#define PROGRAM_MAX 64 /* program name buffer, NUL included */
#define MSG_MAX 8192   /* formatted message before redaction, NUL included */
#define REDACTED_MAX (MSG_MAX + 64)
#define HEX_RUN_MIN 41
#define BASE64_RUN_MIN 44

static const char pem_begin[] = "-----BEGIN ";
static const char pem_end[] = "-----END ";
static const char pem_dashes[] = "-----";
static const char redacted_key[] = "[redacted private key]";
static const char redacted_run[] = "[redacted]";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static atomic_int log_level = CL_LOG_INFO;
static atomic_int log_sink = 2;
static char log_program[PROGRAM_MAX] = "certline";

static int clamp_level(int level)
{
    if (level < CL_LOG_ERROR)
        return CL_LOG_ERROR;
    if (level > CL_LOG_DEBUG)
        return CL_LOG_DEBUG;
    return level;
}

void cl_log_set_level(enum cl_log_level level)
{
    atomic_store(&log_level, clamp_level((int)level));
}

enum cl_log_level cl_log_get_level(void)
{
    return (enum cl_log_level)atomic_load(&log_level);
}

int cl_log_enabled(enum cl_log_level level)
{
    return (int)level <= atomic_load(&log_level) && atomic_load(&log_sink) >= 0;
}

int cl_log_level_parse(const char *name, enum cl_log_level *out)
{
    if (name == NULL || out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum cl_log_level)i;
            return CL_OK;
        }
    }
    return CL_ERR_INVALID_ARGUMENT;
}

const char *cl_log_level_name(enum cl_log_level level)
{
    if ((int)level < CL_LOG_ERROR || (int)level > CL_LOG_DEBUG)
        return "unknown";
    return level_names[level];
}

void cl_log_set_program(const char *name)
{
    size_t i;

    if (name == NULL || name[0] == '\0')
        name = "certline";
    for (i = 0; i < PROGRAM_MAX - 1 && name[i] != '\0'; i++) {
        unsigned char c = (unsigned char)name[i];
        log_program[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    log_program[i] = '\0';
}

void cl_log_set_sink(int fd)
{
    atomic_store(&log_sink, fd < 0 ? -1 : fd);
}

/* A bounded output buffer; appends that do not fit whole are dropped and remembered. */
struct outbuf {
    char *buf;
    size_t cap;
    size_t len;
    int full;
};

static void out_append(struct outbuf *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_base64(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
           c == '/' || c == '=';
}

static char ascii_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

/* Whether s[0..n) starts with the NUL-terminated prefix p. */
static int has_prefix(const char *s, size_t n, const char *p)
{
    size_t plen = strlen(p);
    return n >= plen && memcmp(s, p, plen) == 0;
}

/* Index of the first occurrence of needle in s[0..n), or n. */
static size_t find(const char *s, size_t n, const char *needle)
{
    size_t nlen = strlen(needle);
    for (size_t i = 0; i + nlen <= n; i++) {
        if (memcmp(s + i, needle, nlen) == 0)
            return i;
    }
    return n;
}

/* Whether s[0..n) contains needle (upper case), ignoring ASCII case. */
static int contains_nocase(const char *s, size_t n, const char *needle)
{
    size_t nlen = strlen(needle);
    for (size_t i = 0; i + nlen <= n; i++) {
        size_t k = 0;
        while (k < nlen && ascii_upper(s[i + k]) == needle[k])
            k++;
        if (k == nlen)
            return 1;
    }
    return 0;
}

/* If s[0..n) starts a PEM block holding a private or encrypted key, the length of the part to
 * redact (to the end of its END line, or all of s if there is none); else 0. */
static size_t private_pem_len(const char *s, size_t n)
{
    size_t label_start, label_len, end, close;

    if (!has_prefix(s, n, pem_begin))
        return 0;
    label_start = sizeof(pem_begin) - 1;
    label_len = 0;
    while (label_start + label_len < n && s[label_start + label_len] != '\n' &&
           !has_prefix(s + label_start + label_len, n - label_start - label_len, pem_dashes))
        label_len++;
    if (!contains_nocase(s + label_start, label_len, "PRIVATE KEY") &&
        !contains_nocase(s + label_start, label_len, "ENCRYPTED"))
        return 0;
    end = label_start + label_len +
          find(s + label_start + label_len, n - label_start - label_len, pem_end);
    if (end >= n)
        return n;
    end += sizeof(pem_end) - 1;
    /* The END line runs to its closing dashes, or to the end of the line if they are missing. */
    close = end;
    while (close < n && s[close] != '\n' && !has_prefix(s + close, n - close, pem_dashes))
        close++;
    if (close < n && s[close] != '\n')
        close += sizeof(pem_dashes) - 1;
    return close;
}

/* Copies s[0..n) to o with key material replaced. When the message was cut (truncated), a run
 * reaching the cut is redacted whatever its length, as it may be the start of a longer one. */
static void redact(const char *s, size_t n, int truncated, struct outbuf *o)
{
    size_t i = 0;

    while (i < n) {
        size_t pem = private_pem_len(s + i, n - i);
        if (pem > 0) {
            out_append(o, redacted_key, sizeof(redacted_key) - 1);
            i += pem;
            continue;
        }
        if (!is_base64(s[i])) {
            out_append(o, s + i, 1);
            i++;
            continue;
        }
        size_t run_end = i;
        while (run_end < n && is_base64(s[run_end]))
            run_end++;
        if (run_end - i >= BASE64_RUN_MIN || (truncated && run_end == n)) {
            out_append(o, redacted_run, sizeof(redacted_run) - 1);
            i = run_end;
            continue;
        }
        /* A shorter base64 run may still hold a long run of hex digits. */
        while (i < run_end) {
            size_t hex_end = i;
            while (hex_end < run_end && is_hex(s[hex_end]))
                hex_end++;
            if (hex_end - i >= HEX_RUN_MIN) {
                out_append(o, redacted_run, sizeof(redacted_run) - 1);
                i = hex_end;
            } else if (hex_end > i) {
                out_append(o, s + i, hex_end - i);
                i = hex_end;
            } else {
                out_append(o, s + i, 1);
                i++;
            }
        }
    }
}

/* Appends s[0..n) to o with control characters escaped; stops at the first character whose
 * escaped form does not fit whole. */
static void escape(const char *s, size_t n, struct outbuf *o)
{
    static const char hexdigits[] = "0123456789abcdef";

    for (size_t i = 0; i < n && !o->full; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[4];
        size_t len;

        if (c == '\n') {
            memcpy(esc, "\\n", 2);
            len = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            len = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2);
            len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hexdigits[c >> 4];
            esc[3] = hexdigits[c & 0xf];
            len = 4;
        } else {
            esc[0] = (char)c;
            len = 1;
        }
        out_append(o, esc, len);
    }
}

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 0;
    }
    if (gmtime_r(&ts.tv_sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

void cl_log(enum cl_log_level level, const char *fmt, ...)
{
    static const char ellipsis[] = "...";
    char msg[MSG_MAX];
    char clean[REDACTED_MAX];
    char line[CL_LOG_LINE_MAX];
    char head[160];
    struct outbuf red = {clean, sizeof(clean), 0, 0};
    struct outbuf out = {line, sizeof(line) - (sizeof(ellipsis) - 1) - 1, 0, 0};
    int saved_errno = errno;
    int lvl = clamp_level((int)level);
    int fd = atomic_load(&log_sink);
    size_t msg_len;
    int truncated = 0, n;
    va_list ap;

    if (fd < 0 || lvl > atomic_load(&log_level))
        goto out;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(msg, sizeof(msg), "(unformattable log message)");
        n = (int)strlen(msg);
    }
    msg_len = (size_t)n;
    if (msg_len >= sizeof(msg)) {
        msg_len = sizeof(msg) - 1;
        truncated = 1;
    }

    redact(msg, msg_len, truncated, &red);
    truncated |= red.full;

    timestamp(head, sizeof(head));
    n = (int)strlen(head);
    snprintf(head + n, sizeof(head) - (size_t)n, " %s[%ld] %s: ", log_program, (long)getpid(),
             level_names[lvl]);
    out_append(&out, head, strlen(head));
    escape(clean, red.len, &out);
    /* The room for "...\n" was held back from out.cap, so these always fit. */
    if (truncated || out.full) {
        memcpy(line + out.len, ellipsis, sizeof(ellipsis) - 1);
        out.len += sizeof(ellipsis) - 1;
    }
    line[out.len++] = '\n';
    (void)cl_write_all(fd, line, out.len); /* nowhere to report a failed log line */

out:
    errno = saved_errno;
}
