/* tls_internal.h: the cl_tls layout, shared only by tls.c and soap_tls.c. */
#ifndef CERTLINE_TLS_INTERNAL_H
#define CERTLINE_TLS_INTERNAL_H

#include "tls.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/x509_crt.h>

struct cl_tls {
    enum cl_tls_side side;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg; /* thread-safe: mbedTLS is built with threading */
    mbedtls_x509_crt own_chain;
    mbedtls_pk_context own_key;
    mbedtls_x509_crt trust;
    mbedtls_ssl_cache_context cache; /* server side session cache */
    mbedtls_ssl_config conf;
};

#endif
