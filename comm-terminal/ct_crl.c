/* ct_crl.c: the CRL the comm-terminal holds for its lines: fetched from ca-server
 * (ca:RevocationList) or imported by an operator, verified and installed by the holder, kept in
 * the database (store/crl.c) so that a restart with ca-server away still enforces it, and served
 * to the factory terminals (ct:RevocationList). */
#include "ct_crl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pem.h>

#include "crl_config.h"
#include "ct_commands.h"
#include "ct_store_crl.h"
#include "error.h"
#include "log.h"
#include "soapH.h"
#include "soap_tls.h"

/* The HTTP headers allowed besides an answer's body (as soap_tls.c sets recv_maxlength). */
#define CRL_HEADER_ALLOWANCE 8192

/* The holder, and what ct:RevocationList answers: the installed CRL as the wire carries it. */
struct ct_crl {
    struct cl_crl_holder *holder;
    pthread_mutex_t lock;
    unsigned long long number;
    time_t this_update, next_update;
    char *wire; /* base64 DER of CRL number `number` */
};

struct cl_crl_holder *ct_crl_holder(struct ct_runtime *rt)
{
    return rt->crl != NULL ? rt->crl->holder : NULL;
}

/* After an install: the holder's CRL is now the one whose DER is der; serve it. */
static void serve(struct ct_crl *c, char *wire)
{
    struct cl_crl_status st;
    cl_crl_holder_status(c->holder, &st);
    pthread_mutex_lock(&c->lock);
    free(c->wire);
    c->wire = wire;
    c->number = st.number;
    c->this_update = st.this_update;
    c->next_update = st.next_update;
    pthread_mutex_unlock(&c->lock);
}

/* DER of data, PEM ("X509 CRL") or DER already; *der is data itself or a new buffer (*owned). */
static int der_of(const unsigned char *data, size_t len, const unsigned char **der, size_t *der_len,
                  unsigned char **owned)
{
    mbedtls_pem_context pem;
    size_t used = 0;
    *owned = NULL;
    if (len == 0 || data[0] == 0x30) {
        *der = data;
        *der_len = len;
        return CL_OK;
    }
    /* mbedtls_pem_read_buffer reads a C string: a NUL-terminated copy, whatever data holds. */
    unsigned char *text = malloc(len + 1);
    if (text == NULL)
        return CL_ERR_NOMEM;
    memcpy(text, data, len);
    text[len] = '\0';
    mbedtls_pem_init(&pem);
    int ret = mbedtls_pem_read_buffer(&pem, "-----BEGIN X509 CRL-----", "-----END X509 CRL-----",
                                      text, NULL, 0, &used);
    free(text);
    if (ret == 0 && (*owned = malloc(pem.buflen)) != NULL) {
        memcpy(*owned, pem.buf, pem.buflen);
        *der = *owned;
        *der_len = pem.buflen;
    }
    mbedtls_pem_free(&pem);
    return *owned != NULL ? CL_OK : CL_ERR_PARSE;
}

/* Installs a CRL; if newer, serves it and (keep) stores it. */
static int install(struct ct_runtime *rt, const unsigned char *data, size_t len, int keep,
                   char *err, size_t errlen)
{
    const unsigned char *der;
    unsigned char *owned;
    size_t der_len;
    char *wire = NULL;
    int rc = der_of(data, len, &der, &der_len, &owned);

    if (rc != CL_OK) {
        snprintf(err, errlen, "not a CRL (neither DER nor PEM \"X509 CRL\")");
        return rc;
    }
    if ((rc = cl_crl_holder_install(rt->crl->holder, der, der_len, err, errlen)) == CL_OK &&
        (rc = cl_crl_to_wire(der, der_len, &wire)) != CL_OK)
        snprintf(err, errlen, "out of memory");
    free(owned);
    if (rc != CL_OK)
        return rc;
    serve(rt->crl, wire);
    if (keep) {
        struct ct_store *store = cl_pool_acquire(rt->pool);
        rc = ct_store_crl_keep(store, rt->crl->number, rt->crl->this_update, rt->crl->next_update,
                               wire, err, errlen);
        cl_pool_release(rt->pool, store);
    }
    return rc;
}

int ct_crl_accept(struct ct_runtime *rt, const unsigned char *data, size_t len, char *err,
                  size_t errlen)
{
    return install(rt, data, len, 1, err, errlen);
}

/* Installs the CRL kept in the database if it is newer than the one held. */
static int load_kept(struct ct_runtime *rt, char *err, size_t errlen)
{
    struct ct_store *store = cl_pool_acquire(rt->pool);
    unsigned char *der = NULL;
    size_t len = 0;
    char *wire = NULL;
    int rc = ct_store_crl_latest(store, &wire, err, errlen);

    cl_pool_release(rt->pool, store);
    if (rc == CL_ERR_NOT_FOUND)
        return CL_OK;
    if (rc == CL_OK && (rc = cl_crl_from_wire(wire, &der, &len)) != CL_OK)
        snprintf(err, errlen, "the CRL kept in the database is not base64");
    if (rc == CL_OK) {
        rc = install(rt, der, len, 0, err, errlen);
        if (rc == CL_ERR_EXISTS || rc == CL_ERR_STATE)
            rc = CL_OK;
    }
    free(wire);
    free(der);
    return rc;
}

int ct_crl_open(struct ct_runtime *rt, char *err, size_t errlen)
{
    struct ct_crl *c;
    int rc;

    if (rt->crl != NULL)
        return CL_OK;
    if ((c = calloc(1, sizeof(*c))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    if ((rc = cl_crl_config_holder(&rt->config->crl, &rt->config->tls, &c->holder, err, errlen)) !=
        CL_OK) {
        free(c);
        return rc;
    }
    pthread_mutex_init(&c->lock, NULL);
    rt->crl = c;
    char why[512];
    rc = load_kept(rt, why, sizeof(why));
    if (rc == CL_ERR_PERMISSION || rc == CL_ERR_PARSE) {
        /* Signed by a CA this terminal no longer trusts (its certificate was re-issued under a
         * rolled-over issuing CA) or damaged: not enforced; the next fetch brings a current one,
         * and until then crl_missing_policy applies. */
        cl_log_warn("the CRL kept in the database is not used: %s; waiting for the next one from "
                    "ca-server (crl_missing_policy applies meanwhile)",
                    why);
        return CL_OK;
    }
    if (rc != CL_OK)
        snprintf(err, errlen, "the CRL kept in the database: %s", why);
    return rc;
}

void ct_crl_close(struct ct_runtime *rt)
{
    if (rt->crl == NULL)
        return;
    cl_crl_holder_free(rt->crl->holder);
    pthread_mutex_destroy(&rt->crl->lock);
    free(rt->crl->wire);
    free(rt->crl);
    rt->crl = NULL;
}

/* Whether the call failed on an answer over the bound: gSOAP ends the call with SOAP_EOF when the
 * announced or read length is over (a closed connection, too, ends in SOAP_EOF). */
static int too_large(const struct soap *soap)
{
    return soap->error == SOAP_EOF && (soap->count > soap->recv_maxlength ||
                                       soap->length > soap->recv_maxlength - CRL_HEADER_ALLOWANCE);
}

int ct_crl_fetch(struct ct_runtime *rt, char *err, size_t errlen)
{
    struct ca__RevocationList request = {rt->crl->number};
    struct ca__RevocationListResponse response = {0};
    unsigned char *der = NULL;
    size_t len = 0;
    struct soap *soap;
    ULONG64 message_max;
    char failed[400];
    int rc, called, attempt = 0;

    rc = load_kept(rt, err, errlen);
    if (rc == CL_ERR_PERMISSION || rc == CL_ERR_PARSE)
        rc = CL_OK; /* set aside (ct_crl_open said why): ca-server's current one replaces it */
    if (rc != CL_OK)
        return rc;
    request.heldNumber = rt->crl->number;
    ct_ca_take(rt, CT_CA_WAIT, NULL, 0);
    soap = cl_client_soap(rt->ca);
    message_max = soap->recv_maxlength;
    /* A CRL answer has its own bound, unless the transport's message limit is larger (the
     * string itself is bounded by the schema, wsdl/ca.h). */
    if (soap->recv_maxlength < (ULONG64)rt->config->crl_max_bytes + CRL_HEADER_ALLOWANCE)
        soap->recv_maxlength = (ULONG64)rt->config->crl_max_bytes + CRL_HEADER_ALLOWANCE;
    while (
        (called = soap_call___ca__RevocationList(soap, cl_client_endpoint(rt->ca), NULL, &request,
                                                 &response)) != SOAP_OK &&
        !too_large(soap) &&
        ct_ca_failover(rt, cl_client_explain(rt->ca, failed, sizeof(failed)), &attempt, "the CRL"))
        cl_client_end_call(rt->ca);
    if (called != SOAP_OK) {
        char why[400];
        rc = cl_client_explain(rt->ca, why, sizeof(why));
        if (too_large(soap))
            snprintf(err, errlen,
                     "ca-server's CRL is larger than crl_max_bytes (%llu bytes): raise "
                     "crl_max_bytes (%s)",
                     (unsigned long long)(soap->recv_maxlength - CRL_HEADER_ALLOWANCE), why);
        else
            snprintf(err, errlen, "ca-server's CRL: %s", why);
    } else if (response.crl != NULL && response.number != request.heldNumber) {
        if ((rc = cl_crl_from_wire(response.crl, &der, &len)) != CL_OK)
            snprintf(err, errlen, "ca-server's CRL number %llu is not base64",
                     (unsigned long long)response.number);
    }
    cl_client_end_call(rt->ca);
    soap->recv_maxlength = message_max;
    ct_ca_give(rt, rc);
    if (rc == CL_OK && der != NULL) {
        char why[400];
        rc = install(rt, der, len, 1, why, sizeof(why));
        if (rc == CL_ERR_STATE) /* an instance of ca-server behind the one that answered last */
            cl_log_info("ca-server's CRL number %llu is older than the one held: kept the held one",
                        (unsigned long long)response.number);
        if (rc == CL_ERR_EXISTS || rc == CL_ERR_STATE)
            rc = CL_OK;
        else if (rc != CL_OK)
            snprintf(err, errlen, "ca-server's CRL refused: %s", why);
    }
    free(der);
    return rc;
}

/* ct:RevocationList: the newest CRL held, unless the factory terminal holds it already. */
int __ct__RevocationList(struct soap *soap, struct ct__RevocationList *request,
                         struct ct__RevocationListResponse *response)
{
    struct ct_runtime *rt = cl_soap_app(soap);
    struct ct_crl *c = rt->crl;
    int rc = SOAP_OK;

    memset(response, 0, sizeof(*response));
    pthread_mutex_lock(&c->lock);
    response->number = c->number;
    if (c->number != 0) {
        response->thisUpdate = soap_malloc(soap, sizeof(time_t));
        response->nextUpdate = soap_malloc(soap, sizeof(time_t));
        if (request->heldNumber != c->number)
            response->crl = soap_strdup(soap, c->wire);
        if (response->thisUpdate == NULL || response->nextUpdate == NULL ||
            (request->heldNumber != c->number && response->crl == NULL))
            rc = SOAP_EOM;
        else {
            *response->thisUpdate = c->this_update;
            *response->nextUpdate = c->next_update;
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (rc == SOAP_OK && response->crl != NULL)
        cl_log_info("line %s: CRL number %llu sent", cl_soap_peer(soap)->number,
                    (unsigned long long)response->number);
    return rc;
}

static void utc(time_t t, char out[21])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void ct_crl_print_status(struct ct_runtime *rt)
{
    struct cl_crl_status st;
    char this_text[21], next_text[21];

    cl_crl_holder_status(rt->crl->holder, &st);
    if (!st.installed) {
        printf("CRL: none held (crl_missing_policy %s: peers %s)\n",
               cl_crl_missing_policy_name(st.policy.missing),
               st.policy.missing == CL_CRL_MISSING_ALLOW ? "accepted" : "refused");
        return;
    }
    utc(st.this_update, this_text);
    utc(st.next_update, next_text);
    printf("CRL: number %llu, thisUpdate %s, nextUpdate %s, %zu entr%s, %s (crl_stale_policy "
           "%s, crl_missing_policy %s)\n",
           st.number, this_text, next_text, st.entries, st.entries == 1 ? "y" : "ies",
           !st.stale                              ? "current"
           : st.policy.stale == CL_CRL_STALE_WARN ? "STALE (enforced, warning)"
                                                  : "STALE (every peer refused)",
           cl_crl_stale_policy_name(st.policy.stale),
           cl_crl_missing_policy_name(st.policy.missing));
}

cJSON *ct_crl_status_json(struct ct_runtime *rt)
{
    struct cl_crl_status st;
    char when[21];
    cJSON *o = cJSON_CreateObject();

    cl_crl_holder_status(rt->crl->holder, &st);
    cJSON_AddBoolToObject(o, "held", st.installed);
    cJSON_AddNumberToObject(o, "number", (double)st.number);
    utc(st.this_update, when);
    cJSON_AddStringToObject(o, "this_update", st.installed ? when : "");
    utc(st.next_update, when);
    cJSON_AddStringToObject(o, "next_update", st.installed ? when : "");
    cJSON_AddNumberToObject(o, "entries", (double)st.entries);
    cJSON_AddBoolToObject(o, "stale", st.stale);
    cJSON_AddStringToObject(o, "stale_policy", cl_crl_stale_policy_name(st.policy.stale));
    cJSON_AddStringToObject(o, "missing_policy", cl_crl_missing_policy_name(st.policy.missing));
    return o;
}

int ct_command_crl_import(struct ct_runtime *rt, int argc, char **argv)
{
    const char *path = NULL;
    unsigned char *data = NULL;
    size_t len = 0;
    char err[512];
    int rc;

    for (int i = 1; i < argc && path == NULL; i++) {
        if (strcmp(argv[i], "--operator") == 0 || strcmp(argv[i], "--password-file") == 0)
            i++;
        else if (strncmp(argv[i], "--", 2) != 0)
            path = argv[i];
    }
    if (path == NULL) {
        fprintf(stderr, "usage: comm-terminal crl-import FILE (a CRL, DER or PEM)\n");
        return 2;
    }
    if ((rc = ct_crl_open(rt, err, sizeof(err))) == CL_OK &&
        (rc = cl_crl_read_file(path, &data, &len, err, sizeof(err))) == CL_OK)
        rc = ct_crl_accept(rt, data, len, err, sizeof(err));
    free(data);
    if (rc == CL_ERR_EXISTS) {
        printf("CRL number %llu is already held\n", rt->crl->number);
        return 0;
    }
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: CRL %s not imported: %s\n", path, err);
        return 1;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    char detail[64];
    snprintf(detail, sizeof(detail), "CRL number %llu", rt->crl->number);
    ct_store_audit(store, ct_operator, "crl-import", detail);
    cl_pool_release(rt->pool, store);
    printf("CRL number %llu imported and kept (the lines get it within crl_fetch_s)\n",
           rt->crl->number);
    return 0;
}
