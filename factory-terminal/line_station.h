/* line_station.h: one device at a time through S5..S13: the pack from the comm-terminal, the
 * pack to the device on the jig, the device's write result handed over by the line server's
 * handler, and the comm-terminal's record of it. All comm-terminal calls are made by the thread
 * that calls ft_station_process, in the order S5, S9, S11. */
#ifndef CERTLINE_LINE_STATION_H
#define CERTLINE_LINE_STATION_H

#include <stdatomic.h>
#include <stddef.h>

#include "ft_config.h"
#include "peer.h"
#include "result_report.h"
#include "tls.h"
#include "transmission_key.h"

struct ft_station;

/* stop: set (e.g. by a signal handler) to abandon a device that waits for its write result. */
int ft_station_new(const struct ft_config *config, struct cl_tls *client_tls,
                   const atomic_int *stop, struct ft_station **out, char *err, size_t errlen);

/* Provisions the device whose number (already checked by cl_wire_device_number_ok) was scanned;
 * fills *outcome (device_number, elapsed time included). */
void ft_station_process(struct ft_station *station, const char *device_number,
                        struct ft_outcome *outcome);

/* Answers any handler still waiting (the line is stopping). Call before stopping the server. */
void ft_station_release(struct ft_station *station);

void ft_station_free(struct ft_station *station);

/* S10 as the line server received it (strings copied as sent, bounded by the wire contract; an
 * absent field is ""). */
struct ft_write_report {
    char device_number[32];
    int ok;
    char reason[257];
    char serial[48];
    char verification[72];
    char transmission_id[CL_TRANSMISSION_ID_HEX + 1];
    char mac[CL_WRITE_RESULT_MAC_HEX + 1];
};

/* S13: what to answer the device. */
struct ft_write_answer {
    int ok;
    char reason[257];
};

/* For the line server's handler: checks the report against the device being provisioned, the
 * peer that sent it and the transmission it answers (its MAC under the key of the S7 sent for
 * that device; a report that fails any check does not count, and the wait goes on), hands it to the
 * thread in ft_station_process and waits (bounded) for the comm-terminal's verdict. Returns CL_OK
 * with *answer filled, or a cl_err code with why (the report is refused: the handler answers a
 * Sender fault, and the station keeps waiting for a good report). */
int ft_station_write_result(struct ft_station *station, const struct cl_peer *peer,
                            const struct ft_write_report *report, struct ft_write_answer *answer,
                            char *why, size_t whylen);

#endif
