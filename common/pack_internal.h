/* pack_internal.h: what pack.c shares with pack_wrapped.c (the version 2 builder); not API. */
#ifndef CERTLINE_PACK_INTERNAL_H
#define CERTLINE_PACK_INTERNAL_H

#include <stddef.h>

#include "pack.h"

/* Every member of contents is given. */
int cl_packi_contents_ok(const struct cl_pack_contents *contents);

/* Checks contents against the certificate (cert_der) as cl_pack_parse would, and writes the pack
 * JSON of version with sealed (base64 into sealed_key) and device_value. CL_ERR_INVALID_ARGUMENT
 * (logged), CL_ERR_TOO_LARGE, CL_ERR_NOMEM. */
int cl_packi_emit(const struct cl_pack_contents *contents, int version,
                  const unsigned char *cert_der, size_t cert_len, const unsigned char *sealed,
                  size_t sealed_len, const char *device_value, char **pack_json);

#endif
