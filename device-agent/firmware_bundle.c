/* firmware_bundle.c: bounded, strict reading of a model's firmware bundle (ca-server
 * model-export), with its consistency checks; secrets are wiped from every intermediate copy. */
#include "firmware_bundle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>

#include "atomic_file.h"
#include "cert_check.h"
#include "error.h"
#include "input_check.h"
#include "keyfile.h"
#include "log.h"
#include "x509_issue.h"

#define KEY_PEM_MAX 8192
#define CHAIN_MAX_CERTS 4

static const char *const members[] = {
    "version",
    "model",
    "key_type",
    "key_id",
    "prewrite_key",
    "peculiar_generator",
    "root_pem",
    "chain_pem",
    "common_certificate_pem",
    "common_key_pem",
    "next_prewrite_keys", /* the last: version 2 only */
};
#define MEMBER_COUNT (sizeof(members) / sizeof(members[0]))

/* A required string member of at most max bytes. */
static const char *member(const cJSON *root, const char *name, size_t max, char *err, size_t errlen)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!cJSON_IsString(item) || item->valuestring == NULL) {
        snprintf(err, errlen, "member \"%s\" is missing or not a string", name);
        return NULL;
    }
    if (strlen(item->valuestring) > max) {
        snprintf(err, errlen, "member \"%s\" is longer than %zu bytes", name, max);
        return NULL;
    }
    return item->valuestring;
}

static int key_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NV_KEY_ID_MAX)
        return 0;
    for (const char *p = s; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return 0;
    return 1;
}

/* Exactly 32 bytes of standard base64. */
static int secret_member(const cJSON *root, const char *name, unsigned char out[NV_SECRET_BYTES],
                         char *err, size_t errlen)
{
    const char *text = member(root, name, 64, err, errlen);
    size_t olen = 0;

    if (text == NULL)
        return CL_ERR_PARSE;
    if (mbedtls_base64_decode(out, NV_SECRET_BYTES, &olen, (const unsigned char *)text,
                              strlen(text)) != 0 ||
        olen != NV_SECRET_BYTES) {
        snprintf(err, errlen, "member \"%s\" is not %d bytes of base64", name, NV_SECRET_BYTES);
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

/* PEM text holding only CERTIFICATE blocks (min..max of them), printable ASCII and newlines. */
static int certificates_member(const cJSON *root, const char *name, int min, int max, char **out,
                               char *err, size_t errlen)
{
    const char *text = member(root, name, NV_PEM_MAX - 1, err, errlen);
    int blocks = 0;

    if (text == NULL)
        return CL_ERR_PARSE;
    for (const char *p = text; *p != '\0'; p++)
        if (!((*p >= 0x20 && *p < 0x7f) || *p == '\n' || *p == '\r')) {
            snprintf(err, errlen, "member \"%s\" holds a character that is not PEM", name);
            return CL_ERR_PARSE;
        }
    for (const char *p = text; (p = strstr(p, "-----BEGIN ")) != NULL; p++) {
        if (strncmp(p, "-----BEGIN CERTIFICATE-----", 27) != 0) {
            snprintf(err, errlen, "member \"%s\" holds a PEM block that is not a certificate",
                     name);
            return CL_ERR_PARSE;
        }
        blocks++;
    }
    if (blocks < min || blocks > max) {
        snprintf(err, errlen, "member \"%s\" holds %d certificate(s), expected %d..%d", name,
                 blocks, min, max);
        return CL_ERR_PARSE;
    }
    if ((*out = strdup(text)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return CL_ERR_NOMEM;
    }
    return CL_OK;
}

/* Exactly the members of the version: the first count of members[]. */
/* Version 2: "next_prewrite_keys", 1 to NV_NEXT_KEYS_MAX objects {"key_id", "prewrite_key"},
 * every key id distinct (and not the first key's). */
static int next_keys_member(const cJSON *root, struct nv_firmware *fw, char *err, size_t errlen)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "next_prewrite_keys");
    const cJSON *item;
    size_t n = 0;
    int rc;

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) < 1 ||
        cJSON_GetArraySize(list) > NV_NEXT_KEYS_MAX) {
        snprintf(err, errlen, "member \"next_prewrite_keys\" is not an array of 1 to %d keys",
                 NV_NEXT_KEYS_MAX);
        return CL_ERR_PARSE;
    }
    cJSON_ArrayForEach(item, list)
    {
        struct nv_prewrite_key *k = &fw->next_keys[n];
        const char *id;
        if (!cJSON_IsObject(item) || cJSON_GetArraySize(item) != 2 ||
            (id = member(item, "key_id", NV_KEY_ID_MAX, err, errlen)) == NULL) {
            snprintf(err, errlen, "next_prewrite_keys[%zu] is not {\"key_id\", \"prewrite_key\"}",
                     n);
            return CL_ERR_PARSE;
        }
        if (!key_id_ok(id)) {
            snprintf(err, errlen,
                     "next_prewrite_keys[%zu].key_id is not 1..64 characters of "
                     "0-9 A-Z a-z . _ : -",
                     n);
            return CL_ERR_PARSE;
        }
        if (strcmp(id, fw->key_id) == 0)
            goto twice;
        for (size_t j = 0; j < n; j++)
            if (strcmp(id, fw->next_keys[j].key_id) == 0)
                goto twice;
        strcpy(k->key_id, id);
        if ((rc = secret_member(item, "prewrite_key", k->key, err, errlen)) != CL_OK)
            return rc;
        fw->next_key_count = ++n;
    }
    return CL_OK;
twice:
    snprintf(err, errlen, "next_prewrite_keys[%zu]: key id given twice", n);
    return CL_ERR_PARSE;
}

static int check_members(const cJSON *root, size_t count, char *err, size_t errlen)
{
    int seen[MEMBER_COUNT] = {0};

    for (const cJSON *item = root->child; item != NULL; item = item->next) {
        size_t i;
        for (i = 0; i < count; i++)
            if (item->string != NULL && strcmp(item->string, members[i]) == 0)
                break;
        if (i == count) {
            char shown[48];
            snprintf(err, errlen, "unknown member \"%s\"",
                     cl_shown(item->string ? item->string : "", shown, sizeof(shown)));
            return CL_ERR_PARSE;
        }
        if (seen[i]++) {
            snprintf(err, errlen, "member \"%s\" appears twice", members[i]);
            return CL_ERR_PARSE;
        }
    }
    for (size_t i = 0; i < count; i++)
        if (!seen[i]) {
            snprintf(err, errlen, "member \"%s\" is missing", members[i]);
            return CL_ERR_PARSE;
        }
    return CL_OK;
}

static int parse_bundle(const cJSON *root, struct fw_bundle *b, char *err, size_t errlen)
{
    struct nv_firmware *fw = &b->firmware;
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const char *model, *key_type, *key_id, *key_pem;
    enum cl_key_type type;
    int rc;

    if (!cJSON_IsNumber(version) ||
        (version->valuedouble != 1 && version->valuedouble != FW_BUNDLE_VERSION)) {
        snprintf(err, errlen,
                 "unsupported bundle version (this device-agent reads versions 1 to %d)",
                 FW_BUNDLE_VERSION);
        return CL_ERR_PARSE;
    }
    if ((rc = check_members(root, version->valuedouble == 1 ? MEMBER_COUNT - 1 : MEMBER_COUNT, err,
                            errlen)) != CL_OK)
        return rc;
    if ((model = member(root, "model", NV_MODEL_CODE_MAX, err, errlen)) == NULL ||
        (key_type = member(root, "key_type", sizeof(fw->key_type) - 1, err, errlen)) == NULL ||
        (key_id = member(root, "key_id", NV_KEY_ID_MAX, err, errlen)) == NULL)
        return CL_ERR_PARSE;
    if (!cl_model_code_ok(model)) {
        snprintf(err, errlen, "model code is not 1..8 characters of 0-9 A-Z");
        return CL_ERR_PARSE;
    }
    if (cl_key_type_parse(key_type, &type) != CL_OK) {
        snprintf(err, errlen, "key_type is not p256, rsa2048 or rsa3072");
        return CL_ERR_PARSE;
    }
    if (!key_id_ok(key_id)) {
        snprintf(err, errlen, "key_id is not 1..64 characters of 0-9 A-Z a-z . _ : -");
        return CL_ERR_PARSE;
    }
    strcpy(fw->model_code, model);
    strcpy(fw->key_type, key_type);
    strcpy(fw->key_id, key_id);
    if ((rc = secret_member(root, "prewrite_key", fw->prewrite_key, err, errlen)) != CL_OK ||
        (rc = secret_member(root, "peculiar_generator", fw->peculiar_generator, err, errlen)) !=
            CL_OK ||
        (rc = certificates_member(root, "root_pem", 1, 1, &fw->root_pem, err, errlen)) != CL_OK ||
        (rc = certificates_member(root, "chain_pem", 1, CHAIN_MAX_CERTS, &fw->chain_pem, err,
                                  errlen)) != CL_OK ||
        (rc = certificates_member(root, "common_certificate_pem", 1, 1, &b->common_certificate_pem,
                                  err, errlen)) != CL_OK)
        return rc;
    if ((key_pem = member(root, "common_key_pem", KEY_PEM_MAX, err, errlen)) == NULL)
        return CL_ERR_PARSE;
    if (version->valuedouble == 2 && (rc = next_keys_member(root, fw, err, errlen)) != CL_OK)
        return rc;
    if (cc_key_pem_to_der(key_pem, &b->common_key_der, &b->common_key_len) != CL_OK) {
        snprintf(err, errlen, "common_key_pem is not a private key in PEM");
        return CL_ERR_PARSE;
    }
    return CL_OK;
}

/* The bundle is one model's, and its parts fit together. */
static int check_consistency(const struct fw_bundle *b, char *err, size_t errlen)
{
    const struct nv_firmware *fw = &b->firmware;
    char reason[256], name[NV_MODEL_CODE_MAX + 16];
    struct cl_peer peer;

    if (cc_verify(b->common_certificate_pem, fw->chain_pem, fw->root_pem, CC_CLIENT_SERVER, &peer,
                  reason, sizeof(reason)) != CL_OK) {
        snprintf(err, errlen, "common certificate: %.200s", reason);
        return CL_ERR_CRYPTO;
    }
    snprintf(name, sizeof(name), "%s common", fw->model_code);
    if (peer.role != CL_ROLE_DEVICE_COMMON || strcmp(peer.number, fw->model_code) != 0 ||
        strcmp(peer.name, name) != 0) {
        snprintf(err, errlen,
                 "common certificate is not model %s's (role %s, name \"%s\", number \"%s\")",
                 fw->model_code, cl_role_name(peer.role), peer.name, peer.number);
        return CL_ERR_CRYPTO;
    }
    if (cc_key_matches(b->common_certificate_pem, b->common_key_der, b->common_key_len) != CL_OK) {
        snprintf(err, errlen, "common key does not match the common certificate");
        return CL_ERR_CRYPTO;
    }
    return CL_OK;
}

/* Wipes every string of a parsed bundle (some hold secrets) before it is freed. */
static void wipe_json(cJSON *root)
{
    for (cJSON *item = root != NULL ? root->child : NULL; item != NULL; item = item->next) {
        if (cJSON_IsString(item) && item->valuestring != NULL)
            mbedtls_platform_zeroize(item->valuestring, strlen(item->valuestring));
        wipe_json(item); /* next_prewrite_keys */
    }
}

int fw_bundle_load(const char *path, struct fw_bundle *bundle, char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    int rc;

    memset(bundle, 0, sizeof(*bundle));
    rc = cl_read_file_capped(path, FW_BUNDLE_MAX_BYTES, &text, &len);
    if (rc == CL_ERR_TOO_LARGE) {
        snprintf(err, errlen, "%s: larger than %d bytes: not a firmware bundle", path,
                 FW_BUNDLE_MAX_BYTES);
        return rc;
    }
    if (rc != CL_OK) {
        snprintf(err, errlen, "%s: cannot read: %s", path, cl_err_str(rc));
        return rc;
    }
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        cl_log_warn("%s holds the model's secrets but is readable by others (mode %03o)", path,
                    (unsigned)(st.st_mode & 0777));
    if (strlen(text) != len) {
        snprintf(err, errlen, "%s: holds a NUL byte: not a firmware bundle", path);
        rc = CL_ERR_PARSE;
        goto out;
    }
    if (cl_json_has_nul_escape(text, len)) {
        snprintf(err, errlen, "%s: holds \\u0000 in a string: not a firmware bundle", path);
        rc = CL_ERR_PARSE;
        goto out;
    }
    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL || !cJSON_IsObject(root)) {
        snprintf(err, errlen, "%s: not a JSON object: not a firmware bundle", path);
        rc = CL_ERR_PARSE;
        goto out;
    }
    for (const char *p = end; p != NULL && p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            snprintf(err, errlen, "%s: text after the JSON object", path);
            rc = CL_ERR_PARSE;
            goto out;
        }
    {
        char why[256] = "";
        rc = parse_bundle(root, bundle, why, sizeof(why));
        if (rc == CL_OK)
            rc = check_consistency(bundle, why, sizeof(why));
        if (rc != CL_OK)
            snprintf(err, errlen, "%s: %s", path, why);
    }
out:
    wipe_json(root);
    cJSON_Delete(root);
    cl_secret_free(text, len);
    if (rc != CL_OK)
        fw_bundle_free(bundle);
    return rc;
}

void fw_bundle_free(struct fw_bundle *bundle)
{
    if (bundle == NULL)
        return;
    free(bundle->firmware.root_pem);
    free(bundle->firmware.chain_pem);
    free(bundle->common_certificate_pem);
    cl_secret_free(bundle->common_key_der, bundle->common_key_len);
    mbedtls_platform_zeroize(bundle, sizeof(*bundle)); /* the pre-write key and generator */
}
