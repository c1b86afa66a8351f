/* log.h: one-line log records with a level, written to stderr (or another descriptor) with a
 * single write(2) each, so that records from concurrent threads never interleave.
 *
 * Record format (UTC, milliseconds):
 *     2026-11-21T16:52:11.123Z ca-server[1234] warn: message
 *
 * Callers must never pass secrets (private keys, passwords, session keys, PINs) to the log. As a
 * second line of defence only, every message is redacted before it is written:
 *   - a PEM block whose label contains "PRIVATE KEY" or "ENCRYPTED" is replaced, from its BEGIN
 *     line to the end of its END line (or to the end of the message if there is no END line),
 *     with "[redacted private key]";
 *   - a run of 41 or more consecutive hex digits (longer than any certificate serial), or of 44
 *     or more consecutive base64 characters [A-Za-z0-9+/=] (a 32-byte key), is replaced with
 *     "[redacted]" (long paths without '.', '-' or '_' match this too and are redacted).
 * Newlines and other control characters in a message are then escaped ("\n" is written as the
 * two characters '\' 'n', others as "\xHH"), so one call is always one line and a message cannot
 * forge further records. A record longer than CL_LOG_LINE_MAX bytes is cut and ends in "...". */
#ifndef CERTLINE_LOG_H
#define CERTLINE_LOG_H

/* Longest record written, its final newline included. */
#define CL_LOG_LINE_MAX 2048

enum cl_log_level {
    CL_LOG_ERROR = 0,
    CL_LOG_WARN = 1,
    CL_LOG_INFO = 2,
    CL_LOG_DEBUG = 3,
};

/* Records above level are dropped. The default is CL_LOG_INFO. Levels outside the enum are
 * clamped. Safe to call from any thread. */
void cl_log_set_level(enum cl_log_level level);

/* The current level. */
enum cl_log_level cl_log_get_level(void);

/* 1 if a record at level would be written, else 0 (to skip costly preparation). */
int cl_log_enabled(enum cl_log_level level);

/* Parses "error", "warn", "info" or "debug" (exactly, lower case) into *out. Returns 0, or
 * CL_ERR_INVALID_ARGUMENT for any other text or a NULL argument (*out is then unchanged). */
int cl_log_level_parse(const char *name, enum cl_log_level *out);

/* "error", "warn", "info" or "debug"; "unknown" for a value outside the enum. */
const char *cl_log_level_name(enum cl_log_level level);

/* The program name shown in each record (copied, at most 63 bytes; control characters become
 * '?'). The default is "certline"; NULL or "" restores it. Call once at startup, before other
 * threads log. */
void cl_log_set_program(const char *name);

/* Where records go: a file descriptor the caller keeps open (the default is 2, stderr). A
 * negative fd discards every record. Safe to call from any thread. */
void cl_log_set_sink(int fd);

/* Writes one record at level if level is enabled. errno is preserved. Thread-safe. */
void cl_log(enum cl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cl_log_error(...) cl_log(CL_LOG_ERROR, __VA_ARGS__)
#define cl_log_warn(...) cl_log(CL_LOG_WARN, __VA_ARGS__)
#define cl_log_info(...) cl_log(CL_LOG_INFO, __VA_ARGS__)
#define cl_log_debug(...) cl_log(CL_LOG_DEBUG, __VA_ARGS__)

#endif
