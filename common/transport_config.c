/* transport_config.c: tables and conversions for the shared configuration sections. */
#include "transport_config.h"

static const struct cl_cfg_field tls_fields[] = {
    CL_CFG_STR(struct cl_tls_config, cert_file, "cert_file", 1, 1,
               "own certificate, PEM, leaf first then intermediates"),
    CL_CFG_STR(struct cl_tls_config, key_file, "key_file", 1, 1,
               "own private key, PEM (keep it mode 0600)"),
    CL_CFG_STR(struct cl_tls_config, trust_file, "trust_file", 1, 1,
               "trusted root certificate (the route certificate), PEM"),
};
const struct cl_cfg_table cl_tls_config_table = CL_CFG_TABLE(tls_fields);

static const struct cl_cfg_field limits_fields[] = {
    CL_CFG_INT(struct cl_limits_config, connect_timeout_s, "connect_timeout_s", 0, 1, 300,
               CL_DEFAULT_CONNECT_TIMEOUT_S, "seconds to open a TCP connection"),
    CL_CFG_INT(struct cl_limits_config, recv_timeout_s, "recv_timeout_s", 0, 1, 3600,
               CL_DEFAULT_RECV_TIMEOUT_S,
               "seconds one receive may wait (also how long an idle kept connection lives)"),
    CL_CFG_INT(struct cl_limits_config, send_timeout_s, "send_timeout_s", 0, 1, 3600,
               CL_DEFAULT_SEND_TIMEOUT_S, "seconds one send may wait"),
    CL_CFG_INT(struct cl_limits_config, transfer_timeout_s, "transfer_timeout_s", 0, 1, 86400,
               CL_DEFAULT_TRANSFER_TIMEOUT_S, "seconds a whole message may take"),
    CL_CFG_INT(struct cl_limits_config, max_message_bytes, "max_message_bytes", 0, 1024,
               256LL << 20, CL_DEFAULT_MAX_MESSAGE_BYTES, "largest request or answer body"),
    CL_CFG_INT(struct cl_limits_config, max_string_bytes, "max_string_bytes", 0, 256, 16LL << 20,
               CL_DEFAULT_MAX_STRING_BYTES, "longest single XML string"),
    CL_CFG_INT(struct cl_limits_config, max_list_items, "max_list_items", 0, 1, 100000,
               CL_DEFAULT_MAX_LIST_ITEMS, "most items of one repeated element"),
    CL_CFG_INT(struct cl_limits_config, max_nesting, "max_nesting", 0, 8, 64,
               CL_DEFAULT_MAX_NESTING, "deepest XML element nesting"),
};
const struct cl_cfg_table cl_limits_config_table = CL_CFG_TABLE(limits_fields);

static const struct cl_cfg_field listen_fields[] = {
    CL_CFG_STR_DEF(struct cl_listen_config, host, "host", "127.0.0.1", 1,
                   "address to listen on (loopback by default)"),
    CL_CFG_INT(struct cl_listen_config, port, "port", 1, 0, 65535, 0, "TCP port (0: any free)"),
    CL_CFG_INT(struct cl_listen_config, max_connections, "max_connections", 0, 1, 4096, 128,
               "connections served at once (one thread each); more are refused"),
};
const struct cl_cfg_table cl_listen_config_table = CL_CFG_TABLE(listen_fields);

static const struct cl_cfg_field endpoint_fields[] = {
    CL_CFG_STR(struct cl_endpoint_config, endpoint, "endpoint", 1, 12,
               "https://host:port/path of the peer (port required)"),
    CL_CFG_STR(struct cl_endpoint_config, server_name, "server_name", 1, 1,
               "name the peer's certificate must carry (checked)"),
};
const struct cl_cfg_table cl_endpoint_config_table = CL_CFG_TABLE(endpoint_fields);

static const struct cl_cfg_field endpoints_fields[] = {
    CL_CFG_STR(struct cl_endpoints_config, endpoint, "endpoint", 0, 0,
               "https://host:port/path of the peer (port required); or endpoints"),
    CL_CFG_LIST(struct cl_endpoints_config, endpoints, "endpoints", 12, 255,
                "https://host:port/path of each instance, tried in turn when one is unreachable"),
    CL_CFG_STR(struct cl_endpoints_config, server_name, "server_name", 1, 1,
               "name the peer's certificate must carry (checked)"),
};
const struct cl_cfg_table cl_endpoints_config_table = CL_CFG_TABLE(endpoints_fields);

void cl_tls_config_settings(const struct cl_tls_config *config, struct cl_tls_settings *settings)
{
    *settings = (struct cl_tls_settings){0}; /* nothing else set: no in-memory PEM */
    settings->cert_file = config->cert_file;
    settings->key_file = config->key_file;
    settings->trust_file = config->trust_file;
}

int cl_tls_config_new(const struct cl_tls_config *config, enum cl_tls_side side,
                      struct cl_tls **out, char *err, size_t errlen)
{
    struct cl_tls_settings settings;

    cl_tls_config_settings(config, &settings);
    return cl_tls_new(side, &settings, out, err, errlen);
}

int cl_tls_config_check(const struct cl_tls_config *config, enum cl_tls_side side, char *err,
                        size_t errlen)
{
    struct cl_tls *tls = NULL;
    int rc = cl_tls_config_new(config, side, &tls, err, errlen);

    cl_tls_free(tls);
    return rc;
}

void cl_limits_config_apply(const struct cl_limits_config *config, struct cl_soap_limits *limits)
{
    cl_soap_limits_default(limits);
    limits->connect_timeout_s = (int)config->connect_timeout_s;
    limits->recv_timeout_s = (int)config->recv_timeout_s;
    limits->send_timeout_s = (int)config->send_timeout_s;
    limits->transfer_timeout_s = (int)config->transfer_timeout_s;
    limits->max_message_bytes = (size_t)config->max_message_bytes;
    limits->max_string_bytes = (size_t)config->max_string_bytes;
    limits->max_list_items = (size_t)config->max_list_items;
    limits->max_nesting = (unsigned short)config->max_nesting;
}
