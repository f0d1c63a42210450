/*
 * error.h - errors as values.
 *
 * Every function that can fail on outside input returns an int (0 = ok,
 * -1 = failure) and fills an r1_error with one line that names the file,
 * field or request and the problem. Callers either pass the message up or
 * print it; nothing aborts the process on bad input.
 */
#ifndef R1_BASE_ERROR_H
#define R1_BASE_ERROR_H

#include <stddef.h>

#ifndef R1_ERROR_DEFINED
#define R1_ERROR_DEFINED
/* Same definition as in include/r1.h, the public API. */
typedef struct r1_error {
    char message[512];
} r1_error;
#endif

/* Formats the message into err (when err is not NULL) and returns -1, so a
 * failing function can end with `return r1_error_set(err, "...", ...);`. */
int r1_error_set(r1_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Puts "prefix: " in front of the message already in err, to add context
 * (a file name, a tensor name) as the error travels up. Returns -1. */
int r1_error_prefix(r1_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
