/*
 * log.h - levelled, thread-safe logging to stderr, as text or JSON lines.
 *
 * The level comes from R1_LOG_LEVEL (error|warn|info|debug, default info)
 * and the format from R1_LOG_FORMAT (text|json). One call writes one line.
 */
#ifndef R1_BASE_LOG_H
#define R1_BASE_LOG_H

typedef enum r1_log_level {
    R1_LOG_ERROR = 0,
    R1_LOG_WARN = 1,
    R1_LOG_INFO = 2,
    R1_LOG_DEBUG = 3
} r1_log_level;

void r1_log(r1_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void r1_log_set_level(r1_log_level level);
r1_log_level r1_log_get_level(void);

#define r1_log_error(...) r1_log(R1_LOG_ERROR, __VA_ARGS__)
#define r1_log_warn(...) r1_log(R1_LOG_WARN, __VA_ARGS__)
#define r1_log_info(...) r1_log(R1_LOG_INFO, __VA_ARGS__)
#define r1_log_debug(...) r1_log(R1_LOG_DEBUG, __VA_ARGS__)

#endif
