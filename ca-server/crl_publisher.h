/* crl_publisher.h: serve's CRL publisher: a thread that publishes the issuing CA's CRL at start,
 * every crl_period_s, and soon after any revocation (by serve, by an operator's `revoke`, or by
 * another ca-server on the database); it keeps the current CRL in memory for ca:RevocationList
 * and installs each one into serve's own CRL holder, which its TLS handshakes check. */
#ifndef CERTLINE_CA_CRL_PUBLISHER_H
#define CERTLINE_CA_CRL_PUBLISHER_H

#include <stddef.h>
#include <time.h>

#include "crl_holder.h"

struct ca_runtime;
struct ca_crl_publisher;

/* How often the publisher asks the store whether something was revoked since its last CRL. */
#define CA_CRL_POLL_S 2

/* Installs the CRL file into holder if one is there, publishes a first CRL (a failure is logged
 * and retried), then starts the thread. runtime (config, authority, pool) outlives it.
 * CL_OK, or CL_ERR_NOMEM / CL_ERR_INTERNAL with err. */
int ca_crl_publisher_start(struct ca_runtime *runtime, struct cl_crl_holder *holder,
                           struct ca_crl_publisher **out, char *err, size_t errlen);

/* Stops the thread and frees everything. NULL does nothing. */
void ca_crl_publisher_stop(struct ca_crl_publisher *publisher);

/* Asks for a new CRL now (after a revocation serve performed). Thread-safe; NULL does nothing. */
void ca_crl_publisher_kick(struct ca_crl_publisher *publisher);

/* The current CRL for a caller holding held_number: its number and dates, and *crl_b64 = its
 * DER in base64, allocated with alloc(ctx, size) (NUL-terminated), or NULL when held_number is
 * the current number. CL_OK, CL_ERR_NOT_FOUND (none published yet), CL_ERR_NOMEM. Thread-safe. */
struct ca_crl_answer {
    unsigned long long number;
    time_t this_update, next_update;
    char *crl_b64;
};
int ca_crl_publisher_answer(struct ca_crl_publisher *publisher, unsigned long long held_number,
                            void *(*alloc)(void *ctx, size_t size), void *ctx,
                            struct ca_crl_answer *out);

#endif
