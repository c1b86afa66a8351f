/* da_crl.c: the CRL a device may enforce on the factory terminal at S7 and S10 (crl_file); how
 * else a device learns of revocations: README.md, "Revocation on the line". */
#include "da_crl.h"

#include <stdio.h>

#include "error.h"
#include "log.h"

/* The holder with crl_file installed (NULL and CL_OK without crl_file). */
static int load(const struct da_config *config, struct cl_crl_holder **out, char *err,
                size_t errlen)
{
    char why[512];
    int rc;

    *out = NULL;
    if (config->crl_file[0] == '\0')
        return CL_OK;
    if ((rc = cl_crl_holder_new(NULL, config->crl_ca_file, NULL, out, why, sizeof(why))) != CL_OK) {
        snprintf(err, errlen, "crl_ca_file %s: %s", config->crl_ca_file, why);
        return rc;
    }
    if ((rc = cl_crl_holder_install_file(*out, config->crl_file, why, sizeof(why))) != CL_OK) {
        snprintf(err, errlen, "crl_file %s: %s", config->crl_file, why);
        cl_crl_holder_free(*out);
        *out = NULL;
    }
    return rc;
}

int da_crl_check(const struct da_config *config, char *err, size_t errlen)
{
    struct cl_crl_holder *holder = NULL;
    int rc = load(config, &holder, err, errlen);
    cl_crl_holder_free(holder);
    return rc;
}

int da_crl_enforce(const struct da_config *config, struct cl_tls *server_tls,
                   struct cl_tls *client_tls, struct cl_crl_holder **out, char *err, size_t errlen)
{
    struct cl_crl_holder *holder = NULL;
    struct cl_crl_status st;
    int rc;

    *out = NULL;
    if ((rc = load(config, &holder, err, errlen)) != CL_OK || holder == NULL)
        return rc;
    /* A sibling context does not inherit the holder: both are set. */
    if ((rc = cl_tls_check_revocation(server_tls, holder)) != CL_OK ||
        (rc = cl_tls_check_revocation(client_tls, holder)) != CL_OK) {
        snprintf(err, errlen, "cannot check revocation on the device's TLS contexts");
        cl_crl_holder_free(holder);
        return rc;
    }
    cl_crl_holder_status(holder, &st);
    cl_log_info("enforcing CRL number %llu (%zu entries) from %s on the factory terminal",
                st.number, st.entries, config->crl_file);
    *out = holder;
    return CL_OK;
}
