/*
 * gguf_read.c - parsing GGUF files (versions 2 and 3) into a gguf_file.
 *
 * The file is mapped read-only and walked with a bounds-checked cursor:
 * every read first checks that its bytes are there, and every count or
 * length is checked against the bytes left before anything is allocated for
 * it, so a hostile file costs at most a small multiple of its own size in
 * memory and can never make the parser read outside the buffer. After the
 * tables are read, the tensor extents are checked against the data section
 * (type, block size, alignment, end of file, overlap), so callers may use
 * tensor->data for tensor->size bytes without further checks.
 *
 * Also here: the lookups (sorted name indexes, binary search) and the typed
 * getters of gguf.h.
 */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/types.h"

#define GGUF_HEADER_BYTES 24
#define GGUF_MAX_ARRAY_DEPTH 8
#define GGUF_MAX_KEY_BYTES 65535
#define GGUF_MAX_TENSOR_NAME_BYTES 1024
/* The smallest possible encodings, used to reject impossible counts before
 * allocating: a kv is a key length (8), a one-byte key, a type (4) and at
 * least one value byte; a tensor info is a name length (8), a one-byte name,
 * n_dims (4), one dimension (8), a type (4) and an offset (8). */
#define GGUF_MIN_KV_BYTES 14
#define GGUF_MIN_TENSOR_INFO_BYTES 33
#define GGUF_MIN_STRING_BYTES 8
#define GGUF_MIN_ARRAY_BYTES 12
/* Names quoted in messages are cut to this many bytes. */
#define MESSAGE_NAME_BYTES 96

/* A name and the index of its kv or tensor; arrays of these sorted by name
 * give duplicate detection and binary-search lookup. */
typedef struct name_entry {
    const char *name;
    uint64_t index;
} name_entry;

/* What gguf_open returns: the public struct plus the private indexes.
 * `pub` comes first so a gguf_file * from here is a gguf_file_impl *. */
typedef struct gguf_file_impl {
    gguf_file pub;
    name_entry *kv_by_name;
    name_entry *tensors_by_name;
} gguf_file_impl;

/* The parser's position in the buffer, and what to say when it fails. */
typedef struct cursor {
    const uint8_t *base;
    size_t size;
    size_t pos;
    const char *file;   /* path or memory name, for messages */
    char context[160];  /* "key 'x'", "tensor 'y'" or "" */
    r1_error *err;
} cursor;

/* ---- messages ---- */

/* Copies a name from the file into out for a message: cut to
 * MESSAGE_NAME_BYTES, control bytes replaced, so the message stays one line. */
static void printable_name(char *out, size_t out_size, const char *name, uint64_t len) {
    size_t n = 0;
    for (uint64_t i = 0; i < len && n + 4 < out_size && n < MESSAGE_NAME_BYTES; i++) {
        unsigned char ch = (unsigned char)name[i];
        out[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (n < len && n + 4 <= out_size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static void set_context(cursor *c, const char *what, const char *name, uint64_t len) {
    char shown[MESSAGE_NAME_BYTES + 8];
    printable_name(shown, sizeof shown, name, len);
    snprintf(c->context, sizeof c->context, "%s '%s'", what, shown);
}

/* Fails with "<file>: <context>: <detail>". Returns -1. */
static int fail(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cursor *c, const char *fmt, ...) {
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (c->context[0])
        return r1_error_set(c->err, "%s: %s: %s", c->file, c->context, detail);
    return r1_error_set(c->err, "%s: %s", c->file, detail);
}

const char *gguf_type_name(gguf_value_type t) {
    static const char *const names[GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    if ((unsigned)t >= GGUF_TYPE_COUNT) return "unknown";
    return names[t];
}

/* ---- the cursor ---- */

static uint64_t load_le(const uint8_t *p, int n_bytes) {
    uint64_t v = 0;
    for (int i = n_bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int need(cursor *c, uint64_t n, const char *what) {
    if (n <= c->size - c->pos) return 0;
    return fail(c, "truncated: %s at offset %zu needs %" PRIu64 " bytes, the file ends at %zu",
                what, c->pos, n, c->size);
}

static int read_u32(cursor *c, const char *what, uint32_t *out) {
    if (need(c, 4, what) != 0) return -1;
    *out = (uint32_t)load_le(c->base + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int read_u64(cursor *c, const char *what, uint64_t *out) {
    if (need(c, 8, what) != 0) return -1;
    *out = load_le(c->base + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* A GGUF string: uint64 length, then the bytes (left in place). */
static int read_string(cursor *c, const char *what, gguf_string *out) {
    size_t at = c->pos;
    uint64_t len;
    if (read_u64(c, what, &len) != 0) return -1;
    if (len > c->size - c->pos)
        return fail(c, "%s at offset %zu: length %" PRIu64 " runs past the end of the file (%zu bytes)",
                    what, at, len, c->size);
    out->ptr = (const char *)(c->base + c->pos);
    out->len = len;
    c->pos += (size_t)len;
    return 0;
}

/* Keys and tensor names become C strings, so they must be non-empty, of
 * sane length and free of NUL bytes. */
static int check_name(cursor *c, gguf_string s, uint64_t max_len, const char *what, size_t at) {
    if (s.len == 0) return fail(c, "%s at offset %zu is empty", what, at);
    if (s.len > max_len)
        return fail(c, "%s at offset %zu is %" PRIu64 " bytes long (at most %" PRIu64 " allowed)",
                    what, at, s.len, max_len);
    if (memchr(s.ptr, '\0', (size_t)s.len))
        return fail(c, "%s at offset %zu contains a NUL byte", what, at);
    return 0;
}

static char *copy_name(gguf_string s) {
    char *p = malloc((size_t)s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, (size_t)s.len);
    p[s.len] = '\0';
    return p;
}

/* ---- values ---- */

/* Bytes of one element of a fixed-size type; 0 for STRING and ARRAY. */
static size_t scalar_size(gguf_value_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static int64_t sign_extend(uint64_t v, int bits) {
    if (bits == 64) return (int64_t)v;
    uint64_t sign = UINT64_C(1) << (bits - 1);
    return (int64_t)((v ^ sign) - sign);
}

/* Decodes one fixed-size element at p into v (v->type already set). */
static void decode_scalar(gguf_value *v, const uint8_t *p) {
    int n = (int)scalar_size(v->type);
    uint64_t bits = load_le(p, n);
    switch (v->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        v->as.u64 = bits;
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        v->as.i64 = sign_extend(bits, n * 8);
        break;
    case GGUF_TYPE_FLOAT32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, sizeof f);
        v->as.f64 = f;
        break;
    }
    case GGUF_TYPE_FLOAT64:
        memcpy(&v->as.f64, &bits, sizeof v->as.f64);
        break;
    case GGUF_TYPE_BOOL:
        v->as.b = bits != 0;
        break;
    default:
        break;
    }
}

static void free_value(gguf_value *v) {
    if (v->type != GGUF_TYPE_ARRAY) return;
    gguf_array *a = &v->as.arr;
    free(a->strings);
    if (a->items) {
        for (uint64_t i = 0; i < a->count; i++) free_value(&a->items[i]);
        free(a->items);
    }
    a->strings = NULL;
    a->items = NULL;
}

static int parse_array(cursor *c, gguf_array *a, int depth);

/* Bools must be 0 or 1: anything else is a corrupt file, and would not
 * survive a rewrite unchanged. */
static int check_bools(cursor *c, const uint8_t *p, uint64_t n, size_t at) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] > 1) return fail(c, "bool at offset %zu is %u, not 0 or 1", at + (size_t)i, p[i]);
    return 0;
}

static int parse_value(cursor *c, gguf_value *v, int depth) {
    if (v->type == GGUF_TYPE_STRING) return read_string(c, "string value", &v->as.str);
    if (v->type == GGUF_TYPE_ARRAY) return parse_array(c, &v->as.arr, depth + 1);
    size_t n = scalar_size(v->type);
    if (need(c, n, gguf_type_name(v->type)) != 0) return -1;
    if (v->type == GGUF_TYPE_BOOL && check_bools(c, c->base + c->pos, 1, c->pos) != 0) return -1;
    decode_scalar(v, c->base + c->pos);
    c->pos += n;
    return 0;
}

static int parse_scalar_elements(cursor *c, gguf_array *a, size_t at) {
    size_t elem_size = scalar_size(a->elem_type);
    size_t left = c->size - c->pos;
    if (a->count > left / elem_size)
        return fail(c, "array at offset %zu: %" PRIu64 " %s elements run past the end of the file (%zu bytes)",
                    at, a->count, gguf_type_name(a->elem_type), c->size);
    a->raw = c->base + c->pos;
    size_t bytes = (size_t)a->count * elem_size;
    if (a->elem_type == GGUF_TYPE_BOOL && check_bools(c, a->raw, a->count, c->pos) != 0) return -1;
    c->pos += bytes;
    return 0;
}

static int parse_string_elements(cursor *c, gguf_array *a, size_t at) {
    if (a->count > (c->size - c->pos) / GGUF_MIN_STRING_BYTES)
        return fail(c, "array at offset %zu: %" PRIu64 " strings cannot fit in the %zu bytes left",
                    at, a->count, c->size - c->pos);
    if (a->count == 0) return 0;
    a->strings = calloc((size_t)a->count, sizeof *a->strings);
    if (!a->strings) return fail(c, "out of memory for an array of %" PRIu64 " strings", a->count);
    for (uint64_t i = 0; i < a->count; i++)
        if (read_string(c, "array string", &a->strings[i]) != 0) return -1;
    return 0;
}

static int parse_nested_elements(cursor *c, gguf_array *a, size_t at, int depth) {
    if (a->count > (c->size - c->pos) / GGUF_MIN_ARRAY_BYTES)
        return fail(c, "array at offset %zu: %" PRIu64 " nested arrays cannot fit in the %zu bytes left",
                    at, a->count, c->size - c->pos);
    if (a->count == 0) return 0;
    a->items = calloc((size_t)a->count, sizeof *a->items);
    if (!a->items) return fail(c, "out of memory for an array of %" PRIu64 " arrays", a->count);
    for (uint64_t i = 0; i < a->count; i++) {
        a->items[i].type = GGUF_TYPE_ARRAY;
        if (parse_array(c, &a->items[i].as.arr, depth + 1) != 0) return -1;
    }
    return 0;
}

/* An array value: uint32 element type, uint64 count, then the elements.
 * depth counts the arrays enclosing this one plus one. */
static int parse_array(cursor *c, gguf_array *a, int depth) {
    size_t at = c->pos;
    if (depth > GGUF_MAX_ARRAY_DEPTH)
        return fail(c, "array at offset %zu is nested more than %d deep", at, GGUF_MAX_ARRAY_DEPTH);
    uint32_t elem_type;
    if (read_u32(c, "array element type", &elem_type) != 0) return -1;
    if (elem_type >= GGUF_TYPE_COUNT)
        return fail(c, "array at offset %zu: unknown element type %" PRIu32, at, elem_type);
    a->elem_type = (gguf_value_type)elem_type;
    if (read_u64(c, "array length", &a->count) != 0) return -1;
    if (a->elem_type == GGUF_TYPE_STRING) return parse_string_elements(c, a, at);
    if (a->elem_type == GGUF_TYPE_ARRAY) return parse_nested_elements(c, a, at, depth);
    return parse_scalar_elements(c, a, at);
}

/* ---- header and metadata ---- */

static int parse_version(cursor *c, uint32_t version) {
    if (version == 2 || version == 3) return 0;
    if (version == 1)
        return fail(c, "GGUF version 1 (32-bit counts) is not supported; only versions 2 and 3 are");
    uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= 3)
        return fail(c, "big-endian GGUF files are not supported (version field reads %" PRIu32 ")", version);
    return fail(c, "unsupported GGUF version %" PRIu32 " (only 2 and 3 are supported)", version);
}

/* Magic, version and the two counts. The counts are checked against the
 * bytes left, so a huge count fails here rather than in an allocation. */
static int parse_header(cursor *c, gguf_file *f) {
    if (c->size < 4)
        return fail(c, "file is %zu bytes, too small for a GGUF header (%d bytes)", c->size, GGUF_HEADER_BYTES);
    const uint8_t *m = c->base;
    if (memcmp(m, "GGUF", 4) != 0)
        return fail(c, "not a GGUF file: magic bytes are %02x %02x %02x %02x, expected 47 47 55 46 (\"GGUF\")",
                    m[0], m[1], m[2], m[3]);
    c->pos = 4;
    if (read_u32(c, "version", &f->version) != 0) return -1;
    if (parse_version(c, f->version) != 0) return -1;
    if (read_u64(c, "tensor count", &f->n_tensors) != 0) return -1;
    if (read_u64(c, "kv count", &f->n_kv) != 0) return -1;
    size_t left = c->size - c->pos;
    if (f->n_kv > left / GGUF_MIN_KV_BYTES)
        return fail(c, "kv count %" PRIu64 " cannot fit in the %zu bytes after the header", f->n_kv, left);
    left -= (size_t)f->n_kv * GGUF_MIN_KV_BYTES;
    if (f->n_tensors > left / GGUF_MIN_TENSOR_INFO_BYTES)
        return fail(c, "tensor count %" PRIu64 " cannot fit in the file (%zu bytes) after %" PRIu64 " kvs",
                    f->n_tensors, c->size, f->n_kv);
    return 0;
}

static int parse_kv(cursor *c, gguf_kv *kv, uint64_t index) {
    size_t at = c->pos;
    snprintf(c->context, sizeof c->context, "kv %" PRIu64, index);
    gguf_string key;
    if (read_string(c, "key", &key) != 0) return -1;
    if (check_name(c, key, GGUF_MAX_KEY_BYTES, "key", at) != 0) return -1;
    set_context(c, "key", key.ptr, key.len);
    kv->key = copy_name(key);
    if (!kv->key) return fail(c, "out of memory");
    size_t type_at = c->pos;
    uint32_t type;
    if (read_u32(c, "value type", &type) != 0) return -1;
    if (type >= GGUF_TYPE_COUNT)
        return fail(c, "unknown value type %" PRIu32 " at offset %zu", type, type_at);
    kv->value.type = (gguf_value_type)type;
    return parse_value(c, &kv->value, 0);
}

static int parse_kvs(cursor *c, gguf_file *f) {
    if (f->n_kv == 0) return 0;
    f->kv = calloc((size_t)f->n_kv, sizeof *f->kv);
    if (!f->kv) return fail(c, "out of memory for %" PRIu64 " kvs", f->n_kv);
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (parse_kv(c, &f->kv[i], i) != 0) return -1;
    c->context[0] = '\0';
    return 0;
}

/* ---- name indexes ---- */

static int compare_names(const void *a, const void *b) {
    return strcmp(((const name_entry *)a)->name, ((const name_entry *)b)->name);
}

/* Sorts an index filled with n names and fails on the first duplicate. */
static int sort_name_index(cursor *c, name_entry *index, uint64_t n, const char *what) {
    qsort(index, (size_t)n, sizeof *index, compare_names);
    for (uint64_t i = 1; i < n; i++) {
        if (strcmp(index[i - 1].name, index[i].name) != 0) continue;
        char shown[MESSAGE_NAME_BYTES + 8];
        printable_name(shown, sizeof shown, index[i].name, strlen(index[i].name));
        uint64_t a = index[i - 1].index, b = index[i].index;
        return fail(c, "duplicate %s '%s' (entries %" PRIu64 " and %" PRIu64 ")", what, shown,
                    a < b ? a : b, a < b ? b : a);
    }
    return 0;
}

static int build_kv_index(cursor *c, gguf_file_impl *impl) {
    const gguf_file *f = &impl->pub;
    if (f->n_kv == 0) return 0;
    impl->kv_by_name = malloc((size_t)f->n_kv * sizeof *impl->kv_by_name);
    if (!impl->kv_by_name) return fail(c, "out of memory for the key index");
    for (uint64_t i = 0; i < f->n_kv; i++)
        impl->kv_by_name[i] = (name_entry){f->kv[i].key, i};
    return sort_name_index(c, impl->kv_by_name, f->n_kv, "key");
}

static int build_tensor_index(cursor *c, gguf_file_impl *impl) {
    const gguf_file *f = &impl->pub;
    if (f->n_tensors == 0) return 0;
    impl->tensors_by_name = malloc((size_t)f->n_tensors * sizeof *impl->tensors_by_name);
    if (!impl->tensors_by_name) return fail(c, "out of memory for the tensor index");
    for (uint64_t i = 0; i < f->n_tensors; i++)
        impl->tensors_by_name[i] = (name_entry){f->tensors[i].name, i};
    return sort_name_index(c, impl->tensors_by_name, f->n_tensors, "tensor name");
}

static const name_entry *find_name(const name_entry *index, uint64_t n, const char *name) {
    if (!index || !name) return NULL;
    name_entry key = {name, 0};
    return bsearch(&key, index, (size_t)n, sizeof *index, compare_names);
}

/* general.alignment: a uint32 power of two, 32 when absent. */
static int read_alignment(cursor *c, gguf_file_impl *impl) {
    gguf_file *f = &impl->pub;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const name_entry *e = find_name(impl->kv_by_name, f->n_kv, "general.alignment");
    if (!e) return 0;
    const gguf_value *v = &f->kv[e->index].value;
    snprintf(c->context, sizeof c->context, "key 'general.alignment'");
    if (v->type != GGUF_TYPE_UINT32)
        return fail(c, "type is %s, expected uint32", gguf_type_name(v->type));
    uint64_t a = v->as.u64;
    if (a == 0 || (a & (a - 1)) != 0) return fail(c, "alignment %" PRIu64 " is not a power of two", a);
    f->alignment = a;
    c->context[0] = '\0';
    return 0;
}

/* ---- tensor infos ---- */

static int parse_dims(cursor *c, gguf_tensor *t) {
    size_t at = c->pos;
    if (read_u32(c, "n_dims", &t->n_dims) != 0) return -1;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fail(c, "n_dims %" PRIu32 " at offset %zu is not in 1..%d", t->n_dims, at, GGUF_MAX_DIMS);
    for (int i = 0; i < GGUF_MAX_DIMS; i++) t->ne[i] = 1;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        size_t dim_at = c->pos;
        uint64_t d;
        if (read_u64(c, "dimension", &d) != 0) return -1;
        if (d == 0) return fail(c, "dimension %" PRIu32 " at offset %zu is 0", i, dim_at);
        if (d > (uint64_t)INT64_MAX)
            return fail(c, "dimension %" PRIu32 " at offset %zu is %" PRIu64 ", too large", i, dim_at, d);
        t->ne[i] = (int64_t)d;
    }
    return 0;
}

/* ne[0] * ne[1] * ne[2] * ne[3], false when it exceeds INT64_MAX. */
static bool element_count(const gguf_tensor *t, uint64_t *out) {
    uint64_t n = 1;
    for (int i = 0; i < GGUF_MAX_DIMS; i++) {
        if ((uint64_t)t->ne[i] > (uint64_t)INT64_MAX / n) return false;
        n *= (uint64_t)t->ne[i];
    }
    *out = n;
    return true;
}

/* Type id, block-size rule and byte size, with overflow checks. */
static int compute_tensor_size(cursor *c, gguf_tensor *t, size_t type_at) {
    const r1_type_info *info = r1_type_get(t->type);
    if (!info) return fail(c, "unknown tensor type id %" PRIu32 " at offset %zu", t->type, type_at);
    if (t->ne[0] % info->block_size != 0)
        return fail(c, "row length %" PRId64 " is not a multiple of the %s block size %" PRId64,
                    t->ne[0], info->name, info->block_size);
    uint64_t n;
    bool fits = element_count(t, &n);
    uint64_t blocks = n / (uint64_t)info->block_size;
    if (!fits || blocks > UINT64_MAX / info->block_bytes)
        return fail(c, "size of %" PRId64 " x %" PRId64 " x %" PRId64 " x %" PRId64 " %s values overflows",
                    t->ne[0], t->ne[1], t->ne[2], t->ne[3], info->name);
    t->size = blocks * info->block_bytes;
    return 0;
}

static int parse_tensor_info(cursor *c, gguf_tensor *t, uint64_t index, uint64_t alignment) {
    size_t at = c->pos;
    snprintf(c->context, sizeof c->context, "tensor %" PRIu64, index);
    gguf_string name;
    if (read_string(c, "tensor name", &name) != 0) return -1;
    if (check_name(c, name, GGUF_MAX_TENSOR_NAME_BYTES, "tensor name", at) != 0) return -1;
    set_context(c, "tensor", name.ptr, name.len);
    t->name = copy_name(name);
    if (!t->name) return fail(c, "out of memory");
    if (parse_dims(c, t) != 0) return -1;
    size_t type_at = c->pos;
    if (read_u32(c, "type", &t->type) != 0) return -1;
    if (compute_tensor_size(c, t, type_at) != 0) return -1;
    size_t offset_at = c->pos;
    if (read_u64(c, "data offset", &t->offset) != 0) return -1;
    if (t->offset % alignment != 0)
        return fail(c, "data offset %" PRIu64 " (at offset %zu) is not a multiple of the alignment %" PRIu64,
                    t->offset, offset_at, alignment);
    return 0;
}

static int parse_tensor_infos(cursor *c, gguf_file *f) {
    size_t left = c->size - c->pos;
    if (f->n_tensors > left / GGUF_MIN_TENSOR_INFO_BYTES)
        return fail(c, "tensor count %" PRIu64 " cannot fit in the %zu bytes after the metadata",
                    f->n_tensors, left);
    if (f->n_tensors == 0) return 0;
    f->tensors = calloc((size_t)f->n_tensors, sizeof *f->tensors);
    if (!f->tensors) return fail(c, "out of memory for %" PRIu64 " tensors", f->n_tensors);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (parse_tensor_info(c, &f->tensors[i], i, f->alignment) != 0) return -1;
    c->context[0] = '\0';
    return 0;
}

/* ---- tensor extents ---- */

static int check_extent(cursor *c, gguf_file *f, gguf_tensor *t) {
    uint64_t data_size = f->size - f->data_offset;
    set_context(c, "tensor", t->name, strlen(t->name));
    if (t->offset > data_size)
        return fail(c, "data offset %" PRIu64 " is past the end of the file (%zu bytes, data section at %" PRIu64 ")",
                    t->offset, f->size, f->data_offset);
    uint64_t start = f->data_offset + t->offset;
    if (t->size > data_size - t->offset) {
        if (t->size > UINT64_MAX - start)
            return fail(c, "data of %" PRIu64 " bytes at %" PRIu64 " extends past the end of the file (%zu bytes)",
                        t->size, start, f->size);
        return fail(c, "data [%" PRIu64 ", %" PRIu64 ") extends past the end of the file (%zu bytes)",
                    start, start + t->size, f->size);
    }
    t->data = f->base + start;
    return 0;
}

static int compare_offsets(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorts a copy of the table by offset; neighbours must not overlap. */
static int check_overlaps(cursor *c, gguf_file *f) {
    gguf_tensor **order = malloc((size_t)f->n_tensors * sizeof *order);
    if (!order) return fail(c, "out of memory for the tensor order");
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, compare_offsets);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_tensors && rc == 0; i++) {
        const gguf_tensor *a = order[i - 1], *b = order[i];
        if (a->offset + a->size <= b->offset) continue;
        char name_a[MESSAGE_NAME_BYTES + 8], name_b[MESSAGE_NAME_BYTES + 8];
        printable_name(name_a, sizeof name_a, a->name, strlen(a->name));
        printable_name(name_b, sizeof name_b, b->name, strlen(b->name));
        rc = fail(c, "tensors '%s' (data offset %" PRIu64 ", %" PRIu64 " bytes) and '%s' (data offset %" PRIu64
                  ", %" PRIu64 " bytes) overlap",
                  name_a, a->offset, a->size, name_b, b->offset, b->size);
    }
    free(order);
    return rc;
}

static int check_tensor_data(cursor *c, gguf_file *f) {
    if (f->n_tensors == 0) return 0;
    if (f->data_offset > f->size)
        return fail(c, "the data section would start at offset %" PRIu64 ", past the end of the file (%zu bytes)",
                    f->data_offset, f->size);
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (check_extent(c, f, &f->tensors[i]) != 0) return -1;
    c->context[0] = '\0';
    /* Extents are within the file here, so offset + size cannot overflow. */
    return check_overlaps(c, f);
}

/* ---- opening ---- */

static int parse_all(cursor *c, gguf_file_impl *impl) {
    gguf_file *f = &impl->pub;
    if (parse_header(c, f) != 0) return -1;
    if (parse_kvs(c, f) != 0) return -1;
    if (build_kv_index(c, impl) != 0) return -1;
    if (read_alignment(c, impl) != 0) return -1;
    if (parse_tensor_infos(c, f) != 0) return -1;
    if (build_tensor_index(c, impl) != 0) return -1;
    /* pos <= size, and the alignment is at most 2^31, so this cannot wrap. */
    f->data_offset = ((uint64_t)c->pos + f->alignment - 1) / f->alignment * f->alignment;
    return check_tensor_data(c, f);
}

/* Parses base[0..size). Takes ownership of a mapping of map_size bytes
 * (map_size > 0): on failure it is unmapped here. map_size 0: borrowed. */
static int parse_buffer(const uint8_t *base, size_t size, size_t map_size, const char *name,
                        gguf_file **out, r1_error *err) {
    bool mapped = map_size > 0;
    gguf_file_impl *impl = calloc(1, sizeof *impl);
    char *path = strdup(name);
    if (!impl || !path) {
        free(impl);
        free(path);
        if (mapped) munmap((void *)base, map_size);
        return r1_error_set(err, "%s: out of memory", name);
    }
    gguf_file *f = &impl->pub;
    f->path = path;
    f->base = base;
    f->size = size;
    f->mapped = mapped;
    f->map_size = map_size;
    cursor c = {.base = base, .size = size, .pos = 0, .file = path, .context = "", .err = err};
    if (parse_all(&c, impl) != 0) {
        gguf_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

int gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out,
                     r1_error *err) {
    *out = NULL;
    if (!name) name = "<memory>";
    if (!data && size > 0) return r1_error_set(err, "%s: no buffer", name);
    static const uint8_t empty[1];
    return parse_buffer(data ? data : empty, size, 0, name, out, err);
}

int gguf_open_owned(void *base, size_t size, size_t map_size, const char *name, gguf_file **out,
                    r1_error *err) {
    *out = NULL;
    if (!name) name = "<memory>";
    if (!base || map_size < size || map_size == 0) {
        if (base && map_size) munmap(base, map_size);
        return r1_error_set(err, "%s: bad buffer for gguf_open_owned", name);
    }
    if (parse_buffer(base, size, map_size, name, out, err) != 0) return -1;
    (*out)->private_memory = true;
    return 0;
}

int gguf_make_writable(gguf_file *f, bool writable) {
    if (!f->private_memory) return -1;
    return mprotect((void *)f->base, f->map_size, writable ? PROT_READ | PROT_WRITE : PROT_READ);
}

/* Opens path and checks it is a regular file of at least a header's size. */
static int open_model_file(const char *path, int *fd_out, size_t *size_out, r1_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r1_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return r1_error_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return r1_error_set(err, "%s: not a regular file", path);
    }
    if (st.st_size < GGUF_HEADER_BYTES) {
        close(fd);
        return r1_error_set(err, "%s: file is %lld bytes, too small for a GGUF header (%d bytes)", path,
                            (long long)st.st_size, GGUF_HEADER_BYTES);
    }
    *fd_out = fd;
    *size_out = (size_t)st.st_size;
    return 0;
}

int gguf_open(const char *path, gguf_file **out, r1_error *err) {
    *out = NULL;
    int fd;
    size_t size;
    if (open_model_file(path, &fd, &size, err) != 0) return -1;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) return r1_error_set(err, "%s: cannot map: %s", path, strerror(map_errno));
    return parse_buffer(map, size, size, path, out, err);
}

/* Reads all of fd into buf, dropping each chunk from the page cache once
 * copied so the file is not held in memory twice. */
static int read_whole_file(int fd, uint8_t *buf, size_t size, const char *path, r1_error *err) {
    const size_t chunk = (size_t)64 << 20;
    for (size_t done = 0; done < size;) {
        size_t want = size - done < chunk ? size - done : chunk;
        ssize_t got = pread(fd, buf + done, want, (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0)
            return r1_error_set(err, "%s: read failed at byte %zu: %s", path, done,
                                got < 0 ? strerror(errno) : "unexpected end of file");
        posix_fadvise(fd, (off_t)done, got, POSIX_FADV_DONTNEED);
        done += (size_t)got;
    }
    return 0;
}

int gguf_open_copy(const char *path, gguf_file **out, r1_error *err) {
    *out = NULL;
    int fd;
    size_t size;
    if (open_model_file(path, &fd, &size, err) != 0) return -1;
    uint8_t *copy = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED) {
        close(fd);
        return r1_error_set(err, "%s: cannot allocate %zu bytes to load the file", path, size);
    }
    madvise(copy, size, MADV_HUGEPAGE); /* a hint: fine if the kernel declines */
    int rc = read_whole_file(fd, copy, size, path, err);
    close(fd);
    if (rc == 0) rc = mprotect(copy, size, PROT_READ);
    if (rc != 0) {
        munmap(copy, size);
        return -1;
    }
    if (parse_buffer(copy, size, size, path, out, err) != 0) return -1;
    (*out)->private_memory = true;
    return 0;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    gguf_file_impl *impl = (gguf_file_impl *)f;
    if (f->kv) {
        for (uint64_t i = 0; i < f->n_kv; i++) {
            free(f->kv[i].key);
            free_value(&f->kv[i].value);
        }
        free(f->kv);
    }
    if (f->tensors) {
        for (uint64_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
        free(f->tensors);
    }
    free(impl->kv_by_name);
    free(impl->tensors_by_name);
    if (f->mapped) munmap((void *)f->base, f->map_size);
    free(f->path);
    free(impl);
}

/* ---- lookups ---- */

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    if (!f) return NULL;
    const gguf_file_impl *impl = (const gguf_file_impl *)f;
    const name_entry *e = find_name(impl->kv_by_name, f->n_kv, key);
    return e ? &f->kv[e->index] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    if (!f) return NULL;
    const gguf_file_impl *impl = (const gguf_file_impl *)f;
    const name_entry *e = find_name(impl->tensors_by_name, f->n_tensors, name);
    return e ? &f->tensors[e->index] : NULL;
}

static const gguf_kv *lookup(const gguf_file *f, const char *key, r1_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) r1_error_set(err, "%s: key '%s' not found", f ? f->path : "?", key ? key : "(null)");
    return kv;
}

static int wrong_type(const gguf_file *f, const gguf_kv *kv, const char *expected, r1_error *err) {
    return r1_error_set(err, "%s: key '%s' has type %s, expected %s", f->path, kv->key,
                        gguf_type_name(kv->value.type), expected);
}

static bool is_unsigned_type(gguf_value_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}

static bool is_signed_type(gguf_value_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static int out_of_range(const gguf_file *f, const gguf_kv *kv, int64_t min, uint64_t max, r1_error *err) {
    if (is_unsigned_type(kv->value.type))
        return r1_error_set(err, "%s: key '%s' value %" PRIu64 " is out of range [%" PRId64 ", %" PRIu64 "]",
                            f->path, kv->key, kv->value.as.u64, min, max);
    return r1_error_set(err, "%s: key '%s' value %" PRId64 " is out of range [%" PRId64 ", %" PRIu64 "]",
                        f->path, kv->key, kv->value.as.i64, min, max);
}

/* Any integer-typed key whose value lies in [min, max]. Unsigned getters
 * (min = 0) take *out_unsigned, signed ones (max <= INT64_MAX) *out. */
static int get_integer(const gguf_file *f, const char *key, int64_t min, uint64_t max, int64_t *out,
                       uint64_t *out_unsigned, r1_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (!kv) return -1;
    const gguf_value *v = &kv->value;
    if (is_unsigned_type(v->type)) {
        if (v->as.u64 > max) return out_of_range(f, kv, min, max, err);
        *out_unsigned = v->as.u64;
        *out = v->as.u64 <= (uint64_t)INT64_MAX ? (int64_t)v->as.u64 : 0;
        return 0;
    }
    if (is_signed_type(v->type)) {
        if (v->as.i64 < min || (v->as.i64 > 0 && (uint64_t)v->as.i64 > max))
            return out_of_range(f, kv, min, max, err);
        *out = v->as.i64;
        *out_unsigned = v->as.i64 >= 0 ? (uint64_t)v->as.i64 : 0;
        return 0;
    }
    return wrong_type(f, kv, "an integer", err);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, r1_error *err) {
    int64_t s;
    uint64_t u;
    if (get_integer(f, key, 0, UINT32_MAX, &s, &u, err) != 0) return -1;
    *out = (uint32_t)u;
    return 0;
}

int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, r1_error *err) {
    int64_t s;
    return get_integer(f, key, 0, UINT64_MAX, &s, out, err);
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, r1_error *err) {
    int64_t s;
    uint64_t u;
    if (get_integer(f, key, INT32_MIN, INT32_MAX, &s, &u, err) != 0) return -1;
    *out = (int32_t)s;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, r1_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (!kv) return -1;
    if (kv->value.type != GGUF_TYPE_FLOAT32 && kv->value.type != GGUF_TYPE_FLOAT64)
        return wrong_type(f, kv, "float32 or float64", err);
    double v = kv->value.as.f64;
    if (isfinite(v) && fabs(v) > FLT_MAX)
        return r1_error_set(err, "%s: key '%s' value %g is out of range for float32", f->path, key, v);
    *out = (float)v;
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, bool *out, r1_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (!kv) return -1;
    if (kv->value.type != GGUF_TYPE_BOOL) return wrong_type(f, kv, "bool", err);
    *out = kv->value.as.b;
    return 0;
}

int gguf_get_string(const gguf_file *f, const char *key, gguf_string *out, r1_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (!kv) return -1;
    if (kv->value.type != GGUF_TYPE_STRING) return wrong_type(f, kv, "string", err);
    *out = kv->value.as.str;
    return 0;
}

int gguf_get_array(const gguf_file *f, const char *key, const gguf_array **out, r1_error *err) {
    const gguf_kv *kv = lookup(f, key, err);
    if (!kv) return -1;
    if (kv->value.type != GGUF_TYPE_ARRAY) return wrong_type(f, kv, "array", err);
    *out = &kv->value.as.arr;
    return 0;
}

/* ---- array elements ---- */

static bool array_element(const gguf_array *a, uint64_t i, gguf_value *out) {
    if (!a || i >= a->count || !a->raw) return false;
    size_t size = scalar_size(a->elem_type);
    if (size == 0) return false;
    out->type = a->elem_type;
    decode_scalar(out, (const uint8_t *)a->raw + i * size);
    return true;
}

bool gguf_array_get_i64(const gguf_array *a, uint64_t i, int64_t *out) {
    gguf_value v;
    if (!array_element(a, i, &v)) return false;
    if (is_unsigned_type(v.type)) {
        if (v.as.u64 > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v.as.u64;
    } else if (is_signed_type(v.type)) {
        *out = v.as.i64;
    } else if (v.type == GGUF_TYPE_BOOL) {
        *out = v.as.b;
    } else {
        /* floats: truncated toward zero when the result fits */
        if (!(v.as.f64 >= -9223372036854775808.0 && v.as.f64 < 9223372036854775808.0)) return false;
        *out = (int64_t)v.as.f64;
    }
    return true;
}

bool gguf_array_get_f64(const gguf_array *a, uint64_t i, double *out) {
    gguf_value v;
    if (!array_element(a, i, &v)) return false;
    if (is_unsigned_type(v.type)) *out = (double)v.as.u64;
    else if (is_signed_type(v.type)) *out = (double)v.as.i64;
    else if (v.type == GGUF_TYPE_BOOL) *out = v.as.b;
    else *out = v.as.f64;
    return true;
}
