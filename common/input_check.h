/* input_check.h: checks of values that come from outside, before they reach a database or a
 * message: well-formed text within bounds, model codes, device numbers, certificate serials,
 * verification values, and a printable shortened copy of any value for error messages. */
#ifndef CERTLINE_INPUT_CHECK_H
#define CERTLINE_INPUT_CHECK_H

#include <stddef.h>

#define CL_MODEL_CODE_MAX 8            /* [0-9A-Z]{1,8} */
#define CL_DEVICE_SERIAL_DIGITS_MAX 12 /* the [0-9]{1,12} after a device number's '-' */
#define CL_VERIFY_HEX_DIGITS 64        /* a SHA-256 verification value in hex */
#define CL_SERIAL_HEX_DIGITS_MAX 40    /* a certificate serial: at most 20 octets */

/* A printable, shortened copy of an outside value, for an error message. */
const char *cl_shown(const char *s, char *buf, size_t len);

/* 1 if s is well-formed UTF-8 without control characters (but tab, CR and LF when lines is
 * set), min..max bytes long. */
int cl_utf8_ok(const char *s, size_t min, size_t max, int lines);

int cl_text_ok(const char *s, size_t min, size_t max);

/* 1 if s is 1..max printable ASCII characters without spaces (ids, key ids). */
int cl_token_ok(const char *s, size_t max);

/* 1 if s is 1..max characters of [0-9A-Za-z._:-] (key ids, key file labels); 0 for NULL. */
int cl_label_ok(const char *s, size_t max);

/* 1 if c is 0-9 or A-Z. */
int cl_is_upper_alnum(char c);

int cl_model_code_ok(const char *s);

/* A listing's optional device-model filter: 1 if code is "" or a device model code; else 0, and
 * the warning "<what>: device model "<code>" is malformed" is logged. */
int cl_model_filter_ok(const char *what, const char *code);

/* 1 if s is a device number as the wire contract spells it (wsdl/device.h, DeviceNumber):
 * [0-9A-Z]{1,8}-[0-9]{1,12}, i.e. a model code, '-', then 1 to 12 decimal digits. 0 for NULL. */
int cl_wire_device_number_ok(const char *s);

/* 1 if JSON text (len bytes) holds the escape \u0000 in a string: cJSON would cut the string
 * there and the value would be read as its shorter prefix. */
int cl_json_has_nul_escape(const char *text, size_t len);

/* Upper-case hex, even length, 2..40 characters. */
int cl_serial_ok(const char *s);

/* Exactly CL_VERIFY_HEX_DIGITS hex digits (either case); lower-cased into out. */
int cl_verify_value_ok(const char *s, char out[CL_VERIFY_HEX_DIGITS + 1]);

void cl_copy_text(char *dst, size_t size, const char *src);

#endif
