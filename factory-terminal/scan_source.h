/* scan_source.h: where the line's scans come from: stdin (a keyboard-wedge scanner types the
 * number and Enter), a serial scanner on a tty, or a file. One scan per line, bounded. */
#ifndef CERTLINE_SCAN_SOURCE_H
#define CERTLINE_SCAN_SOURCE_H

#include <stdatomic.h>
#include <stddef.h>

#define FT_SCAN_MAX 64 /* bytes in one scan line; a longer line is rejected whole */
#define FT_DEFAULT_BAUD 9600

struct ft_scan_source;

enum ft_scan_kind {
    FT_SCAN_LINE,     /* line holds a trimmed, non-blank, non-comment scan */
    FT_SCAN_TOO_LONG, /* the line was longer than FT_SCAN_MAX; line holds its beginning */
    FT_SCAN_EOF,      /* no more scans */
    FT_SCAN_STOPPED,  /* *stop became set while waiting */
    FT_SCAN_ERROR,    /* read failed (err says why), e.g. the scanner was unplugged */
};

/* Opens a source; err names the file or device and the cause. */
int ft_scan_open_stdin(struct ft_scan_source **out, char *err, size_t errlen);
int ft_scan_open_file(const char *path, struct ft_scan_source **out, char *err, size_t errlen);
/* A serial scanner: baud (e.g. 9600), 8N1, canonical mode, CR or LF ends a scan, no echo. The
 * terminal settings are restored by ft_scan_close. */
int ft_scan_open_tty(const char *path, long baud, struct ft_scan_source **out, char *err,
                     size_t errlen);

/* 1 if baud is a rate ft_scan_open_tty supports. */
int ft_scan_baud_ok(long baud);

/* The next scan. CR or LF ends a scan (a lone CR too); blank lines and lines starting with '#'
 * are skipped; surrounding spaces and tabs are trimmed; NUL or other control bytes are kept as
 * '?' (and then rejected as not a device number). Returns FT_SCAN_STOPPED soon after *stop
 * becomes non-zero. */
enum ft_scan_kind ft_scan_next(struct ft_scan_source *source, char line[FT_SCAN_MAX + 1],
                               const atomic_int *stop, char *err, size_t errlen);

/* "stdin", "file scans.txt", "serial /dev/ttyUSB0 at 9600 baud". */
const char *ft_scan_describe(const struct ft_scan_source *source);

/* Restores the terminal (tty) and closes. ft_scan_close(NULL) does nothing. */
void ft_scan_close(struct ft_scan_source *source);

#endif
