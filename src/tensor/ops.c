/* ops.c - RMS norm, LayerNorm, RoPE, softmax, SwiGLU, GELU on float rows (see ops.h). */
#include "tensor/ops.h"

#include <math.h>

#include "tensor/kernels.h"

void r1_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    double sum = 0.0; /* double: a long row of squares loses little */
    for (int i = 0; i < n; i++) sum += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(sum / n + eps));
    if (weight)
        for (int i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
    else
        for (int i = 0; i < n; i++) out[i] = x[i] * scale;
}

/* YaRN's dimension index at which a rotation completes n_rot turns over the
 * original context. */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return n_dims * logf(n_ctx_orig / (n_rot * 2.0f * (float)M_PI)) / (2.0f * logf(base));
}

/* The angle and magnitude for rotary pair i0/2 at position pos. */
static void rope_angle(const r1_rope *rope, int i0, int32_t pos, float *cos_out, float *sin_out) {
    float theta_extrap = (float)pos * powf(rope->freq_base, -(float)i0 / (float)rope->n_dims);
    if (rope->freq_factors) theta_extrap /= rope->freq_factors[i0 / 2];
    float theta_interp = rope->freq_scale * theta_extrap;
    float theta = theta_interp;
    float mscale = rope->attn_factor;
    if (rope->ext_factor != 0.0f) {
        float low = floorf(yarn_corr_dim(rope->n_dims, rope->n_ctx_orig, rope->beta_fast, rope->freq_base));
        float high = ceilf(yarn_corr_dim(rope->n_dims, rope->n_ctx_orig, rope->beta_slow, rope->freq_base));
        if (low < 0) low = 0;
        if (high > rope->n_dims - 1) high = (float)(rope->n_dims - 1);
        float y = ((float)i0 / 2 - low) / fmaxf(0.001f, high - low);
        float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
        float mix = ramp * rope->ext_factor;
        theta = theta_interp * (1 - mix) + theta_extrap * mix;
        mscale *= 1.0f + 0.1f * logf(1.0f / rope->freq_scale);
    }
    *cos_out = cosf(theta) * mscale;
    *sin_out = sinf(theta) * mscale;
}

void r1_rope_apply(const r1_rope *rope, float *x, int n_heads, int head_dim, int32_t pos) {
    int half = rope->n_dims / 2;
    for (int i0 = 0; i0 < rope->n_dims; i0 += 2) {
        float c, s;
        rope_angle(rope, i0, pos, &c, &s);
        for (int h = 0; h < n_heads; h++) {
            float *head = x + (long)h * head_dim;
            int a = rope->mode == R1_ROPE_NEOX ? i0 / 2 : i0;
            int b = rope->mode == R1_ROPE_NEOX ? i0 / 2 + half : i0 + 1;
            float x0 = head[a], x1 = head[b];
            head[a] = x0 * c - x1 * s;
            head[b] = x0 * s + x1 * c;
        }
    }
}

void r1_softmax(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void r1_layernorm(float *out, const float *x, const float *weight, const float *bias, int n, float eps) {
    double sum = 0.0, sum_sq = 0.0;
    for (int i = 0; i < n; i++) sum += x[i];
    float mean = (float)(sum / n);
    for (int i = 0; i < n; i++) sum_sq += (double)(x[i] - mean) * (x[i] - mean);
    float scale = (float)(1.0 / sqrt(sum_sq / n + eps));
    for (int i = 0; i < n; i++) out[i] = (x[i] - mean) * scale * weight[i] + bias[i];
}

void r1_gelu(float *x, int n) {
    const float sqrt_2_over_pi = 0.7978845608028654f;
    for (int i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(sqrt_2_over_pi * (v + 0.044715f * v * v * v)));
    }
}

void r1_swiglu(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void r1_add(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}


/* The weighted sum's loop, compiled three times below: for AVX-512, AVX2
 * and any x86-64 (the one instruction set the build assumes). 32 columns
 * of accumulators stay in registers while all rows stream past. */
static inline __attribute__((always_inline)) void weighted_sum_rows_body(float *out, const float *w,
                                                                          const float *const *rows, int n_rows,
                                                                          int n) {
    enum { COLUMNS = 32 };
    int c = 0;
    for (; c + COLUMNS <= n; c += COLUMNS) {
        float acc[COLUMNS] = {0};
        for (int t = 0; t < n_rows; t++) {
            const float *row = rows[t] + c;
            float wt = w[t];
            for (int i = 0; i < COLUMNS; i++) acc[i] += wt * row[i];
        }
        for (int i = 0; i < COLUMNS; i++) out[c + i] = acc[i];
    }
    for (; c < n; c++) {
        float acc = 0.0f;
        for (int t = 0; t < n_rows; t++) acc += w[t] * rows[t][c];
        out[c] = acc;
    }
}

typedef void (*weighted_sum_fn)(float *, const float *, const float *const *, int, int);

static void weighted_sum_rows_plain(float *out, const float *w, const float *const *rows, int n_rows, int n) {
    weighted_sum_rows_body(out, w, rows, n_rows, n);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void weighted_sum_rows_avx2(float *out, const float *w,
                                                                        const float *const *rows, int n_rows, int n) {
    weighted_sum_rows_body(out, w, rows, n_rows, n);
}

__attribute__((target("avx512f"))) static void weighted_sum_rows_avx512(float *out, const float *w,
                                                                         const float *const *rows, int n_rows, int n) {
    weighted_sum_rows_body(out, w, rows, n_rows, n);
}
#endif

/* The build matching the engine's kernel set (R1_ISA lowers both alike). */
static weighted_sum_fn choose_weighted_sum(void) {
#if defined(__x86_64__)
    r1_isa isa = r1_kernels()->isa;
    if (isa == R1_ISA_AVX512) return weighted_sum_rows_avx512;
    if (isa == R1_ISA_AVX2) return weighted_sum_rows_avx2;
#endif
    return weighted_sum_rows_plain;
}

void r1_weighted_sum_rows(float *out, const float *w, const float *const *rows, int n_rows, int n) {
    static _Atomic(weighted_sum_fn) impl; /* chosen on first use; a race only repeats the choice */
    weighted_sum_fn f = impl;
    if (!f) impl = f = choose_weighted_sum();
    f(out, w, rows, n_rows, n);
}
