/* key_pem.h: a private key written as PEM text for a key file, with no clear copy left behind
 * (mbedtls_pk_write_key_pem leaves the DER on its stack and frees an unwiped base64 copy). */
#ifndef CERTLINE_KEY_PEM_H
#define CERTLINE_KEY_PEM_H

#include <stddef.h>

/* The private key in der (any form mbedtls_pk_parse_key reads) as the PEM text
 * mbedtls_pk_write_key_pem would write ("EC PRIVATE KEY" / "RSA PRIVATE KEY", 64 characters a
 * line), NUL-terminated in a malloc'd buffer of *pem_size bytes: free it with
 * cl_secret_free(*pem, *pem_size). Every intermediate buffer is wiped. Returns a cl_err code
 * (CL_ERR_PARSE: not a private key). Only for files; in memory, hand mbedTLS the DER. */
int cl_key_der_to_pem(const unsigned char *der, size_t len, char **pem, size_t *pem_size);

#endif
