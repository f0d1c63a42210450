/*
 * multipart.c - multipart/form-data bodies (RFC 7578, see multipart.h):
 * header parameters (tokens and quoted strings), the boundary from the
 * request's Content-Type, delimiter search, part headers, and the form.
 */
#include "server/multipart.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable string buffer (the form's storage) ---- */

typedef struct strbuf {
    char *data;
    size_t len, cap;
} strbuf;

static int sb_putc(strbuf *sb, char c) {
    if (sb->len + 1 >= sb->cap) {
        size_t cap = sb->cap ? sb->cap * 2 : 256;
        char *grown = realloc(sb->data, cap);
        if (!grown) return -1;
        sb->data = grown;
        sb->cap = cap;
    }
    sb->data[sb->len++] = c;
    return 0;
}

/* ---- header values: "type; name=value; name="quoted value"" ---- */

typedef struct cursor {
    const char *p, *end;
} cursor;

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static void skip_ows(cursor *c) {
    while (c->p < c->end && is_ows(*c->p)) c->p++;
}

static bool equal_nocase(const char *a, size_t a_len, const char *lit) {
    size_t n = strlen(lit);
    if (a_len != n) return false;
    for (size_t i = 0; i < n; i++) {
        char x = a[i], y = lit[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

/* Reads the leading token (the media type or the disposition type). */
static void read_leading_token(cursor *c, const char **tok, size_t *len) {
    skip_ows(c);
    *tok = c->p;
    while (c->p < c->end && *c->p != ';' && !is_ows(*c->p)) c->p++;
    *len = (size_t)(c->p - *tok);
}

/* Reads `; name=value` (OWS allowed around each piece); the value, quotes
 * and escapes removed, is appended to value followed by a NUL, starting at
 * value->len on entry. Returns 1 when a parameter was read, 0 at the end of
 * the header value, -1 on bad syntax with *problem set. */
static int next_param(cursor *c, const char **name, size_t *name_len, strbuf *value, const char **problem) {
    skip_ows(c);
    if (c->p == c->end) return 0;
    if (*c->p != ';') return *problem = "expected ';' between parameters", -1;
    c->p++;
    skip_ows(c);
    if (c->p == c->end) return 0; /* a trailing ';' */
    *name = c->p;
    while (c->p < c->end && *c->p != '=' && *c->p != ';' && *c->p != '"' && !is_ows(*c->p)) c->p++;
    *name_len = (size_t)(c->p - *name);
    if (*name_len == 0) return *problem = "a parameter without a name", -1;
    skip_ows(c);
    if (c->p == c->end || *c->p != '=') return *problem = "a parameter without '='", -1;
    c->p++;
    skip_ows(c);
    if (c->p < c->end && *c->p == '"') {
        for (c->p++;; c->p++) {
            if (c->p == c->end) return *problem = "an unterminated quoted string", -1;
            if (*c->p == '"') break;
            if (*c->p == '\\' && c->p + 1 < c->end) c->p++; /* quoted-pair: the next character as is */
            if (sb_putc(value, *c->p)) return *problem = "out of memory", -1;
        }
        c->p++;
    } else {
        while (c->p < c->end && *c->p != ';' && !is_ows(*c->p))
            if (sb_putc(value, *c->p++)) return *problem = "out of memory", -1;
    }
    if (sb_putc(value, '\0')) return *problem = "out of memory", -1;
    return 1;
}

/* ---- the boundary ---- */

static int check_boundary(const char *b, size_t len, r1_error *err) {
    if (len < 1 || len > MULTIPART_MAX_BOUNDARY)
        return r1_error_set(err, "multipart: the boundary has %zu characters, RFC 2046 allows 1 to %d", len,
                            MULTIPART_MAX_BOUNDARY);
    for (size_t i = 0; i < len; i++)
        if (b[i] < 0x20 || b[i] > 0x7e)
            return r1_error_set(err, "multipart: the boundary holds a character that is not printable ASCII");
    if (b[len - 1] == ' ') return r1_error_set(err, "multipart: the boundary ends in a space");
    return 0;
}

int multipart_boundary_from_content_type(const char *content_type, char *boundary, size_t cap, r1_error *err) {
    if (!content_type) return r1_error_set(err, "multipart: the request has no Content-Type");
    cursor c = {content_type, content_type + strlen(content_type)};
    const char *type, *name, *problem = NULL;
    size_t type_len, name_len;
    read_leading_token(&c, &type, &type_len);
    if (!equal_nocase(type, type_len, "multipart/form-data"))
        return r1_error_set(err, "multipart: Content-Type is '%.*s', not multipart/form-data", (int)type_len, type);
    strbuf value = {0};
    int rc;
    while ((rc = next_param(&c, &name, &name_len, &value, &problem)) == 1 && !equal_nocase(name, name_len, "boundary"))
        value.len = 0;
    if (rc < 0) rc = r1_error_set(err, "multipart: Content-Type: %s", problem);
    else if (rc == 0) rc = r1_error_set(err, "multipart: Content-Type has no boundary parameter");
    else if ((rc = check_boundary(value.data, value.len - 1, err)) == 0 && value.len > cap)
        rc = r1_error_set(err, "multipart: the boundary does not fit in %zu bytes", cap);
    if (rc == 0) memcpy(boundary, value.data, value.len); /* with its NUL */
    free(value.data);
    return rc;
}

/* ---- the parser ---- */

typedef struct part_info {
    size_t name, filename, content_type; /* offsets into storage; SIZE_MAX: none */
    bool has_disposition;
    size_t data_start, data_end;
} part_info;

typedef struct parser {
    const uint8_t *body;
    size_t size;
    char delimiter[2 + MULTIPART_MAX_BOUNDARY]; /* "--" boundary */
    size_t delimiter_len;
    strbuf storage;
    part_info parts[MULTIPART_MAX_PARTS];
    int n_parts;
    r1_error *err;
} parser;

/* Whether a delimiter starts at p: "--boundary" then "--" (the close) or
 * padding and a line end. *after is where the next part's headers start
 * (or the epilogue). */
static bool delimiter_at(const parser *ps, size_t p, size_t *after, bool *closing) {
    if (ps->size - p < ps->delimiter_len || memcmp(ps->body + p, ps->delimiter, ps->delimiter_len) != 0)
        return false;
    size_t q = p + ps->delimiter_len;
    if (ps->size - q >= 2 && ps->body[q] == '-' && ps->body[q + 1] == '-') {
        *after = q + 2;
        *closing = true;
        return true;
    }
    while (q < ps->size && (ps->body[q] == ' ' || ps->body[q] == '\t')) q++;
    if (q < ps->size && ps->body[q] == '\r') q++;
    if (q < ps->size && ps->body[q] == '\n') {
        *after = q + 1;
        *closing = false;
        return true;
    }
    return false;
}

/* The first delimiter at a line start at or after from (from itself is a
 * line start: the body's beginning or just past a line end). *data_end is
 * where the data before it ends: the line end before the delimiter, less
 * its CR when there is one. Returns false when there is none. */
static bool find_delimiter(const parser *ps, size_t from, size_t *data_end, size_t *after, bool *closing) {
    if (delimiter_at(ps, from, after, closing)) {
        *data_end = from;
        return true;
    }
    for (size_t p = from; p < ps->size;) {
        const uint8_t *nl = memchr(ps->body + p, '\n', ps->size - p);
        if (!nl) return false;
        size_t line_end = (size_t)(nl - ps->body);
        if (delimiter_at(ps, line_end + 1, after, closing)) {
            *data_end = line_end > from && ps->body[line_end - 1] == '\r' ? line_end - 1 : line_end;
            return true;
        }
        p = line_end + 1;
    }
    return false;
}

static int store_param(parser *ps, int part_no, size_t *slot, const char *what, size_t start) {
    if (*slot != SIZE_MAX) {
        ps->storage.len = start;
        return r1_error_set(ps->err, "multipart: part %d has two %s parameters", part_no, what);
    }
    *slot = start;
    return 0;
}

static int parse_disposition(parser *ps, int part_no, const char *value, size_t len, part_info *pi) {
    cursor c = {value, value + len};
    const char *type, *name, *problem = NULL;
    size_t type_len, name_len;
    read_leading_token(&c, &type, &type_len);
    if (!equal_nocase(type, type_len, "form-data"))
        return r1_error_set(ps->err, "multipart: part %d: Content-Disposition is '%.*s', not form-data", part_no,
                            (int)type_len, type);
    for (;;) {
        size_t start = ps->storage.len;
        int rc = next_param(&c, &name, &name_len, &ps->storage, &problem);
        if (rc == 0) return 0;
        if (rc < 0) return r1_error_set(ps->err, "multipart: part %d: Content-Disposition: %s", part_no, problem);
        if (equal_nocase(name, name_len, "name")) {
            if (store_param(ps, part_no, &pi->name, "name", start)) return -1;
        } else if (equal_nocase(name, name_len, "filename")) {
            if (store_param(ps, part_no, &pi->filename, "filename", start)) return -1;
        } else {
            ps->storage.len = start; /* filename* and others: not used */
        }
    }
}

static int store_content_type(parser *ps, int part_no, const char *value, size_t len, part_info *pi) {
    if (pi->content_type != SIZE_MAX)
        return r1_error_set(ps->err, "multipart: part %d has two Content-Type headers", part_no);
    pi->content_type = ps->storage.len;
    for (size_t i = 0; i < len; i++)
        if (sb_putc(&ps->storage, value[i])) return r1_error_set(ps->err, "multipart: out of memory");
    if (sb_putc(&ps->storage, '\0')) return r1_error_set(ps->err, "multipart: out of memory");
    return 0;
}

/* One header line (without its line end). */
static int parse_header_line(parser *ps, int part_no, const char *line, size_t len, part_info *pi) {
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
            return r1_error_set(ps->err, "multipart: part %d: a header holds a control character", part_no);
    if (is_ows(line[0]))
        return r1_error_set(ps->err, "multipart: part %d: folded header lines are not supported", part_no);
    const char *colon = memchr(line, ':', len);
    if (!colon) return r1_error_set(ps->err, "multipart: part %d: a header line without ':'", part_no);
    size_t name_len = (size_t)(colon - line);
    while (name_len > 0 && is_ows(line[name_len - 1])) name_len--;
    const char *value = colon + 1, *end = line + len;
    while (value < end && is_ows(*value)) value++;
    while (end > value && is_ows(end[-1])) end--;
    if (equal_nocase(line, name_len, "content-disposition")) {
        if (pi->has_disposition)
            return r1_error_set(ps->err, "multipart: part %d has two Content-Disposition headers", part_no);
        pi->has_disposition = true;
        return parse_disposition(ps, part_no, value, (size_t)(end - value), pi);
    }
    if (equal_nocase(line, name_len, "content-type"))
        return store_content_type(ps, part_no, value, (size_t)(end - value), pi);
    return 0; /* other headers carry nothing a form field needs */
}

/* The header lines of part part_no starting at start, up to the blank
 * line; *data_start is just past it. */
static int parse_part_headers(parser *ps, int part_no, size_t start, part_info *pi) {
    size_t p = start;
    for (;;) {
        size_t window = ps->size - p, allowed = start + MULTIPART_MAX_HEADER_BYTES - p;
        const uint8_t *nl = memchr(ps->body + p, '\n', window < allowed ? window : allowed);
        if (!nl && window > allowed)
            return r1_error_set(ps->err, "multipart: part %d: the headers are longer than %d bytes", part_no,
                                MULTIPART_MAX_HEADER_BYTES);
        if (!nl)
            return r1_error_set(ps->err, "multipart: part %d: the body ends inside the headers (no blank line)", part_no);
        size_t line_end = (size_t)(nl - ps->body), len = line_end - p;
        if (len > 0 && ps->body[line_end - 1] == '\r') len--;
        if (len == 0) {
            pi->data_start = line_end + 1;
            break;
        }
        if (parse_header_line(ps, part_no, (const char *)ps->body + p, len, pi)) return -1;
        p = line_end + 1;
    }
    if (!pi->has_disposition)
        return r1_error_set(ps->err, "multipart: part %d has no Content-Disposition header", part_no);
    if (pi->name == SIZE_MAX) return r1_error_set(ps->err, "multipart: part %d has no Content-Disposition name", part_no);
    return 0;
}

static int split_parts(parser *ps) {
    size_t data_end, next;
    bool closing;
    if (!find_delimiter(ps, 0, &data_end, &next, &closing)) {
        if (ps->size == 0) return r1_error_set(ps->err, "multipart: the body is empty");
        return r1_error_set(ps->err, "multipart: the boundary was not found in the body");
    }
    while (!closing) {
        if (ps->n_parts == MULTIPART_MAX_PARTS)
            return r1_error_set(ps->err, "multipart: more than %d parts", MULTIPART_MAX_PARTS);
        int part_no = ps->n_parts + 1;
        part_info *pi = &ps->parts[ps->n_parts];
        *pi = (part_info){.name = SIZE_MAX, .filename = SIZE_MAX, .content_type = SIZE_MAX};
        if (parse_part_headers(ps, part_no, next, pi)) return -1;
        if (!find_delimiter(ps, pi->data_start, &pi->data_end, &next, &closing))
            return r1_error_set(ps->err, "multipart: no closing boundary (part %d runs to the end of the body)",
                                part_no);
        ps->n_parts++;
    }
    return 0;
}

static const char *stored(char *storage, size_t offset) {
    return offset == SIZE_MAX ? NULL : storage + offset;
}

/* Moves the parts and the storage into the form. */
static int build_form(parser *ps, multipart_form *out) {
    out->parts = calloc(ps->n_parts > 0 ? (size_t)ps->n_parts : 1, sizeof *out->parts);
    if (!out->parts) return r1_error_set(ps->err, "multipart: out of memory");
    out->storage = ps->storage.data;
    ps->storage = (strbuf){0};
    out->n_parts = ps->n_parts;
    for (int i = 0; i < ps->n_parts; i++) {
        const part_info *pi = &ps->parts[i];
        out->parts[i] = (multipart_part){
            .name = stored(out->storage, pi->name),
            .filename = stored(out->storage, pi->filename),
            .content_type = stored(out->storage, pi->content_type),
            .data = ps->body + pi->data_start,
            .size = pi->data_end - pi->data_start,
        };
    }
    return 0;
}

int multipart_parse(const uint8_t *body, size_t size, const char *boundary, multipart_form *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (!boundary) return r1_error_set(err, "multipart: no boundary");
    size_t boundary_len = strlen(boundary);
    if (check_boundary(boundary, boundary_len, err)) return -1;
    parser *ps = calloc(1, sizeof *ps);
    if (!ps) return r1_error_set(err, "multipart: out of memory");
    ps->body = body;
    ps->size = body ? size : 0;
    ps->err = err;
    memcpy(ps->delimiter, "--", 2);
    memcpy(ps->delimiter + 2, boundary, boundary_len);
    ps->delimiter_len = 2 + boundary_len;
    int rc = split_parts(ps);
    if (rc == 0) rc = build_form(ps, out);
    if (rc != 0) multipart_form_free(out);
    free(ps->storage.data);
    free(ps);
    return rc;
}

const multipart_part *multipart_find(const multipart_form *f, const char *name) {
    for (int i = 0; i < f->n_parts; i++)
        if (strcmp(f->parts[i].name, name) == 0) return &f->parts[i];
    return NULL;
}

int multipart_find_all(const multipart_form *f, const char *name, const multipart_part **out, int cap) {
    int count = 0;
    for (int i = 0; i < f->n_parts; i++)
        if (strcmp(f->parts[i].name, name) == 0) {
            if (count < cap) out[count] = &f->parts[i];
            count++;
        }
    return count;
}

void multipart_form_free(multipart_form *f) {
    free(f->parts);
    free(f->storage);
    memset(f, 0, sizeof *f);
}
