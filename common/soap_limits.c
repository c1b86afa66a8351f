/* soap_limits.c: the transport's limits (timeouts, sizes, nesting, keep-alive) and how they are
 * set on a gSOAP context, with strict XML and the schema's patterns checked. */
#include "soap_tls.h"

#include <sys/socket.h>

#include "soapH.h"
#include "xml_pattern.h"

extern SOAP_NMAC struct Namespace namespaces[];

void cl_soap_limits_default(struct cl_soap_limits *limits)
{
    limits->connect_timeout_s = CL_DEFAULT_CONNECT_TIMEOUT_S;
    limits->recv_timeout_s = CL_DEFAULT_RECV_TIMEOUT_S;
    limits->send_timeout_s = CL_DEFAULT_SEND_TIMEOUT_S;
    limits->transfer_timeout_s = CL_DEFAULT_TRANSFER_TIMEOUT_S;
    limits->max_message_bytes = CL_DEFAULT_MAX_MESSAGE_BYTES;
    limits->max_string_bytes = CL_DEFAULT_MAX_STRING_BYTES;
    limits->max_list_items = CL_DEFAULT_MAX_LIST_ITEMS;
    limits->max_nesting = CL_DEFAULT_MAX_NESTING;
    limits->max_keep_alive = CL_DEFAULT_MAX_KEEP_ALIVE;
}

void cl_soap_apply_limits(struct soap *soap, const struct cl_soap_limits *limits)
{
    soap_set_namespaces(soap, namespaces);
    soap_set_mode(soap, SOAP_XML_STRICT | SOAP_IO_KEEPALIVE | SOAP_C_UTFSTRING);
    soap->connect_timeout = limits->connect_timeout_s;
    soap->recv_timeout = limits->recv_timeout_s;
    soap->send_timeout = limits->send_timeout_s;
    soap->transfer_timeout = limits->transfer_timeout_s;
    soap->recv_maxlength = (ULONG64)limits->max_message_bytes + CL_HTTP_HEADER_ALLOWANCE;
    soap->maxlength = (long)limits->max_string_bytes;
    soap->maxoccurs = limits->max_list_items;
    soap->maxlevel = limits->max_nesting;
    soap->max_keep_alive = limits->max_keep_alive;
    soap->fsvalidate = cl_xml_pattern_check;
    /* A peer gone mid-send is an error, not the end of the process: a command such as
     * `comm-terminal fetch` ignores no signal, unlike `serve`. */
    soap->socket_flags = MSG_NOSIGNAL;
}
