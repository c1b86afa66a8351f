/* test_cert_check.c: the pack's certificate checked knowing the chain S7 verified
 * (cc_verify_known): with the same issuing CA only the leaf's signature is checked, and a bad
 * leaf is still refused; a pack whose issuing CA differs from S7's is verified in full against
 * the root, accepted if good and refused if not. Test PKI made at test time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pem.h>
#include <mbedtls/x509_crt.h>

#include "cert_check.h"
#include "error.h"
#include "test_pki.h"

static struct tp_dir dir;

/* The PEM text of the test PKI's file name (malloc'd, NUL-terminated). */
static char *pem(const char *name)
{
    char path[PATH_MAX];
    FILE *f;
    char *text;
    long n;

    tp_path(path, dir.pki, name);
    if ((f = fopen(path, "r")) == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

/* The chain S7 verified: factory terminal 1001's leaf and the issuing CA. */
static void known_chain(mbedtls_x509_crt *known, const char *name)
{
    char *text = pem(name);
    mbedtls_x509_crt_init(known);
    assert_int_equal(mbedtls_x509_crt_parse(known, (const unsigned char *)text, strlen(text) + 1),
                     0);
    free(text);
}

/* cc_verify_known of leaf_pem (text, freed here) with the chain file against root.crt. */
static int check_text(char *leaf_pem, const char *chain, const mbedtls_x509_crt *known,
                      char *reason, size_t len)
{
    char *chain_pem = pem(chain), *root_pem = pem("root.crt");
    struct cl_peer peer;
    int rc = cc_verify_known(leaf_pem, chain_pem, root_pem, known, CC_CLIENT, &peer, reason, len);

    free(leaf_pem);
    free(chain_pem);
    free(root_pem);
    return rc;
}

static int check(const char *leaf, const char *chain, const mbedtls_x509_crt *known, char *reason,
                 size_t len)
{
    return check_text(pem(leaf), chain, known, reason, len);
}

/* The certificate of file name with the last byte of its signature changed, as PEM. */
static char *forged(const char *name)
{
    mbedtls_x509_crt crt;
    unsigned char der[4096], out[8192];
    size_t len, olen = 0;

    known_chain(&crt, name);
    len = crt.raw.len;
    assert_true(len <= sizeof(der));
    memcpy(der, crt.raw.p, len);
    mbedtls_x509_crt_free(&crt);
    der[len - 1] ^= 0x01;
    assert_int_equal(mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n",
                                              "-----END CERTIFICATE-----\n", der, len, out,
                                              sizeof(out), &olen),
                     0);
    return strdup((const char *)out);
}

/* Same issuing CA as S7: accepted (the leaf's signature checked with it as the anchor). */
static void test_same_issuer_accepted(void **state)
{
    mbedtls_x509_crt known;
    char reason[400];
    (void)state;

    known_chain(&known, "factory-terminal-1001.chain.crt");
    assert_int_equal(check("device-3012-000001.crt", "issuing.crt", &known, reason, sizeof(reason)),
                     CL_OK);
    assert_int_equal(check("device-3012-000001.crt", "issuing.crt", NULL, reason, sizeof(reason)),
                     CL_OK);
    mbedtls_x509_crt_free(&known);
}

/* Same issuing CA as S7 but a leaf it did not sign: refused. */
static void test_same_issuer_bad_leaf_refused(void **state)
{
    mbedtls_x509_crt known;
    char reason[400];
    (void)state;

    known_chain(&known, "factory-terminal-1001.chain.crt");
    assert_int_equal(
        check("other-comm-terminal.crt", "issuing.crt", &known, reason, sizeof(reason)),
        CL_ERR_CRYPTO);
    assert_non_null(strstr(reason, "does not chain to this device's root"));
    mbedtls_x509_crt_free(&known);
}

/* Same issuing CA as S7, the leaf's signature forged: refused. */
static void test_same_issuer_forged_signature_refused(void **state)
{
    mbedtls_x509_crt known;
    char reason[400];
    (void)state;

    known_chain(&known, "factory-terminal-1001.chain.crt");
    assert_int_equal(
        check_text(forged("device-3012-000001.crt"), "issuing.crt", &known, reason, sizeof(reason)),
        CL_ERR_CRYPTO);
    assert_non_null(strstr(reason, "does not chain to this device's root"));
    mbedtls_x509_crt_free(&known);
}

/* The pack's issuing CA differs from S7's: verified in full against the root, so a chain to
 * another root is refused, and a good chain to this root accepted. */
static void test_other_issuer_verified_in_full(void **state)
{
    mbedtls_x509_crt known;
    char reason[400];
    (void)state;

    known_chain(&known, "factory-terminal-1001.chain.crt");
    assert_int_equal(
        check("other-comm-terminal.crt", "other-root.crt", &known, reason, sizeof(reason)),
        CL_ERR_CRYPTO);
    assert_non_null(strstr(reason, "does not chain to this device's root"));
    mbedtls_x509_crt_free(&known);
    /* S7's chain had another issuer (here: the other root's); the pack's good chain passes. */
    known_chain(&known, "other-comm-terminal.crt");
    assert_int_equal(check("device-3012-000001.crt", "issuing.crt", &known, reason, sizeof(reason)),
                     CL_OK);
    mbedtls_x509_crt_free(&known);
}

/* The pack also carries the root after the issuing CA (as ca-server's chain.crt): the issuing CA
 * is S7's, the leaf is checked with it; the pack's root is no trust anchor: a leaf of another
 * root with that chain is refused. */
static void test_chain_with_root(void **state)
{
    mbedtls_x509_crt known;
    char reason[400];
    (void)state;

    known_chain(&known, "factory-terminal-1001.chain.crt");
    assert_int_equal(
        check("device-3012-000001.crt", "ca-bundle.crt", &known, reason, sizeof(reason)), CL_OK);
    assert_int_equal(
        check("other-comm-terminal.crt", "ca-bundle.crt", &known, reason, sizeof(reason)),
        CL_ERR_CRYPTO);
    mbedtls_x509_crt_free(&known);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_issuer_accepted),
        cmocka_unit_test(test_same_issuer_bad_leaf_refused),
        cmocka_unit_test(test_same_issuer_forged_signature_refused),
        cmocka_unit_test(test_other_issuer_verified_in_full),
        cmocka_unit_test(test_chain_with_root),
    };
    int failed;

    if (tp_dir_make(&dir, "certline-cert-check", NULL, NULL) != 0)
        return 1;
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    tp_dir_remove(&dir);
    return failed;
}
