/* pack_fixture.c: the fixture of the pack tests: a CA pair and signer, a pre-write key and two
 * P-256 devices whose packs are built once per test program. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keyfile.h"
#include "log.h"
#include "pack_fixture.h"

struct cl_issued root, issuing;
struct cl_signer *signer;
char *chain_pem;
unsigned char prewrite[CL_PREWRITE_KEY_BYTES];
struct device dev1, dev2;
time_t now;

struct cl_pack_contents contents_of(const struct device *d, const char *number,
                                    const char *key_type)
{
    return (struct cl_pack_contents){
        .device_number = number,
        .model_code = "3012",
        .serial_hex = d->issued.serial_hex,
        .key_type = key_type,
        .chain_pem = chain_pem,
        .certificate_pem = d->cert_pem,
        .key_id = "3012-1A2B3C4D",
    };
}

int make_device(struct device *d, const char *number, enum cl_key_type type)
{
    char serial[CL_SERIAL_HEX_MAX + 1];
    struct cl_pack_contents c;

    if (cl_serial_random(serial) != CL_OK ||
        cl_issue_device(signer, number, "3012", type, serial, now, 365, &d->issued) != CL_OK ||
        cl_cert_der_to_pem(d->issued.cert_der, d->issued.cert_len, &d->cert_pem) != CL_OK)
        return -1;
    c = contents_of(d, number, cl_key_type_name(type));
    return cl_pack_build(&c, d->issued.cert_der, d->issued.cert_len, d->issued.key_der,
                         d->issued.key_len, prewrite, &d->pack, d->server_value) == CL_OK
               ? 0
               : -1;
}

void free_device(struct device *d)
{
    cl_issued_free(&d->issued);
    free(d->cert_pem);
    free(d->pack);
    memset(d, 0, sizeof(*d));
}

int pack_group_setup(void **state)
{
    char err[256], *root_pem = NULL, *issuing_pem = NULL;
    (void)state;

    cl_log_set_level(CL_LOG_ERROR);
    now = time(NULL) - 60;
    if (cl_issue_ca_pair(ORG, now, 3650, 1825, &root, &issuing) != CL_OK ||
        cl_signer_new(issuing.cert_der, issuing.cert_len, issuing.key_der, issuing.key_len, ORG,
                      &signer, err, sizeof(err)) != CL_OK ||
        cl_cert_der_to_pem(root.cert_der, root.cert_len, &root_pem) != CL_OK ||
        cl_cert_der_to_pem(issuing.cert_der, issuing.cert_len, &issuing_pem) != CL_OK)
        return -1;
    chain_pem = malloc(strlen(root_pem) + strlen(issuing_pem) + 1);
    if (chain_pem == NULL)
        return -1;
    strcpy(chain_pem, issuing_pem);
    strcat(chain_pem, root_pem);
    free(root_pem);
    free(issuing_pem);
    if (cl_random_bytes(prewrite, sizeof(prewrite)) != CL_OK ||
        make_device(&dev1, "3012-000001", CL_KEY_P256) != 0 ||
        make_device(&dev2, "3012-000002", CL_KEY_P256) != 0)
        return -1;
    return 0;
}

int pack_group_teardown(void **state)
{
    (void)state;
    free_device(&dev1);
    free_device(&dev2);
    cl_signer_free(signer);
    cl_issued_free(&root);
    cl_issued_free(&issuing);
    free(chain_pem);
    return 0;
}

void parse_ok(const char *json, struct cl_pack *pack)
{
    char err[256] = "";
    int rc = cl_pack_parse(json, pack, err, sizeof(err));
    if (rc != CL_OK)
        fail_msg("cl_pack_parse: %s (%s)", cl_err_name(rc), err);
}

void expect_no_key(const struct cl_pack *pack, const unsigned char *key_bytes)
{
    unsigned char *key = (unsigned char *)"x";
    size_t len = 99;
    assert_int_equal(cl_pack_open_key(pack, key_bytes, &key, &len), CL_ERR_CRYPTO);
    assert_null(key);
    assert_int_equal(len, 0);
}
