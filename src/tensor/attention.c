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
 * dim % 8 values one by one. */
#define AVX2_F16 __attribute__((target("avx2,fma,f16c")))

static AVX2_F16 __m256 load_8_halves(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2_F16 void r1_attention_scores_f16_avx2(float *scores, long stride, const float *q, int n_q,
                                           const uint16_t *const *keys, int n_keys, int dim, float scale) {
    const int vector_end = dim - dim % 8;
    for (int g = 0; g < n_q; g++) {
        const float *qg = q + (long)g * dim;
        for (int t = 0; t < n_keys; t++) {
            __m256 acc = _mm256_setzero_ps();
            for (int c = 0; c < vector_end; c += 8)
                acc = _mm256_fmadd_ps(load_8_halves(keys[t] + c), _mm256_loadu_ps(qg + c), acc);
            __m128 half_sum = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
            half_sum = _mm_add_ps(half_sum, _mm_movehl_ps(half_sum, half_sum));
            float sum = _mm_cvtss_f32(_mm_add_ss(half_sum, _mm_movehdup_ps(half_sum)));
            for (int c = vector_end; c < dim; c++) sum += qg[c] * r1_half_to_f32(keys[t][c]);
            scores[g * stride + t] = scale * sum;
        }
    }
}

AVX2_F16 void r1_attention_values_f16_avx2(float *out, const float *weights, long stride, int n_q,
                                           const uint16_t *const *values, int n_values, int dim) {
    const int vector_end = dim - dim % 8;
    for (int g = 0; g < n_q; g++) {
        float *o = out + (long)g * dim;
        for (int c = 0; c < dim; c++) o[c] = 0.0f;
        for (int t = 0; t < n_values; t++) {
            const float w = weights[g * stride + t];
            const __m256 wv = _mm256_set1_ps(w);
            for (int c = 0; c < vector_end; c += 8)
                _mm256_storeu_ps(o + c, _mm256_fmadd_ps(wv, load_8_halves(values[t] + c), _mm256_loadu_ps(o + c)));
            for (int c = vector_end; c < dim; c++) o[c] += w * r1_half_to_f32(values[t][c]);
        }
    }
}

#endif
