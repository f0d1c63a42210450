/*
 * quant_avx512.c - the AVX-512 kernel set (F, BW, DQ, VL, VNNI, with F16C).
 *
 * dot_q, the decode hot path, runs on VNNI: a weight block is unpacked to
 * unsigned bytes u = q + offset (nibbles are unsigned already; signed bytes
 * get their sign bit flipped), dpbusd multiplies them with the signed 8-bit
 * activations four at a time, and the offset is taken back out through the
 * activations' sums (a second dpbusd for Q8_0 activations, the stored bsums
 * for Q8_K). The 32-wide formats put two blocks in one 512-bit register;
 * each block's sums stay in its own 8 lanes, so blocks are scaled lane-wise
 * and the only horizontal reduction is at the end of the row. The K-quants
 * scale their sub-block sums with dpwssd.
 *
 * The quantizers produce exactly the bytes of the scalar ones, and the
 * dequantizers exactly their floats (the same operations in the same order,
 * no fused multiply-add), NaN bits included. dot_f32 unpacks the weights to
 * floats in registers (Q4_1, Q5_0, Q5_1, Q8_K: through a small buffer).
 *
 * The code only runs after the run-time CPU check (dispatch.c). Off x86-64
 * the table is empty, so every kernel falls back to scalar.
 */
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include "tensor/fp16.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "tensor/simd_avx512.h"

/* ---------------------------------------------------------------- helpers */

/* Hardware conversion; exact, like r1_half_to_f32. */
static inline float half_to_f32(r1_half h) { return _cvtsh_ss(h); }

/* Mask of lanes 0 .. count-1 (count <= 16), for row tails. */
static inline __mmask16 first_lanes(int64_t count) { return (__mmask16)((1u << count) - 1); }

/* 32 bytes from a, then 32 bytes from b. */
static inline __m512i load_2x32_bytes(const void *a, const void *b) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)a);
    __m256i hi = _mm256_loadu_si256((const __m256i *)b);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Permute index: lanes 0..7 take lane a, lanes 8..15 lane b. */
static inline __m512i lane_pair_index(int a, int b) {
    return _mm512_inserti64x4(_mm512_set1_epi32(a), _mm256_set1_epi32(b), 1);
}

/* ------------------------------------------- dot_q: the 32-wide formats */

/*
 * The 16 nibble bytes of two blocks (Q4_0 .. Q5_1 layout) as 64 bytes in
 * value order: value j of block a in byte j, of block b in byte 32 + j.
 * Each block's bytes are loaded twice; the second copy gives the high
 * nibbles, which are values 16..31.
 */
static inline __m512i unpack_nibbles_pair(const uint8_t *qa, const uint8_t *qb) {
    __m256i a2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qa));
    __m256i b2 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qb));
    __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(a2), b2, 1);
    both = _mm512_mask_srli_epi16(both, 0xFF00FF00u, both, 4);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
}

/* Adds 16 to the bytes whose fifth bit is set (Q5 formats: bit j of qh is
 * the fifth bit of value j). */
static inline __m512i add_fifth_bits_pair(__m512i u, const uint8_t *qha, const uint8_t *qhb) {
    uint32_t ha, hb;
    memcpy(&ha, qha, 4);
    memcpy(&hb, qhb, 4);
    __mmask64 set = (__mmask64)ha | ((__mmask64)hb << 32);
    return _mm512_mask_add_epi8(u, set, u, _mm512_set1_epi8(16));
}

/* Per lane: sum of u*x - offset*x over its four bytes, i.e. the dot product
 * of the signed values q = u - offset with x. */
static inline __m512i dot_minus_offset(__m512i u, __m512i x, char offset) {
    __m512i zero = _mm512_setzero_si512();
    __m512i ux = _mm512_dpbusd_epi32(zero, u, x);
    __m512i ox = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(offset), x);
    return _mm512_sub_epi32(ux, ox);
}

/* Per lane: sum of x over its four bytes. */
static inline __m512i sum_bytes(__m512i x) {
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), x);
}

/*
 * Block scales. Every 32-wide format starts with its half d, and those with
 * a minimum (Q4_1, Q5_1) have the half m right after. Per pair of blocks the
 * products need d_w * d_x in the lanes of each block, and the activation
 * sums m_w * d_x.
 */
typedef struct {
    __m512 d, m;
} pair_scales;

/*
 * A half field at byte `field` of 4 consecutive blocks `stride` bytes apart,
 * in words 0..3: one word permute over the 128 bytes from p (every field
 * here lies in the first 104), converting 4 halves at once instead of one
 * by one. The loads are masked to the 4 words wanted, so they read nothing
 * past the blocks (and clang does not try to rebuild the blocks' other
 * loads out of them).
 */
static ALWAYS_INLINE __m128i halves_of_4_blocks(const uint8_t *p, int stride, int field) {
    short word[4];
    uint64_t wanted = 0; /* bit k: word k of the 64 words from p */
    for (int k = 0; k < 4; k++) {
        word[k] = (short)((k * stride + field) / 2);
        wanted |= 1ull << word[k];
    }
    __m512i index =
        _mm512_zextsi128_si512(_mm_setr_epi16(word[0], word[1], word[2], word[3], 0, 0, 0, 0));
    __m512i first = _mm512_maskz_loadu_epi16((__mmask32)wanted, p);
    if ((wanted >> 32) == 0) /* one source: clang would tie the unused second to any register */
        return _mm512_castsi512_si128(_mm512_permutexvar_epi16(index, first));
    __m512i second = _mm512_maskz_loadu_epi16((__mmask32)(wanted >> 32), p + 64);
    return _mm512_castsi512_si128(_mm512_permutex2var_epi16(first, index, second));
}

/* Scales of blocks i..i+3 as two pairs. */
static ALWAYS_INLINE void quad_scales(const uint8_t *w, int stride, bool has_min,
                                      const r1_block_q8_0 *x, pair_scales *first,
                                      pair_scales *second) {
    __m128i wd = halves_of_4_blocks(w, stride, 0);
    __m128i wm = has_min ? halves_of_4_blocks(w, stride, 2) : wd;
    __m128i xd = halves_of_4_blocks((const uint8_t *)x, (int)sizeof *x, 0);
    /* lanes 0..3: d_w * d_x, lanes 4..7: m_w * d_x */
    __m256 products = _mm256_mul_ps(_mm256_cvtph_ps(_mm_unpacklo_epi64(wd, wm)),
                                    _mm256_cvtph_ps(_mm_unpacklo_epi64(xd, xd)));
    __m512 all = _mm512_zextps256_ps512(products);
    first->d = _mm512_permutexvar_ps(lane_pair_index(0, 1), all);
    second->d = _mm512_permutexvar_ps(lane_pair_index(2, 3), all);
    first->m = has_min ? _mm512_permutexvar_ps(lane_pair_index(4, 5), all) : first->d;
    second->m = has_min ? _mm512_permutexvar_ps(lane_pair_index(6, 7), all) : second->d;
}

/* Scales of blocks ia and ib, one at a time (row tails). */
static inline pair_scales single_pair_scales(const uint8_t *w, int stride, const r1_block_q8_0 *x,
                                             int64_t ia, int64_t ib) {
    r1_half wda, wdb, wma, wmb;
    memcpy(&wda, w + ia * stride, 2);
    memcpy(&wdb, w + ib * stride, 2);
    memcpy(&wma, w + ia * stride + 2, 2); /* unused by formats without m */
    memcpy(&wmb, w + ib * stride + 2, 2);
    float dxa = half_to_f32(x[ia].d), dxb = half_to_f32(x[ib].d);
    pair_scales s;
    s.d = pair_of(half_to_f32(wda) * dxa, half_to_f32(wdb) * dxb);
    s.m = pair_of(half_to_f32(wma) * dxa, half_to_f32(wmb) * dxb);
    return s;
}

/*
 * One step of a 32-wide dot_q: blocks ia and ib of the weight row against
 * the same blocks of the activations, added to acc in the lanes selected
 * (all 16, or 0..7 when ia == ib is the odd last block).
 */
typedef __m512 (*pair_dot_fn)(const void *w, const r1_block_q8_0 *x, int64_t ia, int64_t ib,
                              pair_scales scales, __m512 acc, __mmask16 lanes);

static ALWAYS_INLINE float dot_q8_0_row(const void *w, const void *xq, int64_t n, int stride,
                                        bool has_min, pair_dot_fn pair_dot) {
    const uint8_t *wbytes = w;
    const r1_block_q8_0 *x = xq;
    int64_t nb = n / R1_QK;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    const int64_t ahead = PREFETCH_AHEAD_BYTES / stride;
    for (; i + 4 <= nb; i += 4) {
        pair_scales first, second;
        prefetch_lines(wbytes + (i + ahead) * stride, 2);
        quad_scales(wbytes + i * stride, stride, has_min, x + i, &first, &second);
        acc0 = pair_dot(w, x, i, i + 1, first, acc0, 0xFFFF);
        acc1 = pair_dot(w, x, i + 2, i + 3, second, acc1, 0xFFFF);
    }
    for (; i < nb; i += 2) {
        int64_t ib = i + 1 < nb ? i + 1 : i;
        pair_scales scales = single_pair_scales(wbytes, stride, x, i, ib);
        acc0 = pair_dot(w, x, i, ib, scales, acc0, ib > i ? 0xFFFF : 0x00FF);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* Weight blocks with x = q * d, q = u - offset. */
static inline __m512 scaled_pair(__m512i u, __m512i xq, char offset, pair_scales scales, __m512 acc,
                                 __mmask16 lanes) {
    __m512i sums = dot_minus_offset(u, xq, offset);
    return _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(sums), scales.d, acc, lanes);
}

/* Weight blocks with x = u * d + m: the m part needs the activation sums. */
static inline __m512 scaled_min_pair(__m512i u, __m512i xq, pair_scales scales, __m512 acc,
                                     __mmask16 lanes) {
    __m512i ux = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, xq);
    acc = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(ux), scales.d, acc, lanes);
    return _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(sum_bytes(xq)), scales.m, acc, lanes);
}

static ALWAYS_INLINE __m512 q4_0_pair_dot(const void *w, const r1_block_q8_0 *x, int64_t ia,
                                          int64_t ib, pair_scales scales, __m512 acc,
                                          __mmask16 lanes) {
    const r1_block_q4_0 *a = (const r1_block_q4_0 *)w + ia, *b = (const r1_block_q4_0 *)w + ib;
    __m512i u = unpack_nibbles_pair(a->qs, b->qs);
    return scaled_pair(u, load_2x32_bytes(x[ia].qs, x[ib].qs), 8, scales, acc, lanes);
}

static ALWAYS_INLINE __m512 q4_1_pair_dot(const void *w, const r1_block_q8_0 *x, int64_t ia,
                                          int64_t ib, pair_scales scales, __m512 acc,
                                          __mmask16 lanes) {
    const r1_block_q4_1 *a = (const r1_block_q4_1 *)w + ia, *b = (const r1_block_q4_1 *)w + ib;
    __m512i u = unpack_nibbles_pair(a->qs, b->qs);
    return scaled_min_pair(u, load_2x32_bytes(x[ia].qs, x[ib].qs), scales, acc, lanes);
}

static ALWAYS_INLINE __m512 q5_0_pair_dot(const void *w, const r1_block_q8_0 *x, int64_t ia,
                                          int64_t ib, pair_scales scales, __m512 acc,
                                          __mmask16 lanes) {
    const r1_block_q5_0 *a = (const r1_block_q5_0 *)w + ia, *b = (const r1_block_q5_0 *)w + ib;
    __m512i u = add_fifth_bits_pair(unpack_nibbles_pair(a->qs, b->qs), a->qh, b->qh);
    return scaled_pair(u, load_2x32_bytes(x[ia].qs, x[ib].qs), 16, scales, acc, lanes);
}

static ALWAYS_INLINE __m512 q5_1_pair_dot(const void *w, const r1_block_q8_0 *x, int64_t ia,
                                          int64_t ib, pair_scales scales, __m512 acc,
                                          __mmask16 lanes) {
    const r1_block_q5_1 *a = (const r1_block_q5_1 *)w + ia, *b = (const r1_block_q5_1 *)w + ib;
    __m512i u = add_fifth_bits_pair(unpack_nibbles_pair(a->qs, b->qs), a->qh, b->qh);
    return scaled_min_pair(u, load_2x32_bytes(x[ia].qs, x[ib].qs), scales, acc, lanes);
}

/* Signed weights: flipping the sign bit gives u = q + 128, exact for every
 * byte including -128. */
static float q4_0_dot_q(const void *w, const void *xq, int64_t n) {
    return dot_q8_0_row(w, xq, n, (int)sizeof(r1_block_q4_0), false, q4_0_pair_dot);
}
static float q4_1_dot_q(const void *w, const void *xq, int64_t n) {
    return dot_q8_0_row(w, xq, n, (int)sizeof(r1_block_q4_1), true, q4_1_pair_dot);
}
static float q5_0_dot_q(const void *w, const void *xq, int64_t n) {
    return dot_q8_0_row(w, xq, n, (int)sizeof(r1_block_q5_0), false, q5_0_pair_dot);
}
static float q5_1_dot_q(const void *w, const void *xq, int64_t n) {
    return dot_q8_0_row(w, xq, n, (int)sizeof(r1_block_q5_1), true, q5_1_pair_dot);
}
/* Q8_0 x Q8_0 has no AVX-512 dot product on purpose: decoding is bound by
 * memory, and the AVX2 kernel (two 256-bit multiply-adds per block, no
 * zero-point pass) was 7 % faster on Zen 4 with 1 and 2 threads
 * (r1 bench, 1.5B Q8_0, alternating runs); dispatch.c falls back to it. */

/* ------------------------------------------------- dot_q: the K-quants */

/* sum_j mins[j] * (bsums[2j] + bsums[2j+1]): the min part of a Q4_K/Q5_K
 * super-block, in 8 int32 lanes. The mins are bytes 8..15 of scales_mins. */
static inline __m256i mins_times_bsums(__m128i scales_mins, const int16_t bsums[16]) {
    /* each min twice, as int16: for bsums 2j and 2j + 1 */
    __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scales_mins, scales_mins));
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), mins16);
}

/*
 * Q4_K / Q5_K, 64 values of sub-blocks 2j and 2j+1: the low and high
 * nibbles of qs bytes 32j..32j+31, in the order of the activations when the
 * 32 bytes are loaded into both halves and the upper copy is shifted. qh
 * (Q5_K; NULL for Q4_K) holds the fifth bit of sub-block s in bit s of
 * byte l. Returns the per-lane dot products: sub-block 2j in lanes 0..7,
 * 2j+1 in lanes 8..15.
 */
static ALWAYS_INLINE __m512i q45_k_dot_pair(const uint8_t *qs, const uint8_t *qh, const int8_t *xqs,
                                            int j) {
    __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(qs + 32 * j)));
    q = _mm512_mask_srli_epi16(q, 0xFFFF0000u, q, 4);
    __m512i u = _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
    if (qh) {
        __m512i bits = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
        __m512i select = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * j))),
                                            _mm256_set1_epi8((char)(2 << (2 * j))), 1);
        u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(bits, select), u, _mm512_set1_epi8(16));
    }
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, _mm512_loadu_si512(xqs + 64 * j));
}

/* sum over sub-blocks 4h..4h+3 of scale * dot, added to acc. scale_bytes:
 * the 8 scales in bytes 0..7 of every 128-bit lane. */
static ALWAYS_INLINE __m512i q45_k_half(const uint8_t *qs, const uint8_t *qh, const int8_t *xqs,
                                        int h, __m512i scale_bytes, __m512i acc) {
    __m512i dot_a = q45_k_dot_pair(qs, qh, xqs, 2 * h);     /* sub-blocks 4h, 4h+1 */
    __m512i dot_b = q45_k_dot_pair(qs, qh, xqs, 2 * h + 1); /* 4h+2, 4h+3 */
    /* packed: lanes 0, 1 hold sub-blocks 4h, 4h+2; lanes 2, 3 hold 4h+1, 4h+3 */
    int s = 4 * h;
    __m512i scales16 = _mm512_shuffle_epi8(scale_bytes, byte_scale_index(s, s + 2, s + 1, s + 3));
    return add_scaled_dots(acc, dot_a, dot_b, scales16);
}

/* Adds d * dx * sum(scale * q * xq) to acc and dmin * dx * sum(min * bsum)
 * to acc_min; d and dmin are the two halves at the start of the block. */
static ALWAYS_INLINE void q45_k_superblock(const void *block, const uint8_t scales_packed[12],
                                           const uint8_t *qs, const uint8_t *qh,
                                           const r1_block_q8_k *x, __m512 *acc, __m256 *acc_min) {
    __m128i scales_mins = unpack_k_scales(scales_packed);
    __m512i scale_bytes = _mm512_broadcast_i32x4(scales_mins);
    __m512i sums = q45_k_half(qs, qh, x->qs, 0, scale_bytes, _mm512_setzero_si512());
    sums = q45_k_half(qs, qh, x->qs, 1, scale_bytes, sums);
    __m256i min_sums = mins_times_bsums(scales_mins, x->bsums);
    uint32_t d_dmin;
    memcpy(&d_dmin, block, 4);
    /* lane 0: d * dx, lane 1: dmin * dx */
    __m128 super = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)d_dmin)), _mm_set1_ps(x->d));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_broadcastss_ps(super), *acc);
    *acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(min_sums),
                               _mm256_broadcastss_ps(_mm_movehdup_ps(super)), *acc_min);
}

static float q4_k_dot_q(const void *w, const void *xq, int64_t n) {
    const r1_block_q4_k *wb = w;
    const r1_block_q8_k *xb = xq;
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q4_k);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        prefetch_lines(&wb[i + ahead], 3);
        q45_k_superblock(&wb[i], wb[i].scales, wb[i].qs, NULL, &xb[i], &acc, &acc_min);
    }
    return _mm512_reduce_add_ps(acc) - hsum256(acc_min);
}

static float q5_k_dot_q(const void *w, const void *xq, int64_t n) {
    const r1_block_q5_k *wb = w;
    const r1_block_q8_k *xb = xq;
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / R1_QK_K; i++)
        q45_k_superblock(&wb[i], wb[i].scales, wb[i].qs, wb[i].qh, &xb[i], &acc, &acc_min);
    return _mm512_reduce_add_ps(acc) - hsum256(acc_min);
}

/*
 * Q6_K: values 128c + 32k + l (chunk c, quarter k, l < 32) have low bits in
 * the low (k < 2) or high nibble of ql[64c + 32(k & 1) + l] and high bits at
 * bit 2k of qh[32c + l]; u = low | high << 4 is q + 32. One 64-byte load of
 * ql yields quarters 0,1 (low nibbles) and 2,3 (high nibbles), each run of
 * 64 values in order. The high bits are moved to bits 4..5 by 16-bit shifts
 * whose cross-byte spill lands outside the 0x30 mask. scales16: the int16
 * scales of the chunk's 8 sub-blocks (16 values each) in every 128-bit lane.
 */
static ALWAYS_INLINE __m512i q6_k_chunk(const r1_block_q6_k *w, const int8_t *xqs, int c,
                                        __m512i scales16, __m512i acc) {
    const __m512i nibble = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    __m512i ql = _mm512_loadu_si512(w->ql + 64 * c);
    __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(w->qh + 32 * c)));
    __m512i up_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    __m512i down_hi = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    __m512i high_lo = _mm512_sllv_epi16(qh, up_lo);
    __m512i high_hi = _mm512_srlv_epi16(qh, down_hi);
    /* 0xEA: (a & b) | c */
    __m512i u_lo = _mm512_ternarylogic_epi32(high_lo, bits45, _mm512_and_si512(ql, nibble), 0xEA);
    __m512i u_hi = _mm512_ternarylogic_epi32(
        high_hi, bits45, _mm512_and_si512(_mm512_srli_epi16(ql, 4), nibble), 0xEA);
    const int8_t *x = xqs + 128 * c;
    __m512i zero = _mm512_setzero_si512();
    /* 128-bit lane L: sub-block L of the chunk (lo) and L + 4 (hi) */
    __m512i dot_lo = _mm512_dpbusd_epi32(zero, u_lo, _mm512_loadu_si512(x));
    __m512i dot_hi = _mm512_dpbusd_epi32(zero, u_hi, _mm512_loadu_si512(x + 64));
    /* int16 word L four times, then word L + 4, in lane L */
    const __m512i index =
        _mm512_set_epi64(four_words_from(14, 15), four_words_from(6, 7), four_words_from(12, 13),
                         four_words_from(4, 5), four_words_from(10, 11), four_words_from(2, 3),
                         four_words_from(8, 9), four_words_from(0, 1));
    return add_scaled_dots(acc, dot_lo, dot_hi, _mm512_shuffle_epi8(scales16, index));
}

static float q6_k_dot_q(const void *w, const void *xq, int64_t n) {
    const r1_block_q6_k *wb = w;
    const r1_block_q8_k *xb = xq;
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_offset = _mm256_setzero_ps();
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q6_k);
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        prefetch_lines(&wb[i + ahead], 4);
        __m256i scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wb[i].scales));
        __m512i chunk0 = _mm512_broadcast_i32x4(_mm256_castsi256_si128(scales16));
        __m512i chunk1 = _mm512_broadcast_i32x4(_mm256_extracti128_si256(scales16, 1));
        __m512i sums = q6_k_chunk(&wb[i], xb[i].qs, 0, chunk0, _mm512_setzero_si512());
        sums = q6_k_chunk(&wb[i], xb[i].qs, 1, chunk1, sums);
        /* u = q + 32: take away 32 * sum(scale * bsum) */
        __m256i bsums = _mm256_loadu_si256((const __m256i *)xb[i].bsums);
        __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales16), 5);
        float d = half_to_f32(wb[i].d) * xb[i].d;
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_set1_ps(d), acc);
        acc_offset = _mm256_fmadd_ps(_mm256_cvtepi32_ps(offset), _mm256_set1_ps(d), acc_offset);
    }
    return _mm512_reduce_add_ps(acc) - hsum256(acc_offset);
}

/* Q8_K weights (signed): u = q + 128 by the sign bit; the 128 * sum(x)
 * comes from the activation bsums. */
static float q8_k_dot_q(const void *w, const void *xq, int64_t n) {
    const r1_block_q8_k *wb = w;
    const r1_block_q8_k *xb = xq;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        __m512i sums = _mm512_setzero_si512();
        for (int k = 0; k < R1_QK_K; k += 64) {
            __m512i u = _mm512_xor_si512(_mm512_loadu_si512(wb[i].qs + k), flip);
            sums = _mm512_dpbusd_epi32(sums, u, _mm512_loadu_si512(xb[i].qs + k));
        }
        /* 16 bsums into 16 lanes, times 128 */
        __m512i bsums = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)xb[i].bsums));
        sums = _mm512_sub_epi32(sums, _mm512_slli_epi32(bsums, 7));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_set1_ps(wb[i].d * xb[i].d), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* -------------------------------------------------------------- quantize */

/* roundf: to nearest, halves away from zero. |x| - trunc|x| is exact. */
static inline __m512i round_half_away(__m512 v) {
    __m512 mag = _mm512_abs_ps(v);
    __m512 whole = _mm512_roundscale_ps(mag, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(mag, whole), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    whole = _mm512_mask_add_ps(whole, up, whole, _mm512_set1_ps(1.0f));
    __m512i r = _mm512_cvttps_epi32(whole);
    __mmask16 negative = _mm512_movepi32_mask(_mm512_castps_si512(v));
    return _mm512_mask_sub_epi32(r, negative, _mm512_setzero_si512(), r);
}

/* Q8_0: d = amax / 127 stored as half, q = roundf(x / d) via x * (1/d). */
static void q8_0_quantize(const float *src, void *dst, int64_t n) {
    r1_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / R1_QK; b++, src += R1_QK) {
        __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
        /* max_ps returns its second operand for NaN: NaNs are passed over, as
         * the scalar `fabsf(x) > amax` does */
        __m512 amax16 = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps());
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v1), amax16));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = r1_f32_to_half(d);
        __m512 vid = _mm512_set1_ps(id);
        __m128i q0 = _mm512_cvtepi32_epi8(round_half_away(_mm512_mul_ps(v0, vid)));
        __m128i q1 = _mm512_cvtepi32_epi8(round_half_away(_mm512_mul_ps(v1, vid)));
        _mm_storeu_si128((__m128i *)y[b].qs, q0);
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), q1);
    }
}

/* The first of the values with the largest magnitude (0 if all are zero).
 * NaNs are passed over, as the scalar `fabsf(x) > amax` does. */
static float largest_magnitude(const float *x, int count) {
    __m512 amax = _mm512_setzero_ps();
    for (int i = 0; i < count; i += 16) /* max_ps returns its second operand for NaN */
        amax = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), amax);
    float top = _mm512_reduce_max_ps(amax);
    if (top == 0.0f) return 0.0f;
    __m512 vtop = _mm512_set1_ps(top);
    for (int i = 0; i < count; i += 16) {
        __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + i)), vtop, _CMP_EQ_OQ);
        if (hit) return x[i + __builtin_ctz(hit)];
    }
    return 0.0f;
}

/* Q8_K: iscale = -127 / max (max: the signed value of largest magnitude),
 * q = min(127, nearest-even(x * iscale)), d = 1 / iscale, bsums of 16. */
static void q8_k_quantize(const float *src, void *dst, int64_t n) {
    r1_block_q8_k *y = dst;
    for (int64_t b = 0; b < n / R1_QK_K; b++, src += R1_QK_K) {
        float max = largest_magnitude(src, R1_QK_K);
        if (max == 0.0f) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        float iscale = -127.0f / max;
        __m512 vscale = _mm512_set1_ps(iscale);
        for (int g = 0; g < R1_QK_K / 16; g++) {
            __m512 v = _mm512_mul_ps(_mm512_loadu_ps(src + 16 * g), vscale);
            __m512i q = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(y[b].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            y[b].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------ dequantize */

/* 16 halves to floats. The hardware quiets signalling NaNs; the scalar
 * conversion keeps every NaN's bits, so NaN lanes (rare) are rebuilt. */
static inline __m512 f16_to_f32(__m256i h) {
    __m512 f = _mm512_cvtph_ps(h);
    __m256i magnitude = _mm256_and_si256(h, _mm256_set1_epi16(0x7fff));
    __mmask16 nan = _mm256_cmpgt_epi16_mask(magnitude, _mm256_set1_epi16(0x7c00));
    if (nan) {
        __m512i h32 = _mm512_cvtepu16_epi32(h);
        __m512i sign = _mm512_slli_epi32(_mm512_and_si512(h32, _mm512_set1_epi32(0x8000)), 16);
        __m512i mant = _mm512_slli_epi32(_mm512_and_si512(h32, _mm512_set1_epi32(0x3ff)), 13);
        __m512i bits = _mm512_or_si512(_mm512_or_si512(sign, mant), _mm512_set1_epi32(0x7f800000));
        f = _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(bits));
    }
    return f;
}

/* 16 floats to halves, nearest even. The hardware keeps NaN payloads; the
 * scalar conversion makes every NaN sign | 0x7e00. */
static inline __m256i f32_to_f16(__m512 v) {
    __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    if (nan) {
        __m256i top = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
        __m256i quiet = _mm256_or_si256(_mm256_and_si256(top, _mm256_set1_epi16((short)0x8000)),
                                        _mm256_set1_epi16(0x7e00));
        h = _mm256_mask_mov_epi16(h, nan, quiet);
    }
    return h;
}

/* 16 floats to bf16, nearest even on the bits as r1_f32_to_bf16 does (the
 * bf16 conversion instruction would flush subnormals); NaNs are quieted. */
static inline __m256i f32_to_bf16(__m512 v) {
    __m512i x = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(x, _mm512_set1_epi32(0x7fff)), odd), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
}

static void f16_dequantize(const void *src, float *dst, int64_t n) {
    const r1_half *h = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, f16_to_f32(_mm256_loadu_si256((const __m256i *)(h + i))));
    if (i < n) {
        __mmask16 tail = first_lanes(n - i);
        _mm512_mask_storeu_ps(dst + i, tail, f16_to_f32(_mm256_maskz_loadu_epi16(tail, h + i)));
    }
}

static void f16_quantize(const float *src, void *dst, int64_t n) {
    r1_half *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(h + i), f32_to_f16(_mm512_loadu_ps(src + i)));
    if (i < n) {
        __mmask16 tail = first_lanes(n - i);
        _mm256_mask_storeu_epi16(h + i, tail, f32_to_f16(_mm512_maskz_loadu_ps(tail, src + i)));
    }
}

static void bf16_quantize(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(h + i), f32_to_bf16(_mm512_loadu_ps(src + i)));
    if (i < n) {
        __mmask16 tail = first_lanes(n - i);
        _mm256_mask_storeu_epi16(h + i, tail, f32_to_bf16(_mm512_maskz_loadu_ps(tail, src + i)));
    }
}

/* bf16 is the top half of a float. */
static inline __m512 bf16_to_f32(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static void bf16_dequantize(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, bf16_to_f32(_mm256_loadu_si256((const __m256i *)(h + i))));
    if (i < n) {
        __mmask16 tail = first_lanes(n - i);
        _mm512_mask_storeu_ps(dst + i, tail, bf16_to_f32(_mm256_maskz_loadu_epi16(tail, h + i)));
    }
}

/* 16 nibble bytes as 32 int32: low nibbles (values 0..15), high (16..31). */
static inline void nibbles_to_lanes(const uint8_t qs[16], __m512i *lo, __m512i *hi) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qs));
    *lo = _mm512_and_si512(v, _mm512_set1_epi32(0x0F));
    *hi = _mm512_srli_epi32(v, 4);
}

/* Fifth bits (bit j of qh -> value j) as 16 added to lanes. */
static inline void add_fifth_bits(const uint8_t qh[4], __m512i *lo, __m512i *hi) {
    uint32_t h;
    memcpy(&h, qh, 4);
    __m512i sixteen = _mm512_set1_epi32(16);
    *lo = _mm512_mask_add_epi32(*lo, (__mmask16)(h & 0xFFFF), *lo, sixteen);
    *hi = _mm512_mask_add_epi32(*hi, (__mmask16)(h >> 16), *hi, sixteen);
}

/* y = (float)q * d for 32 values of one block. */
static inline void store_scaled(float *y, __m512i lo, __m512i hi, float d) {
    __m512 vd = _mm512_set1_ps(d);
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), vd));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), vd));
}

/* y = (float)q * d + m for 32 values of one block. */
static inline void store_scaled_min(float *y, __m512i lo, __m512i hi, float d, float m) {
    __m512 vd = _mm512_set1_ps(d), vm = _mm512_set1_ps(m);
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), vd), vm));
    _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), vd), vm));
}

static void q4_0_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q4_0 *b = src;
    const __m512i eight = _mm512_set1_epi32(8);
    for (int64_t i = 0; i < n / R1_QK; i++, dst += R1_QK) {
        __m512i lo, hi;
        nibbles_to_lanes(b[i].qs, &lo, &hi);
        store_scaled(dst, _mm512_sub_epi32(lo, eight), _mm512_sub_epi32(hi, eight),
                     half_to_f32(b[i].d));
    }
}

static void q4_1_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / R1_QK; i++, dst += R1_QK) {
        __m512i lo, hi;
        nibbles_to_lanes(b[i].qs, &lo, &hi);
        store_scaled_min(dst, lo, hi, half_to_f32(b[i].d), half_to_f32(b[i].m));
    }
}

static void q5_0_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q5_0 *b = src;
    const __m512i sixteen = _mm512_set1_epi32(16);
    for (int64_t i = 0; i < n / R1_QK; i++, dst += R1_QK) {
        __m512i lo, hi;
        nibbles_to_lanes(b[i].qs, &lo, &hi);
        add_fifth_bits(b[i].qh, &lo, &hi);
        store_scaled(dst, _mm512_sub_epi32(lo, sixteen), _mm512_sub_epi32(hi, sixteen),
                     half_to_f32(b[i].d));
    }
}

static void q5_1_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / R1_QK; i++, dst += R1_QK) {
        __m512i lo, hi;
        nibbles_to_lanes(b[i].qs, &lo, &hi);
        add_fifth_bits(b[i].qh, &lo, &hi);
        store_scaled_min(dst, lo, hi, half_to_f32(b[i].d), half_to_f32(b[i].m));
    }
}

static void q8_0_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / R1_QK; i++, dst += R1_QK) {
        __m512i lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs));
        __m512i hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16)));
        store_scaled(dst, lo, hi, half_to_f32(b[i].d));
    }
}

static void q8_k_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q8_k *b = src;
    for (int64_t i = 0; i < n / R1_QK_K; i++) {
        __m512 d = _mm512_set1_ps(b[i].d);
        for (int k = 0; k < R1_QK_K; k += 16) {
            __m512i q = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + k)));
            _mm512_storeu_ps(dst + i * R1_QK_K + k, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q)));
        }
    }
}

/*
 * Sub-blocks 2c and 2c+1 of a Q4_K/Q5_K super-block as four vectors of 16
 * int32: q[0], q[1] are sub-block 2c (its values 0..15, 16..31: the low
 * nibbles of qs bytes 32c..32c+31), q[2], q[3] sub-block 2c+1 (the high
 * nibbles). qh (Q5_K; NULL for Q4_K) holds sub-block s's fifth bits in bit s.
 */
static ALWAYS_INLINE void q45_k_chunk_lanes(const uint8_t *qs, const uint8_t *qh, int c,
                                            __m512i q[4]) {
    const __m512i nibble = _mm512_set1_epi32(0x0F);
    __m512i a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qs + 32 * c)));
    __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qs + 32 * c + 16)));
    q[0] = _mm512_and_si512(a, nibble);
    q[1] = _mm512_and_si512(b, nibble);
    q[2] = _mm512_srli_epi32(a, 4);
    q[3] = _mm512_srli_epi32(b, 4);
    if (qh) {
        const __m512i sixteen = _mm512_set1_epi32(16);
        __m512i bits_a = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qh));
        __m512i bits_b = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(qh + 16)));
        __m512i even = _mm512_set1_epi32(1 << (2 * c)), odd = _mm512_set1_epi32(2 << (2 * c));
        q[0] = _mm512_mask_add_epi32(q[0], _mm512_test_epi32_mask(bits_a, even), q[0], sixteen);
        q[1] = _mm512_mask_add_epi32(q[1], _mm512_test_epi32_mask(bits_b, even), q[1], sixteen);
        q[2] = _mm512_mask_add_epi32(q[2], _mm512_test_epi32_mask(bits_a, odd), q[2], sixteen);
        q[3] = _mm512_mask_add_epi32(q[3], _mm512_test_epi32_mask(bits_b, odd), q[3], sixteen);
    }
}

/* The float scale and min of each Q4_K/Q5_K sub-block: d * scale_s and
 * dmin * min_s, d and dmin being the two halves at the start of the block. */
static inline void k_subblock_scales(const void *block, const uint8_t packed[12], float scale[8],
                                     float min[8]) {
    uint8_t scales_mins[16]; /* scales 0..7, mins 0..7 */
    _mm_storeu_si128((__m128i *)scales_mins, unpack_k_scales(packed));
    r1_half dh[2];
    memcpy(dh, block, sizeof dh);
    float d = half_to_f32(dh[0]), dmin = half_to_f32(dh[1]);
    for (int s = 0; s < 8; s++) {
        scale[s] = d * (float)scales_mins[s];
        min[s] = dmin * (float)scales_mins[8 + s];
    }
}

/* 16 values scale * q - min. */
static inline void k_store_values(float *y, __m512i q, float scale, float min) {
    __m512 scaled = _mm512_mul_ps(_mm512_set1_ps(scale), _mm512_cvtepi32_ps(q));
    _mm512_storeu_ps(y, _mm512_sub_ps(scaled, _mm512_set1_ps(min)));
}

/* Q4_K / Q5_K super-block: sub-block s gets (d * scale_s) * q - dmin * min_s. */
static ALWAYS_INLINE void q45_k_dequantize_superblock(const void *block, const uint8_t packed[12],
                                                      const uint8_t *qs, const uint8_t *qh,
                                                      float *y) {
    float scale[8], min[8];
    k_subblock_scales(block, packed, scale, min);
    for (int c = 0; c < 4; c++) {
        __m512i q[4];
        q45_k_chunk_lanes(qs, qh, c, q);
        k_store_values(y + 64 * c, q[0], scale[2 * c], min[2 * c]);
        k_store_values(y + 64 * c + 16, q[1], scale[2 * c], min[2 * c]);
        k_store_values(y + 64 * c + 32, q[2], scale[2 * c + 1], min[2 * c + 1]);
        k_store_values(y + 64 * c + 48, q[3], scale[2 * c + 1], min[2 * c + 1]);
    }
}

static void q4_k_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q4_k *b = src;
    for (int64_t i = 0; i < n / R1_QK_K; i++)
        q45_k_dequantize_superblock(&b[i], b[i].scales, b[i].qs, NULL, dst + i * R1_QK_K);
}

static void q5_k_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q5_k *b = src;
    for (int64_t i = 0; i < n / R1_QK_K; i++)
        q45_k_dequantize_superblock(&b[i], b[i].scales, b[i].qs, b[i].qh, dst + i * R1_QK_K);
}

/*
 * Q6_K: the values 128c + 32k + 16h .. + 15 for k = 0..3 (sub-blocks
 * 8c + 2k + h) as int32 q = u - 32 in q[k]; layout as in q6_k_chunk. The
 * 16 ql bytes at 32 * (k & 1) give quarters k and k + 2 (low, high nibble);
 * the 16 qh bytes give all four (bits 2k, 2k + 1), shifted to bits 4..5.
 * (Written out, not looped: gcc would keep looped arrays in memory.)
 */
static inline __m512i q6_k_combine(__m512i low, __m512i top) {
    /* 0xEA: (a & b) | c */
    __m512i u = _mm512_ternarylogic_epi32(top, _mm512_set1_epi32(0x30), low, 0xEA);
    return _mm512_sub_epi32(u, _mm512_set1_epi32(32));
}

static ALWAYS_INLINE void q6_k_quarter_lanes(const r1_block_q6_k *b, int c, int h, __m512i q[4]) {
    const uint8_t *ql = b->ql + 64 * c + 16 * h, *qh = b->qh + 32 * c + 16 * h;
    __m512i even = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)ql));
    __m512i odd = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(ql + 32)));
    __m512i high = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)qh));
    const __m512i nibble = _mm512_set1_epi32(0x0F);
    q[0] = q6_k_combine(_mm512_and_si512(even, nibble), _mm512_slli_epi32(high, 4));
    q[1] = q6_k_combine(_mm512_and_si512(odd, nibble), _mm512_slli_epi32(high, 2));
    q[2] = q6_k_combine(_mm512_srli_epi32(even, 4), high);
    q[3] = q6_k_combine(_mm512_srli_epi32(odd, 4), _mm512_srli_epi32(high, 2));
}

/* (d * scale[s]) * q for one 16-value sub-block s. */
static inline void q6_k_store_subblock(float *y, __m512i q, float d, int8_t scale) {
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_set1_ps(d * (float)scale), _mm512_cvtepi32_ps(q)));
}

/* Q6_K: value v = (d * scale[v / 16]) * q. */
static ALWAYS_INLINE void q6_k_dequantize_superblock(const r1_block_q6_k *b, float *y) {
    float d = half_to_f32(b->d);
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++) {
            __m512i q[4];
            q6_k_quarter_lanes(b, c, h, q);
            int v = 128 * c + 16 * h, s = v / 16; /* quarter k: v + 32k, s + 2k */
            q6_k_store_subblock(y + v, q[0], d, b->scales[s]);
            q6_k_store_subblock(y + v + 32, q[1], d, b->scales[s + 2]);
            q6_k_store_subblock(y + v + 64, q[2], d, b->scales[s + 4]);
            q6_k_store_subblock(y + v + 96, q[3], d, b->scales[s + 6]);
        }
}

static void q6_k_dequantize(const void *src, float *dst, int64_t n) {
    const r1_block_q6_k *b = src;
    for (int64_t i = 0; i < n / R1_QK_K; i++) q6_k_dequantize_superblock(&b[i], dst + i * R1_QK_K);
}

/* --------------------------------------------------------------- dot_f32 */

static float f32_dot_f32(const void *w, const float *x, int64_t n) {
    const float *a = w;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(x + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(x + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(x + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(x + i), acc0);
    if (i < n) {
        __mmask16 tail = first_lanes(n - i);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + i),
                               _mm512_maskz_loadu_ps(tail, x + i), acc1);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static float f16_dot_f32(const void *w, const float *x, int64_t n) {
    const r1_half *h = w;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i)));
        __m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i + 16)));
        acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 part = first_lanes(n - i < 16 ? n - i : 16);
        __m512 wv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(part, h + i));
        acc0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(part, x + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* bf16 weights are widened exactly; dpbf16 would round x to bf16 too. */
static float bf16_dot_f32(const void *w, const float *x, int64_t n) {
    const uint16_t *h = w;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 w0 = bf16_to_f32(_mm256_loadu_si256((const __m256i *)(h + i)));
        __m512 w1 = bf16_to_f32(_mm256_loadu_si256((const __m256i *)(h + i + 16)));
        acc0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + i), acc0);
        acc1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + i + 16), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 part = first_lanes(n - i < 16 ? n - i : 16);
        __m512 wv = bf16_to_f32(_mm256_maskz_loadu_epi16(part, h + i));
        acc0 = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(part, x + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* The hot 32-wide formats skip the buffer: per block, d * sum(q x). */
static inline __m512 block_dot_f32(__m512i q_lo, __m512i q_hi, const float *x, r1_half d,
                                   __m512 acc) {
    __m512 qx = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q_hi), _mm512_loadu_ps(x + 16),
                                _mm512_mul_ps(_mm512_cvtepi32_ps(q_lo), _mm512_loadu_ps(x)));
    return _mm512_fmadd_ps(qx, _mm512_set1_ps(half_to_f32(d)), acc);
}

static inline __m512 q4_0_block_dot_f32(const r1_block_q4_0 *b, const float *x, __m512 acc) {
    const __m512i eight = _mm512_set1_epi32(8);
    __m512i lo, hi;
    nibbles_to_lanes(b->qs, &lo, &hi);
    return block_dot_f32(_mm512_sub_epi32(lo, eight), _mm512_sub_epi32(hi, eight), x, b->d, acc);
}

static inline __m512 q8_0_block_dot_f32(const r1_block_q8_0 *b, const float *x, __m512 acc) {
    __m512i lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->qs));
    __m512i hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16)));
    return block_dot_f32(lo, hi, x, b->d, acc);
}

/* Consecutive blocks go to two accumulators. */
static float q4_0_dot_f32(const void *w, const float *x, int64_t n) {
    const r1_block_q4_0 *b = w;
    int64_t nb = n / R1_QK, i = 0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        acc0 = q4_0_block_dot_f32(&b[i], x + i * R1_QK, acc0);
        acc1 = q4_0_block_dot_f32(&b[i + 1], x + (i + 1) * R1_QK, acc1);
    }
    if (i < nb) acc0 = q4_0_block_dot_f32(&b[i], x + i * R1_QK, acc0);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static float q8_0_dot_f32(const void *w, const float *x, int64_t n) {
    const r1_block_q8_0 *b = w;
    int64_t nb = n / R1_QK, i = 0;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (; i + 2 <= nb; i += 2) {
        acc0 = q8_0_block_dot_f32(&b[i], x + i * R1_QK, acc0);
        acc1 = q8_0_block_dot_f32(&b[i + 1], x + (i + 1) * R1_QK, acc1);
    }
    if (i < nb) acc0 = q8_0_block_dot_f32(&b[i], x + i * R1_QK, acc0);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* One Q4_K/Q5_K sub-block (values q_lo, q_hi) . x: adds scale * sum(q x) to
 * acc_q and takes min * sum(x) from acc_m. */
static inline void k_subblock_dot_f32(__m512i q_lo, __m512i q_hi, const float *x, float scale,
                                      float min, __m512 *acc_q, __m512 *acc_m) {
    __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    __m512 qx =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(q_hi), x1, _mm512_mul_ps(_mm512_cvtepi32_ps(q_lo), x0));
    *acc_q = _mm512_fmadd_ps(qx, _mm512_set1_ps(scale), *acc_q);
    *acc_m = _mm512_fnmadd_ps(_mm512_add_ps(x0, x1), _mm512_set1_ps(min), *acc_m);
}

/* Even and odd sub-blocks, products and mins: four add chains. */
typedef struct {
    __m512 q_even, q_odd, m_even, m_odd;
} k_dot_sums;

/* Q4_K / Q5_K super-block . x without storing the values: per sub-block s,
 * (d * scale_s) * sum(q x) - (dmin * min_s) * sum(x). */
static ALWAYS_INLINE void q45_k_superblock_dot_f32(const void *block, const uint8_t packed[12],
                                                   const uint8_t *qs, const uint8_t *qh,
                                                   const float *x, k_dot_sums *sums) {
    float scale[8], min[8];
    k_subblock_scales(block, packed, scale, min);
    for (int c = 0; c < 4; c++) {
        __m512i q[4];
        q45_k_chunk_lanes(qs, qh, c, q);
        k_subblock_dot_f32(q[0], q[1], x + 64 * c, scale[2 * c], min[2 * c], &sums->q_even,
                           &sums->m_even);
        k_subblock_dot_f32(q[2], q[3], x + 64 * c + 32, scale[2 * c + 1], min[2 * c + 1],
                           &sums->q_odd, &sums->m_odd);
    }
}

static inline float k_dot_total(const k_dot_sums *sums) {
    __m512 q = _mm512_add_ps(sums->q_even, sums->q_odd);
    return _mm512_reduce_add_ps(_mm512_add_ps(q, _mm512_add_ps(sums->m_even, sums->m_odd)));
}

static float q4_k_dot_f32(const void *w, const float *x, int64_t n) {
    const r1_block_q4_k *b = w;
    k_dot_sums sums = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                       _mm512_setzero_ps()};
    for (int64_t i = 0; i < n / R1_QK_K; i++)
        q45_k_superblock_dot_f32(&b[i], b[i].scales, b[i].qs, NULL, x + i * R1_QK_K, &sums);
    return k_dot_total(&sums);
}

static float q5_k_dot_f32(const void *w, const float *x, int64_t n) {
    const r1_block_q5_k *b = w;
    k_dot_sums sums = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                       _mm512_setzero_ps()};
    for (int64_t i = 0; i < n / R1_QK_K; i++)
        q45_k_superblock_dot_f32(&b[i], b[i].scales, b[i].qs, b[i].qh, x + i * R1_QK_K, &sums);
    return k_dot_total(&sums);
}

/* (d * scale) * sum(q x) for one 16-value Q6_K sub-block, added to acc. */
static inline __m512 q6_k_subblock_dot_f32(__m512i q, const float *x, float d, int8_t scale,
                                           __m512 acc) {
    __m512 qx = _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_loadu_ps(x));
    return _mm512_fmadd_ps(qx, _mm512_set1_ps(d * (float)scale), acc);
}

/* The four sub-blocks 8c + h + 2k (k = 0..3) of a Q6_K super-block . x. */
static ALWAYS_INLINE __m512 q6_k_quarters_dot_f32(const r1_block_q6_k *b, int c, int h,
                                                  const float *x, __m512 acc) {
    __m512i q[4];
    q6_k_quarter_lanes(b, c, h, q);
    float d = half_to_f32(b->d);
    int v = 128 * c + 16 * h, s = v / 16;
    acc = q6_k_subblock_dot_f32(q[0], x + v, d, b->scales[s], acc);
    acc = q6_k_subblock_dot_f32(q[1], x + v + 32, d, b->scales[s + 2], acc);
    acc = q6_k_subblock_dot_f32(q[2], x + v + 64, d, b->scales[s + 4], acc);
    return q6_k_subblock_dot_f32(q[3], x + v + 96, d, b->scales[s + 6], acc);
}

/* Q6_K row . x, in four accumulators. */
static float q6_k_dot_f32(const void *w, const float *x, int64_t n) {
    const r1_block_q6_k *b = w;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / R1_QK_K; i++, x += R1_QK_K) {
        acc0 = q6_k_quarters_dot_f32(&b[i], 0, 0, x, acc0);
        acc1 = q6_k_quarters_dot_f32(&b[i], 0, 1, x, acc1);
        acc2 = q6_k_quarters_dot_f32(&b[i], 1, 0, x, acc2);
        acc3 = q6_k_quarters_dot_f32(&b[i], 1, 1, x, acc3);
    }
    return _mm512_reduce_add_ps(
        _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

/* Quantized weights: dequantize 256 values at a time (8 blocks of 32, or
 * one super-block) into a buffer that stays in L1, then multiply. */
enum { TILE = 256 };

static ALWAYS_INLINE float dot_f32_by_tiles(r1_dequantize_fn dequantize, int64_t block_size,
                                            size_t block_bytes, const void *w, const float *x,
                                            int64_t n) {
    _Alignas(64) float tile[TILE];
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t start = 0; start < n; start += TILE) {
        int64_t len = n - start < TILE ? n - start : TILE; /* a multiple of 32 */
        dequantize((const uint8_t *)w + (size_t)(start / block_size) * block_bytes, tile, len);
        for (int64_t i = 0; i < len; i += 32) {
            acc0 = _mm512_fmadd_ps(_mm512_load_ps(tile + i), _mm512_loadu_ps(x + start + i), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_load_ps(tile + i + 16),
                                   _mm512_loadu_ps(x + start + i + 16), acc1);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static float q4_1_dot_f32(const void *w, const float *x, int64_t n) {
    return dot_f32_by_tiles(q4_1_dequantize, R1_QK, sizeof(r1_block_q4_1), w, x, n);
}
static float q5_0_dot_f32(const void *w, const float *x, int64_t n) {
    return dot_f32_by_tiles(q5_0_dequantize, R1_QK, sizeof(r1_block_q5_0), w, x, n);
}
static float q5_1_dot_f32(const void *w, const float *x, int64_t n) {
    return dot_f32_by_tiles(q5_1_dequantize, R1_QK, sizeof(r1_block_q5_1), w, x, n);
}
static float q8_k_dot_f32(const void *w, const float *x, int64_t n) {
    return dot_f32_by_tiles(q8_k_dequantize, R1_QK_K, sizeof(r1_block_q8_k), w, x, n);
}

/* ----------------------------------------------------------------- table */

const r1_kernel_set r1_kernels_avx512_table = {
    .isa = R1_ISA_AVX512,
    .name = "avx512",
    .format = {
        [R1_TYPE_F32] = {.dot_f32 = f32_dot_f32},
        [R1_TYPE_F16] = {.dequantize = f16_dequantize, .quantize = f16_quantize,
                         .dot_f32 = f16_dot_f32},
        [R1_TYPE_BF16] = {.dequantize = bf16_dequantize, .quantize = bf16_quantize,
                          .dot_f32 = bf16_dot_f32},
        [R1_TYPE_Q4_0] = {.dequantize = q4_0_dequantize, .dot_f32 = q4_0_dot_f32,
                          .dot_q = q4_0_dot_q},
        [R1_TYPE_Q4_1] = {.dequantize = q4_1_dequantize, .dot_f32 = q4_1_dot_f32,
                          .dot_q = q4_1_dot_q},
        [R1_TYPE_Q5_0] = {.dequantize = q5_0_dequantize, .dot_f32 = q5_0_dot_f32,
                          .dot_q = q5_0_dot_q},
        [R1_TYPE_Q5_1] = {.dequantize = q5_1_dequantize, .dot_f32 = q5_1_dot_f32,
                          .dot_q = q5_1_dot_q},
        [R1_TYPE_Q8_0] = {.dequantize = q8_0_dequantize, .quantize = q8_0_quantize,
                          .dot_f32 = q8_0_dot_f32},
        [R1_TYPE_Q4_K] = {.dequantize = q4_k_dequantize, .dot_f32 = q4_k_dot_f32,
                          .dot_q = q4_k_dot_q},
        [R1_TYPE_Q5_K] = {.dequantize = q5_k_dequantize, .dot_f32 = q5_k_dot_f32,
                          .dot_q = q5_k_dot_q},
        [R1_TYPE_Q6_K] = {.dequantize = q6_k_dequantize, .dot_f32 = q6_k_dot_f32,
                          .dot_q = q6_k_dot_q},
        [R1_TYPE_Q8_K] = {.dequantize = q8_k_dequantize, .quantize = q8_k_quantize,
                          .dot_f32 = q8_k_dot_f32, .dot_q = q8_k_dot_q},
    },
};

#else /* not x86-64: no AVX-512, every kernel is the scalar one */

const r1_kernel_set r1_kernels_avx512_table = {
    .isa = R1_ISA_AVX512,
    .name = "avx512",
};

#endif
