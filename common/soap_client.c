/* soap_client.c: one kept-alive mutual-TLS connection to one SOAP endpoint. */
#include "soap_client.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "soapH.h"
#include "wire_check.h"

struct cl_client {
    struct soap *soap;
    char endpoint[512];
    atomic_int reached; /* cl_client_reached */
};

/* https://host:port/path with an explicit port: gSOAP would otherwise assume 80. */
static int endpoint_ok(const char *endpoint)
{
    const char *host, *colon, *slash;
    if (endpoint == NULL || strncmp(endpoint, "https://", 8) != 0)
        return 0;
    host = endpoint + 8;
    slash = strchr(host, '/');
    colon = strrchr(host, ':');
    if (colon == NULL || colon == host || (slash != NULL && colon > slash))
        return 0;
    for (const char *p = colon + 1; p != (slash ? slash : host + strlen(host)); p++)
        if (*p < '0' || *p > '9')
            return 0;
    return colon[1] != '\0' && colon[1] != '/';
}

int cl_client_new(const struct cl_client_settings *settings, struct cl_tls *tls,
                  struct cl_client **out, char *err, size_t errlen)
{
    struct cl_client *client;
    int rc;

    *out = NULL;
    if (!endpoint_ok(settings->endpoint) ||
        strlen(settings->endpoint) >= sizeof(client->endpoint)) {
        snprintf(err, errlen, "endpoint \"%s\" must be https://host:port/path (port required)",
                 settings->endpoint ? settings->endpoint : "");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (settings->server_name == NULL || settings->server_name[0] == '\0') {
        snprintf(err, errlen, "a server name to check the server certificate against is required");
        return CL_ERR_INVALID_ARGUMENT;
    }
    client = calloc(1, sizeof(*client));
    if (client == NULL || (client->soap = soap_new()) == NULL) {
        free(client);
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    strcpy(client->endpoint, settings->endpoint);
    atomic_init(&client->reached, -1);
    cl_soap_apply_limits(client->soap, &settings->limits);
    rc = cl_soap_tls_attach_client(client->soap, tls, settings->server_name, settings->server_role);
    if (rc == CL_OK)
        rc = cl_wire_check_install(client->soap);
    if (rc != CL_OK) {
        snprintf(err, errlen, "cannot set up TLS for %s: %s", settings->endpoint, cl_err_str(rc));
        cl_client_free(client);
        return rc;
    }
    *out = client;
    return CL_OK;
}

struct soap *cl_client_soap(struct cl_client *client)
{
    return client->soap;
}

const char *cl_client_endpoint(const struct cl_client *client)
{
    return client->endpoint;
}

int cl_client_set_endpoint(struct cl_client *client, const char *endpoint)
{
    if (!endpoint_ok(endpoint) || strlen(endpoint) >= sizeof(client->endpoint))
        return CL_ERR_INVALID_ARGUMENT;
    /* gSOAP closes a kept connection to another host or port before it connects anew. */
    strcpy(client->endpoint, endpoint);
    return CL_OK;
}

int cl_client_explain(struct cl_client *client, char *buf, size_t len)
{
    struct soap *soap = client->soap;
    int code = cl_soap_tls_error_code(soap);
    const char **text, **detail;

    if (soap->error == SOAP_OK) {
        snprintf(buf, len, "no error");
        return CL_OK;
    }
    if (code != CL_OK) {
        snprintf(buf, len, "%s: %s", client->endpoint, cl_soap_tls_error(soap));
        return code;
    }
    if (cl_wire_check_cut_short(soap)) {
        snprintf(buf, len, "%s: connection closed in the middle of the answer (%s)",
                 client->endpoint, cl_wire_check_refusal(soap));
        return CL_ERR_CLOSED;
    }
    if (cl_wire_check_refusal(soap) != NULL) {
        snprintf(buf, len, "%s: answer refused: %s", client->endpoint, cl_wire_check_refusal(soap));
        return CL_ERR_PARSE;
    }
    text = soap_faultstring(soap);
    detail = soap_faultdetail(soap);
    if (soap->error == SOAP_FAULT || soap->error == SOAP_CLI_FAULT ||
        soap->error == SOAP_SVR_FAULT) {
        snprintf(buf, len, "%s answered with a fault: %s%s%s", client->endpoint,
                 text && *text ? *text : "(no reason)", detail && *detail ? ": " : "",
                 detail && *detail ? *detail : "");
        return CL_ERR_SOAP_FAULT;
    }
    if (soap->error == SOAP_EOF) {
        snprintf(buf, len, "%s: connection closed or timed out", client->endpoint);
        return CL_ERR_CLOSED;
    }
    snprintf(buf, len, "%s: SOAP error %d: %s", client->endpoint, soap->error,
             text && *text ? *text : "(no detail)");
    return CL_ERR_SOAP_FAULT;
}

void cl_client_end_call(struct cl_client *client)
{
    int e = client->soap->error;
    atomic_store(&client->reached,
                 e == SOAP_OK || e == SOAP_FAULT || e == SOAP_CLI_FAULT || e == SOAP_SVR_FAULT);
    soap_destroy(client->soap);
    soap_end(client->soap);
}

int cl_client_reached(const struct cl_client *client)
{
    return atomic_load(&client->reached);
}

void cl_client_handshakes(const struct cl_client *client, unsigned *total, unsigned *resumed)
{
    cl_soap_tls_handshakes(client->soap, total, resumed);
}

void cl_client_free(struct cl_client *client)
{
    if (client == NULL)
        return;
    cl_soap_tls_free_context(client->soap);
    free(client);
}
