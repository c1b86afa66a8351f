/* production_service.c: the SOAP handlers of the plan feed on the comm-terminal interface, for
 * the production management system (role production, common/policy.c): ct:SubmitPlan imports a
 * plan once per request id, ct:FetchNow runs the day's batch fetch now [0083]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "log.h"
#include "plan_feed.h"
#include "soapH.h"
#include "soap_tls.h"

/* The audit actor of the calling system: "production:" and its certificate's name. */
static void actor_of(struct soap *soap, char *actor, size_t len)
{
    snprintf(actor, len, "production:%.52s", cl_soap_peer(soap)->name);
}

int __ct__SubmitPlan(struct soap *soap, struct ct__SubmitPlan *request,
                     struct ct__SubmitPlanResponse *response)
{
    struct ct_runtime *rt = cl_soap_app(soap);
    struct ct_feed_result result;
    char actor[64], err[1024];
    int rc;

    actor_of(soap, actor, sizeof(actor));
    struct ct_store *store = cl_pool_acquire(rt->pool);
    rc = ct_plan_feed(store, "plan", request->plan, request->requestId, actor, &result, err,
                      sizeof(err));
    cl_pool_release(rt->pool, store);
    if (rc != CL_OK) {
        if (ct_plan_feed_refused(rc)) {
            cl_log_warn("%s: plan %s refused: %s", actor, request->requestId, err);
            return soap_sender_fault(soap, "Plan refused", soap_strdup(soap, err));
        }
        cl_log_error("%s: plan %s not imported: %s", actor, request->requestId, err);
        return soap_receiver_fault(soap, "Plan not imported", soap_strdup(soap, err));
    }
    response->requestId = request->requestId;
    response->entries = (int)result.entries;
    response->newDeviceNumbers = (int)result.added;
    response->repeated = result.repeated ? true_ : false_;
    cl_log_info("%s: plan %s %s: %zu entries, %zu new device number(s)", actor, request->requestId,
                result.repeated ? "submitted before, unchanged" : "imported", result.entries,
                result.added);
    return SOAP_OK;
}

static int valid_day(const char *day)
{
    int y, m, d;
    char tail;
    return strlen(day) == 10 && sscanf(day, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && y >= 2000 &&
           m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

int __ct__FetchNow(struct soap *soap, struct ct__FetchNow *request,
                   struct ct__FetchNowResponse *response)
{
    struct ct_runtime *rt = cl_soap_app(soap);
    char day[11], actor[64], err[512] = "", (*numbers)[CT_DEVICE_NUMBER_MAX + 1] = NULL;
    size_t remaining = 0;
    int rc;

    actor_of(soap, actor, sizeof(actor));
    if (request->day != NULL) {
        if (!valid_day(request->day))
            return soap_sender_fault(soap, "Fetch refused", "day is not YYYY-MM-DD");
        snprintf(day, sizeof(day), "%s", request->day);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(day, sizeof(day), "%Y-%m-%d", &tm);
    }
    response->day = soap_strdup(soap, day);
    struct ct_store *store = cl_pool_acquire(rt->pool);
    if (pthread_mutex_trylock(&rt->fetch_lock) != 0) {
        response->state = ct__FetchState__running;
    } else {
        cl_log_info("%s: fetch for %s asked now", actor, day);
        rc = ct_fetch_day(rt, store, day, NULL, err, sizeof(err));
        pthread_mutex_unlock(&rt->fetch_lock);
        response->state = rc == CL_OK ? ct__FetchState__done : ct__FetchState__failed;
        if (rc != CL_OK) {
            cl_log_warn("%s: fetch for %s failed: %s", actor, day, err);
            err[250] = '\0'; /* ct:Reason holds 256 characters at most */
            response->reason = soap_strdup(soap, err);
        }
    }
    if (ct_store_numbers_to_fetch(store, day, 1000000, &numbers, &remaining) != CL_OK)
        remaining = 0;
    free(numbers);
    cl_pool_release(rt->pool, store);
    response->remaining = (int)remaining;
    return SOAP_OK;
}
