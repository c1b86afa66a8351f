/* store/checks.c: the checks of outside values and the error helpers the store's files share. */
#include "ct_store_internal.h"

#include <stdio.h>
#include <string.h>

/* ---- errors and checks of outside values ---- */

/* CODE-SERIAL: [0-9A-Z]{1,8}-[0-9]{1,12}. */
int cts_device_number_ok(const char *s)
{
    size_t n = 0, d = 0;
    if (s == NULL)
        return 0;
    while (n <= CT_MODEL_CODE_MAX && cl_is_upper_alnum(s[n]))
        n++;
    if (n == 0 || n > CT_MODEL_CODE_MAX || s[n] != '-')
        return 0;
    while (d <= 12 && s[n + 1 + d] >= '0' && s[n + 1 + d] <= '9')
        d++;
    return d > 0 && d <= 12 && s[n + 1 + d] == '\0';
}

/* YYYY-MM-DD, a real date (years 2000..2999); *tm gets it (local midnight) if not NULL. */
int cts_day_ok(const char *s, struct tm *tm)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, max;
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1)
        return 0;
    max = days[m - 1] + (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
    if (d > max)
        return 0;
    if (tm != NULL) {
        memset(tm, 0, sizeof(*tm));
        tm->tm_year = y - 1900;
        tm->tm_mon = m - 1;
        tm->tm_mday = d;
        tm->tm_isdst = -1;
    }
    return 1;
}

/* A printable ASCII copy of free text from elsewhere (a transport error), at most size - 1
 * bytes: kept for operators, never refused. */
void cts_sanitize(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (; src != NULL && src[n] != '\0' && n + 1 < size; n++)
        dst[n] = (src[n] >= 0x20 && src[n] < 0x7f) ? src[n] : '?';
    dst[n] = '\0';
}

/* For the functions that have no err: a failure is logged here, once (refusals as warnings,
 * database failures as errors). */
int cts_logged(int rc, const char *what, const char *err)
{
    if (rc == CL_ERR_DB || rc == CL_ERR_NOMEM || rc == CL_ERR_INTERNAL)
        cl_log_error("%s: %s", what, err);
    else if (rc != CL_OK)
        cl_log_warn("%s: %s", what, err);
    return rc;
}

int cts_number_refused(const char *what, const char *number, char *err, size_t errlen)
{
    char buf[48];
    cl_err_set(err, errlen,
               "%s: device number \"%s\" is malformed (CODE-SERIAL: 1 to 8 of 0-9 A-Z, "
               "'-', 1 to 12 digits)",
               what, cl_shown(number, buf, sizeof(buf)));
    return CL_ERR_INVALID_ARGUMENT;
}

int cts_day_bounds(const char *what, const char *day, char from[24], char to[24])
{
    struct tm tm;
    char buf[48];

    if (!cts_day_ok(day, &tm)) {
        cl_log_warn("%s: \"%s\" is not a date (YYYY-MM-DD)", what, cl_shown(day, buf, sizeof(buf)));
        return 0;
    }
    time_t start = mktime(&tm);
    tm.tm_mday++;
    tm.tm_hour = 0;
    tm.tm_isdst = -1;
    time_t end = mktime(&tm);
    snprintf(from, 24, "%lld", (long long)start);
    snprintf(to, 24, "%lld", (long long)end);
    return 1;
}
