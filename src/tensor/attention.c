/*
 * attention.c - the scalar reference of attention's scores and value sums
 * (see attention.h) and their AVX2 builds; the AVX-512 ones are in
 * attention_avx512.c. The AVX2 value sums are the reference's own loop
 * compiled a second time with a target attribute (as ops.c does), so they
 * live beside it rather than in an _avx2.c file of their own. The _f16
 * forms (rows of an f16 KV cache) follow: their reference converts each
 * half as it reads it, their AVX2 builds 8 halves at a time (F16C).
 */
#include "tensor/attention.h"

#include "tensor/fp16.h"

#include <stdbool.h>

void r1_attention_scores_reference(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                                   int n_keys, int dim, float scale) {
    for (int g = 0; g < n_q; g++)
        for (int t = 0; t < n_keys; t++) {
            float sum = 0.0f;
            for (int c = 0; c < dim; c++) sum += q[(long)g * dim + c] * keys[t][c];
            scores[g * stride + t] = scale * sum;
        }
}

void r1_attention_scores_by_dot(r1_dot_f32_fn dot, float *scores, long stride, const float *q, int n_q,
                                const float *const *keys, int n_keys, int dim, float scale) {
    for (int g = 0; g < n_q; g++)
        for (int t = 0; t < n_keys; t++) scores[g * stride + t] = scale * dot(keys[t], q + (long)g * dim, dim);
}

/* Row by row into the n_q outputs: the inner loop runs along a value row,
 * which the compiler vectorises without changing any sum's order. */
static inline __attribute__((always_inline)) void values_body(float *out, const float *weights, long stride,
                                                              int n_q, const float *const *values, int n_values,
                                                              int dim) {
    for (int g = 0; g < n_q; g++) {
        float *o = out + (long)g * dim;
        for (int c = 0; c < dim; c++) o[c] = 0.0f;
        for (int t = 0; t < n_values; t++) {
            const float w = weights[g * stride + t], *v = values[t];
            for (int c = 0; c < dim; c++) o[c] += w * v[c];
        }
    }
}

void r1_attention_values_reference(float *out, const float *weights, long stride, int n_q,
                                   const float *const *values, int n_values, int dim) {
    values_body(out, weights, stride, n_q, values, n_values, dim);
}

void r1_attention_scores_f16_reference(float *scores, long stride, const float *q, int n_q,
                                       const uint16_t *const *keys, int n_keys, int dim, float scale) {
    for (int g = 0; g < n_q; g++)
        for (int t = 0; t < n_keys; t++) {
            float sum = 0.0f;
            for (int c = 0; c < dim; c++) sum += q[(long)g * dim + c] * r1_half_to_f32(keys[t][c]);
            scores[g * stride + t] = scale * sum;
        }
}

void r1_attention_values_f16_reference(float *out, const float *weights, long stride, int n_q,
                                       const uint16_t *const *values, int n_values, int dim) {
    for (int g = 0; g < n_q; g++) {
        float *o = out + (long)g * dim;
        for (int c = 0; c < dim; c++) o[c] = 0.0f;
        for (int t = 0; t < n_values; t++) {
            const float w = weights[g * stride + t];
            for (int c = 0; c < dim; c++) o[c] += w * r1_half_to_f32(values[t][c]);
        }
    }
}

#if defined(__x86_64__)

#include <immintrin.h>

void r1_attention_scores_avx2(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                              int n_keys, int dim, float scale) {
    r1_attention_scores_by_dot(r1_kernels_avx2_table.format[R1_TYPE_F32].dot_f32, scores, stride, q, n_q, keys,
                               n_keys, dim, scale);
}

__attribute__((target("avx2,fma"))) void r1_attention_values_avx2(float *out, const float *weights, long stride,
                                                                  int n_q, const float *const *values,
                                                                  int n_values, int dim) {
    values_body(out, weights, stride, n_q, values, n_values, dim);
}

/* The f16 forms: 8 halves at a time converted by F16C; a row's last
 * dim % 8 values one by one. One FMA chain per score, or one running sum
 * in memory per value row, left these kernels waiting on latency and on
 * stores (2048 cached rows of the 1.5B shape: 9 ms of a token's attention,
 * against 1.8 for AVX-512), so both work in tiles: 4 keys at a time for
 * the scores, 2 heads x 32 columns of sums held in registers for the
 * values. */
#define AVX2_F16 __attribute__((target("avx2,fma,f16c")))

static AVX2_F16 __m256 load_8_halves(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* The four sums of a, b, c, d's lanes, in that order. */
static AVX2_F16 __m128 sum_lanes_of_4(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* per 128-bit half: a, b, c, d partial sums */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

/* The score of head qg against one key (the tail of the tiles below). */
static AVX2_F16 float score_f16(const float *qg, const uint16_t *key, int dim) {
    const int vector_end = dim - dim % 8;
    __m256 acc = _mm256_setzero_ps();
    for (int c = 0; c < vector_end; c += 8)
        acc = _mm256_fmadd_ps(load_8_halves(key + c), _mm256_loadu_ps(qg + c), acc);
    __m128 lanes = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    lanes = _mm_add_ps(lanes, _mm_movehl_ps(lanes, lanes));
    float total = _mm_cvtss_f32(_mm_add_ss(lanes, _mm_movehdup_ps(lanes)));
    for (int c = vector_end; c < dim; c++) total += qg[c] * r1_half_to_f32(key[c]);
    return total;
}

AVX2_F16 void r1_attention_scores_f16_avx2(float *scores, long stride, const float *q, int n_q,
                                           const uint16_t *const *keys, int n_keys, int dim, float scale) {
    const int vector_end = dim - dim % 8;
    for (int g = 0; g < n_q; g++) {
        const float *qg = q + (long)g * dim;
        int t = 0;
        /* 4 keys at a time: four independent chains sharing each q vector
         * (rows of whole vectors only; others go one key at a time) */
        for (; t + 4 <= n_keys && dim % 8 == 0; t += 4) {
            __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (int c = 0; c < vector_end; c += 8) {
                const __m256 qv = _mm256_loadu_ps(qg + c);
                acc0 = _mm256_fmadd_ps(load_8_halves(keys[t] + c), qv, acc0);
                acc1 = _mm256_fmadd_ps(load_8_halves(keys[t + 1] + c), qv, acc1);
                acc2 = _mm256_fmadd_ps(load_8_halves(keys[t + 2] + c), qv, acc2);
                acc3 = _mm256_fmadd_ps(load_8_halves(keys[t + 3] + c), qv, acc3);
            }
            _mm_storeu_ps(scores + g * stride + t,
                          _mm_mul_ps(sum_lanes_of_4(acc0, acc1, acc2, acc3), _mm_set1_ps(scale)));
        }
        for (; t < n_keys; t++) scores[g * stride + t] = scale * score_f16(qg, keys[t], dim);
    }
}

/* Columns [c0, c0 + 32) of heads g and g + 1 (both when two_heads, else g
 * only): the sums over every value row, held in registers while the rows
 * stream past, each row's 32 halves converted once for both heads. Inlined
 * with two_heads a constant, so that a single head (every call of a model
 * without grouped queries) does not compute a second one. */
static inline __attribute__((always_inline)) AVX2_F16 void values_f16_tile(float *out, const float *weights, long stride, int g, bool two_heads,
                                     const uint16_t *const *values, int n_values, int dim, int c0) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const float *wa = weights + g * stride, *wb = two_heads ? wa + stride : wa;
    for (int t = 0; t < n_values; t++) {
        const uint16_t *v = values[t] + c0;
        const __m256 v0 = load_8_halves(v), v1 = load_8_halves(v + 8), v2 = load_8_halves(v + 16),
                     v3 = load_8_halves(v + 24);
        const __m256 x = _mm256_set1_ps(wa[t]), y = _mm256_set1_ps(wb[t]);
        a0 = _mm256_fmadd_ps(x, v0, a0);
        a1 = _mm256_fmadd_ps(x, v1, a1);
        a2 = _mm256_fmadd_ps(x, v2, a2);
        a3 = _mm256_fmadd_ps(x, v3, a3);
        b0 = _mm256_fmadd_ps(y, v0, b0);
        b1 = _mm256_fmadd_ps(y, v1, b1);
        b2 = _mm256_fmadd_ps(y, v2, b2);
        b3 = _mm256_fmadd_ps(y, v3, b3);
    }
    float *oa = out + (long)g * dim + c0;
    _mm256_storeu_ps(oa, a0);
    _mm256_storeu_ps(oa + 8, a1);
    _mm256_storeu_ps(oa + 16, a2);
    _mm256_storeu_ps(oa + 24, a3);
    if (!two_heads) return;
    float *ob = oa + dim;
    _mm256_storeu_ps(ob, b0);
    _mm256_storeu_ps(ob + 8, b1);
    _mm256_storeu_ps(ob + 16, b2);
    _mm256_storeu_ps(ob + 24, b3);
}

AVX2_F16 void r1_attention_values_f16_avx2(float *out, const float *weights, long stride, int n_q,
                                           const uint16_t *const *values, int n_values, int dim) {
    const int tiled_end = dim - dim % 32;
    for (int g = 0; g < n_q; g += 2) {
        const bool two_heads = g + 1 < n_q;
        for (int c0 = 0; c0 < tiled_end; c0 += 32)
            if (two_heads) values_f16_tile(out, weights, stride, g, true, values, n_values, dim, c0);
            else values_f16_tile(out, weights, stride, g, false, values, n_values, dim, c0);
    }
    if (tiled_end == dim) return;
    /* the last dim % 32 columns, one row at a time, as the reference */
    for (int g = 0; g < n_q; g++) {
        float *o = out + (long)g * dim;
        for (int c = tiled_end; c < dim; c++) o[c] = 0.0f;
        for (int t = 0; t < n_values; t++) {
            const float w = weights[g * stride + t];
            for (int c = tiled_end; c < dim; c++) o[c] += w * r1_half_to_f32(values[t][c]);
        }
    }
}

#endif
