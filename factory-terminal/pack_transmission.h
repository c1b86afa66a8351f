/* pack_transmission.h: S7/S8 [FIG 23A]: the pack and this transmission's id and key to the device
 * on the jig, over a new mutual-TLS client for that device (its model's common certificate is
 * expected), and the device's reception response. */
#ifndef CERTLINE_PACK_TRANSMISSION_H
#define CERTLINE_PACK_TRANSMISSION_H

#include <stddef.h>

#include "ft_config.h"
#include "pack.h"
#include "soap_tls.h"
#include "tls.h"
#include "transmission_key.h"

/* Sends S7 for device_number (pack parsed, pack_text its wire text) with tx's id and key, and
 * reads S8. Returns CL_OK with *accepted (the device's S8 OK) and the device's reason if it
 * refused, or a cl_err code with reason. The key's hex copy and the client's buffer are
 * zeroised before returning; neither reason nor any log holds the key. */
int ft_transmit(const struct ft_config *config, struct cl_tls *tls,
                const struct cl_soap_limits *limits, const char *device_number,
                const struct cl_pack *pack, char *pack_text, const struct cl_transmission *tx,
                int *accepted, char *reason, size_t reasonlen);

#endif
