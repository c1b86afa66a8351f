/* soap_namespaces.c: the one inclusion of the generated namespace table (all four interfaces). */
#include "soapH.h"

#include "CertificateAuthority.nsmap"
