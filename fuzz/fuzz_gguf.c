/*
 * fuzz_gguf.c - libFuzzer harness for the GGUF reader and writer.
 *
 * Each input is parsed with gguf_open_memory. When it parses, every kv is
 * read through the getters (arrays element by element) and every tensor's
 * bytes are touched, so an extent the parser failed to check shows up under
 * ASan; the promises of gguf.h (data inside the buffer, aligned, found by
 * name) are checked explicitly. Then the file is rewritten with the writer:
 * the rewrite must parse, and rewriting that must give the same bytes.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   fuzz/run-fuzz.sh [seconds]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

/* Rewrites stay small: alignment padding alone could otherwise ask for GBs
 * from a 30-byte input. */
#define MAX_REWRITE_ALIGNMENT 4096

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static volatile uint64_t sink; /* keeps the touching reads alive */

static void touch_bytes(const void *p, uint64_t n) {
    if (n == 0) return;
    const uint8_t *b = p;
    sink += b[0] + b[n - 1];
}

static void touch_array(const gguf_array *a) {
    for (uint64_t i = 0; i < a->count; i++) {
        if (a->elem_type == GGUF_TYPE_STRING) {
            touch_bytes(a->strings[i].ptr, a->strings[i].len);
        } else if (a->elem_type == GGUF_TYPE_ARRAY) {
            touch_array(&a->items[i].as.arr);
        } else {
            int64_t iv;
            double dv;
            gguf_array_get_i64(a, i, &iv);
            check(gguf_array_get_f64(a, i, &dv)); /* every scalar converts to double */
        }
    }
    int64_t iv;
    check(!gguf_array_get_i64(a, a->count, &iv));
}

static void touch_kv(const gguf_file *f, const gguf_kv *kv) {
    r1_error err;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    float f32;
    bool b;
    gguf_string s;
    const gguf_array *a;
    check(gguf_find_kv(f, kv->key) == kv);
    gguf_get_u32(f, kv->key, &u32, &err);
    gguf_get_u64(f, kv->key, &u64, &err);
    gguf_get_i32(f, kv->key, &i32, &err);
    gguf_get_f32(f, kv->key, &f32, &err);
    gguf_get_bool(f, kv->key, &b, &err);
    if (gguf_get_string(f, kv->key, &s, &err) == 0) touch_bytes(s.ptr, s.len);
    if (gguf_get_array(f, kv->key, &a, &err) == 0) touch_array(a);
}

static void touch_tensor(const gguf_file *f, const gguf_tensor *t) {
    const uint8_t *start = t->data;
    check(gguf_find_tensor(f, t->name) == t);
    check(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS && t->size > 0);
    check(t->offset % f->alignment == 0);
    check(start >= f->base + f->data_offset && t->size <= (uint64_t)(f->base + f->size - start));
    touch_bytes(t->data, t->size);
}

static int fill_from(void *user, int index, void *dst, uint64_t size, r1_error *err) {
    const gguf_file *src = user;
    (void)err;
    check(size == src->tensors[index].size);
    memcpy(dst, src->tensors[index].data, size);
    return 0;
}

/* The file through the writer; 0 with *out (malloc'd) or -1. */
static int rewrite(const gguf_file *f, void **out, size_t *out_size) {
    gguf_writer *w = gguf_writer_new();
    r1_error err;
    int rc = 0;
    for (uint64_t i = 0; i < f->n_kv && rc == 0; i++) rc = gguf_writer_copy_kv(w, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors && rc == 0; i++) {
        const gguf_tensor *t = &f->tensors[i];
        rc = gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err) == (int)i ? 0 : -1;
    }
    if (rc == 0) rc = gguf_writer_write_memory(w, fill_from, (void *)f, out, out_size, &err);
    gguf_writer_free(w);
    return rc;
}

/* Whatever parses must survive a rewrite, and the rewrite is a fixed point. */
static void check_rewrite(const gguf_file *f) {
    if (f->alignment > MAX_REWRITE_ALIGNMENT) return;
    void *first;
    size_t first_size;
    check(rewrite(f, &first, &first_size) == 0);
    gguf_file *again = NULL;
    r1_error err;
    check(gguf_open_memory(first, first_size, "rewrite", &again, &err) == 0);
    check(again->n_kv == f->n_kv && again->n_tensors == f->n_tensors);
    void *second;
    size_t second_size;
    check(rewrite(again, &second, &second_size) == 0);
    check(second_size == first_size && memcmp(first, second, first_size) == 0);
    gguf_close(again);
    free(first);
    free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = NULL;
    r1_error err;
    if (gguf_open_memory(data, size, "fuzz", &f, &err) != 0) {
        check(f == NULL && err.message[0] != '\0');
        return 0;
    }
    for (uint64_t i = 0; i < f->n_kv; i++) touch_kv(f, &f->kv[i]);
    for (uint64_t i = 0; i < f->n_tensors; i++) touch_tensor(f, &f->tensors[i]);
    check_rewrite(f);
    gguf_close(f);
    return 0;
}
