/*
 * attention.c - the scalar reference of attention's scores and value sums
 * (see attention.h) and their AVX2 builds; the AVX-512 ones are in
 * attention_avx512.c. The AVX2 value sums are the reference's own loop
 * compiled a second time with a target attribute (as ops.c does), so they
 * live beside it rather than in an _avx2.c file of their own.
 */
#include "tensor/attention.h"

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

#if defined(__x86_64__)

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

#endif
