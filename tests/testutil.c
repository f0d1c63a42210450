/* testutil.c - helpers shared by the unit tests (see testutil.h). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "r1.h"

const char *test_testdata_dir(void) {
    const char *env = getenv("R1_TESTDATA");
    return env && *env ? env : R1_TESTDATA_DIR;
}

const char *test_testdata_path(const char *relative) {
    static char buffers[8][4096];
    static int next;
    char *b = buffers[next++ % 8];
    snprintf(b, sizeof buffers[0], "%s/%s", test_testdata_dir(), relative);
    return b;
}

bool test_require_testdata(const char *sub) {
    const char *path = test_testdata_path(sub);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return true;
    const char *req = getenv("R1_REQUIRE_TESTDATA");
    if (req && strcmp(req, "1") == 0) {
        fail_msg("reference data folder %s is missing and R1_REQUIRE_TESTDATA=1", path);
    }
    fprintf(stderr,
            "\n*** SKIPPED: reference data folder %s is missing; the reference tests "
            "did NOT run. Set R1_TESTDATA to the shared/testdata folder. ***\n\n",
            path);
    return false;
}

uint64_t test_rand_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float test_rand_uniform(uint64_t *state, float lo, float hi) {
    float u = (float)(test_rand_u64(state) >> 40) * (1.0f / 16777216.0f);
    return lo + (hi - lo) * u;
}

float test_rand_normal(uint64_t *state) {
    float u1 = test_rand_uniform(state, 1e-7f, 1.0f);
    float u2 = test_rand_uniform(state, 0.0f, 1.0f);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

void *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = '\0';
    fclose(f);
    if (buf && size) *size = (size_t)n;
    return buf;
}

bool test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static int copy_tensor(void *user, int index, void *dst, uint64_t size, r1_error *err) {
    (void)err;
    memcpy(dst, ((const gguf_file *)user)->tensors[index].data, size);
    return 0;
}

void test_load_with_overrides(const char *src_path, const test_key_override *o, int n, char *message, size_t cap) {
    gguf_file *src;
    r1_error err;
    if (gguf_open(src_path, &src, &err) != 0) fail_msg("%s", err.message);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < src->n_kv; i++) {
        bool replaced = false;
        for (int k = 0; k < n; k++) replaced |= strcmp(src->kv[i].key, o[k].key) == 0;
        if (!replaced) gguf_writer_copy_kv(w, &src->kv[i]);
    }
    for (int k = 0; k < n; k++) gguf_writer_set_u32(w, o[k].key, o[k].value);
    for (uint64_t i = 0; i < src->n_tensors; i++)
        if (gguf_writer_add_tensor(w, src->tensors[i].name, src->tensors[i].type, src->tensors[i].n_dims,
                                   src->tensors[i].ne, &err) < 0)
            fail_msg("%s", err.message);
    char path[64];
    snprintf(path, sizeof path, "/tmp/r1-test-rewrite-%d.gguf", (int)getpid());
    if (gguf_writer_write_file(w, path, copy_tensor, src, &err) != 0) fail_msg("%s", err.message);
    gguf_writer_free(w);
    gguf_close(src);
    r1_model *model;
    message[0] = 0;
    if (r1_model_load(path, &model, &err) == 0) r1_model_free(model);
    else snprintf(message, cap, "%s", err.message);
    unlink(path);
}
