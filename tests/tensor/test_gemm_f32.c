/*
 * test_gemm_f32.c - the tiled float matrix products (gemm_f32 of F32, F16,
 * BF16; gemm_f32_avx2.c, gemm_f32_avx512.c) and r1_matmul with float
 * activations.
 *
 * 1. Every SIMD gemm_f32 against the scalar one (one dot_f32 per output) on
 *    row lengths 1, 3, 7, 16, 17, 63, 100, 513 (every tail of a vector),
 *    tiles of 1..17 weight rows by 1..64 activation rows (not multiples of
 *    the register tiles), weight rows and activation rows placed further
 *    apart than their length, and y_stride > n_w_rows: each output within
 *    1e-5 of sum |w_i x_i|, and no float of y outside the outputs written.
 * 2. r1_matmul of F32, F16 and BF16 weights with 1..300 activation rows, in
 *    exact and fast mode, on every ISA this CPU runs, against a plain
 *    double-precision loop over the dequantized weights; the same product
 *    on 1 and 3 threads must agree bit for bit.
 * A SIMD set this CPU lacks is skipped with a loud message.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/matmul.h"

static const r1_type float_types[] = {R1_TYPE_F32, R1_TYPE_F16, R1_TYPE_BF16};
enum { FLOAT_TYPE_COUNT = sizeof float_types / sizeof float_types[0] };

static const int64_t row_lengths[] = {1, 3, 7, 16, 17, 63, 100, 513};

typedef struct {
    int w_rows, x_rows;
} tile_shape;

static const tile_shape shapes[] = {{1, 1}, {4, 6},  {3, 5},  {5, 7},  {16, 64}, {17, 13},
                                    {2, 1}, {1, 11}, {7, 2},  {13, 3}, {8, 12},  {6, 4}};

enum { SENTINEL = 0x7FC01234 }; /* a NaN no kernel produces */

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    assert_non_null(p);
    return p;
}

static const char *type_name(r1_type t) { return r1_type_get((uint32_t)t)->name; }

static bool isa_available(r1_isa isa, const char *what) {
    if (r1_isa_supported(isa)) return true;
    fprintf(stderr, "\n*** SKIPPED: this CPU cannot run %s; those tiled float products were NOT tested. ***\n\n",
            what);
    return false;
}

/* rows x n random normal floats of per-row magnitude, stored as type t with
 * rows row_bytes apart (row_bytes >= the row's own size). */
static uint8_t *random_weights(r1_type t, int rows, int64_t n, size_t row_bytes, uint64_t *rng) {
    uint8_t *w = xmalloc(row_bytes * (size_t)rows);
    memset(w, 0xFF, row_bytes * (size_t)rows); /* NaN padding: reading it would show */
    float *v = xmalloc((size_t)n * sizeof(float));
    for (int r = 0; r < rows; r++) {
        float magnitude = powf(10.0f, (float)(test_rand_u64(rng) % 5) - 2.0f);
        for (int64_t i = 0; i < n; i++) v[i] = magnitude * test_rand_normal(rng);
        r1_kernels_scalar_table.format[t].quantize(v, w + (size_t)r * row_bytes, n);
    }
    free(v);
    return w;
}

static float *random_floats(size_t count, uint64_t *rng) {
    float *x = xmalloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) x[i] = test_rand_normal(rng);
    return x;
}

/* sum |w_i x_i| in double, the scale of a dot product's rounding error. */
static double abs_dot(r1_type t, const void *w, const float *x, int64_t n) {
    float *wf = xmalloc((size_t)n * sizeof(float));
    r1_kernels_scalar_table.format[t].dequantize(w, wf, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)wf[i] * (double)x[i]);
    free(wf);
    return s;
}

/* ------------------------------------------------- SIMD against scalar */

typedef struct {
    r1_type type;
    int w_rows, x_rows;
    int64_t n;
} gemm_case;

static void check_gemm_case(r1_gemm_f32_fn gemm, const char *isa, const gemm_case *k, uint64_t *rng) {
    const size_t elem = r1_row_bytes(k->type, 1);
    const size_t w_row_bytes = (size_t)(k->n + 5) * elem; /* rows further apart than their length */
    const long x_stride = (long)k->n + 3, y_stride = k->w_rows + 3;
    uint8_t *w = random_weights(k->type, k->w_rows, k->n, w_row_bytes, rng);
    float *x = random_floats((size_t)x_stride * (size_t)k->x_rows, rng);
    const size_t y_count = (size_t)y_stride * (size_t)k->x_rows;
    float *y = xmalloc(y_count * sizeof(float)), *want = xmalloc(y_count * sizeof(float));
    for (size_t i = 0; i < y_count; i++) memcpy(&y[i], &(uint32_t){SENTINEL}, sizeof(float));
    gemm(w, w_row_bytes, k->w_rows, x, x_stride, k->x_rows, k->n, y, y_stride);
    r1_kernels_scalar_table.format[k->type].gemm_f32(w, w_row_bytes, k->w_rows, x, x_stride, k->x_rows, k->n,
                                                     want, y_stride);
    for (int c = 0; c < k->x_rows; c++) {
        for (long r = 0; r < y_stride; r++) {
            size_t at = (size_t)c * (size_t)y_stride + (size_t)r;
            if (r >= k->w_rows) {
                uint32_t bits;
                memcpy(&bits, &y[at], sizeof bits);
                if (bits != SENTINEL)
                    fail_msg("%s gemm_f32 %s %dx%d n=%lld wrote y[%d][%ld], past its %d weight rows", isa,
                             type_name(k->type), k->w_rows, k->x_rows, (long long)k->n, c, r, k->w_rows);
                continue;
            }
            double tol = 1e-5 * abs_dot(k->type, w + (size_t)r * w_row_bytes, x + c * x_stride, k->n) + 1e-30;
            if (!(fabs((double)y[at] - (double)want[at]) <= tol))
                fail_msg("%s gemm_f32 %s %dx%d n=%lld: y[%d][%ld] = %.9g, scalar %.9g (tolerance %.3g)", isa,
                         type_name(k->type), k->w_rows, k->x_rows, (long long)k->n, c, r, y[at], want[at],
                         tol);
        }
    }
    free(want);
    free(y);
    free(x);
    free(w);
}

static void check_table(const r1_gemm_f32_fn table[R1_TYPE_COUNT], const char *isa) {
    uint64_t rng = 23;
    for (int ti = 0; ti < FLOAT_TYPE_COUNT; ti++) {
        r1_type t = float_types[ti];
        assert_non_null(table[t]);
        int checked = 0;
        for (size_t li = 0; li < sizeof row_lengths / sizeof row_lengths[0]; li++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                gemm_case k = {.type = t, .w_rows = shapes[si].w_rows, .x_rows = shapes[si].x_rows,
                               .n = row_lengths[li]};
                check_gemm_case(table[t], isa, &k, &rng);
                checked++;
            }
        printf("%s gemm_f32 %-4s: %d tiles match the scalar dots\n", isa, type_name(t), checked);
    }
}

static void test_avx2_gemm_f32_matches_scalar(void **state) {
    (void)state;
    if (!isa_available(R1_ISA_AVX2, "AVX2+FMA+F16C")) skip();
    check_table(r1_gemm_f32_avx2_table, "avx2");
}

static void test_avx512_gemm_f32_matches_scalar(void **state) {
    (void)state;
    if (!isa_available(R1_ISA_AVX512, "AVX-512 (F/BW/DQ/VL/VNNI/BF16)")) skip();
    check_table(r1_gemm_f32_avx512_table, "avx512");
}

/* Every resolved set has a tiled float product for the float formats, its
 * own ISA's where there is one, and none for the quantized formats. */
static void test_resolved_sets_carry_gemm_f32(void **state) {
    (void)state;
    for (int isa = 0; isa < R1_ISA_COUNT; isa++) {
        const r1_kernel_set *set = r1_kernels_for((r1_isa)isa);
        if (!set) continue;
        for (int ti = 0; ti < FLOAT_TYPE_COUNT; ti++) {
            r1_type t = float_types[ti];
            r1_gemm_f32_fn want = isa == R1_ISA_AVX512 ? r1_gemm_f32_avx512_table[t]
                                  : isa == R1_ISA_AVX2 ? r1_gemm_f32_avx2_table[t]
                                                       : r1_kernels_scalar_table.format[t].gemm_f32;
            assert_non_null(set->format[t].gemm_f32);
            assert_ptr_equal(set->format[t].gemm_f32, want);
        }
        assert_null(set->format[R1_TYPE_Q8_0].gemm_f32);
        assert_null(set->format[R1_TYPE_Q4_K].gemm_f32);
    }
}

/* --------------------------------------------------- r1_matmul, whole */

static const int batch_sizes[] = {1, 2, 3, 5, 6, 7, 13, 64, 97, 131, 300};

typedef struct {
    r1_type type;
    long k, rows; /* weight row length, weight rows */
} matmul_shape;

static const matmul_shape matmul_shapes[] = {
    {R1_TYPE_F32, 129, 37}, {R1_TYPE_F16, 129, 37}, {R1_TYPE_BF16, 64, 50},
    {R1_TYPE_F32, 384, 20}, {R1_TYPE_F16, 1000, 19},
};

static void matmul_on(const r1_kernel_set *set, bool exact, int n_threads, const r1_tensor *w, const float *x,
                      int n_rows, float *y) {
    r1_compute c;
    assert_int_equal(r1_compute_init(&c, n_threads, exact), 0);
    c.kernels = set;
    assert_int_equal(r1_matmul(&c, w, x, n_rows, y, w->ne[1] + 2), 0);
    r1_compute_free(&c);
}

static void check_matmul(const r1_kernel_set *set, const matmul_shape *s, bool exact, uint64_t *rng) {
    const int max_rows = 300;
    r1_tensor w = {.name = "w", .type = s->type, .n_dims = 2, .ne = {s->k, s->rows, 1, 1},
                   .row_bytes = r1_row_bytes(s->type, s->k)};
    uint8_t *wdata = random_weights(s->type, (int)s->rows, s->k, w.row_bytes, rng);
    w.data = wdata;
    float *x = random_floats((size_t)max_rows * (size_t)s->k, rng);
    const long y_stride = s->rows + 2;
    float *y1 = xmalloc(sizeof(float) * (size_t)(y_stride * max_rows));
    float *y3 = xmalloc(sizeof(float) * (size_t)(y_stride * max_rows));
    float *wf = xmalloc(sizeof(float) * (size_t)(s->k * s->rows));
    for (long r = 0; r < s->rows; r++)
        r1_kernels_scalar_table.format[s->type].dequantize(r1_tensor_row(&w, r), wf + r * s->k, s->k);
    for (size_t bi = 0; bi < sizeof batch_sizes / sizeof batch_sizes[0]; bi++) {
        int n_rows = batch_sizes[bi];
        matmul_on(set, exact, 1, &w, x, n_rows, y1);
        matmul_on(set, exact, 3, &w, x, n_rows, y3);
        for (int i = 0; i < n_rows; i++)
            for (long j = 0; j < s->rows; j++) {
                double want = 0.0, scale = 0.0;
                for (long v = 0; v < s->k; v++) {
                    double p = (double)wf[j * s->k + v] * (double)x[i * s->k + v];
                    want += p;
                    scale += fabs(p);
                }
                float got = y1[i * y_stride + j];
                if (!(fabs((double)got - want) <= 1e-5 * scale + 1e-30))
                    fail_msg("%s r1_matmul %s %ldx%ld, %d rows (%s): y[%d][%ld] = %.9g, want %.9g", set->name,
                             type_name(s->type), s->rows, s->k, n_rows, exact ? "exact" : "fast", i, j, got,
                             want);
                if (memcmp(&got, &y3[i * y_stride + j], sizeof got) != 0)
                    fail_msg("%s r1_matmul %s, %d rows: y[%d][%ld] is %.9g on 1 thread, %.9g on 3", set->name,
                             type_name(s->type), n_rows, i, j, got, y3[i * y_stride + j]);
            }
    }
    free(wf);
    free(y3);
    free(y1);
    free(x);
    free(wdata);
}

static void test_matmul_float_weights_match_double_loop(void **state) {
    (void)state;
    uint64_t rng = 77;
    for (int isa = 0; isa < R1_ISA_COUNT; isa++) {
        const r1_kernel_set *set = r1_kernels_for((r1_isa)isa);
        if (!set) {
            fprintf(stderr, "*** SKIPPED: r1_matmul on the %d-th ISA: not supported by this CPU ***\n", isa);
            continue;
        }
        for (size_t si = 0; si < sizeof matmul_shapes / sizeof matmul_shapes[0]; si++) {
            check_matmul(set, &matmul_shapes[si], true, &rng);
            check_matmul(set, &matmul_shapes[si], false, &rng);
        }
        printf("%s r1_matmul of f32/f16/bf16 weights, 1..300 rows, matches the double loop\n", set->name);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolved_sets_carry_gemm_f32),
        cmocka_unit_test(test_avx2_gemm_f32_matches_scalar),
        cmocka_unit_test(test_avx512_gemm_f32_matches_scalar),
        cmocka_unit_test(test_matmul_float_weights_match_double_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
