/*
 * gemm_f32_avx2.c - tiled AVX2 + FMA + F16C float matrix products
 * (r1_gemm_f32_fn, see kernels.h) for F32, F16 and BF16 weights; the
 * 16-register twin of gemm_f32_avx512.c.
 *
 * A micro-tile is 4 weight rows by up to 3 activation rows: 12 ymm
 * accumulators, the 3 activation vectors of the step, and one weight vector
 * at a time (f16 converted with vcvtph2ps, bf16 by a shift) fill the 16
 * registers exactly. Per step of 8 values: 7 loads for 12 FMAs.
 *
 * AVX2 has no masked 16-bit loads, so the last, partial step (row lengths
 * that are not a multiple of 8) copies the remaining weights and activations
 * into zero-padded buffers and runs one more step on those.
 *
 * A tile with fewer than 4 weight rows repeats its last row (the extra
 * outputs are not stored); every output is summed the same way wherever it
 * sits in the tile.
 */
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The accumulator arrays live in registers only when the small loops over
 * them are unrolled completely: gcc -O2 needs to be told, clang does it
 * unasked (and keeps the arrays in memory when told). */
#if defined(__clang__)
#define UNROLL_FULLY
#else
#define UNROLL_FULLY _Pragma("GCC unroll 8")
#endif

enum { TILE_W = 4, TILE_X = 3, LANES = 8 };

typedef enum { WEIGHTS_F32, WEIGHTS_F16, WEIGHTS_BF16 } weight_format;

static ALWAYS_INLINE size_t weight_bytes(weight_format f) { return f == WEIGHTS_F32 ? 4 : 2; }

/* 8 weights from value i on, as floats. */
static ALWAYS_INLINE __m256 load_weights(weight_format f, const void *row, int64_t i) {
    switch (f) {
    case WEIGHTS_F32: return _mm256_loadu_ps((const float *)row + i);
    case WEIGHTS_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    default: /* bf16 is the top half of a float */
        return _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i))), 16));
    }
}

/* The sums of a, b, c and d, in that order. */
static inline __m128 sum_four(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* One step of 8 values: all 4 x n_x products. */
static ALWAYS_INLINE void tile_step(weight_format f, const void *const w[TILE_W], const float *const x[TILE_X],
                                   int n_x, int64_t i, __m256 acc[TILE_W][TILE_X]) {
    __m256 xv[TILE_X];
    UNROLL_FULLY
    for (int c = 0; c < n_x; c++) xv[c] = _mm256_loadu_ps(x[c] + i);
    UNROLL_FULLY
    for (int r = 0; r < TILE_W; r++) {
        __m256 wv = load_weights(f, w[r], i);
        UNROLL_FULLY
        for (int c = 0; c < n_x; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
    }
}

/* The last values of the rows (fewer than 8, from value i on), copied into
 * zero-padded buffers for one more step. */
static ALWAYS_INLINE void tail_step(weight_format f, const void *const w[TILE_W], const float *const x[TILE_X],
                                   int n_x, int64_t i, int64_t n, __m256 acc[TILE_W][TILE_X]) {
    uint8_t w_tail[TILE_W][LANES * sizeof(float)];
    float x_tail[TILE_X][LANES];
    const void *wt[TILE_W];
    const float *xt[TILE_X];
    size_t count = (size_t)(n - i);
    memset(w_tail, 0, sizeof w_tail);
    memset(x_tail, 0, sizeof x_tail);
    for (int r = 0; r < TILE_W; r++) {
        memcpy(w_tail[r], (const uint8_t *)w[r] + (size_t)i * weight_bytes(f), count * weight_bytes(f));
        wt[r] = w_tail[r];
    }
    for (int c = 0; c < n_x; c++) {
        memcpy(x_tail[c], x[c] + i, count * sizeof(float));
        xt[c] = x_tail[c];
    }
    tile_step(f, wt, xt, n_x, 0, acc);
}

/* y[c][r] for r < n_w (1..4) and c < n_x (1..3, a constant once inlined). */
static ALWAYS_INLINE void micro_tile(weight_format f, const uint8_t *w, size_t w_row_bytes, int n_w,
                                     const float *x, long x_stride, int n_x, int64_t n, float *y,
                                     long y_stride) {
    const void *wr[TILE_W];
    const float *xr[TILE_X];
    __m256 acc[TILE_W][TILE_X];
    for (int r = 0; r < TILE_W; r++) wr[r] = w + (size_t)(r < n_w ? r : n_w - 1) * w_row_bytes;
    UNROLL_FULLY
    for (int c = 0; c < n_x; c++) {
        xr[c] = x + c * x_stride;
        UNROLL_FULLY
        for (int r = 0; r < TILE_W; r++) acc[r][c] = _mm256_setzero_ps();
    }
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) tile_step(f, wr, xr, n_x, i, acc);
    if (i < n) tail_step(f, wr, xr, n_x, i, n, acc);
    UNROLL_FULLY
    for (int c = 0; c < n_x; c++) {
        float sums[TILE_W];
        _mm_storeu_ps(sums, sum_four(acc[0][c], acc[1][c], acc[2][c], acc[3][c]));
        memcpy(y + c * y_stride, sums, (size_t)n_w * sizeof(float));
    }
}

/* The whole tile: for each 4 weight rows, every activation row in groups
 * of 3 and one last group of 1 or 2. */
static ALWAYS_INLINE void gemm_tiles(weight_format f, const void *w, size_t w_row_bytes, int n_w_rows,
                                    const float *x, long x_stride, int n_x_rows, int64_t n, float *y,
                                    long y_stride) {
    for (int r0 = 0; r0 < n_w_rows; r0 += TILE_W) {
        const uint8_t *wt = (const uint8_t *)w + (size_t)r0 * w_row_bytes;
        int n_w = n_w_rows - r0 < TILE_W ? n_w_rows - r0 : TILE_W;
        int c0 = 0;
        for (; c0 + TILE_X <= n_x_rows; c0 += TILE_X)
            micro_tile(f, wt, w_row_bytes, n_w, x + c0 * x_stride, x_stride, TILE_X, n, y + c0 * y_stride + r0,
                       y_stride);
        const float *xt = x + c0 * x_stride;
        float *yt = y + c0 * y_stride + r0;
        switch (n_x_rows - c0) {
        case 2: micro_tile(f, wt, w_row_bytes, n_w, xt, x_stride, 2, n, yt, y_stride); break;
        case 1: micro_tile(f, wt, w_row_bytes, n_w, xt, x_stride, 1, n, yt, y_stride); break;
        default: break;
        }
    }
}

static void f32_gemm_f32(const void *w, size_t w_row_bytes, int n_w_rows, const float *x, long x_stride,
                         int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_tiles(WEIGHTS_F32, w, w_row_bytes, n_w_rows, x, x_stride, n_x_rows, n, y, y_stride);
}

static void f16_gemm_f32(const void *w, size_t w_row_bytes, int n_w_rows, const float *x, long x_stride,
                         int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_tiles(WEIGHTS_F16, w, w_row_bytes, n_w_rows, x, x_stride, n_x_rows, n, y, y_stride);
}

static void bf16_gemm_f32(const void *w, size_t w_row_bytes, int n_w_rows, const float *x, long x_stride,
                          int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_tiles(WEIGHTS_BF16, w, w_row_bytes, n_w_rows, x, x_stride, n_x_rows, n, y, y_stride);
}

const r1_gemm_f32_fn r1_gemm_f32_avx2_table[R1_TYPE_COUNT] = {
    [R1_TYPE_F32] = f32_gemm_f32,
    [R1_TYPE_F16] = f16_gemm_f32,
    [R1_TYPE_BF16] = bf16_gemm_f32,
};

#else /* not x86-64: the scalar gemm_f32 runs */

const r1_gemm_f32_fn r1_gemm_f32_avx2_table[R1_TYPE_COUNT] = {0};

#endif
