/*
 * ops.h - the element-wise and row-wise operations of a transformer layer,
 * on float32 activations: RMS norm, rotary position embedding, softmax,
 * SwiGLU, GELU, LayerNorm, sums. They are cheap next to the matrix
 * products. exp, softmax, the maximum, RMS norm, SwiGLU, GELU and sums are
 * written once with the compiler's vector extension and built for each
 * instruction set (ops.c's row-operation table), the plain build being the
 * reference; RoPE and LayerNorm are plain loops.
 */
#ifndef R1_TENSOR_OPS_H
#define R1_TENSOR_OPS_H

#include <stdint.h>

/* out = x / sqrt(mean(x^2) + eps) * weight (weight may be NULL: no scaling;
 * out may be x); _reference is the plain build, for tests. */
void r1_rmsnorm(float *out, const float *x, const float *weight, int n, float eps);
void r1_rmsnorm_reference(float *out, const float *x, const float *weight, int n, float eps);

/* How a head's dimensions are paired for rotation. */
typedef enum r1_rope_mode {
    R1_ROPE_NORMAL = 0, /* adjacent pairs (2i, 2i+1): llama, deepseek2 */
    R1_ROPE_NEOX = 2    /* split halves (i, i + d/2): qwen2 */
} r1_rope_mode;

/* The per-model rotary embedding settings. */
typedef struct r1_rope {
    r1_rope_mode mode;
    int n_dims;               /* rotated dimensions per head (<= head_dim) */
    float freq_base;
    float freq_scale;         /* 1 / linear scaling factor */
    const float *freq_factors;/* n_dims/2 divisors of theta (Llama 3 "rope_freqs"), or NULL */
    /* YaRN (ext_factor > 0): blend of interpolated and extrapolated angles */
    float ext_factor;
    float attn_factor;        /* multiplies cos and sin */
    float beta_fast, beta_slow;
    int n_ctx_orig;
} r1_rope;

/* Rotary embedding in two halves: the angles depend only on the position,
 * so a forward pass computes them once per row (r1_rope_angles: n_dims
 * values, the cos and sin of each rotated pair, YaRN's magnitude included)
 * and rotates that row's queries and keys in every layer with them
 * (r1_rope_rotate: n_heads heads of head_dim values, one after another in
 * x). */
void r1_rope_angles(const r1_rope *rope, int32_t pos, float *cos_sin);
void r1_rope_rotate(const r1_rope *rope, const float *cos_sin, float *x, int n_heads, int head_dim);

/* In-place softmax of n values (-inf entries get 0); _reference is the
 * plain build of the same passes, for tests. */
void r1_softmax(float *x, int n);
void r1_softmax_reference(float *x, int n);

/* The largest of x[0..n), n >= 1 (NaNs skipped unless x[0] is one),
 * vectorised; _reference: the scalar loop. */
float r1_max(const float *x, int n);
float r1_max_reference(const float *x, int n);

/* y[i] = exp(x[i] - shift) for i < n (y may be x), returning their sum:
 * vectorised, relative error about 2e-7; exp of anything below -87.3 is 0.
 * The _reference twin is the same arithmetic as plain scalar code. */
float r1_exp_shifted(float *y, const float *x, int n, float shift);
float r1_exp_shifted_reference(float *y, const float *x, int n, float shift);

/* out = (x - mean) / sqrt(var + eps) * weight + bias (Whisper's LayerNorm). */
void r1_layernorm(float *out, const float *x, const float *weight, const float *bias, int n, float eps);

/* In-place GELU, the tanh approximation (what whisper.cpp evaluates),
 * vectorised over the exp above; _reference: the scalar twin. */
void r1_gelu(float *x, int n);
void r1_gelu_reference(float *x, int n);

/* gate[i] = silu(gate[i]) * up[i], vectorised over the exp above;
 * _reference: the scalar twin with libm's expf. */
void r1_swiglu(float *gate, const float *up, int n);
void r1_swiglu_reference(float *gate, const float *up, int n);

/* y[i] += x[i]; y and x are the same array or do not overlap. */
void r1_add(float *y, const float *x, int n);

#endif
