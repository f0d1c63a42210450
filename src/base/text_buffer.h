/*
 * text_buffer.h - a growable NUL-terminated string. Appending never fails
 * loudly: once memory runs out the buffer is marked failed, further appends
 * do nothing, and the owner checks `failed` once at the end.
 */
#ifndef R1_BASE_TEXT_BUFFER_H
#define R1_BASE_TEXT_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct text_buffer {
    char *data; /* malloc'd, NUL-terminated once anything was appended */
    size_t len, cap;
    bool failed;
} text_buffer;

void text_buffer_append(text_buffer *b, const char *s, size_t n);
void text_buffer_append_str(text_buffer *b, const char *s);

#endif
