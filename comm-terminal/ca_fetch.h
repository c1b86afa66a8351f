/* ca_fetch.h: a FIG 21 request to ca-server in two halves (ca_link.c), so that the day's fetch
 * (fetch_day.c) can record its next request while ca-server issues this one; the answer copied
 * out of gSOAP, so that another thread can check and store it while the link is used again. */
#ifndef CERTLINE_CA_FETCH_H
#define CERTLINE_CA_FETCH_H

#include "ct_runtime.h"
#include "request_id.h"

/* An answer to one request, owned by whoever holds it: items point into text and serials. */
struct ct_answer {
    char request_id[CT_REQUEST_ID_MAX + 1];
    int replacement;
    size_t count;
    struct ct_pack_item *items;
    char (*serials)[CT_SERIAL_HEX_MAX + 1]; /* set by ct_answer_check */
    char *text;                             /* device numbers and packs */
};
void ct_answer_free(struct ct_answer *answer);

/* Sends a recorded request to ca-server. On success the link (ca_lock) stays taken and
 * ct_ca_receive must follow; on failure it is released and err says why. */
int ct_ca_send(struct ct_runtime *runtime, const struct ct_pending_fetch *request, char *err,
               size_t errlen);

/* Receives the answer to the request just sent, then releases the link. The answer must name
 * the request and hold one pack per number, in the request's order; it is copied into *answer.
 * CL_ERR_PERMISSION: ca-server refuses the request for good (a Sender fault); any other failure
 * (a Receiver fault, a lost connection) is worth sending the request again later. */
int ct_ca_receive(struct ct_runtime *runtime, const struct ct_pending_fetch *request,
                  struct ct_answer *answer, char *err, size_t errlen);

/* Checks every pack of an answer: well formed (cl_pack_parse) and issued for the number it is
 * given for; takes each pack's certificate serial into the answer. CL_ERR_PARSE naming the
 * number if one is not acceptable. */
int ct_answer_check(struct ct_answer *answer, char *err, size_t errlen);

#endif
