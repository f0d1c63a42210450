/*
 * test_quant_avx512.c - the AVX-512 kernels (quant_avx512.c) against their
 * scalar twins (quant_scalar.c).
 *
 * Every non-NULL entry of the avx512 table is run on random rows of 1, 2,
 * 3, 7, 16 and 33 blocks (plus longer rows for the plain float formats),
 * with normal, uniform, large, mixed-magnitude and all-zero data, and random
 * block bytes: dot products must agree within 1e-5 of the sum of |terms|
 * (|w_i x_i|, and |m_i x_i| where a format's minimum m is summed apart),
 * quantizers byte for byte, dequantizers bit for bit.
 * A last test prints (does not check) dot_q throughput on a 16 MB weight
 * matrix for scalar, avx2 and avx512. Everything is skipped, with a
 * message, on a CPU without AVX-512.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/fp16.h"
#include "tensor/kernels.h"

static const r1_type all_types[] = {
    R1_TYPE_F32,  R1_TYPE_F16,  R1_TYPE_BF16, R1_TYPE_Q4_0, R1_TYPE_Q4_1, R1_TYPE_Q5_0,
    R1_TYPE_Q5_1, R1_TYPE_Q8_0, R1_TYPE_Q4_K, R1_TYPE_Q5_K, R1_TYPE_Q6_K, R1_TYPE_Q8_K,
};
enum { TYPE_COUNT = sizeof all_types / sizeof all_types[0] };

static const int64_t block_counts[] = {1, 2, 3, 7, 16, 33};
/* The plain float formats have one value per block: longer rows too, to
 * reach the unrolled loops and every tail length. */
static const int64_t float_lengths[] = {1, 2, 3, 7, 16, 33, 64, 100, 257, 1000, 4099};

/* How the test data is made. DATA_BYTES only makes sense for weights: the
 * block bytes are random, with scale fields set to sane halves. */
typedef enum {
    DATA_NORMAL,
    DATA_UNIFORM,
    DATA_LARGE,
    DATA_MIXED,
    DATA_ZERO,
    DATA_BYTES,
    DATA_COUNT
} data_kind;

static const char *const data_names[DATA_COUNT] = {"normal", "uniform", "large",
                                                   "mixed",  "zero",    "bytes"};

static const r1_format_kernels *scalar_kernels(r1_type t) {
    return &r1_kernels_scalar_table.format[t];
}
static const r1_format_kernels *avx512_kernels(r1_type t) {
    return &r1_kernels_avx512_table.format[t];
}

static bool avx512_available(void) {
    if (r1_isa_supported(R1_ISA_AVX512)) return true;
    fprintf(stderr, "\n*** SKIPPED: this CPU lacks AVX-512 (F/BW/DQ/VL/VNNI/BF16); the avx512 "
                    "kernels were NOT tested. ***\n\n");
    return false;
}

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    assert_non_null(p);
    return p;
}

static int64_t row_length(r1_type t, int64_t blocks) {
    return blocks * r1_type_get((uint32_t)t)->block_size;
}

/* ------------------------------------------------------------ test data */

static void fill_floats(float *x, int64_t n, data_kind kind, uint64_t *rng) {
    int run_choice = 0; /* DATA_MIXED: runs of 16 share a magnitude, 0 = all zero */
    for (int64_t i = 0; i < n; i++) {
        if (i % 16 == 0) run_choice = (int)(test_rand_u64(rng) % 8);
        switch (kind) {
        case DATA_UNIFORM: x[i] = test_rand_uniform(rng, -1.0f, 1.0f); break;
        case DATA_LARGE: x[i] = 3000.0f * test_rand_normal(rng); break;
        case DATA_ZERO: x[i] = 0.0f; break;
        case DATA_MIXED:
            x[i] = run_choice == 0 ? 0.0f
                                   : powf(10.0f, (float)(run_choice - 5)) * test_rand_normal(rng);
            break;
        default: x[i] = test_rand_normal(rng); break;
        }
    }
}

/* A half for a scale field: magnitude around 2^-8 .. 2^2, either sign. */
static r1_half random_scale_half(uint64_t *rng) {
    float v = test_rand_uniform(rng, -4.0f, 4.0f) * powf(2.0f, -(float)(test_rand_u64(rng) % 8));
    return r1_f32_to_half(v);
}

static void set_half(uint8_t *p, r1_half h) { memcpy(p, &h, sizeof h); }

/* Random bytes for every block of a quantized row, with its half fields
 * (scales, mins) replaced by finite values of ordinary size. */
static void fill_random_blocks(r1_type t, uint8_t *row, int64_t blocks, uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    size_t bytes = (size_t)blocks * info->block_bytes;
    for (size_t i = 0; i < bytes; i++) row[i] = (uint8_t)test_rand_u64(rng);
    for (int64_t b = 0; b < blocks; b++) {
        uint8_t *block = row + (size_t)b * info->block_bytes;
        switch (t) {
        case R1_TYPE_Q4_1:
        case R1_TYPE_Q5_1:
        case R1_TYPE_Q4_K:
        case R1_TYPE_Q5_K:
            set_half(block, random_scale_half(rng));
            set_half(block + 2, random_scale_half(rng));
            break;
        case R1_TYPE_Q6_K:
            set_half(block + offsetof(r1_block_q6_k, d), random_scale_half(rng));
            break;
        case R1_TYPE_Q8_K: {
            r1_block_q8_k *q = (r1_block_q8_k *)block;
            q->d = test_rand_uniform(rng, -0.1f, 0.1f);
            for (int g = 0; g < R1_QK_K / 16; g++) {
                int sum = 0;
                for (int l = 0; l < 16; l++) sum += q->qs[16 * g + l];
                q->bsums[g] = (int16_t)sum;
            }
            break;
        }
        default: set_half(block, random_scale_half(rng)); break;
        }
    }
}

/* A weight row of n values of type t; caller frees. */
static void *make_weights(r1_type t, int64_t n, data_kind kind, uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    uint8_t *row = xmalloc(r1_row_bytes(t, n));
    if (kind == DATA_BYTES && info->block_size > 1) {
        fill_random_blocks(t, row, n / info->block_size, rng);
        return row;
    }
    float *x = xmalloc((size_t)n * sizeof(float));
    fill_floats(x, n, kind == DATA_BYTES ? DATA_NORMAL : kind, rng);
    scalar_kernels(t)->quantize(x, row, n);
    free(x);
    return row;
}

static float *dequantize_scalar(r1_type t, const void *row, int64_t n) {
    float *y = xmalloc((size_t)n * sizeof(float));
    scalar_kernels(t)->dequantize(row, y, n);
    return y;
}

/* What the dot products are compared against: the exact sum (in double)
 * and the scale of its terms. For formats whose minimum is added
 * separately (x = q*d + m), the integer path sums q*d*x and m*x apart, so
 * the scale counts |m x| too: those two parts can be far larger than w*x. */
typedef struct {
    double exact, scale;
} dot_reference;

static dot_reference reference_dot(const float *w, const float *min_part, const float *x,
                                   int64_t n) {
    dot_reference r = {0.0, 0.0};
    for (int64_t i = 0; i < n; i++) {
        r.exact += (double)w[i] * (double)x[i];
        r.scale += fabs((double)w[i] * (double)x[i]);
        if (min_part) r.scale += fabs((double)min_part[i] * (double)x[i]);
    }
    return r;
}

/* The additive part m of every value of a row whose format has one (Q4_1,
 * Q5_1, Q4_K, Q5_K), or NULL: the row dequantized with all quants zeroed. */
static float *min_parts(r1_type t, const void *row, int64_t n) {
    size_t qs_at, qs_len, qh_at = 0, qh_len = 0;
    switch (t) {
    case R1_TYPE_Q4_1: qs_at = offsetof(r1_block_q4_1, qs), qs_len = 16; break;
    case R1_TYPE_Q5_1:
        qs_at = offsetof(r1_block_q5_1, qs), qs_len = 16;
        qh_at = offsetof(r1_block_q5_1, qh), qh_len = 4;
        break;
    case R1_TYPE_Q4_K: qs_at = offsetof(r1_block_q4_k, qs), qs_len = 128; break;
    case R1_TYPE_Q5_K:
        qs_at = offsetof(r1_block_q5_k, qs), qs_len = 128;
        qh_at = offsetof(r1_block_q5_k, qh), qh_len = 32;
        break;
    default: return NULL;
    }
    const r1_type_info *info = r1_type_get((uint32_t)t);
    size_t bytes = r1_row_bytes(t, n);
    uint8_t *zeroed = xmalloc(bytes);
    memcpy(zeroed, row, bytes);
    for (size_t b = 0; b < bytes; b += info->block_bytes) {
        memset(zeroed + b + qs_at, 0, qs_len);
        memset(zeroed + b + qh_at, 0, qh_len);
    }
    float *m = dequantize_scalar(t, zeroed, n);
    free(zeroed);
    return m;
}

static void check_close(float got, float want, dot_reference ref, const char *what, r1_type t,
                        int64_t n, data_kind kind) {
    double err = fabs((double)got - (double)want);
    if (err <= 1e-5 * ref.scale) return;
    fail_msg("%s %s n=%lld %s: avx512 %.9g, scalar %.9g, exact %.9g; |diff| %.3g > 1e-5 * %.6g",
             what, r1_type_get((uint32_t)t)->name, (long long)n, data_names[kind], got, want,
             ref.exact, err, ref.scale);
}

/* --------------------------------------------------------------- tests */

/* The avx512 table may only hold kernels that have a scalar twin, and the
 * resolved avx512 set uses them. */
static void test_every_kernel_has_a_scalar_twin(void **state) {
    (void)state;
    assert_int_equal(r1_kernels_avx512_table.isa, R1_ISA_AVX512);
    assert_string_equal(r1_kernels_avx512_table.name, "avx512");
    const r1_kernel_set *resolved = r1_kernels_for(R1_ISA_AVX512);
    for (int t = 0; t < R1_TYPE_COUNT; t++) {
        const r1_format_kernels *a = avx512_kernels((r1_type)t), *s = scalar_kernels((r1_type)t);
        if (a->dequantize) assert_non_null(s->dequantize);
        if (a->quantize) assert_non_null(s->quantize);
        if (a->dot_f32) assert_non_null(s->dot_f32);
        if (a->dot_q) assert_non_null(s->dot_q);
        if (!resolved) continue; /* no AVX-512 here */
        /* an entry AVX-512 leaves out comes from AVX2, else from scalar */
        const r1_format_kernels *r = &resolved->format[t], *v = &r1_kernels_avx2_table.format[t];
        assert_ptr_equal(r->dequantize, a->dequantize ? a->dequantize : v->dequantize ? v->dequantize : s->dequantize);
        assert_ptr_equal(r->quantize, a->quantize ? a->quantize : v->quantize ? v->quantize : s->quantize);
        assert_ptr_equal(r->dot_f32, a->dot_f32 ? a->dot_f32 : v->dot_f32 ? v->dot_f32 : s->dot_f32);
        assert_ptr_equal(r->dot_q, a->dot_q ? a->dot_q : v->dot_q ? v->dot_q : s->dot_q);
    }
}

static void check_dot_q(r1_type t, int64_t n, data_kind wkind, data_kind xkind, uint64_t *rng) {
    r1_type xt = r1_type_get((uint32_t)t)->dot_type;
    void *w = make_weights(t, n, wkind, rng);
    void *xq = make_weights(xt, n, xkind, rng);
    float got = avx512_kernels(t)->dot_q(w, xq, n);
    float want = scalar_kernels(t)->dot_q(w, xq, n);
    float *wf = dequantize_scalar(t, w, n), *xf = dequantize_scalar(xt, xq, n);
    float *mf = min_parts(t, w, n);
    check_close(got, want, reference_dot(wf, mf, xf, n), "dot_q", t, n, wkind);
    free(w);
    free(xq);
    free(wf);
    free(xf);
    free(mf);
}

static void test_dot_q_matches_scalar(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    uint64_t rng = 1;
    int checked = 0;
    for (int ti = 0; ti < TYPE_COUNT; ti++) {
        r1_type t = all_types[ti];
        if (!avx512_kernels(t)->dot_q) continue;
        for (size_t b = 0; b < sizeof block_counts / sizeof block_counts[0]; b++) {
            int64_t n = row_length(t, block_counts[b]);
            for (int k = 0; k < DATA_COUNT; k++) {
                /* activations are quantized floats; zero weights meet normal x */
                data_kind xkind = k == DATA_BYTES || k == DATA_ZERO ? DATA_NORMAL : (data_kind)k;
                check_dot_q(t, n, (data_kind)k, xkind, &rng);
                check_dot_q(t, n, (data_kind)k, DATA_ZERO, &rng);
                /* activation bytes the quantizer never makes (-128 included) */
                if (k == DATA_BYTES) check_dot_q(t, n, DATA_BYTES, DATA_BYTES, &rng);
                checked++;
            }
        }
    }
    printf("dot_q: %d cases agree\n", checked);
}

static void check_dot_f32(r1_type t, int64_t n, data_kind wkind, data_kind xkind, uint64_t *rng) {
    void *w = make_weights(t, n, wkind, rng);
    float *x = xmalloc((size_t)n * sizeof(float));
    fill_floats(x, n, xkind, rng);
    float got = avx512_kernels(t)->dot_f32(w, x, n);
    float want = scalar_kernels(t)->dot_f32(w, x, n);
    float *wf = dequantize_scalar(t, w, n);
    check_close(got, want, reference_dot(wf, NULL, x, n), "dot_f32", t, n, wkind);
    free(w);
    free(x);
    free(wf);
}

static void test_dot_f32_matches_scalar(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    uint64_t rng = 2;
    int checked = 0;
    for (int ti = 0; ti < TYPE_COUNT; ti++) {
        r1_type t = all_types[ti];
        if (!avx512_kernels(t)->dot_f32) continue;
        bool plain = r1_type_get((uint32_t)t)->block_size == 1;
        size_t count = plain ? sizeof float_lengths / sizeof float_lengths[0]
                             : sizeof block_counts / sizeof block_counts[0];
        for (size_t b = 0; b < count; b++) {
            int64_t n = plain ? float_lengths[b] : row_length(t, block_counts[b]);
            for (int k = 0; k < DATA_COUNT; k++) {
                data_kind xkind = k == DATA_BYTES || k == DATA_ZERO ? DATA_NORMAL : (data_kind)k;
                check_dot_f32(t, n, (data_kind)k, xkind, &rng);
                check_dot_f32(t, n, (data_kind)k, DATA_ZERO, &rng);
                checked++;
            }
        }
    }
    printf("dot_f32: %d cases agree\n", checked);
}

static void check_quantize(r1_type t, const float *x, int64_t n, const char *what) {
    size_t bytes = r1_row_bytes(t, n);
    uint8_t *got = xmalloc(bytes), *want = xmalloc(bytes);
    memset(got, 0xAA, bytes);
    memset(want, 0x55, bytes);
    avx512_kernels(t)->quantize(x, got, n);
    scalar_kernels(t)->quantize(x, want, n);
    for (size_t i = 0; i < bytes; i++) {
        if (got[i] != want[i])
            fail_msg("quantize %s n=%lld %s: byte %zu is 0x%02x, scalar 0x%02x",
                     r1_type_get((uint32_t)t)->name, (long long)n, what, i, got[i], want[i]);
    }
    free(got);
    free(want);
}

/* Raw float bits: NaNs, infinities, subnormals, everything (for F16/BF16). */
static void fill_float_bits(float *x, int64_t n, uint64_t *rng) {
    for (int64_t i = 0; i < n; i++) x[i] = r1_f32_from_bits((uint32_t)test_rand_u64(rng));
}

/* Blocks whose scaled values fall exactly on .5: Q8_0 with amax 127 has
 * d = 1, Q8_K with max -127 has iscale = 1. Ties must round the scalar way
 * (away from zero for Q8_0, to even for Q8_K), and the sign of the largest
 * magnitude must come from its first occurrence. */
static void check_quantize_ties(r1_type t) {
    int64_t n = 2 * r1_type_get((uint32_t)t)->block_size;
    float *x = xmalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 254 - 127) + 0.5f;
    for (int64_t b = 0; b < n; b += n / 2) {
        x[b] = b == 0 ? 127.0f : -127.0f;
        x[b + 1] = -x[b]; /* same magnitude, later: must not win */
    }
    check_quantize(t, x, n, "ties");
    free(x);
}

static void test_quantize_matches_scalar(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    uint64_t rng = 3;
    int checked = 0;
    for (int ti = 0; ti < TYPE_COUNT; ti++) {
        r1_type t = all_types[ti];
        if (!avx512_kernels(t)->quantize) continue;
        bool plain = r1_type_get((uint32_t)t)->block_size == 1;
        size_t count = plain ? sizeof float_lengths / sizeof float_lengths[0]
                             : sizeof block_counts / sizeof block_counts[0];
        for (size_t b = 0; b < count; b++) {
            int64_t n = plain ? float_lengths[b] : row_length(t, block_counts[b]);
            float *x = xmalloc((size_t)n * sizeof(float));
            for (int k = 0; k < DATA_COUNT; k++) {
                if (k == DATA_BYTES && !plain) continue;
                if (k == DATA_BYTES)
                    fill_float_bits(x, n, &rng);
                else
                    fill_floats(x, n, (data_kind)k, &rng);
                check_quantize(t, x, n, data_names[k]);
                checked++;
            }
            free(x);
        }
        if (!plain) check_quantize_ties(t);
    }
    printf("quantize: %d cases byte-identical\n", checked);
}

static void check_dequantize(r1_type t, const void *row, int64_t n, data_kind kind) {
    float *got = xmalloc((size_t)n * sizeof(float)), *want = xmalloc((size_t)n * sizeof(float));
    memset(got, 0xAA, (size_t)n * sizeof(float));
    avx512_kernels(t)->dequantize(row, got, n);
    scalar_kernels(t)->dequantize(row, want, n);
    for (int64_t i = 0; i < n; i++) {
        if (r1_f32_bits(got[i]) != r1_f32_bits(want[i]))
            fail_msg("dequantize %s n=%lld %s: value %lld is %.9g (0x%08x), scalar %.9g (0x%08x)",
                     r1_type_get((uint32_t)t)->name, (long long)n, data_names[kind], (long long)i,
                     got[i], r1_f32_bits(got[i]), want[i], r1_f32_bits(want[i]));
    }
    free(got);
    free(want);
}

static void test_dequantize_matches_scalar(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    uint64_t rng = 4;
    int checked = 0;
    for (int ti = 0; ti < TYPE_COUNT; ti++) {
        r1_type t = all_types[ti];
        if (!avx512_kernels(t)->dequantize) continue;
        bool plain = r1_type_get((uint32_t)t)->block_size == 1;
        size_t count = plain ? sizeof float_lengths / sizeof float_lengths[0]
                             : sizeof block_counts / sizeof block_counts[0];
        for (size_t b = 0; b < count; b++) {
            int64_t n = plain ? float_lengths[b] : row_length(t, block_counts[b]);
            for (int k = 0; k < DATA_COUNT; k++) {
                void *row;
                if (plain && k == DATA_BYTES) { /* every 16-bit pattern, NaNs included */
                    row = xmalloc(r1_row_bytes(t, n));
                    for (int64_t i = 0; i < n; i++)
                        ((uint16_t *)row)[i] = (uint16_t)test_rand_u64(&rng);
                } else {
                    row = make_weights(t, n, (data_kind)k, &rng);
                }
                check_dequantize(t, row, n, (data_kind)k);
                free(row);
                checked++;
            }
        }
    }
    printf("dequantize: %d cases bit-identical\n", checked);
}

/* ----------------------------------------------------------- benchmark */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* GB/s of weight bytes through dot_q over all rows, best of a few passes. */
static double dot_q_speed(r1_dot_q_fn dot, const uint8_t *w, size_t row_bytes, int rows,
                          const void *xq, int64_t n) {
    double best = 1e30;
    volatile float sink = 0.0f;
    for (int pass = 0; pass < 4; pass++) {
        double t0 = now_seconds();
        float s = 0.0f;
        for (int r = 0; r < rows; r++) s += dot(w + (size_t)r * row_bytes, xq, n);
        double t = now_seconds() - t0;
        sink = sink + s;
        if (t < best) best = t;
    }
    (void)sink;
    return (double)row_bytes * rows / best / 1e9;
}

static void benchmark_type(r1_type t) {
    enum { ROWS = 4096, TARGET_ROW_BYTES = 4096 };
    const r1_type_info *info = r1_type_get((uint32_t)t);
    int64_t n = (int64_t)(TARGET_ROW_BYTES / info->block_bytes) * info->block_size;
    size_t row_bytes = r1_row_bytes(t, n);
    uint64_t rng = 5;
    uint8_t *w = xmalloc(row_bytes * ROWS);
    fill_random_blocks(t, w, n / info->block_size * ROWS, &rng);
    void *xq = make_weights(info->dot_type, n, DATA_NORMAL, &rng);

    printf("dot_q %-5s %lld values/row, %d rows, %.1f MB:", info->name, (long long)n, ROWS,
           (double)row_bytes * ROWS / 1e6);
    printf("  scalar %6.2f GB/s", dot_q_speed(scalar_kernels(t)->dot_q, w, row_bytes, ROWS, xq, n));
    r1_dot_q_fn avx2 = r1_kernels_avx2_table.format[t].dot_q;
    if (avx2 && r1_isa_supported(R1_ISA_AVX2))
        printf("  avx2 %6.2f GB/s", dot_q_speed(avx2, w, row_bytes, ROWS, xq, n));
    if (avx512_kernels(t)->dot_q)
        printf("  avx512 %6.2f GB/s",
               dot_q_speed(avx512_kernels(t)->dot_q, w, row_bytes, ROWS, xq, n));
    printf("\n");
    free(w);
    free(xq);
}

static void test_benchmark_dot_q(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    benchmark_type(R1_TYPE_Q4_K);
    benchmark_type(R1_TYPE_Q6_K);
    benchmark_type(R1_TYPE_Q8_0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kernel_has_a_scalar_twin),
        cmocka_unit_test(test_dot_q_matches_scalar),
        cmocka_unit_test(test_dot_f32_matches_scalar),
        cmocka_unit_test(test_quantize_matches_scalar),
        cmocka_unit_test(test_dequantize_matches_scalar),
        cmocka_unit_test(test_benchmark_dot_q),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
