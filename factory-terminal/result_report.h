/* result_report.h: what the operator and the manufacturing execution system see of each device:
 * one result line (or one JSON event line with --json) on stdout, flushed, and the same JSON
 * event appended and fsynced to the events file when one is configured. */
#ifndef CERTLINE_RESULT_REPORT_H
#define CERTLINE_RESULT_REPORT_H

#include <stddef.h>

#include "scan_source.h"

enum ft_result { FT_RESULT_OK, FT_RESULT_NG, FT_RESULT_REJECTED };

#define FT_REASON_MAX 600

/* The outcome of one scan. */
struct ft_outcome {
    char device_number[FT_SCAN_MAX + 1]; /* as scanned (printable ASCII) */
    enum ft_result result;
    const char *stage; /* "scan", "S5", "S6", "S7", "S8", "S10", "S11", "S13" (static) */
    char reason[FT_REASON_MAX];
    char serial[48];       /* the pack's certificate serial, when known */
    int replacement_known; /* an NG write was reported (S11) and answered (S12) */
    int replacement_ready; /* then: the comm-terminal holds a replacement pack */
    long long elapsed_ms;
};

struct ft_report;

/* json: JSON event lines on stdout instead of operator lines. events_file: "" or a path opened
 * for appending (created 0640 if missing). Returns a cl_err code; err names the file. */
int ft_report_open(const char *line_id, int json, const char *events_file, struct ft_report **out,
                   char *err, size_t errlen);

/* Prints the outcome and records it. Returns CL_OK, or CL_ERR_IO if the events file could not
 * be written (err says why; the record for the execution system is then incomplete). */
int ft_report_device(struct ft_report *report, const struct ft_outcome *outcome, char *err,
                     size_t errlen);

void ft_report_close(struct ft_report *report);

/* Copies outside text (a device's or a server's reason) into dst for messages and the wire:
 * valid UTF-8 kept, invalid bytes as '?', control characters as spaces, cut on a character
 * boundary to fit size (NUL included). NULL copies as "". Returns dst. */
char *ft_clip_text(char *dst, size_t size, const char *src);

#endif
