/* config.h: strict, table-driven loading of a JSON configuration file into a typed struct. Each
 * program describes its struct once as a table of fields (key, type, bounds, default, help);
 * the loader applies the defaults, then the file, and refuses anything the table does not allow:
 * unknown or duplicate keys, wrong JSON types (no conversions: "5" is not an integer, 5.0 is not
 * an integer, 1 is not a boolean), values out of bounds, missing required keys, and what cJSON
 * would accept beyond JSON (leading zeros such as 0600, "\u0000" inside strings).
 *
 * Storage, one C type per kind of field (checked at compile time by the CL_CFG_* macros):
 *   CL_CFG_STRING     char member[N]; the value is at most N-1 bytes and NUL-terminated
 *   CL_CFG_INT        long long member; min..max inclusive
 *   CL_CFG_BOOL       bool member
 *   CL_CFG_LOG_LEVEL  enum cl_log_level member; the JSON value is "error", "warn", "info" or
 *                     "debug"
 *   CL_CFG_OBJECT     a struct member described by its own table; keys are shown dotted
 *                     ("tls.cert_file")
 *
 * Example:
 *     struct tls_cfg { char cert_file[256]; char key_file[256]; };
 *     struct ca_cfg { char name[64]; long long listen_port; bool debug; struct tls_cfg tls; };
 *
 *     static const struct cl_cfg_field tls_fields[] = {
 *         CL_CFG_STR(struct tls_cfg, cert_file, "cert_file", 1, 1, "certificate chain (PEM)"),
 *         CL_CFG_STR(struct tls_cfg, key_file, "key_file", 1, 1, "private key (PEM)"),
 *     };
 *     static const struct cl_cfg_table tls_table = CL_CFG_TABLE(tls_fields);
 *     static const struct cl_cfg_field ca_fields[] = {
 *         CL_CFG_STR_DEF(struct ca_cfg, name, "name", "ca", 1, "name shown in logs"),
 *         CL_CFG_INT(struct ca_cfg, listen_port, "listen_port", 0, 1, 65535, 8443, "TCP port"),
 *         CL_CFG_BOOL(struct ca_cfg, debug, "debug", 0, 0, "verbose diagnostics"),
 *         CL_CFG_OBJ(struct ca_cfg, tls, "tls", 1, &tls_table, "TLS settings"),
 *     };
 *     static const struct cl_cfg_table ca_table = CL_CFG_TABLE(ca_fields);
 */
#ifndef CERTLINE_CONFIG_H
#define CERTLINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

/* Largest configuration file accepted. */
#define CL_CONFIG_MAX_BYTES (1024 * 1024)

enum cl_cfg_type {
    CL_CFG_STRING,
    CL_CFG_INT,
    CL_CFG_BOOL,
    CL_CFG_OBJECT,
    CL_CFG_LOG_LEVEL,
    CL_CFG_LIST,
};

struct cl_cfg_table;

/* One key. Use the CL_CFG_* macros below rather than filling this in by hand. */
struct cl_cfg_field {
    const char *key; /* one JSON key, without dots */
    enum cl_cfg_type type;
    size_t offset;           /* of the member in the struct */
    size_t size;             /* sizeof the member; for a string its capacity, NUL included */
    int required;            /* 1: the key must be present */
    long long min, max;      /* int: value bounds; string: length bounds in bytes (max < size) */
    const char *default_str; /* string: value when absent (NULL: "") */
    long long default_int;   /* int, bool (0/1), log level: value when absent */
    const struct cl_cfg_table *sub; /* object: the table of the nested struct */
    const char *help;               /* one line for --help */
};

struct cl_cfg_table {
    const struct cl_cfg_field *fields;
    size_t count;
};

/* A table from an array of fields. */
#define CL_CFG_TABLE(fields_array)                                                                 \
    {                                                                                              \
        (fields_array), sizeof(fields_array) / sizeof((fields_array)[0])                           \
    }

/* Compile-time checked offsets: a build error here means the member has the wrong C type. */
#define CL_CFG_MEMBER_(T, m) (((T *)0)->m)
#define CL_CFG_STR_OFFSET_(T, m)                                                                   \
    _Generic(&CL_CFG_MEMBER_(T, m), char(*)[sizeof(CL_CFG_MEMBER_(T, m))] : offsetof(T, m))
#define CL_CFG_INT_OFFSET_(T, m) _Generic(CL_CFG_MEMBER_(T, m), long long : offsetof(T, m))
#define CL_CFG_BOOL_OFFSET_(T, m) _Generic(CL_CFG_MEMBER_(T, m), bool : offsetof(T, m))
#define CL_CFG_LEVEL_OFFSET_(T, m)                                                                 \
    _Generic(CL_CFG_MEMBER_(T, m), enum cl_log_level : offsetof(T, m))

/* A string in char member[N] of T: at least minlen_ bytes, at most N-1; "" when absent. */
#define CL_CFG_STR(T, m, key_, required_, minlen_, help_)                                          \
    CL_CFG_STR_DEF_(T, m, key_, required_, NULL, minlen_, help_)

/* An optional string with a default value (at most N-1 bytes). */
#define CL_CFG_STR_DEF(T, m, key_, default_, minlen_, help_)                                       \
    CL_CFG_STR_DEF_(T, m, key_, 0, default_, minlen_, help_)

#define CL_CFG_STR_DEF_(T, m, key_, required_, default_, minlen_, help_)                           \
    {                                                                                              \
        .key = (key_), .type = CL_CFG_STRING, .offset = CL_CFG_STR_OFFSET_(T, m),                  \
        .size = sizeof(CL_CFG_MEMBER_(T, m)), .required = (required_), .min = (minlen_),           \
        .max = (long long)sizeof(CL_CFG_MEMBER_(T, m)) - 1, .default_str = (default_),             \
        .default_int = 0, .sub = NULL, .help = (help_)                                             \
    }

/* An integer in long long member of T, min_..max_ inclusive; default_ when absent. */
#define CL_CFG_INT(T, m, key_, required_, min_, max_, default_, help_)                             \
    {                                                                                              \
        .key = (key_), .type = CL_CFG_INT, .offset = CL_CFG_INT_OFFSET_(T, m),                     \
        .size = sizeof(CL_CFG_MEMBER_(T, m)), .required = (required_), .min = (min_),              \
        .max = (max_), .default_str = NULL, .default_int = (default_), .sub = NULL,                \
        .help = (help_)                                                                            \
    }

/* true or false in bool member of T; default_ (0 or 1) when absent. */
#define CL_CFG_BOOL(T, m, key_, required_, default_, help_)                                        \
    {                                                                                              \
        .key = (key_), .type = CL_CFG_BOOL, .offset = CL_CFG_BOOL_OFFSET_(T, m),                   \
        .size = sizeof(CL_CFG_MEMBER_(T, m)), .required = (required_), .min = 0, .max = 1,         \
        .default_str = NULL, .default_int = (default_), .sub = NULL, .help = (help_)               \
    }

/* "error", "warn", "info" or "debug" in enum cl_log_level member of T; default_ when absent. */
#define CL_CFG_LOG_LEVEL(T, m, key_, required_, default_, help_)                                   \
    {                                                                                              \
        .key = (key_), .type = CL_CFG_LOG_LEVEL, .offset = CL_CFG_LEVEL_OFFSET_(T, m),             \
        .size = sizeof(CL_CFG_MEMBER_(T, m)), .required = (required_), .min = CL_LOG_ERROR,        \
        .max = CL_LOG_DEBUG, .default_str = NULL, .default_int = (default_), .sub = NULL,          \
        .help = (help_)                                                                            \
    }

/* A JSON array of strings in char member[N] of T, joined by single spaces: each item minlen_
 * to maxlen_ bytes of printable ASCII without spaces, the whole at most N-1; "" when absent. */
#define CL_CFG_LIST(T, m, key_, minlen_, maxlen_, help_)                                           \
    {                                                                                              \
        .key = (key_), .type = CL_CFG_LIST, .offset = CL_CFG_STR_OFFSET_(T, m),                    \
        .size = sizeof(CL_CFG_MEMBER_(T, m)), .required = 0, .min = (minlen_), .max = (maxlen_),   \
        .default_str = NULL, .default_int = 0, .sub = NULL, .help = (help_)                        \
    }

/* A nested object stored in struct member m of T, described by table sub_ (a pointer). When
 * an optional object is absent, its members keep their defaults. */
#define CL_CFG_OBJ(T, m, key_, required_, sub_, help_)                                             \
    {                                                                                              \
        .key = (key_), .type = CL_CFG_OBJECT, .offset = offsetof(T, m),                            \
        .size = sizeof(CL_CFG_MEMBER_(T, m)), .required = (required_), .min = 0, .max = 0,         \
        .default_str = NULL, .default_int = 0, .sub = (sub_), .help = (help_)                      \
    }

/* Sets every member described by table (nested tables included) to its default.
 * Returns CL_OK, or CL_ERR_INTERNAL if the table itself is inconsistent (err says which key). */
int cl_config_apply_defaults(const struct cl_cfg_table *table, void *out, char *err, size_t errlen);

/* Loads the JSON text json (NUL-terminated) into out: defaults first, then the values present.
 * name (a file name, or any label) begins every error message. Returns CL_OK, or:
 *   CL_ERR_CONFIG            the text is not acceptable; err holds one line such as
 *                              ca.json: key "listen_port": 70000 is out of range 1..65535
 *                              ca.json: unknown key "tls.certfile"
 *                              ca.json: invalid JSON near line 3
 *   CL_ERR_INTERNAL          the table is inconsistent (a programming error);
 *   CL_ERR_NOMEM, CL_ERR_INVALID_ARGUMENT.
 * On failure out may hold a mix of defaults and values and must not be used. err may be NULL;
 * otherwise it is always NUL-terminated (and "" on success). Not to be run concurrently with
 * other cJSON parsing (cJSON keeps its last error position in a global). */
int cl_config_load_string(const char *name, const char *json, const struct cl_cfg_table *table,
                          void *out, char *err, size_t errlen);

/* Reads path (at most CL_CONFIG_MAX_BYTES) and loads it as cl_config_load_string does, with path
 * as the name. A missing, unreadable, oversized file, or one holding a NUL byte, is refused with
 * CL_ERR_CONFIG and a message naming path. */
int cl_config_load_file(const char *path, const struct cl_cfg_table *table, void *out, char *err,
                        size_t errlen);

/* Lists every key of table (dotted for nested objects) with its type, bounds, default or
 * "required", and help line, for --help. */
void cl_config_print_help(FILE *fp, const struct cl_cfg_table *table);

#endif
