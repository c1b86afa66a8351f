/* test_xml_check.c: the byte-level wire checks without a network: xml_check's verdict on every
 * kind of input the contract forbids (and on the good messages next to them), and the strict
 * xsd:dateTime check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "soap_datetime.h"
#include "xml_check.h"

#define ENV_OPEN                                                                                   \
    "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "               \
    "xmlns:ca=\"urn:certline:ca:1\">"
#define ENV(body) ENV_OPEN "<SOAP-ENV:Body>" body "</SOAP-ENV:Body></SOAP-ENV:Envelope>"

static enum cl_xml_verdict check_n(const char *body, size_t len, char *why, size_t whylen)
{
    return cl_xml_check(body, len, 16, why, whylen);
}

/* Asserts the verdict on body (a C string) and, on refusal, that the reason says needle. */
static void expect(const char *body, enum cl_xml_verdict verdict, const char *needle)
{
    char why[256];
    enum cl_xml_verdict got = check_n(body, strlen(body), why, sizeof(why));
    if (got != verdict || (needle != NULL && strstr(why, needle) == NULL))
        fail_msg("expected verdict %d (\"%s\"), got %d: %s", verdict, needle ? needle : "", got,
                 why);
}

static void test_good_messages_pass(void **state)
{
    (void)state;
    expect(ENV("<ca:CheckIn/>"), CL_XML_OK, NULL);
    expect("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" ENV("<ca:CheckIn/>") "\r\n", CL_XML_OK,
           NULL);
    expect("\xEF\xBB\xBF" ENV("<ca:x>a &lt;&amp;&gt; &#233;&#x1F600; \xC3\xA9\xF0\x9F\x98\x80"
                              "<![CDATA[<raw>]]><!-- note --></ca:x>"),
           CL_XML_OK, NULL);
    expect("<env:Envelope xmlns:env='http://www.w3.org/2003/05/soap-envelope'><env:Header>"
           "<a:h xmlns:a='urn:a' a:mustUnderstand='false'>1</a:h></env:Header><env:Body/>"
           "</env:Envelope>",
           CL_XML_OK, NULL);
    expect("<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\"><Body/></Envelope>",
           CL_XML_OK, NULL);
}

static void test_refuses_nul(void **state)
{
    static const char raw[] = ENV("<ca:requestId>host\0ile</ca:requestId>");
    char why[256];
    (void)state;
    assert_int_equal(check_n(raw, sizeof(raw) - 1, why, sizeof(why)), CL_XML_MALFORMED);
    assert_non_null(strstr(why, "U+0000"));
    expect(ENV("<ca:deviceNumber>3012-100002&#0;x</ca:deviceNumber>"), CL_XML_MALFORMED, "U+0000");
    expect(ENV("<ca:deviceNumber>3012-100002&#x0;x</ca:deviceNumber>"), CL_XML_MALFORMED, "U+0000");
    expect(ENV("<ca:x a=\"&#0;\"/>"), CL_XML_MALFORMED, "U+0000");
}

/* Characters XML 1.0 forbids, as bytes or as references, and bytes that are not UTF-8: each
 * message is malformed, and the reason names what was found. */
static const struct {
    const char *body, *needle;
} bad_characters[] = {
    /* forbidden characters and references */
    {ENV("<ca:x>\x01</ca:x>"), "U+0001"},
    {ENV("<ca:x>\x1F</ca:x>"), "U+001F"},
    {ENV("<ca:x>&#x1B;</ca:x>"), "U+001B"},
    {ENV("<ca:x>&#xD800;</ca:x>"), "U+D800"},
    {ENV("<ca:x>&#xFFFE;</ca:x>"), "U+FFFE"},
    {ENV("<ca:x>&#65535;</ca:x>"), "U+FFFF"},
    {ENV("<ca:x>\xEF\xBF\xBE</ca:x>"), "U+FFFE"},
    {ENV("<ca:x>&#x110000;</ca:x>"), "beyond U+10FFFF"},
    {ENV("<ca:x>&#99999999999999999999;</ca:x>"), "beyond U+10FFFF"},
    {ENV("<ca:x>&#x;</ca:x>"), "malformed character reference"},
    {ENV("<ca:x>&#12</ca:x>"), "malformed character reference"},
    {ENV("<ca:x>&ent;</ca:x>"), "entity reference"},
    {ENV("<ca:x>a & b</ca:x>"), "entity reference"},
    /* invalid UTF-8 */
    {ENV("<ca:x>\xC3</ca:x>"), "invalid UTF-8"},
    {ENV("<ca:x>\x80</ca:x>"), "invalid UTF-8"},
    {ENV("<ca:x>\xC0\xAF</ca:x>"), "invalid UTF-8"},     /* overlong */
    {ENV("<ca:x>\xE0\x80\xAF</ca:x>"), "invalid UTF-8"}, /* overlong */
    {ENV("<ca:x>\xED\xA0\x80</ca:x>"), "invalid UTF-8"}, /* U+D800 */
    {ENV("<ca:x>\xF4\x90\x80\x80</ca:x>"), "invalid UTF-8"},
    {ENV("<ca:x>\xFF</ca:x>"), "invalid UTF-8"},
    {ENV("<ca:\xFF\xFE/>"), "invalid UTF-8"},
    {ENV("<ca:x>\xF0\x9F\x98</ca:x>"), "invalid UTF-8"}, /* truncated */
};

static void test_refuses_bad_characters(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_characters) / sizeof(bad_characters[0]); i++)
        expect(bad_characters[i].body, CL_XML_MALFORMED, bad_characters[i].needle);
}

static void test_refuses_doctype_and_processing_instructions(void **state)
{
    (void)state;
    expect("<!DOCTYPE x [<!ENTITY a \"b\">]>" ENV("<ca:CheckIn/>"), CL_XML_MALFORMED,
           "document type");
    expect("<?xml version=\"1.0\"?><!DOCTYPE x>" ENV("<ca:CheckIn/>"), CL_XML_MALFORMED,
           "document type");
    expect("<?pi data?>" ENV("<ca:CheckIn/>"), CL_XML_MALFORMED, "processing instruction");
    expect(ENV("<?pi data?><ca:CheckIn/>"), CL_XML_MALFORMED, "processing instruction");
    expect(ENV("<ca:CheckIn/>") "<?pi?>", CL_XML_MALFORMED, "processing instruction");
    expect(" <?xml version=\"1.0\"?>" ENV("<ca:CheckIn/>"), CL_XML_MALFORMED,
           "processing instruction");
    expect(ENV("<ca:x><!ENTITY a \"b\"></ca:x>"), CL_XML_MALFORMED, "declaration");
}

static void test_refuses_soap_1_1_and_other_roots(void **state)
{
    (void)state;
    expect("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\">"
           "<SOAP-ENV:Body><ca:CheckIn xmlns:ca=\"urn:certline:ca:1\"/></SOAP-ENV:Body>"
           "</SOAP-ENV:Envelope>",
           CL_XML_NOT_SOAP12, "SOAP 1.1");
    expect("<e:Envelope xmlns:e=\"urn:other\"><e:Body/></e:Envelope>", CL_XML_NOT_SOAP12,
           "not a SOAP 1.2 envelope");
    expect("<SOAP-ENV:Body xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\"/>",
           CL_XML_NOT_SOAP12, "not a SOAP 1.2 envelope");
    /* The prefix must be bound on the envelope itself, to the SOAP 1.2 namespace. */
    expect("<SOAP-ENV:Envelope xmlns:other=\"http://www.w3.org/2003/05/soap-envelope\">"
           "</SOAP-ENV:Envelope>",
           CL_XML_NOT_SOAP12, "not a SOAP 1.2 envelope");
}

static void test_refuses_bad_structure(void **state)
{
    (void)state;
    expect("", CL_XML_MALFORMED, "no envelope");
    expect("junk" ENV("<ca:CheckIn/>"), CL_XML_MALFORMED, "text outside");
    expect(ENV("<ca:CheckIn/>") "junk", CL_XML_MALFORMED, "text outside");
    expect(ENV("<ca:CheckIn/>") ENV("<ca:CheckIn/>"), CL_XML_MALFORMED, "after the envelope");
    expect(ENV_OPEN "<SOAP-ENV:Body><ca:CheckIn/>", CL_XML_MALFORMED, "ends before");
    expect(ENV("<ca:x a=\"<\"/>"), CL_XML_MALFORMED, "'<' in an attribute value");
    expect(ENV("<ca:x a=b/>"), CL_XML_MALFORMED, "malformed attribute");
    expect(ENV("<ca:x a=\"1\"b=\"2\"/>"), CL_XML_MALFORMED, "malformed start tag");
    expect(ENV_OPEN "<ca:x a=\"1", CL_XML_MALFORMED, "ends inside an attribute value");
    expect(ENV_OPEN "<!-- open", CL_XML_MALFORMED, "ends inside a comment");
}

static void test_nesting_cap_covers_the_header(void **state)
{
    char body[8192], deep[1024] = "", shut[256] = "";
    (void)state;
    /* Envelope (1), Header (2), then 14 levels: 16 in all is the cap itself. */
    for (int i = 0; i < 14; i++) {
        strcat(deep, "<a:h xmlns:a='urn:a'>");
        strcat(shut, "</a:h>");
    }
    snprintf(body, sizeof(body),
             ENV_OPEN "<SOAP-ENV:Header>%s%s</SOAP-ENV:Header>"
                      "<SOAP-ENV:Body/></SOAP-ENV:Envelope>",
             deep, shut);
    expect(body, CL_XML_OK, NULL);
    snprintf(body, sizeof(body),
             ENV_OPEN "<SOAP-ENV:Header>%s<a:h/>%s</SOAP-ENV:Header>"
                      "<SOAP-ENV:Body/></SOAP-ENV:Envelope>",
             deep, shut);
    expect(body, CL_XML_MALFORMED, "nested deeper than 16 levels");
}

static void test_attribute_caps(void **state)
{
    static char body[1 << 20];
    char attrs[4096] = "";
    size_t n;
    (void)state;
    for (int i = 0; i < CL_XML_MAX_ATTRIBUTES_PER_ELEMENT; i++)
        snprintf(attrs + strlen(attrs), sizeof(attrs) - strlen(attrs), " a%d=\"x\"", i);
    snprintf(body, sizeof(body), ENV("<ca:x%s/>"), attrs);
    expect(body, CL_XML_OK, NULL);
    snprintf(body, sizeof(body), ENV("<ca:x%s b=\"y\"/>"), attrs);
    expect(body, CL_XML_MALFORMED, "more than 16 attributes on one element");

    /* 100,000 attributes on the operation element: refused at the cap, in linear time. */
    n = (size_t)snprintf(body, sizeof(body), ENV_OPEN "<SOAP-ENV:Body><ca:CheckIn");
    for (int i = 0; i < 100000 && n + 32 < sizeof(body); i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, " a%d=\"\"", i);
    snprintf(body + n, sizeof(body) - n, "/></SOAP-ENV:Body></SOAP-ENV:Envelope>");
    expect(body, CL_XML_MALFORMED, "more than 16 attributes on one element");

    /* Many elements with a few attributes each: the cap per message. */
    n = (size_t)snprintf(body, sizeof(body), ENV_OPEN "<SOAP-ENV:Body>");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "<ca:x a=\"1\" b=\"2\" c=\"3\"/>");
    snprintf(body + n, sizeof(body) - n, "</SOAP-ENV:Body></SOAP-ENV:Envelope>");
    expect(body, CL_XML_MALFORMED, "more than 256 attributes in one message");
}

static void test_reasons_never_quote_the_input(void **state)
{
    char why[256];
    static const char body[] = ENV("<ca:\xC3\x28secret>x</ca:\xC3\x28secret>");
    (void)state;
    assert_int_equal(check_n(body, sizeof(body) - 1, why, sizeof(why)), CL_XML_MALFORMED);
    assert_null(strstr(why, "secret"));
    for (const char *p = why; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7F);
}

static void test_datetime(void **state)
{
    (void)state;
    assert_true(cl_xsd_datetime_valid("2026-12-05T11:30:00Z"));
    assert_true(cl_xsd_datetime_valid(" 2026-12-05T11:30:00.123+01:00 "));
    assert_true(cl_xsd_datetime_valid("2024-02-29T23:59:59-14:00"));
    assert_true(cl_xsd_datetime_valid("2000-02-29T24:00:00Z"));
    assert_true(cl_xsd_datetime_valid("2026-12-05T11:30:00"));
    assert_false(cl_xsd_datetime_valid("2026-13-45T99:99:99Z"));
    assert_false(cl_xsd_datetime_valid("2026-00-10T10:00:00Z"));
    assert_false(cl_xsd_datetime_valid("2026-02-29T10:00:00Z"));
    assert_false(cl_xsd_datetime_valid("1900-02-29T10:00:00Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-31T10:00:00Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T24:00:01Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T23:60:00Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T23:00:60Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T23:00:00+14:01"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T23:00:00+15:00"));
    assert_false(cl_xsd_datetime_valid("0000-01-01T00:00:00Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T23:00:00.Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30 23:00:00Z"));
    assert_false(cl_xsd_datetime_valid("2026-04-30T23:00:00Zjunk"));
    assert_false(cl_xsd_datetime_valid("2026-4-30T23:00:00Z"));
    assert_false(cl_xsd_datetime_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_messages_pass),
        cmocka_unit_test(test_refuses_nul),
        cmocka_unit_test(test_refuses_bad_characters),
        cmocka_unit_test(test_refuses_doctype_and_processing_instructions),
        cmocka_unit_test(test_refuses_soap_1_1_and_other_roots),
        cmocka_unit_test(test_refuses_bad_structure),
        cmocka_unit_test(test_nesting_cap_covers_the_header),
        cmocka_unit_test(test_attribute_caps),
        cmocka_unit_test(test_reasons_never_quote_the_input),
        cmocka_unit_test(test_datetime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
