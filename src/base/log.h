/*
 * log.h - levelled, thread-safe logging to stderr, as text or JSON lines.
 *
 * The level comes from R1_LOG_LEVEL (error|warn|info|debug, default info)
 * and the format from R1_LOG_FORMAT (text|json). One call writes one line.
 */
#ifndef R1_BASE_LOG_H
#define R1_BASE_LOG_H

#include <stdbool.h>

typedef enum r1_log_level {
    R1_LOG_ERROR = 0,
    R1_LOG_WARN = 1,
    R1_LOG_INFO = 2,
    R1_LOG_DEBUG = 3
} r1_log_level;

void r1_log(r1_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void r1_log_set_level(r1_log_level level);
r1_log_level r1_log_get_level(void);
void r1_log_set_json(bool json);

/* A named value of a structured line (e.g. the access log). */
typedef struct r1_log_field {
    const char *key;
    const char *text;   /* a string value, or NULL for the number */
    double number;
} r1_log_field;

/* One line with a message and fields: `message key=value ...` as text
 * (values with spaces quoted), or one JSON object with the fields as keys. */
void r1_log_fields(r1_log_level level, const char *message, const r1_log_field *fields, int n);

#define r1_log_error(...) r1_log(R1_LOG_ERROR, __VA_ARGS__)
#define r1_log_warn(...) r1_log(R1_LOG_WARN, __VA_ARGS__)
#define r1_log_info(...) r1_log(R1_LOG_INFO, __VA_ARGS__)
#define r1_log_debug(...) r1_log(R1_LOG_DEBUG, __VA_ARGS__)

#endif
