/*
 * fuzz_multipart.c - libFuzzer harness for the multipart/form-data parser
 * (src/server/multipart.c).
 *
 * Input: a Content-Type header value, a newline, then the body. The
 * boundary comes from the header when it yields one, else "b" (so the body
 * parser runs on every input). A refusal must say why; an accepted form
 * must keep every part inside the body, stay within the part limit, give
 * NUL-terminated strings, and find its parts by name. Then the form is
 * written out again (CRLF, quoted names) and must parse back to the same
 * parts, unless some part's data holds the delimiter text itself.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   ./fuzz_multipart -max_len=16384 -dict=fuzz/multipart.dict fuzz/corpus-multipart
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/multipart.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

typedef struct out_buf {
    uint8_t *data;
    size_t len, cap;
} out_buf;

static void put(out_buf *o, const void *p, size_t n) {
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 64;
        o->data = realloc(o->data, o->cap);
        check(o->data != NULL);
    }
    memcpy(o->data + o->len, p, n);
    o->len += n;
}

static void put_str(out_buf *o, const char *s) { put(o, s, strlen(s)); }

/* "text" with backslash before '"' and '\'. */
static void put_quoted(out_buf *o, const char *s) {
    put_str(o, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') put_str(o, "\\");
        put(o, s, 1);
    }
    put_str(o, "\"");
}

static void serialize(const multipart_form *f, const char *boundary, out_buf *o) {
    for (int i = 0; i < f->n_parts; i++) {
        const multipart_part *p = &f->parts[i];
        put_str(o, "--");
        put_str(o, boundary);
        put_str(o, "\r\nContent-Disposition: form-data; name=");
        put_quoted(o, p->name);
        if (p->filename) {
            put_str(o, "; filename=");
            put_quoted(o, p->filename);
        }
        if (p->content_type) {
            put_str(o, "\r\nContent-Type: ");
            put_str(o, p->content_type);
        }
        put_str(o, "\r\n\r\n");
        put(o, p->data, p->size);
        put_str(o, "\r\n");
    }
    put_str(o, "--");
    put_str(o, boundary);
    put_str(o, "--\r\n");
}

static int same_string(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static int holds(const uint8_t *data, size_t size, const char *text) {
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, text, n) == 0) return 1;
    return 0;
}

static void check_form(const multipart_form *f, const uint8_t *body, size_t size) {
    check(f->n_parts >= 0 && f->n_parts <= MULTIPART_MAX_PARTS);
    for (int i = 0; i < f->n_parts; i++) {
        const multipart_part *p = &f->parts[i];
        check(p->data >= body && p->size <= size && p->data + p->size <= body + size);
        check(p->name != NULL);
        check(strlen(p->name) < MULTIPART_MAX_HEADER_BYTES);
        if (p->filename) check(strlen(p->filename) < MULTIPART_MAX_HEADER_BYTES);
        if (p->content_type) check(strlen(p->content_type) < MULTIPART_MAX_HEADER_BYTES);
        const multipart_part *first = multipart_find(f, p->name);
        check(first != NULL && first <= p && strcmp(first->name, p->name) == 0);
    }
}

static void check_round_trip(const multipart_form *f, const char *boundary) {
    char delimiter[MULTIPART_MAX_BOUNDARY + 3] = "--";
    strcat(delimiter, boundary);
    for (int i = 0; i < f->n_parts; i++)
        if (holds(f->parts[i].data, f->parts[i].size, delimiter)) return;
    out_buf o = {0};
    serialize(f, boundary, &o);
    multipart_form again;
    r1_error err;
    check(multipart_parse(o.data, o.len, boundary, &again, &err) == 0);
    check(again.n_parts == f->n_parts);
    for (int i = 0; i < f->n_parts; i++) {
        const multipart_part *a = &f->parts[i], *b = &again.parts[i];
        check(strcmp(a->name, b->name) == 0 && same_string(a->filename, b->filename));
        check(same_string(a->content_type, b->content_type));
        check(a->size == b->size && (a->size == 0 || memcmp(a->data, b->data, a->size) == 0));
    }
    multipart_form_free(&again);
    free(o.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) return 0;
    size_t header_len = (size_t)(nl - data);
    char *content_type = malloc(header_len + 1);
    check(content_type != NULL);
    memcpy(content_type, data, header_len);
    content_type[header_len] = '\0';
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    r1_error err;
    if (multipart_boundary_from_content_type(content_type, boundary, sizeof boundary, &err) != 0) {
        check(strncmp(err.message, "multipart: ", 11) == 0);
        strcpy(boundary, "b");
    }
    free(content_type);
    check(strlen(boundary) >= 1 && strlen(boundary) <= MULTIPART_MAX_BOUNDARY);

    /* the body in a buffer of its own size, so ASan sees any read past it */
    size_t body_size = size - header_len - 1;
    uint8_t *body = malloc(body_size ? body_size : 1);
    check(body != NULL);
    memcpy(body, nl + 1, body_size);
    multipart_form form;
    if (multipart_parse(body, body_size, boundary, &form, &err) != 0) {
        check(strncmp(err.message, "multipart: ", 11) == 0);
        check(form.n_parts == 0 && form.parts == NULL && form.storage == NULL);
    } else {
        check_form(&form, body, body_size);
        check_round_trip(&form, boundary);
        multipart_form_free(&form);
    }
    free(body);
    return 0;
}
