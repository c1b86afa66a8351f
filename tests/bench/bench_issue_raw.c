/* bench_issue_raw.c: the raw mbedTLS baseline of the issuance benchmark (issue 7, item 1).
 *
 * Issues N P-256 device certificates on T threads doing only what issuance cannot avoid: a new
 * key pair, a certificate (the device profile: subject with CN, serialNumber, OU, title, O;
 * basicConstraints, keyUsage, extendedKeyUsage clientAuth, SKI, AKI; a random 128-bit serial),
 * one CA signature, and the key written as DER. No database, no pack, no PEM, no SOAP.
 *
 * Written on purpose without common/x509_issue.c, with the "best settings" measured in
 * ../shared/NOTES-gsoap-mbedtls.md:
 *   - each thread keeps one P-256 group whose fixed-point table for G is computed once (a fresh
 *     group per key would rebuild it on every key generation);
 *   - each thread holds the CA key in an MBEDTLS_PK_ECDSA-typed context, so the signature runs
 *     on it directly and reuses its table (an ECKEY-typed context is copied into a temporary
 *     ECDSA context, table rebuilt, on every signature in mbedTLS 2.28);
 *   - each thread has its own CTR_DRBG (no lock on the random generator).
 * The tables are warmed up before the clock starts (a server does the same once at start).
 *
 * Usage: bench_issue_raw N THREADS [CA_CERT CA_KEY [SAMPLE_OUT]]
 *   Without CA files an ephemeral P-256 CA key is generated in memory. CA_KEY must be an
 *   unencrypted P-256 key (PEM or DER). SAMPLE_OUT receives the last certificate (PEM) so that
 *   the caller can check it with `openssl verify`.
 * Prints one line: "bench_issue_raw devices=N threads=T seconds=S devices_per_s=R". */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha1.h>
#include <mbedtls/x509_crt.h>

#include "bench_common.h"

#define MAX_THREADS 64
#define CERT_BUF 2048
#define KEY_BUF 512

/* extendedKeyUsage: SEQUENCE { id-kp-clientAuth } */
static const unsigned char eku_client_auth[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                                0x01, 0x05, 0x05, 0x07, 0x03, 0x02};

struct worker {
    pthread_t thread;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ecp_group group;   /* cached P-256 group, table for G computed in warm-up */
    mbedtls_pk_context ca_key; /* MBEDTLS_PK_ECDSA */
    unsigned char last_cert[CERT_BUF];
    size_t last_cert_len;
    size_t issued;
    int rc;
};

/* basicConstraints (critical): SEQUENCE {} (cA false) */
static const unsigned char basic_constraints_leaf[] = {0x30, 0x00};

/* authorityKeyIdentifier: SEQUENCE { [0] SHA-1 of the CA's public key }, computed once from the
 * ECKEY-typed CA key (mbedTLS 2.28 cannot write the public key of an ECDSA-typed context, so its
 * own set_authority_key_identifier fails on one). */
static unsigned char aki_ext[24] = {0x30, 0x16, 0x80, 0x14};

static mbedtls_entropy_context entropy;
static char issuer_name[512] = "CN=bench issuing CA,O=certline bench";
static size_t total_devices;
static atomic_size_t next_device;
static atomic_int failed;
static const char *not_before = "20250101000000";
static const char *not_after = "20341231235959";

static void report_mbedtls(const char *what, int rc)
{
    char text[200];
    mbedtls_strerror(rc, text, sizeof(text));
    fprintf(stderr, "bench_issue_raw: %s: %s (-0x%04x)\n", what, text, (unsigned)-rc);
}

/* One device: key pair on the cached group, certificate signed with the ECDSA-typed CA key,
 * key DER. Returns 0 or an mbedTLS error. */
static int issue_one(struct worker *w, size_t index)
{
    mbedtls_pk_context device_key;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char serial_bytes[16], key_der[KEY_BUF];
    char subject[200];
    int rc;

    mbedtls_pk_init(&device_key);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);

    if ((rc = mbedtls_pk_setup(&device_key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0)
        goto out;
    mbedtls_ecp_keypair *kp = mbedtls_pk_ec(device_key);
    if (kp == NULL) {
        rc = MBEDTLS_ERR_PK_BAD_INPUT_DATA;
        goto out;
    }
    /* The curve constants alone (no table) for encoding; d and Q from the cached group. */
    if ((rc = mbedtls_ecp_group_load(&kp->grp, MBEDTLS_ECP_DP_SECP256R1)) != 0 ||
        (rc = mbedtls_ecp_gen_keypair(&w->group, &kp->d, &kp->Q, mbedtls_ctr_drbg_random,
                                      &w->drbg)) != 0)
        goto out;

    /* A positive 128-bit serial, never starting with 00 or with the top bit set. */
    if ((rc = mbedtls_ctr_drbg_random(&w->drbg, serial_bytes, sizeof(serial_bytes))) != 0)
        goto out;
    serial_bytes[0] = (unsigned char)((serial_bytes[0] & 0x7f) | 0x01);
    if ((rc = mbedtls_mpi_read_binary(&serial, serial_bytes, sizeof(serial_bytes))) != 0)
        goto out;

    snprintf(subject, sizeof(subject),
             "CN=3012-%09zu,serialNumber=3012-%09zu,OU=device,title=3012,O=certline bench",
             index + 1, index + 1);
    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &device_key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &w->ca_key);
    if ((rc = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
        (rc = mbedtls_x509write_crt_set_issuer_name(&crt, issuer_name)) != 0 ||
        (rc = mbedtls_x509write_crt_set_serial(&crt, &serial)) != 0 ||
        (rc = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after)) != 0 ||
        (rc = mbedtls_x509write_crt_set_extension(
             &crt, MBEDTLS_OID_BASIC_CONSTRAINTS, MBEDTLS_OID_SIZE(MBEDTLS_OID_BASIC_CONSTRAINTS),
             1, basic_constraints_leaf, sizeof(basic_constraints_leaf))) != 0 ||
        (rc = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0 ||
        (rc = mbedtls_x509write_crt_set_extension(
             &crt, MBEDTLS_OID_EXTENDED_KEY_USAGE, MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
             0, eku_client_auth, sizeof(eku_client_auth))) != 0 ||
        (rc = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0 ||
        (rc = mbedtls_x509write_crt_set_extension(
             &crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
             MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, aki_ext,
             sizeof(aki_ext))) != 0)
        goto out;

    /* The DER is written at the end of the buffer; the signature happens in here. */
    rc = mbedtls_x509write_crt_der(&crt, w->last_cert, sizeof(w->last_cert),
                                   mbedtls_ctr_drbg_random, &w->drbg);
    if (rc < 0)
        goto out;
    w->last_cert_len = (size_t)rc;
    memmove(w->last_cert, w->last_cert + sizeof(w->last_cert) - w->last_cert_len, w->last_cert_len);
    rc = mbedtls_pk_write_key_der(&device_key, key_der, sizeof(key_der));
    rc = rc < 0 ? rc : 0;
    mbedtls_platform_zeroize(key_der, sizeof(key_der));
out:
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&device_key);
    return rc;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&next_device, 1);
        if (i >= total_devices || atomic_load(&failed))
            break;
        if ((w->rc = issue_one(w, i)) != 0) {
            atomic_store(&failed, 1);
            break;
        }
        w->issued++;
    }
    return NULL;
}

/* Per thread: its own DRBG, group and ECDSA-typed copy of the CA key, warmed up. */
static int worker_setup(struct worker *w, const mbedtls_pk_context *ca_parsed, unsigned id)
{
    unsigned char personal[32];
    int rc;

    mbedtls_ctr_drbg_init(&w->drbg);
    mbedtls_ecp_group_init(&w->group);
    mbedtls_pk_init(&w->ca_key);
    snprintf((char *)personal, sizeof(personal), "bench_issue_raw %u", id);
    if ((rc = mbedtls_ctr_drbg_seed(&w->drbg, mbedtls_entropy_func, &entropy, personal,
                                    strlen((char *)personal))) != 0 ||
        (rc = mbedtls_ecp_group_load(&w->group, MBEDTLS_ECP_DP_SECP256R1)) != 0 ||
        (rc = mbedtls_pk_setup(&w->ca_key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA))) != 0 ||
        (rc = mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(w->ca_key), mbedtls_pk_ec(*ca_parsed))) !=
            0) {
        report_mbedtls("thread setup", rc);
        return rc;
    }
    /* Warm-up: one issuance computes both fixed-point tables (key generation, CA signature). */
    if ((rc = issue_one(w, 0)) != 0)
        report_mbedtls("warm-up issuance", rc);
    return rc;
}

static void worker_free(struct worker *w)
{
    mbedtls_pk_free(&w->ca_key);
    mbedtls_ecp_group_free(&w->group);
    mbedtls_ctr_drbg_free(&w->drbg);
}

/* The key identifier of the CA key (ECKEY-typed): SHA-1 of its public point. */
static int make_aki(mbedtls_pk_context *key)
{
    unsigned char buf[200], *p = buf + sizeof(buf);
    int len = mbedtls_pk_write_pubkey(&p, buf, key);
    if (len < 0)
        return len;
    return mbedtls_sha1_ret(p, (size_t)len, aki_ext + 4);
}

/* The CA key: from a file, or a fresh P-256 key. The issuer name: from the certificate. */
static int load_ca(const char *cert_file, const char *key_file, mbedtls_pk_context *key,
                   mbedtls_ctr_drbg_context *drbg)
{
    mbedtls_x509_crt cert;
    int rc;

    if (cert_file == NULL) {
        if ((rc = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0 ||
            (rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
                                      mbedtls_ctr_drbg_random, drbg)) != 0 ||
            (rc = make_aki(key)) != 0)
            report_mbedtls("generating the CA key", rc);
        return rc;
    }
    mbedtls_x509_crt_init(&cert);
    if ((rc = mbedtls_x509_crt_parse_file(&cert, cert_file)) != 0) {
        report_mbedtls(cert_file, rc);
        goto out;
    }
    if ((rc = mbedtls_pk_parse_keyfile(key, key_file, NULL)) != 0) {
        report_mbedtls(key_file, rc);
        goto out;
    }
    const mbedtls_ecp_keypair *kp =
        mbedtls_pk_get_type(key) == MBEDTLS_PK_ECKEY ? mbedtls_pk_ec(*key) : NULL;
    if (kp == NULL || kp->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        fprintf(stderr, "bench_issue_raw: %s is not a P-256 key\n", key_file);
        rc = MBEDTLS_ERR_PK_TYPE_MISMATCH;
        goto out;
    }
    if ((rc = mbedtls_pk_check_pair(&cert.pk, key)) != 0) {
        report_mbedtls("the CA certificate and key do not match", rc);
        goto out;
    }
    if ((rc = make_aki(key)) != 0) {
        report_mbedtls("the CA key identifier", rc);
        goto out;
    }
    rc = mbedtls_x509_dn_gets(issuer_name, sizeof(issuer_name), &cert.subject);
    if (rc < 0)
        report_mbedtls("the CA subject", rc);
    else
        rc = 0;
out:
    mbedtls_x509_crt_free(&cert);
    return rc;
}

static int write_sample(const char *path, const struct worker *w)
{
    unsigned char pem[4096];
    size_t olen = 0;
    FILE *f;
    int rc;

    rc = mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n", "-----END CERTIFICATE-----\n",
                                  w->last_cert, w->last_cert_len, pem, sizeof(pem), &olen);
    if (rc != 0) {
        report_mbedtls("PEM", rc);
        return rc;
    }
    f = fopen(path, "w");
    if (f == NULL || fputs((const char *)pem, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "bench_issue_raw: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct worker workers[MAX_THREADS];
    mbedtls_ctr_drbg_context main_drbg;
    mbedtls_pk_context ca_parsed;
    double t0, t1;
    long long n, threads;
    size_t started = 0, issued = 0;
    int rc, status = 1;

    bench_start("bench_issue_raw");
    if ((argc != 3 && argc != 5 && argc != 6) || !bench_count(argv[1], 100000000, &n) ||
        !bench_count(argv[2], MAX_THREADS, &threads)) {
        fprintf(stderr, "usage: bench_issue_raw N THREADS(1..%d) [CA_CERT CA_KEY [SAMPLE_OUT]]\n",
                MAX_THREADS);
        return 2;
    }
    total_devices = (size_t)n;
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&main_drbg);
    mbedtls_pk_init(&ca_parsed);
    if ((rc = mbedtls_ctr_drbg_seed(&main_drbg, mbedtls_entropy_func, &entropy,
                                    (const unsigned char *)"bench_issue_raw", 15)) != 0) {
        report_mbedtls("seeding", rc);
        goto out;
    }
    if (load_ca(argc >= 5 ? argv[3] : NULL, argc >= 5 ? argv[4] : NULL, &ca_parsed, &main_drbg) !=
        0)
        goto out;
    for (; started < (size_t)threads; started++)
        if (worker_setup(&workers[started], &ca_parsed, (unsigned)started) != 0) {
            started++;
            goto out;
        }

    t0 = bench_now_s();
    size_t running = 0;
    for (; running < (size_t)threads; running++)
        if (pthread_create(&workers[running].thread, NULL, work, &workers[running]) != 0) {
            fprintf(stderr, "bench_issue_raw: cannot start thread %zu\n", running);
            atomic_store(&failed, 1);
            break;
        }
    for (size_t t = 0; t < running; t++) {
        pthread_join(workers[t].thread, NULL);
        issued += workers[t].issued;
        if (workers[t].rc != 0)
            report_mbedtls("issuance", workers[t].rc);
    }
    t1 = bench_now_s();
    if (atomic_load(&failed) || issued != total_devices)
        goto out;

    double seconds = t1 - t0;
    printf("bench_issue_raw devices=%zu threads=%lld seconds=%.3f devices_per_s=%.1f\n", issued,
           threads, seconds, (double)issued / seconds);
    status = 0;
    if (argc == 6) {
        for (size_t t = 0; t < started; t++)
            if (workers[t].issued > 0) {
                status = write_sample(argv[5], &workers[t]) == 0 ? 0 : 1;
                break;
            }
    }
out:
    for (size_t t = 0; t < started; t++)
        worker_free(&workers[t]);
    mbedtls_pk_free(&ca_parsed);
    mbedtls_ctr_drbg_free(&main_drbg);
    mbedtls_entropy_free(&entropy);
    return status;
}
