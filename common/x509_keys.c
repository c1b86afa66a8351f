/* x509_keys.c: the process-wide random generator, the shared P-256 group, key types and key
 * generation for issuing. */
#include <pthread.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "error.h"
#include "log.h"
#include "x509_issue.h"
#include "x509_issue_internal.h"

/* ---- random numbers ---- */

#define RNG_CHUNK MBEDTLS_CTR_DRBG_MAX_REQUEST

static pthread_once_t rng_once = PTHREAD_ONCE_INIT;
/* Serialises the generator and keeps it out of fork(): no thread is inside it when the child
 * is created, so the child can reseed it safely. */
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;
static int rng_ready;  /* written once inside pthread_once */
static int rng_forked; /* under rng_lock: reseed before the next output */

static void rng_before_fork(void)
{
    pthread_mutex_lock(&rng_lock);
}

static void rng_after_fork_parent(void)
{
    pthread_mutex_unlock(&rng_lock);
}

static void rng_after_fork_child(void)
{
    rng_forked = 1; /* parent and child must never emit the same stream */
    pthread_mutex_unlock(&rng_lock);
}

static void rng_init(void)
{
    static const unsigned char personalisation[] = "certline crypto rng v1";

    mbedtls_entropy_init(&rng_entropy);
    mbedtls_ctr_drbg_init(&rng_drbg);
    if (mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy, personalisation,
                              sizeof(personalisation) - 1) != 0) {
        cl_log_error("cannot seed the random generator from the entropy source");
        return;
    }
    if (pthread_atfork(rng_before_fork, rng_after_fork_parent, rng_after_fork_child) != 0) {
        cl_log_error("cannot register the random generator's fork handlers");
        return;
    }
    rng_ready = 1;
}

int cl_rng(void *p_rng, unsigned char *out, size_t len)
{
    int ret = 0;

    (void)p_rng;
    if (pthread_once(&rng_once, rng_init) != 0 || !rng_ready)
        return MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
    if (out == NULL && len > 0)
        return MBEDTLS_ERR_CTR_DRBG_INPUT_TOO_BIG;
    pthread_mutex_lock(&rng_lock);
    if (rng_forked) {
        ret = mbedtls_ctr_drbg_reseed(&rng_drbg, NULL, 0);
        if (ret == 0)
            rng_forked = 0;
    }
    while (ret == 0 && len > 0) {
        size_t n = len < RNG_CHUNK ? len : RNG_CHUNK;
        ret = mbedtls_ctr_drbg_random(&rng_drbg, out, n);
        out += n;
        len -= n;
    }
    pthread_mutex_unlock(&rng_lock);
    return ret;
}

int cl_random_bytes(unsigned char *out, size_t len)
{
    return cl_rng(NULL, out, len) == 0 ? CL_OK : CL_ERR_CRYPTO;
}

/* ---- the shared P-256 group ---- */

static pthread_once_t p256_once = PTHREAD_ONCE_INIT;
static mbedtls_ecp_group p256; /* process lifetime; read-only after p256_init */
static int p256_ready;

static void p256_init(void)
{
    mbedtls_mpi d;
    mbedtls_ecp_point q;

    mbedtls_ecp_group_init(&p256);
    mbedtls_mpi_init(&d);
    mbedtls_ecp_point_init(&q);
    /* The first multiplication by G computes the fixed-point table and keeps it in the group;
     * later ones only read it, so the group can be shared by threads from here on. */
    if (mbedtls_ecp_group_load(&p256, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
        mbedtls_ecp_gen_privkey(&p256, &d, cl_rng, NULL) == 0 &&
        mbedtls_ecp_mul(&p256, &q, &d, &p256.G, cl_rng, NULL) == 0)
        p256_ready = 1;
    else
        cl_log_error("cannot prepare the P-256 group");
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&q);
}

int cl_x509i_p256_get(void)
{
    if (pthread_once(&p256_once, p256_init) != 0 || !p256_ready)
        return CL_ERR_CRYPTO;
    return CL_OK;
}

/* ---- key types ---- */

const char *cl_key_type_name(enum cl_key_type type)
{
    switch (type) {
    case CL_KEY_P256:
        return "p256";
    case CL_KEY_RSA2048:
        return "rsa2048";
    case CL_KEY_RSA3072:
        return "rsa3072";
    }
    return "unknown";
}

int cl_key_type_parse(const char *name, enum cl_key_type *out)
{
    static const enum cl_key_type types[] = {CL_KEY_P256, CL_KEY_RSA2048, CL_KEY_RSA3072};

    if (name == NULL || out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(name, cl_key_type_name(types[i])) == 0) {
            *out = types[i];
            return CL_OK;
        }
    return CL_ERR_INVALID_ARGUMENT;
}

/* Generates a new key of type into key (initialised, empty). */
int cl_x509i_generate_key(enum cl_key_type type, mbedtls_pk_context *key)
{
    unsigned bits;

    switch (type) {
    case CL_KEY_P256: {
        mbedtls_ecp_keypair *kp;
        int rc = cl_x509i_p256_get();
        if (rc != CL_OK)
            return rc;
        if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
            return CL_ERR_NOMEM;
        if ((kp = mbedtls_pk_ec(*key)) == NULL)
            return CL_ERR_INTERNAL;
        /* Loading the curve constants is cheap (no table); d and Q come from the shared group. */
        if (mbedtls_ecp_group_load(&kp->grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
            mbedtls_ecp_gen_privkey(&p256, &kp->d, cl_rng, NULL) != 0 ||
            mbedtls_ecp_mul(&p256, &kp->Q, &kp->d, &p256.G, cl_rng, NULL) != 0)
            return CL_ERR_CRYPTO;
        return CL_OK;
    }
    case CL_KEY_RSA2048:
        bits = 2048;
        break;
    case CL_KEY_RSA3072:
        bits = 3072;
        break;
    default:
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)) != 0)
        return CL_ERR_NOMEM;
    if (mbedtls_rsa_gen_key(mbedtls_pk_rsa(*key), cl_rng, NULL, bits, RSA_EXPONENT) != 0)
        return CL_ERR_CRYPTO;
    return CL_OK;
}
