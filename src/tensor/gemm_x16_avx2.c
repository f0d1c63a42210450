/*
 * gemm_x16_avx2.c - products on weights stored 16 rows interleaved
 * (R1_LAYOUT_X16, see interleave.h) for CPUs with AVX2 but without the
 * AVX-512 VNNI set: r1_gemm_x16_fn for Q4_K and Q6_K, used for every batch
 * size from decode (1 row) to prefill. Q8_0 keeps the file's layout on such
 * CPUs: its interleaved form stores q + 128, and the products of such bytes
 * overflow vpmaddubsw's int16 pairs.
 *
 * The idea is gemm_x16_avx512.c's, "rows in lanes": 64 bytes of a unit hold
 * the same 4-byte word of 16 weight rows, one per 32-bit lane. A 256-bit
 * register takes half of them (8 rows), so each group of 16 rows is done as
 * two halves, each a sweep over the units with its own accumulators. Where
 * AVX-512 has dpbusd, the products here are vpmaddubsw (unsigned weight
 * bytes times signed activation bytes -> int16 pairs, both of the same row)
 * summed in int16 while they cannot overflow, then vpmaddwd against the
 * sub-block's scale, which widens to int32 and applies the scale in the
 * same instruction. Each format says below why its int16 sums fit.
 *
 * Without these kernels an AVX2 CPU ran batches as one dot product per
 * weight row and activation row: batch 16 no faster than batch 1.
 *
 * Results equal r1_x16_gemm_reference up to float rounding: the integer
 * sums are exact in int32.
 */
#include "tensor/interleave.h"
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Per-unit steps must inline into the sweeps, instantiated per row count. */
#define ALWAYS_INLINE inline __attribute__((always_inline))

enum {
    X_GROUP = 4, /* activation rows sharing one pass: their sums, totals and int16 pairs
                    take 12 of the 16 ymm registers */
    X_TILE = 8 * X_GROUP,
    PREFETCH_AHEAD = 8 * 1024 /* as gemm_x16_avx512.c's decode distance */
};

typedef enum { X16_Q4_K, X16_Q6_K } x16_format;

/* Half `half` (rows 8 half .. 8 half + 7) of vector `index` of a unit. */
static inline __m256i load_half(const uint8_t *unit, int index, int half) {
    return _mm256_loadu_si256((const __m256i *)(unit + 64 * index + 32 * half));
}

/* Four bytes at p in every 32-bit lane (an activation word). */
static inline __m256i broadcast_4_bytes(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

/* A vpshufb index taking, in every 32-bit lane, byte i of that lane into
 * byte `at` (0 or 1) and byte j into byte at + 2, the other two bytes
 * zero. Written out so that the compiler folds it into a constant. */
static ALWAYS_INLINE __m256i lane_bytes_index(int i, int j, int at) {
    const char z = (char)0x80;
    const char i0 = (char)i, i1 = (char)(4 + i), i2 = (char)(8 + i), i3 = (char)(12 + i);
    const char j0 = (char)j, j1 = (char)(4 + j), j2 = (char)(8 + j), j3 = (char)(12 + j);
    if (at == 0)
        return _mm256_setr_epi8(i0, z, j0, z, i1, z, j1, z, i2, z, j2, z, i3, z, j3, z,
                                i0, z, j0, z, i1, z, j1, z, i2, z, j2, z, i3, z, j3, z);
    return _mm256_setr_epi8(z, i0, z, j0, z, i1, z, j1, z, i2, z, j2, z, i3, z, j3,
                            z, i0, z, j0, z, i1, z, j1, z, i2, z, j2, z, i3, z, j3);
}

/* Bytes i and j of each 32-bit lane of `words` as two int16 (byte i in the
 * low half), zero-extended: one vpshufb, where a shift and a mask per byte
 * and the pairing of two took five or more operations. */
static ALWAYS_INLINE __m256i bytes_as_int16(__m256i words, int i, int j) {
    return _mm256_shuffle_epi8(words, lane_bytes_index(i, j, 0));
}

/* The same, sign-extended: vpshufb puts the bytes in the high byte of each
 * half, and the arithmetic shift brings them down with their sign. */
static ALWAYS_INLINE __m256i signed_bytes_as_int16(__m256i words, int i, int j) {
    return _mm256_srai_epi16(_mm256_shuffle_epi8(words, lane_bytes_index(i, j, 1)), 8);
}

/* The halves at the low and high 16 bits of 8 lanes, as floats. */
static inline void halves_in_lanes(__m256i words, __m256 *low, __m256 *high) {
    __m256i both = _mm256_packus_epi32(_mm256_and_si256(words, _mm256_set1_epi32(0xFFFF)),
                                       _mm256_srli_epi32(words, 16));
    /* per 128-bit lane: 4 low, 4 high -> all 8 low, then all 8 high */
    both = _mm256_permute4x64_epi64(both, _MM_SHUFFLE(3, 1, 2, 0));
    *low = _mm256_cvtph_ps(_mm256_castsi256_si128(both));
    *high = _mm256_cvtph_ps(_mm256_extracti128_si256(both, 1));
}

static void store_rows(const __m256 *sums, int cx, float *y, long y_stride) {
    for (int c = 0; c < cx; c++) _mm256_storeu_ps(y + c * y_stride, sums[c]);
}

/* ------------------------------------------------------------------ Q4_K */

/*
 * A unit's scales for 8 rows: d and dmin, each sub-block's 6-bit scale
 * twice as int16 (for vpmaddwd against a sub-block's int16 pair sums), and
 * the 6-bit mins of sub-blocks 2i and 2i + 1 as an int16 pair (against the
 * activation's sums of those sub-blocks, from the sidecar). The packing of
 * the 12 scale bytes is unpack_k_scales' in simd_avx512.h; this gives what
 * k4_scales_in_lanes gives, for 8 rows, and the two change together.
 */
typedef struct {
    __m256i scale_twice[8];
    __m256i min_pairs[4];
    __m256 d, dmin;
} q4_k_scales;

static ALWAYS_INLINE void q4_k_unit_scales(const uint8_t *unit, int half, q4_k_scales *s) {
    const __m256i bits6 = _mm256_set1_epi16(63), low4 = _mm256_set1_epi16(0x0F), top2 = _mm256_set1_epi16(0xC0);
    const __m256i a = load_half(unit, 1, half), b = load_half(unit, 2, half), c = load_half(unit, 3, half);
    halves_in_lanes(load_half(unit, 0, half), &s->d, &s->dmin);
    /* scales and mins 0..3: the low 6 bits of bytes 0..3 of a (scales) and b
     * (mins); 4..7: the nibbles of bytes 0..3 of c (scales low, mins high)
     * under bits 6..7 of bytes 0..3 of a and b. Unrolled, so that every
     * vpshufb index is a constant (rolled, gcc built them at run time). */
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m256i a_j = bytes_as_int16(a, j, j);
        s->scale_twice[j] = _mm256_and_si256(a_j, bits6);
        __m256i top = _mm256_srli_epi16(_mm256_and_si256(a_j, top2), 2);
        s->scale_twice[4 + j] = _mm256_or_si256(_mm256_and_si256(bytes_as_int16(c, j, j), low4), top);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) {
        const __m256i b_i = bytes_as_int16(b, 2 * i, 2 * i + 1);
        s->min_pairs[i] = _mm256_and_si256(b_i, bits6);
        __m256i top = _mm256_srli_epi16(_mm256_and_si256(b_i, top2), 2);
        /* zero-extended bytes: the high nibble needs no mask after the shift */
        __m256i low = _mm256_srli_epi16(bytes_as_int16(c, 2 * i, 2 * i + 1), 4);
        s->min_pairs[2 + i] = _mm256_or_si256(low, top);
    }
}

/* Sub-block 2k + high of one unit's half times cx rows, added to total:
 * qs vector 4 + 8k + i holds, in its low nibbles, values 64k + 4i .. + 3 of
 * every row (sub-block 2k), in its high nibbles those of sub-block 2k + 1.
 * A vpmaddubsw pair of nibbles (<= 15) and activations (|a| <= 128) is at
 * most 2 * 15 * 128 = 3840, so the sub-block's 8 of them sum to at most
 * 30720 in int16. */
static ALWAYS_INLINE void q4_k_sub_block(const uint8_t *unit, int half, int k, int high, __m256i scale_twice,
                                         const r1_block_q8_k *const *x, int cx, __m256i *total) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i pairs[X_GROUP];
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) pairs[c] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        __m256i q = load_half(unit, 4 + 8 * k + i, half);
        q = _mm256_and_si256(high ? _mm256_srli_epi16(q, 4) : q, nibble);
#pragma GCC unroll 4
        for (int c = 0; c < cx; c++) {
            __m256i words = broadcast_4_bytes(x[c]->qs + 64 * k + 32 * high + 4 * i);
            pairs[c] = _mm256_add_epi16(pairs[c], _mm256_maddubs_epi16(q, words));
        }
    }
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) total[c] = _mm256_add_epi32(total[c], _mm256_madd_epi16(pairs[c], scale_twice));
}

/*
 * One unit's half times cx activation rows (x[c]: row c's Q8_K block; its
 * sums of 32 values sums32_from_x bytes on, in the sidecar), added to sums:
 * the 8 sub-blocks, then the mins, two sub-blocks per vpmaddwd against the
 * sidecar's sums. With one or two rows the sub-blocks are unrolled whole
 * (in cache, one row: 60 -> 117 GOPS); with more, that many unrolled copies
 * ran out of registers (4 rows: 196 -> 137), so the sub-blocks stay a loop.
 */
static ALWAYS_INLINE void q4_k_unit(const uint8_t *unit, int half, const r1_block_q8_k *const *x,
                                    long sums32_from_x, int cx, __m256 *sums) {
    q4_k_scales s;
    q4_k_unit_scales(unit, half, &s);
    __m256i total[X_GROUP];
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) total[c] = _mm256_setzero_si256();
    if (cx <= 2) {
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            q4_k_sub_block(unit, half, k, 0, s.scale_twice[2 * k], x, cx, total);
            q4_k_sub_block(unit, half, k, 1, s.scale_twice[2 * k + 1], x, cx, total);
        }
    } else {
        for (int j = 0; j < 8; j++) q4_k_sub_block(unit, half, j / 2, j % 2, s.scale_twice[j], x, cx, total);
    }
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) {
        const uint8_t *sums32 = (const uint8_t *)x[c] + sums32_from_x;
        __m256i min_total = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            min_total =
                _mm256_add_epi32(min_total, _mm256_madd_epi16(s.min_pairs[i], broadcast_4_bytes(sums32 + 4 * i)));
        __m256 row = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(min_total), s.dmin,
                                      _mm256_mul_ps(_mm256_cvtepi32_ps(total[c]), s.d));
        sums[c] = _mm256_fmadd_ps(row, _mm256_set1_ps(x[c]->d), sums[c]);
    }
}

/* ------------------------------------------------------------------ Q6_K */

/*
 * Vectors of a Q6_K unit (interleave.h, R1_X16_Q6_K_*): 0..31 the ql
 * words, 32..47 the qh words, 48..51 the scale words, then the 16 halves d.
 * Value 128p + 32k + 4l .. + 3 (l < 8) has its low four bits in ql vector
 * 16p + 8(k % 2) + l (the low nibbles for k < 2, else the high) and its top
 * two bits at bits 2k, 2k + 1 of qh vector 32 + 8p + l; the stored
 * u = q + 32 is 0..63, and the 32 comes back out through the activations'
 * bsums.
 */
static ALWAYS_INLINE __m256i q6_k_quants(const uint8_t *unit, int half, int p, int k, int l) {
    __m256i low = load_half(unit, 16 * p + 8 * (k % 2) + l, half);
    __m256i high = load_half(unit, R1_X16_Q6_K_QH + 8 * p + l, half);
    low = _mm256_and_si256(k < 2 ? low : _mm256_srli_epi16(low, 4), _mm256_set1_epi8(0x0F));
    /* bits 2k, 2k + 1 of every byte to bits 4, 5 */
    high = k < 2 ? _mm256_slli_epi16(high, 4 - 2 * k) : _mm256_srli_epi16(high, 2 * k - 4);
    return _mm256_or_si256(_mm256_and_si256(high, _mm256_set1_epi8(0x30)), low);
}

/*
 * One unit's half times cx activation rows. Sub-block `sub` (16 values,
 * 4 words) of scale s: sum u * a = sum q * a + 32 * bsum, so
 * s * sum q * a = s * sum u * a - 32 * s * bsum. A vpmaddubsw pair is at
 * most 2 * 63 * 128 = 16128, so two words (8 values) sum to at most 32256
 * in int16; each such sum goes through vpmaddwd with s twice. The bsums
 * side takes two sub-blocks per vpmaddwd (scales 2m, 2m + 1 against bsums
 * 2m, 2m + 1). Totals stay within int32: the products at most
 * 256 * 63 * 128 * 128 (2.6e8), the offset at most 32 * 16 * 128 * 2048
 * (1.3e8).
 */
static ALWAYS_INLINE void q6_k_unit(const uint8_t *unit, int half, const r1_block_q8_k *const *x, int cx,
                                    __m256 *sums) {
    /* scale word w holds the int8 scales of sub-blocks 4w .. 4w + 3 */
    __m256i scale_words[4];
    for (int w = 0; w < 4; w++) scale_words[w] = load_half(unit, R1_X16_Q6_K_SCALES + w, half);
    __m256i total[X_GROUP];
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) {
        /* -32 * sum_sub s_sub * bsum_sub, the offset taken back out */
        __m256i offset = _mm256_setzero_si256();
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) {
            const int word = m / 2, at = 2 * (m % 2); /* scales 2m, 2m + 1 */
            __m256i scales = signed_bytes_as_int16(scale_words[word], at, at + 1);
            offset = _mm256_add_epi32(offset, _mm256_madd_epi16(scales, broadcast_4_bytes(x[c]->bsums + 2 * m)));
        }
        total[c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
    }
#pragma GCC unroll 2
    for (int p = 0; p < 2; p++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
#pragma GCC unroll 2
            for (int t = 0; t < 2; t++) {
                const int sub = 8 * p + 2 * k + t; /* 16 values: 128p + 32k + 16t .. */
                const __m256i scale_twice = signed_bytes_as_int16(scale_words[sub / 4], sub % 4, sub % 4);
#pragma GCC unroll 2
                for (int l = 4 * t; l < 4 * t + 4; l += 2) {
                    __m256i q0 = q6_k_quants(unit, half, p, k, l), q1 = q6_k_quants(unit, half, p, k, l + 1);
#pragma GCC unroll 4
                    for (int c = 0; c < cx; c++) {
                        const int8_t *xs = x[c]->qs + 128 * p + 32 * k + 4 * l;
                        __m256i pair = _mm256_add_epi16(_mm256_maddubs_epi16(q0, broadcast_4_bytes(xs)),
                                                        _mm256_maddubs_epi16(q1, broadcast_4_bytes(xs + 4)));
                        total[c] = _mm256_add_epi32(total[c], _mm256_madd_epi16(pair, scale_twice));
                    }
                }
            }
    __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(unit + R1_X16_Q6_K_D_BYTE + 16 * half)));
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++)
        sums[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total[c]), _mm256_mul_ps(d, _mm256_set1_ps(x[c]->d)), sums[c]);
}

/* ------------------------------------- the sweep over groups and rows */

/* Half of one weight group times cx (1..4) activation rows, unit by unit
 * along the row; `prefetch` asks for the bytes PREFETCH_AHEAD on (the first
 * pass over a group: the later ones find it in cache). */
static ALWAYS_INLINE void half_group_n(x16_format f, const uint8_t *group, int64_t n_units, int half,
                                       const uint8_t *xq, size_t x_row_bytes, int cx, float *y, long y_stride,
                                       bool prefetch) {
    const int unit_bytes = f == X16_Q4_K ? R1_X16_Q4_K_UNIT_BYTES : R1_X16_Q6_K_UNIT_BYTES;
    __m256 sums[X_GROUP];
    const r1_block_q8_k *x[X_GROUP];
    /* Q4_K: from a unit's block to its sums of 32 values in the sidecar,
     * one offset for every row */
    long sums32_from_x = (long)r1_x16_sidecar_sums32_at(n_units * R1_X16_UNIT_VALUES);
    const long unit_sums32_bytes = R1_QK_K / 32 * (long)sizeof(int16_t);
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) {
        sums[c] = _mm256_setzero_ps();
        x[c] = (const r1_block_q8_k *)(xq + (size_t)c * x_row_bytes);
    }
    for (int64_t u = 0; u < n_units; u++) {
        const uint8_t *unit = group + (size_t)u * unit_bytes;
        if (prefetch)
            for (int line = 0; line < unit_bytes / 64; line++)
                __builtin_prefetch(unit + PREFETCH_AHEAD + 64 * line, 0, 3);
        if (f == X16_Q4_K) q4_k_unit(unit, half, x, sums32_from_x, cx, sums);
        else q6_k_unit(unit, half, x, cx, sums);
#pragma GCC unroll 4
        for (int c = 0; c < cx; c++) x[c]++;
        sums32_from_x += unit_sums32_bytes - (long)sizeof(r1_block_q8_k);
    }
    store_rows(sums, cx, y, y_stride);
}

static ALWAYS_INLINE void half_group_any(x16_format f, const uint8_t *group, int64_t n_units, int half,
                                         const uint8_t *xq, size_t x_row_bytes, int cx, float *y, long y_stride,
                                         bool prefetch) {
    switch (cx) {
    case 4: half_group_n(f, group, n_units, half, xq, x_row_bytes, 4, y, y_stride, prefetch); break;
    case 3: half_group_n(f, group, n_units, half, xq, x_row_bytes, 3, y, y_stride, prefetch); break;
    case 2: half_group_n(f, group, n_units, half, xq, x_row_bytes, 2, y, y_stride, prefetch); break;
    default: half_group_n(f, group, n_units, half, xq, x_row_bytes, 1, y, y_stride, prefetch); break;
    }
}

/*
 * Loop order: tiles of up to X_TILE activation rows (their quantized rows
 * stay in L2), then the weight groups, then the group's two halves, then
 * passes of up to X_GROUP rows over the half. A group comes from memory once
 * per tile, during its first pass, and from cache for the others.
 */
static ALWAYS_INLINE void gemm_x16(x16_format f, const void *w, size_t group_bytes, int n_groups, const void *xq,
                                   size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    const int64_t n_units = n / R1_X16_UNIT_VALUES;
    for (int t0 = 0; t0 < n_x_rows; t0 += X_TILE) {
        const int tile_end = n_x_rows - t0 < X_TILE ? n_x_rows : t0 + X_TILE;
        for (int g = 0; g < n_groups; g++) {
            const uint8_t *group = (const uint8_t *)w + (size_t)g * group_bytes;
            for (int half = 0; half < 2; half++)
                for (int c0 = t0; c0 < tile_end; c0 += X_GROUP) {
                    const int cx = tile_end - c0 < X_GROUP ? tile_end - c0 : X_GROUP;
                    half_group_any(f, group, n_units, half, (const uint8_t *)xq + (size_t)c0 * x_row_bytes,
                                   x_row_bytes, cx, y + (long)c0 * y_stride + g * R1_X16_ROWS + 8 * half, y_stride,
                                   half == 0 && c0 == t0);
                }
        }
    }
}

static void q4_k_gemm_x16(const void *w, size_t group_bytes, int n_groups, const void *xq, size_t x_row_bytes,
                          int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_x16(X16_Q4_K, w, group_bytes, n_groups, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q6_k_gemm_x16(const void *w, size_t group_bytes, int n_groups, const void *xq, size_t x_row_bytes,
                          int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_x16(X16_Q6_K, w, group_bytes, n_groups, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}

const r1_gemm_x16_fn r1_gemm_x16_avx2_table[R1_TYPE_COUNT] = {
    [R1_TYPE_Q4_K] = q4_k_gemm_x16,
    [R1_TYPE_Q6_K] = q6_k_gemm_x16,
};

#else /* not x86-64: weights are never interleaved */

const r1_gemm_x16_fn r1_gemm_x16_avx2_table[R1_TYPE_COUNT] = {0};

#endif
