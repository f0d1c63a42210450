/*
 * gemm_f32_avx512.c - tiled AVX-512 float matrix products (r1_gemm_f32_fn,
 * see kernels.h) for F32, F16 and BF16 weights: the exact mode, Whisper's
 * encoder and attention written as matrix products.
 *
 * Register blocking: a micro-tile of 4 weight rows by up to 6 activation
 * rows keeps its 24 dot products in 24 zmm accumulators, 16 values of the
 * row length per lane. Per step of 16 values it converts 4 weight vectors
 * (f16 with vcvtph2ps, bf16 by a shift) and loads each activation vector
 * once, for 24 fused multiply-adds: 10 loads for 24 FMAs, where a dot
 * product per output needs 2 loads per FMA. The last, partial step uses
 * masked loads, so any row length works.
 *
 * At the end the 4 accumulators of one activation row are reduced together
 * (unpack, shuffle, add) to the 4 outputs y[c][r..r+3], stored at once.
 *
 * Cache use: the 4 weight rows of a micro-tile stay in L1 while every
 * group of 6 activation rows of the call sweeps them; matmul.c sizes the
 * calls so the activation rows stay in L2.
 *
 * A tile with fewer than 4 weight rows repeats its last row (the extra
 * outputs are not stored); a count of activation rows below 6 has its own
 * instance, so small batches do no wasted work. Every output is summed the
 * same way wherever it sits in the tile.
 */
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>

#include "tensor/simd_avx512.h"

/* The accumulator arrays live in registers only when the small loops over
 * them are unrolled completely: gcc -O2 needs to be told, clang does it
 * unasked (and keeps the arrays in memory when told). */
#if defined(__clang__)
#define UNROLL_FULLY
#else
#define UNROLL_FULLY _Pragma("GCC unroll 8")
#endif

enum { TILE_W = 4, TILE_X = 6, LANES = 16 };

typedef enum { WEIGHTS_F32, WEIGHTS_F16, WEIGHTS_BF16 } weight_format;

/* 16 weights from value i on as floats; `part` selects the lanes to load
 * (the others are zero). */
static ALWAYS_INLINE __m512 load_weights(weight_format f, const void *row, int64_t i, __mmask16 part) {
    switch (f) {
    case WEIGHTS_F32: return _mm512_maskz_loadu_ps(part, (const float *)row + i);
    case WEIGHTS_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(part, (const uint16_t *)row + i));
    default: /* bf16 is the top half of a float */
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(part, (const uint16_t *)row + i)), 16));
    }
}

/* The sums of a, b, c and d, in that order. */
static inline __m128 sum_four(__m512 a, __m512 b, __m512 c, __m512 d) {
    /* per 128-bit lane: a0+a2, b0+b2, a1+a3, b1+b3 (and likewise c, d) */
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    /* per 128-bit lane: a, b, c, d partial sums */
    __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
    __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
    return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

/* One step of 16 values (fewer where `part` says so): all 4 x n_x products. */
static ALWAYS_INLINE void tile_step(weight_format f, const void *const w[TILE_W], const float *const x[TILE_X],
                                   int n_x, int64_t i, __mmask16 part, __m512 acc[TILE_W][TILE_X]) {
    __m512 wv[TILE_W];
    UNROLL_FULLY
    for (int r = 0; r < TILE_W; r++) wv[r] = load_weights(f, w[r], i, part);
    UNROLL_FULLY
    for (int c = 0; c < n_x; c++) {
        __m512 xv = _mm512_maskz_loadu_ps(part, x[c] + i);
        UNROLL_FULLY
        for (int r = 0; r < TILE_W; r++) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
    }
}

/* y[c][r] for r < n_w (1..4) and c < n_x (1..6, a constant once inlined). */
static ALWAYS_INLINE void micro_tile(weight_format f, const uint8_t *w, size_t w_row_bytes, int n_w,
                                     const float *x, long x_stride, int n_x, int64_t n, float *y,
                                     long y_stride) {
    const void *wr[TILE_W];
    const float *xr[TILE_X];
    __m512 acc[TILE_W][TILE_X];
    for (int r = 0; r < TILE_W; r++) wr[r] = w + (size_t)(r < n_w ? r : n_w - 1) * w_row_bytes;
    UNROLL_FULLY
    for (int c = 0; c < n_x; c++) {
        xr[c] = x + c * x_stride;
        UNROLL_FULLY
        for (int r = 0; r < TILE_W; r++) acc[r][c] = _mm512_setzero_ps();
    }
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) tile_step(f, wr, xr, n_x, i, (__mmask16)0xffff, acc);
    if (i < n) tile_step(f, wr, xr, n_x, i, (__mmask16)((1u << (n - i)) - 1), acc);
    __mmask8 stored = (__mmask8)((1u << n_w) - 1);
    UNROLL_FULLY
    for (int c = 0; c < n_x; c++)
        _mm_mask_storeu_ps(y + c * y_stride, stored, sum_four(acc[0][c], acc[1][c], acc[2][c], acc[3][c]));
}

/* The whole tile: for each 4 weight rows, every activation row in groups
 * of 6 and one last group of 1..5. */
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
        case 5: micro_tile(f, wt, w_row_bytes, n_w, xt, x_stride, 5, n, yt, y_stride); break;
        case 4: micro_tile(f, wt, w_row_bytes, n_w, xt, x_stride, 4, n, yt, y_stride); break;
        case 3: micro_tile(f, wt, w_row_bytes, n_w, xt, x_stride, 3, n, yt, y_stride); break;
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

const r1_gemm_f32_fn r1_gemm_f32_avx512_table[R1_TYPE_COUNT] = {
    [R1_TYPE_F32] = f32_gemm_f32,
    [R1_TYPE_F16] = f16_gemm_f32,
    [R1_TYPE_BF16] = bf16_gemm_f32,
};

#else /* not x86-64: the scalar gemm_f32 runs */

const r1_gemm_f32_fn r1_gemm_f32_avx512_table[R1_TYPE_COUNT] = {0};

#endif
