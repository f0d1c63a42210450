/*
 * log.c - the logger (see log.h). A line is formatted into a local buffer
 * and written with one fwrite under a mutex, so lines from several threads
 * never interleave.
 */
#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static r1_log_level log_level = R1_LOG_INFO;
static bool log_json = false;

static const char *level_names[] = {"error", "warn", "info", "debug"};

static void log_init_from_env(void) {
    const char *level = getenv("R1_LOG_LEVEL");
    if (level)
        for (int i = 0; i <= R1_LOG_DEBUG; i++)
            if (strcmp(level, level_names[i]) == 0) log_level = (r1_log_level)i;
    const char *format = getenv("R1_LOG_FORMAT");
    log_json = format && strcmp(format, "json") == 0;
}

void r1_log_set_level(r1_log_level level) {
    pthread_once(&log_once, log_init_from_env);
    log_level = level;
}

r1_log_level r1_log_get_level(void) {
    pthread_once(&log_once, log_init_from_env);
    return log_level;
}

/* Appends s to out as the inside of a JSON string. */
static size_t json_escape(char *out, size_t cap, const char *s) {
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
    return n;
}

void r1_log_set_json(bool json) {
    pthread_once(&log_once, log_init_from_env);
    log_json = json;
}

static void timestamp(char *out, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", when, (int)(ts.tv_nsec / 1000000) % 1000);
}

static void write_line(const char *line, size_t len) {
    pthread_mutex_lock(&log_mutex);
    fwrite(line, 1, len, stderr);
    pthread_mutex_unlock(&log_mutex);
}

/* Appends one field to line[*n..cap): ` key=value` or `,"key":value`. */
static void append_field(char *line, size_t cap, size_t *n, const r1_log_field *f) {
    char value[1024];
    if (f->text) json_escape(value, sizeof value, f->text);
    else if (f->number == (double)(long long)f->number) snprintf(value, sizeof value, "%lld", (long long)f->number);
    else snprintf(value, sizeof value, "%.6g", f->number);
    bool quote = f->text && (log_json || strpbrk(f->text, " \t\"=") || !*f->text);
    const char *fmt = log_json ? (quote ? ",\"%s\":\"%s\"" : ",\"%s\":%s") : (quote ? " %s=\"%s\"" : " %s=%s");
    if (*n < cap) *n += (size_t)snprintf(line + *n, cap - *n, fmt, f->key, value);
}

void r1_log_fields(r1_log_level level, const char *message, const r1_log_field *fields, int n) {
    pthread_once(&log_once, log_init_from_env);
    if (level > log_level) return;
    char when[64], escaped[4200], line[8192];
    timestamp(when, sizeof when);
    json_escape(escaped, sizeof escaped, message);
    size_t len = log_json ? (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"",
                                             when, level_names[level], escaped)
                          : (size_t)snprintf(line, sizeof line, "%s %-5s %s", when, level_names[level], message);
    for (int i = 0; i < n; i++) append_field(line, sizeof line - 3, &len, &fields[i]);
    if (len > sizeof line - 3) len = sizeof line - 3;
    if (log_json) line[len++] = '}';
    line[len++] = '\n';
    write_line(line, len);
}

/* A plain line is a structured line without fields. */
void r1_log(r1_log_level level, const char *fmt, ...) {
    pthread_once(&log_once, log_init_from_env);
    if (level > log_level) return;
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    r1_log_fields(level, message, NULL, 0);
}
