/* commands_revocation.c: revocation by operators: revoke a certificate, publish a CRL. */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomic_file.h"
#include "cli.h"
#include "crl_publish.h"
#include "crl_publisher.h"
#include "crl_reason.h"
#include "error.h"
#include "revoke.h"

int ca_command_revoke(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    static const char *const values[] = {"--reason", "--comment", NULL};
    const char *reason = cl_arg_value(argc, argv, "--reason");
    const char *comment = cl_arg_value(argc, argv, "--comment");
    struct ca_store *store = NULL;
    enum cl_crl_reason code;
    char *args[1] = {NULL}, err[512];
    const char *kind = "device";
    int rc;
    (void)passphrase;

    if (ca_positionals(argc, argv, values, args, 1) != 1 || reason == NULL || reason[0] == '\0') {
        fprintf(stderr, "usage: ca-server revoke SERIAL --reason NAME [--comment TEXT]\n");
        return 2;
    }
    if (cl_crl_reason_parse(reason, &code, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: --reason: %s\n", err);
        return 2;
    }
    if (comment != NULL && strlen(comment) > 256) {
        fprintf(stderr, "ca-server: --comment is at most 256 characters\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    rc = ca_revoke(store, args[0], (int)code, comment, ca_operator_name(), &kind);
    ca_store_close(store);
    if (rc != CL_OK) {
        fprintf(stderr, "ca-server: cannot revoke %.48s: %s\n", args[0],
                rc == CL_ERR_NOT_FOUND ? "no such serial"
                : rc == CL_ERR_STATE   ? "it is already superseded or revoked"
                                       : cl_err_str(rc));
        return 1;
    }
    printf("revoked %s certificate %s (%s); a running serve publishes a CRL listing it within "
           "%d s\n",
           kind, args[0], cl_crl_reason_name((int)code), CA_CRL_POLL_S);
    return 0;
}

int ca_command_crl(const struct ca_config *config, const char *passphrase, int argc, char **argv)
{
    static const char *const values[] = {"--out", NULL};
    const char *out = cl_arg_value(argc, argv, "--out");
    struct ca_authority *authority = NULL;
    struct ca_store *store = NULL;
    struct ca_crl crl;
    char *args[1] = {NULL}, err[512], this_update[32], next_update[32], path[600];
    int code = 1;

    if (ca_positionals(argc, argv, values, args, 1) != 0 || (out != NULL && out[0] == '\0')) {
        fprintf(stderr, "usage: ca-server crl [--out FILE]\n");
        return 2;
    }
    if (ca_open_store(config, &store) != 0)
        return 1;
    if (ca_open_authority(config, passphrase, &authority) != 0)
        goto out;
    if (ca_crl_publish(config, authority, store, time(NULL), &crl, err, sizeof(err)) != CL_OK) {
        fprintf(stderr, "ca-server: %s\n", err);
        goto out;
    }
    if (out != NULL) {
        int rc = cl_atomic_write(out, crl.pem, strlen(crl.pem), 0644);
        if (rc != CL_OK) {
            fprintf(stderr, "ca-server: cannot write %s: %s\n", out, cl_err_str(rc));
            ca_crl_clear(&crl);
            goto out;
        }
    } else {
        fputs(crl.pem, stdout);
    }
    ca_format_time(crl.this_update, this_update, sizeof(this_update));
    ca_format_time(crl.next_update, next_update, sizeof(next_update));
    ca_crl_file_path(config, path, sizeof(path));
    fprintf(stderr, "CRL number %llu: thisUpdate %s, nextUpdate %s, %zu entries (also in %s)\n",
            crl.number, this_update, next_update, crl.entries, path);
    ca_crl_clear(&crl);
    code = 0;
out:
    ca_authority_free(authority);
    ca_store_close(store);
    return code;
}
