/* ct_models.c: the one model list [FIG 19A]: ca-server holds each model's certificate-managed
 * flag; the comm-terminal reads it (ca:Models) with each fetch and on demand (models-sync),
 * keeps an operator's local override beside it (model-set) and says when a plan names a model
 * ca-server does not manage or does not know. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ct_commands.h"
#include "error.h"
#include "log.h"
#include "soapH.h"

int ct_models_sync(struct ct_runtime *rt, struct ct_store *store, size_t *changed, char *err,
                   size_t errlen)
{
    struct ca__Models request = {0};
    struct ca__ModelsResponse response = {0};
    struct ct_ca_model *models = NULL;
    size_t count = 0;
    int rc = CL_OK, attempt = 0;

    *changed = 0;
    ct_ca_take(rt, CT_CA_WAIT, NULL, 0);
    while ((rc = soap_call___ca__Models(cl_client_soap(rt->ca), cl_client_endpoint(rt->ca), NULL,
                                        &request, &response)) != SOAP_OK) {
        rc = cl_client_explain(rt->ca, err, errlen);
        if (!ct_ca_failover(rt, rc, &attempt, "the model list"))
            break;
        cl_client_end_call(rt->ca);
    }
    if (rc != CL_OK) {
        /* err says why */
    } else if (response.__sizeModel < 0 || (response.__sizeModel > 0 && response.model == NULL)) {
        snprintf(err, errlen, "ca-server's model list is malformed");
        rc = CL_ERR_PARSE;
    } else {
        count = (size_t)response.__sizeModel;
        models = calloc(count > 0 ? count : 1, sizeof(*models));
        if (models == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = CL_ERR_NOMEM;
        }
        for (size_t i = 0; models != NULL && i < count; i++) {
            models[i].code = response.model[i].code != NULL ? response.model[i].code : "";
            models[i].certificate_managed = response.model[i].certificateManaged == true_;
        }
        /* Stored before the call's memory goes. */
        if (rc == CL_OK)
            rc = ct_store_models_from_ca(store, models, count, "ca-server", changed, err, errlen);
    }
    cl_client_end_call(rt->ca);
    ct_ca_give(rt, rc);
    free(models);
    return rc;
}

int ct_models_warn(struct ct_runtime *rt, struct ct_store *store, const char *day,
                   const char *const *models, size_t count, FILE *out)
{
    struct ct_model_row *rows = NULL;
    size_t n = 0;
    int warned = 0;
    (void)rt;

    if (ct_store_model_list(store, day, &rows, &n) != CL_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct ct_model_row *row = &rows[i];
        int named = models == NULL && row->planned_ahead > 0;
        for (size_t k = 0; models != NULL && k < count && !named; k++)
            named = strcmp(models[k], row->code) == 0;
        if (!named || strcmp(row->ca_state, "managed") == 0)
            continue;
        const char *why = strcmp(row->ca_state, "not-managed") == 0 ? "ca-server does not manage"
                          : strcmp(row->ca_state, "unknown") == 0   ? "ca-server does not know"
                                                                  : "ca-server has not been asked "
                                                                    "about (models-sync)";
        fprintf(out, "warning: the plan names device model %s, which %s%s\n", row->code, why,
                row->local_override >= 0
                    ? (row->local_override ? " (certificate-managed here by a local override)"
                                           : " (not certificate-managed here: local override)")
                    : "");
        warned++;
    }
    free(rows);
    return warned;
}

int ct_command_model_set(struct ct_runtime *rt, int argc, char **argv)
{
    const char *code = ct_positional(argc, argv);
    int managed = cl_arg_flag(argc, argv, "--managed"),
        not_managed = cl_arg_flag(argc, argv, "--not-managed"),
        clear = cl_arg_flag(argc, argv, "--clear");

    if (code == NULL || managed + not_managed + clear != 1) {
        fprintf(stderr, "usage: comm-terminal model-set CODE --managed|--not-managed|--clear\n");
        return 2;
    }
    struct ct_store *store = cl_pool_acquire(rt->pool);
    int rc = ct_store_model_set(store, code, clear ? CT_MODEL_FOLLOW_CA : managed, ct_operator);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot set model %.16s: %s\n", code, cl_err_str(rc));
        return 1;
    }
    if (clear)
        printf("device model %s: local override cleared; ca-server's flag applies\n", code);
    else
        printf("device model %s: %scertificate-managed here (a local override of ca-server's "
               "list)\n",
               code, managed ? "" : "not ");
    return 0;
}

int ct_command_models_sync(struct ct_runtime *rt, int argc, char **argv)
{
    struct ct_model_row *rows = NULL;
    size_t changed = 0, count = 0;
    char err[512];
    (void)argc;
    (void)argv;

    struct ct_store *store = cl_pool_acquire(rt->pool);
    int rc = ct_models_sync(rt, store, &changed, err, sizeof(err));
    if (rc == CL_OK)
        rc = ct_store_model_list(store, "2000-01-01", &rows, &count);
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        fprintf(stderr, "comm-terminal: cannot read ca-server's model list: %s\n",
                err[0] ? err : cl_err_str(rc));
        return 1;
    }
    printf("%-8s %-11s %-12s %s\n", "MODEL", "CERTIFICATE", "CA-SERVER", "LOCAL OVERRIDE");
    for (size_t i = 0; i < count; i++)
        printf("%-8s %-11s %-12s %s\n", rows[i].code, rows[i].certificate_managed ? "YES" : "NO",
               rows[i].ca_state[0] ? rows[i].ca_state : "not read",
               rows[i].local_override < 0 ? "-"
               : rows[i].local_override   ? "managed"
                                          : "not managed");
    printf("models read from ca-server: %zu changed here\n", changed);
    free(rows);
    return 0;
}
