/*
 * test_gemm.c - the tiled AVX-512 matrix products (gemm_avx512.c) against
 * the scalar dot_q, one output at a time.
 *
 * Every non-NULL entry of r1_gemm_avx512_table is run on tiles of several
 * shapes (1x1 up to 16 weight rows x 64 activation rows, with odd sizes in
 * between so every group size and masked row count is reached, and every
 * batch size 1..7 of the small-batch row walk), rows of 1, 2, 6, 9 and 48
 * blocks (48: past the row walk's prefetch distance for Q8_0), quantized random weights and random block bytes. Each
 * output must equal the scalar dot_q within 1e-5 of sum |w_i x_i| (plus
 * sum |m_i x_i| for the formats whose minimum is summed apart), and the
 * outputs must land at y[c * y_stride + r] with y_stride > n_w_rows, leaving
 * every other float of y untouched. A last test prints (does not check) the
 * speed of the tiled product against dot_q row by row. Everything but the
 * AVX2 products below is skipped, with a message, on a CPU without AVX-512.
 *
 * The products on interleaved weights (gemm_x16_avx512.c, and
 * gemm_x16_avx2.c's Q4_K and Q6_K) get the same check: the rows are interleaved 16 at a time (tensor/interleave.h), and
 * every output must match the scalar dot_q on the original rows, for 1 to 4
 * groups of 16 rows, batches of 1..17, 33 and 64 rows (every instantiation
 * of the 8-row activation groups and their remainders), and rows of 1, 2, 6
 * and 35 units of 256 values (35: the 8960-wide rows of a 1.5B model), the
 * activation rows prepared as matmul.c prepares them (their sidecars); and
 * on weights and activations at the edges of their ranges, where the int16
 * partial sums of the AVX2 products come closest to overflowing.
 * r1_matmul_group is checked once with a file-layout and an interleaved Q8_0
 * weight sharing one input.
 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/fp16.h"
#include "tensor/interleave.h"
#include "tensor/kernels.h"
#include "tensor/matmul.h"

static const r1_type gemm_types[] = {R1_TYPE_Q8_0, R1_TYPE_Q4_0, R1_TYPE_Q5_0, R1_TYPE_Q4_1,
                                     R1_TYPE_Q5_1, R1_TYPE_Q4_K, R1_TYPE_Q5_K, R1_TYPE_Q6_K};
enum { GEMM_TYPE_COUNT = sizeof gemm_types / sizeof gemm_types[0] };

typedef struct {
    int w_rows, x_rows;
} tile_shape;

/* Up to 6 activation rows, Q4_K, Q6_K and Q8_0 take the row walk (one
 * weight row at a time, groups of 1..8 activation rows); above, the tiles. */
static const tile_shape shapes[] = {{1, 1},  {3, 5},  {16, 64}, {7, 33}, {16, 1}, {1, 64},
                                    {13, 15}, {4, 8}, {16, 11}, {5, 70}, {5, 2},  {16, 3},
                                    {9, 4},  {2, 6},  {11, 7}};
static const int64_t block_counts[] = {1, 2, 6, 9, 48};

enum { SENTINEL = 0x7FC01234 }; /* a NaN no kernel produces */

static bool avx512_available(void) {
    if (r1_isa_supported(R1_ISA_AVX512)) return true;
    fprintf(stderr, "\n*** SKIPPED: this CPU lacks AVX-512 (F/BW/DQ/VL/VNNI/BF16); the tiled "
                    "avx512 products were NOT tested. ***\n\n");
    return false;
}

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    assert_non_null(p);
    return p;
}

static const r1_format_kernels *scalar_kernels(r1_type t) {
    return &r1_kernels_for(R1_ISA_SCALAR)->format[t];
}

static const char *type_name(r1_type t) { return r1_type_get((uint32_t)t)->name; }

/* ------------------------------------------------------------ test data */

/* rows x n values, normal with a per-row magnitude, quantized to type t by
 * the scalar quantizer. */
static uint8_t *quantized_rows(r1_type t, int rows, int64_t n, uint64_t *rng) {
    size_t row_bytes = r1_row_bytes(t, n);
    uint8_t *out = xmalloc(row_bytes * (size_t)rows);
    float *x = xmalloc((size_t)n * sizeof(float));
    for (int r = 0; r < rows; r++) {
        float magnitude = powf(10.0f, (float)(test_rand_u64(rng) % 5) - 2.0f);
        for (int64_t i = 0; i < n; i++) x[i] = magnitude * test_rand_normal(rng);
        scalar_kernels(t)->quantize(x, out + (size_t)r * row_bytes, n);
    }
    free(x);
    return out;
}

static void set_half(uint8_t *p, float v) {
    r1_half h = r1_f32_to_half(v);
    memcpy(p, &h, sizeof h);
}

/* Random bytes in every block (every quant and high-bit pattern), with the
 * half fields made finite and of ordinary size. */
static uint8_t *random_block_rows(r1_type t, int rows, int64_t n, uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    size_t bytes = r1_row_bytes(t, n) * (size_t)rows;
    uint8_t *out = xmalloc(bytes);
    for (size_t i = 0; i < bytes; i++) out[i] = (uint8_t)test_rand_u64(rng);
    for (size_t at = 0; at < bytes; at += info->block_bytes) {
        uint8_t *block = out + at;
        float d = test_rand_uniform(rng, -0.1f, 0.1f), m = test_rand_uniform(rng, -0.1f, 0.1f);
        switch (t) {
        case R1_TYPE_Q4_1:
        case R1_TYPE_Q5_1:
        case R1_TYPE_Q4_K:
        case R1_TYPE_Q5_K:
            set_half(block, d);
            set_half(block + 2, m);
            break;
        case R1_TYPE_Q6_K: set_half(block + offsetof(r1_block_q6_k, d), d); break;
        default: set_half(block, d); break;
        }
    }
    return out;
}

/* Weights at the edges of their integer sums: every quant at its largest
 * (Q4_K nibbles 15, Q6_K values 63, Q8_0 quants alternating -128 and 127)
 * and the K-quants' sub-block scales and mins at theirs (Q4_K 63, Q6_K -128
 * and 127 alternating). The kernels' int16 partial sums are closest to
 * overflowing here. */
static uint8_t *extreme_weight_rows(r1_type t, int rows, int64_t n, uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    uint8_t *out = random_block_rows(t, rows, n, rng);
    size_t bytes = r1_row_bytes(t, n) * (size_t)rows;
    for (size_t at = 0; at < bytes; at += info->block_bytes) {
        uint8_t *block = out + at;
        if (t == R1_TYPE_Q4_K) {
            r1_block_q4_k *b = (r1_block_q4_k *)block;
            memset(b->scales, 0xFF, sizeof b->scales);
            memset(b->qs, 0xFF, sizeof b->qs);
        } else if (t == R1_TYPE_Q6_K) {
            r1_block_q6_k *b = (r1_block_q6_k *)block;
            memset(b->ql, 0xFF, sizeof b->ql);
            memset(b->qh, 0xFF, sizeof b->qh);
            for (size_t i = 0; i < sizeof b->scales; i++) b->scales[i] = (int8_t)(i % 2 ? 127 : -128);
        } else if (t == R1_TYPE_Q8_0) {
            r1_block_q8_0 *b = (r1_block_q8_0 *)block;
            for (int i = 0; i < R1_QK; i++) b->qs[i] = (int8_t)(i % 2 ? 127 : -128);
        }
    }
    return out;
}

/* Activation rows of the dot type (Q8_K or Q8_0) at the edges: row c's
 * quants all -128 (c % 3 == 0), all 127 (1) or alternating (2), with a
 * block scale of 0.01 and, for Q8_K, the bsums that go with them. */
static uint8_t *extreme_activation_rows(r1_type x_type, int rows, int64_t n) {
    size_t row_bytes = r1_row_bytes(x_type, n);
    uint8_t *out = xmalloc(row_bytes * (size_t)rows);
    for (int c = 0; c < rows; c++) {
        uint8_t *row = out + (size_t)c * row_bytes;
        for (int64_t i = 0; i < n; i++) {
            int8_t q = (int8_t)(c % 3 == 0 ? -128 : c % 3 == 1 ? 127 : (i % 2 ? 127 : -128));
            if (x_type == R1_TYPE_Q8_K) ((r1_block_q8_k *)row)[i / R1_QK_K].qs[i % R1_QK_K] = q;
            else ((r1_block_q8_0 *)row)[i / R1_QK].qs[i % R1_QK] = q;
        }
        if (x_type == R1_TYPE_Q8_K)
            for (int64_t b = 0; b < n / R1_QK_K; b++) {
                r1_block_q8_k *block = (r1_block_q8_k *)row + b;
                block->d = 0.01f;
                for (int g = 0; g < R1_QK_K / 16; g++) {
                    int sum = 0;
                    for (int l = 0; l < 16; l++) sum += block->qs[16 * g + l];
                    block->bsums[g] = (int16_t)sum;
                }
            }
        else
            for (int64_t b = 0; b < n / R1_QK; b++) set_half((uint8_t *)&((r1_block_q8_0 *)row)[b].d, 0.01f);
    }
    return out;
}

/* ------------------------------------------------------------ tolerance */

/* Where a format keeps its quants, so that zeroing them leaves the
 * additive part m of every value (Q4_1, Q5_1, Q4_K, Q5_K); false for the
 * formats without one. */
static bool quant_fields(r1_type t, size_t *qs_at, size_t *qs_len, size_t *qh_at, size_t *qh_len) {
    *qh_at = *qh_len = 0;
    switch (t) {
    case R1_TYPE_Q4_1: *qs_at = offsetof(r1_block_q4_1, qs), *qs_len = 16; return true;
    case R1_TYPE_Q5_1:
        *qs_at = offsetof(r1_block_q5_1, qs), *qs_len = 16;
        *qh_at = offsetof(r1_block_q5_1, qh), *qh_len = 4;
        return true;
    case R1_TYPE_Q4_K: *qs_at = offsetof(r1_block_q4_k, qs), *qs_len = 128; return true;
    case R1_TYPE_Q5_K:
        *qs_at = offsetof(r1_block_q5_k, qs), *qs_len = 128;
        *qh_at = offsetof(r1_block_q5_k, qh), *qh_len = 32;
        return true;
    default: return false;
    }
}

/* Per value of a weight row: |w| plus, for formats with a minimum, |m|
 * (the integer paths sum q*d*x and m*x apart, so both parts round). */
static float *magnitudes(r1_type t, const uint8_t *row, int64_t n) {
    float *mag = xmalloc((size_t)n * sizeof(float));
    scalar_kernels(t)->dequantize(row, mag, n);
    for (int64_t i = 0; i < n; i++) mag[i] = fabsf(mag[i]);
    size_t qs_at, qs_len, qh_at, qh_len;
    if (!quant_fields(t, &qs_at, &qs_len, &qh_at, &qh_len)) return mag;
    const r1_type_info *info = r1_type_get((uint32_t)t);
    size_t bytes = r1_row_bytes(t, n);
    uint8_t *zeroed = xmalloc(bytes);
    memcpy(zeroed, row, bytes);
    for (size_t b = 0; b < bytes; b += info->block_bytes) {
        memset(zeroed + b + qs_at, 0, qs_len);
        memset(zeroed + b + qh_at, 0, qh_len);
    }
    float *m = xmalloc((size_t)n * sizeof(float));
    scalar_kernels(t)->dequantize(zeroed, m, n);
    for (int64_t i = 0; i < n; i++) mag[i] += fabsf(m[i]);
    free(m);
    free(zeroed);
    return mag;
}

/* ----------------------------------------------------------- the check */

typedef struct {
    r1_type type, x_type;
    int w_rows, x_rows;
    int64_t n;
    const uint8_t *w, *x;
    size_t w_row_bytes, x_row_bytes;
    const char *data;
} gemm_case;

/* A product under test: y for the case's rows, however it reads them. */
typedef void (*product_fn)(const void *arg, const gemm_case *k, float *y, long y_stride);

static void tiled_product(const void *arg, const gemm_case *k, float *y, long y_stride) {
    r1_gemm_q_fn gemm = *(const r1_gemm_q_fn *)arg;
    gemm(k->w, k->w_row_bytes, k->w_rows, k->x, k->x_row_bytes, k->x_rows, k->n, y, y_stride);
}

/* x_rows quantized activation rows (x_row_bytes apart) copied into rows
 * sized for the x16 products of `type` and prepared for them (sidecar
 * filled); their stride goes to *prepared_row_bytes. */
static uint8_t *prepared_x16_rows(r1_type type, const uint8_t *x, size_t x_row_bytes, int x_rows, int64_t n,
                                  size_t *prepared_row_bytes) {
    size_t bytes = r1_x16_activation_row_bytes(type, n);
    uint8_t *out = xmalloc(bytes * (size_t)x_rows);
    for (int c = 0; c < x_rows; c++) {
        memcpy(out + (size_t)c * bytes, x + (size_t)c * x_row_bytes, x_row_bytes);
        r1_x16_prepare_activation(type, out + (size_t)c * bytes, n);
    }
    *prepared_row_bytes = bytes;
    return out;
}

/* The rows interleaved 16 at a time, then the x16 product on them. */
static void x16_product(const void *arg, const gemm_case *k, float *y, long y_stride) {
    r1_gemm_x16_fn gemm = *(const r1_gemm_x16_fn *)arg;
    size_t bytes = k->w_row_bytes * (size_t)k->w_rows;
    uint8_t *w = xmalloc(bytes);
    memcpy(w, k->w, bytes);
    assert_int_equal(r1_x16_interleave(k->type, w, k->n, k->w_rows), 0);
    size_t x_row_bytes;
    uint8_t *x = prepared_x16_rows(k->type, k->x, k->x_row_bytes, k->x_rows, k->n, &x_row_bytes);
    gemm(w, 16 * k->w_row_bytes, k->w_rows / 16, x, x_row_bytes, k->x_rows, k->n, y, y_stride);
    free(x);
    free(w);
}

static void check_product(product_fn product, const void *arg, const gemm_case *k) {
    const long y_stride = k->w_rows + 3;
    const size_t y_count = (size_t)y_stride * (size_t)k->x_rows;
    float *y = xmalloc(y_count * sizeof(float));
    for (size_t i = 0; i < y_count; i++) memcpy(&y[i], &(uint32_t){SENTINEL}, sizeof(float));
    product(arg, k, y, y_stride);

    r1_dot_q_fn dot = scalar_kernels(k->type)->dot_q;
    float *xf = xmalloc((size_t)k->n * sizeof(float));
    for (int r = 0; r < k->w_rows; r++) {
        const uint8_t *wrow = k->w + (size_t)r * k->w_row_bytes;
        float *mag = magnitudes(k->type, wrow, k->n);
        for (int c = 0; c < k->x_rows; c++) {
            const uint8_t *xrow = k->x + (size_t)c * k->x_row_bytes;
            scalar_kernels(k->x_type)->dequantize(xrow, xf, k->n);
            double scale = 0.0;
            for (int64_t i = 0; i < k->n; i++) scale += fabs((double)mag[i] * (double)xf[i]);
            float want = dot(wrow, xrow, k->n), got = y[(size_t)c * y_stride + r];
            if (!(fabs((double)got - (double)want) <= 1e-5 * scale + 1e-30))
                fail_msg("gemm %s %s %dx%d n=%lld: y[%d][%d] = %.9g, scalar dot_q %.9g "
                         "(tolerance %.3g)",
                         type_name(k->type), k->data, k->w_rows, k->x_rows, (long long)k->n, c, r,
                         got, want, 1e-5 * scale);
        }
        free(mag);
    }
    for (int c = 0; c < k->x_rows; c++)
        for (long r = k->w_rows; r < y_stride; r++) {
            uint32_t bits;
            memcpy(&bits, &y[(size_t)c * y_stride + r], sizeof bits);
            if (bits != SENTINEL)
                fail_msg("gemm %s %dx%d: wrote y[%d][%ld], past its %d weight rows",
                         type_name(k->type), k->w_rows, k->x_rows, c, r, k->w_rows);
        }
    free(xf);
    free(y);
}

/* One product of w_rows x n weights (quantized normal values, or random
 * block bytes) with x_rows activation rows, checked output by output. */
static void check_random_case(r1_type t, int64_t n, int w_rows, int x_rows, bool random_bytes, product_fn product,
                              const void *arg, uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    gemm_case k = {.type = t, .x_type = info->dot_type, .n = n, .w_rows = w_rows, .x_rows = x_rows,
                   .w_row_bytes = r1_row_bytes(t, n), .x_row_bytes = r1_row_bytes(info->dot_type, n),
                   .data = random_bytes ? "random bytes" : "quantized normal"};
    uint8_t *w = random_bytes ? random_block_rows(t, w_rows, n, rng) : quantized_rows(t, w_rows, n, rng);
    uint8_t *x = quantized_rows(info->dot_type, x_rows, n, rng);
    k.w = w;
    k.x = x;
    check_product(product, arg, &k);
    free(w);
    free(x);
}

/* The same check on extreme_weight_rows and extreme_activation_rows. */
static void check_extreme_case(r1_type t, int64_t n, int w_rows, int x_rows, product_fn product, const void *arg,
                               uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    gemm_case k = {.type = t, .x_type = info->dot_type, .n = n, .w_rows = w_rows, .x_rows = x_rows,
                   .w_row_bytes = r1_row_bytes(t, n), .x_row_bytes = r1_row_bytes(info->dot_type, n),
                   .data = "extreme values"};
    uint8_t *w = extreme_weight_rows(t, w_rows, n, rng);
    uint8_t *x = extreme_activation_rows(info->dot_type, x_rows, n);
    k.w = w;
    k.x = x;
    check_product(product, arg, &k);
    free(w);
    free(x);
}

static int check_type(r1_type t, r1_gemm_q_fn gemm, uint64_t *rng) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    int checked = 0;
    for (size_t bi = 0; bi < sizeof block_counts / sizeof block_counts[0]; bi++) {
        int64_t n = block_counts[bi] * info->block_size;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            for (int random_bytes = 0; random_bytes < 2; random_bytes++) {
                check_random_case(t, n, shapes[si].w_rows, shapes[si].x_rows, random_bytes, tiled_product, &gemm,
                                  rng);
                checked++;
            }
        }
    }
    return checked;
}

static void test_gemm_matches_scalar_dot_q(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    uint64_t rng = 11;
    for (size_t ti = 0; ti < GEMM_TYPE_COUNT; ti++) {
        r1_type t = gemm_types[ti];
        r1_gemm_q_fn gemm = r1_gemm_avx512_table[t];
        if (!gemm) continue;
        int checked = check_type(t, gemm, &rng);
        printf("gemm %-5s %d tiles match scalar dot_q\n", type_name(t), checked);
    }
}

static const r1_type x16_types[] = {R1_TYPE_Q4_K, R1_TYPE_Q6_K, R1_TYPE_Q8_0};
static const int x16_w_rows[] = {16, 32, 64};
static const int x16_x_rows[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 33, 64};
static const int64_t x16_units[] = {1, 2, 6, 35};

/* One ISA's interleaved products against the scalar dot_q, every type the
 * table has, over the shapes above. */
static void check_x16_table(const char *isa, const r1_gemm_x16_fn table[R1_TYPE_COUNT], uint64_t *rng) {
    for (size_t ti = 0; ti < sizeof x16_types / sizeof *x16_types; ti++) {
        r1_type t = x16_types[ti];
        r1_gemm_x16_fn gemm = table[t];
        if (!gemm) continue;
        int checked = 0;
        for (size_t ui = 0; ui < sizeof x16_units / sizeof *x16_units; ui++)
            for (size_t wi = 0; wi < sizeof x16_w_rows / sizeof *x16_w_rows; wi++)
                for (size_t xi = 0; xi < sizeof x16_x_rows / sizeof *x16_x_rows; xi++) {
                    /* the 35-unit rows only in a few shapes: they are slow in the scalar check */
                    if (x16_units[ui] == 35 && (wi > 0 || xi % 6 != 0)) continue;
                    for (int random_bytes = 0; random_bytes < 2; random_bytes++) {
                        check_random_case(t, x16_units[ui] * R1_X16_UNIT_VALUES, x16_w_rows[wi], x16_x_rows[xi],
                                          random_bytes, x16_product, &gemm, rng);
                        checked++;
                    }
                }
        /* every pass width, a remainder, and the 8960-wide rows */
        static const int extreme_x_rows[] = {1, 2, 3, 4, 5, 8, 9, 17};
        for (size_t xi = 0; xi < sizeof extreme_x_rows / sizeof *extreme_x_rows; xi++)
            for (size_t ui = 0; ui < sizeof x16_units / sizeof *x16_units; ui++, checked++)
                check_extreme_case(t, x16_units[ui] * R1_X16_UNIT_VALUES, 32, extreme_x_rows[xi], x16_product, &gemm,
                                   rng);
        printf("gemm_x16 %-6s %-5s %d products match scalar dot_q (%zu at extreme values)\n", isa, type_name(t),
               checked, sizeof extreme_x_rows / sizeof *extreme_x_rows * (sizeof x16_units / sizeof *x16_units));
    }
}

static void test_x16_matches_scalar_dot_q(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    uint64_t rng = 17;
    for (size_t ti = 0; ti < sizeof x16_types / sizeof *x16_types; ti++)
        assert_non_null(r1_gemm_x16_avx512_table[x16_types[ti]]);
    check_x16_table("avx512", r1_gemm_x16_avx512_table, &rng);
}

/* The AVX2 set's interleaved products: Q4_K and Q6_K (its Q8_0 weights keep
 * the file's layout, see gemm_x16_avx2.c). */
static void test_x16_avx2_matches_scalar_dot_q(void **state) {
    (void)state;
    if (!r1_kernels_for(R1_ISA_AVX2)) {
        fprintf(stderr, "\n*** SKIPPED: this CPU lacks AVX2/FMA/F16C; the avx2 interleaved products were NOT "
                        "tested. ***\n\n");
        skip();
    }
    assert_non_null(r1_gemm_x16_avx2_table[R1_TYPE_Q4_K]);
    assert_non_null(r1_gemm_x16_avx2_table[R1_TYPE_Q6_K]);
    assert_null(r1_gemm_x16_avx2_table[R1_TYPE_Q8_0]);
    uint64_t rng = 19;
    check_x16_table("avx2", r1_gemm_x16_avx2_table, &rng);
}

/* r1_matmul_group over a Q8_0 weight in the file layout and an interleaved
 * one, in both orders: they share one quantized input whose rows are sized
 * for the interleaved weight's sidecar, and each product must read its own
 * blocks at that stride. Every output against the scalar dot_q. */
static void test_matmul_group_shares_prepared_input(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    enum { N = 512, W_ROWS = 32, X_ROWS = 5 };
    uint64_t rng = 23;
    const size_t row_bytes = r1_row_bytes(R1_TYPE_Q8_0, N), xq_bytes = r1_row_bytes(R1_TYPE_Q8_0, N);
    uint8_t *plain = quantized_rows(R1_TYPE_Q8_0, W_ROWS, N, &rng);
    uint8_t *original = quantized_rows(R1_TYPE_Q8_0, W_ROWS, N, &rng);
    uint8_t *interleaved = xmalloc(row_bytes * W_ROWS);
    memcpy(interleaved, original, row_bytes * W_ROWS);
    assert_int_equal(r1_x16_interleave(R1_TYPE_Q8_0, interleaved, N, W_ROWS), 0);
    r1_tensor a = {.name = "plain", .type = R1_TYPE_Q8_0, .n_dims = 2, .ne = {N, W_ROWS, 1, 1}, .data = plain,
                   .row_bytes = row_bytes, .layout = R1_LAYOUT_ROWS};
    r1_tensor b = a;
    b.name = "interleaved", b.data = interleaved, b.layout = R1_LAYOUT_X16;
    float *x = xmalloc(sizeof(float) * X_ROWS * N);
    for (int i = 0; i < X_ROWS * N; i++) x[i] = test_rand_normal(&rng);
    uint8_t *xq = xmalloc(xq_bytes * X_ROWS);
    for (int c = 0; c < X_ROWS; c++) scalar_kernels(R1_TYPE_Q8_0)->quantize(x + c * N, xq + c * xq_bytes, N);
    r1_compute comp;
    assert_int_equal(r1_compute_init(&comp, 2, false), 0);
    float ya[X_ROWS * W_ROWS], yb[X_ROWS * W_ROWS];
    for (int order = 0; order < 2; order++) {
        r1_matmul_out outs[2] = {{&a, ya, W_ROWS}, {&b, yb, W_ROWS}};
        if (order == 1) outs[0] = (r1_matmul_out){&b, yb, W_ROWS}, outs[1] = (r1_matmul_out){&a, ya, W_ROWS};
        assert_int_equal(r1_matmul_group(&comp, outs, 2, x, X_ROWS), 0);
        for (int c = 0; c < X_ROWS; c++)
            for (int r = 0; r < W_ROWS; r++) {
                const uint8_t *xrow = xq + c * xq_bytes;
                float want_a = scalar_kernels(R1_TYPE_Q8_0)->dot_q(plain + r * row_bytes, xrow, N);
                float want_b = scalar_kernels(R1_TYPE_Q8_0)->dot_q(original + r * row_bytes, xrow, N);
                if (fabsf(ya[c * W_ROWS + r] - want_a) > 1e-4f * (1.0f + fabsf(want_a)) ||
                    fabsf(yb[c * W_ROWS + r] - want_b) > 1e-4f * (1.0f + fabsf(want_b)))
                    fail_msg("order %d, y[%d][%d]: file layout %.7g (want %.7g), interleaved %.7g (want %.7g)",
                             order, c, r, ya[c * W_ROWS + r], want_a, yb[c * W_ROWS + r], want_b);
            }
    }
    r1_compute_free(&comp);
    free(xq);
    free(x);
    free(interleaved);
    free(original);
    free(plain);
}

/* The formats of the benchmark models have tiled products, and the resolved
 * avx512 set carries them. */
static void test_gemm_table(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    assert_non_null(r1_gemm_avx512_table[R1_TYPE_Q8_0]);
    assert_non_null(r1_gemm_avx512_table[R1_TYPE_Q4_K]);
    assert_non_null(r1_gemm_avx512_table[R1_TYPE_Q6_K]);
    const r1_kernel_set *set = r1_kernels_for(R1_ISA_AVX512);
    for (int t = 0; t < R1_TYPE_COUNT; t++) {
        if (!r1_gemm_avx512_table[t]) continue;
        assert_ptr_equal(set->format[t].gemm_q, r1_gemm_avx512_table[t]);
        assert_non_null(set->format[t].dot_q);
    }
    for (int t = 0; t < R1_TYPE_COUNT; t++) assert_ptr_equal(set->format[t].gemm_x16, r1_gemm_x16_avx512_table[t]);
    /* the AVX2 set takes its own table; the scalar set never sees interleaved weights */
    for (int t = 0; t < R1_TYPE_COUNT; t++) {
        assert_ptr_equal(r1_kernels_for(R1_ISA_AVX2)->format[t].gemm_x16, r1_gemm_x16_avx2_table[t]);
        assert_null(r1_kernels_for(R1_ISA_SCALAR)->format[t].gemm_x16);
    }
}

/* ----------------------------------------------------------- benchmark */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { BENCH_N = 1536, BENCH_W_ROWS = 64, BENCH_X_ROWS = 64, BENCH_REPEATS = 8 };

typedef struct {
    r1_type type;
    const uint8_t *w, *x;
    size_t w_row_bytes, x_row_bytes;
    float *y;
} bench_problem;

/* The whole product in tiles of 16 weight rows, as matmul.c calls it. */
static void run_tiled(const bench_problem *p, r1_gemm_q_fn gemm) {
    for (int r0 = 0; r0 < BENCH_W_ROWS; r0 += 16)
        gemm(p->w + (size_t)r0 * p->w_row_bytes, p->w_row_bytes, 16, p->x, p->x_row_bytes,
             BENCH_X_ROWS, BENCH_N, p->y + r0, BENCH_W_ROWS);
}

static void run_rows(const bench_problem *p, r1_dot_q_fn dot) {
    for (int r = 0; r < BENCH_W_ROWS; r++)
        for (int c = 0; c < BENCH_X_ROWS; c++)
            p->y[c * BENCH_W_ROWS + r] =
                dot(p->w + (size_t)r * p->w_row_bytes, p->x + (size_t)c * p->x_row_bytes, BENCH_N);
}

/* p->w interleaved (r1_x16_interleave) beforehand. */
static void run_x16(const bench_problem *p, r1_gemm_x16_fn gemm) {
    gemm(p->w, 16 * p->w_row_bytes, BENCH_W_ROWS / 16, p->x, p->x_row_bytes, BENCH_X_ROWS, BENCH_N, p->y,
         BENCH_W_ROWS);
}

/* Giga integer operations per second (2 per multiply-add), best of a few
 * passes of BENCH_REPEATS products, by whichever of the three is given. */
static double gops(const bench_problem *p, r1_gemm_q_fn gemm, r1_gemm_x16_fn x16, r1_dot_q_fn dot) {
    double best = 1e30;
    for (int pass = 0; pass < 3; pass++) {
        double t0 = now_seconds();
        for (int i = 0; i < BENCH_REPEATS; i++) {
            if (gemm)
                run_tiled(p, gemm);
            else if (x16)
                run_x16(p, x16);
            else
                run_rows(p, dot);
        }
        double t = (now_seconds() - t0) / BENCH_REPEATS;
        if (t < best) best = t;
    }
    return 2.0 * BENCH_W_ROWS * BENCH_X_ROWS * BENCH_N / best / 1e9;
}

static void benchmark_type(r1_type t) {
    const r1_type_info *info = r1_type_get((uint32_t)t);
    uint64_t rng = 5;
    bench_problem p = {.type = t, .w_row_bytes = r1_row_bytes(t, BENCH_N),
                       .x_row_bytes = r1_row_bytes(info->dot_type, BENCH_N)};
    uint8_t *w = quantized_rows(t, BENCH_W_ROWS, BENCH_N, &rng);
    uint8_t *x = quantized_rows(info->dot_type, BENCH_X_ROWS, BENCH_N, &rng);
    p.w = w;
    p.x = x;
    p.y = xmalloc(sizeof(float) * BENCH_W_ROWS * BENCH_X_ROWS);
    double tiled = gops(&p, r1_gemm_avx512_table[t], NULL, NULL);
    double rows = gops(&p, NULL, NULL, r1_kernels_for(R1_ISA_AVX512)->format[t].dot_q);
    printf("gemm %-5s %dx%d weights x %d activation rows: tiled %6.1f GOPS, dot_q rows %6.1f "
           "GOPS (%.2fx)",
           info->name, BENCH_W_ROWS, BENCH_N, BENCH_X_ROWS, tiled, rows, tiled / rows);
    if (r1_gemm_x16_avx512_table[t]) {
        assert_int_equal(r1_x16_interleave(t, w, BENCH_N, BENCH_W_ROWS), 0);
        bench_problem px = p;
        uint8_t *xx = prepared_x16_rows(t, x, p.x_row_bytes, BENCH_X_ROWS, BENCH_N, &px.x_row_bytes);
        px.x = xx;
        printf(", interleaved %6.1f GOPS", gops(&px, NULL, r1_gemm_x16_avx512_table[t], NULL));
        free(xx);
    }
    printf("\n");
    free(p.y);
    free(w);
    free(x);
}

static void test_benchmark_gemm(void **state) {
    (void)state;
    if (!avx512_available()) skip();
    for (size_t ti = 0; ti < GEMM_TYPE_COUNT; ti++)
        if (r1_gemm_avx512_table[gemm_types[ti]]) benchmark_type(gemm_types[ti]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_table),
        cmocka_unit_test(test_gemm_matches_scalar_dot_q),
        cmocka_unit_test(test_x16_matches_scalar_dot_q),
        cmocka_unit_test(test_x16_avx2_matches_scalar_dot_q),
        cmocka_unit_test(test_matmul_group_shares_prepared_input),
        cmocka_unit_test(test_benchmark_gemm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
