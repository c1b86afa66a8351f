/* xml_pattern.h: enforces the xsd:pattern restrictions of the wire contract (device numbers,
 * serials, verification values, request ids) while gSOAP parses a message; gSOAP checks lengths
 * itself but leaves patterns to this hook. */
#ifndef CERTLINE_XML_PATTERN_H
#define CERTLINE_XML_PATTERN_H

struct soap;

/* gSOAP's fsvalidate hook: SOAP_OK if the whole of value matches pattern, else SOAP_TYPE. */
int cl_xml_pattern_check(struct soap *soap, const char *pattern, const char *value);

#endif
