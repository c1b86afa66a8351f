/* xml_check.h: byte-level checks of one SOAP message body before gSOAP parses it: UTF-8 and XML
 * 1.0 characters, references, no DOCTYPE or processing instruction, nesting and attribute caps,
 * and a SOAP 1.2 envelope. */
#ifndef CERTLINE_XML_CHECK_H
#define CERTLINE_XML_CHECK_H

#include <stddef.h>

/* Attribute caps: the contract's own messages carry at most a dozen namespace declarations on
 * the envelope and none elsewhere. */
#define CL_XML_MAX_ATTRIBUTES_PER_ELEMENT 16
#define CL_XML_MAX_ATTRIBUTES 256

enum cl_xml_verdict {
    CL_XML_OK = 0,
    CL_XML_MALFORMED,  /* not acceptable XML for the contract (a Sender fault) */
    CL_XML_NOT_SOAP12, /* well formed, but not a SOAP 1.2 envelope (a VersionMismatch fault) */
};

/* Checks body[0..len) in one linear pass. max_depth is the element nesting cap, counted from the
 * envelope (level 1) as gSOAP counts soap->maxlevel, but over the whole message, the SOAP header
 * included. On refusal writes the reason to why: it never quotes the input, only byte offsets,
 * code points and limits. */
enum cl_xml_verdict cl_xml_check(const char *body, size_t len, int max_depth, char *why,
                                 size_t whylen);

#endif
