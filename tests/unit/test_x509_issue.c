/* test_x509_issue.c: the issued certificates are parsed back and every profile item is checked
 * (subject, EKU, basicConstraints, keyUsage and their criticality, SKI/AKI, serial, validity, key
 * pair, chain to the issuing CA and the root), with mbedTLS and with the openssl CLI; bad inputs
 * and wrong CA material are refused; serials are unique; two threads issue at once through one
 * signer (run under ASan), and the issuance rate is measured and printed. The signature
 * AlgorithmIdentifiers are DER-exact (ECDSA without parameters, RSA with NULL), Python's
 * cryptography loads the certificates without a warning, and the certificate writer is checked
 * against mbedtls_x509write_crt_der. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "atomic_file.h"
#include "error.h"
#include "log.h"
#include "x509_der.h"
#include "x509_issue.h"

#define ORG "certline test"
#define MODEL "3012"

static struct cl_issued root, issuing;
static struct cl_signer *signer;
static mbedtls_x509_crt root_crt, issuing_crt;
static time_t now;
static char tmpdir[64];

/* ---- helpers ---- */

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void parse_der(mbedtls_x509_crt *crt, const unsigned char *der, size_t len)
{
    mbedtls_x509_crt_init(crt);
    assert_int_equal(mbedtls_x509_crt_parse_der(crt, der, len), 0);
}

/* Finds extension oid in crt: its criticality and extnValue content. Independent of the
 * library's own walker. Returns 0 if found. */
static int ext_find(const mbedtls_x509_crt *crt, const char *oid, int *critical,
                    unsigned char **val, size_t *val_len)
{
    size_t oid_len = strlen(oid), len;
    unsigned char *p = crt->v3_ext.p, *end = p + crt->v3_ext.len;

    assert_int_equal(
        mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE), 0);
    while (p < end) {
        unsigned char *ext_end, *id;
        size_t id_len;
        int crit = 0;
        assert_int_equal(
            mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE),
            0);
        ext_end = p + len;
        assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &id_len, MBEDTLS_ASN1_OID), 0);
        id = p;
        p += id_len;
        (void)mbedtls_asn1_get_bool(&p, ext_end, &crit);
        assert_int_equal(mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING), 0);
        if (id_len == oid_len && memcmp(id, oid, oid_len) == 0) {
            *critical = crit;
            *val = p;
            *val_len = len;
            return 0;
        }
        p = ext_end;
    }
    return -1;
}

/* The subject's attribute OIDs in DER order must be exactly expected[0..n); values likewise. */
static void assert_subject(const mbedtls_x509_crt *crt, const char *const *oids,
                           const char *const *values, const int *tags, size_t n)
{
    size_t i = 0;
    for (const mbedtls_x509_name *a = &crt->subject; a != NULL; a = a->next, i++) {
        assert_true(i < n);
        assert_int_equal(a->oid.len, strlen(oids[i]));
        assert_memory_equal(a->oid.p, oids[i], a->oid.len);
        assert_int_equal(a->val.len, strlen(values[i]));
        assert_memory_equal(a->val.p, values[i], a->val.len);
        assert_int_equal(a->val.tag, tags[i]);
        assert_int_equal(a->next_merged, 0);
    }
    assert_int_equal(i, n);
}

/* SHA-1 over the subjectPublicKey bits of crt (what SKI must hold). */
static void key_id_of(const mbedtls_x509_crt *crt, unsigned char id[20])
{
    unsigned char buf[2048], *p = buf + sizeof(buf);
    int len = mbedtls_pk_write_pubkey(&p, buf, &crt->pk);
    assert_true(len > 0);
    assert_int_equal(mbedtls_sha1_ret(p, (size_t)len, id), 0);
}

static void assert_ski_aki(const mbedtls_x509_crt *crt, const mbedtls_x509_crt *issuer)
{
    unsigned char *val, *p, id[20], issuer_id[20];
    size_t len, inner;
    int critical;

    key_id_of(crt, id);
    key_id_of(issuer, issuer_id);
    assert_int_equal(ext_find(crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER, &critical, &val, &len), 0);
    assert_int_equal(critical, 0);
    p = val;
    assert_int_equal(mbedtls_asn1_get_tag(&p, val + len, &inner, MBEDTLS_ASN1_OCTET_STRING), 0);
    assert_int_equal(inner, 20);
    assert_memory_equal(p, id, 20);
    assert_int_equal(ext_find(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER, &critical, &val, &len), 0);
    assert_int_equal(critical, 0);
    p = val;
    assert_int_equal(mbedtls_asn1_get_tag(&p, val + len, &inner,
                                          MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE),
                     0);
    assert_int_equal(mbedtls_asn1_get_tag(&p, val + len, &inner, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0),
                     0);
    assert_int_equal(inner, 20);
    assert_memory_equal(p, issuer_id, 20);
}

static void assert_critical(const mbedtls_x509_crt *crt, const char *oid, int expected)
{
    unsigned char *val;
    size_t len;
    int critical;
    assert_int_equal(ext_find(crt, oid, &critical, &val, &len), 0);
    assert_int_equal(critical, expected);
}

static void assert_time(const mbedtls_x509_time *t, time_t expected)
{
    struct tm tm;
    assert_non_null(gmtime_r(&expected, &tm));
    assert_int_equal(t->year, tm.tm_year + 1900);
    assert_int_equal(t->mon, tm.tm_mon + 1);
    assert_int_equal(t->day, tm.tm_mday);
    assert_int_equal(t->hour, tm.tm_hour);
    assert_int_equal(t->min, tm.tm_min);
    assert_int_equal(t->sec, tm.tm_sec);
}

/* The serial: positive, at most 20 octets, as hex equal to expected_hex. */
static void assert_serial(const mbedtls_x509_crt *crt, const char *expected_hex, size_t octets)
{
    char hex[2 * 21 + 1];
    assert_int_equal(crt->serial.len, octets);
    assert_true(crt->serial.p[0] >= 0x01 && crt->serial.p[0] <= 0x7f);
    for (size_t i = 0; i < crt->serial.len; i++)
        snprintf(hex + 2 * i, 3, "%02X", crt->serial.p[i]);
    assert_string_equal(hex, expected_hex);
}

/* The key in issued matches its certificate and is of the expected type. */
static void assert_key_pair(const struct cl_issued *issued, const mbedtls_x509_crt *crt,
                            mbedtls_pk_type_t type, size_t bits)
{
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    assert_int_equal(mbedtls_pk_parse_key(&key, issued->key_der, issued->key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_get_type(&key), type);
    assert_int_equal(mbedtls_pk_get_bitlen(&key), bits);
    assert_int_equal(mbedtls_pk_check_pair(&crt->pk, &key), 0);
    mbedtls_pk_free(&key);
}

/* crt (a leaf) verifies with the issuing CA as an intermediate and the root as trust anchor,
 * and with the issuing CA itself as trust anchor. */
static void assert_chains(const struct cl_issued *leaf)
{
    mbedtls_x509_crt chain;
    uint32_t flags = 0xffffffff;

    parse_der(&chain, leaf->cert_der, leaf->cert_len);
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &issuing_crt, NULL, NULL, &flags, NULL, NULL),
                     0);
    assert_int_equal(flags, 0);
    assert_int_equal(mbedtls_x509_crt_parse_der(&chain, issuing.cert_der, issuing.cert_len), 0);
    flags = 0xffffffff;
    assert_int_equal(mbedtls_x509_crt_verify(&chain, &root_crt, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    mbedtls_x509_crt_free(&chain);
}

/* The signature AlgorithmIdentifiers, DER: ecdsa-with-SHA256 without parameters (RFC 5758 3.2),
 * sha256WithRSAEncryption with NULL parameters (RFC 4055 5). */
static const unsigned char ECDSA_SHA256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                             0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char RSA_SHA256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                           0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
/* The start of an RSA-2048 subjectPublicKeyInfo: rsaEncryption keeps its NULL parameters. */
static const unsigned char RSA2048_SPKI_HEAD[] = {0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06,
                                                  0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                                  0x01, 0x01, 0x01, 0x05, 0x00};

/* The parts of a certificate's DER, found by walking it independently of mbedTLS's certificate
 * parser: the TBSCertificate (whole element), its version and serial (whole elements, together),
 * its signature AlgorithmIdentifier (whole element) and the TBS from its issuer on (the rest),
 * the outer signatureAlgorithm (whole element). */
struct cert_parts {
    unsigned char *tbs, *version_serial, *tbs_alg, *tbs_rest, *alg;
    size_t tbs_len, version_serial_len, tbs_alg_len, tbs_rest_len, alg_len;
};

/* The next element at *p (tag expected): *p moves past it, its whole length is returned. */
static size_t skip_element(unsigned char **p, const unsigned char *end, int tag)
{
    unsigned char *start = *p;
    size_t len;
    assert_int_equal(mbedtls_asn1_get_tag(p, end, &len, tag), 0);
    *p += len;
    return (size_t)(*p - start);
}

static void split_cert(unsigned char *der, size_t der_len, struct cert_parts *parts)
{
    unsigned char *p = der, *end = p + der_len, *tbs_end;
    size_t len;
    const int seq = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;

    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, seq), 0);
    assert_true(p + len == end);
    parts->tbs = p;
    assert_int_equal(mbedtls_asn1_get_tag(&p, end, &len, seq), 0);
    tbs_end = p + len;
    parts->tbs_len = (size_t)(tbs_end - parts->tbs);
    parts->version_serial = p;
    parts->version_serial_len =
        skip_element(&p, tbs_end, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0);
    parts->version_serial_len += skip_element(&p, tbs_end, MBEDTLS_ASN1_INTEGER);
    parts->tbs_alg = p;
    parts->tbs_alg_len = skip_element(&p, tbs_end, seq);
    parts->tbs_rest = p;
    parts->tbs_rest_len = (size_t)(tbs_end - p);
    p = tbs_end;
    parts->alg = p;
    parts->alg_len = skip_element(&p, end, seq);
    (void)skip_element(&p, end, MBEDTLS_ASN1_BIT_STRING);
    assert_true(p == end);
}

/* Both signature AlgorithmIdentifiers of the certificate (tbsCertificate.signature and
 * signatureAlgorithm) are exactly alg. */
static void assert_sig_alg(unsigned char *der, size_t der_len, const unsigned char *alg,
                           size_t alg_len)
{
    struct cert_parts parts;
    split_cert(der, der_len, &parts);
    assert_int_equal(parts.tbs_alg_len, alg_len);
    assert_memory_equal(parts.tbs_alg, alg, alg_len);
    assert_int_equal(parts.alg_len, alg_len);
    assert_memory_equal(parts.alg, alg, alg_len);
}

#define ASSERT_ECDSA_SHA256(der, len) assert_sig_alg(der, len, ECDSA_SHA256, sizeof(ECDSA_SHA256))

static void write_text(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    assert_int_equal(cl_atomic_write(path, text, strlen(text), 0600), CL_OK);
}

static void write_pem(const char *name, const struct cl_issued *issued)
{
    char *pem = NULL;
    assert_int_equal(cl_cert_der_to_pem(issued->cert_der, issued->cert_len, &pem), CL_OK);
    write_text(name, pem);
    free(pem);
}

/* Runs argv (argv[0] from PATH) in tmpdir with stdout and stderr into *output (malloc'd);
 * returns the exit status, or -1. */
static int run(char *const argv[], char **output)
{
    char out_path[256];
    int status = 0;
    pid_t pid;

    snprintf(out_path, sizeof(out_path), "%s/cmd.out", tmpdir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || chdir(tmpdir) != 0)
            _exit(126);
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(cl_read_file_capped(out_path, 1 << 20, output, NULL), CL_OK);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Python's cryptography (41 and later) warns about a NULL in an ECDSA signature
 * AlgorithmIdentifier when it parses a certificate, and is to reject it; with -W error a warning
 * fails the load. name is a PEM file in tmpdir. */
static void assert_python_loads(char *name)
{
    char script[] = "import sys\n"
                    "from cryptography import x509\n"
                    "with open(sys.argv[1], 'rb') as f:\n"
                    "    x509.load_pem_x509_certificate(f.read())\n"
                    "print('loaded')\n";
    char *argv[] = {"python3", "-W", "error", "-c", script, name, NULL}, *out = NULL;
    int status = run(argv, &out);
    if (status != 0)
        fprintf(stderr, "python3 on %s: %s\n", name, out);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "loaded"));
    free(out);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int group_setup(void **state)
{
    char err[256];
    (void)state;

    cl_log_set_level(CL_LOG_ERROR); /* the refusal tests would otherwise log each refusal */
    now = time(NULL) - 60;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_x509.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    if (cl_issue_ca_pair(ORG, now, 3650, 1825, &root, &issuing) != CL_OK)
        return -1;
    mbedtls_x509_crt_init(&root_crt);
    mbedtls_x509_crt_init(&issuing_crt);
    if (mbedtls_x509_crt_parse_der(&root_crt, root.cert_der, root.cert_len) != 0 ||
        mbedtls_x509_crt_parse_der(&issuing_crt, issuing.cert_der, issuing.cert_len) != 0)
        return -1;
    if (cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, issuing.key_len, ORG,
                      &signer, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "cl_signer_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cl_signer_free(signer);
    mbedtls_x509_crt_free(&root_crt);
    mbedtls_x509_crt_free(&issuing_crt);
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    remove_tree(tmpdir);
    return 0;
}

/* ---- tests ---- */

static void test_key_type_names(void **state)
{
    enum cl_key_type t;
    (void)state;

    assert_string_equal(cl_key_type_name(CL_KEY_P256), "p256");
    assert_string_equal(cl_key_type_name(CL_KEY_RSA2048), "rsa2048");
    assert_string_equal(cl_key_type_name(CL_KEY_RSA3072), "rsa3072");
    assert_int_equal(cl_key_type_parse("rsa3072", &t), CL_OK);
    assert_int_equal(t, CL_KEY_RSA3072);
    assert_int_equal(cl_key_type_parse("p256", &t), CL_OK);
    assert_int_equal(t, CL_KEY_P256);
    assert_int_equal(cl_key_type_parse("P256", &t), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_key_type_parse("rsa4096", &t), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_key_type_parse("", &t), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_key_type_parse(NULL, &t), CL_ERR_INVALID_ARGUMENT);
}

static int cmp_serial(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_serial_random(void **state)
{
    enum { N = 1000 };
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = calloc(N, sizeof(*serials));
    (void)state;

    assert_non_null(serials);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cl_serial_random(serials[i]), CL_OK);
        assert_int_equal(strlen(serials[i]), 32);
        assert_true(cl_serial_hex_valid(serials[i]));
        assert_non_null(strchr("01234567", serials[i][0])); /* top bit clear */
        assert_false(serials[i][0] == '0' && serials[i][1] == '0');
    }
    qsort(serials, N, sizeof(*serials), cmp_serial);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(serials[i - 1], serials[i]);
    free(serials);
}

static void test_input_rules(void **state)
{
    (void)state;
    assert_true(cl_device_number_valid("3012-000001"));
    assert_true(cl_device_number_valid("A"));
    assert_true(cl_device_number_valid("1234567890123456789012345678901"));
    assert_false(cl_device_number_valid("12345678901234567890123456789012"));
    assert_false(cl_device_number_valid(""));
    assert_false(cl_device_number_valid(NULL));
    assert_false(cl_device_number_valid("-3012"));
    assert_false(cl_device_number_valid("3012,OU=ca-server"));
    assert_false(cl_device_number_valid("3012 1"));
    assert_false(cl_device_number_valid("3012_1"));
    assert_true(cl_model_code_valid("3012"));
    assert_false(cl_model_code_valid("1234567890123456"));
    assert_true(cl_serial_hex_valid("01"));
    assert_true(cl_serial_hex_valid("FF00"));
    assert_false(cl_serial_hex_valid("00FF"));
    assert_false(cl_serial_hex_valid("ABC"));
    assert_false(cl_serial_hex_valid("abcd"));
    assert_false(cl_serial_hex_valid(""));
    assert_true(cl_serial_hex_valid("7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
    assert_false(cl_serial_hex_valid("7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"));
}

static void test_ca_pair_profile(void **state)
{
    static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING};
    const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORGANIZATION};
    char root_cn[64], issuing_cn[64];
    uint32_t flags = 0xffffffff;
    (void)state;

    /* root: self-signed CA, pathlen 1 */
    assert_int_equal(root_crt.version, 3);
    assert_int_equal(root_crt.subject_raw.len, root_crt.issuer_raw.len);
    assert_memory_equal(root_crt.subject_raw.p, root_crt.issuer_raw.p, root_crt.subject_raw.len);
    assert_int_equal(root_crt.ca_istrue, 1);
    assert_int_equal(root_crt.max_pathlen, 2); /* mbedTLS stores pathlen + 1 */
    assert_int_equal(root_crt.key_usage, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    assert_critical(&root_crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_critical(&root_crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_false(root_crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
    assert_ski_aki(&root_crt, &root_crt);
    assert_serial(&root_crt, root.serial_hex, 16);
    assert_int_equal(root_crt.sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(root_crt.sig_pk, MBEDTLS_PK_ECDSA);
    ASSERT_ECDSA_SHA256(root.cert_der, root.cert_len);
    snprintf(root_cn, sizeof(root_cn), "certline root CA %.8s", root.serial_hex);
    const char *root_values[] = {root_cn, ORG};
    assert_subject(&root_crt, oids, root_values, tags, 2);
    assert_time(&root_crt.valid_from, now);
    assert_time(&root_crt.valid_to, now + 3650 * 86400L);
    assert_key_pair(&root, &root_crt, MBEDTLS_PK_ECKEY, 256);
    assert_int_equal(mbedtls_x509_crt_verify(&root_crt, &root_crt, NULL, NULL, &flags, NULL, NULL),
                     0);

    /* issuing: signed by the root, pathlen 0 */
    assert_int_equal(issuing_crt.ca_istrue, 1);
    assert_int_equal(issuing_crt.max_pathlen, 1);
    ASSERT_ECDSA_SHA256(issuing.cert_der, issuing.cert_len);
    assert_int_equal(issuing_crt.key_usage,
                     MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    assert_critical(&issuing_crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_critical(&issuing_crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_ski_aki(&issuing_crt, &root_crt);
    assert_int_equal(issuing_crt.issuer_raw.len, root_crt.subject_raw.len);
    assert_memory_equal(issuing_crt.issuer_raw.p, root_crt.subject_raw.p, root_crt.subject_raw.len);
    assert_serial(&issuing_crt, issuing.serial_hex, 16);
    snprintf(issuing_cn, sizeof(issuing_cn), "certline issuing CA %.8s", issuing.serial_hex);
    const char *issuing_values[] = {issuing_cn, ORG};
    assert_subject(&issuing_crt, oids, issuing_values, tags, 2);
    assert_time(&issuing_crt.valid_to, now + 1825 * 86400L);
    assert_key_pair(&issuing, &issuing_crt, MBEDTLS_PK_ECKEY, 256);
    flags = 0xffffffff;
    assert_int_equal(
        mbedtls_x509_crt_verify(&issuing_crt, &root_crt, NULL, NULL, &flags, NULL, NULL), 0);
    assert_int_equal(flags, 0);
    assert_string_not_equal(root.serial_hex, issuing.serial_hex);

    /* the signer hands back the issuing CA certificate */
    size_t len = 0;
    const unsigned char *der = cl_signer_cert_der(signer, &len);
    assert_int_equal(len, issuing.cert_len);
    assert_memory_equal(der, issuing.cert_der, len);
}

static void test_device_p256_profile(void **state)
{
    static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_PRINTABLE_STRING,
                               MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                               MBEDTLS_ASN1_UTF8_STRING};
    const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_OID_AT_ORG_UNIT,
                          MBEDTLS_OID_AT_TITLE, MBEDTLS_OID_AT_ORGANIZATION};
    const char *values[] = {"3012-000001", "3012-000001", "device", MODEL, ORG};
    struct cl_issued dev;
    mbedtls_x509_crt crt;
    char serial[CL_SERIAL_HEX_MAX + 1];
    unsigned char *val;
    size_t len;
    int critical;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(signer, "3012-000001", MODEL, CL_KEY_P256, serial, now, 365, &dev), CL_OK);
    assert_string_equal(dev.serial_hex, serial);
    parse_der(&crt, dev.cert_der, dev.cert_len);

    assert_int_equal(crt.version, 3);
    assert_subject(&crt, oids, values, tags, 5);
    assert_int_equal(crt.issuer_raw.len, issuing_crt.subject_raw.len);
    assert_memory_equal(crt.issuer_raw.p, issuing_crt.subject_raw.p, crt.issuer_raw.len);
    /* EKU: clientAuth only */
    assert_true(crt.ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE);
    assert_int_equal(crt.ext_key_usage.buf.len, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_memory_equal(crt.ext_key_usage.buf.p, MBEDTLS_OID_CLIENT_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_null(crt.ext_key_usage.next);
    assert_int_not_equal(
        mbedtls_x509_crt_check_extended_key_usage(&crt, MBEDTLS_OID_SERVER_AUTH,
                                                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
        0);
    assert_critical(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE, 0);
    /* basicConstraints cA false, critical, encoded as an empty SEQUENCE */
    assert_true(crt.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS);
    assert_int_equal(crt.ca_istrue, 0);
    assert_int_equal(ext_find(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS, &critical, &val, &len), 0);
    assert_int_equal(critical, 1);
    assert_int_equal(len, 2);
    assert_int_equal(val[0], 0x30);
    assert_int_equal(val[1], 0x00);
    /* keyUsage digitalSignature, critical */
    assert_true(crt.ext_types & MBEDTLS_X509_EXT_KEY_USAGE);
    assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    assert_critical(&crt, MBEDTLS_OID_KEY_USAGE, 1);
    /* SKI and AKI; no SAN */
    assert_ski_aki(&crt, &issuing_crt);
    assert_false(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    /* serial: 16 octets, positive, the one asked for */
    assert_serial(&crt, serial, 16);
    /* validity */
    assert_time(&crt.valid_from, now);
    assert_time(&crt.valid_to, now + 365 * 86400L);
    /* signature and key */
    assert_int_equal(crt.sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(crt.sig_pk, MBEDTLS_PK_ECDSA);
    ASSERT_ECDSA_SHA256(dev.cert_der, dev.cert_len);
    assert_key_pair(&dev, &crt, MBEDTLS_PK_ECKEY, 256);
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(crt.pk);
    assert_non_null(ec);
    assert_int_equal(ec != NULL ? ec->grp.id : MBEDTLS_ECP_DP_NONE, MBEDTLS_ECP_DP_SECP256R1);
    assert_chains(&dev);

    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
    assert_null(dev.key_der);
    assert_null(dev.cert_der);
}

static void test_device_rsa2048(void **state)
{
    struct cl_issued dev;
    mbedtls_x509_crt crt;
    struct timespec t0;
    mbedtls_mpi e;
    char serial[CL_SERIAL_HEX_MAX + 1], *out = NULL;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(
        cl_issue_device(signer, "3012-000002", MODEL, CL_KEY_RSA2048, serial, now, 365, &dev),
        CL_OK);
    printf("[ RATE     ] RSA-2048 device certificate: one issuance took %.3f s\n",
           seconds_since(&t0));
    parse_der(&crt, dev.cert_der, dev.cert_len);
    assert_int_equal(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_RSA);
    assert_int_equal(mbedtls_pk_get_bitlen(&crt.pk), 2048);
    mbedtls_mpi_init(&e);
    assert_int_equal(mbedtls_rsa_export(mbedtls_pk_rsa(crt.pk), NULL, NULL, NULL, NULL, &e), 0);
    assert_int_equal(mbedtls_mpi_cmp_int(&e, 65537), 0);
    mbedtls_mpi_free(&e);
    assert_int_equal(crt.key_usage,
                     MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT);
    assert_critical(&crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_critical(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_int_equal(crt.ca_istrue, 0);
    assert_serial(&crt, serial, 16);
    assert_key_pair(&dev, &crt, MBEDTLS_PK_RSA, 2048);
    assert_chains(&dev);
    /* signed by the ECDSA issuing CA: no NULL in the signature algorithm; the RSA key's own
     * rsaEncryption AlgorithmIdentifier keeps its NULL */
    assert_int_equal(crt.sig_pk, MBEDTLS_PK_ECDSA);
    ASSERT_ECDSA_SHA256(dev.cert_der, dev.cert_len);
    assert_true(crt.pk_raw.len > sizeof(RSA2048_SPKI_HEAD));
    assert_memory_equal(crt.pk_raw.p, RSA2048_SPKI_HEAD, sizeof(RSA2048_SPKI_HEAD));
    write_pem("root.pem", &root);
    write_pem("issuing.pem", &issuing);
    write_pem("rsa-device.pem", &dev);
    char *verify[] = {"openssl", "verify",   "-x509_strict", "-purpose",    "sslclient",
                      "-CAfile", "root.pem", "-untrusted",   "issuing.pem", "rsa-device.pem",
                      NULL};
    assert_int_equal(run(verify, &out), 0);
    assert_non_null(strstr(out, "rsa-device.pem: OK"));
    free(out);
    assert_python_loads("rsa-device.pem");
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
}

/* Issues a service certificate and checks its subject, SAN and EKU. */
static void check_service(enum cl_role role, const char *ou, const char *name, const char *number,
                          int server)
{
    struct cl_issued svc;
    mbedtls_x509_crt crt;

    assert_int_equal(cl_issue_service(signer, role, name, number, now, 730, &svc), CL_OK);
    parse_der(&crt, svc.cert_der, svc.cert_len);
    if (number != NULL) {
        const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORG_UNIT,
                              MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_OID_AT_ORGANIZATION};
        const char *values[] = {name, ou, number, ORG};
        static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                                   MBEDTLS_ASN1_PRINTABLE_STRING, MBEDTLS_ASN1_UTF8_STRING};
        assert_subject(&crt, oids, values, tags, 4);
    } else {
        const char *oids[] = {MBEDTLS_OID_AT_CN, MBEDTLS_OID_AT_ORG_UNIT,
                              MBEDTLS_OID_AT_ORGANIZATION};
        const char *values[] = {name, ou, ORG};
        static const int tags[] = {MBEDTLS_ASN1_UTF8_STRING, MBEDTLS_ASN1_UTF8_STRING,
                                   MBEDTLS_ASN1_UTF8_STRING};
        assert_subject(&crt, oids, values, tags, 3);
    }
    assert_int_equal(crt.ca_istrue, 0);
    assert_critical(&crt, MBEDTLS_OID_BASIC_CONSTRAINTS, 1);
    assert_int_equal(crt.key_usage, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    assert_critical(&crt, MBEDTLS_OID_KEY_USAGE, 1);
    assert_ski_aki(&crt, &issuing_crt);
    assert_serial(&crt, svc.serial_hex, 16);
    ASSERT_ECDSA_SHA256(svc.cert_der, svc.cert_len);
    assert_int_equal(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    /* EKU serverAuth then clientAuth for every role: a device serves its writing interface
     * with its model's common certificate */
    assert_memory_equal(crt.ext_key_usage.buf.p, MBEDTLS_OID_SERVER_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    assert_non_null(crt.ext_key_usage.next);
    assert_memory_equal(crt.ext_key_usage.next->buf.p, MBEDTLS_OID_CLIENT_AUTH,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    assert_null(crt.ext_key_usage.next->next);
    if (server) {
        /* SAN dNSName = name */
        assert_true(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
        assert_int_equal(crt.subject_alt_names.buf.tag, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2);
        assert_int_equal(crt.subject_alt_names.buf.len, strlen(name));
        assert_memory_equal(crt.subject_alt_names.buf.p, name, strlen(name));
        assert_null(crt.subject_alt_names.next);
    } else {
        /* a common certificate's name is text, not a DNS name */
        assert_false(crt.ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME);
    }
    assert_key_pair(&svc, &crt, MBEDTLS_PK_ECKEY, 256);
    assert_chains(&svc);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&svc);
}

static void test_service_profiles(void **state)
{
    (void)state;
    /* the OU spellings are those peer.c reads back */
    check_service(CL_ROLE_CA_SERVER, "ca-server", "ca.certline.test", NULL, 1);
    check_service(CL_ROLE_COMM_TERMINAL, "comm-terminal", "comm.certline.test", NULL, 1);
    check_service(CL_ROLE_FACTORY_TERMINAL, "factory-terminal", "line-1001.certline.test", "1001",
                  1);
    check_service(CL_ROLE_DEVICE_COMMON, "device-common", "3012 common", "3012", 0);
}

static void test_openssl_cli(void **state)
{
    struct cl_issued dev, svc;
    char serial[CL_SERIAL_HEX_MAX + 1], *out = NULL;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(signer, "3012-000003", MODEL, CL_KEY_P256, serial, now, 365, &dev), CL_OK);
    assert_int_equal(
        cl_issue_service(signer, CL_ROLE_CA_SERVER, "ca.certline.test", NULL, now, 730, &svc),
        CL_OK);
    write_pem("root.pem", &root);
    write_pem("issuing.pem", &issuing);
    write_pem("device.pem", &dev);
    write_pem("server.pem", &svc);

    char *verify_dev[] = {"openssl", "verify",   "-x509_strict", "-purpose",    "sslclient",
                          "-CAfile", "root.pem", "-untrusted",   "issuing.pem", "device.pem",
                          NULL};
    assert_int_equal(run(verify_dev, &out), 0);
    assert_non_null(strstr(out, "device.pem: OK"));
    free(out);

    char *verify_svc[] = {"openssl", "verify",   "-x509_strict", "-purpose",    "sslserver",
                          "-CAfile", "root.pem", "-untrusted",   "issuing.pem", "server.pem",
                          NULL};
    assert_int_equal(run(verify_svc, &out), 0);
    assert_non_null(strstr(out, "server.pem: OK"));
    free(out);

    /* a device certificate is no server certificate */
    char *verify_dev_as_server[] = {"openssl",    "verify",   "-purpose",   "sslserver",
                                    "-CAfile",    "root.pem", "-untrusted", "issuing.pem",
                                    "device.pem", NULL};
    assert_int_not_equal(run(verify_dev_as_server, &out), 0);
    free(out);

    char *text_dev[] = {"openssl", "x509", "-in", "device.pem", "-noout", "-text", NULL};
    assert_int_equal(run(text_dev, &out), 0);
    assert_non_null(strstr(out, "TLS Web Client Authentication"));
    assert_null(strstr(out, "TLS Web Server Authentication"));
    assert_non_null(strstr(out, "X509v3 Basic Constraints: critical"));
    assert_non_null(strstr(out, "CA:FALSE"));
    assert_non_null(strstr(out, "X509v3 Key Usage: critical"));
    assert_non_null(strstr(out, "Digital Signature"));
    assert_non_null(strstr(out, "X509v3 Subject Key Identifier"));
    assert_non_null(strstr(out, "X509v3 Authority Key Identifier"));
    assert_non_null(strstr(out, "Subject: CN = 3012-000003, serialNumber = 3012-000003, "
                                "OU = device, title = 3012, O = certline test"));
    assert_non_null(strstr(out, "ecdsa-with-SHA256"));
    assert_null(strstr(out, "Subject Alternative Name"));
    free(out);
    assert_python_loads("root.pem");
    assert_python_loads("issuing.pem");
    assert_python_loads("device.pem");
    assert_python_loads("server.pem");

    char *text_svc[] = {"openssl", "x509", "-in", "server.pem", "-noout", "-text", NULL};
    assert_int_equal(run(text_svc, &out), 0);
    assert_non_null(strstr(out, "TLS Web Server Authentication, TLS Web Client Authentication"));
    assert_non_null(strstr(out, "DNS:ca.certline.test"));
    assert_non_null(
        strstr(out, "Subject: CN = ca.certline.test, OU = ca-server, O = certline test"));
    free(out);

    cl_issued_free(&dev);
    cl_issued_free(&svc);
}

/* A CA made by openssl (PEM without its NUL, PKCS#8 key converted to DER) is accepted: the
 * issuer name is copied exactly, AKI takes openssl's SKI, and openssl verifies the result. */
static void signer_from_openssl_ca(char *algorithm, char *keyopt)
{
    char *key_pem_path = "ossl-ca.key", *out = NULL, *ca_pem = NULL, path[256];
    char *key_der = NULL;
    struct cl_signer *other = NULL;
    struct cl_issued dev;
    mbedtls_x509_crt ca, crt;
    char serial[CL_SERIAL_HEX_MAX + 1], err[256];
    size_t ca_len = 0, key_len = 0;

    char *genkey[] = {"openssl", "genpkey", "-algorithm", algorithm, "-pkeyopt",
                      keyopt,    "-out",    key_pem_path, NULL};
    assert_int_equal(run(genkey, &out), 0);
    free(out);
    char *req[] = {"openssl",
                   "req",
                   "-new",
                   "-x509",
                   "-key",
                   key_pem_path,
                   "-subj",
                   "/O=openssl org/OU=pki/CN=openssl issuing",
                   "-days",
                   "30",
                   "-sha256",
                   "-addext",
                   "basicConstraints=critical,CA:TRUE,pathlen:0",
                   "-addext",
                   "keyUsage=critical,keyCertSign,cRLSign",
                   "-addext",
                   "subjectKeyIdentifier=hash",
                   "-out",
                   "ossl-ca.pem",
                   NULL};
    assert_int_equal(run(req, &out), 0);
    free(out);
    char *to_der[] = {"openssl", "pkey", "-in",         key_pem_path, "-outform",
                      "DER",     "-out", "ossl-ca.der", NULL};
    assert_int_equal(run(to_der, &out), 0);
    free(out);

    snprintf(path, sizeof(path), "%s/ossl-ca.pem", tmpdir);
    assert_int_equal(cl_read_file_capped(path, 65536, &ca_pem, &ca_len), CL_OK);
    snprintf(path, sizeof(path), "%s/ossl-ca.der", tmpdir);
    assert_int_equal(cl_read_file_capped(path, 65536, &key_der, &key_len), CL_OK);
    /* PEM passed without its NUL */
    assert_int_equal(cl_signer_new((const unsigned char *)ca_pem, ca_len,
                                   (const unsigned char *)key_der, key_len, "openssl org", &other,
                                   err, sizeof(err)),
                     CL_OK);
    memset(key_der, 0, key_len);
    free(key_der);

    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(other, "3012-000009", MODEL, CL_KEY_P256, serial, now, 10, &dev), CL_OK);
    mbedtls_x509_crt_init(&ca);
    assert_int_equal(mbedtls_x509_crt_parse(&ca, (const unsigned char *)ca_pem, ca_len + 1), 0);
    parse_der(&crt, dev.cert_der, dev.cert_len);
    assert_int_equal(crt.issuer_raw.len, ca.subject_raw.len);
    assert_memory_equal(crt.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len);
    assert_ski_aki(&crt, &ca);
    uint32_t flags = 0xffffffff;
    assert_int_equal(mbedtls_x509_crt_verify(&crt, &ca, NULL, NULL, &flags, NULL, NULL), 0);
    write_pem("ossl-device.pem", &dev);
    char *verify[] = {"openssl",         "verify", "-x509_strict", "-CAfile", "ossl-ca.pem",
                      "ossl-device.pem", NULL};
    assert_int_equal(run(verify, &out), 0);
    assert_non_null(strstr(out, "ossl-device.pem: OK"));
    free(out);
    /* the signature AlgorithmIdentifier follows the CA key: NULL parameters for RSA only */
    if (strcmp(algorithm, "RSA") == 0) {
        assert_int_equal(crt.sig_pk, MBEDTLS_PK_RSA);
        assert_sig_alg(dev.cert_der, dev.cert_len, RSA_SHA256, sizeof(RSA_SHA256));
    } else {
        assert_int_equal(crt.sig_pk, MBEDTLS_PK_ECDSA);
        ASSERT_ECDSA_SHA256(dev.cert_der, dev.cert_len);
    }
    assert_python_loads("ossl-device.pem");
    /* and our own root does not vouch for it */
    flags = 0;
    assert_int_not_equal(mbedtls_x509_crt_verify(&crt, &root_crt, NULL, NULL, &flags, NULL, NULL),
                         0);
    assert_true(flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED);

    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
    cl_signer_free(other);
    free(ca_pem);
}

static void test_signer_from_openssl_ca(void **state)
{
    (void)state;
    signer_from_openssl_ca("EC", "ec_paramgen_curve:P-256");
    /* an RSA CA key stays RSA-typed (its own type) and signs as well */
    signer_from_openssl_ca("RSA", "rsa_keygen_bits:2048");
}

/* After fork() parent and child must not draw the same bytes from the shared generator. */
static void test_rng_fork(void **state)
{
    unsigned char parent[32], child[32];
    int fds[2], status = 0;
    pid_t pid;
    (void)state;

    assert_int_equal(cl_random_bytes(parent, 1), CL_OK); /* the generator exists before fork */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char bytes[32];
        close(fds[0]);
        if (cl_random_bytes(bytes, sizeof(bytes)) != CL_OK ||
            write(fds[1], bytes, sizeof(bytes)) != (ssize_t)sizeof(bytes))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(cl_random_bytes(parent, sizeof(parent)), CL_OK);
    assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(parent, child, sizeof(parent));
    /* and a large request (over one CTR_DRBG request) works */
    unsigned char *big = malloc(5000);
    assert_non_null(big);
    assert_int_equal(cl_random_bytes(big, 5000), CL_OK);
    free(big);
}

static void test_signer_refusals(void **state)
{
    struct cl_signer *s = (struct cl_signer *)&s; /* must come back NULL */
    struct cl_issued dev;
    char err[256], serial[CL_SERIAL_HEX_MAX + 1], *pem = NULL;
    static const unsigned char garbage[] = "not a certificate at all";
    (void)state;

    /* the root's key with the issuing certificate */
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, root.key_der, root.key_len,
                                   ORG, &s, err, sizeof(err)),
                     CL_ERR_CRYPTO);
    assert_null(s);
    assert_non_null(strstr(err, "does not belong"));
    /* a leaf is not a CA */
    assert_int_equal(cl_serial_random(serial), CL_OK);
    assert_int_equal(
        cl_issue_device(signer, "3012-000004", MODEL, CL_KEY_P256, serial, now, 365, &dev), CL_OK);
    assert_int_equal(cl_signer_new(dev.cert_der, dev.cert_len, dev.key_der, dev.key_len, ORG, &s,
                                   err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(s);
    assert_non_null(strstr(err, "not a CA"));
    cl_issued_free(&dev);
    /* garbage in either place */
    assert_int_equal(cl_signer_new(garbage, sizeof(garbage), issuing.key_der, issuing.key_len, ORG,
                                   &s, err, sizeof(err)),
                     CL_ERR_PARSE);
    assert_non_null(strstr(err, "certificate does not parse"));
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, garbage, sizeof(garbage),
                                   ORG, &s, err, sizeof(err)),
                     CL_ERR_PARSE);
    assert_non_null(strstr(err, "private key does not parse"));
    /* bounds and organisation */
    assert_int_equal(cl_signer_new(issuing.cert_der, 0, issuing.key_der, issuing.key_len, ORG, &s,
                                   err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, 0, ORG, &s,
                                   err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der,
                                   issuing.key_len, "evil, O=other", &s, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der,
                                   issuing.key_len, "", &s, err, sizeof(err)),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(s);
    /* PEM with its NUL is accepted as well */
    assert_int_equal(cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &pem), CL_OK);
    assert_int_equal(cl_signer_new((const unsigned char *)pem, strlen(pem) + 1, issuing.key_der,
                                   issuing.key_len, ORG, &s, err, sizeof(err)),
                     CL_OK);
    cl_signer_free(s);
    cl_signer_free(NULL);
    free(pem);
}

static void expect_device_refused(const char *number, const char *model, enum cl_key_type type,
                                  const char *serial, time_t not_before, int days)
{
    struct cl_issued dev;
    memset(&dev, 0x5a, sizeof(dev));
    assert_int_equal(cl_issue_device(signer, number, model, type, serial, not_before, days, &dev),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(dev.cert_der);
    assert_null(dev.key_der);
}

static void test_device_refusals(void **state)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    struct cl_issued dev;
    mbedtls_x509_crt crt;
    (void)state;

    assert_int_equal(cl_serial_random(serial), CL_OK);
    expect_device_refused(NULL, MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1,OU=ca-server", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012 1", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("12345678901234567890123456789012", MODEL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", NULL, CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", "", CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", "30/12", CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", "1234567890123456", CL_KEY_P256, serial, now, 365);
    expect_device_refused("3012-1", MODEL, (enum cl_key_type)7, serial, now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, NULL, now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "0102030405060708090", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "000102030405060708", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "8001020304050607", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "0a01020304050607", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "01020304050607", now, 365); /* 7 */
    expect_device_refused("3012-1", MODEL, CL_KEY_P256,
                          "7F0102030405060708090A0B0C0D0E0F1011121314", now, 365); /* 21 */
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, "G102030405060708", now, 365);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, now, 0);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, now, -1);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, now, 36501);
    expect_device_refused("3012-1", MODEL, CL_KEY_P256, serial, -1, 365);
    /* starting after the issuing CA's end (here also near 9999): refused as such */
    memset(&dev, 0x5a, sizeof(dev));
    assert_int_equal(cl_issue_device(signer, "3012-1", MODEL, CL_KEY_P256, serial,
                                     (time_t)253402300799 - 3600, 1, &dev),
                     CL_ERR_STATE);
    assert_null(dev.cert_der);
    assert_int_equal(cl_issue_device(NULL, "3012-1", MODEL, CL_KEY_P256, serial, now, 1, &dev),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_device(signer, "3012-1", MODEL, CL_KEY_P256, serial, now, 1, NULL),
                     CL_ERR_INVALID_ARGUMENT);

    /* the edges that are allowed: 8 and 20 octets, 100 years (past 2050: GeneralizedTime)
     * under a CA that lasts as long */
    {
        struct cl_issued long_root, long_issuing;
        struct cl_signer *long_signer = NULL;
        char err[256];
        assert_int_equal(cl_issue_ca_pair(ORG, now, 36500, 36500, &long_root, &long_issuing),
                         CL_OK);
        assert_int_equal(cl_signer_new(long_issuing.cert_der, long_issuing.cert_len,
                                       long_issuing.key_der, long_issuing.key_len, ORG,
                                       &long_signer, err, sizeof(err)),
                         CL_OK);
        assert_int_equal(cl_issue_device(long_signer, "3012-1", MODEL, CL_KEY_P256,
                                         "0102030405060708", now, 36500, &dev),
                         CL_OK);
        parse_der(&crt, dev.cert_der, dev.cert_len);
        assert_serial(&crt, "0102030405060708", 8);
        assert_time(&crt.valid_to, now + 36500 * 86400L);
        mbedtls_x509_crt_free(&crt);
        cl_issued_free(&dev);
        cl_signer_free(long_signer);
        cl_issued_free(&long_root);
        cl_issued_free(&long_issuing);
    }
    assert_int_equal(cl_issue_device(signer, "3012-1", MODEL, CL_KEY_P256,
                                     "7F0102030405060708090A0B0C0D0E0F10111213", now, 1, &dev),
                     CL_OK);
    parse_der(&crt, dev.cert_der, dev.cert_len);
    assert_serial(&crt, "7F0102030405060708090A0B0C0D0E0F10111213", 20);
    mbedtls_x509_crt_free(&crt);
    cl_issued_free(&dev);
}

static void expect_service_refused(enum cl_role role, const char *name, const char *number)
{
    struct cl_issued svc;
    memset(&svc, 0x5a, sizeof(svc));
    assert_int_equal(cl_issue_service(signer, role, name, number, now, 365, &svc),
                     CL_ERR_INVALID_ARGUMENT);
    assert_null(svc.cert_der);
    assert_null(svc.key_der);
}

static void test_service_refusals(void **state)
{
    char long_name[80];
    struct cl_issued svc;
    (void)state;

    expect_service_refused(CL_ROLE_DEVICE, "3012-1", NULL);
    expect_service_refused(CL_ROLE_NONE, "a.test", NULL);
    expect_service_refused((enum cl_role)99, "a.test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "not a dns name", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "-a.test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "a-.test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "a..test", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "a.test.", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, "", NULL);
    expect_service_refused(CL_ROLE_CA_SERVER, NULL, NULL);
    memset(long_name, 'a', 60);
    strcpy(long_name + 60, ".test"); /* 65 characters */
    expect_service_refused(CL_ROLE_CA_SERVER, long_name, NULL);
    memset(long_name, 'b', 64);
    strcpy(long_name + 64, ".test"); /* a label of 64 characters */
    expect_service_refused(CL_ROLE_CA_SERVER, long_name, NULL);
    expect_service_refused(CL_ROLE_FACTORY_TERMINAL, "line-1.test", NULL);
    expect_service_refused(CL_ROLE_FACTORY_TERMINAL, "line-1.test", "");
    expect_service_refused(CL_ROLE_FACTORY_TERMINAL, "line-1.test", "10/01");
    expect_service_refused(CL_ROLE_DEVICE_COMMON, "3012 common", NULL);
    expect_service_refused(CL_ROLE_DEVICE_COMMON, "3012,OU=ca-server", "3012");
    expect_service_refused(CL_ROLE_DEVICE_COMMON, " 3012", "3012");
    assert_int_equal(cl_issue_service(signer, CL_ROLE_CA_SERVER, "ca.test", NULL, now, 0, &svc),
                     CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_service(NULL, CL_ROLE_CA_SERVER, "ca.test", NULL, now, 1, &svc),
                     CL_ERR_INVALID_ARGUMENT);
    /* a 64-character DNS name is the longest allowed */
    memset(long_name, 'c', 59);
    strcpy(long_name + 59, ".test");
    assert_int_equal(strlen(long_name), 64);
    assert_int_equal(cl_issue_service(signer, CL_ROLE_CA_SERVER, long_name, NULL, now, 1, &svc),
                     CL_OK);
    cl_issued_free(&svc);
}

static void test_ca_pair_refusals(void **state)
{
    struct cl_issued r, i;
    (void)state;
    assert_int_equal(cl_issue_ca_pair("", now, 10, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair(NULL, now, 10, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair("a+b", now, 10, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair(ORG, now, 0, 10, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_int_equal(cl_issue_ca_pair(ORG, now, 10, 36501, &r, &i), CL_ERR_INVALID_ARGUMENT);
    assert_null(r.cert_der);
    assert_null(i.key_der);
    assert_int_equal(cl_issue_ca_pair(ORG, now, 10, 10, NULL, &i), CL_ERR_INVALID_ARGUMENT);
}

static void test_der_to_pem(void **state)
{
    mbedtls_x509_crt crt;
    char *pem = NULL;
    (void)state;

    assert_int_equal(cl_cert_der_to_pem(root.cert_der, root.cert_len, &pem), CL_OK);
    assert_true(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    assert_non_null(strstr(pem, "-----END CERTIFICATE-----\n"));
    mbedtls_x509_crt_init(&crt);
    assert_int_equal(mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1), 0);
    assert_int_equal(crt.raw.len, root.cert_len);
    assert_memory_equal(crt.raw.p, root.cert_der, root.cert_len);
    mbedtls_x509_crt_free(&crt);
    free(pem);
    assert_int_equal(cl_cert_der_to_pem(NULL, 10, &pem), CL_ERR_INVALID_ARGUMENT);
    assert_null(pem);
    assert_int_equal(cl_cert_der_to_pem(root.cert_der, 0, &pem), CL_ERR_INVALID_ARGUMENT);
}

/* ---- the certificate writer against mbedTLS's own ---- */

#define WRITER_BUF 8192

/* A context with a small certificate profile: issuer_key signs, subject_key is certified. */
static void writer_ctx(mbedtls_x509write_cert *ctx, mbedtls_mpi *serial,
                       mbedtls_pk_context *issuer_key, mbedtls_pk_context *subject_key,
                       const char *from, const char *to)
{
    mbedtls_x509write_crt_init(ctx);
    mbedtls_mpi_init(serial);
    mbedtls_x509write_crt_set_version(ctx, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(ctx, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(ctx, subject_key);
    mbedtls_x509write_crt_set_issuer_key(ctx, issuer_key);
    assert_int_equal(mbedtls_mpi_read_string(serial, 16, "7F0102030405060708090A0B0C0D0E0F"), 0);
    assert_int_equal(mbedtls_x509write_crt_set_serial(ctx, serial), 0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_name(ctx, "CN=subject,O=" ORG), 0);
    assert_int_equal(mbedtls_x509write_crt_set_issuer_name(ctx, "CN=issuer,O=" ORG), 0);
    assert_int_equal(mbedtls_x509write_crt_set_validity(ctx, from, to), 0);
    assert_int_equal(mbedtls_x509write_crt_set_basic_constraints(ctx, 0, -1), 0);
    assert_int_equal(mbedtls_x509write_crt_set_key_usage(ctx, MBEDTLS_X509_KU_DIGITAL_SIGNATURE),
                     0);
    assert_int_equal(mbedtls_x509write_crt_set_subject_key_identifier(ctx), 0);
}

/* The certificate at the end of buf (n octets) parses and its signature verifies with key. */
static void assert_signed_by(const unsigned char *buf, int n, mbedtls_pk_context *key)
{
    mbedtls_x509_crt crt;
    unsigned char hash[32];

    assert_true(n > 0);
    parse_der(&crt, buf + WRITER_BUF - n, (size_t)n);
    assert_int_equal(mbedtls_sha256_ret(crt.tbs.p, crt.tbs.len, hash, 0), 0);
    assert_int_equal(
        mbedtls_pk_verify(key, MBEDTLS_MD_SHA256, hash, sizeof(hash), crt.sig.p, crt.sig.len), 0);
    mbedtls_x509_crt_free(&crt);
}

/* cl_x509write_crt_der and mbedtls_x509write_crt_der from one context: the TBSCertificates are
 * byte for byte the same but for the signature AlgorithmIdentifier, which only 2.28 gives a
 * NULL for ECDSA; with an RSA issuer key they are the same throughout. Both signatures verify. */
static void compare_writers(mbedtls_pk_context *issuer_key, mbedtls_pk_context *subject_key)
{
    static const unsigned char ECDSA_SHA256_NULL[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                                      0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
    unsigned char *ours = malloc(WRITER_BUF), *theirs = malloc(WRITER_BUF);
    int rsa = mbedtls_pk_can_do(issuer_key, MBEDTLS_PK_RSA), n_ours, n_theirs;
    mbedtls_x509write_cert ctx;
    mbedtls_mpi serial;
    struct cert_parts a, b;

    assert_non_null(ours);
    assert_non_null(theirs);
    /* UTCTime and, from 2050, GeneralizedTime */
    writer_ctx(&ctx, &serial, issuer_key, subject_key, "20250101000000", "20991231235959");
    n_ours = cl_x509write_crt_der(&ctx, ours, WRITER_BUF, cl_rng, NULL);
    n_theirs = mbedtls_x509write_crt_der(&ctx, theirs, WRITER_BUF, cl_rng, NULL);
    assert_signed_by(ours, n_ours, issuer_key);
    assert_signed_by(theirs, n_theirs, issuer_key);
    split_cert(ours + WRITER_BUF - n_ours, (size_t)n_ours, &a);
    split_cert(theirs + WRITER_BUF - n_theirs, (size_t)n_theirs, &b);
    assert_int_equal(a.version_serial_len, b.version_serial_len);
    assert_memory_equal(a.version_serial, b.version_serial, a.version_serial_len);
    assert_int_equal(a.tbs_rest_len, b.tbs_rest_len);
    assert_memory_equal(a.tbs_rest, b.tbs_rest, a.tbs_rest_len);
    if (rsa) {
        assert_sig_alg(ours + WRITER_BUF - n_ours, (size_t)n_ours, RSA_SHA256, sizeof(RSA_SHA256));
        assert_int_equal(a.tbs_len, b.tbs_len);
        assert_memory_equal(a.tbs, b.tbs, a.tbs_len);
    } else {
        ASSERT_ECDSA_SHA256(ours + WRITER_BUF - n_ours, (size_t)n_ours);
        assert_sig_alg(theirs + WRITER_BUF - n_theirs, (size_t)n_theirs, ECDSA_SHA256_NULL,
                       sizeof(ECDSA_SHA256_NULL));
    }
    /* too little room for the TBSCertificate, or for the signature after it */
    assert_int_equal(cl_x509write_crt_der(&ctx, ours, 100, cl_rng, NULL),
                     MBEDTLS_ERR_ASN1_BUF_TOO_SMALL);
    assert_int_equal(cl_x509write_crt_der(&ctx, ours, a.tbs_len + 8, cl_rng, NULL),
                     MBEDTLS_ERR_ASN1_BUF_TOO_SMALL);
    mbedtls_x509write_crt_free(&ctx);
    mbedtls_mpi_free(&serial);
    free(ours);
    free(theirs);
}

static void test_der_writer(void **state)
{
    /* Validity 1990..2000: UTCTime, as RFC 5280 wants up to 2049 (2.28 writes GeneralizedTime
     * before 2000); the TBS from the issuer on is: issuer Name, then this Validity. */
    static const unsigned char validity_1990[] = {
        0x30, 0x1e, 0x17, 0x0d, '9', '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0',
        'Z',  0x17, 0x0d, '0',  '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z'};
    mbedtls_pk_context ec_key, subject_key, rsa_key;
    unsigned char *buf = malloc(WRITER_BUF), *p;
    mbedtls_x509write_cert ctx;
    mbedtls_mpi serial;
    mbedtls_x509_crt crt;
    struct cert_parts parts;
    int n;
    (void)state;

    assert_non_null(buf);
    mbedtls_pk_init(&ec_key);
    mbedtls_pk_init(&subject_key);
    mbedtls_pk_init(&rsa_key);
    assert_int_equal(mbedtls_pk_parse_key(&ec_key, issuing.key_der, issuing.key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_parse_key(&subject_key, root.key_der, root.key_len, NULL, 0), 0);
    assert_int_equal(mbedtls_pk_setup(&rsa_key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
    assert_int_equal(mbedtls_rsa_gen_key(mbedtls_pk_rsa(rsa_key), cl_rng, NULL, 1024, 65537), 0);

    compare_writers(&ec_key, &subject_key);
    compare_writers(&rsa_key, &subject_key);
    compare_writers(&ec_key, &rsa_key);

    writer_ctx(&ctx, &serial, &ec_key, &subject_key, "19900101000000", "20000101000000");
    n = cl_x509write_crt_der(&ctx, buf, WRITER_BUF, cl_rng, NULL);
    assert_signed_by(buf, n, &ec_key);
    split_cert(buf + WRITER_BUF - n, (size_t)n, &parts);
    p = parts.tbs_rest;
    (void)skip_element(&p, parts.tbs_rest + parts.tbs_rest_len,
                       MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    assert_memory_equal(p, validity_1990, sizeof(validity_1990));
    parse_der(&crt, buf + WRITER_BUF - n, (size_t)n);
    assert_int_equal(crt.valid_from.year, 1990);
    assert_int_equal(crt.valid_to.year, 2000);
    mbedtls_x509_crt_free(&crt);
    mbedtls_x509write_crt_free(&ctx);
    mbedtls_mpi_free(&serial);

    mbedtls_pk_free(&ec_key);
    mbedtls_pk_free(&subject_key);
    mbedtls_pk_free(&rsa_key);
    free(buf);
}

/* ---- concurrency and rate ---- */

struct worker {
    int first, count;
    struct cl_issued *issued;
    char (*serials)[CL_SERIAL_HEX_MAX + 1];
    int failures;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char number[32];

    for (int i = 0; i < w->count; i++) {
        int n = w->first + i;
        snprintf(number, sizeof(number), "3012-%06d", n);
        if (cl_serial_random(w->serials[n]) != CL_OK ||
            cl_issue_device(signer, number, MODEL, CL_KEY_P256, w->serials[n], now, 365,
                            &w->issued[n]) != CL_OK ||
            strcmp(w->issued[n].serial_hex, w->serials[n]) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_threads_and_rate(void **state)
{
    enum { ONE = 500, EACH = 300, TOTAL = ONE + 2 * EACH };
    struct cl_issued *issued = calloc(TOTAL, sizeof(*issued));
    char(*serials)[CL_SERIAL_HEX_MAX + 1] = calloc(TOTAL, sizeof(*serials));
    struct worker one = {0, ONE, issued, serials, 0};
    struct worker two[2] = {{ONE, EACH, issued, serials, 0},
                            {ONE + EACH, EACH, issued, serials, 0}};
    pthread_t threads[2];
    struct timespec t0;
    double t;
    (void)state;

    assert_non_null(issued);
    assert_non_null(serials);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    worker_main(&one);
    t = seconds_since(&t0);
    assert_int_equal(one.failures, 0);
    printf("[ RATE     ] P-256 device issuance, 1 thread:  %d in %.3f s = %.0f/s\n", ONE, t,
           ONE / t);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &two[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    t = seconds_since(&t0);
    assert_int_equal(two[0].failures + two[1].failures, 0);
    printf("[ RATE     ] P-256 device issuance, 2 threads: %d in %.3f s = %.0f/s\n", 2 * EACH, t,
           2 * EACH / t);

    /* every certificate from the concurrent run is well-formed, for its device, and chains;
     * every key matches its certificate */
    for (int n = ONE; n < TOTAL; n++) {
        mbedtls_x509_crt crt;
        char cn[32];
        parse_der(&crt, issued[n].cert_der, issued[n].cert_len);
        snprintf(cn, sizeof(cn), "3012-%06d", n);
        assert_int_equal(crt.subject.val.len, strlen(cn));
        assert_memory_equal(crt.subject.val.p, cn, strlen(cn));
        assert_serial(&crt, serials[n], 16);
        assert_key_pair(&issued[n], &crt, MBEDTLS_PK_ECKEY, 256);
        mbedtls_x509_crt_free(&crt);
        assert_chains(&issued[n]);
    }
    /* serials unique over all issuances */
    qsort(serials, TOTAL, sizeof(*serials), cmp_serial);
    for (int n = 1; n < TOTAL; n++)
        assert_string_not_equal(serials[n - 1], serials[n]);
    for (int n = 0; n < TOTAL; n++)
        cl_issued_free(&issued[n]);
    free(issued);
    free(serials);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_type_names),
        cmocka_unit_test(test_serial_random),
        cmocka_unit_test(test_input_rules),
        cmocka_unit_test(test_ca_pair_profile),
        cmocka_unit_test(test_device_p256_profile),
        cmocka_unit_test(test_device_rsa2048),
        cmocka_unit_test(test_service_profiles),
        cmocka_unit_test(test_openssl_cli),
        cmocka_unit_test(test_signer_from_openssl_ca),
        cmocka_unit_test(test_rng_fork),
        cmocka_unit_test(test_signer_refusals),
        cmocka_unit_test(test_device_refusals),
        cmocka_unit_test(test_service_refusals),
        cmocka_unit_test(test_ca_pair_refusals),
        cmocka_unit_test(test_der_to_pem),
        cmocka_unit_test(test_der_writer),
        cmocka_unit_test(test_threads_and_rate),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
