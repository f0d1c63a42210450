/*
 * simd_avx512.h - small AVX-512 helpers shared by the kernel files compiled
 * for AVX-512 (quant_avx512.c, gemm_avx512.c, gemm_x16_avx512.c,
 * attention_avx512.c). Include only from those
 * files, inside their x86-64 guard: everything here needs AVX-512.
 */
#ifndef R1_TENSOR_SIMD_AVX512_H
#define R1_TENSOR_SIMD_AVX512_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "tensor/types.h"

/* Per-block steps must inline into the row loops; gcc otherwise calls
 * them through the function pointers the loops are instantiated with. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Four bytes at p in every 32-bit lane (an activation word for dpbusd). */
static inline __m512i broadcast_4_bytes(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* a in lanes 0..7, b in lanes 8..15 (two 32-value blocks per register). */
static inline __m512 pair_of(float a, float b) {
    return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

/*
 * Sub-block scales. dpbusd leaves each 32-bit lane with the sum of four
 * products, which fits int16 in every K-quant (at most 4 * 63 * 128 =
 * 32256). packs_epi32 of two such dot vectors puts in each 128-bit lane a's
 * four sums and then b's as int16; dpwssd then multiplies every int16 by its
 * sub-block scale and adds neighbouring pairs (same sub-block) into acc.
 */
static inline __m512i add_scaled_dots(__m512i acc, __m512i dot_a, __m512i dot_b, __m512i scales16) {
    return _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(dot_a, dot_b), scales16);
}

/* A 64-bit run of a shuffle_epi8 index: four int16 lanes, each taking the
 * 16-bit word whose bytes are `lo` and `hi` (0x80: a zero byte). */
static inline long long four_words_from(int lo, int hi) {
    return (long long)((uint64_t)(lo | hi << 8) * 0x0001000100010001ull);
}

/* Index taking byte `a` (zero-extended to int16) four times, then byte `b`,
 * in 128-bit lanes 0 and 1; bytes c and d likewise in lanes 2 and 3. */
static inline __m512i byte_scale_index(int a, int b, int c, int d) {
    return _mm512_set_epi64(four_words_from(d, 0x80), four_words_from(c, 0x80),
                            four_words_from(d, 0x80), four_words_from(c, 0x80),
                            four_words_from(b, 0x80), four_words_from(a, 0x80),
                            four_words_from(b, 0x80), four_words_from(a, 0x80));
}

/*
 * Decoding streams each weight byte once, and the hardware prefetcher alone
 * leaves the dot products waiting on memory (measured: Q4_K_M decode 28 ->
 * 33-43 tokens/s with 2 threads). So the row loops ask for the weights
 * ~27 KB ahead.
 */
#define PREFETCH_AHEAD_BYTES (27 * 1024)

/* Asks for `lines` cache lines from p on; a prefetch never faults, so
 * running past the end of a tensor is harmless. __builtin_prefetch, not
 * _mm_prefetch: gcc 12 marks the inline function _mm_prefetch "looping
 * const", and then deletes calls of helpers built on it whose result is
 * unused (it silently dropped every prefetch of gemm_x16_avx512.c). */
static inline void prefetch_lines(const void *p, int lines) {
    for (int i = 0; i < lines; i++) __builtin_prefetch((const char *)p + 64 * i, 0, 3);
}

/* The same into L2 only (prefetcht2): for bytes wanted later than the next
 * few microseconds, which would only evict what L1 holds now. */
static inline void prefetch_lines_l2(const void *p, int lines) {
    for (int i = 0; i < lines; i++) __builtin_prefetch((const char *)p + 64 * i, 0, 1);
}

/*
 * The 8 six-bit scales and 8 six-bit mins packed in 12 bytes (Q4_K, Q5_K),
 * as bytes 0..7 (scales of sub-blocks 0..7) and 8..15 (mins). As 32-bit
 * words w0..w2 of the packed bytes: scales 0..3 are w0 & 0x3f per byte, mins
 * 0..3 w1 & 0x3f; scales 4..7 take their low four bits from w2's low
 * nibbles and their top two from w0's bits 6..7, mins 4..7 from w2's high
 * nibbles and w1's bits 6..7.
 */
static inline __m128i unpack_k_scales(const uint8_t packed[12]) {
    __m128i w = _mm_maskz_loadu_epi8(0x0FFF, packed); /* w0, w1, w2, 0 */
    /* low bits: w0 & 0x3f.., w1 & 0x3f.., w2 & 0x0f.., (w2 >> 4) & 0x0f.. */
    __m128i low =
        _mm_srlv_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(2, 2, 1, 0)), _mm_setr_epi32(0, 0, 0, 4));
    low = _mm_and_si128(low, _mm_setr_epi32(0x3f3f3f3f, 0x3f3f3f3f, 0x0f0f0f0f, 0x0f0f0f0f));
    /* top bits of words 2, 3: bits 6..7 of w0, w1 moved to bits 4..5 */
    __m128i top = _mm_srli_epi32(_mm_shuffle_epi32(w, _MM_SHUFFLE(1, 0, 1, 0)), 2);
    /* 0xEA: (a & b) | c */
    __m128i both =
        _mm_ternarylogic_epi32(top, _mm_setr_epi32(0, 0, 0x30303030, 0x30303030), low, 0xEA);
    /* words: scales 0..3, mins 0..3, scales 4..7, mins 4..7 -> scales, mins */
    return _mm_shuffle_epi32(both, _MM_SHUFFLE(3, 1, 2, 0));
}

/*
 * The same scales and mins with rows in lanes: lane r of d_dmin, a, b, c
 * holds the 32-bit words at bytes 0 (the halves d, dmin), 4, 8 and 12 of
 * row r's block. Gives d * scale_j as floats, min_j as int32 and dmin.
 * Used by the tiled products (gathered words) and the interleaved ones
 * (loaded words), which pair the mins as their dpwssd needs them.
 */
static inline void k4_scales_in_lanes(__m512i d_dmin, __m512i a, __m512i b, __m512i c, __m512 scale[8],
                                      __m512i mins[8], __m512 *dmin) {
    const __m512i bits6 = _mm512_set1_epi32(63), bits4 = _mm512_set1_epi32(15), bits2 = _mm512_set1_epi32(3);
    __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d_dmin));
    *dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(d_dmin, 16)));
    for (int j = 0; j < 8; j++) {
        __m512i sc, min;
        if (j < 4) {
            sc = _mm512_and_si512(_mm512_srli_epi32(a, 8 * j), bits6);
            min = _mm512_and_si512(_mm512_srli_epi32(b, 8 * j), bits6);
        } else {
            int i = j - 4;
            __m512i scale_top = _mm512_and_si512(_mm512_srli_epi32(a, 8 * i + 6), bits2);
            __m512i min_top = _mm512_and_si512(_mm512_srli_epi32(b, 8 * i + 6), bits2);
            sc = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 8 * i), bits4), _mm512_slli_epi32(scale_top, 4));
            min = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(c, 8 * i + 4), bits4),
                                  _mm512_slli_epi32(min_top, 4));
        }
        scale[j] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc));
        mins[j] = min;
    }
}

/*
 * The minimums of a Q4_K / Q5_K super-block with rows in lanes, taken off
 * cx activation rows' sums: acc[c] -= dmin * the sum over i < n_words of
 * dpwssd(min_words[i], word i of row c), word i of row c being the 4 bytes
 * (two int16) at x[c] + from_x + 4i. Either 8 words, min_j twice against
 * the two bsums of sub-block j (from_x: where a Q8_K block keeps its
 * bsums), or 4, min_2i and min_2i+1 against the sums of those two
 * sub-blocks (the interleaved products' sidecar, r1_x16_prepare_activation).
 */
static ALWAYS_INLINE void subtract_k4_mins(const __m512i *min_words, int n_words, __m512 dmin,
                                           const r1_block_q8_k *const *x, long from_x, int cx, __m512 *acc) {
    __m512i isum[8];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) isum[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int i = 0; i < n_words; i++)
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++)
            isum[c] = _mm512_dpwssd_epi32(isum[c], min_words[i],
                                          broadcast_4_bytes((const uint8_t *)x[c] + from_x + 4 * i));
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) acc[c] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(isum[c]), dmin, acc[c]);
}

#endif
