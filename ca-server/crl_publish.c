/* crl_publish.c: publishing the issuing CA's CRL once (crl_publish.h). */
#include "crl_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "crl_build.h"
#include "error.h"

void ca_crl_file_path(const struct ca_config *config, char *buf, size_t len)
{
    if (config->crl_file[0] != '\0')
        snprintf(buf, len, "%s", config->crl_file);
    else
        snprintf(buf, len, "%s/crl.pem", config->ca_dir);
}

void ca_crl_clear(struct ca_crl *crl)
{
    if (crl == NULL)
        return;
    free(crl->der);
    free(crl->pem);
    memset(crl, 0, sizeof(*crl));
}

/* The PEM of out->der, written atomically to the CRL file. */
static int write_file(const struct ca_config *config, struct ca_crl *out, char *err, size_t errlen)
{
    char path[600];
    int rc;

    if ((rc = cl_crl_der_to_pem(out->der, out->der_len, &out->pem)) != CL_OK) {
        cl_err_set(err, errlen, "the CRL could not be written as PEM");
        return rc;
    }
    ca_crl_file_path(config, path, sizeof(path));
    if ((rc = cl_atomic_write(path, out->pem, strlen(out->pem), 0644)) != CL_OK)
        cl_err_set(err, errlen, "cannot write the CRL to %s: %s", path, cl_err_str(rc));
    return rc;
}

int ca_crl_adopt(const struct ca_config *config, struct ca_crl_kept *kept, struct ca_crl *out,
                 char *err, size_t errlen)
{
    int rc;

    memset(out, 0, sizeof(*out));
    *out = (struct ca_crl){.der = kept->der,
                           .der_len = kept->der_len,
                           .number = kept->number,
                           .this_update = kept->this_update,
                           .next_update = kept->next_update,
                           .mark = kept->mark};
    kept->der = NULL;
    kept->der_len = 0;
    if ((rc = write_file(config, out, err, errlen)) != CL_OK)
        ca_crl_clear(out);
    return rc;
}

int ca_crl_publish(const struct ca_config *config, struct ca_authority *authority,
                   struct ca_store *store, time_t now, struct ca_crl *out, char *err, size_t errlen)
{
    struct ca_crl_snapshot snapshot;
    struct cl_crl_entry *entries = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = ca_store_crl_snapshot(store, &snapshot, err, errlen)) != CL_OK)
        return rc;
    entries = calloc(snapshot.count > 0 ? snapshot.count : 1, sizeof(*entries));
    if (entries == NULL) {
        cl_err_set(err, errlen, "out of memory for %zu CRL entries", snapshot.count);
        rc = CL_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < snapshot.count; i++) {
        entries[i].serial_hex = snapshot.entries[i].serial_hex;
        entries[i].revoked_at = snapshot.entries[i].revoked_at;
        entries[i].reason = snapshot.entries[i].reason;
    }
    struct cl_crl_params params = {.this_update = now,
                                   .next_update = now + (time_t)config->crl_validity_s,
                                   .number = snapshot.number};
    if ((rc = cl_crl_build(ca_authority_signer(authority), &params, entries, snapshot.count,
                           &out->der, &out->der_len, err, errlen)) != CL_OK)
        goto out;
    /* Kept for the other instances on the database (crl_publisher.c), then written. */
    struct ca_crl_kept kept = {.number = snapshot.number,
                               .mark = snapshot.mark,
                               .this_update = params.this_update,
                               .next_update = params.next_update,
                               .der = out->der,
                               .der_len = out->der_len};
    if ((rc = ca_store_crl_keep(store, &kept, err, errlen)) != CL_OK ||
        (rc = write_file(config, out, err, errlen)) != CL_OK)
        goto out;
    out->number = snapshot.number;
    out->this_update = params.this_update;
    out->next_update = params.next_update;
    out->entries = snapshot.count;
    out->mark = snapshot.mark;
out:
    if (rc != CL_OK)
        ca_crl_clear(out);
    free(entries);
    ca_crl_snapshot_clear(&snapshot);
    return rc;
}
