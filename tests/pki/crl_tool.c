/* crl_tool.c: a test driver over common/crl_*.c for tests/pki/test_crl_openssl.py, which checks
 * certline's CRLs with openssl and openssl's CRLs with certline:
 *   crl_tool make CA_CERT CA_KEY NUMBER DAYS OUT [SERIAL_HEX:REASON ...]
 *       builds a CRL signed by the CA (PEM files), valid from a minute ago for DAYS (or for
 *       seconds, "30s"), into OUT (PEM, or DER if OUT ends in .der);
 *   crl_tool check CA_BUNDLE CRL [SERIAL_HEX ...]
 *       installs the CRL in a holder trusting CA_BUNDLE and prints its number, its entry count
 *       and, for each serial, "SERIAL revoked REASON" or "SERIAL valid".
 * Exit status 0, or 1 with the error on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl_build.h"
#include "crl_check.h"
#include "crl_holder.h"
#include "error.h"

static int slurp(const char *path, unsigned char **data, size_t *len)
{
    char err[256];
    /* the bounded reader of CRLs serves for the small PEM files too (NUL-terminated) */
    if (cl_crl_read_file(path, data, len, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int make(int argc, char **argv)
{
    struct cl_signer *signer = NULL;
    struct cl_crl_entry *entries = calloc((size_t)argc, sizeof(*entries));
    struct cl_crl_params params;
    unsigned char *cert = NULL, *key = NULL, *der = NULL;
    size_t cert_len, key_len, der_len, count = 0, olen = strlen(argv[4]);
    char err[256] = "", *pem = NULL;
    int rc = 1;
    FILE *f = NULL;

    if (entries == NULL || slurp(argv[0], &cert, &cert_len) != 0 ||
        slurp(argv[1], &key, &key_len) != 0)
        goto out;
    if (cl_signer_new(cert, cert_len + 1, key, key_len + 1, "certline test", &signer, err,
                      sizeof(err)) != CL_OK)
        goto fail;
    params.this_update = time(NULL) - 60;
    /* DAYS, or a number of seconds with "s" (e.g. "30s": stale from the start, this_update
     * being a minute ago) */
    params.next_update =
        params.this_update + atol(argv[3]) * (argv[3][strcspn(argv[3], "s")] ? 1L : 86400L);
    params.number = strtoull(argv[2], NULL, 10);
    for (int i = 5; i < argc; i++) {
        char *colon = strchr(argv[i], ':');
        enum cl_crl_reason reason = CL_CRL_REASON_UNSPECIFIED;
        if (colon != NULL) {
            *colon = '\0';
            if (cl_crl_reason_parse(colon + 1, &reason, err, sizeof(err)) != CL_OK)
                goto fail;
        }
        entries[count++] = (struct cl_crl_entry){argv[i], params.this_update - 3600, reason};
    }
    if (cl_crl_build(signer, &params, entries, count, &der, &der_len, err, sizeof(err)) != CL_OK)
        goto fail;
    if ((f = fopen(argv[4], "wb")) == NULL)
        goto out;
    if (olen > 4 && strcmp(argv[4] + olen - 4, ".der") == 0) {
        rc = fwrite(der, 1, der_len, f) == der_len ? 0 : 1;
    } else if (cl_crl_der_to_pem(der, der_len, &pem) == CL_OK) {
        rc = fputs(pem, f) >= 0 ? 0 : 1;
    }
    goto out;
fail:
    fprintf(stderr, "%s\n", err);
out:
    if (f != NULL && fclose(f) != 0)
        rc = 1;
    free(pem);
    free(der);
    free(cert);
    free(key);
    free(entries);
    cl_signer_free(signer);
    return rc;
}

static int check(int argc, char **argv)
{
    struct cl_crl_holder *holder = NULL;
    struct cl_crl_revoked rev;
    struct cl_crl *crl;
    char err[256] = "";

    if (cl_crl_holder_new(NULL, argv[0], NULL, &holder, err, sizeof(err)) != CL_OK ||
        cl_crl_holder_install_file(holder, argv[1], err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "%s\n", err);
        cl_crl_holder_free(holder);
        return 1;
    }
    crl = cl_crl_holder_current(holder);
    printf("number %llu entries %zu\n", cl_crl_number(crl), cl_crl_count(crl));
    for (int i = 2; i < argc; i++) {
        if (cl_crl_lookup_hex(crl, argv[i], &rev)) {
            const char *name = cl_crl_reason_name(rev.reason);
            printf("%s revoked %s\n", argv[i], name != NULL ? name : "unspecified");
        } else {
            printf("%s valid\n", argv[i]);
        }
    }
    cl_crl_release(crl);
    cl_crl_holder_free(holder);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 7 && strcmp(argv[1], "make") == 0)
        return make(argc - 2, argv + 2);
    if (argc >= 4 && strcmp(argv[1], "check") == 0)
        return check(argc - 2, argv + 2);
    fprintf(stderr, "usage: crl_tool make CA_CERT CA_KEY NUMBER DAYS OUT [SERIAL:REASON ...]\n"
                    "       crl_tool check CA_BUNDLE CRL [SERIAL ...]\n");
    return 1;
}
