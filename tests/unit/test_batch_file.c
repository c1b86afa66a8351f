/* test_batch_file.c: the offline batch file (common/batch_file.c) and the hand-carried exchange
 * files (common/exchange_file.c): a batch signed by the issuing CA verifies against the root and
 * its signature covers the canonical text batch_file.h documents (built here independently);
 * every changed field, a dropped or reordered item, a foreign CA and a foreign signer
 * certificate fail with CL_ERR_CRYPTO; an unsigned version 1 file and malformed ones with
 * CL_ERR_PARSE; exchange files round-trip, and the wrong format, an oversized file and
 * malformed entries are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "batch_file.h"
#include "ca_signature.h"
#include "error.h"
#include "exchange_file.h"
#include "x509_fixture.h"

static char *root_pem, *issuing_pem, *other_root_pem, *other_issuing_pem;
static struct cl_issued other_root, other_issuing;
static struct cl_signer *other_signer;

static int setup(void **state)
{
    char err[256];
    if (x509_group_setup(state) != 0 ||
        cl_cert_der_to_pem(root.cert_der, root.cert_len, &root_pem) != CL_OK ||
        cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &issuing_pem) != CL_OK ||
        cl_issue_ca_pair("other maker", now - 60, 3650, 1825, &other_root, &other_issuing) !=
            CL_OK ||
        cl_signer_new(other_issuing.cert_der, other_issuing.cert_len, other_issuing.key_der,
                      other_issuing.key_len, "other maker", &other_signer, err,
                      sizeof(err)) != CL_OK ||
        cl_cert_der_to_pem(other_root.cert_der, other_root.cert_len, &other_root_pem) != CL_OK ||
        cl_cert_der_to_pem(other_issuing.cert_der, other_issuing.cert_len, &other_issuing_pem) !=
            CL_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    free(root_pem);
    free(issuing_pem);
    free(other_root_pem);
    free(other_issuing_pem);
    cl_signer_free(other_signer);
    cl_issued_free(&other_root);
    cl_issued_free(&other_issuing);
    return x509_group_teardown(state);
}

static const char *const numbers[] = {"3012-000001", "3012-000002", "A123-000001"};
static const char *const serials[] = {"0A11", "0B22", "0C33"};
static const char *const packs[] = {"{\"pack\":1}", "{\"pack\":2}", "{\"pack\":3}"};

/* An unsigned batch of the three items above. */
static cJSON *batch(void)
{
    cJSON *doc = cJSON_CreateObject(), *items;
    cJSON_AddStringToObject(doc, "factory", "comm.certline.test");
    cJSON_AddStringToObject(doc, "request_id", "offline-day1");
    cJSON_AddNumberToObject(doc, "created_at", 1764950400);
    items = cJSON_AddArrayToObject(doc, "items");
    for (int i = 0; i < 3; i++) {
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "device_number", numbers[i]);
        cJSON_AddStringToObject(item, "serial", serials[i]);
        cJSON_AddStringToObject(item, "pack", packs[i]);
        cJSON_AddItemToArray(items, item);
    }
    return doc;
}

static cJSON *signed_batch(struct cl_signer *by, const char *by_pem)
{
    char err[256];
    cJSON *doc = batch();
    assert_int_equal(cl_batch_file_sign(doc, by, by_pem, err, sizeof(err)), CL_OK);
    return doc;
}

static int verify(const cJSON *doc, const char *trust, char *err, size_t len)
{
    err[0] = '\0';
    return cl_batch_file_verify(doc, trust, err, len);
}

static void signed_batch_verifies(void **state)
{
    char err[512], text[1024], hex[65];
    size_t at;
    (void)state;
    cJSON *doc = signed_batch(signer, issuing_pem);
    assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_OK);
    assert_string_equal(cJSON_GetObjectItem(doc, "format")->valuestring, "certline-batch");
    assert_int_equal(cJSON_GetObjectItem(doc, "version")->valueint, 2);
    /* The canonical text of batch_file.h, built here: the signature is over it. */
    at = (size_t)snprintf(text, sizeof(text),
                          "certline-batch v2\ncomm.certline.test\noffline-day1\n1764950400\n3\n");
    for (int i = 0; i < 3; i++) {
        unsigned char hash[32];
        mbedtls_sha256_ret((const unsigned char *)packs[i], strlen(packs[i]), hash, 0);
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", hash[k]);
        at += (size_t)snprintf(text + at, sizeof(text) - at, "%s %s %s\n", numbers[i], serials[i],
                               hex);
    }
    assert_int_equal(cl_ca_verify_text(text, at, cJSON_GetObjectItem(doc, "signature")->valuestring,
                                       issuing_pem, root_pem, "batch", err, sizeof(err)),
                     CL_OK);
    cJSON_Delete(doc);
}

static void changed_batch_refused(void **state)
{
    static const char *const fields[] = {"factory", "request_id", NULL};
    char err[512];
    (void)state;
    for (int change = 0; change < 9; change++) {
        cJSON *doc = signed_batch(signer, issuing_pem);
        cJSON *items = cJSON_GetObjectItem(doc, "items");
        if (change < 2)
            cJSON_ReplaceItemInObject(doc, fields[change], cJSON_CreateString("comm-b"));
        else if (change == 2)
            cJSON_ReplaceItemInObject(doc, "created_at", cJSON_CreateNumber(1764950401));
        else if (change == 3)
            cJSON_ReplaceItemInObject(cJSON_GetArrayItem(items, 1), "serial",
                                      cJSON_CreateString("0C33"));
        else if (change == 4)
            cJSON_ReplaceItemInObject(cJSON_GetArrayItem(items, 1), "device_number",
                                      cJSON_CreateString("3012-000009"));
        else if (change == 5)
            cJSON_ReplaceItemInObject(cJSON_GetArrayItem(items, 2), "pack",
                                      cJSON_CreateString("{\"pack\":3} "));
        else if (change == 6)
            cJSON_DeleteItemFromArray(items, 2);
        else if (change == 7)
            cJSON_AddItemToArray(items, cJSON_DetachItemFromArray(items, 0)); /* reordered */
        else {
            cJSON *other = signed_batch(other_signer, other_issuing_pem);
            cJSON_ReplaceItemInObject(
                doc, "signature",
                cJSON_CreateString(cJSON_GetObjectItem(other, "signature")->valuestring));
            cJSON_Delete(other);
        }
        assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_ERR_CRYPTO);
        assert_non_null(strstr(err, "batch file refused: the signature does not match"));
        cJSON_Delete(doc);
    }
}

static void foreign_ca_refused(void **state)
{
    char err[512];
    (void)state;
    cJSON *doc = signed_batch(other_signer, other_issuing_pem);
    assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_ERR_CRYPTO);
    assert_non_null(strstr(err, "does not chain to the trusted root"));
    assert_int_equal(verify(doc, other_root_pem, err, sizeof(err)), CL_OK);
    cJSON_Delete(doc);
    /* Our signature, a foreign signer certificate named. */
    doc = signed_batch(signer, issuing_pem);
    cJSON_ReplaceItemInObject(doc, "signer_certificate", cJSON_CreateString(other_issuing_pem));
    assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_ERR_CRYPTO);
    cJSON_Delete(doc);
}

static void malformed_batch_refused(void **state)
{
    char err[512];
    (void)state;
    cJSON *doc = batch();
    cJSON_AddNumberToObject(doc, "version", 1); /* what batch wrote before: unsigned */
    assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_ERR_PARSE);
    assert_non_null(strstr(err, "version 1 batch file is not signed"));
    cJSON_Delete(doc);
    for (int change = 0; change < 5; change++) {
        doc = signed_batch(signer, issuing_pem);
        cJSON *items = cJSON_GetObjectItem(doc, "items");
        if (change == 0)
            cJSON_DeleteItemFromObject(doc, "factory");
        else if (change == 1)
            cJSON_ReplaceItemInObject(doc, "items", cJSON_CreateArray());
        else if (change == 2)
            cJSON_ReplaceItemInObject(cJSON_GetArrayItem(items, 0), "pack", cJSON_CreateNumber(1));
        else if (change == 3)
            cJSON_ReplaceItemInObject(doc, "version", cJSON_CreateNumber(3));
        else
            cJSON_ReplaceItemInObject(cJSON_GetArrayItem(items, 0), "device_number",
                                      cJSON_CreateString("3012 000001"));
        assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_ERR_PARSE);
        assert_true(err[0] != '\0');
        cJSON_Delete(doc);
    }
    doc = cJSON_CreateArray();
    assert_int_equal(verify(doc, root_pem, err, sizeof(err)), CL_ERR_PARSE);
    cJSON_Delete(doc);
}

static void exchange_files(void **state)
{
    char path[128], err[256];
    cJSON *doc = cJSON_CreateObject(), *read = NULL, *list;
    FILE *f;
    (void)state;
    snprintf(path, sizeof(path), "%s/reports.json", tmpdir);
    cJSON_AddStringToObject(doc, "format", CL_REPORTS_FORMAT);
    cJSON_AddNumberToObject(doc, "version", CL_EXCHANGE_VERSION);
    list = cJSON_AddArrayToObject(doc, "reports");
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddStringToObject(entry, "device_number", "3012-000001");
    cJSON_AddNumberToObject(entry, "written_at", 1764950400);
    cJSON_AddNumberToObject(entry, "half", 1.5);
    cJSON_AddItemToArray(list, entry);
    assert_int_equal(cl_exchange_file_write(path, doc, err, sizeof(err)), CL_OK);
    assert_int_equal(
        cl_exchange_file_read(path, 4096, CL_REPORTS_FORMAT, 1, &read, err, sizeof(err)), CL_OK);
    const cJSON *entries = cl_exchange_entries(read, "reports", err, sizeof(err));
    assert_non_null(entries);
    assert_string_equal(cl_exchange_text(entries->child, "device_number"), "3012-000001");
    assert_int_equal(cl_exchange_time(entries->child, "written_at"), 1764950400);
    assert_int_equal(cl_exchange_time(entries->child, "half"), -1);
    assert_int_equal(cl_exchange_time(entries->child, "device_number"), -1);
    assert_null(cl_exchange_text(entries->child, "written_at"));
    cJSON_Delete(read);
    /* The wrong format, a version of the future, too large a file: refused. */
    assert_int_equal(
        cl_exchange_file_read(path, 4096, CL_RECEIPTS_FORMAT, 1, &read, err, sizeof(err)),
        CL_ERR_PARSE);
    assert_null(read);
    assert_int_equal(
        cl_exchange_file_read(path, 4096, CL_REPORTS_FORMAT, 2, &read, err, sizeof(err)),
        CL_ERR_PARSE);
    assert_int_equal(cl_exchange_file_read(path, 16, CL_REPORTS_FORMAT, 1, &read, err, sizeof(err)),
                     CL_ERR_TOO_LARGE);
    /* An entry that is no object. */
    cJSON_AddItemToArray(list, cJSON_CreateString("x"));
    assert_null(cl_exchange_entries(doc, "reports", err, sizeof(err)));
    assert_non_null(strstr(err, "entry 2"));
    assert_null(cl_exchange_entries(doc, "receipts", err, sizeof(err)));
    cJSON_Delete(doc);
    /* Not JSON. */
    assert_non_null(f = fopen(path, "w"));
    fputs("{\"format\":", f);
    fclose(f);
    assert_int_equal(cl_exchange_file_read(path, 4096, NULL, 0, &read, err, sizeof(err)),
                     CL_ERR_PARSE);
    assert_null(read);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signed_batch_verifies), cmocka_unit_test(changed_batch_refused),
        cmocka_unit_test(foreign_ca_refused),    cmocka_unit_test(malformed_batch_refused),
        cmocka_unit_test(exchange_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
