/*
 * quant_avx2.c - the AVX2 + FMA + F16C kernels (see kernels.h).
 *
 * dot_q: integer dot products of weight blocks with 8-bit activations, the
 *   hot loop of decoding. Weights are widened to bytes in registers and
 *   multiplied with vpmaddubsw (unsigned x signed bytes -> int16 pairs), then
 *   vpmaddwd (-> int32); each block's int32 lanes are scaled once into float
 *   accumulators, and the lanes are summed only once per row.
 * dot_f32: weights dequantized in registers (the very floats dequantize
 *   gives) and multiplied into float accumulators.
 * quantize: the activation quantizers (Q8_0, Q8_K), byte-identical to the
 *   scalar reference.
 * dequantize: bit-identical to the scalar reference (products are rounded
 *   in the same order; no fused multiply-add on that path).
 *
 * Only compiled for x86-64 (with -mavx2 -mfma -mf16c); dispatch.c runs it
 * only after checking the CPU. Elsewhere the table is empty and every entry
 * falls back to the scalar kernel.
 */
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

/* The short fixed-count loops over 4 vectors (or 2 halves, 4 chunks) carry
 * "#pragma GCC unroll" (gcc and clang both honour it): gcc -O2 does not
 * unroll them by itself, and rolled up they keep their vectors on the
 * stack and build shuffle masks in general registers - half the speed. */

static inline float half_to_float(r1_half h) { return _cvtsh_ss(h); }

/* A half in all 8 lanes: fewer instructions than converting a scalar and
 * broadcasting it, which matters once per 32-value block. */
static inline __m256 broadcast_half(r1_half h) { return _mm256_cvtph_ps(_mm_set1_epi16((short)h)); }

/* dw * dx in all lanes, the product the scalar code rounds. */
static inline __m256 block_scale(r1_half dw, r1_half dx) {
    return _mm256_mul_ps(broadcast_half(dw), broadcast_half(dx));
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i load_256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i load_128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* 16 packed nibbles -> 32 bytes: byte j < 16 is the low nibble of qs[j],
 * byte j >= 16 the high nibble of qs[j - 16] (the Q4_0/Q4_1/Q5 layout). */
static inline __m256i nibbles_to_bytes(const uint8_t qs[16]) {
    /* the same 16 bytes in both lanes; the upper lane shifted down by 4 */
    const __m256i both = _mm256_broadcastsi128_si256(load_128(qs));
    const __m256i shifted = _mm256_srlv_epi32(both, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4));
    return _mm256_and_si256(shifted, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0xff where bit j of the little-endian word is set. */
static inline __m256i bits_to_byte_mask(const uint8_t qh[4]) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    /* byte j gets source byte j/8 (the shuffle works within each 128-bit lane) */
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202,
                           0x0303030303030303));
    const __m256i bit_of_byte = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_byte), bit_of_byte);
}

/* Sums of adjacent int16 pairs -> int32 lanes. */
static inline __m256i pairs_to_i32(__m256i v) { return _mm256_madd_epi16(v, _mm256_set1_epi16(1)); }

/* Dot of two rows of 32 signed bytes, as 8 int32 partial sums. vpmaddubsw
 * wants its first operand unsigned, so the signs move onto the second one:
 * |w| * (x * sign(w)). Exact unless both bytes are -128 (8-bit activations
 * from the quantizers never are). */
static inline __m256i dot_i8_signed(__m256i w, __m256i x) {
    const __m256i abs_w = _mm256_sign_epi8(w, w);
    const __m256i signed_x = _mm256_sign_epi8(x, w);
    return pairs_to_i32(_mm256_maddubs_epi16(abs_w, signed_x));
}

/* Dot of 32 unsigned bytes (< 128) with 32 signed bytes, as int32 partials. */
static inline __m256i dot_u8_i8(__m256i w, __m256i x) {
    return pairs_to_i32(_mm256_maddubs_epi16(w, x));
}

/* 32 signed bytes -> 4 x 8 floats, in order. */
static inline void bytes_to_floats(__m256i q, __m256 out[4]) {
    const __m128i lo = _mm256_castsi256_si128(q);
    const __m128i hi = _mm256_extracti128_si256(q, 1);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* y = q * d, rounded once per value as the scalar code does. */
static inline void scale_floats(__m256 v[4], float d) {
    const __m256 dv = _mm256_set1_ps(d);
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) v[k] = _mm256_mul_ps(v[k], dv);
}

/* y = q * d + m with two roundings (mul, then add), as the scalar code does. */
static inline void scale_add_floats(__m256 v[4], float d, float m) {
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) v[k] = _mm256_add_ps(_mm256_mul_ps(v[k], dv), mv);
}

/* y = d * q - m with two roundings, the Q4_K/Q5_K order. */
static inline void scale_sub_floats(__m256 v[4], float d, float m) {
    const __m256 dv = _mm256_set1_ps(d), mv = _mm256_set1_ps(m);
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) v[k] = _mm256_sub_ps(_mm256_mul_ps(dv, v[k]), mv);
}

static inline void store_floats(float *dst, const __m256 v[4]) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(dst + 8 * k, v[k]);
}

/* acc[k] += w[k] * x[8k .. 8k+7]: four independent chains. */
static inline void fma_floats(__m256 acc[4], const __m256 w[4], const float *x) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) acc[k] = _mm256_fmadd_ps(w[k], _mm256_loadu_ps(x + 8 * k), acc[k]);
}

static inline float hsum_4(const __m256 acc[4]) {
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

static inline void zero_4(__m256 acc[4]) {
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) acc[k] = _mm256_setzero_ps();
}

/* Q4_K / Q5_K: the eight 6-bit scales and mins out of their 12 packed bytes.
 * Words: w0 = scales 0-3 (+ top bits of scales 4-7), w1 = mins 0-3 (+ top
 * bits of mins 4-7), w2 = low nibbles of scales 4-7 and (high) mins 4-7.
 * Little-endian, as everywhere in this file. */
typedef struct {
    uint32_t scale_lo, scale_hi; /* bytes: scales 0-3, 4-7 */
    uint32_t min_lo, min_hi;     /* bytes: mins 0-3, 4-7 */
} k4_scales;

static inline k4_scales k4_unpack(const uint8_t packed[12]) {
    uint32_t w[3];
    memcpy(w, packed, 12);
    k4_scales s;
    s.scale_lo = w[0] & 0x3f3f3f3fu;
    s.min_lo = w[1] & 0x3f3f3f3fu;
    s.scale_hi = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 6) & 0x03030303u) << 4;
    s.min_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 6) & 0x03030303u) << 4;
    return s;
}

static inline int k4_scale(const k4_scales *s, int j) {
    return (int)(((j < 4 ? s->scale_lo : s->scale_hi) >> (8 * (j % 4))) & 0xff);
}

static inline int k4_min(const k4_scales *s, int j) {
    return (int)(((j < 4 ? s->min_lo : s->min_hi) >> (8 * (j % 4))) & 0xff);
}

/* ------------------------------------------------------- F32, F16, BF16 */

/* The plain float formats: 32 values per step into four accumulators,
 * 8 at a time after that, then one at a time for the last n % 8. */

static inline __m256 load_f16x8(const r1_half *h) {
    return _mm256_cvtph_ps(load_128(h));
}

static inline __m256 load_bf16x8(const uint16_t *h) {
    const __m256i wide = _mm256_cvtepu16_epi32(load_128(h));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static inline float bf16_to_float(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float dot_f32_f32(const void *w, const float *x, int64_t n) {
    const float *wf = w;
    __m256 acc[4];
    zero_4(acc);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        #pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(wf + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(wf + i), _mm256_loadu_ps(x + i), acc[0]);
    float total = hsum_4(acc);
    for (; i < n; i++) total += wf[i] * x[i];
    return total;
}

static float dot_f32_f16(const void *w, const float *x, int64_t n) {
    const r1_half *h = w;
    __m256 acc[4];
    zero_4(acc);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        #pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_f16x8(h + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_f16x8(h + i), _mm256_loadu_ps(x + i), acc[0]);
    float total = hsum_4(acc);
    for (; i < n; i++) total += half_to_float(h[i]) * x[i];
    return total;
}

static float dot_f32_bf16(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    __m256 acc[4];
    zero_4(acc);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        #pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(load_bf16x8(h + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), acc[k]);
    }
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load_bf16x8(h + i), _mm256_loadu_ps(x + i), acc[0]);
    float total = hsum_4(acc);
    for (; i < n; i++) total += bf16_to_float(h[i]) * x[i];
    return total;
}

/* Half -> float is exact, so hardware and scalar agree on every non-NaN value. */
static void dequantize_f16(const void *src, float *dst, int64_t n) {
    const r1_half *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(h + i));
    for (; i < n; i++) dst[i] = half_to_float(h[i]);
}

static void dequantize_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_bf16x8(h + i));
    for (; i < n; i++) dst[i] = bf16_to_float(h[i]);
}

/* ------------------------------------------------- 32-wide block floats */

/* Each writes the 32 floats of one block, exactly as the scalar dequantize. */

static inline void q4_0_floats(const r1_block_q4_0 *b, __m256 v[4]) {
    bytes_to_floats(_mm256_sub_epi8(nibbles_to_bytes(b->qs), _mm256_set1_epi8(8)), v);
    scale_floats(v, half_to_float(b->d));
}

static inline void q4_1_floats(const r1_block_q4_1 *b, __m256 v[4]) {
    bytes_to_floats(nibbles_to_bytes(b->qs), v);
    scale_add_floats(v, half_to_float(b->d), half_to_float(b->m));
}

/* Q5_0 values minus 16, as signed bytes: a set fifth bit adds 16 to q - 16,
 * giving the nibble itself; a clear one leaves nibble - 16 = nibble | 0xf0. */
static inline __m256i q5_0_signed_bytes(const r1_block_q5_0 *b) {
    const __m256i high_clear = _mm256_andnot_si256(bits_to_byte_mask(b->qh), _mm256_set1_epi8((char)0xf0));
    return _mm256_or_si256(nibbles_to_bytes(b->qs), high_clear);
}

/* Q5_1 values 0..31. */
static inline __m256i q5_1_bytes(const r1_block_q5_1 *b) {
    const __m256i high = _mm256_and_si256(bits_to_byte_mask(b->qh), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(nibbles_to_bytes(b->qs), high);
}

static inline void q5_0_floats(const r1_block_q5_0 *b, __m256 v[4]) {
    bytes_to_floats(q5_0_signed_bytes(b), v);
    scale_floats(v, half_to_float(b->d));
}

static inline void q5_1_floats(const r1_block_q5_1 *b, __m256 v[4]) {
    bytes_to_floats(q5_1_bytes(b), v);
    scale_add_floats(v, half_to_float(b->d), half_to_float(b->m));
}

static inline void q8_0_floats(const r1_block_q8_0 *b, __m256 v[4]) {
    bytes_to_floats(load_256(b->qs), v);
    scale_floats(v, half_to_float(b->d));
}

/* One dequantize and one dot_f32 per 32-wide format, all the same shape. */

static void dequantize_q4_0(const void *src, float *dst, int64_t n) {
    const r1_block_q4_0 *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q4_0_floats(b + i, v);
        store_floats(dst + i * R1_QK, v);
    }
}

static float dot_f32_q4_0(const void *w, const float *x, int64_t n) {
    const r1_block_q4_0 *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q4_0_floats(b + i, v);
        fma_floats(acc, v, x + i * R1_QK);
    }
    return hsum_4(acc);
}

static void dequantize_q4_1(const void *src, float *dst, int64_t n) {
    const r1_block_q4_1 *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q4_1_floats(b + i, v);
        store_floats(dst + i * R1_QK, v);
    }
}

static float dot_f32_q4_1(const void *w, const float *x, int64_t n) {
    const r1_block_q4_1 *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q4_1_floats(b + i, v);
        fma_floats(acc, v, x + i * R1_QK);
    }
    return hsum_4(acc);
}

static void dequantize_q5_0(const void *src, float *dst, int64_t n) {
    const r1_block_q5_0 *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q5_0_floats(b + i, v);
        store_floats(dst + i * R1_QK, v);
    }
}

static float dot_f32_q5_0(const void *w, const float *x, int64_t n) {
    const r1_block_q5_0 *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q5_0_floats(b + i, v);
        fma_floats(acc, v, x + i * R1_QK);
    }
    return hsum_4(acc);
}

static void dequantize_q5_1(const void *src, float *dst, int64_t n) {
    const r1_block_q5_1 *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q5_1_floats(b + i, v);
        store_floats(dst + i * R1_QK, v);
    }
}

static float dot_f32_q5_1(const void *w, const float *x, int64_t n) {
    const r1_block_q5_1 *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q5_1_floats(b + i, v);
        fma_floats(acc, v, x + i * R1_QK);
    }
    return hsum_4(acc);
}

static void dequantize_q8_0(const void *src, float *dst, int64_t n) {
    const r1_block_q8_0 *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q8_0_floats(b + i, v);
        store_floats(dst + i * R1_QK, v);
    }
}

static float dot_f32_q8_0(const void *w, const float *x, int64_t n) {
    const r1_block_q8_0 *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK; i++) {
        q8_0_floats(b + i, v);
        fma_floats(acc, v, x + i * R1_QK);
    }
    return hsum_4(acc);
}

/* ------------------------------------------------ 32-wide integer dots */

/* Each block's int32 lanes times its float scale (dw * dx, the scalar's
 * order) go into one of two accumulators, alternating, so consecutive
 * blocks do not wait on each other's multiply-add. */

static inline __m256 q4_0_block_dot(const r1_block_q4_0 *w, const r1_block_q8_0 *x, __m256 acc) {
    const __m256i q = _mm256_sub_epi8(nibbles_to_bytes(w->qs), _mm256_set1_epi8(8));
    const __m256i sum = dot_i8_signed(q, load_256(x->qs));
    return _mm256_fmadd_ps(block_scale(w->d, x->d), _mm256_cvtepi32_ps(sum), acc);
}

static float dot_q_q4_0(const void *w, const void *xq, int64_t n) {
    const r1_block_q4_0 *wb = w;
    const r1_block_q8_0 *xb = xq;
    const int64_t nb = n / R1_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q4_0_block_dot(wb + i, xb + i, acc0);
        acc1 = q4_0_block_dot(wb + i + 1, xb + i + 1, acc1);
    }
    if (i < nb) acc0 = q4_0_block_dot(wb + i, xb + i, acc0);
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* Sum of a Q8_0 block's 32 bytes, as int32 partials. */
static inline __m256i q8_0_byte_sum(__m256i x) { return dot_u8_i8(_mm256_set1_epi8(1), x); }

/* Weights with a min: w = q*d + m, so w.x = d*dx*sum(q*qx) + m*dx*sum(qx). */
static inline __m256 with_min_block_dot(__m256i q, r1_half d, r1_half m, const r1_block_q8_0 *x, __m256 acc) {
    const __m256i qx = load_256(x->qs);
    const __m256 dx = broadcast_half(x->d);
    acc = _mm256_fmadd_ps(_mm256_mul_ps(broadcast_half(d), dx), _mm256_cvtepi32_ps(dot_u8_i8(q, qx)), acc);
    return _mm256_fmadd_ps(_mm256_mul_ps(broadcast_half(m), dx), _mm256_cvtepi32_ps(q8_0_byte_sum(qx)), acc);
}

static inline __m256 q4_1_block_dot(const r1_block_q4_1 *w, const r1_block_q8_0 *x, __m256 acc) {
    return with_min_block_dot(nibbles_to_bytes(w->qs), w->d, w->m, x, acc);
}

static float dot_q_q4_1(const void *w, const void *xq, int64_t n) {
    const r1_block_q4_1 *wb = w;
    const r1_block_q8_0 *xb = xq;
    const int64_t nb = n / R1_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q4_1_block_dot(wb + i, xb + i, acc0);
        acc1 = q4_1_block_dot(wb + i + 1, xb + i + 1, acc1);
    }
    if (i < nb) acc0 = q4_1_block_dot(wb + i, xb + i, acc0);
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

static inline __m256 q5_0_block_dot(const r1_block_q5_0 *w, const r1_block_q8_0 *x, __m256 acc) {
    const __m256i sum = dot_i8_signed(q5_0_signed_bytes(w), load_256(x->qs));
    return _mm256_fmadd_ps(block_scale(w->d, x->d), _mm256_cvtepi32_ps(sum), acc);
}

static float dot_q_q5_0(const void *w, const void *xq, int64_t n) {
    const r1_block_q5_0 *wb = w;
    const r1_block_q8_0 *xb = xq;
    const int64_t nb = n / R1_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q5_0_block_dot(wb + i, xb + i, acc0);
        acc1 = q5_0_block_dot(wb + i + 1, xb + i + 1, acc1);
    }
    if (i < nb) acc0 = q5_0_block_dot(wb + i, xb + i, acc0);
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

static inline __m256 q5_1_block_dot(const r1_block_q5_1 *w, const r1_block_q8_0 *x, __m256 acc) {
    return with_min_block_dot(q5_1_bytes(w), w->d, w->m, x, acc);
}

static float dot_q_q5_1(const void *w, const void *xq, int64_t n) {
    const r1_block_q5_1 *wb = w;
    const r1_block_q8_0 *xb = xq;
    const int64_t nb = n / R1_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q5_1_block_dot(wb + i, xb + i, acc0);
        acc1 = q5_1_block_dot(wb + i + 1, xb + i + 1, acc1);
    }
    if (i < nb) acc0 = q5_1_block_dot(wb + i, xb + i, acc0);
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

static inline __m256 q8_0_block_dot(const r1_block_q8_0 *w, const r1_block_q8_0 *x, __m256 acc) {
    const __m256i sum = dot_i8_signed(load_256(w->qs), load_256(x->qs));
    return _mm256_fmadd_ps(block_scale(w->d, x->d), _mm256_cvtepi32_ps(sum), acc);
}

/*
 * Decoding streams each weight byte once; asking for the weights ~27 KB
 * ahead keeps the dot products from waiting on memory (as in
 * quant_avx512.c). A prefetch never faults, so running past the end of a
 * tensor is harmless.
 */
#define PREFETCH_AHEAD_BYTES (27 * 1024)

static inline void prefetch_weights(const void *p, int lines) {
    for (int i = 0; i < lines; i++) __builtin_prefetch((const char *)p + 64 * i, 0, 3); /* see simd_avx512.h */
}

static float dot_q_q8_0(const void *w, const void *xq, int64_t n) {
    const r1_block_q8_0 *wb = w;
    const r1_block_q8_0 *xb = xq;
    const int64_t nb = n / R1_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q8_0);
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        prefetch_weights(wb + i + ahead, 1);
        acc0 = q8_0_block_dot(wb + i, xb + i, acc0);
        acc1 = q8_0_block_dot(wb + i + 1, xb + i + 1, acc1);
    }
    if (i < nb) acc0 = q8_0_block_dot(wb + i, xb + i, acc0);
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

/* ----------------------------------------------------- Q8_0 quantizer */

/* roundf: nearest, ties away from zero (not an AVX rounding mode). The
 * fraction v - trunc(v) is exact, so comparing it with 0.5 decides exactly;
 * the usual floor(|v| + 0.5) would round 0.49999997 up. */
static inline __m256 round_half_away(__m256 v) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256 whole = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 abs_frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(v, whole));
    const __m256 away = _mm256_cmp_ps(abs_frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 signed_one = _mm256_or_ps(_mm256_and_ps(v, sign_bit), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(whole, _mm256_and_ps(away, signed_one));
}

/* 4 x 8 int32 (each within int8 range) -> 32 bytes in order. The packs work
 * per 128-bit lane and leave 4-byte groups in the order 0,2,4,6,1,3,5,7. */
static inline __m256i pack_i32_to_i8(const __m256i v[4]) {
    const __m256i p01 = _mm256_packs_epi32(v[0], v[1]);
    const __m256i p23 = _mm256_packs_epi32(v[2], v[3]);
    const __m256i bytes = _mm256_packs_epi16(p01, p23);
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* ggml's reference: d = amax/127 (stored as half), q = roundf(x * (1/d))
 * with the unrounded d. */
static void quantize_q8_0_block(const float *x, r1_block_q8_0 *b) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, v[k]));
    }
    const float d = hmax_ps(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    const __m256 idv = _mm256_set1_ps(id);
    __m256i q[4];
    #pragma GCC unroll 4
    for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(v[k], idv)));
    _mm256_storeu_si256((__m256i *)b->qs, pack_i32_to_i8(q));
}

static void quantize_q8_0(const float *src, void *dst, int64_t n) {
    r1_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / R1_QK; i++) quantize_q8_0_block(src + i * R1_QK, b + i);
}

/* ----------------------------------------------------- Q8_K quantizer */

/* The first value whose magnitude is amax, sign kept (the scalar keeps the
 * first of equal magnitudes). */
static float first_with_magnitude(const float *x, float amax) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    const __m256 target = _mm256_set1_ps(amax);
    for (int j = 0; j < R1_QK_K; j += 8) {
        const __m256 mag = _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j));
        const int hits = _mm256_movemask_ps(_mm256_cmp_ps(mag, target, _CMP_EQ_OQ));
        if (hits) return x[j + __builtin_ctz((unsigned)hits)];
    }
    return 0.0f;
}

/* The 16 sums of 16 bytes of a 256-byte block, given per 32-byte vector
 * the int32 sums of its 4-byte groups (lanes 0-3: first 16 bytes, 4-7:
 * last 16). Two rounds of hadd leave [b0 b2 b4 b6 | b1 b3 b5 b7] per four
 * vectors; packing and interleaving the halves puts them in order. */
static void store_group_sums(const __m256i group4[8], int16_t bsums[16]) {
    const __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(group4[0], group4[1]),
                                        _mm256_hadd_epi32(group4[2], group4[3]));
    const __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(group4[4], group4[5]),
                                        _mm256_hadd_epi32(group4[6], group4[7]));
    const __m256i packed = _mm256_packs_epi32(a, b); /* even sums | odd sums */
    const __m128i even = _mm256_castsi256_si128(packed);
    const __m128i odd = _mm256_extracti128_si256(packed, 1);
    _mm_storeu_si128((__m128i *)bsums, _mm_unpacklo_epi16(even, odd));
    _mm_storeu_si128((__m128i *)(bsums + 8), _mm_unpackhi_epi16(even, odd));
}

/* ggml's reference: the largest-magnitude value (sign kept) maps to -127;
 * q = nearest with ties to even (the default MXCSR mode, as the scalar's
 * magic-number rounding), clamped at 127 (by the saturating packs: only
 * -max can round up to 128); d = 1/iscale. */
static void quantize_q8_k_block(const float *x, r1_block_q8_k *b) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 amax = _mm256_setzero_ps();
    for (int j = 0; j < R1_QK_K; j += 8)
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j)));
    const float abs_max = hmax_ps(amax);
    if (abs_max == 0.0f) {
        memset(b, 0, sizeof *b);
        return;
    }
    const float iscale = -127.0f / first_with_magnitude(x, abs_max);
    const __m256 iscale_v = _mm256_set1_ps(iscale);
    __m256i group4[8];
    for (int c = 0; c < 8; c++) {
        __m256i q[4];
        #pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256 scaled = _mm256_mul_ps(iscale_v, _mm256_loadu_ps(x + 32 * c + 8 * k));
            q[k] = _mm256_cvtps_epi32(scaled);
        }
        const __m256i bytes = pack_i32_to_i8(q);
        _mm256_storeu_si256((__m256i *)(b->qs + 32 * c), bytes);
        group4[c] = q8_0_byte_sum(bytes);
    }
    store_group_sums(group4, b->bsums);
    b->d = 1.0f / iscale;
}

static void quantize_q8_k(const float *src, void *dst, int64_t n) {
    r1_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / R1_QK_K; i++) quantize_q8_k_block(src + i * R1_QK_K, b + i);
}

/* ----------------------------------------------------------- Q4_K, Q5_K */

/* Chunk c (0..3) of a Q4_K/Q5_K block holds values 64c..64c+63: the low
 * nibbles of 32 bytes are sub-block 2c, the high nibbles sub-block 2c+1.
 * Q5_K adds bit 2c (low) or 2c+1 (high) of qh[l] as the fifth bit. */

static inline void k4_chunk_bytes(const uint8_t qs[32], __m256i *lo, __m256i *hi) {
    const __m256i q = load_256(qs);
    const __m256i mask = _mm256_set1_epi8(0x0f);
    *lo = _mm256_and_si256(q, mask);
    *hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), mask);
}

/* Bit `bit` of each byte, moved to 0x10. The 16-bit shift is safe: after
 * it, bit 0 of each byte still comes from that same byte. */
static inline __m256i fifth_bit(__m256i qh, int bit) {
    const __m256i one = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(bit)), _mm256_set1_epi8(1));
    return _mm256_slli_epi16(one, 4);
}

static inline void q5_k_chunk_bytes(const r1_block_q5_k *b, __m256i qh, int c, __m256i *lo, __m256i *hi) {
    k4_chunk_bytes(b->qs + 32 * c, lo, hi);
    *lo = _mm256_or_si256(*lo, fifth_bit(qh, 2 * c));
    *hi = _mm256_or_si256(*hi, fifth_bit(qh, 2 * c + 1));
}

/* The 32 floats of sub-block j (0..7), exactly as the scalar dequantize:
 * d*scale_j and dmin*min_j rounded first, then (d*scale_j)*q - dmin*min_j. */
static inline void k4_sub_floats(__m256i q, const k4_scales *s, float d, float dmin, int j, __m256 v[4]) {
    bytes_to_floats(q, v);
    scale_sub_floats(v, d * (float)k4_scale(s, j), dmin * (float)k4_min(s, j));
}

/* Nibbles of sub-block j: low ones for even j, high ones for odd j. */
static inline __m256i k4_sub_nibbles(const uint8_t *qs, int j) {
    const __m256i q = load_256(qs + 32 * (j / 2));
    return _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(4 * (j % 2))), _mm256_set1_epi8(0x0f));
}

static inline void q4_k_sub_floats(const r1_block_q4_k *b, const k4_scales *s, int j, __m256 v[4]) {
    k4_sub_floats(k4_sub_nibbles(b->qs, j), s, half_to_float(b->d), half_to_float(b->dmin), j, v);
}

static inline void q5_k_sub_floats(const r1_block_q5_k *b, const k4_scales *s, int j, __m256 v[4]) {
    const __m256i q = _mm256_or_si256(k4_sub_nibbles(b->qs, j), fifth_bit(load_256(b->qh), j));
    k4_sub_floats(q, s, half_to_float(b->d), half_to_float(b->dmin), j, v);
}

static void dequantize_q4_k(const void *src, float *dst, int64_t n) {
    const r1_block_q4_k *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        const k4_scales s = k4_unpack(b[i].scales);
        for (int j = 0; j < 8; j++) {
            q4_k_sub_floats(b + i, &s, j, v);
            store_floats(dst + i * R1_QK_K + 32 * j, v);
        }
    }
}

static float dot_f32_q4_k(const void *w, const float *x, int64_t n) {
    const r1_block_q4_k *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        const k4_scales s = k4_unpack(b[i].scales);
        for (int j = 0; j < 8; j++) {
            q4_k_sub_floats(b + i, &s, j, v);
            fma_floats(acc, v, x + i * R1_QK_K + 32 * j);
        }
    }
    return hsum_4(acc);
}

static void dequantize_q5_k(const void *src, float *dst, int64_t n) {
    const r1_block_q5_k *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        const k4_scales s = k4_unpack(b[i].scales);
        for (int j = 0; j < 8; j++) {
            q5_k_sub_floats(b + i, &s, j, v);
            store_floats(dst + i * R1_QK_K + 32 * j, v);
        }
    }
}

static float dot_f32_q5_k(const void *w, const float *x, int64_t n) {
    const r1_block_q5_k *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        const k4_scales s = k4_unpack(b[i].scales);
        for (int j = 0; j < 8; j++) {
            q5_k_sub_floats(b + i, &s, j, v);
            fma_floats(acc, v, x + i * R1_QK_K + 32 * j);
        }
    }
    return hsum_4(acc);
}

/* The K-quant integer dots: per super-block, sum_j scale_j * (q . qx) in
 * int32 lanes; the mins need only the activation sums, which Q8_K carries
 * (bsums), so they cost one vpmaddwd per block. */

/* Eight 16-bit copies of scale j in every 128-bit lane, picked out of the
 * scales widened to int16 and repeated in both lanes. */
static inline __m256i broadcast_scale(__m256i scales16, int j) {
    return _mm256_shuffle_epi8(scales16, _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)));
}

/* scale_j * (q . qx) for one 32-value sub-block, as int32 lanes. */
static inline __m256i k4_sub_dot(__m256i q, const int8_t *qx, __m256i scales16, int j) {
    const __m256i prod16 = _mm256_maddubs_epi16(q, load_256(qx));
    return _mm256_madd_epi16(prod16, broadcast_scale(scales16, j));
}

/* sum_j min_j * (bsums[2j] + bsums[2j+1]), as int32 lanes. */
static inline __m256i k4_min_dot(const k4_scales *s, const int16_t bsums[16]) {
    const __m128i mins = _mm_set_epi32(0, 0, (int)s->min_hi, (int)s->min_lo);
    const __m256i mins_twice = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));
    return _mm256_madd_epi16(mins_twice, load_256(bsums));
}

static inline __m256i k4_scales16(const k4_scales *s) {
    const __m128i scales = _mm_set_epi32(0, 0, (int)s->scale_hi, (int)s->scale_lo);
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales));
}

static float dot_q_q4_k(const void *w, const void *xq, int64_t n) {
    const r1_block_q4_k *wb = w;
    const r1_block_q8_k *xb = xq;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q4_k);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        prefetch_weights(wb + i + ahead, 3);
        const k4_scales s = k4_unpack(wb[i].scales);
        const __m256i scales16 = k4_scales16(&s);
        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        #pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            k4_chunk_bytes(wb[i].qs + 32 * c, &lo, &hi);
            sum0 = _mm256_add_epi32(sum0, k4_sub_dot(lo, xb[i].qs + 64 * c, scales16, 2 * c));
            sum1 = _mm256_add_epi32(sum1, k4_sub_dot(hi, xb[i].qs + 64 * c + 32, scales16, 2 * c + 1));
        }
        const float dx = xb[i].d;
        const __m256i sum = _mm256_add_epi32(sum0, sum1);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(wb[i].d) * dx), _mm256_cvtepi32_ps(sum), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(wb[i].dmin) * dx),
                                  _mm256_cvtepi32_ps(k4_min_dot(&s, xb[i].bsums)), acc_min);
    }
    return hsum_ps(acc) - hsum_ps(acc_min);
}

static float dot_q_q5_k(const void *w, const void *xq, int64_t n) {
    const r1_block_q5_k *wb = w;
    const r1_block_q8_k *xb = xq;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        const k4_scales s = k4_unpack(wb[i].scales);
        const __m256i scales16 = k4_scales16(&s);
        const __m256i qh = load_256(wb[i].qh);
        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        #pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            __m256i lo, hi;
            q5_k_chunk_bytes(wb + i, qh, c, &lo, &hi);
            sum0 = _mm256_add_epi32(sum0, k4_sub_dot(lo, xb[i].qs + 64 * c, scales16, 2 * c));
            sum1 = _mm256_add_epi32(sum1, k4_sub_dot(hi, xb[i].qs + 64 * c + 32, scales16, 2 * c + 1));
        }
        const float dx = xb[i].d;
        const __m256i sum = _mm256_add_epi32(sum0, sum1);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(wb[i].d) * dx), _mm256_cvtepi32_ps(sum), acc);
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(wb[i].dmin) * dx),
                                  _mm256_cvtepi32_ps(k4_min_dot(&s, xb[i].bsums)), acc_min);
    }
    return hsum_ps(acc) - hsum_ps(acc_min);
}

/* ------------------------------------------------------------------ Q6_K */

/* Half h (0, 1) of a Q6_K block holds values 128h..128h+127 in four
 * quarters k of 32: the low nibble comes from ql[64h + 32(k%2) + l] (low
 * nibble for k < 2, high for k >= 2), the top two bits from bits 2k, 2k+1
 * of qh[32h + l]. Gives the unsigned 6-bit values 0..63 (the format's q + 32). */
static inline void q6_k_half_bytes(const r1_block_q6_k *b, int h, __m256i q[4]) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i ql0 = load_256(b->ql + 64 * h);
    const __m256i ql1 = load_256(b->ql + 64 * h + 32);
    const __m256i qh = load_256(b->qh + 32 * h);
    /* masks first, so the 16-bit shifts never carry bits across bytes */
    const __m256i top0 = _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4);
    const __m256i top1 = _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0c)), 2);
    const __m256i top2 = _mm256_and_si256(qh, _mm256_set1_epi8(0x30));
    const __m256i top3 = _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8((char)0xc0)), 2);
    q[0] = _mm256_or_si256(_mm256_and_si256(ql0, mask), top0);
    q[1] = _mm256_or_si256(_mm256_and_si256(ql1, mask), top1);
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask), top2);
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask), top3);
}

/* The 32 floats of quarter j (0..7; half j/4, quarter j%4 of that half),
 * sub-blocks 2j and 2j+1 of 16 values, each with an int8 scale; the float
 * is (d * scale) * (q - 32), the scalar's order. */
static inline void q6_k_quarter_floats(const r1_block_q6_k *b, int j, __m256 v[4]) {
    const int h = j / 4, k = j % 4;
    const __m256i ql = load_256(b->ql + 64 * h + 32 * (k % 2));
    const __m256i qh = load_256(b->qh + 32 * h);
    const __m256i low_shifted = _mm256_srl_epi16(ql, _mm_cvtsi32_si128(4 * (k / 2)));
    const __m256i low = _mm256_and_si256(low_shifted, _mm256_set1_epi8(0x0f));
    const __m256i top = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), _mm256_set1_epi8(0x03));
    const __m256i q = _mm256_or_si256(low, _mm256_slli_epi16(top, 4));
    bytes_to_floats(_mm256_sub_epi8(q, _mm256_set1_epi8(32)), v);
    const float d = half_to_float(b->d);
    const __m256 d0 = _mm256_set1_ps(d * (float)b->scales[2 * j]);
    const __m256 d1 = _mm256_set1_ps(d * (float)b->scales[2 * j + 1]);
    v[0] = _mm256_mul_ps(d0, v[0]);
    v[1] = _mm256_mul_ps(d0, v[1]);
    v[2] = _mm256_mul_ps(d1, v[2]);
    v[3] = _mm256_mul_ps(d1, v[3]);
}

static void dequantize_q6_k(const void *src, float *dst, int64_t n) {
    const r1_block_q6_k *b = src;
    __m256 v[4];
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        for (int j = 0; j < 8; j++) {
            q6_k_quarter_floats(b + i, j, v);
            store_floats(dst + i * R1_QK_K + 32 * j, v);
        }
    }
}

static float dot_f32_q6_k(const void *w, const float *x, int64_t n) {
    const r1_block_q6_k *b = w;
    __m256 acc[4], v[4];
    zero_4(acc);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        for (int j = 0; j < 8; j++) {
            q6_k_quarter_floats(b + i, j, v);
            fma_floats(acc, v, x + i * R1_QK_K + 32 * j);
        }
    }
    return hsum_4(acc);
}

/* Scales of sub-blocks j (lower 128-bit lane) and j+1 (upper), as int16. */
static inline __m256i q6_k_scale_pair(__m128i scales8, int j) {
    const __m128i pick = _mm_set_epi64x((long long)(0x0101010101010101ull * (unsigned)(j + 1)),
                                        (long long)(0x0101010101010101ull * (unsigned)j));
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, pick));
}

/* With unsigned q' = q + 32: sum scale_j * q . qx = sum scale_j * q' . qx
 * - 32 * sum scale_j * bsum_j. */
static float dot_q_q6_k(const void *w, const void *xq, int64_t n) {
    const r1_block_q6_k *wb = w;
    const r1_block_q8_k *xb = xq;
    __m256 acc = _mm256_setzero_ps();
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q6_k);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        prefetch_weights(wb + i + ahead, 4);
        const __m128i scales8 = load_128(wb[i].scales);
        const __m256i offset_sum = _mm256_madd_epi16(_mm256_cvtepi8_epi16(scales8), load_256(xb[i].bsums));
        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        #pragma GCC unroll 4
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6_k_half_bytes(wb + i, h, q);
            const int8_t *qx = xb[i].qs + 128 * h;
            #pragma GCC unroll 4
            for (int k = 0; k < 4; k += 2) {
                const __m256i p0 = _mm256_maddubs_epi16(q[k], load_256(qx + 32 * k));
                const __m256i p1 = _mm256_maddubs_epi16(q[k + 1], load_256(qx + 32 * k + 32));
                sum0 = _mm256_add_epi32(sum0, _mm256_madd_epi16(p0, q6_k_scale_pair(scales8, 8 * h + 2 * k)));
                sum1 = _mm256_add_epi32(sum1, _mm256_madd_epi16(p1, q6_k_scale_pair(scales8, 8 * h + 2 * k + 2)));
            }
        }
        const __m256i sum = _mm256_sub_epi32(_mm256_add_epi32(sum0, sum1), _mm256_slli_epi32(offset_sum, 5));
        const float d = half_to_float(wb[i].d) * xb[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sum), acc);
    }
    return hsum_ps(acc);
}

/* ------------------------------------------------------------------ table */

const r1_kernel_set r1_kernels_avx2_table = {
    .isa = R1_ISA_AVX2,
    .name = "avx2",
    .format = {
        [R1_TYPE_F32] = {.dot_f32 = dot_f32_f32},
        [R1_TYPE_F16] = {.dequantize = dequantize_f16, .dot_f32 = dot_f32_f16},
        [R1_TYPE_BF16] = {.dequantize = dequantize_bf16, .dot_f32 = dot_f32_bf16},
        [R1_TYPE_Q4_0] = {.dequantize = dequantize_q4_0, .dot_f32 = dot_f32_q4_0, .dot_q = dot_q_q4_0},
        [R1_TYPE_Q4_1] = {.dequantize = dequantize_q4_1, .dot_f32 = dot_f32_q4_1, .dot_q = dot_q_q4_1},
        [R1_TYPE_Q5_0] = {.dequantize = dequantize_q5_0, .dot_f32 = dot_f32_q5_0, .dot_q = dot_q_q5_0},
        [R1_TYPE_Q5_1] = {.dequantize = dequantize_q5_1, .dot_f32 = dot_f32_q5_1, .dot_q = dot_q_q5_1},
        [R1_TYPE_Q8_0] = {.dequantize = dequantize_q8_0, .quantize = quantize_q8_0, .dot_f32 = dot_f32_q8_0,
                          .dot_q = dot_q_q8_0},
        [R1_TYPE_Q4_K] = {.dequantize = dequantize_q4_k, .dot_f32 = dot_f32_q4_k, .dot_q = dot_q_q4_k},
        [R1_TYPE_Q5_K] = {.dequantize = dequantize_q5_k, .dot_f32 = dot_f32_q5_k, .dot_q = dot_q_q5_k},
        [R1_TYPE_Q6_K] = {.dequantize = dequantize_q6_k, .dot_f32 = dot_f32_q6_k, .dot_q = dot_q_q6_k},
        [R1_TYPE_Q8_K] = {.quantize = quantize_q8_k},
    },
};

#else /* not x86-64: no AVX2 kernels; dispatch never selects this set */

const r1_kernel_set r1_kernels_avx2_table = {
    .isa = R1_ISA_AVX2,
    .name = "avx2",
};

#endif
