/* commands_ca.c: the commands that set up the CA (init, migrate) and issue its service
 * certificates (issue-service); each change is audited with the operator's login. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "atomic_file.h"
#include "cli.h"
#include "error.h"
#include "key_pem.h"
#include "keyfile.h"
#include "lifecycle.h"

/* ---- init, migrate ---- */

static int fingerprint(const char *pem, char out[96])
{
    mbedtls_x509_crt crt;
    unsigned char hash[32];
    int rc = -1;
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) == 0) {
        mbedtls_sha256_ret(crt.raw.p, crt.raw.len, hash, 0);
        for (int i = 0; i < 32; i++)
            snprintf(out + 3 * i, 4, "%02X%s", hash[i], i < 31 ? ":" : "");
        rc = 0;
    }
    mbedtls_x509_crt_free(&crt);
    return rc;
}

static int run_migrate(const struct ca_config *config, struct ca_store *store)
{
    char err[512];
    int applied = 0;
    (void)config;
    if (ca_store_migrate(store, &applied, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: database migration failed: %s\n", err);
        return 1;
    }
    printf("database: %d migration(s) applied\n", applied);
    return 0;
}

int ca_command_init(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    struct ca_key_place keys = ca_config_key_place(config);
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    char err[512], detail[256], print[96] = "(unreadable)";
    int code = 1;
    (void)argc;
    (void)argv;

    if (ca_open_store(config, &store) != 0 || run_migrate(config, store) != 0)
        goto out;
    if (ca_authority_create(config->ca_dir, config->organisation, passphrase, &keys, err,
                            sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    if (ca_open_authority(config, passphrase, &authority) != 0)
        goto out;
    fingerprint(ca_authority_root_pem(authority), print);
    snprintf(detail, sizeof(detail), "created the CA in %.120s", config->ca_dir);
    ca_store_audit(store, ca_operator_name(), "init", detail);
    ca_life_of(config, ca_authority_issuing_not_after(authority), time(NULL), err, sizeof(err));
    printf("CA created in %s (root.crt, issuing.crt, chain.crt; root key %s, issuing key %s)\n"
           "root certificate SHA-256 fingerprint: %s\n%s\n",
           config->ca_dir, keys.root_uri[0] != '\0' ? "in its token" : "encrypted",
           keys.issuing_uri[0] != '\0' ? "in its token" : "encrypted", print, err);
    code = 0;
out:
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}

int ca_command_migrate(const struct ca_config *config, const char *passphrase, int argc,
                       char **argv)
{
    struct ca_store *store = NULL;
    int code;
    (void)passphrase;
    (void)argc;
    (void)argv;
    if (ca_open_store(config, &store) != 0)
        return 1;
    code = run_migrate(config, store);
    ca_store_close(store);
    return code;
}

/* ---- service certificates ---- */

static int write_service_files(const char *prefix, const struct cl_issued *issued,
                               const struct ca_authority *authority)
{
    char path[4096], *leaf = NULL, *chain = NULL, *key_pem = NULL;
    size_t key_pem_size = 0;
    int rc;

    rc = cl_cert_der_to_pem(issued->cert_der, issued->cert_len, &leaf);
    if (rc == CL_OK &&
        (chain = malloc(strlen(leaf) + strlen(ca_authority_issuing_pem(authority)) + 1)) == NULL)
        rc = CL_ERR_NOMEM;
    if (rc == CL_OK)
        rc = cl_key_der_to_pem(issued->key_der, issued->key_len, &key_pem, &key_pem_size);
    if (rc == CL_OK) {
        strcpy(chain, leaf);
        strcat(chain, ca_authority_issuing_pem(authority));
        snprintf(path, sizeof(path), "%s.key", prefix);
        rc = cl_atomic_write_new(path, key_pem, strlen(key_pem), 0600);
    }
    if (rc == CL_OK) {
        snprintf(path, sizeof(path), "%s.crt", prefix);
        rc = cl_atomic_write(path, leaf, strlen(leaf), 0644);
    }
    if (rc == CL_OK) {
        snprintf(path, sizeof(path), "%s.chain.crt", prefix);
        rc = cl_atomic_write(path, chain, strlen(chain), 0644);
    }
    if (rc == CL_OK) {
        snprintf(path, sizeof(path), "%s.root.crt", prefix);
        rc = cl_atomic_write(path, ca_authority_root_pem(authority),
                             strlen(ca_authority_root_pem(authority)), 0644);
    }
    if (rc != CL_OK)
        fprintf(stderr, "ca-server: cannot write %s: %s\n", path,
                rc == CL_ERR_EXISTS ? "it exists already (refusing to replace a key)"
                                    : cl_err_str(rc));
    cl_secret_free(key_pem, key_pem_size);
    free(leaf);
    free(chain);
    return rc;
}

int ca_command_issue_service(const struct ca_config *config, const char *passphrase, int argc,
                             char **argv)
{
    static const char *const values[] = {"--out", "--days", NULL};
    char *args[3] = {NULL, NULL, NULL};
    const char *out = cl_arg_value(argc, argv, "--out"),
               *days_text = cl_arg_value(argc, argv, "--days");
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct cl_issued issued = {0};
    int n = ca_positionals(argc, argv, values, args, 3), days = 825, code = 1;
    enum cl_role role;

    if (n < 2 || n > 3 || out == NULL) {
        fprintf(stderr, "usage: ca-server issue-service ROLE NAME [NUMBER] --out PREFIX\n");
        return 2;
    }
    role = cl_role_from_name(args[0]);
    if (role == CL_ROLE_NONE || role == CL_ROLE_DEVICE) {
        fprintf(stderr,
                "ca-server: role must be ca-server, comm-terminal, factory-terminal, "
                "device-common or production, not \"%.32s\"\n",
                args[0]);
        return 2;
    }
    if ((role == CL_ROLE_FACTORY_TERMINAL || role == CL_ROLE_DEVICE_COMMON) && n != 3) {
        fprintf(stderr, "ca-server: a %s certificate needs its %s (NUMBER)\n", args[0],
                role == CL_ROLE_FACTORY_TERMINAL ? "line id" : "model code");
        return 2;
    }
    if (days_text != NULL && (days = atoi(days_text)) < 1) {
        fprintf(stderr, "ca-server: --days must be a positive number\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0 ||
        ca_open_authority(config, passphrase, &authority) != 0)
        goto out;
    if (cl_issue_service(ca_authority_signer(authority), role, args[1], n == 3 ? args[2] : NULL,
                         time(NULL) - 60, days, &issued) != CL_OK) {
        fprintf(stderr, "ca-server: cannot issue the certificate (is the name valid?)\n");
        goto out;
    }
    if (write_service_files(out, &issued, authority) != CL_OK)
        goto out;
    if (ca_store_service_issued(store, issued.serial_hex, args[0], args[1], n == 3 ? args[2] : "",
                                ca_operator_name()) != CL_OK) {
        /* Every issuance must be in the audit log: an unrecorded certificate is a failure. */
        fprintf(stderr,
                "ca-server: the certificate (serial %s) was written to %s.* but could not "
                "be recorded in the database; do not deploy it\n",
                issued.serial_hex, out);
        goto out;
    }
    printf("issued %s certificate for %s (serial %s): %s.crt, %s.chain.crt, %s.key, "
           "%s.root.crt\n",
           args[0], args[1], issued.serial_hex, out, out, out, out);
    {
        time_t from, until;
        char when[32];
        if (cl_cert_validity(issued.cert_der, issued.cert_len, &from, &until) == CL_OK) {
            ca_format_time(until, when, sizeof(when));
            printf("valid until %s%s\n", when,
                   until >= ca_authority_issuing_not_after(authority)
                       ? " (the issuing CA's end: no certificate outlives its issuer)"
                       : "");
        }
    }
    code = 0;
out:
    cl_issued_free(&issued);
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}
