/* p11_uri.c: PKCS#11 URIs (RFC 7512) as certline names its keys, and the PIN file they point to. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "error.h"
#include "p11.h"

#define SCHEME "pkcs11:"

static int hex_value(char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *p = c != '\0' ? strchr(digits, tolower((unsigned char)c)) : NULL;

    return p != NULL ? (int)(p - digits) : -1;
}

/* Decodes the n characters at s (%-escapes) into out (size bytes); text: no NUL allowed and out
 * is NUL-terminated. Returns the decoded length or -1. */
static long decode(const char *s, size_t n, unsigned char *out, size_t size, int text)
{
    size_t i, len = 0;
    int hi, lo;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || (hi = hex_value(s[i + 1])) < 0 || (lo = hex_value(s[i + 2])) < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c < 0x21 || c > 0x7e) {
            return -1;
        }
        if ((text && c == '\0') || len + (text ? 1 : 0) >= size)
            return -1;
        out[len++] = c;
    }
    if (text)
        out[len] = '\0';
    return (long)len;
}

static int parse_type(const char *v, enum cl_p11_class *out)
{
    static const char *const names[] = {"", "private", "public", "secret-key", "cert", "data"};
    size_t i;

    for (i = 1; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(v, names[i]) == 0) {
            *out = (enum cl_p11_class)i;
            return CL_OK;
        }
    return CL_ERR_INVALID_ARGUMENT;
}

/* One attribute name=value (value n characters, not yet decoded). */
static int attribute(struct cl_p11_uri *u, const char *name, size_t name_len, const char *v,
                     size_t n, unsigned *seen, char *err, size_t errlen)
{
    static const char *const known[] = {"token",      "serial",    "object",
                                        "id",         "type",      "module-path",
                                        "pin-source", "pin-value", "module-name"};
    char text[CL_P11_PATH_MAX];
    size_t i;
    long len;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i]) == name_len && memcmp(known[i], name, name_len) == 0)
            break;
    if (i == sizeof(known) / sizeof(known[0])) {
        cl_err_set(err, errlen, "PKCS#11 URI: unknown attribute \"%.*s\"", (int)name_len, name);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (*seen & (1u << i)) {
        cl_err_set(err, errlen, "PKCS#11 URI: %s given twice", known[i]);
        return CL_ERR_INVALID_ARGUMENT;
    }
    *seen |= 1u << i;
    if (strcmp(known[i], "pin-value") == 0) {
        cl_err_set(err, errlen,
                   "PKCS#11 URI: pin-value is refused: put the PIN in a file only its owner can "
                   "read and name it with pin-source=file:/path");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(known[i], "module-name") == 0) {
        cl_err_set(err, errlen, "PKCS#11 URI: module-name is not supported: use module-path");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (n == 0) {
        cl_err_set(err, errlen, "PKCS#11 URI: %s is empty", known[i]);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(known[i], "id") == 0) {
        if ((len = decode(v, n, u->id, sizeof(u->id), 0)) <= 0)
            goto bad;
        u->id_len = (size_t)len;
        return CL_OK;
    }
    if ((len = decode(v, n, (unsigned char *)text, sizeof(text), 1)) <= 0)
        goto bad;
    switch (i) {
    case 0:
    case 1:
    case 2:
        if ((size_t)len > CL_P11_TEXT_MAX)
            goto bad;
        strcpy(i == 0 ? u->token : i == 1 ? u->serial : u->object, text);
        return CL_OK;
    case 4:
        if (parse_type(text, &u->type) != CL_OK) {
            cl_err_set(err, errlen, "PKCS#11 URI: unknown type \"%s\"", text);
            return CL_ERR_INVALID_ARGUMENT;
        }
        return CL_OK;
    case 5:
        if (text[0] != '/') {
            cl_err_set(err, errlen, "PKCS#11 URI: module-path must be an absolute path");
            return CL_ERR_INVALID_ARGUMENT;
        }
        strcpy(u->module_path, text);
        return CL_OK;
    default: /* pin-source */
        if (strncmp(text, "file:", 5) == 0)
            memmove(text, text + 5, strlen(text + 5) + 1);
        else if (strchr(text, ':') != NULL && text[0] != '/') {
            cl_err_set(err, errlen, "PKCS#11 URI: pin-source must be a file: path");
            return CL_ERR_INVALID_ARGUMENT;
        }
        if (strncmp(text, "//", 2) == 0) /* file:///path */
            memmove(text, text + 2, strlen(text + 2) + 1);
        if (text[0] != '/') {
            cl_err_set(err, errlen, "PKCS#11 URI: pin-source must be an absolute path");
            return CL_ERR_INVALID_ARGUMENT;
        }
        strcpy(u->pin_source, text);
        return CL_OK;
    }
bad:
    cl_err_set(err, errlen, "PKCS#11 URI: %s has a bad %%-escape, a NUL or is too long", known[i]);
    return CL_ERR_INVALID_ARGUMENT;
}

int cl_p11_uri_parse(const char *uri, struct cl_p11_uri *out, char *err, size_t errlen)
{
    unsigned seen = 0;
    const char *p, *end, *eq;
    int rc, query = 0;

    if (out == NULL || uri == NULL) {
        cl_err_set(err, errlen, "no PKCS#11 URI");
        return CL_ERR_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof(*out));
    if (strnlen(uri, CL_P11_URI_MAX + 1) > CL_P11_URI_MAX ||
        strncmp(uri, SCHEME, strlen(SCHEME)) != 0) {
        cl_err_set(err, errlen, "not a PKCS#11 URI (pkcs11:..., at most %d characters)",
                   CL_P11_URI_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    for (p = uri + strlen(SCHEME); *p != '\0'; p = *end != '\0' ? end + 1 : end) {
        if (*p == '?' && !query) { /* an empty path before the query */
            query = 1;
            end = p;
            continue;
        }
        end = p + strcspn(p, query ? "&" : ";?");
        if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL) {
            cl_err_set(err, errlen, "PKCS#11 URI: \"%.*s\" is not name=value", (int)(end - p), p);
            memset(out, 0, sizeof(*out));
            return CL_ERR_INVALID_ARGUMENT;
        }
        if ((rc = attribute(out, p, (size_t)(eq - p), eq + 1, (size_t)(end - eq - 1), &seen, err,
                            errlen)) != CL_OK) {
            memset(out, 0, sizeof(*out));
            return rc;
        }
        if (*end == '?')
            query = 1;
    }
    if (out->token[0] == '\0' || out->module_path[0] == '\0') {
        cl_err_set(err, errlen, "PKCS#11 URI: token= and module-path= are required");
        memset(out, 0, sizeof(*out));
        return CL_ERR_INVALID_ARGUMENT;
    }
    return CL_OK;
}

int cl_p11_pin_read(const char *path, char *pin, size_t pin_size, size_t *pin_len, char *err,
                    size_t errlen)
{
    struct stat st;
    ssize_t n;
    size_t len = 0, full;
    int fd, rc = CL_OK;

    if (path == NULL || pin == NULL || pin_size < 2 || pin_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    *pin_len = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        rc = cl_err_from_errno(errno);
        cl_err_set(err, errlen, "cannot open the PIN file %s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cl_err_set(err, errlen, "the PIN file %s is not a regular file", path);
        rc = CL_ERR_PERMISSION;
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        cl_err_set(err, errlen,
                   "the PIN file %s can be read or written by group or others (mode %03o): "
                   "chmod 600 it",
                   path, (unsigned)(st.st_mode & 0777));
        rc = CL_ERR_PERMISSION;
        goto out;
    }
    while (len < pin_size - 1 && (n = read(fd, pin + len, pin_size - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cl_err_set(err, errlen, "cannot read the PIN file %s", path);
            rc = CL_ERR_IO;
            goto out;
        }
        len += (size_t)n;
    }
    full = len;
    if (len > 0 && pin[len - 1] == '\n')
        len--;
    if (len > 0 && pin[len - 1] == '\r')
        len--;
    if (len == 0 || full >= pin_size - 1 || memchr(pin, '\0', len) != NULL) {
        cl_err_set(err, errlen, "the PIN file %s is empty, too long or holds a NUL", path);
        rc = CL_ERR_INVALID_ARGUMENT;
        goto out;
    }
    pin[len] = '\0';
    *pin_len = len;
out:
    if (rc != CL_OK)
        mbedtls_platform_zeroize(pin, pin_size);
    close(fd);
    return rc;
}
