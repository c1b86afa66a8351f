/* test_verified_chains_certs.c: certificates test_verified_chains makes with mbedTLS for the
 * cases the test PKI script has none of (no serverAuth, no digitalSignature, secp384r1, a SAN
 * that differs from the CN, expiring in seconds). */
#define _XOPEN_SOURCE 700
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "test_verified_chains.h"

static mbedtls_entropy_context entropy;
mbedtls_ctr_drbg_context vc_drbg;

int vc_rng_start(void)
{
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&vc_drbg);
    return mbedtls_ctr_drbg_seed(&vc_drbg, mbedtls_entropy_func, &entropy, NULL, 0) == 0 ? 0 : -1;
}

void vc_rng_free(void)
{
    mbedtls_ctr_drbg_free(&vc_drbg);
    mbedtls_entropy_free(&entropy);
}

static void utc_text(time_t t, char out[16])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

void vc_write_text(const char *name, const char *text, const char *append_from)
{
    char path[PATH_MAX], extra[8192];
    FILE *f;

    vc_path(path, name);
    assert_non_null(f = fopen(path, "w"));
    assert_true(fputs(text, f) >= 0);
    if (append_from != NULL) {
        char from[PATH_MAX];
        FILE *g;
        size_t n;
        vc_path(from, append_from);
        assert_non_null(g = fopen(from, "r"));
        while ((n = fread(extra, 1, sizeof(extra), g)) > 0)
            assert_int_equal(fwrite(extra, 1, n, f), n);
        fclose(g);
    }
    assert_int_equal(fclose(f), 0);
}

/* A new key and certificate as spec says, signed by its issuer (or itself), written to the PKI
 * directory under spec->name. */
void vc_make_cert(const struct cert_spec *spec)
{
    mbedtls_pk_context key, issuer_key;
    mbedtls_x509_crt issuer;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    unsigned char pem[8192];
    char path[PATH_MAX], name[128], issuer_dn[256], from[16], to[16];
    time_t now = time(NULL);
    int self_signed = spec->issuer == NULL;

    mbedtls_pk_init(&key);
    mbedtls_pk_init(&issuer_key);
    mbedtls_x509_crt_init(&issuer);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);

    assert_int_equal(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    assert_int_equal(
        mbedtls_ecp_gen_key(spec->curve, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &vc_drbg), 0);
    assert_int_equal(mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)), 0);
    snprintf(name, sizeof(name), "%s.key", spec->name);
    vc_write_text(name, (const char *)pem, NULL);
    vc_path(path, name);
    assert_int_equal(chmod(path, 0600), 0); /* cl_tls_new refuses a key others can read */

    if (self_signed) {
        snprintf(issuer_dn, sizeof(issuer_dn), "%s", spec->subject);
    } else {
        snprintf(name, sizeof(name), "%s.crt", spec->issuer);
        vc_path(path, name);
        assert_int_equal(mbedtls_x509_crt_parse_file(&issuer, path), 0);
        assert_true(mbedtls_x509_dn_gets(issuer_dn, sizeof(issuer_dn), &issuer.subject) > 0);
        snprintf(name, sizeof(name), "%s.key", spec->issuer);
        vc_path(path, name);
        assert_int_equal(mbedtls_pk_parse_keyfile(&issuer_key, path, NULL), 0);
    }

    mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&crt, &key);
    mbedtls_x509write_crt_set_issuer_key(&crt, self_signed ? &key : &issuer_key);
    assert_int_equal(mbedtls_mpi_fill_random(&serial, 16, mbedtls_ctr_drbg_random, &vc_drbg), 0);
    assert_int_equal(mbedtls_x509write_crt_set_serial(&crt, &serial), 0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(&crt, spec->subject), 0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(&crt, issuer_dn), 0);
    utc_text(now - 3600, from);
    utc_text(spec->not_after != 0 ? spec->not_after : now + 730 * 86400, to);
    assert_int_equal(mbedtls_x509write_crt_set_validity(&crt, from, to), 0);
    assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(&crt, self_signed, 1), 0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_key_identifier(&crt), 0);
    assert_int_equal(mbedtls_x509write_crt_set_authority_key_identifier(&crt), 0);
    assert_int_equal(mbedtls_x509write_crt_set_key_usage(&crt, spec->key_usage), 0);
    if (!self_signed) {
        /* extKeyUsage: SEQUENCE OF OBJECT IDENTIFIER */
        unsigned char eku[32];
        size_t len = 2;
        if (spec->eku & EKU_SERVER) {
            eku[len++] = MBEDTLS_ASN1_OID;
            eku[len++] = (unsigned char)MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
            memcpy(eku + len, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
            len += MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
        }
        if (spec->eku & EKU_CLIENT) {
            eku[len++] = MBEDTLS_ASN1_OID;
            eku[len++] = (unsigned char)MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
            memcpy(eku + len, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
            len += MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
        }
        eku[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
        eku[1] = (unsigned char)(len - 2);
        assert_int_equal(mbedtls_x509write_crt_set_extension(
                             &crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                             MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, eku, len),
                         0);
    }
    if (spec->san != NULL) {
        /* subjectAltName: SEQUENCE { [2] dNSName } */
        unsigned char san[128];
        size_t n = strlen(spec->san);
        assert_true(n + 4 <= sizeof(san) && n < 120);
        san[0] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
        san[1] = (unsigned char)(n + 2);
        san[2] = MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME;
        san[3] = (unsigned char)n;
        memcpy(san + 4, spec->san, n);
        assert_int_equal(mbedtls_x509write_crt_set_extension(
                             &crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                             MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, n + 4),
                         0);
    }
    assert_int_equal(
        mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), mbedtls_ctr_drbg_random, &vc_drbg), 0);
    snprintf(name, sizeof(name), "%s.crt", spec->name);
    vc_write_text(name, (const char *)pem, NULL);
    snprintf(name, sizeof(name), "%s.chain.crt", spec->name);
    if (self_signed) {
        vc_write_text(name, (const char *)pem, NULL);
    } else {
        snprintf(path, sizeof(path), "%s.crt", spec->issuer);
        vc_write_text(name, (const char *)pem, path);
    }

    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_x509_crt_free(&issuer);
    mbedtls_pk_free(&issuer_key);
    mbedtls_pk_free(&key);
}

/* A ca-server leaf under the issuing CA: the name, role and extensions of the real one unless
 * the arguments say otherwise. */
void vc_make_server_leaf(const char *name, const char *cn, const char *san,
                         mbedtls_ecp_group_id curve, unsigned key_usage, int eku, time_t not_after)
{
    char subject[160];
    snprintf(subject, sizeof(subject), "O=certline test,OU=ca-server,CN=%s", cn);
    struct cert_spec spec = {.name = name,
                             .subject = subject,
                             .issuer = "issuing",
                             .curve = curve,
                             .key_usage = key_usage,
                             .eku = eku,
                             .san = san,
                             .not_after = not_after};
    vc_make_cert(&spec);
}
