/* error.c - formatting of r1_error messages (see error.h). */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int r1_error_set(r1_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int r1_error_prefix(r1_error *err, const char *fmt, ...) {
    if (err) {
        char prefix[256];
        char old[sizeof err->message];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        memcpy(old, err->message, sizeof old);
        /* prefix, ": ", then as much of the old message as fits */
        size_t cap = sizeof err->message, n = strlen(prefix);
        if (n > cap - 3) n = cap - 3;
        memcpy(err->message, prefix, n);
        memcpy(err->message + n, ": ", 2);
        size_t rest = strnlen(old, sizeof old);
        if (rest > cap - 1 - (n + 2)) rest = cap - 1 - (n + 2);
        memcpy(err->message + n + 2, old, rest);
        err->message[n + 2 + rest] = 0;
    }
    return -1;
}
