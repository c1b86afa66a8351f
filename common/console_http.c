/* console_http.c: an operator console's text building (escaped HTML, CSV, JSON) and form parsing.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "console_core.h"

void cs_add(struct cs_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = cap <= CS_BODY_MAX ? realloc(b->data, cap) : NULL;
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cs_puts(struct cs_buf *b, const char *s)
{
    cs_add(b, s, strlen(s));
}

void cs_printf(struct cs_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
    } else if ((size_t)n < sizeof(small)) {
        cs_add(b, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big == NULL) {
            b->failed = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        cs_add(b, big, (size_t)n);
        free(big);
    }
}

void cs_html(struct cs_buf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&':
            cs_puts(b, "&amp;");
            break;
        case '<':
            cs_puts(b, "&lt;");
            break;
        case '>':
            cs_puts(b, "&gt;");
            break;
        case '"':
            cs_puts(b, "&quot;");
            break;
        case '\'':
            cs_puts(b, "&#39;");
            break;
        default:
            cs_add(b, p, 1);
        }
    }
}

void cs_url(struct cs_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.') {
            cs_add(b, (const char *)p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            cs_add(b, enc, 3);
        }
    }
}

void cs_csv(struct cs_buf *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        cs_puts(b, s);
        return;
    }
    cs_puts(b, "\"");
    for (const char *p = s; *p; p++)
        cs_puts(b, *p == '"' ? "\"\"" : (char[]){*p, '\0'});
    cs_puts(b, "\"");
}

void cs_json(struct cs_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    cs_puts(b, "\"");
    for (;;) {
        size_t n = 0; /* a run that needs no escape, added at once */
        while (p[n] >= 0x20 && p[n] != '"' && p[n] != '\\')
            n++;
        cs_add(b, (const char *)p, n);
        p += n;
        if (*p == '\0')
            break;
        if (*p == '"' || *p == '\\')
            cs_printf(b, "\\%c", *p);
        else
            cs_printf(b, "\\u%04x", *p);
        p++;
    }
    cs_puts(b, "\"");
}

/* n decimal digits of v (0 <= v < 10^n) at out. */
static void digits(char *out, int v, int n)
{
    while (n-- > 0) {
        out[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The local offset from UTC of the hours an answer's times fall in, kept per thread:
 * localtime_r costs more than the rest of an export's row, and a day's times fall in a few dozen
 * hours. An hour is kept only if both its ends have the same offset and read as that offset says
 * (no change of offset, nor leap second, inside it); others go to localtime_r each time. */
#define OFFSET_HOURS 64
#define TIME_KEPT (1LL << 40) /* times further from 1970 (35,000 years) are not kept */
static _Thread_local struct {
    long long hour;
    long offset;
    int known; /* 0: not yet, 1: offset holds for the whole hour, -1: it does not */
} hour_offsets[OFFSET_HOURS];

/* The date and time of s seconds from 1970-01-01 (proleptic Gregorian; H. Hinnant's
 * days-to-civil). */
static void civil(long long s, struct tm *tm)
{
    long long days = s / 86400, rem = s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    days += 719468;
    long long era = (days >= 0 ? days : days - 146096) / 146097;
    long long doe = days - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long month = mp < 10 ? mp + 3 : mp - 9;
    tm->tm_year = (int)(yoe + era * 400 + (month <= 2) - 1900);
    tm->tm_mon = (int)month - 1;
    tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    tm->tm_hour = (int)(rem / 3600);
    tm->tm_min = (int)(rem / 60 % 60);
    tm->tm_sec = (int)(rem % 60);
}

static int same_fields(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
           a->tm_hour == b->tm_hour && a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

/* What localtime_r gives for t's date and time fields (the others are not set). */
static void local_fields(time_t t, struct tm *tm)
{
    long long hour = t >= 0 ? (long long)t / 3600 : -((3599 - (long long)t) / 3600);
    unsigned slot = (unsigned)((unsigned long long)hour % OFFSET_HOURS);

    if (t < -TIME_KEPT || t > TIME_KEPT) {
        localtime_r(&t, tm);
        return;
    }
    if (hour_offsets[slot].known == 0 || hour_offsets[slot].hour != hour) {
        time_t from = (time_t)(hour * 3600), to = from + 3599;
        struct tm start, end, at_from, at_to;
        hour_offsets[slot].hour = hour;
        hour_offsets[slot].known = -1;
        if (localtime_r(&from, &start) != NULL && localtime_r(&to, &end) != NULL &&
            start.tm_gmtoff == end.tm_gmtoff) {
            civil((long long)from + start.tm_gmtoff, &at_from);
            civil((long long)to + start.tm_gmtoff, &at_to);
            if (same_fields(&at_from, &start) && same_fields(&at_to, &end)) {
                hour_offsets[slot].offset = start.tm_gmtoff;
                hour_offsets[slot].known = 1;
            }
        }
    }
    if (hour_offsets[slot].known < 0)
        localtime_r(&t, tm);
    else
        civil((long long)t + hour_offsets[slot].offset, tm);
}

void cs_time(struct cs_buf *b, time_t t)
{
    struct tm tm;
    char text[20] = "0000-00-00 00:00:00";
    if (t == 0)
        return;
    local_fields(t, &tm);
    if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        localtime_r(&t, &tm);
        strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
        cs_puts(b, text);
        return;
    }
    /* Written digit by digit: strftime costs several times more, which an export of a
     * hundred thousand rows (two times each) feels. */
    digits(text, tm.tm_year + 1900, 4);
    digits(text + 5, tm.tm_mon + 1, 2);
    digits(text + 8, tm.tm_mday, 2);
    digits(text + 11, tm.tm_hour, 2);
    digits(text + 14, tm.tm_min, 2);
    digits(text + 17, tm.tm_sec, 2);
    cs_add(b, text, 19);
}

void cs_cell(struct cs_buf *b, const char *s)
{
    cs_puts(b, "<td>");
    cs_html(b, s);
    cs_puts(b, "</td>");
}

void cs_cell_link(struct cs_buf *b, const char *href_prefix, const char *value)
{
    cs_puts(b, "<td><a href=\"");
    cs_puts(b, href_prefix);
    cs_url(b, value);
    cs_puts(b, "\">");
    cs_html(b, value);
    cs_puts(b, "</a></td>");
}

void cs_cell_time(struct cs_buf *b, time_t t)
{
    cs_puts(b, "<td>");
    cs_time(b, t);
    cs_puts(b, "</td>");
}

void cs_cell_number(struct cs_buf *b, long long n)
{
    cs_printf(b, "<td class=\"n\">%lld</td>", n);
}

void cs_buf_free(struct cs_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* Decodes text[0..n) (+ as space, %XX) into out; -1 as cs_form_value. */
static int decode(const char *text, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)text[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n)
                return -1;
            char pair[3] = {text[i + 1], text[i + 2], '\0'};
            if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]))
                return -1;
            c = (int)strtol(pair, NULL, 16);
            i += 2;
        }
        if (c == 0 || (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
            return -1;
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 1;
}

int cs_form_value(const char *text, size_t len, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name), i = 0;

    if (cap > 0)
        out[0] = '\0';
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '&')
            end++;
        const char *eq = memchr(text + i, '=', end - i);
        size_t key_len = eq != NULL ? (size_t)(eq - (text + i)) : end - i;
        if (key_len == name_len && memcmp(text + i, name, name_len) == 0) {
            if (eq == NULL)
                return cap > 0 ? 1 : -1;
            return decode(eq + 1, (size_t)(text + end - (eq + 1)), out, cap);
        }
        i = end + 1;
    }
    return 0;
}

/* Finds needle (n bytes) in hay (len bytes). */
static const char *find(const char *hay, size_t len, const char *needle, size_t n)
{
    if (n == 0 || len < n)
        return NULL;
    for (size_t i = 0; i + n <= len; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

int cs_multipart_part(const char *body, size_t len, const char *content_type, const char *name,
                      const char **data, size_t *data_len)
{
    char delimiter[96], wanted[96];
    const char *b = strstr(content_type, "boundary=");

    if (b == NULL || strncasecmp(content_type, "multipart/form-data", 19) != 0)
        return -1;
    b += 9;
    size_t blen = strcspn(b, "; ");
    if (*b == '"')
        b++, blen = strcspn(b, "\"");
    if (blen < 1 || blen > 70)
        return -1;
    snprintf(delimiter, sizeof(delimiter), "\r\n--%.*s", (int)blen, b);
    snprintf(wanted, sizeof(wanted), "name=\"%s\"", name);
    /* The body starts with the delimiter without its CRLF. */
    const char *p = find(body, len, delimiter + 2, strlen(delimiter) - 2);
    while (p != NULL) {
        p += strlen(delimiter) - 2;
        size_t left = len - (size_t)(p - body);
        if (left >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* the closing delimiter */
        const char *headers_end = find(p, left, "\r\n\r\n", 4);
        if (headers_end == NULL)
            return -1;
        const char *content = headers_end + 4;
        const char *next =
            find(content, len - (size_t)(content - body), delimiter, strlen(delimiter));
        if (next == NULL)
            return -1;
        if (find(p, (size_t)(headers_end - p), wanted, strlen(wanted)) != NULL) {
            *data = content;
            *data_len = (size_t)(next - content);
            return 1;
        }
        p = next + 2;
    }
    return -1;
}
