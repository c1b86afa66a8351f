/* input_check.c: checks of values that come from outside (device numbers' model codes, serials,
 * verification values, free text), shared by the stores; see input_check.h. */
#include "input_check.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* A printable, shortened copy of an outside value, for an error message. */
const char *cl_shown(const char *s, char *buf, size_t len)
{
    size_t i = 0, n;
    if (s == NULL)
        return "(none)";
    for (n = 0; s[n] != '\0' && i + 4 < len; n++)
        buf[i++] = (s[n] >= 0x20 && s[n] < 0x7f) ? s[n] : '?';
    if (s[n] != '\0') {
        buf[i++] = '.';
        buf[i++] = '.';
        buf[i++] = '.';
    }
    buf[i] = '\0';
    return buf;
}

/* 1 if s is well-formed UTF-8 without control characters (but tab, CR and LF when lines is
 * set), min..max bytes long. */
int cl_utf8_ok(const char *s, size_t min, size_t max, int lines)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    if (s == NULL)
        return 0;
    while (p[n] != '\0') {
        unsigned char c = p[n];
        size_t more;
        if ((c < 0x20 && !(lines && (c == '\t' || c == '\n' || c == '\r'))) || c == 0x7f)
            return 0;
        if (c < 0x80)
            more = 0;
        else if (c >= 0xc2 && c <= 0xdf)
            more = 1;
        else if (c >= 0xe0 && c <= 0xef)
            more = 2;
        else if (c >= 0xf0 && c <= 0xf4)
            more = 3;
        else
            return 0;
        if (more > 0) {
            unsigned char c1 = p[n + 1];
            if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
                (c == 0xf4 && c1 > 0x8f))
                return 0; /* overlong, surrogate or beyond U+10FFFF */
            for (size_t k = 1; k <= more; k++)
                if ((p[n + k] & 0xc0) != 0x80)
                    return 0;
        }
        n += more + 1;
        if (n > max)
            return 0;
    }
    return n >= min;
}

int cl_text_ok(const char *s, size_t min, size_t max)
{
    return cl_utf8_ok(s, min, max, 0);
}

/* 1 if s is 1..max printable ASCII characters without spaces (ids, key ids). */
int cl_token_ok(const char *s, size_t max)
{
    size_t n;
    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= max || s[n] <= 0x20 || s[n] >= 0x7f)
            return 0;
    return n > 0;
}

int cl_label_ok(const char *s, size_t max)
{
    size_t n;

    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= max || !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                          (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return n > 0;
}

int cl_is_upper_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

int cl_model_code_ok(const char *s)
{
    size_t n;
    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= CL_MODEL_CODE_MAX || !cl_is_upper_alnum(s[n]))
            return 0;
    return n > 0;
}

int cl_model_filter_ok(const char *what, const char *code)
{
    char buf[48];
    if (code[0] == '\0' || cl_model_code_ok(code))
        return 1;
    cl_log_warn("%s: device model \"%s\" is malformed", what, cl_shown(code, buf, sizeof(buf)));
    return 0;
}

/* [0-9A-Z]{1,8}-[0-9]{1,12} (the wire contract's DeviceNumber). */
int cl_wire_device_number_ok(const char *s)
{
    size_t n = 0, d = 0;
    if (s == NULL)
        return 0;
    while (n <= CL_MODEL_CODE_MAX && cl_is_upper_alnum(s[n]))
        n++;
    if (n == 0 || n > CL_MODEL_CODE_MAX || s[n] != '-')
        return 0;
    s += n + 1;
    while (d <= CL_DEVICE_SERIAL_DIGITS_MAX && s[d] >= '0' && s[d] <= '9')
        d++;
    return d > 0 && d <= CL_DEVICE_SERIAL_DIGITS_MAX && s[d] == '\0';
}

/* Upper-case hex, even length, 2..40 characters. */
int cl_serial_ok(const char *s)
{
    size_t n;
    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= CL_SERIAL_HEX_DIGITS_MAX ||
            !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'F')))
            return 0;
    return n > 0 && n % 2 == 0;
}

/* Exactly CL_VERIFY_HEX_DIGITS hex digits (either case); lower-cased into out. */
int cl_verify_value_ok(const char *s, char out[CL_VERIFY_HEX_DIGITS + 1])
{
    size_t n;
    if (s == NULL)
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= CL_VERIFY_HEX_DIGITS)
            return 0;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        out[n] = c;
    }
    out[n] = '\0';
    return n == CL_VERIFY_HEX_DIGITS;
}

void cl_copy_text(char *dst, size_t size, const char *src)
{
    /* As snprintf(dst, size, "%s", src) would, at a fraction of its cost (a listing of 100,000
     * rows copies each row's texts). */
    size_t n = src != NULL && size > 0 ? strnlen(src, size - 1) : 0;
    if (size == 0)
        return;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
}

int cl_json_has_nul_escape(const char *text, size_t len)
{
    /* Outside strings valid JSON has no backslash; inside, each escape is skipped whole. */
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
            return 1;
        i++; /* the escaped character */
    }
    return 0;
}
