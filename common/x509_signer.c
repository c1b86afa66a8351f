/* x509_signer.c: the signer object (the issuing CA's certificate and key, loaded once and shared
 * by threads) and the validity of certificates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "log.h"
#include "x509_issue.h"
#include "x509_issue_internal.h"

/* ---- the signer ---- */

/* An X.509 time (UTC) as seconds since 1970; -1 if it is not a valid time after 1970. */
static time_t x509_time_unix(const mbedtls_x509_time *t)
{
    struct tm tm = {0};
    time_t out;

    if (t->year < 1970 || t->year > 9999 || t->mon < 1 || t->mon > 12 || t->day < 1 ||
        t->day > 31 || t->hour < 0 || t->hour > 23 || t->min < 0 || t->min > 59 || t->sec < 0 ||
        t->sec > 60)
        return -1;
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    out = timegm(&tm);
    return out < 0 ? -1 : out;
}

int cl_cert_validity(const unsigned char *cert, size_t len, time_t *not_before, time_t *not_after)
{
    mbedtls_x509_crt crt;
    int rc = CL_ERR_PARSE;

    if (cert == NULL || len == 0 || not_before == NULL || not_after == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, cert, len) == 0) {
        *not_before = x509_time_unix(&crt.valid_from);
        *not_after = x509_time_unix(&crt.valid_to);
        if (*not_before >= 0 && *not_after >= 0)
            rc = CL_OK;
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

static int sign_hash(mbedtls_pk_context *key, const unsigned char hash[32],
                     unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], size_t *sig_len)
{
    return mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, 32, sig, sig_len, cl_rng, NULL) == 0
               ? CL_OK
               : CL_ERR_CRYPTO;
}

/* Moves the parsed CA key into signer->key in a context of its own type: an EC key becomes
 * MBEDTLS_PK_ECDSA (signing then works on it directly, with the table it keeps). */
static int adopt_key(struct cl_signer *s, mbedtls_pk_context *parsed, char *err, size_t errlen)
{
    switch (mbedtls_pk_get_type(parsed)) {
    case MBEDTLS_PK_ECKEY:
    case MBEDTLS_PK_ECDSA:
        if (mbedtls_pk_setup(&s->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECDSA)) != 0 ||
            mbedtls_ecdsa_from_keypair(mbedtls_pk_ec(s->key), mbedtls_pk_ec(*parsed)) != 0) {
            snprintf(err, errlen, "cannot set up the CA key");
            return CL_ERR_NOMEM;
        }
        return CL_OK;
    case MBEDTLS_PK_RSA:
        s->key = *parsed; /* the context is a pointer pair: ownership moves */
        mbedtls_pk_init(parsed);
        return CL_OK;
    default:
        snprintf(err, errlen, "the CA key is neither EC nor RSA");
        return CL_ERR_INVALID_ARGUMENT;
    }
}

/* Both constructors: the key from DER (held NULL) or moved from *held. */
static int signer_build(const unsigned char *ca_cert, size_t ca_cert_len,
                        const unsigned char *ca_key_der, size_t ca_key_len,
                        mbedtls_pk_context *held, const char *organisation, struct cl_signer **out,
                        char *err, size_t errlen)
{
    static const unsigned char probe[32] = "certline signer self-test";
    struct cl_signer *s = NULL;
    mbedtls_pk_context parsed;
    unsigned char *cert_copy = NULL, sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len = 0;
    char dummy[8];
    int rc, ret;

    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (out == NULL) {
        snprintf(err, errlen, "no place for the signer");
        return CL_ERR_INVALID_ARGUMENT;
    }
    *out = NULL;
    if (ca_cert == NULL || ca_cert_len == 0 || ca_cert_len > CA_CERT_INPUT_MAX) {
        snprintf(err, errlen, "the CA certificate is missing or longer than %d bytes",
                 CA_CERT_INPUT_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (held == NULL && (ca_key_der == NULL || ca_key_len == 0 || ca_key_len > CA_KEY_INPUT_MAX)) {
        snprintf(err, errlen, "the CA key is missing or longer than %d bytes", CA_KEY_INPUT_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_x509i_valid_text(organisation, ORGANISATION_MAX)) {
        snprintf(err, errlen,
                 "organisation must be 1 to %d printable characters without , + = \" \\ < > ; #",
                 ORGANISATION_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    mbedtls_x509_crt_init(&s->cert);
    mbedtls_pk_init(&s->key);
    mbedtls_pk_init(&parsed);
    strcpy(s->organisation, organisation);

    /* PEM must reach mbedTLS NUL-terminated, its NUL counted in the length; DER starts with a
     * SEQUENCE tag, anything else is taken as text. */
    if (ca_cert[ca_cert_len - 1] != '\0' && ca_cert[0] != 0x30) {
        if ((cert_copy = malloc(ca_cert_len + 1)) == NULL) {
            rc = CL_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(cert_copy, ca_cert, ca_cert_len);
        cert_copy[ca_cert_len] = '\0';
        ret = mbedtls_x509_crt_parse(&s->cert, cert_copy, ca_cert_len + 1);
    } else {
        ret = mbedtls_x509_crt_parse(&s->cert, ca_cert, ca_cert_len);
    }
    free(cert_copy);
    if (ret != 0 || s->cert.raw.p == NULL) {
        snprintf(err, errlen, "the CA certificate does not parse (mbedTLS -0x%04x)",
                 (unsigned)(ret < 0 ? -ret : 0));
        rc = CL_ERR_PARSE;
        goto fail;
    }
    if (!s->cert.ca_istrue ||
        mbedtls_x509_crt_check_key_usage(&s->cert, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
        snprintf(err, errlen,
                 "the CA certificate is not a CA (basicConstraints cA and keyUsage "
                 "keyCertSign are required)");
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    s->not_before = x509_time_unix(&s->cert.valid_from);
    s->not_after = x509_time_unix(&s->cert.valid_to);
    if (s->not_before < 0 || s->not_after <= s->not_before) {
        snprintf(err, errlen, "the CA certificate's validity is not a period after 1970");
        rc = CL_ERR_INVALID_ARGUMENT;
        goto fail;
    }
    if (mbedtls_x509_time_is_future(&s->cert.valid_from))
        cl_log_warn("the CA certificate is not valid yet: certificates it issues will not verify "
                    "until it is");
    if (mbedtls_x509_time_is_past(&s->cert.valid_to))
        cl_log_warn("the CA certificate has expired: it issues nothing more");
    if (held != NULL) {
        s->key = *held; /* a pointer pair: ownership moves; the self-test below proves it */
        mbedtls_pk_init(held);
    } else if (mbedtls_pk_parse_key(&parsed, ca_key_der, ca_key_len, NULL, 0) != 0) {
        snprintf(err, errlen, "the CA private key does not parse");
        rc = CL_ERR_PARSE;
        goto fail;
    } else if (mbedtls_pk_check_pair(&s->cert.pk, &parsed) != 0) {
        snprintf(err, errlen, "the CA private key does not belong to the CA certificate");
        rc = CL_ERR_CRYPTO;
        goto fail;
    } else if ((rc = adopt_key(s, &parsed, err, errlen)) != CL_OK) {
        goto fail;
    }
    if ((rc = cl_x509i_copy_name(&s->cert.subject, &s->name, err, errlen)) != CL_OK)
        goto fail;
    if ((rc = cl_x509i_ca_key_identifier(&s->cert, s->key_id, &s->key_id_len)) != CL_OK) {
        snprintf(err, errlen, "cannot compute the CA key identifier");
        goto fail;
    }
    /* One signature now builds the key's fixed-point table before threads share it; checking
     * it against the certificate proves the adopted key. The shared P-256 group is prepared
     * here too. */
    if (sign_hash(&s->key, probe, sig, &sig_len) != CL_OK ||
        mbedtls_pk_verify(&s->cert.pk, MBEDTLS_MD_SHA256, probe, sizeof(probe), sig, sig_len) !=
            0 ||
        cl_x509i_p256_get() != CL_OK) {
        snprintf(err, errlen, "the CA key failed its self-test signature%s",
                 held != NULL ? " (is it the key of the CA certificate?)" : "");
        rc = CL_ERR_CRYPTO;
        goto fail;
    }
    mbedtls_pk_free(&parsed);
    *out = s;
    return CL_OK;
fail:
    mbedtls_pk_free(&parsed);
    cl_signer_free(s);
    return rc;
}

int cl_signer_new(const unsigned char *ca_cert, size_t ca_cert_len, const unsigned char *ca_key_der,
                  size_t ca_key_len, const char *organisation, struct cl_signer **out, char *err,
                  size_t errlen)
{
    return signer_build(ca_cert, ca_cert_len, ca_key_der, ca_key_len, NULL, organisation, out, err,
                        errlen);
}

int cl_signer_new_with_key(const unsigned char *ca_cert, size_t ca_cert_len,
                           mbedtls_pk_context *key, const char *organisation,
                           struct cl_signer **out, char *err, size_t errlen)
{
    if (key == NULL || mbedtls_pk_get_type(key) == MBEDTLS_PK_NONE) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "no CA key");
        if (out != NULL)
            *out = NULL;
        return CL_ERR_INVALID_ARGUMENT;
    }
    return signer_build(ca_cert, ca_cert_len, NULL, 0, key, organisation, out, err, errlen);
}

void cl_signer_free(struct cl_signer *signer)
{
    if (signer == NULL)
        return;
    mbedtls_x509_crt_free(&signer->cert);
    mbedtls_pk_free(&signer->key);
    mbedtls_asn1_free_named_data_list(&signer->name);
    mbedtls_platform_zeroize(signer, sizeof(*signer));
    free(signer);
}

time_t cl_signer_not_after(const struct cl_signer *signer)
{
    return signer != NULL ? signer->not_after : 0;
}

const unsigned char *cl_signer_cert_der(const struct cl_signer *signer, size_t *len)
{
    if (signer == NULL) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = signer->cert.raw.len;
    return signer->cert.raw.p;
}

int cl_signer_sign(struct cl_signer *signer, const unsigned char *data, size_t len,
                   unsigned char sig[CL_SIGNATURE_MAX], size_t *sig_len)
{
    unsigned char hash[32], buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t n = 0;
    int rc;

    if (signer == NULL || (data == NULL && len > 0) || sig == NULL || sig_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    *sig_len = 0;
    if (mbedtls_sha256_ret(data, len, hash, 0) != 0)
        return CL_ERR_CRYPTO;
    rc = sign_hash(&signer->key, hash, buf, &n);
    if (rc == CL_OK && n > CL_SIGNATURE_MAX)
        rc = CL_ERR_CRYPTO;
    if (rc == CL_OK) {
        memcpy(sig, buf, n);
        *sig_len = n;
    }
    return rc;
}

struct issuer cl_x509i_signer_issuer(struct cl_signer *s)
{
    return (struct issuer){&s->key, s->name, s->key_id, s->key_id_len};
}

/* Nests pr's validity in the signer's; refuses (CL_ERR_STATE, logged) once the signer has
 * ended: nothing it signed from not_before on could be valid. */
int cl_x509i_nest_in_signer(const struct cl_signer *s, struct profile *pr, const char *what,
                            const char *name)
{
    char end[32];
    struct tm tm;

    pr->issuer_not_before = s->not_before;
    pr->issuer_not_after = s->not_after;
    if (pr->not_before < s->not_after && s->not_before < s->not_after)
        return CL_OK;
    gmtime_r(&s->not_after, &tm);
    strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", &tm);
    cl_log_warn("%s certificate for %s refused: the CA that would sign it ended at %s", what, name,
                end);
    return CL_ERR_STATE;
}

int cl_key_identifier(const mbedtls_pk_context *key, unsigned char id[CL_KEY_ID_LEN])
{
    return key != NULL && id != NULL ? cl_x509i_key_identifier(key, id) : CL_ERR_INVALID_ARGUMENT;
}

int cl_cert_key_identifier(const unsigned char *cert, size_t len, unsigned char id[64],
                           size_t *id_len)
{
    mbedtls_x509_crt crt;
    int rc = CL_ERR_PARSE;

    if (cert == NULL || len == 0 || id == NULL || id_len == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, cert, len) == 0)
        rc = cl_x509i_ca_key_identifier(&crt, id, id_len);
    mbedtls_x509_crt_free(&crt);
    return rc;
}
