/* bench_reconnect_peers.c: bench_reconnect's servers' handlers, which answer at once, and the
 * public-key operations counted per side by interposition on libmbedcrypto. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <dlfcn.h>
#include <string.h>

#include <mbedtls/ecp.h>

#include "soapH.h"
#include "bench_reconnect.h"

/* ---- public-key operations: counted per side by interposition on libmbedcrypto ---- */

pthread_t client_thread;
atomic_ulong ec_verify[2], ec_mul[2];
/* Inside an ECDSA verification: its own multiplications are not counted again. */
static _Thread_local int in_verify;

static int side_of_caller(void)
{
    return pthread_equal(pthread_self(), client_thread) ? 0 : 1;
}

static void *real_symbol(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "bench_reconnect: %s not found in libmbedcrypto: %s\n", name, dlerror());
        abort();
    }
    return p;
}

typedef int (*ecp_mul_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                          const mbedtls_ecp_point *, int (*)(void *, unsigned char *, size_t),
                          void *, mbedtls_ecp_restart_ctx *);
typedef int (*ecp_muladd_fn)(mbedtls_ecp_group *, mbedtls_ecp_point *, const mbedtls_mpi *,
                             const mbedtls_ecp_point *, const mbedtls_mpi *,
                             const mbedtls_ecp_point *, mbedtls_ecp_restart_ctx *);

int mbedtls_ecp_mul_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R, const mbedtls_mpi *m,
                                const mbedtls_ecp_point *P,
                                int (*f_rng)(void *, unsigned char *, size_t), void *p_rng,
                                mbedtls_ecp_restart_ctx *rs_ctx)
{
    static _Atomic(ecp_mul_fn) real;
    ecp_mul_fn f = atomic_load(&real);
    if (f == NULL) {
        void *p = real_symbol("mbedtls_ecp_mul_restartable");
        memcpy(&f, &p, sizeof(f));
        atomic_store(&real, f);
    }
    if (!in_verify)
        atomic_fetch_add(&ec_mul[side_of_caller()], 1);
    return f(grp, R, m, P, f_rng, p_rng, rs_ctx);
}

int mbedtls_ecp_muladd_restartable(mbedtls_ecp_group *grp, mbedtls_ecp_point *R,
                                   const mbedtls_mpi *m, const mbedtls_ecp_point *P,
                                   const mbedtls_mpi *n, const mbedtls_ecp_point *Q,
                                   mbedtls_ecp_restart_ctx *rs_ctx)
{
    static _Atomic(ecp_muladd_fn) real;
    ecp_muladd_fn f = atomic_load(&real);
    if (f == NULL) {
        void *p = real_symbol("mbedtls_ecp_muladd_restartable");
        memcpy(&f, &p, sizeof(f));
        atomic_store(&real, f);
    }
    int ret;
    atomic_fetch_add(&ec_verify[side_of_caller()], 1);
    in_verify++; /* it multiplies through mbedtls_ecp_mul_restartable itself */
    ret = f(grp, R, m, P, n, Q, rs_ctx);
    in_verify--;
    return ret;
}

/* ---- the handlers: answer at once ---- */

int __ca__CertificateTransmissionRequest(struct soap *soap,
                                         struct ca__CertificateTransmissionRequest *request,
                                         struct ca__CertificateTransmission *response)
{
    return tp_answer_batch(soap, request, response, 1, "{}");
}

int __ca__CheckIn(struct soap *soap, struct ca__CheckIn *request,
                  struct ca__CheckInResponse *response)
{
    (void)soap;
    response->deviceNumber = request->claimedDeviceNumber;
    response->state = ca__DeviceState__INSTALLED;
    return SOAP_OK;
}

int __ct__ReceptionNotice(struct soap *soap, struct ct__ReceptionNotice *request,
                          struct ct__ReceptionResponse *response)
{
    (void)soap;
    response->deviceNumber = request->deviceNumber;
    response->result = ct__Result__OK;
    return SOAP_OK;
}

int __dev__CertificateTransmission(struct soap *soap, struct dev__CertificateTransmission *request,
                                   struct dev__ReceptionResponse *response)
{
    (void)soap;
    response->deviceNumber = request->deviceNumber;
    response->result = dev__Result__OK;
    return SOAP_OK;
}

int __line__WriteResult(struct soap *soap, struct line__WriteResult *request,
                        struct line__ReceptionResponse *response)
{
    (void)soap;
    response->deviceNumber = request->deviceNumber;
    response->result = line__Result__OK;
    return SOAP_OK;
}
