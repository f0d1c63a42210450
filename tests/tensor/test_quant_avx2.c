/*
 * test_quant_avx2.c - the AVX2 kernels (quant_avx2.c) against their scalar
 * twins (quant_scalar.c).
 *
 * Every non-NULL entry of the avx2 table is run on the same rows as the
 * scalar kernel: rows quantized from several distributions (normal,
 * uniform, large, all zero, sparse, exact halves and their neighbours) and
 * raw random blocks, at row lengths of 1 to 33 blocks. Dot products must
 * agree within 1e-5 of the sum of |w_i x_i|; quantizers byte for byte;
 * dequantizers bit for bit. A micro-benchmark prints (never asserts) the
 * weight bandwidth of dot_q. Skips when the CPU has no AVX2/FMA/F16C.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/fp16.h"
#include "tensor/kernels.h"

static const r1_format_kernels *scalar(r1_type t) { return &r1_kernels_scalar_table.format[t]; }
static const r1_format_kernels *avx2(r1_type t) { return &r1_kernels_avx2_table.format[t]; }

static bool avx2_usable(void) {
    if (r1_isa_supported(R1_ISA_AVX2)) return true;
    fprintf(stderr, "\n*** SKIPPED: this CPU lacks AVX2/FMA/F16C; the avx2 kernels were NOT tested. ***\n\n");
    return false;
}

static const r1_type weight_types[] = {
    R1_TYPE_F32,  R1_TYPE_F16,  R1_TYPE_BF16, R1_TYPE_Q4_0, R1_TYPE_Q4_1, R1_TYPE_Q5_0,
    R1_TYPE_Q5_1, R1_TYPE_Q8_0, R1_TYPE_Q4_K, R1_TYPE_Q5_K, R1_TYPE_Q6_K,
};
enum { WEIGHT_TYPE_COUNT = sizeof weight_types / sizeof weight_types[0] };

static const int block_counts[] = {1, 2, 3, 7, 16, 33};
enum { BLOCK_COUNT_COUNT = sizeof block_counts / sizeof block_counts[0] };

/* Row lengths for the one-value-per-block float formats: also odd tails. */
static const int float_lengths[] = {1, 2, 3, 7, 16, 33, 255, 1000, 4097};
enum { FLOAT_LENGTH_COUNT = sizeof float_lengths / sizeof float_lengths[0] };

static int64_t block_size(r1_type t) { return r1_type_get((uint32_t)t)->block_size; }

static int length_count(r1_type t) { return block_size(t) == 1 ? FLOAT_LENGTH_COUNT : BLOCK_COUNT_COUNT; }

static int64_t row_length(r1_type t, int which) {
    return block_size(t) == 1 ? float_lengths[which] : block_counts[which] * block_size(t);
}

/* ------------------------------------------------------------ test data */

typedef enum {
    DIST_NORMAL,
    DIST_UNIFORM,
    DIST_LARGE,
    DIST_ZEROS,
    DIST_SPARSE,
    DIST_HALVES, /* k/2 and its float neighbours, block max 127: rounding ties */
    DIST_COUNT
} distribution;

static const char *const dist_names[DIST_COUNT] = {"normal", "uniform", "large", "zeros", "sparse", "halves"};

/* Half-integers and the floats just beside them, with +-127 at the start
 * of every 32 values so that the Q8 scales come out as exactly 1. */
static float halves_value(int64_t i, uint64_t *s) {
    if (i % 32 == 0) return (test_rand_u64(s) & 1) ? 127.0f : -127.0f;
    const float v = (float)((int)(test_rand_u64(s) % 509) - 254) * 0.5f;
    switch (test_rand_u64(s) % 3) {
    case 0: return v;
    case 1: return nextafterf(v, 1000.0f);
    default: return nextafterf(v, -1000.0f);
    }
}

static void fill(float *x, int64_t n, distribution d, uint64_t seed) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case DIST_NORMAL: x[i] = test_rand_normal(&s); break;
        case DIST_UNIFORM: x[i] = test_rand_uniform(&s, -1.0f, 1.0f); break;
        case DIST_LARGE: x[i] = 3000.0f * test_rand_normal(&s); break;
        case DIST_ZEROS: x[i] = 0.0f; break;
        case DIST_SPARSE: x[i] = test_rand_u64(&s) % 10 < 3 ? 0.0f : test_rand_normal(&s); break;
        case DIST_HALVES: x[i] = halves_value(i, &s); break;
        default: x[i] = 0.0f; break;
        }
    }
    if (d == DIST_SPARSE) {
        /* whole runs of zeros too: a quarter of the 32-runs, every other 256-run */
        for (int64_t i = 0; i + 32 <= n; i += 32)
            if (test_rand_u64(&s) % 4 == 0 || (i / 256) % 2 == 1) memset(x + i, 0, 32 * sizeof(float));
    }
}

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    assert_non_null(p);
    return p;
}

static r1_half random_scale(uint64_t *s) { return r1_f32_to_half(test_rand_uniform(s, -2.0f, 2.0f)); }

/* Random bytes, with every half-float field replaced by a finite scale. */
static void fill_random_blocks(r1_type t, void *row, int64_t n, uint64_t seed) {
    uint64_t s = seed;
    uint8_t *p = row;
    const size_t bytes = r1_row_bytes(t, n);
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)test_rand_u64(&s);
    const size_t bb = r1_type_get((uint32_t)t)->block_bytes;
    for (int64_t i = 0; i < n / block_size(t); i++) {
        void *b = p + (size_t)i * bb;
        switch (t) {
        case R1_TYPE_Q4_0: ((r1_block_q4_0 *)b)->d = random_scale(&s); break;
        case R1_TYPE_Q5_0: ((r1_block_q5_0 *)b)->d = random_scale(&s); break;
        case R1_TYPE_Q8_0: ((r1_block_q8_0 *)b)->d = random_scale(&s); break;
        case R1_TYPE_Q6_K: ((r1_block_q6_k *)b)->d = random_scale(&s); break;
        case R1_TYPE_Q4_1:
            ((r1_block_q4_1 *)b)->d = random_scale(&s);
            ((r1_block_q4_1 *)b)->m = random_scale(&s);
            break;
        case R1_TYPE_Q5_1:
            ((r1_block_q5_1 *)b)->d = random_scale(&s);
            ((r1_block_q5_1 *)b)->m = random_scale(&s);
            break;
        case R1_TYPE_Q4_K:
            ((r1_block_q4_k *)b)->d = random_scale(&s);
            ((r1_block_q4_k *)b)->dmin = random_scale(&s);
            break;
        case R1_TYPE_Q5_K:
            ((r1_block_q5_k *)b)->d = random_scale(&s);
            ((r1_block_q5_k *)b)->dmin = random_scale(&s);
            break;
        default: break;
        }
    }
}

static bool is_quantized(r1_type t) { return block_size(t) > 1; }

/* A weight row of type t: quantized from distribution d, or (d == DIST_COUNT)
 * raw random blocks. Caller frees. */
static void *weight_row(r1_type t, int64_t n, int d, uint64_t seed) {
    void *row = xmalloc(r1_row_bytes(t, n));
    if (d == DIST_COUNT) {
        fill_random_blocks(t, row, n, seed);
        return row;
    }
    float *x = xmalloc((size_t)n * sizeof(float));
    fill(x, n, (distribution)d, seed);
    scalar(t)->quantize(x, row, n);
    free(x);
    return row;
}

static const char *dist_name(int d) { return d == DIST_COUNT ? "random-blocks" : dist_names[d]; }

static float *dequantized(r1_type t, const void *row, int64_t n) {
    float *y = xmalloc((size_t)n * sizeof(float));
    scalar(t)->dequantize(row, y, n);
    return y;
}

static double sum_abs_products(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)a[i] * (double)b[i]);
    return s;
}

/* |got - want| <= 1e-5 * sum|w_i x_i|: float rounding, nothing more. */
static void check_dot(const char *what, r1_type t, const char *wdist, const char *xdist, int64_t n,
                      float got, float want, double sum_abs) {
    const double err = fabs((double)got - (double)want);
    if (err <= 1e-5 * sum_abs && isfinite(got) == isfinite(want)) return;
    fail_msg("%s %s n=%lld weights=%s x=%s: avx2 %.9g scalar %.9g (error %.3g, allowed %.3g)", what,
             r1_type_get((uint32_t)t)->name, (long long)n, wdist, xdist, (double)got, (double)want, err,
             1e-5 * sum_abs);
}

/* ---------------------------------------------------------------- dots */

static void dot_q_case(r1_type t, int64_t n, int wd, int xd, uint64_t seed) {
    const r1_type xt = r1_type_get((uint32_t)t)->dot_type;
    void *w = weight_row(t, n, wd, seed);
    float *x = xmalloc((size_t)n * sizeof(float));
    fill(x, n, (distribution)xd, seed ^ 0x5555);
    void *xq = xmalloc(r1_row_bytes(xt, n));
    scalar(xt)->quantize(x, xq, n);
    float *wf = dequantized(t, w, n), *xf = dequantized(xt, xq, n);
    check_dot("dot_q", t, dist_name(wd), dist_names[xd], n, avx2(t)->dot_q(w, xq, n),
              scalar(t)->dot_q(w, xq, n), sum_abs_products(wf, xf, n));
    free(w), free(x), free(xq), free(wf), free(xf);
}

static void dot_f32_case(r1_type t, int64_t n, int wd, int xd, uint64_t seed) {
    void *w = weight_row(t, n, wd, seed);
    float *x = xmalloc((size_t)n * sizeof(float));
    fill(x, n, (distribution)xd, seed ^ 0x5555);
    float *wf = dequantized(t, w, n);
    check_dot("dot_f32", t, dist_name(wd), dist_names[xd], n, avx2(t)->dot_f32(w, x, n),
              scalar(t)->dot_f32(w, x, n), sum_abs_products(wf, x, n));
    free(w), free(x), free(wf);
}

/* Every weight distribution (random blocks too, for the quantized formats)
 * against every activation distribution, at every length. */
static void for_all_dot_cases(r1_type t, void (*run)(r1_type, int64_t, int, int, uint64_t)) {
    const int wdists = is_quantized(t) ? DIST_COUNT + 1 : DIST_COUNT;
    uint64_t seed = 1000u * (uint64_t)t;
    for (int wd = 0; wd < wdists; wd++)
        for (int xd = 0; xd < DIST_COUNT; xd++)
            for (int l = 0; l < length_count(t); l++) run(t, row_length(t, l), wd, xd, ++seed);
}

static void test_dot_q(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    for (int i = 0; i < WEIGHT_TYPE_COUNT; i++) {
        const r1_type t = weight_types[i];
        if (!avx2(t)->dot_q) continue;
        assert_non_null(scalar(t)->dot_q);
        print_message("dot_q %s\n", r1_type_get((uint32_t)t)->name);
        for_all_dot_cases(t, dot_q_case);
    }
}

static void test_dot_f32(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    for (int i = 0; i < WEIGHT_TYPE_COUNT; i++) {
        const r1_type t = weight_types[i];
        if (!avx2(t)->dot_f32) continue;
        print_message("dot_f32 %s\n", r1_type_get((uint32_t)t)->name);
        for_all_dot_cases(t, dot_f32_case);
    }
}

/* ------------------------------------------------------------ quantize */

static void quantize_case(r1_type t, int64_t n, distribution d, uint64_t seed) {
    float *x = xmalloc((size_t)n * sizeof(float));
    fill(x, n, d, seed);
    const size_t bytes = r1_row_bytes(t, n);
    uint8_t *want = xmalloc(bytes), *got = xmalloc(bytes);
    /* different fill so that a kernel skipping a byte cannot pass */
    memset(want, 0xAA, bytes);
    memset(got, 0x55, bytes);
    scalar(t)->quantize(x, want, n);
    avx2(t)->quantize(x, got, n);
    for (size_t i = 0; i < bytes; i++) {
        if (got[i] != want[i])
            fail_msg("quantize %s n=%lld %s: byte %zu (block %zu, offset %zu) avx2 0x%02x scalar 0x%02x",
                     r1_type_get((uint32_t)t)->name, (long long)n, dist_names[d], i,
                     i / r1_type_get((uint32_t)t)->block_bytes, i % r1_type_get((uint32_t)t)->block_bytes,
                     got[i], want[i]);
    }
    free(x), free(want), free(got);
}

static void test_quantize(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    for (int t = 0; t < R1_TYPE_COUNT; t++) {
        if (!avx2((r1_type)t)->quantize) continue;
        assert_non_null(scalar((r1_type)t)->quantize);
        print_message("quantize %s\n", r1_type_get((uint32_t)t)->name);
        uint64_t seed = 77u * (uint64_t)t;
        for (int d = 0; d < DIST_COUNT; d++)
            for (int l = 0; l < BLOCK_COUNT_COUNT; l++)
                quantize_case((r1_type)t, block_counts[l] * block_size((r1_type)t), (distribution)d, ++seed);
    }
}

/* The activation quantizers on hand-picked rounding cases: exact ties,
 * the floats beside them, negative and positive block maxima, a max that
 * appears with both signs (the first one decides Q8_K's sign). */
static void test_quantize_rounding_edges(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    const r1_type types[] = {R1_TYPE_Q8_0, R1_TYPE_Q8_K};
    for (int i = 0; i < 2; i++) {
        const r1_type t = types[i];
        if (!avx2(t)->quantize) continue;
        const int64_t n = 4 * R1_QK_K;
        float *x = xmalloc((size_t)n * sizeof(float));
        for (int64_t j = 0; j < n; j++) x[j] = (float)((j * 37) % 255 - 127) * 0.5f;
        x[0] = -127.0f, x[5] = 127.0f;          /* same magnitude, first negative */
        x[256] = 127.0f, x[300] = -127.0f;      /* first positive */
        x[512] = 0.49999997f, x[513] = -0.49999997f, x[514] = 0.5f, x[515] = -0.5f;
        x[516] = 1.5f, x[517] = 2.5f, x[518] = -2.5f;
        for (int64_t j = 768; j < n; j++) x[j] *= 1e-3f; /* scale no longer 1 */
        const size_t bytes = r1_row_bytes(t, n);
        uint8_t *want = xmalloc(bytes), *got = xmalloc(bytes);
        scalar(t)->quantize(x, want, n);
        avx2(t)->quantize(x, got, n);
        assert_memory_equal(got, want, bytes);
        free(x), free(want), free(got);
    }
}

/* ---------------------------------------------------------- dequantize */

static void assert_same_bits(r1_type t, const char *source, int64_t n, const float *got, const float *want) {
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
            fail_msg("dequantize %s n=%lld %s: value %lld avx2 %.9g scalar %.9g", r1_type_get((uint32_t)t)->name,
                     (long long)n, source, (long long)i, (double)got[i], (double)want[i]);
    }
}

static void dequantize_case(r1_type t, int64_t n, int d, uint64_t seed) {
    void *row = weight_row(t, n, d, seed);
    float *want = dequantized(t, row, n);
    float *got = xmalloc((size_t)n * sizeof(float));
    avx2(t)->dequantize(row, got, n);
    assert_same_bits(t, dist_name(d), n, got, want);
    free(row), free(want), free(got);
}

static void test_dequantize(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    for (int i = 0; i < WEIGHT_TYPE_COUNT; i++) {
        const r1_type t = weight_types[i];
        if (!avx2(t)->dequantize) continue;
        print_message("dequantize %s\n", r1_type_get((uint32_t)t)->name);
        const int dists = is_quantized(t) ? DIST_COUNT + 1 : DIST_COUNT;
        uint64_t seed = 555u * (uint64_t)t;
        for (int d = 0; d < dists; d++)
            for (int l = 0; l < length_count(t); l++) dequantize_case(t, row_length(t, l), d, ++seed);
    }
}

/* Every 16-bit pattern through the F16 and BF16 dequantizers. NaNs need
 * only stay NaN: the hardware conversion may set the quiet bit. */
static void test_dequantize_every_16_bit_value(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    const r1_type types[] = {R1_TYPE_F16, R1_TYPE_BF16};
    const int64_t n = 65536 + 5; /* a tail too */
    uint16_t *h = xmalloc((size_t)n * sizeof(uint16_t));
    float *want = xmalloc((size_t)n * sizeof(float)), *got = xmalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) h[i] = (uint16_t)(i * 40503u);
    for (int k = 0; k < 2; k++) {
        const r1_type t = types[k];
        if (!avx2(t)->dequantize) continue;
        scalar(t)->dequantize(h, want, n);
        avx2(t)->dequantize(h, got, n);
        int nan_payload_diffs = 0;
        for (int64_t i = 0; i < n; i++) {
            if (isnan(want[i]) && isnan(got[i])) {
                nan_payload_diffs += memcmp(&got[i], &want[i], sizeof(float)) != 0;
                continue;
            }
            if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
                fail_msg("dequantize %s of 0x%04x: avx2 %.9g scalar %.9g", r1_type_get((uint32_t)t)->name, h[i],
                         (double)got[i], (double)want[i]);
        }
        if (nan_payload_diffs)
            print_message("note: %s dequantize: %d NaN inputs differ only in NaN payload bits\n",
                          r1_type_get((uint32_t)t)->name, nan_payload_diffs);
    }
    free(h), free(want), free(got);
}

static void test_table_identity(void **state) {
    (void)state;
    assert_int_equal(r1_kernels_avx2_table.isa, R1_ISA_AVX2);
    assert_string_equal(r1_kernels_avx2_table.name, "avx2");
}

/* ------------------------------------------------------------ benchmark */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best-of-several seconds for one pass of dot_q over all rows. */
static double time_dot_q(r1_dot_q_fn dot, const uint8_t *w, size_t row_bytes, const void *xq, int rows,
                         int64_t n, double budget) {
    volatile float sink = 0.0f;
    double best = 1e30, spent = 0.0;
    for (int rep = 0; rep < 50 && (rep < 2 || spent < budget); rep++) {
        const double t0 = now_seconds();
        float total = 0.0f;
        for (int r = 0; r < rows; r++) total += dot(w + (size_t)r * row_bytes, xq, n);
        const double dt = now_seconds() - t0;
        sink = sink + total;
        spent += dt;
        if (dt < best) best = dt;
    }
    (void)sink;
    return best;
}

static void test_benchmark_dot_q(void **state) {
    (void)state;
    if (!avx2_usable()) skip();
    const r1_type types[] = {R1_TYPE_Q4_K, R1_TYPE_Q6_K, R1_TYPE_Q8_0};
    const int rows = 4096;
    const int64_t n = 4096;
    for (int i = 0; i < 3; i++) {
        const r1_type t = types[i];
        if (!avx2(t)->dot_q) continue;
        const r1_type xt = r1_type_get((uint32_t)t)->dot_type;
        const size_t row_bytes = r1_row_bytes(t, n);
        uint8_t *w = xmalloc(row_bytes * (size_t)rows);
        fill_random_blocks(t, w, n * rows, 4242);
        float *x = xmalloc((size_t)n * sizeof(float));
        fill(x, n, DIST_NORMAL, 99);
        void *xq = xmalloc(r1_row_bytes(xt, n));
        scalar(xt)->quantize(x, xq, n);
        const double bytes = (double)row_bytes * rows;
        const double ts = time_dot_q(scalar(t)->dot_q, w, row_bytes, xq, rows, n, 0.3);
        const double ta = time_dot_q(avx2(t)->dot_q, w, row_bytes, xq, rows, n, 0.3);
        print_message("bench dot_q %-5s %dx%lld (%.1f MB): scalar %6.2f GB/s, avx2 %6.2f GB/s (x%.1f)\n",
                      r1_type_get((uint32_t)t)->name, rows, (long long)n, bytes / 1e6, bytes / ts / 1e9,
                      bytes / ta / 1e9, ts / ta);
        free(w), free(x), free(xq);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_identity),
        cmocka_unit_test(test_dot_q),
        cmocka_unit_test(test_dot_f32),
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_quantize_rounding_edges),
        cmocka_unit_test(test_dequantize),
        cmocka_unit_test(test_dequantize_every_16_bit_value),
        cmocka_unit_test(test_benchmark_dot_q),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
