/* soap_datetime.c: certline's serializer for xsd:dateTime (declared extern in wsdl/xsd_types.h):
 * gSOAP's own normalises impossible values such as 2026-13-45T99:99:99Z into some other instant;
 * this one refuses them, then lets gSOAP convert what is valid. */
#include "soap_datetime.h"

#include <string.h>

#include "soapH.h"

static int digits(const char *s, int n, int *value)
{
    *value = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *value = *value * 10 + (s[i] - '0');
    }
    return 1;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int cl_xsd_datetime_valid(const char *s)
{
    int year, month, day, hour, minute, second, fraction = 0;

    while (is_space(*s))
        s++;
    if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &month) || s[7] != '-' ||
        !digits(s + 8, 2, &day) || s[10] != 'T' || !digits(s + 11, 2, &hour) || s[13] != ':' ||
        !digits(s + 14, 2, &minute) || s[16] != ':' || !digits(s + 17, 2, &second))
        return 0;
    s += 19;
    if (*s == '.') {
        int d;
        if (!digits(++s, 1, &d))
            return 0;
        for (; *s >= '0' && *s <= '9'; s++)
            fraction |= *s != '0';
    }
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        minute > 59 || second > 59 || hour > 24 ||
        (hour == 24 && (minute != 0 || second != 0 || fraction)))
        return 0;
    if (*s == 'Z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int zh, zm;
        if (!digits(s + 1, 2, &zh) || s[3] != ':' || !digits(s + 4, 2, &zm) || zm > 59 || zh > 14 ||
            (zh == 14 && zm != 0))
            return 0;
        s += 6;
    }
    while (is_space(*s))
        s++;
    return *s == '\0';
}

void soap_default_xsd__dateTime(struct soap *soap, time_t *a)
{
    (void)soap;
    *a = 0;
}

const char *soap_xsd__dateTime2s(struct soap *soap, time_t t)
{
    return soap_dateTime2s(soap, t);
}

int soap_out_xsd__dateTime(struct soap *soap, const char *tag, int id, const time_t *a,
                           const char *type)
{
    return soap_outdateTime(soap, tag, id, a, type, SOAP_TYPE_xsd__dateTime);
}

int soap_s2xsd__dateTime(struct soap *soap, const char *s, time_t *a)
{
    if (s == NULL || !cl_xsd_datetime_valid(s))
        return soap->error = SOAP_TYPE;
    return soap_s2dateTime(soap, s, a);
}

/* One xsd:dateTime element, literal (no id or href: the contract uses neither). */
time_t *soap_in_xsd__dateTime(struct soap *soap, const char *tag, time_t *a, const char *type)
{
    int err;

    if (soap_element_begin_in(soap, tag, 0, NULL))
        return NULL;
    if (*soap->type && soap_match_tag(soap, soap->type, type) &&
        soap_match_tag(soap, soap->type, ":dateTime")) {
        soap->error = SOAP_TYPE;
        return NULL;
    }
    if (*soap->id || *soap->href) {
        soap->error = SOAP_TYPE;
        return NULL;
    }
    if (a == NULL && (a = soap_malloc(soap, sizeof(*a))) == NULL)
        return NULL;
    err = soap_s2xsd__dateTime(soap, soap->body ? soap_value(soap) : "", a);
    if (err || (soap->body && soap_element_end_in(soap, tag)))
        return NULL;
    return a;
}
