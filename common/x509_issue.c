/* x509_issue.c: the public cl_issue_* entry points and what each certificate certline issues
 * contains (device, device-common, service, issuing CA, root), with the input rules. */
#include "x509_issue.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "error.h"
#include "log.h"
#include "x509_issue_internal.h"

/* ---- input rules ---- */

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* 1..max characters of [0-9A-Za-z.-], the first a letter or digit (PrintableString-safe). */
static int valid_code(const char *s, size_t max)
{
    size_t n;

    if (s == NULL || !is_alnum(s[0]))
        return 0;
    for (n = 0; s[n] != '\0'; n++)
        if (n >= max || !(is_alnum(s[n]) || s[n] == '-' || s[n] == '.'))
            return 0;
    return 1;
}

int cl_device_number_valid(const char *device_number)
{
    return valid_code(device_number, DEVICE_NUMBER_MAX);
}

int cl_model_code_valid(const char *model_code)
{
    return valid_code(model_code, MODEL_CODE_MAX);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cl_serial_hex_valid(const char *serial_hex)
{
    size_t n;

    if (serial_hex == NULL)
        return 0;
    for (n = 0; serial_hex[n] != '\0'; n++)
        if (n >= CL_SERIAL_HEX_MAX || hex_value(serial_hex[n]) < 0)
            return 0;
    return n >= 2 && n % 2 == 0 && !(serial_hex[0] == '0' && serial_hex[1] == '0');
}

/* A DNS name of at most NAME_MAX_LEN characters: labels of 1..63 [A-Za-z0-9-], not starting or
 * ending with '-', separated by single dots, no trailing dot. */
static int valid_dns_name(const char *s)
{
    size_t n = 0, label = 0;

    if (s == NULL)
        return 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= NAME_MAX_LEN)
            return 0;
        if (c == '.') {
            if (label == 0 || s[n - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alnum(c) || c == '-') {
            if (c == '-' && label == 0)
                return 0;
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return n > 0 && label > 0 && s[n - 1] != '-';
}

/* Printable ASCII text of 1..max characters without leading or trailing space, and without the
 * characters that have a meaning in textual DNs (, + = " \ < > ; #), for names that are not DNS
 * names (organisation, a common certificate's CN). */
int cl_x509i_valid_text(const char *s, size_t max)
{
    size_t n;

    if (s == NULL || s[0] == ' ')
        return 0;
    for (n = 0; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= max || c < 0x20 || c > 0x7e || strchr(",+=\"\\<>;#", c) != NULL)
            return 0;
    }
    return n > 0 && s[n - 1] != ' ';
}

static int valid_days(int days)
{
    return days >= 1 && days <= VALIDITY_DAYS_MAX;
}

/* Decodes a serial for issuing: cl_serial_hex_valid, at least min_octets, positive (first
 * octet below 0x80, so that the DER INTEGER needs no sign octet and stays within 20 octets). */
static int decode_serial(const char *hex, size_t min_octets, unsigned char *out, size_t *len)
{
    size_t n;

    if (!cl_serial_hex_valid(hex))
        return CL_ERR_INVALID_ARGUMENT;
    n = strlen(hex) / 2;
    if (n < min_octets || hex_value(hex[0]) >= 8)
        return CL_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    *len = n;
    return CL_OK;
}

/* ---- issuing ---- */

/* Empties out for an issuing call; CL_ERR_INVALID_ARGUMENT if out or the signer is missing. */
static int clear_output(const struct cl_signer *signer, struct cl_issued *out)
{
    if (out == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof(*out));
    return signer == NULL ? CL_ERR_INVALID_ARGUMENT : CL_OK;
}

/* A new key of type and its certificate by pr, named by attrs, validity nested in the signer's,
 * signed by it, into out. what and name say which certificate in the log. */
static int issue_under_signer(struct cl_signer *signer, enum cl_key_type type, struct profile *pr,
                              const struct name_attr *attrs, size_t attr_count, const char *what,
                              const char *name, struct cl_issued *out)
{
    struct issuer is;
    int rc;

    if ((rc = cl_x509i_nest_in_signer(signer, pr, what, name)) != CL_OK)
        return rc;
    if ((rc = cl_x509i_build_name(attrs, attr_count, &pr->subject)) != CL_OK)
        return rc;
    is = cl_x509i_signer_issuer(signer);
    rc = cl_x509i_issue(type, pr, &is, out);
    mbedtls_asn1_free_named_data_list(&pr->subject);
    if (rc != CL_OK)
        cl_log_warn("%s certificate for %s failed: %s", what, name, cl_err_str(rc));
    return rc;
}

/* The public key is of key_type (P-256, or RSA of its size). */
static int key_is_type(const mbedtls_pk_context *key, enum cl_key_type type)
{
    if (type == CL_KEY_P256) {
        const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(*key); /* NULL unless an EC key */
        return ec != NULL && ec->grp.id == MBEDTLS_ECP_DP_SECP256R1;
    }
    return mbedtls_pk_get_type(key) == MBEDTLS_PK_RSA &&
           mbedtls_pk_get_bitlen(key) == (type == CL_KEY_RSA2048 ? 2048u : 3072u);
}

/* issue_under_signer for a key held elsewhere (its public key): the certificate only. */
static int issue_for_key(struct cl_signer *signer, const mbedtls_pk_context *public_key,
                         struct profile *pr, const struct name_attr *attrs, size_t attr_count,
                         const char *name, struct cl_issued *out)
{
    struct issuer is;
    int rc;

    if ((rc = cl_x509i_nest_in_signer(signer, pr, "device", name)) != CL_OK)
        return rc;
    if ((rc = cl_x509i_build_name(attrs, attr_count, &pr->subject)) != CL_OK)
        return rc;
    is = cl_x509i_signer_issuer(signer);
    rc = cl_x509i_write_cert(pr, (mbedtls_pk_context *)(uintptr_t)public_key, &is, &out->cert_der,
                             &out->cert_len);
    mbedtls_asn1_free_named_data_list(&pr->subject);
    if (rc == CL_OK)
        cl_x509i_to_hex_upper(pr->serial, pr->serial_len, out->serial_hex);
    else
        cl_log_warn("device certificate for %s failed: %s", name, cl_err_str(rc));
    return rc;
}

int cl_issue_device(struct cl_signer *signer, const char *device_number, const char *model_code,
                    enum cl_key_type key_type, const char *serial_hex, time_t not_before,
                    int validity_days, struct cl_issued *out)
{
    return cl_issue_device_key(signer, device_number, model_code, key_type, NULL, serial_hex,
                               not_before, validity_days, out);
}

int cl_issue_device_key(struct cl_signer *signer, const char *device_number, const char *model_code,
                        enum cl_key_type key_type, const mbedtls_pk_context *public_key,
                        const char *serial_hex, time_t not_before, int validity_days,
                        struct cl_issued *out)
{
    unsigned char serial[CL_SERIAL_HEX_MAX / 2];
    size_t serial_len = 0;
    struct profile pr;
    enum cl_key_type parsed;

    if (clear_output(signer, out) != CL_OK)
        return CL_ERR_INVALID_ARGUMENT;
    if (!cl_device_number_valid(device_number)) {
        cl_log_warn("device certificate refused: the device number is not 1 to %d characters "
                    "0-9 A-Z a-z . -",
                    DEVICE_NUMBER_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!cl_model_code_valid(model_code)) {
        cl_log_warn("device certificate for %s refused: the model code is not 1 to %d "
                    "characters 0-9 A-Z a-z . -",
                    device_number, MODEL_CODE_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (cl_key_type_parse(cl_key_type_name(key_type), &parsed) != CL_OK) {
        cl_log_warn("device certificate for %s refused: unknown key type %d", device_number,
                    (int)key_type);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (decode_serial(serial_hex, DEVICE_SERIAL_MIN_OCTETS, serial, &serial_len) != CL_OK) {
        cl_log_warn("device certificate for %s refused: the serial must be %d to %d upper-case "
                    "hex octets, positive, without a leading 00",
                    device_number, DEVICE_SERIAL_MIN_OCTETS, CL_SERIAL_HEX_MAX / 2);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_days(validity_days) || not_before < 0) {
        cl_log_warn("device certificate for %s refused: validity must be 1 to %d days from a "
                    "time after 1970",
                    device_number, VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (public_key != NULL && !key_is_type(public_key, key_type)) {
        cl_log_warn("device certificate for %s refused: the key is not of type %s", device_number,
                    cl_key_type_name(key_type));
        return CL_ERR_INVALID_ARGUMENT;
    }
    const struct name_attr attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, device_number),
        ATTR(MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_ASN1_PRINTABLE_STRING, device_number),
        ATTR(MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_ASN1_UTF8_STRING, cl_role_name(CL_ROLE_DEVICE)),
        ATTR(MBEDTLS_OID_AT_TITLE, MBEDTLS_ASN1_UTF8_STRING, model_code),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, signer->organisation),
    };
    pr = (struct profile){
        .serial = serial,
        .serial_len = serial_len,
        .not_before = not_before,
        .days = validity_days,
        .key_usage = key_type == CL_KEY_P256
                         ? MBEDTLS_X509_KU_DIGITAL_SIGNATURE
                         : MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_ENCIPHERMENT,
        .eku = EKU_CLIENT,
    };
    if (public_key != NULL)
        return issue_for_key(signer, public_key, &pr, attrs, sizeof(attrs) / sizeof(attrs[0]),
                             device_number, out);
    return issue_under_signer(signer, key_type, &pr, attrs, sizeof(attrs) / sizeof(attrs[0]),
                              "device", device_number, out);
}

int cl_issue_service(struct cl_signer *signer, enum cl_role role, const char *name,
                     const char *number, time_t not_before, int validity_days,
                     struct cl_issued *out)
{
    unsigned char serial[SERIAL_RANDOM_OCTETS];
    int server = role == CL_ROLE_CA_SERVER || role == CL_ROLE_COMM_TERMINAL ||
                 role == CL_ROLE_FACTORY_TERMINAL;
    int needs_number = role == CL_ROLE_FACTORY_TERMINAL || role == CL_ROLE_DEVICE_COMMON;
    struct profile pr;

    if (clear_output(signer, out) != CL_OK)
        return CL_ERR_INVALID_ARGUMENT;
    if (!server && role != CL_ROLE_DEVICE_COMMON && role != CL_ROLE_PRODUCTION) {
        cl_log_warn("service certificate refused: role %s is not ca-server, comm-terminal, "
                    "factory-terminal, device-common or production",
                    cl_role_name(role));
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (server ? !valid_dns_name(name) : !cl_x509i_valid_text(name, NAME_MAX_LEN)) {
        cl_log_warn("%s certificate refused: the name must be %s of at most %d characters",
                    cl_role_name(role), server ? "a DNS name" : "printable text", NAME_MAX_LEN);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (number != NULL && number[0] == '\0')
        number = NULL;
    if ((number == NULL && needs_number) ||
        (number != NULL && !valid_code(number, NUMBER_MAX_LEN))) {
        cl_log_warn("%s certificate for %s refused: %s", cl_role_name(role), name,
                    number == NULL ? "the number (line id or model code) is required"
                                   : "the number must be 1 to 32 characters 0-9 A-Z a-z . -");
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_days(validity_days) || not_before < 0) {
        cl_log_warn("%s certificate for %s refused: validity must be 1 to %d days from a time "
                    "after 1970",
                    cl_role_name(role), name, VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (cl_x509i_random_serial(serial) != CL_OK)
        return CL_ERR_CRYPTO;
    const struct name_attr attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, name),
        ATTR(MBEDTLS_OID_AT_ORG_UNIT, MBEDTLS_ASN1_UTF8_STRING, cl_role_name(role)),
        ATTR(MBEDTLS_OID_AT_SERIAL_NUMBER, MBEDTLS_ASN1_PRINTABLE_STRING, number),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, signer->organisation),
    };
    pr = (struct profile){
        .serial = serial,
        .serial_len = sizeof(serial),
        .not_before = not_before,
        .days = validity_days,
        .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE,
        /* A device serves its writing interface to the factory terminal with its model's common
         * certificate, so device-common is a server too (but has no DNS name). The production
         * management system only calls. */
        .eku = role == CL_ROLE_PRODUCTION ? EKU_CLIENT : EKU_SERVER | EKU_CLIENT,
        .san_dns = server ? name : NULL,
    };
    return issue_under_signer(signer, CL_KEY_P256, &pr, attrs, sizeof(attrs) / sizeof(attrs[0]),
                              cl_role_name(role), name, out);
}

/* A CA certificate "CN=certline <kind> CA <tag>, O=<organisation>" by the validity and pathlen in
 * pr, into out; signed by is, or self-signed if is is NULL. With ext NULL, a new P-256 key is
 * made into key (initialised by the caller) and exported into out; with ext, the certificate is
 * for ext->public_key (ext->sign signs it when self-signed) and out has no key. The name (*name,
 * NULL before) stays with the caller, who frees it and key. */
static int issue_ca(const char *organisation, const char *kind, struct profile pr,
                    const struct issuer *is, const struct cl_ca_key *ext, mbedtls_pk_context *key,
                    mbedtls_asn1_named_data **name, struct cl_issued *out)
{
    unsigned char serial[SERIAL_RANDOM_OCTETS];
    char cn[48], hex[9];
    struct issuer self;
    int rc;

    if (cl_x509i_random_serial(serial) != CL_OK)
        return CL_ERR_CRYPTO;
    /* A generation tag in the CN (from the serial) tells CAs made again, or rolled over, apart
     * by name. */
    cl_x509i_to_hex_upper(serial, 4, hex);
    snprintf(cn, sizeof(cn), "certline %s CA %s", kind, hex);
    const struct name_attr attrs[] = {
        ATTR(MBEDTLS_OID_AT_CN, MBEDTLS_ASN1_UTF8_STRING, cn),
        ATTR(MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_ASN1_UTF8_STRING, organisation),
    };
    if ((rc = cl_x509i_build_name(attrs, 2, name)) != CL_OK ||
        (ext == NULL && (rc = cl_x509i_generate_key(CL_KEY_P256, key)) != CL_OK))
        return rc;
    pr.subject = *name;
    pr.serial = serial;
    pr.serial_len = sizeof(serial);
    pr.is_ca = 1;
    pr.key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN;
    if (ext == NULL) {
        self = (struct issuer){key, *name, NULL, 0};
        return cl_x509i_issue_with_key(key, &pr, is != NULL ? is : &self, out);
    }
    if (is == NULL && ext->sign == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    self = (struct issuer){ext->sign, *name, NULL, 0};
    rc = cl_x509i_write_cert(&pr, ext->public_key, is != NULL ? is : &self, &out->cert_der,
                             &out->cert_len);
    if (rc == CL_OK)
        cl_x509i_to_hex_upper(pr.serial, pr.serial_len, out->serial_hex);
    return rc;
}

/* The issuing CA profile under is: "CN=certline issuing CA <tag>, O=<organisation>", cA true,
 * pathlen 0, validity nested in the issuer's [issuer_not_before, issuer_not_after]; for ext's
 * key, or a new one. */
static int issue_issuing(const char *organisation, const struct issuer *is,
                         time_t issuer_not_before, time_t issuer_not_after, time_t not_before,
                         int days, const struct cl_ca_key *ext, struct cl_issued *out)
{
    const struct profile pr = {
        .not_before = not_before,
        .days = days,
        .issuer_not_before = issuer_not_before,
        .issuer_not_after = issuer_not_after,
        .pathlen = 0,
    };
    mbedtls_asn1_named_data *name = NULL;
    mbedtls_pk_context key;
    int rc;

    mbedtls_pk_init(&key);
    rc = issue_ca(organisation, "issuing", pr, is, ext, &key, &name, out);
    mbedtls_asn1_free_named_data_list(&name);
    mbedtls_pk_free(&key);
    return rc;
}

static int ext_valid(const struct cl_ca_key *ext, int needs_sign)
{
    return ext == NULL ||
           (ext->public_key != NULL && mbedtls_pk_can_do(ext->public_key, MBEDTLS_PK_ECKEY) &&
            (!needs_sign || ext->sign != NULL));
}

int cl_issue_ca_pair_keys(const char *organisation, time_t not_before, int root_days,
                          int issuing_days, const struct cl_ca_key *root_key,
                          const struct cl_ca_key *issuing_key, struct cl_issued *root,
                          struct cl_issued *issuing)
{
    const struct profile root_pr = {.not_before = not_before, .days = root_days, .pathlen = 1};
    unsigned char root_id[20];
    mbedtls_asn1_named_data *root_name = NULL;
    mbedtls_pk_context generated;
    struct issuer is;
    int rc;

    if (root == NULL || issuing == NULL)
        return CL_ERR_INVALID_ARGUMENT;
    memset(root, 0, sizeof(*root));
    memset(issuing, 0, sizeof(*issuing));
    if (!cl_x509i_valid_text(organisation, ORGANISATION_MAX)) {
        cl_log_warn("CA refused: the organisation must be 1 to %d printable characters without "
                    ", + = \" \\ < > ; #",
                    ORGANISATION_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!valid_days(root_days) || !valid_days(issuing_days) || not_before < 0) {
        cl_log_warn("CA refused: validity must be 1 to %d days from a time after 1970",
                    VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    if (!ext_valid(root_key, 1) || !ext_valid(issuing_key, 0)) {
        cl_log_warn("CA refused: a CA key held elsewhere must be P-256 with its public key");
        return CL_ERR_INVALID_ARGUMENT;
    }
    mbedtls_pk_init(&generated);
    /* Root: self-signed, pathlen 1. */
    if ((rc = issue_ca(organisation, "root", root_pr, NULL, root_key, &generated, &root_name,
                       root)) != CL_OK ||
        (rc = cl_x509i_key_identifier(root_key != NULL ? root_key->public_key : &generated,
                                      root_id)) != CL_OK)
        goto out;

    /* Issuing CA: signed by the root, ending no later than the root. */
    is = (struct issuer){root_key != NULL ? root_key->sign : &generated, root_name, root_id,
                         sizeof(root_id)};
    rc = issue_issuing(organisation, &is, not_before, not_before + (time_t)root_days * 86400,
                       not_before, issuing_days, issuing_key, issuing);
out:
    if (rc != CL_OK) {
        cl_log_warn("CA creation failed: %s", cl_err_str(rc));
        cl_issued_free(root);
        cl_issued_free(issuing);
    }
    mbedtls_asn1_free_named_data_list(&root_name);
    mbedtls_pk_free(&generated);
    return rc;
}

int cl_issue_ca_pair(const char *organisation, time_t not_before, int root_days, int issuing_days,
                     struct cl_issued *root, struct cl_issued *issuing)
{
    return cl_issue_ca_pair_keys(organisation, not_before, root_days, issuing_days, NULL, NULL,
                                 root, issuing);
}

int cl_issue_issuing_ca(struct cl_signer *root, time_t not_before, int issuing_days,
                        struct cl_issued *out)
{
    return cl_issue_issuing_ca_key(root, not_before, issuing_days, NULL, out);
}

int cl_issue_issuing_ca_key(struct cl_signer *root, time_t not_before, int issuing_days,
                            const struct cl_ca_key *key, struct cl_issued *out)
{
    struct issuer is;
    int rc;

    if (clear_output(root, out) != CL_OK)
        return CL_ERR_INVALID_ARGUMENT;
    if (!valid_days(issuing_days) || not_before < 0) {
        cl_log_warn("issuing CA refused: validity must be 1 to %d days from a time after 1970",
                    VALIDITY_DAYS_MAX);
        return CL_ERR_INVALID_ARGUMENT;
    }
    /* The root signs CAs only if it is one that may have a CA below it (pathlen absent or >= 1;
     * mbedTLS stores max_pathlen as pathlen + 1, 0 for none). */
    if (root->cert.max_pathlen == 1) {
        cl_log_warn("issuing CA refused: the signing CA allows no CA below it (pathlen 0)");
        return CL_ERR_INVALID_ARGUMENT;
    }
    {
        struct profile probe = {.not_before = not_before};
        if ((rc = cl_x509i_nest_in_signer(root, &probe, "issuing CA", "the root")) != CL_OK)
            return rc;
    }
    if (!ext_valid(key, 0)) {
        cl_log_warn("issuing CA refused: a CA key held elsewhere must be P-256");
        return CL_ERR_INVALID_ARGUMENT;
    }
    is = cl_x509i_signer_issuer(root);
    rc = issue_issuing(root->organisation, &is, root->not_before, root->not_after, not_before,
                       issuing_days, key, out);
    if (rc != CL_OK)
        cl_log_warn("issuing CA creation failed: %s", cl_err_str(rc));
    return rc;
}
