/*
 * quant_scalar.c - the reference kernels, in plain portable C11.
 *
 * For every number format of types.h: dequantize, quantize, dot_f32 and
 * (for the quantized formats) dot_q; for the float formats also gemm_f32,
 * one dot_f32 per output. Dequantization follows ggml's
 * dequantize_row_* term for term, so a GGUF file written by llama.cpp reads
 * back to the same floats. The activation quantizers (Q8_0, Q8_K) follow
 * ggml's reference quantizers, so the integer path sees the same 8-bit
 * activations llama.cpp does. The weight quantizers use a simple, fast
 * choice of scales (good enough for generated test models; not byte-equal
 * to llama-quantize).
 *
 * The SIMD kernel sets (quant_avx2.c, quant_avx512.c) are checked against
 * these functions.
 */
#include "tensor/kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "tensor/fp16.h"

/* ---------------------------------------------------------------- helpers */

/* Round to nearest, ties to even, the way ggml's nearest_int does: adding
 * 1.5 * 2^23 pushes the fraction bits out of the mantissa, so the FPU's
 * round-to-nearest-even does the rounding. Valid for |v| < 2^22. */
static inline int round_half_even(float v) {
    float shifted = v + 12582912.0f;
    uint32_t bits = r1_f32_bits(shifted);
    return (int)(bits & 0x007fffffu) - 0x00400000;
}

static inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* The value with the largest magnitude, sign kept (first one on ties). */
static float signed_abs_max(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* The fifth bits of the 32-wide Q5 formats, as one little-endian word. */
static inline uint32_t load_qh32(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

static inline void store_qh32(uint8_t qh[4], uint32_t v) {
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(v >> (8 * k));
}

/* Q4_K / Q5_K: sub-block j's 6-bit scale and min out of the 12 packed bytes.
 * Bytes 0-3 hold scales 0-3 (low 6 bits), bytes 4-7 mins 0-3; for j >= 4
 * the low 4 bits sit in bytes 8-11 and the top 2 bits in the spare top bits
 * of bytes 0-7. */
static inline void k4_scale_min(int j, const uint8_t *packed, int *scale, int *min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
        *min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

static void k4_pack_scales_mins(const int scale[8], const int min[8], uint8_t packed[12]) {
    memset(packed, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            packed[j] = (uint8_t)scale[j];
            packed[j + 4] = (uint8_t)min[j];
        } else {
            packed[j + 4] = (uint8_t)((scale[j] & 0x0f) | ((min[j] & 0x0f) << 4));
            packed[j - 4] |= (uint8_t)((scale[j] >> 4) << 6);
            packed[j] |= (uint8_t)((min[j] >> 4) << 6);
        }
    }
}

/* --------------------------------------------------- row <-> block drivers */

typedef void (*block_dequant_fn)(const void *block, float *y);
typedef void (*block_quant_fn)(const float *x, void *block);
typedef float (*block_dot_fn)(const void *wblock, const void *xblock);

static void dequantize_blocks(const void *src, float *dst, int64_t n, int block_size,
                              size_t block_bytes, block_dequant_fn dequant) {
    const uint8_t *p = src;
    for (int64_t i = 0; i < n / block_size; i++) dequant(p + i * block_bytes, dst + i * block_size);
}

static void quantize_blocks(const float *src, void *dst, int64_t n, int block_size,
                            size_t block_bytes, block_quant_fn quant) {
    uint8_t *p = dst;
    for (int64_t i = 0; i < n / block_size; i++) quant(src + i * block_size, p + i * block_bytes);
}

/* Weight row . float vector, one block at a time: dequantize the block
 * (exactly the values dequantize gives), dot it in float, add the block's
 * sum to the row total. */
static float dot_f32_blocks(const void *w, const float *x, int64_t n, int block_size,
                            size_t block_bytes, block_dequant_fn dequant) {
    const uint8_t *p = w;
    float buf[R1_QK_K];
    float total = 0.0f;
    for (int64_t i = 0; i < n / block_size; i++) {
        dequant(p + i * block_bytes, buf);
        const float *xb = x + i * block_size;
        float sum = 0.0f;
        for (int j = 0; j < block_size; j++) sum += buf[j] * xb[j];
        total += sum;
    }
    return total;
}

/* Weight row . quantized activation row: each block pair gives its scaled
 * integer dot; the row total is their float sum. */
static float dot_q_blocks(const void *w, const void *xq, int64_t n, int block_size,
                          size_t wblock_bytes, size_t xblock_bytes, block_dot_fn dot) {
    const uint8_t *pw = w, *px = xq;
    float total = 0.0f;
    for (int64_t i = 0; i < n / block_size; i++)
        total += dot(pw + i * wblock_bytes, px + i * xblock_bytes);
    return total;
}

/* ------------------------------------------------------- F32, F16, BF16 */

/* Plain float formats are summed in runs of 32 so that long rows do not
 * pile all rounding error into one accumulator. */
enum { FLOAT_RUN = 32 };

static void dequantize_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void quantize_f32(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static float dot_f32_f32(const void *w, const float *x, int64_t n) {
    const float *wf = w;
    float total = 0.0f;
    for (int64_t i = 0; i < n; i += FLOAT_RUN) {
        int64_t end = i + FLOAT_RUN < n ? i + FLOAT_RUN : n;
        float sum = 0.0f;
        for (int64_t j = i; j < end; j++) sum += wf[j] * x[j];
        total += sum;
    }
    return total;
}

static void dequantize_f16(const void *src, float *dst, int64_t n) {
    const r1_half *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = r1_half_to_f32(h[i]);
}

static void quantize_f16(const float *src, void *dst, int64_t n) {
    r1_half *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = r1_f32_to_half(src[i]);
}

static float dot_f32_f16(const void *w, const float *x, int64_t n) {
    const r1_half *h = w;
    float total = 0.0f;
    for (int64_t i = 0; i < n; i += FLOAT_RUN) {
        int64_t end = i + FLOAT_RUN < n ? i + FLOAT_RUN : n;
        float sum = 0.0f;
        for (int64_t j = i; j < end; j++) sum += r1_half_to_f32(h[j]) * x[j];
        total += sum;
    }
    return total;
}

/* The reference tiled float product: one dot_f32 per output, the
 * definition every SIMD gemm_f32 is checked against. */
static void gemm_f32_by_dots(r1_dot_f32_fn dot, const void *w, size_t w_row_bytes, int n_w_rows,
                             const float *x, long x_stride, int n_x_rows, int64_t n, float *y,
                             long y_stride) {
    for (int c = 0; c < n_x_rows; c++)
        for (int r = 0; r < n_w_rows; r++)
            y[c * y_stride + r] = dot((const uint8_t *)w + (size_t)r * w_row_bytes, x + c * x_stride, n);
}

static void gemm_f32_f32(const void *w, size_t w_row_bytes, int n_w_rows, const float *x, long x_stride,
                         int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_f32_by_dots(dot_f32_f32, w, w_row_bytes, n_w_rows, x, x_stride, n_x_rows, n, y, y_stride);
}

static void gemm_f32_f16(const void *w, size_t w_row_bytes, int n_w_rows, const float *x, long x_stride,
                         int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_f32_by_dots(dot_f32_f16, w, w_row_bytes, n_w_rows, x, x_stride, n_x_rows, n, y, y_stride);
}

static void dequantize_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = r1_bf16_to_f32(h[i]);
}

static void quantize_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = r1_f32_to_bf16(src[i]);
}

static float dot_f32_bf16(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    float total = 0.0f;
    for (int64_t i = 0; i < n; i += FLOAT_RUN) {
        int64_t end = i + FLOAT_RUN < n ? i + FLOAT_RUN : n;
        float sum = 0.0f;
        for (int64_t j = i; j < end; j++) sum += r1_bf16_to_f32(h[j]) * x[j];
        total += sum;
    }
    return total;
}

static void gemm_f32_bf16(const void *w, size_t w_row_bytes, int n_w_rows, const float *x, long x_stride,
                          int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_f32_by_dots(dot_f32_bf16, w, w_row_bytes, n_w_rows, x, x_stride, n_x_rows, n, y, y_stride);
}

/* ------------------------------------------------------------------ Q4_0 */

static void dequant_block_q4_0(const void *block, float *y) {
    const r1_block_q4_0 *b = block;
    const float d = r1_half_to_f32(b->d);
    for (int j = 0; j < R1_QK / 2; j++) {
        y[j] = (float)((b->qs[j] & 0x0f) - 8) * d;
        y[j + R1_QK / 2] = (float)((b->qs[j] >> 4) - 8) * d;
    }
}

/* The largest-magnitude value maps to -8 exactly; the other side may reach
 * +8, which is clamped to 7 (q = 15). */
static void quant_block_q4_0(const float *x, void *block) {
    r1_block_q4_0 *b = block;
    const float d = signed_abs_max(x, R1_QK) / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = r1_f32_to_half(d);
    for (int j = 0; j < R1_QK / 2; j++) {
        int q0 = (int)(x[j] * id + 8.5f);
        int q1 = (int)(x[j + R1_QK / 2] * id + 8.5f);
        q0 = q0 < 15 ? q0 : 15;
        q1 = q1 < 15 ? q1 : 15;
        b->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static float dot_block_q4_0(const void *wblock, const void *xblock) {
    const r1_block_q4_0 *w = wblock;
    const r1_block_q8_0 *x = xblock;
    int sum = 0;
    for (int j = 0; j < R1_QK / 2; j++) {
        sum += ((w->qs[j] & 0x0f) - 8) * x->qs[j];
        sum += ((w->qs[j] >> 4) - 8) * x->qs[j + R1_QK / 2];
    }
    return (float)sum * (r1_half_to_f32(w->d) * r1_half_to_f32(x->d));
}

static void dequantize_q4_0(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q4_0), dequant_block_q4_0);
}
static void quantize_q4_0(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q4_0), quant_block_q4_0);
}
static float dot_f32_q4_0(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK, sizeof(r1_block_q4_0), dequant_block_q4_0);
}
static float dot_q_q4_0(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK, sizeof(r1_block_q4_0), sizeof(r1_block_q8_0),
                        dot_block_q4_0);
}

/* ------------------------------------------------------------------ Q4_1 */

static void dequant_block_q4_1(const void *block, float *y) {
    const r1_block_q4_1 *b = block;
    const float d = r1_half_to_f32(b->d);
    const float m = r1_half_to_f32(b->m);
    for (int j = 0; j < R1_QK / 2; j++) {
        y[j] = (float)(b->qs[j] & 0x0f) * d + m;
        y[j + R1_QK / 2] = (float)(b->qs[j] >> 4) * d + m;
    }
}

static void min_max(const float *x, int n, float *min, float *max) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

static void quant_block_q4_1(const float *x, void *block) {
    r1_block_q4_1 *b = block;
    float min, max;
    min_max(x, R1_QK, &min, &max);
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = r1_f32_to_half(d);
    b->m = r1_f32_to_half(min);
    for (int j = 0; j < R1_QK / 2; j++) {
        int q0 = (int)((x[j] - min) * id + 0.5f);
        int q1 = (int)((x[j + R1_QK / 2] - min) * id + 0.5f);
        q0 = q0 < 15 ? q0 : 15;
        q1 = q1 < 15 ? q1 : 15;
        b->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static int q8_0_sum(const r1_block_q8_0 *x) {
    int sum = 0;
    for (int j = 0; j < R1_QK; j++) sum += x->qs[j];
    return sum;
}

/* w = q * d + m, so w . x = d*dx * sum(q*qx) + m*dx * sum(qx). */
static float dot_block_q4_1(const void *wblock, const void *xblock) {
    const r1_block_q4_1 *w = wblock;
    const r1_block_q8_0 *x = xblock;
    int sum = 0;
    for (int j = 0; j < R1_QK / 2; j++) {
        sum += (w->qs[j] & 0x0f) * x->qs[j];
        sum += (w->qs[j] >> 4) * x->qs[j + R1_QK / 2];
    }
    const float dx = r1_half_to_f32(x->d);
    return (float)sum * (r1_half_to_f32(w->d) * dx) + r1_half_to_f32(w->m) * (dx * (float)q8_0_sum(x));
}

static void dequantize_q4_1(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q4_1), dequant_block_q4_1);
}
static void quantize_q4_1(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q4_1), quant_block_q4_1);
}
static float dot_f32_q4_1(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK, sizeof(r1_block_q4_1), dequant_block_q4_1);
}
static float dot_q_q4_1(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK, sizeof(r1_block_q4_1), sizeof(r1_block_q8_0),
                        dot_block_q4_1);
}

/* ------------------------------------------------------------------ Q5_0 */

/* Five-bit value j of a Q5_0/Q5_1 block, 0..31: low nibble as in Q4_0,
 * fifth bit from bit j of qh. */
static inline int q5_value(const uint8_t *qs, uint32_t qh, int j) {
    int low = j < R1_QK / 2 ? (qs[j] & 0x0f) : (qs[j - R1_QK / 2] >> 4);
    return low | (int)((qh >> j) & 1u) << 4;
}

/* Packs 32 five-bit values (0..31) into a block's qs and qh. */
static void q5_pack(const int q[R1_QK], uint8_t qs[R1_QK / 2], uint8_t qh[4]) {
    uint32_t high = 0;
    for (int j = 0; j < R1_QK / 2; j++)
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + R1_QK / 2] & 0x0f) << 4));
    for (int j = 0; j < R1_QK; j++) high |= (uint32_t)((q[j] >> 4) & 1) << j;
    store_qh32(qh, high);
}

static void dequant_block_q5_0(const void *block, float *y) {
    const r1_block_q5_0 *b = block;
    const float d = r1_half_to_f32(b->d);
    const uint32_t qh = load_qh32(b->qh);
    for (int j = 0; j < R1_QK; j++) y[j] = (float)(q5_value(b->qs, qh, j) - 16) * d;
}

static void quant_block_q5_0(const float *x, void *block) {
    r1_block_q5_0 *b = block;
    const float d = signed_abs_max(x, R1_QK) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[R1_QK];
    for (int j = 0; j < R1_QK; j++) {
        int v = (int)(x[j] * id + 16.5f);
        q[j] = v < 31 ? v : 31;
    }
    b->d = r1_f32_to_half(d);
    q5_pack(q, b->qs, b->qh);
}

static float dot_block_q5_0(const void *wblock, const void *xblock) {
    const r1_block_q5_0 *w = wblock;
    const r1_block_q8_0 *x = xblock;
    const uint32_t qh = load_qh32(w->qh);
    int sum = 0;
    for (int j = 0; j < R1_QK; j++) sum += (q5_value(w->qs, qh, j) - 16) * x->qs[j];
    return (float)sum * (r1_half_to_f32(w->d) * r1_half_to_f32(x->d));
}

static void dequantize_q5_0(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q5_0), dequant_block_q5_0);
}
static void quantize_q5_0(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q5_0), quant_block_q5_0);
}
static float dot_f32_q5_0(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK, sizeof(r1_block_q5_0), dequant_block_q5_0);
}
static float dot_q_q5_0(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK, sizeof(r1_block_q5_0), sizeof(r1_block_q8_0),
                        dot_block_q5_0);
}

/* ------------------------------------------------------------------ Q5_1 */

static void dequant_block_q5_1(const void *block, float *y) {
    const r1_block_q5_1 *b = block;
    const float d = r1_half_to_f32(b->d);
    const float m = r1_half_to_f32(b->m);
    const uint32_t qh = load_qh32(b->qh);
    for (int j = 0; j < R1_QK; j++) y[j] = (float)q5_value(b->qs, qh, j) * d + m;
}

static void quant_block_q5_1(const float *x, void *block) {
    r1_block_q5_1 *b = block;
    float min, max;
    min_max(x, R1_QK, &min, &max);
    const float d = (max - min) / 31.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int q[R1_QK];
    for (int j = 0; j < R1_QK; j++) {
        int v = (int)((x[j] - min) * id + 0.5f);
        q[j] = v < 31 ? v : 31;
    }
    b->d = r1_f32_to_half(d);
    b->m = r1_f32_to_half(min);
    q5_pack(q, b->qs, b->qh);
}

static float dot_block_q5_1(const void *wblock, const void *xblock) {
    const r1_block_q5_1 *w = wblock;
    const r1_block_q8_0 *x = xblock;
    const uint32_t qh = load_qh32(w->qh);
    int sum = 0;
    for (int j = 0; j < R1_QK; j++) sum += q5_value(w->qs, qh, j) * x->qs[j];
    const float dx = r1_half_to_f32(x->d);
    return (float)sum * (r1_half_to_f32(w->d) * dx) + r1_half_to_f32(w->m) * (dx * (float)q8_0_sum(x));
}

static void dequantize_q5_1(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q5_1), dequant_block_q5_1);
}
static void quantize_q5_1(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q5_1), quant_block_q5_1);
}
static float dot_f32_q5_1(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK, sizeof(r1_block_q5_1), dequant_block_q5_1);
}
static float dot_q_q5_1(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK, sizeof(r1_block_q5_1), sizeof(r1_block_q8_0),
                        dot_block_q5_1);
}

/* ------------------------------------------------------------------ Q8_0 */

static void dequant_block_q8_0(const void *block, float *y) {
    const r1_block_q8_0 *b = block;
    const float d = r1_half_to_f32(b->d);
    for (int j = 0; j < R1_QK; j++) y[j] = (float)b->qs[j] * d;
}

/* ggml's reference activation quantizer: d = amax/127, q = roundf(x/d)
 * (ties away from zero), with the unrounded d; d is stored as half. */
static void quant_block_q8_0(const float *x, void *block) {
    r1_block_q8_0 *b = block;
    float amax = 0.0f;
    for (int j = 0; j < R1_QK; j++)
        if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = r1_f32_to_half(d);
    for (int j = 0; j < R1_QK; j++) b->qs[j] = (int8_t)roundf(x[j] * id);
}

static float dot_block_q8_0(const void *wblock, const void *xblock) {
    const r1_block_q8_0 *w = wblock;
    const r1_block_q8_0 *x = xblock;
    int sum = 0;
    for (int j = 0; j < R1_QK; j++) sum += w->qs[j] * x->qs[j];
    return (float)sum * (r1_half_to_f32(w->d) * r1_half_to_f32(x->d));
}

static void dequantize_q8_0(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q8_0), dequant_block_q8_0);
}
static void quantize_q8_0(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK, sizeof(r1_block_q8_0), quant_block_q8_0);
}
static float dot_f32_q8_0(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK, sizeof(r1_block_q8_0), dequant_block_q8_0);
}
static float dot_q_q8_0(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK, sizeof(r1_block_q8_0), sizeof(r1_block_q8_0),
                        dot_block_q8_0);
}

/* ------------------------------------------------- Q4_K / Q5_K shared */

/* Scales of one Q4_K/Q5_K super-block chosen from each sub-block's range:
 * sub-block j spans [-min_j, -min_j + levels * scale_j] with min_j >= 0 (the
 * format subtracts the min, so the range must include 0). Scales and mins
 * are quantized to 6 bits against the super-scales d and dmin; then every
 * value is quantized against the scales as stored. */
typedef struct {
    float d, dmin;   /* super-scales, already rounded to half */
    int scale[8];    /* 6-bit sub-block scales */
    int min[8];      /* 6-bit sub-block mins */
} k4_scales;

static k4_scales k4_choose_scales(const float *x, int levels) {
    float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float lo, hi;
        min_max(x + 32 * j, 32, &lo, &hi);
        if (lo > 0.0f) lo = 0.0f;
        scale[j] = (hi - lo) / (float)levels;
        min[j] = -lo;
        if (scale[j] > max_scale) max_scale = scale[j];
        if (min[j] > max_min) max_min = min[j];
    }
    const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    k4_scales s;
    for (int j = 0; j < 8; j++) {
        s.scale[j] = clamp_int(round_half_even(inv_scale * scale[j]), 0, 63);
        s.min[j] = clamp_int(round_half_even(inv_min * min[j]), 0, 63);
    }
    s.d = r1_half_to_f32(r1_f32_to_half(max_scale / 63.0f));
    s.dmin = r1_half_to_f32(r1_f32_to_half(max_min / 63.0f));
    return s;
}

/* Quantizes the 32 values of sub-block j to 0..levels against the stored scales. */
static void k4_quantize_sub_block(const float *x, const k4_scales *s, int j, int levels, int *q) {
    const float d = s->d * (float)s->scale[j];
    const float m = s->dmin * (float)s->min[j];
    for (int l = 0; l < 32; l++)
        q[l] = d != 0.0f ? clamp_int(round_half_even((x[l] + m) / d), 0, levels) : 0;
}

/* ------------------------------------------------------------------ Q4_K */

/* Values 64c .. 64c+31 are the low nibbles of qs[32c .. 32c+31], values
 * 64c+32 .. 64c+63 the high nibbles; sub-block j has scale/min j. */
static void dequant_block_q4_k(const void *block, float *y) {
    const r1_block_q4_k *b = block;
    const float d = r1_half_to_f32(b->d);
    const float dmin = r1_half_to_f32(b->dmin);
    for (int c = 0; c < 4; c++) {
        const uint8_t *q = b->qs + 32 * c;
        int sc, m;
        k4_scale_min(2 * c, b->scales, &sc, &m);
        const float d1 = d * (float)sc, m1 = dmin * (float)m;
        k4_scale_min(2 * c + 1, b->scales, &sc, &m);
        const float d2 = d * (float)sc, m2 = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[64 * c + l] = d1 * (float)(q[l] & 0x0f) - m1;
        for (int l = 0; l < 32; l++) y[64 * c + 32 + l] = d2 * (float)(q[l] >> 4) - m2;
    }
}

static void quant_block_q4_k(const float *x, void *block) {
    r1_block_q4_k *b = block;
    const k4_scales s = k4_choose_scales(x, 15);
    int q[R1_QK_K];
    for (int j = 0; j < 8; j++) k4_quantize_sub_block(x + 32 * j, &s, j, 15, q + 32 * j);
    b->d = r1_f32_to_half(s.d);
    b->dmin = r1_f32_to_half(s.dmin);
    k4_pack_scales_mins(s.scale, s.min, b->scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
}

/* sum of (d*sc_j*q - dmin*m_j) * dx*qx = d*dx * sum_j sc_j * sum(q*qx)
 *                                       - dmin*dx * sum_j m_j * sum(qx);
 * the activation sums come from the Q8_K bsums (two per sub-block). */
static float dot_block_q4_k(const void *wblock, const void *xblock) {
    const r1_block_q4_k *w = wblock;
    const r1_block_q8_k *x = xblock;
    int sum_q = 0, sum_min = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(j, w->scales, &sc, &m);
        const uint8_t *q = w->qs + 32 * (j / 2);
        const int shift = (j % 2) * 4;
        const int8_t *a = x->qs + 32 * j;
        int sub = 0;
        for (int l = 0; l < 32; l++) sub += ((q[l] >> shift) & 0x0f) * a[l];
        sum_q += sc * sub;
        sum_min += m * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return r1_half_to_f32(w->d) * x->d * (float)sum_q - r1_half_to_f32(w->dmin) * x->d * (float)sum_min;
}

static void dequantize_q4_k(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q4_k), dequant_block_q4_k);
}
static void quantize_q4_k(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q4_k), quant_block_q4_k);
}
static float dot_f32_q4_k(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK_K, sizeof(r1_block_q4_k), dequant_block_q4_k);
}
static float dot_q_q4_k(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK_K, sizeof(r1_block_q4_k), sizeof(r1_block_q8_k),
                        dot_block_q4_k);
}

/* ------------------------------------------------------------------ Q5_K */

/* Five-bit value v (0..255) of a Q5_K block: the nibble as in Q4_K, the
 * fifth bit in qh[v % 32], bit number 2*(v/64) + (v/32)%2 — i.e. sub-block
 * j = v/32 uses bit j of qh[l]. */
static inline int q5_k_value(const r1_block_q5_k *b, int v) {
    const int j = v / 32, l = v % 32;
    const int nibble = (b->qs[32 * (j / 2) + l] >> ((j % 2) * 4)) & 0x0f;
    return nibble | ((b->qh[l] >> j) & 1) << 4;
}

static void dequant_block_q5_k(const void *block, float *y) {
    const r1_block_q5_k *b = block;
    const float d = r1_half_to_f32(b->d);
    const float dmin = r1_half_to_f32(b->dmin);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(j, b->scales, &sc, &m);
        const float dj = d * (float)sc, mj = dmin * (float)m;
        for (int l = 0; l < 32; l++) y[32 * j + l] = dj * (float)q5_k_value(b, 32 * j + l) - mj;
    }
}

static void quant_block_q5_k(const float *x, void *block) {
    r1_block_q5_k *b = block;
    const k4_scales s = k4_choose_scales(x, 31);
    int q[R1_QK_K];
    for (int j = 0; j < 8; j++) k4_quantize_sub_block(x + 32 * j, &s, j, 31, q + 32 * j);
    b->d = r1_f32_to_half(s.d);
    b->dmin = r1_f32_to_half(s.dmin);
    k4_pack_scales_mins(s.scale, s.min, b->scales);
    memset(b->qh, 0, sizeof b->qh);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 0x0f) | ((q[64 * c + 32 + l] & 0x0f) << 4));
    for (int v = 0; v < R1_QK_K; v++) b->qh[v % 32] |= (uint8_t)(((q[v] >> 4) & 1) << (v / 32));
}

static float dot_block_q5_k(const void *wblock, const void *xblock) {
    const r1_block_q5_k *w = wblock;
    const r1_block_q8_k *x = xblock;
    int sum_q = 0, sum_min = 0;
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(j, w->scales, &sc, &m);
        const int8_t *a = x->qs + 32 * j;
        int sub = 0;
        for (int l = 0; l < 32; l++) sub += q5_k_value(w, 32 * j + l) * a[l];
        sum_q += sc * sub;
        sum_min += m * (x->bsums[2 * j] + x->bsums[2 * j + 1]);
    }
    return r1_half_to_f32(w->d) * x->d * (float)sum_q - r1_half_to_f32(w->dmin) * x->d * (float)sum_min;
}

static void dequantize_q5_k(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q5_k), dequant_block_q5_k);
}
static void quantize_q5_k(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q5_k), quant_block_q5_k);
}
static float dot_f32_q5_k(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK_K, sizeof(r1_block_q5_k), dequant_block_q5_k);
}
static float dot_q_q5_k(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK_K, sizeof(r1_block_q5_k), sizeof(r1_block_q8_k),
                        dot_block_q5_k);
}

/* ------------------------------------------------------------------ Q6_K */

/* Six-bit value v (0..255) of a Q6_K block, minus 32. The block is two
 * halves of 128; in half h, with l = 0..31 and quarter k = 0..3, value
 * 128h + 32k + l has its low nibble in ql[64h + l + 32*(k%2)] (low nibble for
 * k < 2, high for k >= 2) and its top two bits at bit 2k of qh[32h + l]. */
static inline int q6_k_value(const r1_block_q6_k *b, int v) {
    const int h = v / 128, k = (v % 128) / 32, l = v % 32;
    const int nibble = (b->ql[64 * h + l + 32 * (k % 2)] >> (4 * (k / 2))) & 0x0f;
    const int top = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (nibble | top << 4) - 32;
}

/* Sixteen sub-blocks of 16 values; sub-block j = v/16 has scale scales[j].
 * The product is (d * scale) * q, the order ggml uses. */
static void dequant_block_q6_k(const void *block, float *y) {
    const r1_block_q6_k *b = block;
    const float d = r1_half_to_f32(b->d);
    for (int v = 0; v < R1_QK_K; v++) y[v] = d * (float)b->scales[v / 16] * (float)q6_k_value(b, v);
}

static void q6_k_pack(const int q[R1_QK_K], r1_block_q6_k *b) {
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    for (int v = 0; v < R1_QK_K; v++) {
        const int h = v / 128, k = (v % 128) / 32, l = v % 32;
        b->ql[64 * h + l + 32 * (k % 2)] |= (uint8_t)((q[v] & 0x0f) << (4 * (k / 2)));
        b->qh[32 * h + l] |= (uint8_t)(((q[v] >> 4) & 3) << (2 * k));
    }
}

/* Each sub-block's largest-magnitude value maps to -32; the sub-block
 * scales are quantized to int8 against the one of largest magnitude, which
 * maps to -128. */
static void quant_block_q6_k(const float *x, void *block) {
    r1_block_q6_k *b = block;
    float scale[16], max_scale = 0.0f;
    for (int j = 0; j < 16; j++) {
        scale[j] = signed_abs_max(x + 16 * j, 16) / -32.0f;
        if (fabsf(scale[j]) > fabsf(max_scale)) max_scale = scale[j];
    }
    int q[R1_QK_K];
    if (max_scale == 0.0f) {
        b->d = 0;
        memset(b->scales, 0, sizeof b->scales);
        for (int v = 0; v < R1_QK_K; v++) q[v] = 32;
        q6_k_pack(q, b);
        return;
    }
    const float iscale = -128.0f / max_scale;
    b->d = r1_f32_to_half(1.0f / iscale);
    const float d = r1_half_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        b->scales[j] = (int8_t)clamp_int(round_half_even(iscale * scale[j]), -128, 127);
        const float dj = d * (float)b->scales[j];
        for (int l = 0; l < 16; l++) {
            int v = dj != 0.0f ? round_half_even(x[16 * j + l] / dj) : 0;
            q[16 * j + l] = clamp_int(v, -32, 31) + 32;
        }
    }
    q6_k_pack(q, b);
}

static float dot_block_q6_k(const void *wblock, const void *xblock) {
    const r1_block_q6_k *w = wblock;
    const r1_block_q8_k *x = xblock;
    int sum = 0;
    for (int j = 0; j < 16; j++) {
        int sub = 0;
        for (int l = 0; l < 16; l++) sub += q6_k_value(w, 16 * j + l) * x->qs[16 * j + l];
        sum += w->scales[j] * sub;
    }
    return r1_half_to_f32(w->d) * x->d * (float)sum;
}

static void dequantize_q6_k(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q6_k), dequant_block_q6_k);
}
static void quantize_q6_k(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q6_k), quant_block_q6_k);
}
static float dot_f32_q6_k(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK_K, sizeof(r1_block_q6_k), dequant_block_q6_k);
}
static float dot_q_q6_k(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK_K, sizeof(r1_block_q6_k), sizeof(r1_block_q8_k),
                        dot_block_q6_k);
}

/* ------------------------------------------------------------------ Q8_K */

static void dequant_block_q8_k(const void *block, float *y) {
    const r1_block_q8_k *b = block;
    for (int j = 0; j < R1_QK_K; j++) y[j] = b->d * (float)b->qs[j];
}

/* ggml's reference: the largest-magnitude value (sign kept) maps to -127,
 * q = nearest (ties to even), clamped at 127; d = 1/iscale, kept as float.
 * bsums let the K-quant dots apply their sub-block mins without a pass over
 * qs. An all-zero block gets d = 0 and zero sums. */
static void quant_block_q8_k(const float *x, void *block) {
    r1_block_q8_k *b = block;
    const float max = signed_abs_max(x, R1_QK_K);
    if (max == 0.0f) {
        memset(b, 0, sizeof *b);
        return;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < R1_QK_K; j++) {
        int v = round_half_even(iscale * x[j]);
        b->qs[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int g = 0; g < R1_QK_K / 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += b->qs[16 * g + l];
        b->bsums[g] = (int16_t)sum;
    }
    b->d = 1.0f / iscale;
}

static float dot_block_q8_k(const void *wblock, const void *xblock) {
    const r1_block_q8_k *w = wblock;
    const r1_block_q8_k *x = xblock;
    int sum = 0;
    for (int j = 0; j < R1_QK_K; j++) sum += w->qs[j] * x->qs[j];
    return w->d * x->d * (float)sum;
}

static void dequantize_q8_k(const void *src, float *dst, int64_t n) {
    dequantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q8_k), dequant_block_q8_k);
}
static void quantize_q8_k(const float *src, void *dst, int64_t n) {
    quantize_blocks(src, dst, n, R1_QK_K, sizeof(r1_block_q8_k), quant_block_q8_k);
}
static float dot_f32_q8_k(const void *w, const float *x, int64_t n) {
    return dot_f32_blocks(w, x, n, R1_QK_K, sizeof(r1_block_q8_k), dequant_block_q8_k);
}
static float dot_q_q8_k(const void *w, const void *xq, int64_t n) {
    return dot_q_blocks(w, xq, n, R1_QK_K, sizeof(r1_block_q8_k), sizeof(r1_block_q8_k),
                        dot_block_q8_k);
}

/* ------------------------------------------------------------------ table */

const r1_kernel_set r1_kernels_scalar_table = {
    .isa = R1_ISA_SCALAR,
    .name = "scalar",
    .format = {
        [R1_TYPE_F32] = {.dequantize = dequantize_f32, .quantize = quantize_f32, .dot_f32 = dot_f32_f32, .gemm_f32 = gemm_f32_f32},
        [R1_TYPE_F16] = {.dequantize = dequantize_f16, .quantize = quantize_f16, .dot_f32 = dot_f32_f16, .gemm_f32 = gemm_f32_f16},
        [R1_TYPE_BF16] = {.dequantize = dequantize_bf16, .quantize = quantize_bf16, .dot_f32 = dot_f32_bf16, .gemm_f32 = gemm_f32_bf16},
        [R1_TYPE_Q4_0] = {.dequantize = dequantize_q4_0, .quantize = quantize_q4_0, .dot_f32 = dot_f32_q4_0, .dot_q = dot_q_q4_0},
        [R1_TYPE_Q4_1] = {.dequantize = dequantize_q4_1, .quantize = quantize_q4_1, .dot_f32 = dot_f32_q4_1, .dot_q = dot_q_q4_1},
        [R1_TYPE_Q5_0] = {.dequantize = dequantize_q5_0, .quantize = quantize_q5_0, .dot_f32 = dot_f32_q5_0, .dot_q = dot_q_q5_0},
        [R1_TYPE_Q5_1] = {.dequantize = dequantize_q5_1, .quantize = quantize_q5_1, .dot_f32 = dot_f32_q5_1, .dot_q = dot_q_q5_1},
        [R1_TYPE_Q8_0] = {.dequantize = dequantize_q8_0, .quantize = quantize_q8_0, .dot_f32 = dot_f32_q8_0, .dot_q = dot_q_q8_0},
        [R1_TYPE_Q4_K] = {.dequantize = dequantize_q4_k, .quantize = quantize_q4_k, .dot_f32 = dot_f32_q4_k, .dot_q = dot_q_q4_k},
        [R1_TYPE_Q5_K] = {.dequantize = dequantize_q5_k, .quantize = quantize_q5_k, .dot_f32 = dot_f32_q5_k, .dot_q = dot_q_q5_k},
        [R1_TYPE_Q6_K] = {.dequantize = dequantize_q6_k, .quantize = quantize_q6_k, .dot_f32 = dot_f32_q6_k, .dot_q = dot_q_q6_k},
        [R1_TYPE_Q8_K] = {.dequantize = dequantize_q8_k, .quantize = quantize_q8_k, .dot_f32 = dot_f32_q8_k, .dot_q = dot_q_q8_k},
    },
};
