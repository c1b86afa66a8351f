/* request_id.h: FIG 21 request ids: this factory's name, what the request is for, and 128 bits
 * from the CSPRNG, so that no other factory can guess or collide with one. */
#ifndef CERTLINE_CT_REQUEST_ID_H
#define CERTLINE_CT_REQUEST_ID_H

#include <stddef.h>

/* Random octets in a request id (32 hex digits). */
#define CT_REQUEST_ID_RANDOM_OCTETS 16

/* Writes "FACTORY-WHAT-<32 hex digits>" to out (at most 60 characters, within the wire's
 * [0-9A-Za-z._:-]{1,64}): the first 16 characters of factory and 10 of what, any character
 * outside [0-9A-Za-z._-] as '-'. len must be at least 61. Returns CL_OK, CL_ERR_INVALID_ARGUMENT,
 * or CL_ERR_CRYPTO when the random generator fails (out is then "": never a guessable id). */
int ct_new_request_id(const char *factory, const char *what, char *out, size_t len);

#endif
