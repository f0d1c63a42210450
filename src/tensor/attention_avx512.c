/*
 * attention_avx512.c - AVX-512 builds of attention's scores and value sums
 * (see attention.h). Rows whose length is not a multiple of 16 (no real
 * model's) take the scalar reference.
 *
 * Scores: 4 keys by up to 4 query heads at a time. Each of the 16 (key,
 * head) pairs gets a vector accumulator of partial sums over the head's
 * dimensions, and the 16 are then folded into one vector holding the 16
 * scores, instead of 16 separate horizontal sums. Every key vector loaded
 * feeds 4 multiply-adds: with one head at a time the core waited on loads
 * (in cache 3.1 G multiply-adds per second against 4.6-4.8 now).
 *
 * Values: a block of 16 value rows (8 KB for 128-value heads, in L1 while
 * the group's heads pass over it), 3 heads at a time, whose 128 columns
 * each sit in registers: every row vector loaded feeds 3 multiply-adds
 * (in cache 2.7 G multiply-adds per second with one head, 6.0 now).
 *
 * Both products read rows of an f32 or of an f16 cache: every row vector
 * is loaded through load_row_16, which converts 16 halves with one
 * vcvtph2ps; `half` is a constant in each build, so each keeps one kind
 * of load. An f16 cache halves the bytes a long context's decode reads.
 */
#include "tensor/attention.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdbool.h>

#include "tensor/simd_avx512.h"

enum { VALUES_PER_BLOCK = 16, VALUE_VECTORS = 8 /* 128 columns per register block */ };

/* The cached rows of a call: float (f32) or half (f16); `half` says which
 * and is a constant wherever the kernels below are inlined. */
typedef struct cached_rows {
    const float *const *f32;
    const uint16_t *const *f16;
    bool half;
} cached_rows;

/*
 * Asks for row t's dim values before they are read: the scores ask for the
 * keys PREFETCH_ROWS_AHEAD rows on, 4 beside each step of 4 keys, the value
 * sums for the next block of 16 rows. A long context's rows come from
 * memory, and without the requests an f16 cache (half the lines per row)
 * was read no faster than an f32 one. Measured, one KV head's scores and
 * value sums over 2048 positions from memory, 6 heads of 128
 * (bench/attention_kernels.c): rows 512 bytes apart (the cache's layout
 * then), f16 120 -> 71 us, f32 unchanged (~101); keys 16 rows ahead 71, 32
 * 67, 64 77; value rows 32 ahead instead of 16, 67 -> 75. Each block's rows
 * asked for in one burst 16-48 rows ahead instead, and f16 rows converted
 * once per block into floats on the stack, were slower from memory (f32 88,
 * f16 54 against 66 and 41 us).
 */
enum { PREFETCH_ROWS_AHEAD = 32 };

static ALWAYS_INLINE void prefetch_row(cached_rows rows, int t, int dim) {
    const char *row = rows.half ? (const char *)rows.f16[t] : (const char *)rows.f32[t];
    const int bytes = dim * (rows.half ? 2 : 4);
    for (int at = 0; at < bytes; at += 64) __builtin_prefetch(row + at, 0, 3);
}

/* Values c .. c + 15 of row t, as floats. */
static ALWAYS_INLINE __m512 load_row_16(cached_rows rows, int t, long c) {
    if (rows.half) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(rows.f16[t] + c)));
    return _mm512_loadu_ps(rows.f32[t] + c);
}

/* The sum of each of 16 vectors, as the 16 lanes of one: four rounds of
 * adding two halves of two vectors side by side, each halving the count.
 * Vector k's sum ends up in lane (k % 4) * 4 + k / 4 (traced by hand and
 * checked by test_attention), so the caller passes accumulators in that
 * order and gets lane i = the sum of its accumulator i. */
static ALWAYS_INLINE __m512 sum_each_of_16(const __m512 acc[16]) {
    __m512 v[16], h[8], q[4], p[2];
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++) v[k] = acc[(k % 4) * 4 + k / 4];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* 256-bit halves */
        h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                             _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* 128-bit quarters */
        q[i] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(h[2 * i], h[2 * i + 1], 0xDD));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* pairs of floats */
        p[i] = _mm512_add_ps(_mm512_shuffle_ps(q[2 * i], q[2 * i + 1], 0x88),
                             _mm512_shuffle_ps(q[2 * i], q[2 * i + 1], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_ps(p[0], p[1], 0x88), _mm512_shuffle_ps(p[0], p[1], 0xDD));
}

/* Scores of 4 keys for up to 4 query heads (n_heads a constant in each
 * use), into scores[h * stride + 0..3]: 16 accumulators, acc[4h + i] for
 * head h and key i, folded into one vector whose quarter h holds head h's
 * four scores. Each key vector loaded feeds n_heads multiply-adds (one load
 * per multiply-add, as with 16 keys of one head, had held the scores to
 * 3.1 G multiply-adds per second in cache; 4.6-4.8 now). */
static ALWAYS_INLINE void scores_4_keys(float *scores, long stride, const float *q, int n_heads, cached_rows keys,
                                        int t0, int dim, __m512 scale) {
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_setzero_ps();
    for (int c = 0; c < dim; c += 16) {
        __m512 k[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) k[i] = load_row_16(keys, t0 + i, c);
#pragma GCC unroll 4
        for (int h = 0; h < n_heads; h++) {
            __m512 qv = _mm512_loadu_ps(q + (long)h * dim + c);
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) acc[4 * h + i] = _mm512_fmadd_ps(k[i], qv, acc[4 * h + i]);
        }
    }
    __m512 sums = _mm512_mul_ps(sum_each_of_16(acc), scale);
    _mm_storeu_ps(scores, _mm512_extractf32x4_ps(sums, 0));
    if (n_heads > 1) _mm_storeu_ps(scores + stride, _mm512_extractf32x4_ps(sums, 1));
    if (n_heads > 2) _mm_storeu_ps(scores + 2 * stride, _mm512_extractf32x4_ps(sums, 2));
    if (n_heads > 3) _mm_storeu_ps(scores + 3 * stride, _mm512_extractf32x4_ps(sums, 3));
}

/* Every key but the last n_keys % 4, 4 at a time; returns how many. */
static ALWAYS_INLINE int scores_by_4_keys(float *scores, long stride, const float *q, int n_q, cached_rows keys,
                                          int n_keys, int dim, float scale) {
    const __m512 scale_v = _mm512_set1_ps(scale);
    int t0 = 0;
    for (; t0 + 4 <= n_keys; t0 += 4) {
        for (int t = t0 + PREFETCH_ROWS_AHEAD; t < t0 + PREFETCH_ROWS_AHEAD + 4 && t < n_keys; t++)
            prefetch_row(keys, t, dim);
        for (int g = 0; g < n_q; g += 4) {
            float *out = scores + g * stride + t0;
            const float *qg = q + (long)g * dim;
            switch (n_q - g) {
            case 1: scores_4_keys(out, stride, qg, 1, keys, t0, dim, scale_v); break;
            case 2: scores_4_keys(out, stride, qg, 2, keys, t0, dim, scale_v); break;
            case 3: scores_4_keys(out, stride, qg, 3, keys, t0, dim, scale_v); break;
            default: scores_4_keys(out, stride, qg, 4, keys, t0, dim, scale_v); break;
            }
        }
    }
    return t0;
}

void r1_attention_scores_avx512(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                                int n_keys, int dim, float scale) {
    if (dim % 16 != 0) {
        r1_attention_scores_reference(scores, stride, q, n_q, keys, n_keys, dim, scale);
        return;
    }
    const cached_rows rows = {.f32 = keys, .half = false};
    int t0 = scores_by_4_keys(scores, stride, q, n_q, rows, n_keys, dim, scale);
    r1_attention_scores_by_dot(r1_kernels_avx512_table.format[R1_TYPE_F32].dot_f32, scores + t0, stride, q, n_q,
                               keys + t0, n_keys - t0, dim, scale);
}

void r1_attention_scores_f16_avx512(float *scores, long stride, const float *q, int n_q,
                                    const uint16_t *const *keys, int n_keys, int dim, float scale) {
    if (dim % 16 != 0) {
        r1_attention_scores_f16_reference(scores, stride, q, n_q, keys, n_keys, dim, scale);
        return;
    }
    const cached_rows rows = {.f16 = keys, .half = true};
    int t0 = scores_by_4_keys(scores, stride, q, n_q, rows, n_keys, dim, scale);
    const r1_dot_f32_fn half_dot = r1_kernels_avx512_table.format[R1_TYPE_F16].dot_f32;
    for (int g = 0; g < n_q; g++)
        for (int t = t0; t < n_keys; t++) scores[g * stride + t] = scale * half_dot(keys[t], q + (long)g * dim, dim);
}

/* For up to 3 heads h < n_heads: out[h * dim + 0 .. 16 * n_vectors) += the
 * n_rows rows' columns [column, column + 16 * n_vectors) weighted by
 * w[h * stride + t]. n_heads and n_vectors are constants in each use, so
 * the 3 x 8 accumulators stay in registers, and each vector of a row
 * loaded feeds n_heads multiply-adds. */
static ALWAYS_INLINE void add_weighted_rows(float *out, int dim, const float *w, long stride, int n_heads,
                                            cached_rows rows, int t0, int n_rows, long column, int n_vectors) {
    __m512 acc[3][VALUE_VECTORS];
#pragma GCC unroll 3
    for (int h = 0; h < n_heads; h++)
#pragma GCC unroll 8
        for (int v = 0; v < n_vectors; v++) acc[h][v] = _mm512_loadu_ps(out + (long)h * dim + 16 * v);
    for (int t = 0; t < n_rows; t++) {
        __m512 wt[3];
#pragma GCC unroll 3
        for (int h = 0; h < n_heads; h++) wt[h] = _mm512_set1_ps(w[h * stride + t]);
#pragma GCC unroll 8
        for (int v = 0; v < n_vectors; v++) {
            __m512 row = load_row_16(rows, t0 + t, column + 16 * v);
            /* keep it in a register: gcc would otherwise fold the load
             * into each head's multiply-add, loading it n_heads times */
            __asm__("" : "+v"(row));
#pragma GCC unroll 3
            for (int h = 0; h < n_heads; h++) acc[h][v] = _mm512_fmadd_ps(wt[h], row, acc[h][v]);
        }
    }
#pragma GCC unroll 3
    for (int h = 0; h < n_heads; h++)
#pragma GCC unroll 8
        for (int v = 0; v < n_vectors; v++) _mm512_storeu_ps(out + (long)h * dim + 16 * v, acc[h][v]);
}

/* One pass of n_heads (1..3, a constant) over a block of rows, all columns. */
static ALWAYS_INLINE void add_block(float *out, int dim, const float *w, long stride, int n_heads, cached_rows rows,
                                   int t0, int n_rows) {
    long c = 0;
    for (; c + 16 * VALUE_VECTORS <= dim; c += 16 * VALUE_VECTORS)
        add_weighted_rows(out + c, dim, w, stride, n_heads, rows, t0, n_rows, c, VALUE_VECTORS);
    for (; c < dim; c += 16) add_weighted_rows(out + c, dim, w, stride, n_heads, rows, t0, n_rows, c, 1);
}

static ALWAYS_INLINE void values_by_blocks(float *out, const float *weights, long stride, int n_q, cached_rows values,
                                           int n_values, int dim) {
    for (long i = 0; i < (long)n_q * dim; i++) out[i] = 0.0f;
    for (int t0 = 0; t0 < n_values; t0 += VALUES_PER_BLOCK) {
        const int n_rows = n_values - t0 < VALUES_PER_BLOCK ? n_values - t0 : VALUES_PER_BLOCK;
        for (int t = t0 + VALUES_PER_BLOCK; t < t0 + 2 * VALUES_PER_BLOCK && t < n_values; t++)
            prefetch_row(values, t, dim);
        for (int g = 0; g < n_q; g += 3) {
            float *o = out + (long)g * dim;
            const float *w = weights + g * stride + t0;
            switch (n_q - g) {
            case 1: add_block(o, dim, w, stride, 1, values, t0, n_rows); break;
            case 2: add_block(o, dim, w, stride, 2, values, t0, n_rows); break;
            default: add_block(o, dim, w, stride, 3, values, t0, n_rows); break;
            }
        }
    }
}

void r1_attention_values_avx512(float *out, const float *weights, long stride, int n_q, const float *const *values,
                                int n_values, int dim) {
    if (dim % 16 != 0) {
        r1_attention_values_reference(out, weights, stride, n_q, values, n_values, dim);
        return;
    }
    values_by_blocks(out, weights, stride, n_q, (cached_rows){.f32 = values, .half = false}, n_values, dim);
}

void r1_attention_values_f16_avx512(float *out, const float *weights, long stride, int n_q,
                                    const uint16_t *const *values, int n_values, int dim) {
    if (dim % 16 != 0) {
        r1_attention_values_f16_reference(out, weights, stride, n_q, values, n_values, dim);
        return;
    }
    values_by_blocks(out, weights, stride, n_q, (cached_rows){.f16 = values, .half = true}, n_values, dim);
}

#endif
