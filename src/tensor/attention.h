/*
 * attention.h - the two products of attention over cached rows, for the
 * query heads that share one KV head (grouped-query attention):
 *
 *   scores[g][t] = scale * (q_g . keys[t])        for every cached key t
 *   out[g]       = sum_t weights[g][t] * values[t] after the softmax
 *
 * Keys and values are given as row pointers because the paged KV cache
 * keeps a sequence's positions in blocks scattered over the pool. The
 * engine calls them through its kernel set (kernels.h: attention_scores,
 * attention_values), which holds the build for its ISA; these are the
 * builds. The AVX-512 ones load each vector of a cached row once for
 * several of the group's heads (see attention_avx512.c). Each product has
 * a second form (_f16) for rows stored as IEEE half (an f16 KV cache): the
 * same sums over the rows' values converted to float.
 */
#ifndef R1_TENSOR_ATTENTION_H
#define R1_TENSOR_ATTENTION_H

#include "tensor/kernels.h"

/* scores[g * stride + t] = scale * dot(q + g * dim, keys[t], dim) for
 * g < n_q, t < n_keys: the plain scalar loop (the reference), and the AVX2
 * and AVX-512 builds, which add in other orders (float rounding only). */
void r1_attention_scores_reference(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                                   int n_keys, int dim, float scale);
void r1_attention_scores_avx2(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                              int n_keys, int dim, float scale);
void r1_attention_scores_avx512(float *scores, long stride, const float *q, int n_q, const float *const *keys,
                                int n_keys, int dim, float scale);

/* The same, one score at a time with a kernel set's float dot product: the
 * AVX2 build, and the AVX-512 build's last n_keys % 4 keys. */
void r1_attention_scores_by_dot(r1_dot_f32_fn dot, float *scores, long stride, const float *q, int n_q,
                                const float *const *keys, int n_keys, int dim, float scale);

/* out[g * dim + c] = sum over t < n_values of weights[g * stride + t] *
 * values[t][c], for g < n_q, c < dim; the same three builds. */
void r1_attention_values_reference(float *out, const float *weights, long stride, int n_q,
                                   const float *const *values, int n_values, int dim);
void r1_attention_values_avx2(float *out, const float *weights, long stride, int n_q, const float *const *values,
                              int n_values, int dim);
void r1_attention_values_avx512(float *out, const float *weights, long stride, int n_q, const float *const *values,
                                int n_values, int dim);

/* The _f16 forms: the reference (each half converted as it is read, then
 * the float reference's sums in its order), the AVX2 build (F16C) and the
 * AVX-512 build (the float build's tiling, converting each row vector as
 * it is loaded). */
void r1_attention_scores_f16_reference(float *scores, long stride, const float *q, int n_q,
                                       const uint16_t *const *keys, int n_keys, int dim, float scale);
void r1_attention_scores_f16_avx2(float *scores, long stride, const float *q, int n_q, const uint16_t *const *keys,
                                  int n_keys, int dim, float scale);
void r1_attention_scores_f16_avx512(float *scores, long stride, const float *q, int n_q,
                                    const uint16_t *const *keys, int n_keys, int dim, float scale);
void r1_attention_values_f16_reference(float *out, const float *weights, long stride, int n_q,
                                       const uint16_t *const *values, int n_values, int dim);
void r1_attention_values_f16_avx2(float *out, const float *weights, long stride, int n_q,
                                  const uint16_t *const *values, int n_values, int dim);
void r1_attention_values_f16_avx512(float *out, const float *weights, long stride, int n_q,
                                    const uint16_t *const *values, int n_values, int dim);

#endif
