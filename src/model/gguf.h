/*
 * gguf.h - reading and writing GGUF files (versions 2 and 3).
 *
 * Reading: gguf_open() maps the file read-only and parses the header, the
 * metadata and the tensor table. Nothing from the file is trusted: every
 * count, length, type id, dimension, offset and extent is checked against the
 * file size before use, and any problem is an r1_error naming the file, the
 * key or tensor, and what is wrong. Tensor data is never copied: a tensor's
 * `data` points into the mapping.
 *
 * Writing: gguf_writer collects metadata (kept in insertion order) and tensor
 * descriptions, then writes the file in one pass; tensor bytes are produced
 * by a caller-supplied fill callback straight into the output, so multi-GB
 * files are written without holding them in memory.
 */
#ifndef R1_MODEL_GGUF_H
#define R1_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef enum gguf_value_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_value_type;

/* A string inside the mapping: not NUL-terminated, may contain any bytes. */
typedef struct gguf_string {
    const char *ptr;
    uint64_t len;
} gguf_string;

typedef struct gguf_value gguf_value;

typedef struct gguf_array {
    gguf_value_type elem_type;
    uint64_t count;
    /* Scalar element types: `raw` points at count packed little-endian
     * elements in the mapping. STRING: `strings` holds count entries.
     * ARRAY (nested): `items` holds count values, each of type ARRAY. */
    const void *raw;
    gguf_string *strings;
    gguf_value *items;
} gguf_array;

struct gguf_value {
    gguf_value_type type;
    union {
        uint64_t u64;   /* UINT8/16/32/64 */
        int64_t i64;    /* INT8/16/32/64 */
        double f64;     /* FLOAT32/64 */
        bool b;         /* BOOL */
        gguf_string str;
        gguf_array arr;
    } as;
};

typedef struct gguf_kv {
    char *key;          /* NUL-terminated copy */
    gguf_value value;
} gguf_kv;

typedef struct gguf_tensor {
    char *name;         /* NUL-terminated copy */
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] = row length (contiguous); unused dims are 1 */
    uint32_t type;      /* an r1_type known to tensor/types.h (checked) */
    uint64_t offset;    /* from the start of the data section */
    uint64_t size;      /* bytes */
    const void *data;   /* inside the mapping */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    uint32_t version;
    uint64_t alignment;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t data_offset; /* where the data section starts in the file */
    const uint8_t *base;  /* the whole mapping */
    size_t size;
    bool mapped;          /* false for gguf_open_memory */
    size_t map_size;      /* bytes gguf_close unmaps (>= size) when mapped */
    bool private_memory;  /* base is r1's own anonymous memory (gguf_open_copy, gguf_open_owned),
                             read-only but free to be rearranged (gguf_make_writable) */
} gguf_file;

/* Maps and parses path. On failure *out is NULL and err says why. */
int gguf_open(const char *path, gguf_file **out, r1_error *err);

/* Like gguf_open, but reads the whole file into anonymous memory backed by
 * huge pages where the kernel allows, instead of mapping it. Decoding
 * streams every weight once per token, and 2 MB pages keep the CPU's
 * prefetchers and TLB from stalling at every 4 KB page boundary: on the
 * development machine decode ran ~2x faster than from the file mapping
 * (docs/PERFORMANCE.md). Costs a load-time copy and private memory. */
int gguf_open_copy(const char *path, gguf_file **out, r1_error *err);

/* Parses a buffer the caller keeps alive (tests, the fuzzer). `name` is
 * used in error messages in place of a path. */
int gguf_open_memory(const void *data, size_t size, const char *name,
                     gguf_file **out, r1_error *err);

/* Parses a private anonymous mapping that the caller hands over, such as a
 * decrypted sealed model (model/sealed.h): the file is base[0..size), the
 * mapping is map_size bytes from base, and gguf_close (or a failure here)
 * unmaps it. `name` is used in error messages in place of a path. */
int gguf_open_owned(void *base, size_t size, size_t map_size, const char *name, gguf_file **out,
                    r1_error *err);

/* Makes the private memory of f writable (true) or read-only again (false).
 * -1 when f is not private memory or mprotect fails. */
int gguf_make_writable(gguf_file *f, bool writable);

void gguf_close(gguf_file *f);

/* Metadata lookup: the entry or NULL. */
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);

/* Typed getters. Each returns 0 and sets *out when the key exists with a
 * compatible type (any integer type whose value fits, for the integer
 * getters; FLOAT32 or FLOAT64 for f32), and -1 with a message naming the key
 * otherwise (missing, wrong type, out of range). */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, r1_error *err);
int gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, r1_error *err);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, r1_error *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, r1_error *err);
int gguf_get_bool(const gguf_file *f, const char *key, bool *out, r1_error *err);
int gguf_get_string(const gguf_file *f, const char *key, gguf_string *out, r1_error *err);
int gguf_get_array(const gguf_file *f, const char *key, const gguf_array **out, r1_error *err);

/* Element i of a scalar array as a number, converted; false when the index
 * is out of range or the element type is not numeric/bool. */
bool gguf_array_get_i64(const gguf_array *a, uint64_t i, int64_t *out);
bool gguf_array_get_f64(const gguf_array *a, uint64_t i, double *out);

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Name of a value type ("uint32", "string", ...) for messages. */
const char *gguf_type_name(gguf_value_type t);

/* ---- writing ---- */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void); /* GGUF v3, alignment 32 */
void gguf_writer_free(gguf_writer *w);

/* Metadata setters append in call order (keys must be unique; setting an
 * existing key replaces its value in place). Strings are copied. */
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_string(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_array_strings(gguf_writer *w, const char *key,
                                   const char *const *v, uint64_t n);
void gguf_writer_set_array_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
void gguf_writer_set_array_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
/* Sets general.alignment too (written as a UINT32 key) when not 32. */
void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);

/* Appends (or replaces) a kv with the same key, type and value as one read
 * by gguf_open, nested arrays included, so a file can be rewritten
 * byte-for-byte. A UINT32 general.alignment also sets the alignment.
 * Returns 0, or -1 (bad value, out of memory; write_file then fails too). */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);

/* Declares a tensor (in file order). ne[0] is the row length. Returns its
 * index, or -1 with err set (bad type, row not a multiple of the block). */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const int64_t *ne, r1_error *err);

/* Fills the `size` bytes of tensor `index` at dst. Returns 0, or -1 with err. */
typedef int (*gguf_fill_fn)(void *user, int index, void *dst, uint64_t size, r1_error *err);

/* Writes the file: header, metadata, tensor table, padding, data (each
 * tensor aligned, filled by `fill`). Creates/replaces path; the file is
 * written under a temporary name beside it and renamed into place, so on
 * failure the partial file is removed and an old file at path is kept. */
int gguf_writer_write_file(gguf_writer *w, const char *path, gguf_fill_fn fill,
                           void *user, r1_error *err);

/* The same bytes as gguf_writer_write_file, into a new malloc'd buffer
 * (*out, *out_size; the caller frees it) - for tests and small files. A NULL
 * fill leaves the tensor data zero (also for write_file). */
int gguf_writer_write_memory(gguf_writer *w, gguf_fill_fn fill, void *user, void **out,
                             size_t *out_size, r1_error *err);

#endif
