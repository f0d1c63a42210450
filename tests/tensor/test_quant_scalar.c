/*
 * test_quant_scalar.c - the scalar reference kernels (quant_scalar.c) and the
 * kernel-set dispatch (dispatch.c).
 *
 * Hand-built blocks check that dequantization reads the ggml layouts; random
 * data checks quantize/dequantize round trips, both dot products and the
 * activation quantizers' exact rules. main() sets R1_ISA=scalar before
 * anything asks for the engine set, so that choice is checked too.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/fp16.h"
#include "tensor/kernels.h"

static const r1_format_kernels *scalar(r1_type t) { return &r1_kernels_scalar_table.format[t]; }

static void fill_normal(float *x, int64_t n, float scale, uint64_t seed) {
    uint64_t state = seed;
    for (int64_t i = 0; i < n; i++) x[i] = scale * test_rand_normal(&state);
}

/* A quantized row of n values of type t, quantized from x; caller frees. */
static void *quantize_new(r1_type t, const float *x, int64_t n) {
    void *q = malloc(r1_row_bytes(t, n));
    assert_non_null(q);
    scalar(t)->quantize(x, q, n);
    return q;
}

static float *dequantize_new(r1_type t, const void *q, int64_t n) {
    float *y = malloc((size_t)n * sizeof(float));
    assert_non_null(y);
    scalar(t)->dequantize(q, y, n);
    return y;
}

/* ------------------------------------------------ hand-built blocks */

static void test_dequant_q4_0_known_block(void **state) {
    (void)state;
    r1_block_q4_0 b;
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    scalar(R1_TYPE_Q4_0)->dequantize(&b, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == (float)(j - 8) * 0.5f);
        assert_true(y[j + 16] == (float)(7 - j) * 0.5f);
    }
}

static void test_dequant_q4_1_known_block(void **state) {
    (void)state;
    r1_block_q4_1 b;
    b.d = 0x3400; /* 0.25 */
    b.m = 0xC000; /* -2.0 */
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    scalar(R1_TYPE_Q4_1)->dequantize(&b, y, 32);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == (float)j * 0.25f - 2.0f);
        assert_true(y[j + 16] == (float)(15 - j) * 0.25f - 2.0f);
    }
}

static void test_dequant_q5_0_known_block(void **state) {
    (void)state;
    r1_block_q5_0 b;
    b.d = 0x3400; /* 0.25 */
    const uint32_t qh = 0xA5A5F00Fu;
    b.qh[0] = 0x0F; /* little-endian bytes of qh */
    b.qh[1] = 0xF0;
    b.qh[2] = 0xA5;
    b.qh[3] = 0xA5;
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(((3 * j) & 15) | ((15 - j) << 4));
    float y[32];
    scalar(R1_TYPE_Q5_0)->dequantize(&b, y, 32);
    for (int j = 0; j < 32; j++) {
        int low = j < 16 ? (3 * j) & 15 : 15 - (j - 16);
        int high = (qh >> j) & 1;
        assert_true(y[j] == (float)((low | high << 4) - 16) * 0.25f);
    }
}

static void test_dequant_q5_1_known_block(void **state) {
    (void)state;
    r1_block_q5_1 b;
    b.d = 0x3C00; /* 1.0 */
    b.m = 0x4200; /* 3.0 */
    const uint32_t qh = 0x12345678u;
    b.qh[0] = 0x78;
    b.qh[1] = 0x56;
    b.qh[2] = 0x34;
    b.qh[3] = 0x12;
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | (j << 4));
    float y[32];
    scalar(R1_TYPE_Q5_1)->dequantize(&b, y, 32);
    for (int j = 0; j < 32; j++) {
        int q = (j % 16) | (int)((qh >> j) & 1) << 4;
        assert_true(y[j] == (float)q + 3.0f);
    }
}

static void test_dequant_q8_0_known_block(void **state) {
    (void)state;
    r1_block_q8_0 b;
    b.d = 0xB800; /* -0.5 */
    for (int j = 0; j < 32; j++) b.qs[j] = (int8_t)(j * 8 - 128);
    float y[32];
    scalar(R1_TYPE_Q8_0)->dequantize(&b, y, 32);
    for (int j = 0; j < 32; j++) assert_true(y[j] == (float)(j * 8 - 128) * -0.5f);
}

/* Sub-block scales and mins used by the Q4_K / Q5_K known blocks, and the
 * 12 bytes they pack to (worked out by hand from the format: bytes 0-3 scale
 * 0-3 plus the top two bits of scales 4-7, bytes 4-7 mins 0-3 plus the top
 * two bits of mins 4-7, bytes 8-11 the low nibbles of scale and min 4-7). */
static const int k_scale[8] = {1, 2, 3, 4, 17, 33, 50, 63};
static const int k_min[8] = {0, 5, 10, 63, 20, 40, 1, 62};
static const uint8_t k_packed[12] = {0x41, 0x82, 0xC3, 0xC4, 0x40, 0x85,
                                     0x0A, 0xFF, 0x41, 0x81, 0x12, 0xEF};

static void test_dequant_q4_k_known_block(void **state) {
    (void)state;
    r1_block_q4_k b;
    b.d = 0x3C00;    /* 1.0 */
    b.dmin = 0x3800; /* 0.5 */
    memcpy(b.scales, k_packed, 12);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)(i * 7);
    float y[256];
    scalar(R1_TYPE_Q4_K)->dequantize(&b, y, 256);
    for (int v = 0; v < 256; v++) {
        int chunk = v / 64, within = v % 64, l = within % 32;
        uint8_t byte = b.qs[32 * chunk + l];
        int q = within < 32 ? byte & 15 : byte >> 4;
        int j = v / 32;
        float expect = 1.0f * (float)k_scale[j] * (float)q - 0.5f * (float)k_min[j];
        assert_true(y[v] == expect);
    }
}

static void test_dequant_q5_k_known_block(void **state) {
    (void)state;
    r1_block_q5_k b;
    b.d = 0x3800;    /* 0.5 */
    b.dmin = 0x3C00; /* 1.0 */
    memcpy(b.scales, k_packed, 12);
    for (int i = 0; i < 128; i++) b.qs[i] = (uint8_t)(i * 11 + 5);
    for (int i = 0; i < 32; i++) b.qh[i] = (uint8_t)(i * 37 + 1);
    float y[256];
    scalar(R1_TYPE_Q5_K)->dequantize(&b, y, 256);
    for (int v = 0; v < 256; v++) {
        int chunk = v / 64, within = v % 64, l = within % 32;
        uint8_t byte = b.qs[32 * chunk + l];
        int low = within < 32 ? byte & 15 : byte >> 4;
        /* ggml: masks 1,2 for the first 64 values, then 4,8, 16,32, 64,128 */
        int fifth = (b.qh[l] >> (2 * chunk + (within >= 32))) & 1;
        int j = v / 32;
        float expect = 0.5f * (float)k_scale[j] * (float)(low + 16 * fifth) - 1.0f * (float)k_min[j];
        assert_true(y[v] == expect);
    }
}

static void test_dequant_q6_k_known_block(void **state) {
    (void)state;
    r1_block_q6_k b;
    b.d = 0x3000; /* 0.125 */
    for (int i = 0; i < 128; i++) b.ql[i] = (uint8_t)(i * 13);
    for (int i = 0; i < 64; i++) b.qh[i] = (uint8_t)(i * 29 + 3);
    for (int i = 0; i < 16; i++) b.scales[i] = (int8_t)(i * 9 - 70);
    float y[256];
    scalar(R1_TYPE_Q6_K)->dequantize(&b, y, 256);
    for (int v = 0; v < 256; v++) {
        int half = v / 128, quarter = (v % 128) / 32, l = v % 32;
        const uint8_t *ql = b.ql + 64 * half;
        int low;
        switch (quarter) {
        case 0: low = ql[l] & 15; break;
        case 1: low = ql[l + 32] & 15; break;
        case 2: low = ql[l] >> 4; break;
        default: low = ql[l + 32] >> 4; break;
        }
        int high = (b.qh[32 * half + l] >> (2 * quarter)) & 3;
        int q = (low | high << 4) - 32;
        float expect = 0.125f * (float)b.scales[v / 16] * (float)q;
        assert_true(y[v] == expect);
    }
}

static void test_dequant_q8_k_known_block(void **state) {
    (void)state;
    r1_block_q8_k b;
    memset(&b, 0, sizeof b);
    b.d = 0.01f;
    for (int j = 0; j < 256; j++) b.qs[j] = (int8_t)(j - 128);
    float y[256];
    scalar(R1_TYPE_Q8_K)->dequantize(&b, y, 256);
    for (int j = 0; j < 256; j++) assert_true(y[j] == 0.01f * (float)(j - 128));
}

static void test_float_formats_known_values(void **state) {
    (void)state;
    const uint16_t half[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF};
    const float half_expect[4] = {1.0f, -2.0f, 5.9604645e-8f, 65504.0f};
    const uint16_t bf16[3] = {0x3F80, 0xC040, 0x4049};
    const float bf16_expect[3] = {1.0f, -3.0f, 3.140625f};
    float y[4];
    scalar(R1_TYPE_F16)->dequantize(half, y, 4);
    for (int i = 0; i < 4; i++) assert_true(y[i] == half_expect[i]);
    scalar(R1_TYPE_BF16)->dequantize(bf16, y, 3);
    for (int i = 0; i < 3; i++) assert_true(y[i] == bf16_expect[i]);
    uint16_t back[4];
    scalar(R1_TYPE_F16)->quantize(half_expect, back, 4);
    assert_memory_equal(back, half, sizeof half);
    scalar(R1_TYPE_BF16)->quantize(bf16_expect, back, 3);
    assert_memory_equal(back, bf16, sizeof bf16);
}

/* ------------------------------------------------ round trips */

typedef struct {
    r1_type type;
    double rms_bound; /* rms(error) / rms(x) on N(0,1) data */
    double max_bound; /* max |error| / max |x| */
} format_case;

/* Bounds sit about 1.5x above what the quantizers reach. */
static const format_case all_formats[] = {
    {R1_TYPE_F32, 0.0, 0.0},
    {R1_TYPE_F16, 3.5e-4, 5e-4},  /* max: half keeps 11 bits, error <= 2^-11 |x| */
    {R1_TYPE_BF16, 2.5e-3, 4e-3}, /* max: 8 bits, error <= 2^-8 |x| */
    {R1_TYPE_Q4_0, 0.13, 0.12},
    {R1_TYPE_Q4_1, 0.11, 0.075},
    {R1_TYPE_Q5_0, 0.065, 0.06},
    {R1_TYPE_Q5_1, 0.055, 0.035},
    {R1_TYPE_Q8_0, 0.008, 0.006},
    {R1_TYPE_Q4_K, 0.12, 0.075},
    {R1_TYPE_Q5_K, 0.058, 0.035},
    {R1_TYPE_Q6_K, 0.028, 0.03},
    {R1_TYPE_Q8_K, 0.01, 0.006},
};
enum { FORMAT_COUNT = sizeof all_formats / sizeof all_formats[0] };

static void check_round_trip(const format_case *fc, float scale, uint64_t seed) {
    const int64_t n = 64 * R1_QK_K;
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    fill_normal(x, n, scale, seed);
    void *q = quantize_new(fc->type, x, n);
    float *y = dequantize_new(fc->type, q, n);
    double err2 = 0, x2 = 0, max_err = 0, max_x = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)y[i] - x[i]);
        err2 += e * e;
        x2 += (double)x[i] * x[i];
        if (e > max_err) max_err = e;
        if (fabs(x[i]) > max_x) max_x = fabs(x[i]);
    }
    double rms_rel = sqrt(err2 / x2), max_rel = max_err / max_x;
    if (rms_rel > fc->rms_bound || max_rel > fc->max_bound)
        fail_msg("%s round trip: rms error %.5f (bound %.5f), max error %.5f (bound %.5f)",
                 r1_type_get(fc->type)->name, rms_rel, fc->rms_bound, max_rel, fc->max_bound);
    free(x);
    free(q);
    free(y);
}

static void test_round_trip_all_formats(void **state) {
    (void)state;
    for (int f = 0; f < FORMAT_COUNT; f++) {
        check_round_trip(&all_formats[f], 1.0f, 1000 + (uint64_t)f);
        check_round_trip(&all_formats[f], 0.02f, 2000 + (uint64_t)f); /* typical weight scale */
    }
}

/* Quantizing an already-quantized row must give back the same values for
 * the symmetric formats whose largest value lands exactly on a level. */
static void test_requantize_is_stable(void **state) {
    (void)state;
    const r1_type types[] = {R1_TYPE_Q4_0, R1_TYPE_Q5_0, R1_TYPE_Q8_0, R1_TYPE_F16, R1_TYPE_BF16};
    const int64_t n = 8 * R1_QK_K;
    float *x = malloc((size_t)n * sizeof(float));
    assert_non_null(x);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        fill_normal(x, n, 1.0f, 77 + k);
        void *q1 = quantize_new(types[k], x, n);
        float *y1 = dequantize_new(types[k], q1, n);
        void *q2 = quantize_new(types[k], y1, n);
        float *y2 = dequantize_new(types[k], q2, n);
        for (int64_t i = 0; i < n; i++)
            if (fabsf(y1[i] - y2[i]) > 1e-6f * fabsf(y1[i]) + 1e-7f)
                fail_msg("%s value %lld changed on requantizing: %g -> %g",
                         r1_type_get(types[k])->name, (long long)i, y1[i], y2[i]);
        free(q1);
        free(y1);
        free(q2);
        free(y2);
    }
    free(x);
}

/* ------------------------------------------------ dot products */

static const int block_counts[] = {1, 3, 7, 16};

/* The row lengths to try for type t: 1, 3, 7 and 16 blocks (plain float
 * formats: also lengths that are not multiples of 32). */
static int64_t row_length(r1_type t, int k) {
    const int64_t bs = r1_type_get(t)->block_size;
    const int64_t blocks = block_counts[k];
    return bs == 1 ? blocks * 37 : blocks * bs;
}

static void check_dot_f32(r1_type t, int64_t n, uint64_t seed) {
    float *w = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    assert_true(w && x);
    fill_normal(w, n, 1.0f, seed);
    fill_normal(x, n, 1.0f, seed + 1);
    void *q = quantize_new(t, w, n);
    float *wd = dequantize_new(t, q, n);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        ref += (double)wd[i] * x[i];
        mag += fabs((double)wd[i] * x[i]);
    }
    float got = scalar(t)->dot_f32(q, x, n);
    if (fabs(got - ref) > 1e-5 * mag + 1e-30)
        fail_msg("%s dot_f32 n=%lld: %.9g vs %.9g (sum|wx| %.4g)", r1_type_get(t)->name,
                 (long long)n, got, ref, mag);
    free(w);
    free(x);
    free(q);
    free(wd);
}

static void test_dot_f32_matches_dequantize(void **state) {
    (void)state;
    for (int f = 0; f < FORMAT_COUNT; f++)
        for (int k = 0; k < 4; k++) {
            r1_type t = all_formats[f].type;
            check_dot_f32(t, row_length(t, k), 31 * (uint64_t)f + (uint64_t)k);
        }
}

static void check_dot_q(r1_type t, int64_t n, uint64_t seed) {
    const r1_type at = r1_type_get(t)->dot_type;
    float *w = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    assert_true(w && x);
    fill_normal(w, n, 1.0f, seed);
    fill_normal(x, n, 1.0f, seed + 1);
    void *wq = quantize_new(t, w, n);
    void *xq = quantize_new(at, x, n);
    float *wd = dequantize_new(t, wq, n);
    float *xd = dequantize_new(at, xq, n);
    double ref = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        ref += (double)wd[i] * xd[i];
        mag += fabs((double)wd[i] * xd[i]);
    }
    float got = scalar(t)->dot_q(wq, xq, n);
    if (fabs(got - ref) > 1e-4 * mag + 1e-30)
        fail_msg("%s dot_q n=%lld: %.9g vs %.9g (sum|wx| %.4g)", r1_type_get(t)->name,
                 (long long)n, got, ref, mag);
    free(w);
    free(x);
    free(wq);
    free(xq);
    free(wd);
    free(xd);
}

static void test_dot_q_matches_dequantized_dot(void **state) {
    (void)state;
    for (int f = 0; f < FORMAT_COUNT; f++) {
        r1_type t = all_formats[f].type;
        if (r1_type_get(t)->dot_type == R1_TYPE_F32) {
            assert_null(scalar(t)->dot_q);
            continue;
        }
        for (int k = 0; k < 4; k++) check_dot_q(t, row_length(t, k), 57 * (uint64_t)f + (uint64_t)k);
    }
}

/* Weights with a strong offset exercise the min terms of Q4_1/Q5_1/Q4_K/Q5_K
 * (where the activation sums, or Q8_K bsums, enter the integer path). */
static void test_dot_q_offset_weights(void **state) {
    (void)state;
    const r1_type types[] = {R1_TYPE_Q4_1, R1_TYPE_Q5_1, R1_TYPE_Q4_K, R1_TYPE_Q5_K};
    const int64_t n = 4 * R1_QK_K;
    float *w = malloc((size_t)n * sizeof(float)), *x = malloc((size_t)n * sizeof(float));
    assert_true(w && x);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        r1_type t = types[k], at = r1_type_get(t)->dot_type;
        fill_normal(w, n, 0.5f, 300 + k);
        fill_normal(x, n, 1.0f, 400 + k);
        for (int64_t i = 0; i < n; i++) w[i] += 3.0f;
        void *wq = quantize_new(t, w, n), *xq = quantize_new(at, x, n);
        float *wd = dequantize_new(t, wq, n), *xd = dequantize_new(at, xq, n);
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < n; i++) {
            ref += (double)wd[i] * xd[i];
            mag += fabs((double)wd[i] * xd[i]);
        }
        float got = scalar(t)->dot_q(wq, xq, n);
        if (fabs(got - ref) > 1e-4 * mag)
            fail_msg("%s offset dot_q: %.9g vs %.9g", r1_type_get(t)->name, got, ref);
        free(wq);
        free(xq);
        free(wd);
        free(xd);
    }
    free(w);
    free(x);
}

/* ------------------------------------------------ zeros */

static void test_zero_vectors(void **state) {
    (void)state;
    const int64_t n = 3 * R1_QK_K;
    float *zero = calloc((size_t)n, sizeof(float)), *ones = malloc((size_t)n * sizeof(float));
    assert_true(zero && ones);
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    for (int f = 0; f < FORMAT_COUNT; f++) {
        r1_type t = all_formats[f].type;
        void *q = quantize_new(t, zero, n);
        float *y = dequantize_new(t, q, n);
        for (int64_t i = 0; i < n; i++) assert_true(y[i] == 0.0f);
        assert_true(scalar(t)->dot_f32(q, ones, n) == 0.0f);
        if (scalar(t)->dot_q) {
            r1_type at = r1_type_get(t)->dot_type;
            void *xq = quantize_new(at, ones, n);
            assert_true(scalar(t)->dot_q(q, xq, n) == 0.0f);
            free(xq);
        }
        free(q);
        free(y);
    }
    /* a zero activation row: d = 0, all q = 0, all sums 0 */
    r1_block_q8_k b;
    memset(&b, 0x55, sizeof b);
    scalar(R1_TYPE_Q8_K)->quantize(zero, &b, R1_QK_K);
    assert_true(b.d == 0.0f);
    for (int j = 0; j < R1_QK_K; j++) assert_int_equal(b.qs[j], 0);
    for (int j = 0; j < R1_QK_K / 16; j++) assert_int_equal(b.bsums[j], 0);
    free(zero);
    free(ones);
}

/* ------------------------------------------------ activation quantizers */

/* ggml's quantize_row_q8_0_ref, restated from its definition. */
static void reference_q8_0(const float *x, r1_block_q8_0 *b) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = r1_f32_to_half(d);
    for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)roundf(x[j] * id);
}

/* ggml's quantize_row_q8_K_ref, with round-half-even done by rintf. */
static void reference_q8_k(const float *x, r1_block_q8_k *b) {
    memset(b, 0, sizeof *b);
    float amax = 0, max = 0;
    for (int j = 0; j < 256; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    if (amax == 0.0f) return;
    float iscale = -127.0f / max;
    for (int j = 0; j < 256; j++) {
        int v = (int)rintf(iscale * x[j]);
        b->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += b->qs[16 * g + l];
        b->bsums[g] = (int16_t)s;
    }
    b->d = 1.0f / iscale;
}

static void test_q8_0_activation_rules(void **state) {
    (void)state;
    /* ties round away from zero (roundf): amax 127 gives d = 1 */
    float x[32] = {0};
    x[0] = 127.0f;
    x[1] = 2.5f;
    x[2] = -2.5f;
    x[3] = 0.5f;
    x[4] = -126.5f;
    r1_block_q8_0 b;
    scalar(R1_TYPE_Q8_0)->quantize(x, &b, 32);
    assert_int_equal(b.d, 0x3C00);
    assert_int_equal(b.qs[0], 127);
    assert_int_equal(b.qs[1], 3);
    assert_int_equal(b.qs[2], -3);
    assert_int_equal(b.qs[3], 1);
    assert_int_equal(b.qs[4], -127);
    /* random rows agree byte for byte with the rule */
    uint64_t rng = 9;
    for (int trial = 0; trial < 200; trial++) {
        float scale = test_rand_uniform(&rng, 1e-3f, 10.0f);
        for (int j = 0; j < 32; j++) x[j] = scale * test_rand_normal(&rng);
        r1_block_q8_0 ref;
        reference_q8_0(x, &ref);
        scalar(R1_TYPE_Q8_0)->quantize(x, &b, 32);
        assert_memory_equal(&b, &ref, sizeof b);
    }
}

static void test_q8_k_activation_rules(void **state) {
    (void)state;
    float x[256] = {0};
    r1_block_q8_k b;
    /* max -127 (sign kept) gives iscale = 1: ties round to even */
    x[0] = -127.0f;
    x[1] = 2.5f;
    x[2] = 3.5f;
    x[3] = -2.5f;
    x[4] = 0.5f;
    x[5] = 1.5f;
    scalar(R1_TYPE_Q8_K)->quantize(x, &b, 256);
    assert_true(b.d == 1.0f);
    assert_int_equal(b.qs[0], -127);
    assert_int_equal(b.qs[1], 2);
    assert_int_equal(b.qs[2], 4);
    assert_int_equal(b.qs[3], -2);
    assert_int_equal(b.qs[4], 0);
    assert_int_equal(b.qs[5], 2);
    assert_int_equal(b.bsums[0], -127 + 2 + 4 - 2 + 0 + 2);
    /* a positive max flips the sign: iscale = -1, d = -1 */
    x[0] = 127.0f;
    scalar(R1_TYPE_Q8_K)->quantize(x, &b, 256);
    assert_true(b.d == -1.0f);
    assert_int_equal(b.qs[0], -127);
    assert_int_equal(b.qs[1], -2);
    assert_int_equal(b.qs[2], -4);
    assert_int_equal(b.qs[3], 2);
    /* random rows agree byte for byte with the rule */
    uint64_t rng = 11;
    for (int trial = 0; trial < 100; trial++) {
        float scale = test_rand_uniform(&rng, 1e-3f, 10.0f);
        for (int j = 0; j < 256; j++) x[j] = scale * test_rand_normal(&rng);
        r1_block_q8_k ref;
        reference_q8_k(x, &ref);
        scalar(R1_TYPE_Q8_K)->quantize(x, &b, 256);
        assert_true(b.d == ref.d);
        assert_memory_equal(b.qs, ref.qs, sizeof b.qs);
        assert_memory_equal(b.bsums, ref.bsums, sizeof b.bsums);
    }
}

/* ------------------------------------------------ llama.cpp's files */

/* Just enough of GGUF to find a tensor's bytes: header, key/values (skipped,
 * but for general.alignment), tensor infos. The files are trusted test data,
 * so a malformed one simply fails the test. */
typedef struct {
    char name[96];
    uint32_t type;
    int64_t n;           /* element count */
    const uint8_t *data;
} gguf_tensor;

typedef struct {
    uint8_t *file;
    size_t size, pos;
    int n_tensors;
    gguf_tensor tensors[64];
} gguf_view;

static uint64_t gguf_take(gguf_view *g, size_t bytes) {
    assert_true(g->pos + bytes <= g->size);
    uint64_t v = 0;
    memcpy(&v, g->file + g->pos, bytes); /* little-endian host */
    g->pos += bytes;
    return v;
}

static void gguf_skip_value(gguf_view *g, uint32_t type) {
    static const size_t scalar_bytes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    assert_true(type <= 12);
    if (type == 8) { /* string */
        g->pos += gguf_take(g, 8);
    } else if (type == 9) { /* array */
        uint32_t item = (uint32_t)gguf_take(g, 4);
        uint64_t count = gguf_take(g, 8);
        for (uint64_t i = 0; i < count; i++) gguf_skip_value(g, item);
    } else {
        g->pos += scalar_bytes[type];
    }
    assert_true(g->pos <= g->size);
}

static bool gguf_open(gguf_view *g, const char *path) {
    memset(g, 0, sizeof *g);
    g->file = test_read_file(path, &g->size);
    if (!g->file) return false;
    assert_int_equal(gguf_take(g, 4), 0x46554747); /* "GGUF" */
    assert_int_equal(gguf_take(g, 4), 3);
    uint64_t n_tensors = gguf_take(g, 8), n_kv = gguf_take(g, 8);
    assert_true(n_tensors <= 64);
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; i++) {
        uint64_t key_len = gguf_take(g, 8);
        bool is_alignment = key_len == 17 && memcmp(g->file + g->pos, "general.alignment", 17) == 0;
        g->pos += key_len;
        uint32_t type = (uint32_t)gguf_take(g, 4);
        if (is_alignment && type == 4) alignment = gguf_take(g, 4);
        else gguf_skip_value(g, type);
    }
    uint64_t offsets[64];
    for (uint64_t i = 0; i < n_tensors; i++) {
        gguf_tensor *t = &g->tensors[i];
        uint64_t name_len = gguf_take(g, 8);
        assert_true(name_len < sizeof t->name);
        memcpy(t->name, g->file + g->pos, name_len);
        g->pos += name_len;
        uint32_t n_dims = (uint32_t)gguf_take(g, 4);
        t->n = 1;
        for (uint32_t d = 0; d < n_dims; d++) t->n *= (int64_t)gguf_take(g, 8);
        t->type = (uint32_t)gguf_take(g, 4);
        offsets[i] = gguf_take(g, 8);
    }
    size_t data_start = (g->pos + alignment - 1) / alignment * alignment;
    for (uint64_t i = 0; i < n_tensors; i++) {
        assert_true(data_start + offsets[i] <= g->size);
        g->tensors[i].data = g->file + data_start + offsets[i];
    }
    g->n_tensors = (int)n_tensors;
    return true;
}

static const gguf_tensor *gguf_find(const gguf_view *g, const char *name) {
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    return NULL;
}

static double rms_bound_of(uint32_t type) {
    for (int f = 0; f < FORMAT_COUNT; f++)
        if (all_formats[f].type == type) return all_formats[f].rms_bound;
    return 0.0;
}

/* One quantized file against the F32 file it was made from (llama-quantize,
 * no imatrix). Q4_0, Q8_0 and F16 come from ggml's reference quantizers, so
 * ours must give the same bytes; every tensor must dequantize close to its
 * F32 original (a wrong layout would be far off). Returns tensors checked. */
static int check_quantized_file(const char *f32_name, const char *quant_name) {
    gguf_view ref, q;
    assert_true(gguf_open(&ref, test_testdata_path(f32_name)));
    assert_true(gguf_open(&q, test_testdata_path(quant_name)));
    int checked = 0;
    for (int i = 0; i < q.n_tensors; i++) {
        const gguf_tensor *t = &q.tensors[i], *orig = gguf_find(&ref, t->name);
        if (t->type == R1_TYPE_F32) continue;
        assert_non_null(orig);
        assert_int_equal(orig->type, R1_TYPE_F32);
        assert_int_equal(orig->n, t->n);
        const size_t bytes = r1_row_bytes((r1_type)t->type, t->n);
        assert_true(bytes > 0);
        float *x = malloc((size_t)t->n * sizeof(float));
        assert_non_null(x);
        memcpy(x, orig->data, (size_t)t->n * sizeof(float));
        if (t->type == R1_TYPE_Q4_0 || t->type == R1_TYPE_Q8_0 || t->type == R1_TYPE_F16) {
            void *mine = quantize_new((r1_type)t->type, x, t->n);
            if (memcmp(mine, t->data, bytes) != 0)
                fail_msg("%s %s: quantized bytes differ from llama-quantize's", quant_name, t->name);
            free(mine);
        }
        float *y = dequantize_new((r1_type)t->type, t->data, t->n);
        double err2 = 0, x2 = 0;
        for (int64_t k = 0; k < t->n; k++) {
            err2 += ((double)y[k] - x[k]) * ((double)y[k] - x[k]);
            x2 += (double)x[k] * x[k];
        }
        if (sqrt(err2 / x2) > rms_bound_of(t->type))
            fail_msg("%s %s: dequantized rms error %.4f", quant_name, t->name, sqrt(err2 / x2));
        free(x);
        free(y);
        checked++;
    }
    free(ref.file);
    free(q.file);
    return checked;
}

static void test_llama_cpp_files(void **state) {
    (void)state;
    if (!test_require_testdata("llm")) skip();
    static const char *const pairs[][2] = {
        {"llm/shared-llama-f32.gguf", "llm/shared-llama-f16.gguf"},
        {"llm/shared-llama-f32.gguf", "llm/shared-llama-q4_0.gguf"},
        {"llm/shared-llama-f32.gguf", "llm/shared-llama-q8_0.gguf"},
        {"llm/shared-llama-f32.gguf", "llm/shared-llama-q4_k_m.gguf"},
        {"llm/shared-llama-f32.gguf", "llm/shared-llama-q6_k.gguf"},
        {"llm/shared-deepseek2-f32.gguf", "llm/shared-deepseek2-q4_k_m.gguf"}, /* has Q5_K */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        assert_true(check_quantized_file(pairs[i][0], pairs[i][1]) >= 16);
}

/* ------------------------------------------------ dispatch */

static void check_complete(const r1_kernel_set *set) {
    for (uint32_t t = 0; t < R1_TYPE_COUNT; t++) {
        const r1_type_info *info = r1_type_get(t);
        if (!info) continue;
        const r1_format_kernels *k = &set->format[t];
        if (!k->dequantize || !k->quantize || !k->dot_f32)
            fail_msg("%s set lacks a kernel for %s", set->name, info->name);
        if (info->dot_type != R1_TYPE_F32 && t != R1_TYPE_Q8_K && !k->dot_q)
            fail_msg("%s set lacks dot_q for %s", set->name, info->name);
    }
}

static void test_kernel_sets_complete(void **state) {
    (void)state;
    const r1_kernel_set *s = r1_kernels_for(R1_ISA_SCALAR);
    assert_non_null(s);
    assert_int_equal(s->isa, R1_ISA_SCALAR);
    assert_string_equal(s->name, "scalar");
    check_complete(s);
    check_complete(&r1_kernels_scalar_table);
    assert_true(r1_isa_supported(R1_ISA_SCALAR));
    for (int i = 0; i < R1_ISA_COUNT; i++) {
        const r1_kernel_set *set = r1_kernels_for((r1_isa)i);
        assert_true((set != NULL) == r1_isa_supported((r1_isa)i));
        if (!set) continue;
        assert_int_equal(set->isa, i);
        assert_ptr_equal(set, r1_kernels_for((r1_isa)i)); /* built once */
        check_complete(set);
    }
    assert_null(r1_kernels_for(R1_ISA_COUNT));
}

/* main() set R1_ISA=scalar before the first call. */
static void test_engine_set_honours_env(void **state) {
    (void)state;
    const r1_kernel_set *set = r1_kernels();
    assert_non_null(set);
    assert_int_equal(set->isa, R1_ISA_SCALAR);
    assert_ptr_equal(set, r1_kernels_for(R1_ISA_SCALAR));
}

int main(void) {
    setenv("R1_ISA", "scalar", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequant_q4_0_known_block),
        cmocka_unit_test(test_dequant_q4_1_known_block),
        cmocka_unit_test(test_dequant_q5_0_known_block),
        cmocka_unit_test(test_dequant_q5_1_known_block),
        cmocka_unit_test(test_dequant_q8_0_known_block),
        cmocka_unit_test(test_dequant_q4_k_known_block),
        cmocka_unit_test(test_dequant_q5_k_known_block),
        cmocka_unit_test(test_dequant_q6_k_known_block),
        cmocka_unit_test(test_dequant_q8_k_known_block),
        cmocka_unit_test(test_float_formats_known_values),
        cmocka_unit_test(test_round_trip_all_formats),
        cmocka_unit_test(test_requantize_is_stable),
        cmocka_unit_test(test_dot_f32_matches_dequantize),
        cmocka_unit_test(test_dot_q_matches_dequantized_dot),
        cmocka_unit_test(test_dot_q_offset_weights),
        cmocka_unit_test(test_zero_vectors),
        cmocka_unit_test(test_q8_0_activation_rules),
        cmocka_unit_test(test_q8_k_activation_rules),
        cmocka_unit_test(test_llama_cpp_files),
        cmocka_unit_test(test_kernel_sets_complete),
        cmocka_unit_test(test_engine_set_honours_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
