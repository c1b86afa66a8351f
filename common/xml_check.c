/* xml_check.c: refuses, before gSOAP sees them, the XML inputs gSOAP would accept although the
 * contract forbids them: characters XML 1.0 forbids (U+0000 and other controls, surrogates,
 * U+FFFE/U+FFFF) raw or as references, malformed UTF-8, entity references other than the five
 * predefined ones, DOCTYPEs and processing instructions, nesting over the cap anywhere (the SOAP
 * header included), too many attributes, and any envelope but SOAP 1.2's. */
#include "xml_check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SOAP12_ENVELOPE_NS "http://www.w3.org/2003/05/soap-envelope"
#define SOAP11_ENVELOPE_NS "http://schemas.xmlsoap.org/soap/envelope/"

/* Appended to the reasons for a message cut short: over HTTP the cut is where Content-Length
 * said the body ends. */
#define CUT_SHORT " (does Content-Length match the body?)"

struct scan {
    const unsigned char *p;
    size_t n, i;
    int max_depth;
    int depth;
    int attributes; /* in the whole message */
    int root_seen, root_done;
    enum cl_xml_verdict verdict;
    char *why;
    size_t whylen;
};

static int refuse(struct scan *s, enum cl_xml_verdict verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct scan *s, enum cl_xml_verdict verdict, const char *fmt, ...)
{
    va_list ap;
    s->verdict = verdict;
    va_start(ap, fmt);
    vsnprintf(s->why, s->whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* XML 1.0 Char production. */
static int xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

/* Length of the well-formed UTF-8 sequence at p (at most n bytes) and its code point, or 0 for
 * a malformed one: stray continuation, overlong form, surrogate, beyond U+10FFFF, truncated. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t v, min;

    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        len = 2, v = p[0] & 0x1Fu, min = 0x80;
    } else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        len = 3, v = p[0] & 0x0Fu, min = 0x800;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        len = 4, v = p[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[k] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static int check_characters(struct scan *s)
{
    for (size_t i = 0; i < s->n;) {
        uint32_t c = 0;
        size_t len;
        if (s->p[i] >= 0x20 && s->p[i] < 0x80) { /* the common case: printable ASCII */
            i++;
            continue;
        }
        len = utf8_decode(s->p + i, s->n - i, &c);
        if (len == 0)
            return refuse(s, CL_XML_MALFORMED, "invalid UTF-8 at byte %zu", i);
        if (!xml_char(c))
            return refuse(s, CL_XML_MALFORMED, "character U+%04X at byte %zu is not allowed in XML",
                          (unsigned)c, i);
        i += len;
    }
    return 0;
}

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int at(const struct scan *s, const char *literal)
{
    size_t len = strlen(literal);
    return s->n - s->i >= len && memcmp(s->p + s->i, literal, len) == 0;
}

/* Moves past the next occurrence of literal; -1 if there is none. */
static int skip_past(struct scan *s, const char *literal)
{
    size_t len = strlen(literal);
    for (size_t j = s->i; j + len <= s->n; j++) {
        if (memcmp(s->p + j, literal, len) == 0) {
            s->i = j + len;
            return 0;
        }
    }
    return -1;
}

static void skip_space(struct scan *s)
{
    while (s->i < s->n && is_space(s->p[s->i]))
        s->i++;
}

/* End of a name starting at j: names are checked by gSOAP; here only their extent matters. */
static size_t name_end(const struct scan *s, size_t j)
{
    for (; j < s->n; j++) {
        switch (s->p[j]) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case '=':
        case '/':
        case '>':
        case '"':
        case '\'':
        case '<':
        case '&':
            return j;
        default:
            break;
        }
    }
    return j;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A reference at s->i ('&'): a character reference to an XML character, or one of the five
 * predefined entities. */
static int check_reference(struct scan *s)
{
    static const struct {
        const char *text;
        size_t len;
    } predefined[] = {{"lt;", 3}, {"gt;", 3}, {"amp;", 4}, {"quot;", 5}, {"apos;", 5}};
    size_t start = s->i, j = s->i + 1;

    if (j < s->n && s->p[j] == '#') {
        int base = 10, digits = 0, d;
        uint32_t v = 0;
        if (++j < s->n && s->p[j] == 'x') {
            base = 16;
            j++;
        }
        while (j < s->n && (d = hex_digit(s->p[j])) >= 0 && d < base) {
            v = v * (uint32_t)base + (uint32_t)d;
            if (v > 0x10FFFF)
                return refuse(s, CL_XML_MALFORMED,
                              "character reference at byte %zu is beyond U+10FFFF", start);
            digits++;
            j++;
        }
        if (digits == 0 || j >= s->n || s->p[j] != ';')
            return refuse(s, CL_XML_MALFORMED, "malformed character reference at byte %zu", start);
        if (!xml_char(v))
            return refuse(s, CL_XML_MALFORMED,
                          "character reference to U+%04X at byte %zu is not allowed in XML",
                          (unsigned)v, start);
        s->i = j + 1;
        return 0;
    }
    for (size_t k = 0; k < sizeof(predefined) / sizeof(predefined[0]); k++) {
        size_t len = predefined[k].len;
        if (s->n - j >= len && memcmp(s->p + j, predefined[k].text, len) == 0) {
            s->i = j + len;
            return 0;
        }
    }
    return refuse(s, CL_XML_MALFORMED, "undeclared or malformed entity reference at byte %zu",
                  start);
}

/* The root element must be the SOAP 1.2 Envelope; ns is the namespace its prefix is bound to. */
static int check_envelope(struct scan *s, size_t name0, size_t name1, const unsigned char *ns,
                          size_t nslen)
{
    const unsigned char *colon = memchr(s->p + name0, ':', name1 - name0);
    size_t local0 = colon ? (size_t)(colon - s->p) + 1 : name0;
    int is_envelope = name1 - local0 == 8 && memcmp(s->p + local0, "Envelope", 8) == 0;

    if (is_envelope && ns != NULL && nslen == strlen(SOAP12_ENVELOPE_NS) &&
        memcmp(ns, SOAP12_ENVELOPE_NS, nslen) == 0)
        return 0;
    if (is_envelope && ns != NULL && nslen == strlen(SOAP11_ENVELOPE_NS) &&
        memcmp(ns, SOAP11_ENVELOPE_NS, nslen) == 0)
        return refuse(s, CL_XML_NOT_SOAP12,
                      "a SOAP 1.1 envelope; this interface speaks SOAP 1.2 only");
    return refuse(s, CL_XML_NOT_SOAP12, "the root element is not a SOAP 1.2 envelope");
}

/* Is the attribute name at a0..a1 the declaration of the namespace of the root's prefix? */
static int declares_root_prefix(const struct scan *s, size_t a0, size_t a1, size_t name0,
                                size_t name1)
{
    const unsigned char *colon = memchr(s->p + name0, ':', name1 - name0);
    size_t plen = colon ? (size_t)(colon - (s->p + name0)) : 0;

    if (plen == 0)
        return a1 - a0 == 5 && memcmp(s->p + a0, "xmlns", 5) == 0;
    return a1 - a0 == 6 + plen && memcmp(s->p + a0, "xmlns:", 6) == 0 &&
           memcmp(s->p + a0 + 6, s->p + name0, plen) == 0;
}

/* A start tag; s->i is just after '<'. Sets *empty for <name .../>. */
static int scan_start_tag(struct scan *s, int *empty)
{
    size_t tag = s->i - 1, name0 = s->i, name1 = name_end(s, s->i);
    int root = s->depth == 0, attributes = 0;
    const unsigned char *ns = NULL;
    size_t nslen = 0;

    if (name1 == name0)
        return refuse(s, CL_XML_MALFORMED, "malformed start tag at byte %zu", tag);
    if (s->root_done)
        return refuse(s, CL_XML_MALFORMED, "an element after the envelope at byte %zu", tag);
    if (s->depth + 1 > s->max_depth)
        return refuse(s, CL_XML_MALFORMED, "elements nested deeper than %d levels (at byte %zu)",
                      s->max_depth, tag);
    s->i = name1;
    for (;;) {
        size_t before = s->i, a0, a1;
        unsigned char quote;

        skip_space(s);
        if (s->i >= s->n)
            return refuse(s, CL_XML_MALFORMED, "the message ends inside a start tag" CUT_SHORT);
        if (s->p[s->i] == '>' || (s->p[s->i] == '/' && s->i + 1 < s->n && s->p[s->i + 1] == '>')) {
            *empty = s->p[s->i] == '/';
            s->i += *empty ? 2 : 1;
            break;
        }
        a0 = s->i;
        a1 = name_end(s, a0);
        if (before == s->i || a1 == a0)
            return refuse(s, CL_XML_MALFORMED, "malformed start tag at byte %zu", tag);
        s->i = a1;
        skip_space(s);
        if (s->i >= s->n || s->p[s->i] != '=')
            return refuse(s, CL_XML_MALFORMED, "malformed attribute at byte %zu", a0);
        s->i++;
        skip_space(s);
        if (s->i >= s->n || (s->p[s->i] != '"' && s->p[s->i] != '\''))
            return refuse(s, CL_XML_MALFORMED, "malformed attribute at byte %zu", a0);
        quote = s->p[s->i++];
        if (++attributes > CL_XML_MAX_ATTRIBUTES_PER_ELEMENT)
            return refuse(s, CL_XML_MALFORMED,
                          "more than %d attributes on one element (at byte %zu)",
                          CL_XML_MAX_ATTRIBUTES_PER_ELEMENT, tag);
        if (++s->attributes > CL_XML_MAX_ATTRIBUTES)
            return refuse(s, CL_XML_MALFORMED, "more than %d attributes in one message",
                          CL_XML_MAX_ATTRIBUTES);
        size_t v0 = s->i;
        while (s->i < s->n && s->p[s->i] != quote) {
            if (s->p[s->i] == '<')
                return refuse(s, CL_XML_MALFORMED, "'<' in an attribute value at byte %zu", s->i);
            if (s->p[s->i] == '&') {
                if (check_reference(s) != 0)
                    return -1;
            } else {
                s->i++;
            }
        }
        if (s->i >= s->n)
            return refuse(s, CL_XML_MALFORMED,
                          "the message ends inside an attribute value" CUT_SHORT);
        if (root && declares_root_prefix(s, a0, a1, name0, name1)) {
            ns = s->p + v0;
            nslen = s->i - v0;
        }
        s->i++;
    }
    if (root) {
        s->root_seen = 1;
        if (check_envelope(s, name0, name1, ns, nslen) != 0)
            return -1;
    }
    return 0;
}

/* Markup starting at s->i ('<'). */
static int scan_markup(struct scan *s)
{
    size_t start = s->i;
    unsigned char next = s->i + 1 < s->n ? s->p[s->i + 1] : '\0';
    int empty = 0;

    if (next == '?')
        return refuse(s, CL_XML_MALFORMED,
                      "a processing instruction at byte %zu (only the XML declaration at the "
                      "start is allowed)",
                      start);
    if (next == '!' && at(s, "<!--")) {
        s->i += 4;
        if (skip_past(s, "-->") != 0)
            return refuse(s, CL_XML_MALFORMED, "the message ends inside a comment" CUT_SHORT);
        return 0;
    }
    if (next == '!' && at(s, "<![CDATA[") && s->depth > 0) {
        s->i += 9;
        if (skip_past(s, "]]>") != 0)
            return refuse(s, CL_XML_MALFORMED, "the message ends inside a CDATA section" CUT_SHORT);
        return 0;
    }
    if (next == '!')
        return refuse(s, CL_XML_MALFORMED,
                      "a document type or markup declaration at byte %zu is not allowed", start);
    if (next == '/') {
        s->i = name_end(s, s->i + 2);
        skip_space(s);
        if (s->i >= s->n)
            return refuse(s, CL_XML_MALFORMED, "the message ends inside an end tag" CUT_SHORT);
        if (s->p[s->i] != '>' || s->depth == 0)
            return refuse(s, CL_XML_MALFORMED, "malformed or unbalanced end tag at byte %zu",
                          start);
        s->i++;
        if (--s->depth == 0)
            s->root_done = 1;
        return 0;
    }
    s->i++;
    if (scan_start_tag(s, &empty) != 0)
        return -1;
    if (!empty)
        s->depth++;
    else if (s->depth == 0)
        s->root_done = 1;
    return 0;
}

enum cl_xml_verdict cl_xml_check(const char *body, size_t len, int max_depth, char *why,
                                 size_t whylen)
{
    struct scan s = {.p = (const unsigned char *)body,
                     .n = len,
                     .max_depth = max_depth,
                     .why = why,
                     .whylen = whylen};

    if (whylen > 0)
        why[0] = '\0';
    if (check_characters(&s) != 0)
        return s.verdict;
    if (at(&s, "\xEF\xBB\xBF"))
        s.i = 3;
    if (at(&s, "<?xml") && s.n - s.i > 5 && is_space(s.p[s.i + 5]) && skip_past(&s, "?>") != 0) {
        refuse(&s, CL_XML_MALFORMED, "the message ends inside the XML declaration" CUT_SHORT);
        return s.verdict;
    }
    while (s.i < s.n) {
        unsigned char c = s.p[s.i];
        int rc = 0;
        if (c == '<')
            rc = scan_markup(&s);
        else if (s.depth == 0 && !is_space(c))
            rc = refuse(&s, CL_XML_MALFORMED, "text outside the envelope at byte %zu", s.i);
        else if (c == '&')
            rc = check_reference(&s);
        else /* text: on to the next markup or reference */
            while (++s.i < s.n && s.p[s.i] != '<' && s.p[s.i] != '&' && s.depth > 0)
                ;
        if (rc != 0)
            return s.verdict;
    }
    if (!s.root_seen)
        refuse(&s, CL_XML_MALFORMED, "the message holds no envelope");
    else if (!s.root_done)
        refuse(&s, CL_XML_MALFORMED,
               "the message ends before its envelope does, after %zu bytes" CUT_SHORT, s.n);
    return s.verdict;
}
