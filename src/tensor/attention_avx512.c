/*
 * attention_avx512.c - AVX-512 builds of attention's scores and value sums
 * (see attention.h), for rows whose length is a multiple of 16.
 *
 * Scores: 16 keys at a time. Each key gets a vector accumulator of partial
 * sums over the head's dimensions (one fma per 16 values), and the 16
 * accumulators are then folded into one vector holding the 16 scores,
 * instead of 16 separate horizontal sums. The 16 keys (8 KB for 128-value
 * heads) stay in L1 while each head of the group passes over them.
 *
 * Values: 16 value rows at a time; each head's output, 128 columns at a
 * time, sits in registers while the block's rows are weighted into it.
 */
#include "tensor/attention.h"

#if defined(__x86_64__)

#include <immintrin.h>

#include "tensor/simd_avx512.h"

enum { KEYS_PER_BLOCK = 16, VALUES_PER_BLOCK = 16, VALUE_VECTORS = 8 /* 128 columns per register block */ };

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

/* The dot products of one query head with 16 keys. */
static ALWAYS_INLINE __m512 dot_16_keys(const float *q, const float *const *keys, int dim) {
    __m512 acc[KEYS_PER_BLOCK];
#pragma GCC unroll 16
    for (int i = 0; i < KEYS_PER_BLOCK; i++) acc[i] = _mm512_setzero_ps();
    for (int c = 0; c < dim; c += 16) {
        __m512 qv = _mm512_loadu_ps(q + c);
#pragma GCC unroll 16
        for (int i = 0; i < KEYS_PER_BLOCK; i++) acc[i] = _mm512_fmadd_ps(_mm512_loadu_ps(keys[i] + c), qv, acc[i]);
    }
    return sum_each_of_16(acc);
}

static float dot_one_key(const float *q, const float *key, int dim) {
    __m512 acc = _mm512_setzero_ps();
    for (int c = 0; c < dim; c += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(key + c), _mm512_loadu_ps(q + c), acc);
    return _mm512_reduce_add_ps(acc);
}

void r1_attention_scores_avx512(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                                int n_keys, int dim, float scale) {
    if (dim % 16 != 0) {
        r1_attention_scores_reference(scores, stride, q, n_q, keys, n_keys, dim, scale);
        return;
    }
    const __m512 scale_v = _mm512_set1_ps(scale);
    int t0 = 0;
    for (; t0 + KEYS_PER_BLOCK <= n_keys; t0 += KEYS_PER_BLOCK)
        for (int g = 0; g < n_q; g++)
            _mm512_storeu_ps(scores + g * stride + t0,
                             _mm512_mul_ps(dot_16_keys(q + (long)g * dim, keys + t0, dim), scale_v));
    for (; t0 < n_keys; t0++)
        for (int g = 0; g < n_q; g++) scores[g * stride + t0] = scale * dot_one_key(q + (long)g * dim, keys[t0], dim);
}

/* out[0 .. 16 * n_vectors) += the n_rows rows' columns [0 .. 16 * n_vectors)
 * weighted by w; n_vectors a constant in each use, so the accumulators
 * stay in registers. */
static ALWAYS_INLINE void add_weighted_rows(float *out, const float *w, const float *const *rows, int n_rows,
                                            long column, int n_vectors) {
    __m512 acc[VALUE_VECTORS];
#pragma GCC unroll 8
    for (int v = 0; v < n_vectors; v++) acc[v] = _mm512_loadu_ps(out + 16 * v);
    for (int t = 0; t < n_rows; t++) {
        const __m512 wt = _mm512_set1_ps(w[t]);
#pragma GCC unroll 8
        for (int v = 0; v < n_vectors; v++)
            acc[v] = _mm512_fmadd_ps(wt, _mm512_loadu_ps(rows[t] + column + 16 * v), acc[v]);
    }
#pragma GCC unroll 8
    for (int v = 0; v < n_vectors; v++) _mm512_storeu_ps(out + 16 * v, acc[v]);
}

void r1_attention_values_avx512(float *out, const float *weights, long stride, int n_q, const float *const *values,
                                int n_values, int dim) {
    if (dim % 16 != 0) {
        r1_attention_values_reference(out, weights, stride, n_q, values, n_values, dim);
        return;
    }
    for (long i = 0; i < (long)n_q * dim; i++) out[i] = 0.0f;
    for (int t0 = 0; t0 < n_values; t0 += VALUES_PER_BLOCK) {
        const int n_rows = n_values - t0 < VALUES_PER_BLOCK ? n_values - t0 : VALUES_PER_BLOCK;
        for (int g = 0; g < n_q; g++) {
            float *o = out + (long)g * dim;
            const float *w = weights + g * stride + t0;
            long c = 0;
            for (; c + 16 * VALUE_VECTORS <= dim; c += 16 * VALUE_VECTORS)
                add_weighted_rows(o + c, w, values + t0, n_rows, c, VALUE_VECTORS);
            for (; c < dim; c += 16) add_weighted_rows(o + c, w, values + t0, n_rows, c, 1);
        }
    }
}

#endif
