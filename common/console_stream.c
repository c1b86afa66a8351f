/* console_stream.c: an operator console's answer heads, and answers sent in parts as they are
 * produced (HTTP/1.1 chunked transfer coding), so that an export of any size holds one part in
 * memory. A part series broken off (a database error, a browser gone) never ends with the last
 * chunk: the server closes the connection and the browser sees the answer incomplete. */
#include <stdio.h>
#include <string.h>

#include "console_core.h"

/* Room kept at the start of the body for a part's chunk-size line: 8 hex digits and CRLF
 * (leading zeros are allowed by RFC 9112's chunk-size = 1*HEXDIG). */
#define PART_HEAD 10

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

int cs_response_head(const struct cs_response *resp, int status, const char *content_type,
                     long long length, char *out, size_t cap)
{
    char framing[64];

    if (length >= 0)
        snprintf(framing, sizeof(framing), "Content-Length: %lld\r\n", length);
    else
        snprintf(framing, sizeof(framing), "Transfer-Encoding: chunked\r\n");
    int n = snprintf(
        out, cap,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s"
        "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n"
        "Strict-Transport-Security: max-age=31536000\r\n"
        "Content-Security-Policy: default-src 'none'; script-src 'self'; connect-src 'self'; "
        "style-src 'unsafe-inline'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'\r\n"
        "%sConnection: %s\r\n\r\n",
        status, reason_phrase(status), content_type, framing, resp->headers,
        resp->keep_alive ? "keep-alive" : "close");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Sends what the body holds after the room for the chunk-size line as one chunk, with last
 * (the last chunk) after it when given, then keeps the room again. */
static int send_part(struct cs_response *resp, const char *last)
{
    struct cs_buf *b = &resp->body;
    char size[24];
    size_t len = b->len - PART_HEAD, from = PART_HEAD;

    if (len > 0) {
        snprintf(size, sizeof(size), "%08x\r\n", (unsigned)len); /* len < CS_BODY_MAX */
        memcpy(b->data, size, PART_HEAD);
        cs_puts(b, "\r\n");
        from = 0;
    }
    if (last != NULL)
        cs_puts(b, last);
    if (b->failed || (b->len > from && resp->send(resp->conn, b->data + from, b->len - from) != 0))
        return -1;
    b->len = PART_HEAD;
    return 0;
}

int cs_parts_start(struct cs_response *resp)
{
    char head[2048];

    if (resp->send == NULL)
        return 0; /* no server behind: the parts stay in the body, sent whole */
    int n = cs_response_head(resp, resp->status, resp->content_type, -1, head, sizeof(head));
    resp->parts = CS_PARTS_BROKEN;
    if (n < 0 || resp->send(resp->conn, head, (size_t)n) != 0)
        return -1;
    resp->body.len = 0;
    cs_add(&resp->body, "0000000000", PART_HEAD);
    if (resp->body.failed)
        return -1;
    resp->parts = CS_PARTS_SENDING;
    return 0;
}

int cs_parts_flush(struct cs_response *resp)
{
    if (resp->parts == CS_PARTS_BROKEN || resp->body.failed)
        return -1;
    if (resp->parts != CS_PARTS_SENDING || resp->body.len < PART_HEAD + CS_PART_BYTES)
        return 0;
    if (send_part(resp, NULL) != 0) {
        resp->parts = CS_PARTS_BROKEN;
        return -1;
    }
    return 0;
}

int cs_parts_end(struct cs_response *resp, int complete)
{
    if (resp->send == NULL) { /* sent whole, or (broken off) not at all */
        if (!complete || resp->body.failed)
            resp->parts = CS_PARTS_BROKEN;
        return resp->parts == CS_PARTS_BROKEN ? -1 : 0;
    }
    if (resp->parts != CS_PARTS_SENDING || !complete || send_part(resp, "0\r\n\r\n") != 0) {
        resp->parts = CS_PARTS_BROKEN;
        return -1;
    }
    resp->parts = CS_PARTS_ENDED;
    return 0;
}
