/*
 * test_gguf.c - the GGUF reader and writer (src/model/gguf_read.c,
 * gguf_write.c).
 *
 * Three kinds of test: the reference files from llama.cpp's writers are read
 * and rewritten, and the rewrite must be byte-identical (this checks both
 * halves against an outside implementation); files built with the writer
 * read back every value type; and crafted bad files (built byte by byte, or
 * a valid file cut short at every offset) must each fail with a one-line
 * message naming the problem, never crash or read outside the buffer (the
 * buffers are malloc'd at their exact size so ASan sees any over-read).
 *
 * With R1_GGUF_WRITE_CORPUS=<dir> set, the fuzz seed files are (re)written
 * into <dir>; without it, the committed seeds in fuzz/corpus-gguf are
 * checked to still parse.
 */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "tensor/types.h"

#define MEMORY_NAME "crafted.gguf"

/* ---- helpers ---- */

/* Opens a copy of data made at its exact size, so ASan flags any read past
 * the end. Returns the gguf_open_memory result. */
static int open_exact(const void *data, size_t size, gguf_file **f, r1_error *err) {
    void *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size) memcpy(copy, data, size);
    int rc = gguf_open_memory(copy, size, MEMORY_NAME, f, err);
    if (rc != 0) free(copy);
    return rc;
}

/* open_exact keeps the copy alive while the file is open; this frees both. */
static void close_exact(gguf_file *f) {
    if (!f) return;
    void *copy = (void *)f->base;
    gguf_close(f);
    free(copy);
}

/* Asserts data fails to parse with a message that names the buffer and
 * contains each of the (up to two) fragments. */
static void expect_error(const void *data, size_t size, const char *fragment1, const char *fragment2) {
    gguf_file *f = (gguf_file *)1;
    r1_error err = {{0}};
    int rc = open_exact(data, size, &f, &err);
    if (rc == 0) {
        close_exact(f);
        fail_msg("parsed, expected an error containing '%s'", fragment1);
    }
    assert_null(f);
    assert_non_null(strstr(err.message, MEMORY_NAME ": "));
    assert_null(strchr(err.message, '\n'));
    if (fragment1 && !strstr(err.message, fragment1))
        fail_msg("message '%s' lacks '%s'", err.message, fragment1);
    if (fragment2 && !strstr(err.message, fragment2))
        fail_msg("message '%s' lacks '%s'", err.message, fragment2);
}

static void assert_contains(const char *message, const char *fragment) {
    if (!strstr(message, fragment)) fail_msg("message '%s' lacks '%s'", message, fragment);
}

static const char *temp_path(const char *name) {
    static char path[4][1024];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/test_gguf_%ld_%s", R1_BINARY_DIR, (long)getpid(), name);
    return p;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A byte string built by hand, for crafted files. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_le(bytes *b, uint64_t v, int n) {
    uint8_t tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    put(b, tmp, (size_t)n);
}

static void put_u32(bytes *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(bytes *b, uint64_t v) { put_le(b, v, 8); }

static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void put_kv_u32(bytes *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, GGUF_TYPE_UINT32);
    put_u32(b, v);
}

static void put_tensor_info(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                            uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

static void put_zeros(bytes *b, size_t n) {
    for (size_t i = 0; i < n; i++) put(b, "", 1);
}

static void pad_to(bytes *b, size_t alignment) {
    while (b->len % alignment) put(b, "", 1);
}

static void bytes_free(bytes *b) {
    free(b->p);
    *b = (bytes){0};
}

/* A crafted file: one kv, then the given tensor infos, padding, and
 * data_bytes zero bytes of data. */
typedef struct crafted_tensor {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[5];
    uint32_t type;
    uint64_t offset;
} crafted_tensor;

static bytes craft(const crafted_tensor *t, int n, size_t data_bytes) {
    bytes b = {0};
    put_header(&b, 3, (uint64_t)n, 1);
    put_kv_u32(&b, "test.value", 7);
    for (int i = 0; i < n; i++) put_tensor_info(&b, t[i].name, t[i].n_dims, t[i].ne, t[i].type, t[i].offset);
    pad_to(&b, 32);
    put_zeros(&b, data_bytes);
    return b;
}

/* Fills tensor i with bytes (i * 31 + j) & 0xff. */
static int fill_pattern(void *user, int index, void *dst, uint64_t size, r1_error *err) {
    (void)user;
    (void)err;
    uint8_t *p = dst;
    for (uint64_t j = 0; j < size; j++) p[j] = (uint8_t)(index * 31 + (int)j);
    return 0;
}

static void check_pattern(const gguf_tensor *t, int index) {
    const uint8_t *p = t->data;
    for (uint64_t j = 0; j < t->size; j++) assert_int_equal(p[j], (uint8_t)(index * 31 + (int)j));
}

/* ---- a small valid file with every kind of value ---- */

/* Tensor sizes are multiples of 32, so the file ends where the last
 * tensor's data ends and every shorter prefix is invalid. */
static gguf_writer *small_writer(void) {
    gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    gguf_writer_set_string(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 2);
    gguf_writer_set_i32(w, "test.i32", -5);
    gguf_writer_set_u64(w, "test.u64", UINT64_C(1) << 40);
    gguf_writer_set_f32(w, "test.f32", 0.5f);
    gguf_writer_set_bool(w, "test.bool", true);
    const char *tokens[] = {"a", "", "ccc"};
    gguf_writer_set_array_strings(w, "tokenizer.ggml.tokens", tokens, 3);
    const int32_t ints[] = {1, -2, 3};
    gguf_writer_set_array_i32(w, "test.ints", ints, 3);
    const float floats[] = {0.25f, -1.0f};
    gguf_writer_set_array_f32(w, "test.floats", floats, 2);
    r1_error err;
    const int64_t ne_a[] = {8, 2};
    const int64_t ne_b[] = {32, 1, 16};
    assert_int_equal(gguf_writer_add_tensor(w, "a.weight", R1_TYPE_F32, 2, ne_a, &err), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "b.weight", R1_TYPE_Q8_0, 3, ne_b, &err), 1);
    return w;
}

static void small_file(void **data, size_t *size) {
    gguf_writer *w = small_writer();
    r1_error err;
    if (gguf_writer_write_memory(w, fill_pattern, NULL, data, size, &err) != 0) fail_msg("%s", err.message);
    gguf_writer_free(w);
}

/* ---- reference files: read, rewrite, compare ---- */

static int fill_from_file(void *user, int index, void *dst, uint64_t size, r1_error *err) {
    const gguf_file *src = user;
    (void)err;
    assert_int_equal(size, src->tensors[index].size);
    memcpy(dst, src->tensors[index].data, size);
    return 0;
}

static void rewrite_identical(const char *name) {
    const char *path = test_testdata_path(name);
    gguf_file *f = NULL;
    r1_error err;
    if (gguf_open(path, &f, &err) != 0) fail_msg("%s", err.message);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < f->n_kv; i++) assert_int_equal(gguf_writer_copy_kv(w, &f->kv[i]), 0);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        assert_ptr_equal(gguf_find_tensor(f, t->name), t);
        assert_int_equal(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err), (int)i);
    }
    const char *out = temp_path("rewrite.gguf");
    if (gguf_writer_write_file(w, out, fill_from_file, f, &err) != 0) fail_msg("%s", err.message);
    size_t n_orig = 0, n_new = 0;
    uint8_t *orig = test_read_file(path, &n_orig);
    uint8_t *rewritten = test_read_file(out, &n_new);
    assert_non_null(orig);
    assert_non_null(rewritten);
    assert_int_equal(n_new, n_orig);
    for (size_t i = 0; i < n_orig; i++)
        if (orig[i] != rewritten[i]) fail_msg("%s: rewrite differs first at byte %zu", name, i);
    free(orig);
    free(rewritten);
    unlink(out);
    gguf_writer_free(w);
    gguf_close(f);
}

static void test_reference_rewrite_identical(void **state) {
    (void)state;
    if (!test_require_testdata("llm")) skip();
    rewrite_identical("llm/shared-llama-f32.gguf");      /* gguf-py */
    rewrite_identical("llm/shared-qwen2-q4_k_m.gguf");   /* llama-quantize */
    rewrite_identical("llm/shared-deepseek2-q8_0.gguf"); /* llama-quantize */
    rewrite_identical("llm/stories260K-f32.gguf");       /* llama.cpp C writer */
}

static void test_reference_values(void **state) {
    (void)state;
    if (!test_require_testdata("llm")) skip();
    gguf_file *f = NULL;
    r1_error err;
    if (gguf_open(test_testdata_path("llm/stories260K-f32.gguf"), &f, &err) != 0) fail_msg("%s", err.message);
    assert_true(f->mapped);
    assert_int_equal(f->version, 3);
    assert_int_equal(f->n_kv, 19);
    assert_int_equal(f->n_tensors, 48);
    assert_int_equal(f->alignment, 32);
    assert_int_equal(f->data_offset % 32, 0);

    gguf_string s;
    assert_int_equal(gguf_get_string(f, "general.architecture", &s, &err), 0);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.ptr, "llama", 5);
    uint32_t u;
    assert_int_equal(gguf_get_u32(f, "llama.context_length", &u, &err), 0);
    assert_int_equal(u, 128);
    assert_int_equal(gguf_get_u32(f, "tokenizer.ggml.seperator_token_id", &u, &err), 0);
    assert_int_equal(u, UINT32_MAX);
    int32_t i32;
    assert_int_equal(gguf_get_i32(f, "tokenizer.ggml.seperator_token_id", &i32, &err), -1);
    assert_contains(err.message, "tokenizer.ggml.seperator_token_id");
    assert_contains(err.message, "out of range");
    float eps;
    assert_int_equal(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps, &err), 0);
    assert_true(fabsf(eps - 1e-5f) < 1e-9f);

    const gguf_array *tokens;
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.tokens", &tokens, &err), 0);
    assert_int_equal(tokens->elem_type, GGUF_TYPE_STRING);
    assert_int_equal(tokens->count, 512);
    assert_int_equal(tokens->strings[1].len, 3);
    assert_memory_equal(tokens->strings[1].ptr, "<s>", 3);
    const gguf_array *scores;
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.scores", &scores, &err), 0);
    double score;
    assert_true(gguf_array_get_f64(scores, 511, &score));
    assert_false(gguf_array_get_f64(scores, 512, &score));
    assert_false(gguf_array_get_f64(tokens, 0, &score)); /* strings are not numbers */

    const gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
    assert_non_null(t);
    assert_int_equal(t->type, R1_TYPE_F32);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_int_equal(t->ne[2], 1);
    assert_int_equal(t->size, 64 * 512 * 4);
    assert_ptr_equal(t->data, f->base + f->data_offset + t->offset);
    assert_null(gguf_find_tensor(f, "no.such.tensor"));
    assert_null(gguf_find_kv(f, "no.such.key"));
    gguf_close(f);
}

/* ---- writer: every value type read back ---- */

static const uint8_t raw_u8[] = {0, 200, 255};
static const uint8_t raw_i8[] = {0x80, 0xff, 0x7f}; /* -128, -1, 127 */
static const uint8_t raw_u16[] = {0x34, 0x12, 0xff, 0xff};
static const uint8_t raw_i16[] = {0x00, 0x80, 0xfe, 0xff}; /* -32768, -2 */
static const uint8_t raw_u32[] = {0xff, 0xff, 0xff, 0xff};
static const uint8_t raw_i32[] = {0xfd, 0xff, 0xff, 0xff}; /* -3 */
static const uint8_t raw_u64[] = {0, 0, 0, 0, 0, 0, 0, 0x80};
static const uint8_t raw_i64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t raw_f32[] = {0x00, 0x00, 0xc0, 0x3f}; /* 1.5 */
static const uint8_t raw_f64[] = {0, 0, 0, 0, 0, 0, 0x04, 0xc0}; /* -2.5 */
static const uint8_t raw_bool[] = {1, 0, 1};

typedef struct scalar_case {
    const char *key;
    gguf_value value;
    const char *array_key;
    const void *raw;
    uint64_t count;
} scalar_case;

static const scalar_case scalar_cases[] = {
    {"v.u8", {GGUF_TYPE_UINT8, {.u64 = 250}}, "a.u8", raw_u8, 3},
    {"v.i8", {GGUF_TYPE_INT8, {.i64 = -100}}, "a.i8", raw_i8, 3},
    {"v.u16", {GGUF_TYPE_UINT16, {.u64 = 65535}}, "a.u16", raw_u16, 2},
    {"v.i16", {GGUF_TYPE_INT16, {.i64 = -30000}}, "a.i16", raw_i16, 2},
    {"v.u32", {GGUF_TYPE_UINT32, {.u64 = 4000000000u}}, "a.u32", raw_u32, 1},
    {"v.i32", {GGUF_TYPE_INT32, {.i64 = -2000000000}}, "a.i32", raw_i32, 1},
    {"v.f32", {GGUF_TYPE_FLOAT32, {.f64 = -0.125}}, "a.f32", raw_f32, 1},
    {"v.bool", {GGUF_TYPE_BOOL, {.b = true}}, "a.bool", raw_bool, 3},
    {"v.u64", {GGUF_TYPE_UINT64, {.u64 = UINT64_MAX}}, "a.u64", raw_u64, 1},
    {"v.i64", {GGUF_TYPE_INT64, {.i64 = INT64_MIN}}, "a.i64", raw_i64, 1},
    {"v.f64", {GGUF_TYPE_FLOAT64, {.f64 = 1e300}}, "a.f64", raw_f64, 1},
};
#define N_SCALAR_CASES (sizeof scalar_cases / sizeof scalar_cases[0])

static void copy_kv(gguf_writer *w, const char *key, gguf_value v) {
    gguf_kv kv = {(char *)key, v};
    assert_int_equal(gguf_writer_copy_kv(w, &kv), 0);
}

static gguf_value array_value(gguf_value_type elem, uint64_t count, const void *raw) {
    gguf_value v = {.type = GGUF_TYPE_ARRAY};
    v.as.arr.elem_type = elem;
    v.as.arr.count = count;
    v.as.arr.raw = raw;
    return v;
}

/* [[1, 2], [], [[...]]]-like nesting: arrays of arrays of int32 and of
 * strings, three levels deep. */
static void add_nested(gguf_writer *w) {
    static gguf_string strs[] = {{"x", 1}, {"yz", 2}};
    gguf_value inner[3];
    inner[0] = array_value(GGUF_TYPE_INT32, 1, raw_i32);
    inner[1] = array_value(GGUF_TYPE_UINT8, 0, raw_u8);
    inner[2] = array_value(GGUF_TYPE_STRING, 2, NULL);
    inner[2].as.arr.strings = strs;
    gguf_value middle[2];
    middle[0] = array_value(GGUF_TYPE_ARRAY, 3, NULL);
    middle[0].as.arr.items = inner;
    middle[1] = array_value(GGUF_TYPE_ARRAY, 0, NULL);
    gguf_value outer = array_value(GGUF_TYPE_ARRAY, 2, NULL);
    outer.as.arr.items = middle;
    copy_kv(w, "n.nested", outer);
}

static void check_nested(const gguf_file *f) {
    const gguf_array *outer;
    r1_error err;
    assert_int_equal(gguf_get_array(f, "n.nested", &outer, &err), 0);
    assert_int_equal(outer->elem_type, GGUF_TYPE_ARRAY);
    assert_int_equal(outer->count, 2);
    const gguf_array *m0 = &outer->items[0].as.arr, *m1 = &outer->items[1].as.arr;
    assert_int_equal(m0->elem_type, GGUF_TYPE_ARRAY);
    assert_int_equal(m0->count, 3);
    assert_int_equal(m1->count, 0);
    int64_t v;
    assert_true(gguf_array_get_i64(&m0->items[0].as.arr, 0, &v));
    assert_int_equal(v, -3);
    assert_int_equal(m0->items[1].as.arr.elem_type, GGUF_TYPE_UINT8);
    assert_int_equal(m0->items[1].as.arr.count, 0);
    const gguf_array *s = &m0->items[2].as.arr;
    assert_int_equal(s->elem_type, GGUF_TYPE_STRING);
    assert_int_equal(s->count, 2);
    assert_int_equal(s->strings[1].len, 2);
    assert_memory_equal(s->strings[1].ptr, "yz", 2);
}

static void check_scalar(const gguf_file *f, const scalar_case *c) {
    const gguf_kv *kv = gguf_find_kv(f, c->key);
    assert_non_null(kv);
    assert_int_equal(kv->value.type, c->value.type);
    switch (c->value.type) {
    case GGUF_TYPE_FLOAT32: case GGUF_TYPE_FLOAT64:
        assert_true(kv->value.as.f64 == c->value.as.f64);
        break;
    case GGUF_TYPE_BOOL:
        assert_int_equal(kv->value.as.b, c->value.as.b);
        break;
    default: /* u64 and i64 share their bits */
        assert_int_equal(kv->value.as.u64, c->value.as.u64);
    }
    const gguf_kv *akv = gguf_find_kv(f, c->array_key);
    assert_non_null(akv);
    assert_int_equal(akv->value.as.arr.elem_type, c->value.type);
    assert_int_equal(akv->value.as.arr.count, c->count);
}

static void test_every_value_type(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    for (size_t i = 0; i < N_SCALAR_CASES; i++) {
        copy_kv(w, scalar_cases[i].key, scalar_cases[i].value);
        copy_kv(w, scalar_cases[i].array_key,
                array_value(scalar_cases[i].value.type, scalar_cases[i].count, scalar_cases[i].raw));
    }
    gguf_value str = {.type = GGUF_TYPE_STRING, .as.str = {"with\0nul", 8}};
    copy_kv(w, "v.string", str);
    copy_kv(w, "a.empty", array_value(GGUF_TYPE_FLOAT32, 0, NULL));
    add_nested(w);
    void *data;
    size_t size;
    r1_error err;
    if (gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err) != 0) fail_msg("%s", err.message);
    gguf_writer_free(w);

    gguf_file *f = NULL;
    if (open_exact(data, size, &f, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(f->n_kv, 2 * N_SCALAR_CASES + 3);
    for (size_t i = 0; i < N_SCALAR_CASES; i++) {
        check_scalar(f, &scalar_cases[i]);
        /* insertion order is file order */
        assert_string_equal(f->kv[2 * i].key, scalar_cases[i].key);
    }
    gguf_string s;
    assert_int_equal(gguf_get_string(f, "v.string", &s, &err), 0);
    assert_int_equal(s.len, 8);
    assert_memory_equal(s.ptr, "with\0nul", 8);
    check_nested(f);
    close_exact(f);
    free(data);
}

static void test_array_elements(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    for (size_t i = 0; i < N_SCALAR_CASES; i++)
        copy_kv(w, scalar_cases[i].array_key,
                array_value(scalar_cases[i].value.type, scalar_cases[i].count, scalar_cases[i].raw));
    void *data;
    size_t size;
    r1_error err;
    assert_int_equal(gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err), 0);
    gguf_writer_free(w);
    gguf_file *f = NULL;
    if (open_exact(data, size, &f, &err) != 0) fail_msg("%s", err.message);
    const gguf_array *a;
    int64_t v;
    double d;
    assert_int_equal(gguf_get_array(f, "a.u8", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 1, &v) && v == 200);
    assert_int_equal(gguf_get_array(f, "a.i8", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == -128);
    assert_true(gguf_array_get_i64(a, 2, &v) && v == 127);
    assert_int_equal(gguf_get_array(f, "a.u16", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == 0x1234);
    assert_int_equal(gguf_get_array(f, "a.i16", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == -32768);
    assert_int_equal(gguf_get_array(f, "a.u32", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == UINT32_MAX);
    assert_int_equal(gguf_get_array(f, "a.u64", &a, &err), 0);
    assert_false(gguf_array_get_i64(a, 0, &v)); /* 2^63 does not fit */
    assert_true(gguf_array_get_f64(a, 0, &d) && d == 9223372036854775808.0);
    assert_int_equal(gguf_get_array(f, "a.i64", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == -1);
    assert_int_equal(gguf_get_array(f, "a.f32", &a, &err), 0);
    assert_true(gguf_array_get_f64(a, 0, &d) && d == 1.5);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == 1);
    assert_int_equal(gguf_get_array(f, "a.f64", &a, &err), 0);
    assert_true(gguf_array_get_f64(a, 0, &d) && d == -2.5);
    assert_int_equal(gguf_get_array(f, "a.bool", &a, &err), 0);
    assert_true(gguf_array_get_i64(a, 0, &v) && v == 1);
    assert_true(gguf_array_get_i64(a, 1, &v) && v == 0);
    assert_false(gguf_array_get_i64(a, 3, &v));
    assert_false(gguf_array_get_i64(NULL, 0, &v));
    close_exact(f);
    free(data);
}

static void test_getters(void **state) {
    (void)state;
    void *data;
    size_t size;
    small_file(&data, &size);
    gguf_file *f = NULL;
    r1_error err;
    if (open_exact(data, size, &f, &err) != 0) fail_msg("%s", err.message);
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f32;
    bool b;
    gguf_string s;
    const gguf_array *a;
    assert_int_equal(gguf_get_u32(f, "llama.block_count", &u32, &err), 0);
    assert_int_equal(u32, 2);
    assert_int_equal(gguf_get_i32(f, "llama.block_count", &i32, &err), 0);
    assert_int_equal(i32, 2);
    assert_int_equal(gguf_get_u64(f, "llama.block_count", &u64, &err), 0);
    assert_int_equal(gguf_get_i32(f, "test.i32", &i32, &err), 0);
    assert_int_equal(i32, -5);
    assert_int_equal(gguf_get_u32(f, "test.i32", &u32, &err), -1);
    assert_contains(err.message, "'test.i32'");
    assert_contains(err.message, "out of range");
    assert_int_equal(gguf_get_u64(f, "test.u64", &u64, &err), 0);
    assert_int_equal(u64, UINT64_C(1) << 40);
    assert_int_equal(gguf_get_u32(f, "test.u64", &u32, &err), -1);
    assert_contains(err.message, "test.u64");
    assert_int_equal(gguf_get_f32(f, "test.f32", &f32, &err), 0);
    assert_true(f32 == 0.5f);
    assert_int_equal(gguf_get_bool(f, "test.bool", &b, &err), 0);
    assert_true(b);
    assert_int_equal(gguf_get_string(f, "general.architecture", &s, &err), 0);
    assert_int_equal(gguf_get_array(f, "tokenizer.ggml.tokens", &a, &err), 0);
    assert_int_equal(a->count, 3);
    assert_int_equal(a->strings[1].len, 0);

    assert_int_equal(gguf_get_u32(f, "general.architecture", &u32, &err), -1);
    assert_contains(err.message, MEMORY_NAME ": key 'general.architecture' has type string, expected an integer");
    assert_int_equal(gguf_get_f32(f, "test.bool", &f32, &err), -1);
    assert_contains(err.message, "'test.bool' has type bool");
    assert_int_equal(gguf_get_bool(f, "test.f32", &b, &err), -1);
    assert_int_equal(gguf_get_string(f, "test.ints", &s, &err), -1);
    assert_contains(err.message, "has type array, expected string");
    assert_int_equal(gguf_get_array(f, "test.f32", &a, &err), -1);
    assert_int_equal(gguf_get_u32(f, "missing.key", &u32, &err), -1);
    assert_contains(err.message, MEMORY_NAME ": key 'missing.key' not found");
    assert_string_equal(gguf_type_name(GGUF_TYPE_FLOAT64), "float64");
    assert_string_equal(gguf_type_name(GGUF_TYPE_COUNT), "unknown");

    const gguf_tensor *t0 = gguf_find_tensor(f, "a.weight");
    const gguf_tensor *t1 = gguf_find_tensor(f, "b.weight");
    assert_non_null(t0);
    assert_non_null(t1);
    assert_int_equal(t0->size, 8 * 2 * 4);
    assert_int_equal(t1->size, 16 * 34);
    assert_int_equal(t1->n_dims, 3);
    assert_int_equal(t1->ne[2], 16);
    assert_int_equal(t1->offset, 64);
    check_pattern(t0, 0);
    check_pattern(t1, 1);
    close_exact(f);
    free(data);
}

static void test_writer_replace_and_alignment(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "first", 1);
    gguf_writer_set_string(w, "second", "x");
    gguf_writer_set_u32(w, "first", 2); /* replaced in place */
    gguf_writer_set_alignment(w, 64);
    r1_error err;
    const int64_t ne[] = {3};
    const int64_t ne_big[] = {40};
    assert_int_equal(gguf_writer_add_tensor(w, "t0", R1_TYPE_F32, 1, ne, &err), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "t1", R1_TYPE_F16, 1, ne_big, &err), 1);
    void *data;
    size_t size;
    assert_int_equal(gguf_writer_write_memory(w, fill_pattern, NULL, &data, &size, &err), 0);
    gguf_writer_free(w);
    assert_int_equal(size % 64, 0);
    gguf_file *f = NULL;
    if (open_exact(data, size, &f, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(f->n_kv, 3);
    assert_string_equal(f->kv[0].key, "first");
    assert_int_equal(f->kv[0].value.as.u64, 2);
    assert_string_equal(f->kv[2].key, "general.alignment");
    assert_int_equal(f->alignment, 64);
    assert_int_equal(f->data_offset % 64, 0);
    assert_int_equal(f->tensors[1].offset, 64);
    check_pattern(&f->tensors[0], 0);
    check_pattern(&f->tensors[1], 1);
    close_exact(f);
    free(data);

    /* the default alignment writes no key */
    w = gguf_writer_new();
    gguf_writer_set_alignment(w, 32);
    assert_int_equal(gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err), 0);
    assert_int_equal(size, 32); /* 24-byte header padded */
    free(data);
    gguf_writer_set_alignment(w, 3);
    assert_int_equal(gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err), -1);
    assert_contains(err.message, "power of two");
    gguf_writer_free(w);
}

static void test_writer_tensor_errors(void **state) {
    (void)state;
    gguf_writer *w = gguf_writer_new();
    r1_error err;
    const int64_t ne[] = {32, 2, 1, 1, 1};
    const int64_t ne_odd[] = {33};
    const int64_t ne_zero[] = {32, 0};
    assert_int_equal(gguf_writer_add_tensor(w, "ok", R1_TYPE_Q4_0, 2, ne, &err), 0);
    assert_int_equal(gguf_writer_add_tensor(w, "ok", R1_TYPE_F32, 1, ne, &err), -1);
    assert_contains(err.message, "'ok' is already declared");
    assert_int_equal(gguf_writer_add_tensor(w, "t", 99, 1, ne, &err), -1);
    assert_contains(err.message, "'t': unknown type id 99");
    assert_int_equal(gguf_writer_add_tensor(w, "t", R1_TYPE_Q4_0, 1, ne_odd, &err), -1);
    assert_contains(err.message, "not a multiple");
    assert_int_equal(gguf_writer_add_tensor(w, "t", R1_TYPE_F32, 0, ne, &err), -1);
    assert_int_equal(gguf_writer_add_tensor(w, "t", R1_TYPE_F32, 5, ne, &err), -1);
    assert_int_equal(gguf_writer_add_tensor(w, "t", R1_TYPE_F32, 2, ne_zero, &err), -1);
    assert_int_equal(gguf_writer_add_tensor(w, "", R1_TYPE_F32, 1, ne, &err), -1);
    gguf_writer_free(w);
}

static int fill_failing(void *user, int index, void *dst, uint64_t size, r1_error *err) {
    (void)user;
    (void)dst;
    (void)size;
    if (index == 1) return r1_error_set(err, "no data for this one");
    return 0;
}

static void test_writer_write_file(void **state) {
    (void)state;
    gguf_writer *w = small_writer();
    r1_error err;
    const char *path = temp_path("small.gguf");
    if (gguf_writer_write_file(w, path, fill_pattern, NULL, &err) != 0) fail_msg("%s", err.message);
    gguf_file *f = NULL;
    if (gguf_open(path, &f, &err) != 0) fail_msg("%s", err.message);
    assert_string_equal(f->path, path);
    check_pattern(gguf_find_tensor(f, "b.weight"), 1);
    gguf_close(f);

    /* a failing fill leaves no file behind and names the tensor */
    const char *failed_path = temp_path("failed.gguf");
    assert_int_equal(gguf_writer_write_file(w, failed_path, fill_failing, NULL, &err), -1);
    assert_contains(err.message, "tensor 'b.weight': no data for this one");
    assert_contains(err.message, failed_path);
    assert_false(file_exists(failed_path));
    /* and keeps an old file at the path as it was */
    assert_int_equal(gguf_writer_write_file(w, path, fill_failing, NULL, &err), -1);
    if (gguf_open(path, &f, &err) != 0) fail_msg("%s", err.message);
    check_pattern(gguf_find_tensor(f, "b.weight"), 1);

    /* rewriting a file in place while it is mapped */
    assert_int_equal(gguf_writer_write_file(w, path, fill_from_file, f, &err), 0);
    gguf_close(f);
    if (gguf_open(path, &f, &err) != 0) fail_msg("%s", err.message);
    check_pattern(gguf_find_tensor(f, "a.weight"), 0);
    check_pattern(gguf_find_tensor(f, "b.weight"), 1);
    gguf_close(f);
    unlink(path);
    char leftover[1100];
    snprintf(leftover, sizeof leftover, "%s.tmp-%ld", path, (long)getpid());
    assert_false(file_exists(leftover));

    assert_int_equal(gguf_writer_write_file(w, "/nonexistent-dir/x.gguf", NULL, NULL, &err), -1);
    assert_contains(err.message, "/nonexistent-dir/x.gguf");
    gguf_writer_free(w);
}

static void test_open_errors(void **state) {
    (void)state;
    gguf_file *f = NULL;
    r1_error err;
    assert_int_equal(gguf_open("/nonexistent-dir/model.gguf", &f, &err), -1);
    assert_null(f);
    assert_contains(err.message, "/nonexistent-dir/model.gguf: cannot open");
    assert_int_equal(gguf_open(R1_BINARY_DIR, &f, &err), -1);
    assert_contains(err.message, "not a regular file");
    const char *path = temp_path("empty.gguf");
    assert_true(test_write_file(path, "", 0));
    assert_int_equal(gguf_open(path, &f, &err), -1);
    assert_contains(err.message, "too small");
    assert_true(test_write_file(path, "GGUF\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 23));
    assert_int_equal(gguf_open(path, &f, &err), -1);
    assert_contains(err.message, path);
    unlink(path);
    assert_int_equal(gguf_open_memory(NULL, 0, NULL, &f, &err), -1);
    assert_contains(err.message, "<memory>");
}

/* ---- crafted bad files ---- */

static void test_truncated_everywhere(void **state) {
    (void)state;
    void *buffer;
    size_t size;
    small_file(&buffer, &size);
    uint8_t *data = buffer;
    gguf_file *f = NULL;
    r1_error err;
    assert_int_equal(open_exact(data, size, &f, &err), 0);
    close_exact(f);
    for (size_t n = 0; n < size; n++) expect_error(data, n, NULL, NULL);
    free(data);
}

/* Every byte set to a few values, and every 4-byte field to an extreme:
 * whatever the outcome, no crash and no read outside the buffer. */
static void test_corrupted_everywhere(void **state) {
    (void)state;
    void *buffer;
    size_t size;
    small_file(&buffer, &size);
    uint8_t *data = buffer;
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < size; i++) {
        uint8_t saved = data[i];
        for (size_t v = 0; v < sizeof values; v++) {
            data[i] = values[v];
            gguf_file *f = NULL;
            r1_error err;
            if (open_exact(data, size, &f, &err) == 0) close_exact(f);
            else assert_non_null(strstr(err.message, MEMORY_NAME));
        }
        data[i] = saved;
    }
    free(data);
}

static void test_bad_header(void **state) {
    (void)state;
    bytes b = {0};
    put_header(&b, 3, 0, 0);
    b.p[0] = 'X';
    expect_error(b.p, b.len, "not a GGUF file", "58 47 55 46");
    b.p[0] = 'G';
    b.p[4] = 1;
    expect_error(b.p, b.len, "version 1", "not supported");
    b.p[4] = 4;
    expect_error(b.p, b.len, "unsupported GGUF version 4", NULL);
    b.p[4] = 0;
    b.p[7] = 3;
    expect_error(b.p, b.len, "big-endian", NULL);
    bytes_free(&b);

    put_header(&b, 2, 0, 0); /* version 2 is fine */
    gguf_file *f = NULL;
    r1_error err;
    assert_int_equal(open_exact(b.p, b.len, &f, &err), 0);
    assert_int_equal(f->version, 2);
    close_exact(f);
    bytes_free(&b);

    put_header(&b, 3, 0, UINT64_C(1) << 60);
    put_zeros(&b, 100);
    expect_error(b.p, b.len, "kv count 1152921504606846976 cannot fit", NULL);
    bytes_free(&b);
    put_header(&b, 3, UINT64_MAX, 0);
    put_zeros(&b, 100);
    expect_error(b.p, b.len, "tensor count 18446744073709551615 cannot fit", NULL);
    bytes_free(&b);
}

static void test_bad_kvs(void **state) {
    (void)state;
    bytes b = {0};
    put_header(&b, 3, 0, 1);
    put_u64(&b, 1000); /* key length past the end */
    put_zeros(&b, 20);
    expect_error(b.p, b.len, "key at offset 24: length 1000 runs past the end", NULL);
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "test.key");
    put_u32(&b, 13);
    put_u32(&b, 0);
    expect_error(b.p, b.len, "key 'test.key': unknown value type 13", NULL);
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "test.key");
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, UINT64_MAX);
    expect_error(b.p, b.len, "key 'test.key'", "length 18446744073709551615 runs past");
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "test.arr");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, 77);
    put_u64(&b, 0);
    expect_error(b.p, b.len, "key 'test.arr'", "unknown element type 77");
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "test.arr");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_UINT64);
    put_u64(&b, UINT64_C(1) << 62); /* count * 8 overflows */
    put_zeros(&b, 16);
    expect_error(b.p, b.len, "key 'test.arr'", "run past the end");
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "test.strs");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_STRING);
    put_u64(&b, 1000000);
    put_zeros(&b, 16);
    expect_error(b.p, b.len, "key 'test.strs'", "1000000 strings cannot fit");
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "test.bool");
    put_u32(&b, GGUF_TYPE_BOOL);
    put(&b, "\2", 1);
    expect_error(b.p, b.len, "key 'test.bool'", "is 2, not 0 or 1");
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_str(&b, "");
    put_u32(&b, GGUF_TYPE_UINT8);
    put(&b, "\0", 1);
    put_zeros(&b, 8); /* so the kv count passes the size check */
    expect_error(b.p, b.len, "key at offset 24 is empty", NULL);
    bytes_free(&b);

    put_header(&b, 3, 0, 1);
    put_u64(&b, 3);
    put(&b, "a\0b", 3);
    put_u32(&b, GGUF_TYPE_UINT8);
    put(&b, "\0", 1);
    expect_error(b.p, b.len, "contains a NUL byte", NULL);
    bytes_free(&b);

    put_header(&b, 3, 0, 3);
    put_kv_u32(&b, "dup.key", 1);
    put_kv_u32(&b, "other", 1);
    put_kv_u32(&b, "dup.key", 2);
    expect_error(b.p, b.len, "duplicate key 'dup.key' (entries 0 and 2)", NULL);
    bytes_free(&b);
}

/* One kv holding `levels` arrays nested in each other. */
static bytes nested_arrays(int levels) {
    bytes b = {0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "deep");
    put_u32(&b, GGUF_TYPE_ARRAY);
    for (int i = 1; i < levels; i++) {
        put_u32(&b, GGUF_TYPE_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, GGUF_TYPE_INT32);
    put_u64(&b, 1);
    put_u32(&b, 42);
    return b;
}

static void test_nesting_limit(void **state) {
    (void)state;
    bytes b = nested_arrays(8);
    gguf_file *f = NULL;
    r1_error err;
    if (open_exact(b.p, b.len, &f, &err) != 0) fail_msg("%s", err.message);
    const gguf_array *a = &f->kv[0].value.as.arr;
    for (int i = 1; i < 8; i++) a = &a->items[0].as.arr;
    int64_t v;
    assert_true(gguf_array_get_i64(a, 0, &v) && v == 42);
    close_exact(f);
    bytes_free(&b);
    b = nested_arrays(9);
    expect_error(b.p, b.len, "key 'deep'", "nested more than 8 deep");
    bytes_free(&b);
}

static void test_bad_alignment(void **state) {
    (void)state;
    const uint32_t bad[] = {0, 3, 48};
    for (int i = 0; i < 3; i++) {
        bytes b = {0};
        put_header(&b, 3, 0, 1);
        put_kv_u32(&b, "general.alignment", bad[i]);
        expect_error(b.p, b.len, "key 'general.alignment'", "is not a power of two");
        bytes_free(&b);
    }
    bytes b = {0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "general.alignment");
    put_u32(&b, GGUF_TYPE_INT32);
    put_u32(&b, 32);
    expect_error(b.p, b.len, "key 'general.alignment'", "type is int32, expected uint32");
    bytes_free(&b);
}

static void test_bad_tensor_infos(void **state) {
    (void)state;
    struct {
        crafted_tensor t;
        const char *fragment;
    } cases[] = {
        {{"t.type", 1, {32}, 99, 0}, "tensor 't.type': unknown tensor type id 99"},
        {{"t.type4", 1, {32}, 4, 0}, "tensor 't.type4': unknown tensor type id 4"},
        {{"t.dims0", 0, {32}, 0, 0}, "tensor 't.dims0': n_dims 0 "},
        {{"t.dims5", 5, {32, 1, 1, 1, 1}, 0, 0}, "tensor 't.dims5': n_dims 5 "},
        {{"t.zero", 2, {32, 0}, 0, 0}, "tensor 't.zero': dimension 1 at offset"},
        {{"t.huge", 2, {UINT64_C(1) << 40, UINT64_C(1) << 40}, 0, 0}, "tensor 't.huge': size of"},
        {{"t.neg", 1, {UINT64_MAX}, 0, 0}, "tensor 't.neg': dimension 0"},
        {{"t.block", 1, {33}, R1_TYPE_Q4_0, 0}, "tensor 't.block': row length 33 is not a multiple"},
        {{"t.align", 1, {4}, 0, 16}, "tensor 't.align': data offset 16"},
        {{"t.past", 1, {32}, 0, 0}, "tensor 't.past': data ["},
        {{"t.far", 1, {4}, 0, UINT64_MAX - 31}, "tensor 't.far': data offset"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bytes b = craft(&cases[i].t, 1, 16);
        expect_error(b.p, b.len, cases[i].fragment, NULL);
        bytes_free(&b);
    }
    /* the message gives the extent and the file size */
    crafted_tensor past = {"blk.0.attn_q.weight", 2, {8, 8}, 0, 0};
    bytes b = craft(&past, 1, 64);
    char expected[256];
    snprintf(expected, sizeof expected, "tensor 'blk.0.attn_q.weight': data [%zu, %zu) extends past the end of the file (%zu bytes)",
             b.len - 64, b.len - 64 + 256, b.len);
    expect_error(b.p, b.len, expected, NULL);
    bytes_free(&b);
}

static void test_bad_tensor_layout(void **state) {
    (void)state;
    crafted_tensor overlap[] = {{"first", 1, {16}, 0, 0}, {"second", 1, {16}, 0, 32}};
    bytes b = craft(overlap, 2, 128);
    expect_error(b.p, b.len, "tensors 'first'", "and 'second' (data offset 32, 64 bytes) overlap");
    bytes_free(&b);

    crafted_tensor same[] = {{"x", 1, {8}, 0, 0}, {"y", 1, {8}, 0, 0}};
    b = craft(same, 2, 64);
    expect_error(b.p, b.len, "overlap", NULL);
    bytes_free(&b);

    crafted_tensor dup[] = {{"dup.weight", 1, {8}, 0, 0}, {"dup.weight", 1, {8}, 0, 32}};
    b = craft(dup, 2, 64);
    expect_error(b.p, b.len, "duplicate tensor name 'dup.weight'", NULL);
    bytes_free(&b);

    crafted_tensor empty_name[] = {{"", 1, {8}, 0, 0}};
    b = craft(empty_name, 1, 32);
    expect_error(b.p, b.len, "tensor name at offset", "is empty");
    bytes_free(&b);

    /* adjacent and out of order is fine */
    crafted_tensor fine[] = {{"late", 1, {8}, 0, 32}, {"early", 1, {8}, 0, 0}};
    b = craft(fine, 2, 64);
    gguf_file *f = NULL;
    r1_error err;
    if (open_exact(b.p, b.len, &f, &err) != 0) fail_msg("%s", err.message);
    assert_ptr_equal(gguf_find_tensor(f, "early")->data, f->base + f->data_offset);
    close_exact(f);
    bytes_free(&b);
}

/* ---- fuzz seeds ---- */

static void seed_small(bytes *out) {
    void *data;
    size_t size;
    small_file(&data, &size);
    put(out, data, size);
    free(data);
}

static void seed_all_types(bytes *out) {
    gguf_writer *w = gguf_writer_new();
    for (size_t i = 0; i < N_SCALAR_CASES; i++) {
        copy_kv(w, scalar_cases[i].key, scalar_cases[i].value);
        copy_kv(w, scalar_cases[i].array_key,
                array_value(scalar_cases[i].value.type, scalar_cases[i].count, scalar_cases[i].raw));
    }
    add_nested(w);
    void *data;
    size_t size;
    r1_error err;
    assert_int_equal(gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err), 0);
    put(out, data, size);
    free(data);
    gguf_writer_free(w);
}

static void seed_quant_types(bytes *out) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_alignment(w, 64);
    gguf_writer_set_string(w, "general.architecture", "qwen2");
    const uint32_t types[] = {R1_TYPE_F16, R1_TYPE_BF16, R1_TYPE_Q4_0, R1_TYPE_Q4_1, R1_TYPE_Q5_0,
                              R1_TYPE_Q5_1, R1_TYPE_Q8_0, R1_TYPE_Q4_K, R1_TYPE_Q5_K, R1_TYPE_Q6_K};
    r1_error err;
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "blk.%d.weight", i);
        int64_t ne[] = {r1_type_get(types[i])->block_size, 1, 1, 2};
        assert_int_equal(gguf_writer_add_tensor(w, name, types[i], 4, ne, &err), i);
    }
    void *data;
    size_t size;
    assert_int_equal(gguf_writer_write_memory(w, fill_pattern, NULL, &data, &size, &err), 0);
    put(out, data, size);
    free(data);
    gguf_writer_free(w);
}

typedef struct seed {
    const char *name;
    void (*build)(bytes *out);
} seed;

static const seed seeds[] = {
    {"small.gguf", seed_small},
    {"all-types.gguf", seed_all_types},
    {"quant-types.gguf", seed_quant_types},
};

/* Writes the seeds when asked; otherwise checks that the committed ones
 * (which the fuzzer starts from) still parse. */
static void test_fuzz_seeds(void **state) {
    (void)state;
    const char *dir = getenv("R1_GGUF_WRITE_CORPUS");
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        bytes b = {0};
        seeds[i].build(&b);
        char path[1024];
        if (dir && *dir) {
            snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
            assert_true(test_write_file(path, b.p, b.len));
        }
        gguf_file *f = NULL;
        r1_error err;
        if (open_exact(b.p, b.len, &f, &err) != 0) fail_msg("%s", err.message);
        close_exact(f);
        bytes_free(&b);
        snprintf(path, sizeof path, "%s/fuzz/corpus-gguf/%s", R1_SOURCE_DIR, seeds[i].name);
        if (!file_exists(path)) continue;
        if (gguf_open(path, &f, &err) != 0) fail_msg("%s", err.message);
        gguf_close(f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_rewrite_identical),
        cmocka_unit_test(test_reference_values),
        cmocka_unit_test(test_every_value_type),
        cmocka_unit_test(test_array_elements),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_writer_replace_and_alignment),
        cmocka_unit_test(test_writer_tensor_errors),
        cmocka_unit_test(test_writer_write_file),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_corrupted_everywhere),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_bad_kvs),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_bad_alignment),
        cmocka_unit_test(test_bad_tensor_infos),
        cmocka_unit_test(test_bad_tensor_layout),
        cmocka_unit_test(test_fuzz_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
