/*
 * text_buffer.c - a growable string (text_buffer.h).
 */
#include "base/text_buffer.h"

#include <stdlib.h>
#include <string.h>

void text_buffer_append(text_buffer *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void text_buffer_append_str(text_buffer *b, const char *s) { text_buffer_append(b, s, strlen(s)); }
