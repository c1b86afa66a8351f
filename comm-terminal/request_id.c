/* request_id.c: FIG 21 request ids with 128 random bits (request_id.h). */
#include "request_id.h"

#include <string.h>

#include "error.h"
#include "x509_issue.h"

#define FACTORY_PART 16
#define WHAT_PART 10
#define REQUEST_ID_LEN (FACTORY_PART + 1 + WHAT_PART + 1 + 2 * CT_REQUEST_ID_RANDOM_OCTETS)

/* Appends at most max characters of s to out at *at, any outside [0-9A-Za-z._-] as '-'. */
static void append_part(char *out, size_t *at, const char *s, size_t max)
{
    for (size_t i = 0; s != NULL && s[i] != '\0' && i < max; i++) {
        char c = s[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                 c == '.' || c == '_' || c == '-';
        out[(*at)++] = ok ? c : '-';
    }
}

int ct_new_request_id(const char *factory, const char *what, char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char random[CT_REQUEST_ID_RANDOM_OCTETS];
    size_t at = 0;

    if (out == NULL || len < REQUEST_ID_LEN + 1)
        return CL_ERR_INVALID_ARGUMENT;
    out[0] = '\0';
    if (cl_random_bytes(random, sizeof(random)) != CL_OK)
        return CL_ERR_CRYPTO;
    append_part(out, &at, factory, FACTORY_PART);
    out[at++] = '-';
    append_part(out, &at, what, WHAT_PART);
    out[at++] = '-';
    for (size_t i = 0; i < sizeof(random); i++) {
        out[at++] = hex[random[i] >> 4];
        out[at++] = hex[random[i] & 0x0f];
    }
    out[at] = '\0';
    memset(random, 0, sizeof(random));
    return CL_OK;
}
