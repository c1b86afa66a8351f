/* test_wire_check.c: the HTTP framing half of the wire check without a network: a gSOAP context
 * whose frecv reads from memory, wrapped by cl_wire_check_install, and what it hands gSOAP for
 * whole, pipelined, unframed, refused and oversized messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "soapH.h"
#include "soap_tls.h"
#include "wire_check.h"

#define BODY                                                                                       \
    "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body/></e:Envelope>"

/* What the fake connection holds, read at most `chunk` bytes at a time. */
static const char *input;
static size_t input_len, input_pos, chunk = 7;

static size_t memory_recv(struct soap *soap, char *s, size_t n)
{
    size_t k = input_len - input_pos;
    (void)soap;
    if (k > n)
        k = n;
    if (k > chunk)
        k = chunk;
    memcpy(s, input + input_pos, k);
    input_pos += k;
    return k;
}

static int plain_parsehdr(struct soap *soap, const char *key, const char *val)
{
    (void)soap;
    (void)key;
    (void)val;
    return SOAP_OK;
}

static struct soap *context(const char *bytes, size_t max_message_bytes)
{
    struct soap *soap = soap_new();
    struct cl_soap_limits limits;
    assert_non_null(soap);
    cl_soap_limits_default(&limits);
    if (max_message_bytes)
        limits.max_message_bytes = max_message_bytes;
    cl_soap_apply_limits(soap, &limits);
    soap->frecv = memory_recv;
    soap->fparsehdr = plain_parsehdr;
    assert_int_equal(cl_wire_check_install(soap), CL_OK);
    input = bytes;
    input_len = strlen(bytes);
    input_pos = 0;
    return soap;
}

static void done(struct soap *soap)
{
    soap_destroy(soap);
    soap_end(soap);
    soap_free(soap);
}

/* Everything gSOAP gets for one message: begin to receive, then read until end of input. */
static const char *message(struct soap *soap)
{
    static char got[1 << 16];
    size_t len = 0, n;
    assert_int_equal(soap->fprepareinitrecv(soap), SOAP_OK);
    while ((n = soap->frecv(soap, got + len, sizeof(got) - 1 - len)) > 0)
        len += n;
    got[len] = '\0';
    return got;
}

#define REQUEST(length) "POST /ca HTTP/1.1\r\nHost: x\r\nContent-Length: " length "\r\n\r\n"

static void test_pipelined_requests_one_at_a_time(void **state)
{
    char two[1024], first[512];
    struct soap *soap;
    (void)state;
    snprintf(first, sizeof(first), "POST /ca HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(BODY), BODY);
    snprintf(two, sizeof(two), "%s%s", first, first);
    soap = context(two, 0);
    assert_string_equal(message(soap), first);
    assert_null(cl_wire_check_refusal(soap));
    assert_string_equal(message(soap), first); /* the second, only once gSOAP asks for it */
    assert_string_equal(message(soap), "");    /* then the end of the connection */
    done(soap);
}

static void test_answer_without_length_ends_at_close(void **state)
{
    static const char answer[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n\r\n" BODY;
    struct soap *soap = context(answer, 0);
    (void)state;
    assert_string_equal(message(soap), answer);
    assert_null(cl_wire_check_refusal(soap));
    done(soap);
}

static void test_refusal_hands_only_the_headers(void **state)
{
    static const char body[] = "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\">"
                               "<e:Body>&#0;</e:Body></e:Envelope>";
    char bad[512], headers[256];
    struct soap *soap;
    (void)state;
    snprintf(headers, sizeof(headers),
             "POST /ca HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", strlen(body));
    snprintf(bad, sizeof(bad), "%s%s", headers, body);
    soap = context(bad, 0);
    assert_string_equal(message(soap), headers);
    assert_non_null(strstr(cl_wire_check_refusal(soap), "U+0000"));
    /* gSOAP's first header becomes the fault. */
    assert_int_equal(soap->fparsehdr(soap, "Host", "x"), SOAP_FAULT);
    assert_string_equal(*soap_faultstring(soap), "Malformed message");
    assert_non_null(strstr(*soap_faultdetail(soap), "U+0000"));
    done(soap);
}

static void test_framing_refusals(void **state)
{
    static const char *const cases[][2] = {
        {"POST /ca HTTP/1.1\r\nHost: x\r\n\r\n" BODY, "a request without Content-Length"},
        {"POST /ca HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", "a malformed Content-Length"},
        {"POST /ca HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "a malformed Content-Length"},
        {"POST /ca HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n",
         "a malformed Content-Length"},
        {"POST /ca HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         "Transfer-Encoding is not accepted"},
        {"POST /ca HTTP/1.1\r\n folded: x\r\n\r\n", "a folded HTTP header line"},
        {"POST /ca HTTP/1.1\r\nContent-Length: 200\r\n\r\n" BODY,
         "the body ended after 84 of the 200 bytes"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct soap *soap = context(cases[i][0], 0);
        const char *why;
        (void)message(soap);
        why = cl_wire_check_refusal(soap);
        if (why == NULL || strstr(why, cases[i][1]) == NULL)
            fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i][1], why ? why : "");
        done(soap);
    }
}

static void test_oversized_body_is_left_to_the_size_cap(void **state)
{
    static const char big[] = REQUEST("5000") "<a>";
    struct soap *soap = context(big, 2048);
    (void)state;
    /* Not buffered: handed on at once for tls_parsehdr to refuse from its Content-Length. */
    assert_string_equal(message(soap), big);
    assert_null(cl_wire_check_refusal(soap));
    done(soap);
}

static void test_headers_over_the_cap(void **state)
{
    static char huge[CL_WIRE_MAX_HEADER_BYTES + 256];
    struct soap *soap;
    (void)state;
    snprintf(huge, sizeof(huge), "POST /ca HTTP/1.1\r\nX: ");
    memset(huge + strlen(huge), 'a', CL_WIRE_MAX_HEADER_BYTES);
    chunk = 4096;
    soap = context(huge, 0);
    assert_string_equal(message(soap), ""); /* nothing handed: closed */
    assert_non_null(strstr(cl_wire_check_refusal(soap), "HTTP headers over 8192 bytes"));
    done(soap);
    chunk = 7;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_requests_one_at_a_time),
        cmocka_unit_test(test_answer_without_length_ends_at_close),
        cmocka_unit_test(test_refusal_hands_only_the_headers),
        cmocka_unit_test(test_framing_refusals),
        cmocka_unit_test(test_oversized_body_is_left_to_the_size_cap),
        cmocka_unit_test(test_headers_over_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
