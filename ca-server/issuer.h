/* issuer.h: answers a FIG 21 certificate transmission request: idempotent by request id, the
 * intent recorded in the database before anything is signed, the packs signed on several
 * threads and committed before they are returned. */
#ifndef CERTLINE_CA_ISSUER_H
#define CERTLINE_CA_ISSUER_H

#include <stddef.h>

#include "runtime.h"

struct ca_batch_request {
    const char *request_id;
    int replacement;
    const char *requester; /* the comm-terminal's name, or "operator:<login>" */
    const char *const *device_numbers;
    size_t count;
    /* Optional progress report, called from the signing threads. */
    void (*progress)(size_t done, size_t total, void *arg);
    void *progress_arg;
};

/* items (room for request->count) receive the device numbers, serials and packs in request
 * order; free them with ca_batch_items_free. Returns a cl_err code; err says why (naming the
 * device number where one is at fault). CL_ERR_STATE, with nothing recorded, once the issuing
 * CA has ended (until a rollover; a resent request is then answered as usual). */
int ca_issue_batch(struct ca_runtime *runtime, struct ca_store *store,
                   const struct ca_batch_request *request, struct ca_batch_item *items, char *err,
                   size_t errlen);

#endif
