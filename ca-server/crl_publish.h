/* crl_publish.h: publishing the issuing CA's CRL once: what the store lists, signed with the
 * issuing key (common/crl_build.h) under the next CRL number, kept in the database as the newest
 * for every instance, and written to the CRL file. */
#ifndef CERTLINE_CA_CRL_PUBLISH_H
#define CERTLINE_CA_CRL_PUBLISH_H

#include <stddef.h>
#include <time.h>

#include "authority.h"
#include "ca_config.h"
#include "store.h"

/* One published CRL. */
struct ca_crl {
    unsigned char *der; /* malloc'd */
    size_t der_len;
    char *pem; /* malloc'd, "X509 CRL" */
    unsigned long long number;
    time_t this_update, next_update;
    size_t entries;
    long long mark; /* the store's revocation mark it covers (ca_store_revocation_mark) */
};

/* Publishes a CRL valid from now for config->crl_validity_s and writes its PEM atomically to the
 * CRL file (mode 0644). CL_OK, or the store's, the signer's or the file's error, with err. */
int ca_crl_publish(const struct ca_config *config, struct ca_authority *authority,
                   struct ca_store *store, time_t now, struct ca_crl *out, char *err,
                   size_t errlen);
void ca_crl_clear(struct ca_crl *crl);

/* Takes the CRL another instance on the database signed (ca_store_crl_newest; its DER moves to
 * out) and writes it to the CRL file, as if published here. */
int ca_crl_adopt(const struct ca_config *config, struct ca_crl_kept *kept, struct ca_crl *out,
                 char *err, size_t errlen);

/* The CRL file: crl_file, or ca_dir/crl.pem when it is empty. */
void ca_crl_file_path(const struct ca_config *config, char *buf, size_t len);

#endif
