/* wire_check.c: the HTTP framing half of the wire contract, as gSOAP hooks. The frecv hook reads
 * one whole message from TLS (headers, then exactly Content-Length body bytes), checks it, and
 * only then hands it to gSOAP; the fparsehdr hook turns a refusal into a SOAP 1.2 fault (gSOAP
 * then answers and closes), so a refused body is never parsed and reaches no handler. */
#include "wire_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "soapH.h"
#include "xml_check.h"

static const char plugin_id[] = "certline-wire-check";

/* The held message's buffer: what it starts with, and what it may keep between messages (a
 * connection that once carried a large message does not hold that memory while idle). */
#define INITIAL_BYTES 16384
#define KEPT_BYTES (256u << 10)

struct wire {
    size_t (*below_recv)(struct soap *, char *, size_t);
    int (*below_parsehdr)(struct soap *, const char *, const char *);
    int (*below_initrecv)(struct soap *);
    char *buf;
    size_t cap, len;   /* the held message */
    size_t handed;     /* bytes of it gSOAP has read */
    size_t hand_limit; /* bytes of it gSOAP may read: all, or only the headers of a refusal */
    int fresh;         /* gSOAP began to receive a message: the next read takes it */
    enum cl_xml_verdict verdict;
    int cut_short; /* the peer closed before the body its Content-Length announced */
    char why[256];
};

static struct wire *wire_of(struct soap *soap)
{
    return soap_lookup_plugin(soap, plugin_id);
}

static void refuse(struct wire *w, enum cl_xml_verdict verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct wire *w, enum cl_xml_verdict verdict, const char *fmt, ...)
{
    va_list ap;
    w->verdict = verdict;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof(w->why), fmt, ap);
    va_end(ap);
}

/* The body a message may announce: the same cap tls_parsehdr enforces. */
static size_t body_cap(const struct soap *soap)
{
    return soap->recv_maxlength > CL_WIRE_MAX_HEADER_BYTES
               ? (size_t)(soap->recv_maxlength - CL_WIRE_MAX_HEADER_BYTES)
               : 0;
}

static int reserve(struct wire *w, size_t need)
{
    size_t cap = w->cap ? 2 * w->cap : INITIAL_BYTES;
    char *buf;
    if (need <= w->cap)
        return 0;
    if (cap < need)
        cap = need; /* a body is reserved whole: exactly its length */
    buf = realloc(w->buf, cap);
    if (buf == NULL)
        return -1;
    w->buf = buf;
    w->cap = cap;
    return 0;
}

/* Reads up to want more bytes from TLS; 0 at end of input or on timeout. */
static size_t read_more(struct soap *soap, struct wire *w, size_t want)
{
    size_t n;
    if (reserve(w, w->len + want) != 0)
        return 0;
    n = w->below_recv(soap, w->buf + w->len, want);
    w->len += n;
    return n;
}

/* Reads until the blank line that ends the headers; returns the header length or 0 (nothing to
 * hand on: end of input, or a refusal before the headers were complete). */
static size_t read_headers(struct soap *soap, struct wire *w)
{
    size_t scanned = 0;
    for (;;) {
        for (; scanned < w->len; scanned++) {
            unsigned char c = (unsigned char)w->buf[scanned];
            if (c == '\n' && (scanned == 0 || w->buf[scanned - 1] != '\r')) {
                refuse(w, CL_XML_MALFORMED, "a bare LF in the HTTP headers");
                return 0;
            }
            if (c == '\n' && scanned >= 3 && memcmp(w->buf + scanned - 3, "\r\n\r\n", 4) == 0)
                return scanned + 1;
            if (c != '\r' && c != '\n' && c != '\t' && (c < 0x20 || c > 0x7E)) {
                refuse(w, CL_XML_MALFORMED, "byte 0x%02X in the HTTP headers", c);
                return 0;
            }
        }
        if (w->len >= CL_WIRE_MAX_HEADER_BYTES) {
            refuse(w, CL_XML_MALFORMED, "HTTP headers over %d bytes", CL_WIRE_MAX_HEADER_BYTES);
            return 0;
        }
        if (read_more(soap, w, CL_WIRE_MAX_HEADER_BYTES - w->len) == 0)
            return 0;
    }
}

/* The framing headers: exactly one Content-Length, no Transfer-Encoding. Sets *length, or -1 if
 * there is no Content-Length. Returns 0, or -1 after a refusal. */
static int parse_framing(struct wire *w, size_t header_len, long long *length)
{
    int lengths = 0, encodings = 0;
    size_t line = 0;

    *length = -1;
    while (line < header_len) {
        const char *p = w->buf + line, *eol = memchr(p, '\r', header_len - line);
        size_t n = (size_t)(eol - p);
        line += n + 2;
        if (p == w->buf || n == 0)
            continue; /* the request or status line; the blank line */
        if (*p == ' ' || *p == '\t') {
            refuse(w, CL_XML_MALFORMED, "a folded HTTP header line");
            return -1;
        }
        if (n > 15 && strncasecmp(p, "Content-Length:", 15) == 0) {
            const char *v = p + 15, *end = p + n;
            long long value = 0;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            if (v == end || end - v > 12) {
                refuse(w, CL_XML_MALFORMED, "a malformed Content-Length");
                return -1;
            }
            for (; v < end; v++) {
                if (*v < '0' || *v > '9') {
                    refuse(w, CL_XML_MALFORMED, "a malformed Content-Length");
                    return -1;
                }
                value = value * 10 + (*v - '0');
            }
            lengths++;
            *length = value;
        } else if (n >= 18 && strncasecmp(p, "Transfer-Encoding:", 18) == 0) {
            encodings++;
        }
    }
    if (lengths > 1)
        refuse(w, CL_XML_MALFORMED, "%d Content-Length headers", lengths);
    else if (lengths == 1 && encodings > 0)
        refuse(w, CL_XML_MALFORMED, "Content-Length together with Transfer-Encoding");
    else if (encodings > 0)
        refuse(w, CL_XML_MALFORMED, "Transfer-Encoding is not accepted; send Content-Length");
    else
        return 0;
    return -1;
}

/* An answer without Content-Length ends when the server closes: reads until then, or one byte
 * past the cap (then gSOAP's own size cap refuses it). Returns the body length. */
static long long read_to_end(struct soap *soap, struct wire *w, size_t header_len)
{
    size_t cap = body_cap(soap);
    for (;;) {
        size_t body = w->len - header_len, want = cap + 1 - body;
        if (body > cap)
            break;
        if (read_more(soap, w, want < INITIAL_BYTES ? want : INITIAL_BYTES) == 0)
            break;
    }
    return (long long)(w->len - header_len);
}

/* Reads and checks the next message; sets what gSOAP may read of it. */
static void take_message(struct soap *soap, struct wire *w)
{
    size_t header_len;
    long long length;

    if (w->cap > KEPT_BYTES) {
        free(w->buf);
        w->buf = NULL;
        w->cap = 0;
    }
    w->len = w->handed = w->hand_limit = 0;
    w->verdict = CL_XML_OK;
    w->cut_short = 0;
    w->why[0] = '\0';
    header_len = read_headers(soap, w);
    if (header_len == 0)
        return; /* end of input, or refused before a header line gSOAP could fault on */
    w->hand_limit = header_len; /* a refusal hands gSOAP the headers only, to fault on */
    if (parse_framing(w, header_len, &length) != 0)
        return;
    if (length < 0) {
        if (strncmp(w->buf, "POST ", 5) == 0) {
            refuse(w, CL_XML_MALFORMED, "a request without Content-Length");
            return;
        }
        if (strncmp(w->buf, "HTTP/", 5) == 0)
            length = read_to_end(soap, w, header_len); /* an answer ended by closing */
        else
            length = 0; /* a request without a body (not a SOAP call) */
    }
    if ((unsigned long long)length > body_cap(soap)) {
        /* tls_parsehdr (server) or gSOAP's size cap (client) refuses it from its headers. */
        w->hand_limit = w->len;
        return;
    }
    while (w->len < header_len + (size_t)length) {
        if (read_more(soap, w, header_len + (size_t)length - w->len) == 0) {
            refuse(w, CL_XML_MALFORMED,
                   "the body ended after %zu of the %lld bytes its Content-Length announced",
                   w->len - header_len, length);
            w->cut_short = 1;
            return;
        }
    }
    if (length > 0)
        w->verdict = cl_xml_check(w->buf + header_len, (size_t)length, soap->maxlevel, w->why,
                                  sizeof(w->why));
    if (w->verdict == CL_XML_OK)
        w->hand_limit = w->len;
}

/* frecv: gSOAP reads the held message, and sees its end as the end of input: it never reads
 * into the next message, which is taken only when gSOAP begins to receive again. */
static size_t wire_recv(struct soap *soap, char *s, size_t n)
{
    struct wire *w = wire_of(soap);
    size_t k;

    if (w->fresh) {
        w->fresh = 0;
        take_message(soap, w);
    }
    k = w->hand_limit - w->handed;
    if (k == 0)
        return 0;
    if (k > n)
        k = n;
    memcpy(s, w->buf + w->handed, k);
    w->handed += k;
    return k;
}

/* fprepareinitrecv: gSOAP begins to receive a message. */
static int wire_initrecv(struct soap *soap)
{
    struct wire *w = wire_of(soap);
    w->fresh = 1;
    return w->below_initrecv != NULL ? w->below_initrecv(soap) : SOAP_OK;
}

/* fparsehdr: a refused message becomes a fault as soon as gSOAP reads its first header. */
static int wire_parsehdr(struct soap *soap, const char *key, const char *val)
{
    struct wire *w = wire_of(soap);

    if (w->verdict == CL_XML_OK)
        return w->below_parsehdr(soap, key, val);
    soap->version = 2; /* certline speaks SOAP 1.2 only; the envelope is not read */
    if (w->verdict == CL_XML_NOT_SOAP12) {
        (void)soap_sender_fault(soap, "SOAP version mismatch", w->why);
        *soap_faultcode(soap) = "SOAP-ENV:VersionMismatch";
        return soap->error;
    }
    return soap_sender_fault(soap, "Malformed message", w->why);
}

static void wire_delete(struct soap *soap, struct soap_plugin *plugin)
{
    struct wire *w = plugin->data;
    (void)soap;
    if (w != NULL) {
        free(w->buf);
        free(w);
    }
}

/* A copied context gets state of its own (and gSOAP frees plugin state only where fcopy is set). */
static int wire_copy(struct soap *soap, struct soap_plugin *dst, struct soap_plugin *src)
{
    const struct wire *from = src->data;
    struct wire *w = calloc(1, sizeof(*w));
    (void)soap;
    if (w == NULL)
        return SOAP_EOM;
    w->below_recv = from->below_recv;
    w->below_parsehdr = from->below_parsehdr;
    w->below_initrecv = from->below_initrecv;
    dst->data = w;
    return SOAP_OK;
}

static int wire_create(struct soap *soap, struct soap_plugin *plugin, void *arg)
{
    struct wire *w = calloc(1, sizeof(*w));
    (void)arg;
    if (w == NULL)
        return SOAP_EOM;
    w->below_recv = soap->frecv;
    w->below_parsehdr = soap->fparsehdr;
    w->below_initrecv = soap->fprepareinitrecv;
    plugin->id = plugin_id;
    plugin->data = w;
    plugin->fcopy = wire_copy;
    plugin->fdelete = wire_delete;
    soap->frecv = wire_recv;
    soap->fparsehdr = wire_parsehdr;
    soap->fprepareinitrecv = wire_initrecv;
    return SOAP_OK;
}

int cl_wire_check_install(struct soap *soap)
{
    if (wire_of(soap) != NULL)
        return CL_OK;
    return soap_register_plugin(soap, wire_create) == SOAP_OK ? CL_OK : CL_ERR_NOMEM;
}

const char *cl_wire_check_refusal(struct soap *soap)
{
    struct wire *w = wire_of(soap);
    return w != NULL && w->verdict != CL_XML_OK ? w->why : NULL;
}

int cl_wire_check_cut_short(struct soap *soap)
{
    struct wire *w = wire_of(soap);
    return w != NULL && w->verdict != CL_XML_OK && w->cut_short;
}
