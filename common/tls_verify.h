/* tls_verify.h: a cache of peer certificate chains already verified, shared by the TLS contexts
 * of one program that meets the same peers again and again (a factory terminal: every device of
 * a model presents the same common chain). See tls.h, cl_tls_share_verified_chains, for what
 * the cache changes in a handshake and why it is safe. */
#ifndef CERTLINE_TLS_VERIFY_H
#define CERTLINE_TLS_VERIFY_H

#include <stddef.h>

struct cl_verify_cache;

#define CL_VERIFY_CACHE_DEFAULT_ENTRIES 64
#define CL_VERIFY_CACHE_DEFAULT_MAX_AGE_S 3600

/* A cache of at most max_entries chains, each trusted for at most max_age_s seconds after its
 * full verification (and never past any of its certificates' validity). Returns a cl_err code. */
int cl_verify_cache_new(size_t max_entries, int max_age_s, struct cl_verify_cache **out);

/* Frees the cache; every TLS context using it must be freed first. NULL does nothing. */
void cl_verify_cache_free(struct cl_verify_cache *cache);

/* Counters for tests and benchmarks: full verifications made, and verifications answered from
 * the cache (signatures not checked again). */
void cl_verify_cache_counts(struct cl_verify_cache *cache, unsigned long *full,
                            unsigned long *cached);

#endif
