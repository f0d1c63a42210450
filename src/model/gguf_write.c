/*
 * gguf_write.c - writing GGUF v3 files.
 *
 * Each metadata value is encoded to its file bytes when it is set, so a kv
 * is a key plus a byte string and replacing one is a swap. Tensors are only
 * declared up front; their offsets are laid out when the file is written.
 * The layout is gguf-py's, byte for byte: header, kvs in insertion order,
 * tensor infos in declaration order, zero padding to the alignment, then
 * each tensor's bytes followed by zero padding to the alignment (the last
 * one too).
 *
 * The output file is sized (and its blocks reserved) up front and mapped
 * shared, so the fill callback writes straight into the page cache: no
 * copy, no buffer, multi-GB files at memory speed. It is written under a
 * temporary name and renamed into place when complete.
 *
 * The setters return nothing (building a writer is straight-line code), so
 * the first thing that goes wrong in one (out of memory, a bad alignment)
 * is remembered and reported by the write.
 */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/types.h"

#define GGUF_VERSION 3
#define GGUF_HEADER_BYTES 24
#define GGUF_MAX_ARRAY_DEPTH 8
#define GGUF_MAX_TENSOR_NAME_BYTES 1024

/* A growable byte string; after a failed allocation it stays `failed` and
 * ignores further writes, so encoders check once at the end. */
typedef struct byte_buffer {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} byte_buffer;

typedef struct writer_kv {
    char *key;
    byte_buffer value; /* uint32 type id, then the encoded value */
} writer_kv;

typedef struct writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t size;
    uint64_t offset; /* set by layout() */
} writer_tensor;

struct gguf_writer {
    uint32_t alignment;
    writer_kv *kvs;
    size_t n_kvs, kvs_cap;
    writer_tensor *tensors;
    size_t n_tensors, tensors_cap;
    char failure[256]; /* first setter error, "" if none */
};

/* Where everything goes in the output. */
typedef struct file_layout {
    uint64_t metadata_bytes; /* header + kvs + tensor infos */
    uint64_t data_offset;
    uint64_t total;
} file_layout;

/* ---- byte buffers ---- */

static void buffer_put(byte_buffer *b, const void *p, size_t n) {
    if (b->failed) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *data = realloc(b->data, cap);
        if (!data) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void store_le(uint8_t *p, uint64_t v, int n_bytes) {
    for (int i = 0; i < n_bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void buffer_put_le(byte_buffer *b, uint64_t v, int n_bytes) {
    uint8_t bytes[8];
    store_le(bytes, v, n_bytes);
    buffer_put(b, bytes, (size_t)n_bytes);
}

static void buffer_put_string(byte_buffer *b, const char *s, uint64_t len) {
    buffer_put_le(b, len, 8);
    if (len > SIZE_MAX) b->failed = true;
    else buffer_put(b, s, (size_t)len);
}

static uint32_t float_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

/* ---- the writer ---- */

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kvs; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value.data);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

static void remember_failure(gguf_writer *w, const char *what, const char *key) {
    if (w->failure[0]) return;
    size_t n = sizeof w->failure;
    snprintf(w->failure, n, "%s '%.200s'", what, key ? key : "(null)");
}

/* general.alignment decides the layout, so the stored key and w->alignment
 * are kept in step whichever way it is set. */
static void follow_alignment_key(gguf_writer *w, const byte_buffer *v) {
    uint32_t type = (uint32_t)v->data[0] | (uint32_t)v->data[1] << 8 | (uint32_t)v->data[2] << 16 |
                    (uint32_t)v->data[3] << 24;
    if (type != GGUF_TYPE_UINT32 || v->len != 8) {
        remember_failure(w, "general.alignment must be a uint32, in key", "general.alignment");
        return;
    }
    uint32_t a = (uint32_t)v->data[4] | (uint32_t)v->data[5] << 8 | (uint32_t)v->data[6] << 16 |
                 (uint32_t)v->data[7] << 24;
    if (a == 0 || (a & (a - 1)) != 0) {
        remember_failure(w, "alignment is not a power of two, in key", "general.alignment");
        return;
    }
    w->alignment = a;
}

static writer_kv *find_kv(gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kvs; i++)
        if (strcmp(w->kvs[i].key, key) == 0) return &w->kvs[i];
    return NULL;
}

static writer_kv *append_kv(gguf_writer *w, const char *key) {
    if (w->n_kvs == w->kvs_cap) {
        size_t cap = w->kvs_cap ? w->kvs_cap * 2 : 16;
        writer_kv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) return NULL;
        w->kvs = kvs;
        w->kvs_cap = cap;
    }
    char *copy = strdup(key);
    if (!copy) return NULL;
    writer_kv *kv = &w->kvs[w->n_kvs++];
    kv->key = copy;
    kv->value = (byte_buffer){0};
    return kv;
}

/* Takes ownership of the encoded value: stores it under key (replacing an
 * existing value in place) or frees it on failure. Returns 0 or -1. */
static int store_kv(gguf_writer *w, const char *key, byte_buffer *value) {
    if (!key || !key[0] || value->failed) {
        free(value->data);
        remember_failure(w, !key || !key[0] ? "empty key" : "out of memory or bad value for key", key);
        return -1;
    }
    writer_kv *kv = find_kv(w, key);
    if (!kv) kv = append_kv(w, key);
    if (!kv) {
        free(value->data);
        remember_failure(w, "out of memory for key", key);
        return -1;
    }
    free(kv->value.data);
    kv->value = *value;
    if (strcmp(key, "general.alignment") == 0) follow_alignment_key(w, &kv->value);
    return 0;
}

/* ---- setters ---- */

static void set_scalar(gguf_writer *w, const char *key, gguf_value_type type, uint64_t bits, int n_bytes) {
    byte_buffer b = {0};
    buffer_put_le(&b, type, 4);
    buffer_put_le(&b, bits, n_bytes);
    store_kv(w, key, &b);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    set_scalar(w, key, GGUF_TYPE_UINT32, v, 4);
}

void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    set_scalar(w, key, GGUF_TYPE_INT32, (uint32_t)v, 4);
}

void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    set_scalar(w, key, GGUF_TYPE_UINT64, v, 8);
}

void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    set_scalar(w, key, GGUF_TYPE_FLOAT32, float_bits(v), 4);
}

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v) {
    set_scalar(w, key, GGUF_TYPE_BOOL, v ? 1 : 0, 1);
}

void gguf_writer_set_string(gguf_writer *w, const char *key, const char *v) {
    byte_buffer b = {0};
    buffer_put_le(&b, GGUF_TYPE_STRING, 4);
    if (!v) b.failed = true;
    else buffer_put_string(&b, v, strlen(v));
    store_kv(w, key, &b);
}

static void put_array_header(byte_buffer *b, gguf_value_type elem_type, uint64_t n) {
    buffer_put_le(b, GGUF_TYPE_ARRAY, 4);
    buffer_put_le(b, elem_type, 4);
    buffer_put_le(b, n, 8);
}

void gguf_writer_set_array_strings(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    byte_buffer b = {0};
    put_array_header(&b, GGUF_TYPE_STRING, n);
    for (uint64_t i = 0; i < n && !b.failed; i++) {
        if (!v[i]) b.failed = true;
        else buffer_put_string(&b, v[i], strlen(v[i]));
    }
    store_kv(w, key, &b);
}

void gguf_writer_set_array_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    byte_buffer b = {0};
    put_array_header(&b, GGUF_TYPE_INT32, n);
    for (uint64_t i = 0; i < n && !b.failed; i++) buffer_put_le(&b, (uint32_t)v[i], 4);
    store_kv(w, key, &b);
}

void gguf_writer_set_array_f32(gguf_writer *w, const char *key, const float *v, uint64_t n) {
    byte_buffer b = {0};
    put_array_header(&b, GGUF_TYPE_FLOAT32, n);
    for (uint64_t i = 0; i < n && !b.failed; i++) buffer_put_le(&b, float_bits(v[i]), 4);
    store_kv(w, key, &b);
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        remember_failure(w, "alignment is not a power of two, in key", "general.alignment");
        return;
    }
    w->alignment = alignment;
    /* gguf-py writes the key only for a custom alignment; one already set
     * is kept in step. */
    if (alignment != GGUF_DEFAULT_ALIGNMENT || find_kv(w, "general.alignment"))
        gguf_writer_set_u32(w, "general.alignment", alignment);
}

/* ---- copying a kv read from a file ---- */

static size_t element_size(gguf_value_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static void encode_array(byte_buffer *b, const gguf_array *a, int depth);

/* The value's bytes without its type id. */
static void encode_value(byte_buffer *b, const gguf_value *v, int depth) {
    switch (v->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        buffer_put_le(b, v->as.u64, (int)element_size(v->type));
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        buffer_put_le(b, (uint64_t)v->as.i64, (int)element_size(v->type));
        break;
    case GGUF_TYPE_FLOAT32:
        buffer_put_le(b, float_bits((float)v->as.f64), 4);
        break;
    case GGUF_TYPE_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->as.f64, sizeof bits);
        buffer_put_le(b, bits, 8);
        break;
    }
    case GGUF_TYPE_BOOL:
        buffer_put_le(b, v->as.b ? 1 : 0, 1);
        break;
    case GGUF_TYPE_STRING:
        if (v->as.str.len && !v->as.str.ptr) b->failed = true;
        else buffer_put_string(b, v->as.str.ptr, v->as.str.len);
        break;
    case GGUF_TYPE_ARRAY:
        encode_array(b, &v->as.arr, depth + 1);
        break;
    default:
        b->failed = true;
    }
}

/* Scalar elements are copied as they lie in the file (little-endian). */
static void encode_scalar_elements(byte_buffer *b, const gguf_array *a) {
    size_t size = element_size(a->elem_type);
    if (a->count == 0) return;
    if (!a->raw || a->count > SIZE_MAX / size) {
        b->failed = true;
        return;
    }
    buffer_put(b, a->raw, (size_t)a->count * size);
}

static void encode_array(byte_buffer *b, const gguf_array *a, int depth) {
    if (depth > GGUF_MAX_ARRAY_DEPTH || (unsigned)a->elem_type >= GGUF_TYPE_COUNT) {
        b->failed = true;
        return;
    }
    buffer_put_le(b, a->elem_type, 4);
    buffer_put_le(b, a->count, 8);
    if (a->elem_type == GGUF_TYPE_STRING) {
        if (a->count && !a->strings) b->failed = true;
        for (uint64_t i = 0; i < a->count && !b->failed; i++) {
            gguf_value item = {.type = GGUF_TYPE_STRING, .as.str = a->strings[i]};
            encode_value(b, &item, depth);
        }
    } else if (a->elem_type == GGUF_TYPE_ARRAY) {
        if (a->count && !a->items) b->failed = true;
        for (uint64_t i = 0; i < a->count && !b->failed; i++) {
            if (a->items[i].type != GGUF_TYPE_ARRAY) b->failed = true;
            else encode_array(b, &a->items[i].as.arr, depth + 1);
        }
    } else {
        encode_scalar_elements(b, a);
    }
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    if (!kv) return -1;
    byte_buffer b = {0};
    buffer_put_le(&b, kv->value.type, 4);
    encode_value(&b, &kv->value, 0);
    return store_kv(w, kv->key, &b);
}

/* ---- tensors ---- */

static int check_new_tensor_name(const gguf_writer *w, const char *name, r1_error *err) {
    if (!name || !name[0]) return r1_error_set(err, "gguf writer: tensor name is empty");
    if (strlen(name) > GGUF_MAX_TENSOR_NAME_BYTES)
        return r1_error_set(err, "gguf writer: tensor name '%.64s...' is over %d bytes", name,
                            GGUF_MAX_TENSOR_NAME_BYTES);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return r1_error_set(err, "gguf writer: tensor '%s' is already declared", name);
    return 0;
}

/* Checks the shape and type, and computes the byte size. */
static int tensor_shape(writer_tensor *t, const char *name, const int64_t *ne, r1_error *err) {
    const r1_type_info *info = r1_type_get(t->type);
    if (!info) return r1_error_set(err, "gguf writer: tensor '%s': unknown type id %" PRIu32, name, t->type);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return r1_error_set(err, "gguf writer: tensor '%s': n_dims %" PRIu32 " is not in 1..%d", name,
                            t->n_dims, GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (uint32_t i = 0; i < GGUF_MAX_DIMS; i++) {
        t->ne[i] = i < t->n_dims ? ne[i] : 1;
        if (t->ne[i] < 1)
            return r1_error_set(err, "gguf writer: tensor '%s': dimension %" PRIu32 " is %" PRId64, name, i,
                                t->ne[i]);
        if ((uint64_t)t->ne[i] > (uint64_t)INT64_MAX / n)
            return r1_error_set(err, "gguf writer: tensor '%s': element count overflows", name);
        n *= (uint64_t)t->ne[i];
    }
    if (t->ne[0] % info->block_size != 0)
        return r1_error_set(err, "gguf writer: tensor '%s': row length %" PRId64
                            " is not a multiple of the %s block size %" PRId64,
                            name, t->ne[0], info->name, info->block_size);
    uint64_t blocks = n / (uint64_t)info->block_size;
    if (blocks > UINT64_MAX / info->block_bytes)
        return r1_error_set(err, "gguf writer: tensor '%s': byte size overflows", name);
    t->size = blocks * info->block_bytes;
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const int64_t *ne, r1_error *err) {
    if (check_new_tensor_name(w, name, err) != 0) return -1;
    writer_tensor t = {.type = type, .n_dims = n_dims};
    if (tensor_shape(&t, name, ne, err) != 0) return -1;
    if (w->n_tensors >= INT32_MAX) return r1_error_set(err, "gguf writer: too many tensors");
    if (w->n_tensors == w->tensors_cap) {
        size_t cap = w->tensors_cap ? w->tensors_cap * 2 : 16;
        writer_tensor *tensors = realloc(w->tensors, cap * sizeof *tensors);
        if (!tensors) return r1_error_set(err, "gguf writer: out of memory");
        w->tensors = tensors;
        w->tensors_cap = cap;
    }
    t.name = strdup(name);
    if (!t.name) return r1_error_set(err, "gguf writer: out of memory");
    w->tensors[w->n_tensors] = t;
    return (int)w->n_tensors++;
}

/* ---- layout and output ---- */

static bool align_up(uint64_t v, uint64_t alignment, uint64_t *out) {
    uint64_t rem = v % alignment;
    uint64_t pad = rem ? alignment - rem : 0;
    if (v > UINT64_MAX - pad) return false;
    *out = v + pad;
    return true;
}

static bool add_checked(uint64_t *total, uint64_t n) {
    if (n > UINT64_MAX - *total) return false;
    *total += n;
    return true;
}

/* Sizes of every part, and each tensor's offset in the data section. */
static int layout(gguf_writer *w, file_layout *l, r1_error *err) {
    uint64_t meta = GGUF_HEADER_BYTES;
    bool ok = true;
    for (size_t i = 0; i < w->n_kvs; i++)
        ok = ok && add_checked(&meta, 8 + strlen(w->kvs[i].key)) && add_checked(&meta, w->kvs[i].value.len);
    for (size_t i = 0; i < w->n_tensors; i++)
        ok = ok && add_checked(&meta, 8 + strlen(w->tensors[i].name) + 4 + 8 * w->tensors[i].n_dims + 4 + 8);
    uint64_t data_offset = 0, data_bytes = 0;
    ok = ok && align_up(meta, w->alignment, &data_offset);
    for (size_t i = 0; i < w->n_tensors && ok; i++) {
        uint64_t padded;
        w->tensors[i].offset = data_bytes;
        ok = align_up(w->tensors[i].size, w->alignment, &padded) && add_checked(&data_bytes, padded);
    }
    uint64_t total = data_offset;
    ok = ok && add_checked(&total, data_bytes) && total <= (uint64_t)SIZE_MAX / 2;
    if (!ok) return r1_error_set(err, "gguf writer: the file would be too large");
    *l = (file_layout){.metadata_bytes = meta, .data_offset = data_offset, .total = total};
    return 0;
}

static uint8_t *emit_string(uint8_t *p, const char *s) {
    size_t len = strlen(s);
    store_le(p, len, 8);
    memcpy(p + 8, s, len);
    return p + 8 + len;
}

/* Header, kvs and tensor infos into dst (metadata_bytes long); the padding
 * after them is left as it is (zero). */
static void emit_metadata(const gguf_writer *w, uint8_t *dst) {
    uint8_t *p = dst;
    memcpy(p, "GGUF", 4);
    store_le(p + 4, GGUF_VERSION, 4);
    store_le(p + 8, w->n_tensors, 8);
    store_le(p + 16, w->n_kvs, 8);
    p += GGUF_HEADER_BYTES;
    for (size_t i = 0; i < w->n_kvs; i++) {
        p = emit_string(p, w->kvs[i].key);
        memcpy(p, w->kvs[i].value.data, w->kvs[i].value.len);
        p += w->kvs[i].value.len;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        p = emit_string(p, t->name);
        store_le(p, t->n_dims, 4);
        p += 4;
        for (uint32_t d = 0; d < t->n_dims; d++, p += 8) store_le(p, (uint64_t)t->ne[d], 8);
        store_le(p, t->type, 4);
        store_le(p + 4, t->offset, 8);
        p += 12;
    }
}

/* Lets the caller fill each tensor in place; dst is the whole (zeroed) file. */
static int fill_tensors(const gguf_writer *w, const file_layout *l, uint8_t *dst, gguf_fill_fn fill,
                        void *user, r1_error *err) {
    if (!fill) return 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        if (err) err->message[0] = '\0';
        if (fill(user, (int)i, dst + l->data_offset + t->offset, t->size, err) == 0) continue;
        if (err && !err->message[0]) r1_error_set(err, "the fill callback failed");
        return r1_error_prefix(err, "tensor '%s'", t->name);
    }
    return 0;
}

/* Everything that can go wrong before any output exists. */
static int prepare(gguf_writer *w, file_layout *l, r1_error *err) {
    if (w->failure[0]) return r1_error_set(err, "gguf writer: %s", w->failure);
    return layout(w, l, err);
}

int gguf_writer_write_memory(gguf_writer *w, gguf_fill_fn fill, void *user, void **out,
                             size_t *out_size, r1_error *err) {
    *out = NULL;
    *out_size = 0;
    file_layout l;
    if (prepare(w, &l, err) != 0) return -1;
    uint8_t *buf = calloc(1, (size_t)l.total);
    if (!buf) return r1_error_set(err, "gguf writer: out of memory for %" PRIu64 " bytes", l.total);
    emit_metadata(w, buf);
    if (fill_tensors(w, &l, buf, fill, user, err) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_size = (size_t)l.total;
    return 0;
}

/* Sets the file size and reserves its blocks, so a full disk is an error
 * here rather than a SIGBUS while filling the mapping. */
static int size_file(int fd, const char *path, uint64_t size, r1_error *err) {
    if (ftruncate(fd, (off_t)size) != 0)
        return r1_error_set(err, "%s: cannot set the size to %" PRIu64 " bytes: %s", path, size, strerror(errno));
    int rc = posix_fallocate(fd, 0, (off_t)size);
    /* Filesystems without fallocate keep the sparse file. */
    if (rc != 0 && rc != EOPNOTSUPP && rc != ENOSYS && rc != EINVAL)
        return r1_error_set(err, "%s: cannot reserve %" PRIu64 " bytes: %s", path, size, strerror(rc));
    return 0;
}

static int write_mapped(gguf_writer *w, const file_layout *l, int fd, const char *path, gguf_fill_fn fill,
                        void *user, r1_error *err) {
    if (size_file(fd, path, l->total, err) != 0) return -1;
    uint8_t *map = mmap(NULL, (size_t)l->total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) return r1_error_set(err, "%s: cannot map for writing: %s", path, strerror(errno));
    emit_metadata(w, map);
    int rc = fill_tensors(w, l, map, fill, user, err);
    if (rc != 0) r1_error_prefix(err, "%s", path);
    if (munmap(map, (size_t)l->total) != 0 && rc == 0)
        rc = r1_error_set(err, "%s: cannot unmap: %s", path, strerror(errno));
    return rc;
}

/* The output is built under a temporary name beside path and renamed over
 * it at the end: nobody sees a half-written model, a failed write leaves any
 * old file intact, and a file can be rewritten in place while the source is
 * still mapped (the mapping keeps the old inode alive). */
int gguf_writer_write_file(gguf_writer *w, const char *path, gguf_fill_fn fill, void *user, r1_error *err) {
    file_layout l;
    if (prepare(w, &l, err) != 0) return r1_error_prefix(err, "%s", path);
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) return r1_error_set(err, "%s: out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp-%ld", path, (long)getpid());
    int rc = -1;
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        r1_error_set(err, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    } else {
        rc = write_mapped(w, &l, fd, path, fill, user, err);
        if (close(fd) != 0 && rc == 0) rc = r1_error_set(err, "%s: cannot close: %s", path, strerror(errno));
        if (rc == 0 && rename(tmp, path) != 0)
            rc = r1_error_set(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        if (rc != 0) unlink(tmp);
    }
    free(tmp);
    return rc;
}
