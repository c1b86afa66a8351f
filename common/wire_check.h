/* wire_check.h: holds each HTTP message a certline end receives until it is known to keep the
 * wire contract (HTTP framing, then the body through xml_check), and only then lets gSOAP read
 * it; a message that breaks it is refused with a SOAP 1.2 fault before gSOAP parses its body. */
#ifndef CERTLINE_WIRE_CHECK_H
#define CERTLINE_WIRE_CHECK_H

struct soap;

/* Most bytes of HTTP headers a message may carry. */
#define CL_WIRE_MAX_HEADER_BYTES 8192

/* Installs the check on a context whose TLS hooks are attached (cl_soap_tls_accept or
 * cl_soap_tls_attach_client): wraps soap->frecv and soap->fparsehdr. Its state is a gSOAP plugin,
 * freed with the context. Returns CL_OK or CL_ERR_NOMEM. */
int cl_wire_check_install(struct soap *soap);

/* Why the last message received was refused, or NULL if it was not. The text never quotes the
 * input. */
const char *cl_wire_check_refusal(struct soap *soap);

/* 1 if that refusal is a message cut short: the peer closed before the body its Content-Length
 * announced (a lost connection rather than a bad message). */
int cl_wire_check_cut_short(struct soap *soap);

#endif
