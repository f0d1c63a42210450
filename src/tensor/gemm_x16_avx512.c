/*
 * gemm_x16_avx512.c - AVX-512 VNNI products on weights stored 16 rows
 * interleaved (R1_LAYOUT_X16, see interleave.h): r1_gemm_x16_fn for Q4_K,
 * Q6_K and Q8_0, used for every batch size from decode (1 row) to prefill.
 *
 * "Rows in lanes": 64 bytes of an interleaved unit hold the same 4-byte word
 * of 16 weight rows, one per 32-bit lane. One dpbusd of such a vector with
 * four activation bytes broadcast to every lane advances the dot products of
 * all 16 rows, and lane r of an accumulator belongs to row r to the end: no
 * horizontal sums, no transposes, and the per-row block scales of a unit
 * are themselves vectors with rows in lanes. The weights are read straight
 * from the tensor; the only unpacking left is splitting nibbles (Q4_K) or
 * joining the low and high bits (Q6_K), a few operations per 64 bytes,
 * shared by up to 8 activation rows.
 *
 * Loop order (gemm_x16 below): tiles of activation rows, the weight groups
 * of the call, passes of up to 8 activation rows over one group (their
 * int32 and float accumulators stay in registers), and in a pass the units
 * of 256 values along the row.
 *
 * Results equal r1_x16_gemm_reference (the scalar dot_q on the restored
 * rows) up to float rounding: the integer sums are exact in int32.
 */
#include "tensor/interleave.h"
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "tensor/simd_avx512.h"

enum {
    X_GROUP = 8,                                      /* activation rows sharing one pass */
    Q8_0_BLOCKS_PER_UNIT = R1_X16_UNIT_VALUES / R1_QK
};

typedef enum { X16_Q4_K, X16_Q6_K, X16_Q8_0 } x16_format;

static inline __m512i load_vector(const uint8_t *unit, int index) {
    return _mm512_loadu_si512(unit + 64 * index);
}

/* The 16 rows' halves stored from p on, as floats. */
static inline __m512 load_halves(const uint8_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* Asks for the bytes X16_PREFETCH_AHEAD past this unit: decode streams each
 * weight once, and groups follow one another in memory, so one stream
 * suffices and a shorter distance than the row-by-row products' serves
 * best. Measured, Q4_K_M 1.5B decode, alternating runs: 27 KB 31.2-31.5
 * tokens/s (1 thread) and 49.5 (2 threads); 16 KB 29.4-31.8; 8 KB 32.8-34.3
 * and 53.7-54.9; 4 KB 32.1-35.1. Q8_0 does not care. With several passes
 * over a group (batches of more than X_GROUP rows), see gemm_x16. */
enum { X16_PREFETCH_AHEAD = 8 * 1024 };

/* What a pass over a group prefetches while it reads a unit: the bytes
 * `distance` further on, into L1 (the stream this pass reads next) or into
 * L2 only (the next group, which a later pass reads; see gemm_x16). */
typedef struct {
    long distance;
    bool into_l2;
} x16_prefetch;

/*
 * Asks for line `line` (64 bytes) of the unit `p.distance` bytes on. Passes
 * over Q8_0 units, and over Q4_K units with up to 4 activation rows (decode),
 * ask for one line beside each vector they load, so that a unit's requests
 * are spread over its arithmetic instead of issued in one burst before it;
 * Q6_K units and wider Q4_K passes keep the burst (prefetch_lines_ahead).
 * Measured, alternating builds on one core: batch-1 products from L2, Q4_K
 * 56-62 -> 77-82 GB/s of weights, Q8_0 116-123 -> 134-139; Q8_0 with 8 rows
 * a pass 560-620 -> 640-660 GOPS; decode of the 1.5B shape, Q4_K_M 36.6-37.5
 * -> 39.2-39.8 tokens/s, Q8_0 21.4-22.6 -> 22.8-23.8, Q8_0 batch 16 173-179
 * -> 195-201. Spread, Q6_K was faster in cache but slower in decode (36.6
 * against 40.1 tokens/s), and spread in wider Q4_K passes, prefill was 5 %
 * slower. The distance is still best at 8 KB (4 KB and 16 KB: decode
 * 32-34 tokens/s).
 */
static ALWAYS_INLINE void prefetch_line(const uint8_t *unit, int line, x16_prefetch p) {
    const char *at = (const char *)unit + p.distance + 64 * line;
    if (p.into_l2) __builtin_prefetch(at, 0, 1);
    else __builtin_prefetch(at, 0, 3);
}

/* All `lines` lines of the unit `p.distance` bytes on, the hint chosen once
 * for the whole burst. */
static ALWAYS_INLINE void prefetch_lines_ahead(const uint8_t *unit, int lines, x16_prefetch p) {
    if (p.into_l2) prefetch_lines_l2(unit + p.distance, lines);
    else prefetch_lines(unit + p.distance, lines);
}

static void store_rows(const __m512 *sums, int cx, float *y, long y_stride) {
    for (int c = 0; c < cx; c++) _mm512_storeu_ps(y + c * y_stride, sums[c]);
}

/* ------------------------------------------------------------------ Q4_K */

/* A unit's scales with rows in lanes (k4_scales_in_lanes, from its first
 * four vectors); min_pairs[i] holds min_2i and min_2i+1 as two int16, for
 * dpwssd with the activations' sums of sub-blocks 2i and 2i + 1. */
typedef struct {
    __m512 scale[8];
    __m512i min_pairs[4];
    __m512 dmin;
} q4_k_scales;

static ALWAYS_INLINE void q4_k_unit_scales(const uint8_t *unit, q4_k_scales *s) {
    __m512i mins[8];
    k4_scales_in_lanes(load_vector(unit, 0), load_vector(unit, 1), load_vector(unit, 2), load_vector(unit, 3),
                       s->scale, mins, &s->dmin);
    for (int i = 0; i < 4; i++) s->min_pairs[i] = _mm512_or_si512(mins[2 * i], _mm512_slli_epi32(mins[2 * i + 1], 16));
}

/* The sub-blocks 2k and 2k + 1 together (the low and high nibbles of the
 * same vectors), for batches of up to 4 rows: with one row, the 8 dpbusd of a
 * sub-block would otherwise form one chain, each waiting for the last. */
static ALWAYS_INLINE void q4_k_sub_block_pairs(const uint8_t *unit, const q4_k_scales *s,
                                               const r1_block_q8_k *const *x, int cx, __m512 *acc,
                                               x16_prefetch prefetch) {
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    for (int k = 0; k < 4; k++) {
        __m512i low[4], high[4];
#pragma GCC unroll 4
        for (int c = 0; c < cx; c++) low[c] = high[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m512i q = load_vector(unit, 4 + 8 * k + i);
            prefetch_line(unit, 4 + 8 * k + i, prefetch);
            __m512i q_low = _mm512_and_si512(q, nibble), q_high = _mm512_and_si512(_mm512_srli_epi16(q, 4), nibble);
#pragma GCC unroll 4
            for (int c = 0; c < cx; c++) {
                low[c] = _mm512_dpbusd_epi32(low[c], q_low, broadcast_4_bytes(x[c]->qs + 64 * k + 4 * i));
                high[c] = _mm512_dpbusd_epi32(high[c], q_high, broadcast_4_bytes(x[c]->qs + 64 * k + 32 + 4 * i));
            }
        }
#pragma GCC unroll 4
        for (int c = 0; c < cx; c++) {
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(low[c]), s->scale[2 * k], acc[c]);
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(high[c]), s->scale[2 * k + 1], acc[c]);
        }
    }
}

/*
 * One unit times cx activation rows (x[c]: row c's super-block; its sums
 * of 32 values sums32_from_x bytes on), added to sums. qs vector 4 + 8k + i
 * holds, in its low nibbles, values 64k + 4i .. + 3 of every row (sub-block
 * 2k) and in its high nibbles values 64k + 32 + 4i .. (sub-block 2k + 1).
 * Per sub-block: 8 dpbusd per row into an int32 sum, then one scaling for
 * all 16 rows; then the mins, two sub-blocks per dpwssd. Passes of up to 4
 * rows prefetch the unit's qs lines beside their loads; wider ones had the
 * whole unit asked for before (k_quant_group_n).
 */
static ALWAYS_INLINE void q4_k_unit(const uint8_t *unit, const r1_block_q8_k *const *x, long sums32_from_x,
                                    int cx, __m512 *sums, x16_prefetch prefetch) {
    q4_k_scales s;
    q4_k_unit_scales(unit, &s);
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512 acc[X_GROUP];
    __m512i isum[X_GROUP];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) acc[c] = _mm512_setzero_ps();
    if (cx <= 4) {
        /* few rows: both nibbles of a vector at once, two dependency chains per row */
        q4_k_sub_block_pairs(unit, &s, x, cx, acc, prefetch);
    } else for (int j = 0; j < 8; j++) {
        const int k = j / 2, high = j % 2;
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) isum[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m512i q = load_vector(unit, 4 + 8 * k + i);
            q = _mm512_and_si512(high ? _mm512_srli_epi16(q, 4) : q, nibble);
#pragma GCC unroll 8
            for (int c = 0; c < cx; c++)
                isum[c] = _mm512_dpbusd_epi32(isum[c], q, broadcast_4_bytes(x[c]->qs + 32 * j + 4 * i));
        }
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), s.scale[j], acc[c]);
    }
    /* one offset from x[c] for every row: a second array of pointers
     * would not fit the general registers */
    subtract_k4_mins(s.min_pairs, 4, s.dmin, x, sums32_from_x, cx, acc);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) sums[c] = _mm512_fmadd_ps(acc[c], _mm512_set1_ps(x[c]->d), sums[c]);
}

/* ------------------------------------------------------------------ Q6_K */

/*
 * Vectors of a Q6_K unit: 0..31 the ql words, 32..47 the qh words, 48..51
 * the scale words, then the 16 halves d. Value 128h + 32k + 4l .. + 3
 * (l < 8) has its low four bits in ql vector 16h + 8(k % 2) + l (the low
 * nibbles for k < 2, else the high) and its top two bits at bits 2k, 2k + 1
 * of qh vector 32 + 8h + l; the stored u = q + 32 is 0..63, and the 32 comes
 * back out through the activations' bsums.
 */
enum { Q6_K_LINES = (R1_X16_Q6_K_UNIT_BYTES + 63) / 64 };

static ALWAYS_INLINE __m512i q6_k_quants(const uint8_t *unit, int h, int k, int l) {
    __m512i low = load_vector(unit, 16 * h + 8 * (k % 2) + l);
    __m512i high = load_vector(unit, R1_X16_Q6_K_QH + 8 * h + l);
    low = _mm512_and_si512(k < 2 ? low : _mm512_srli_epi16(low, 4), _mm512_set1_epi8(0x0F));
    /* bits 2k, 2k + 1 of every byte to bits 4, 5 */
    high = k < 2 ? _mm512_slli_epi16(high, 4 - 2 * k) : _mm512_srli_epi16(high, 2 * k - 4);
    /* 0xEA: (a & b) | c */
    return _mm512_ternarylogic_epi32(high, _mm512_set1_epi8(0x30), low, 0xEA);
}

/* Sub-blocks 2m and 2m + 1 side by side, each with its own int32 sum and
 * total, for batches of up to 4 rows: with one row, a single chain of
 * dpbusd, multiply and add per sub-block kept the core waiting on latency
 * (34 GB/s from L2 against dot_q's 48). Unrolled whole, so that every
 * vector index is a constant: decode 38.6 -> 39.9 tokens/s (1.5B Q4_K_M,
 * 1 thread, alternating builds). */
static ALWAYS_INLINE void q6_k_sub_block_pairs(const uint8_t *unit, const __m512i *scale,
                                               int32_t start[][16], const r1_block_q8_k *const *x, int cx,
                                               __m512i *total) {
    __m512i second_total[4];
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) second_total[c] = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const int sub = 8 * h + 2 * k; /* and sub + 1 */
            __m512i first[4], second[4];
#pragma GCC unroll 4
            for (int c = 0; c < cx; c++) {
                first[c] = _mm512_set1_epi32(start[c][sub]);
                second[c] = _mm512_set1_epi32(start[c][sub + 1]);
            }
#pragma GCC unroll 4
            for (int l = 0; l < 4; l++) {
                __m512i q_first = q6_k_quants(unit, h, k, l), q_second = q6_k_quants(unit, h, k, l + 4);
#pragma GCC unroll 4
                for (int c = 0; c < cx; c++) {
                    const int8_t *xs = x[c]->qs + 128 * h + 32 * k + 4 * l;
                    first[c] = _mm512_dpbusd_epi32(first[c], q_first, broadcast_4_bytes(xs));
                    second[c] = _mm512_dpbusd_epi32(second[c], q_second, broadcast_4_bytes(xs + 16));
                }
            }
#pragma GCC unroll 4
            for (int c = 0; c < cx; c++) {
                total[c] = _mm512_add_epi32(total[c], _mm512_mullo_epi32(first[c], scale[sub]));
                second_total[c] = _mm512_add_epi32(second_total[c], _mm512_mullo_epi32(second[c], scale[sub + 1]));
            }
        }
#pragma GCC unroll 4
    for (int c = 0; c < cx; c++) total[c] = _mm512_add_epi32(total[c], second_total[c]);
}

/*
 * One unit times cx activation rows. Each sub-block of 16 values: 4 dpbusd
 * per activation row into an int32 sum that starts at -32 * bsum (taking
 * the stored offset back out), then multiplied by the sub-block's 8-bit
 * scale and added to the unit's int32 total (at most 16 * 63 * 127 * 128 *
 * 16 in magnitude, well inside int32); the total is scaled by d once.
 */
static ALWAYS_INLINE void q6_k_unit(const uint8_t *unit, const r1_block_q8_k *const *x, int cx, __m512 *sums) {
    __m512i scale[16];
    for (int w = 0; w < 4; w++) {
        __m512i four = load_vector(unit, R1_X16_Q6_K_SCALES + w);
        for (int i = 0; i < 4; i++) scale[4 * w + i] = _mm512_srai_epi32(_mm512_slli_epi32(four, 24 - 8 * i), 24);
    }
    _Alignas(64) int32_t start[X_GROUP][16];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        __m512i bsums = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)x[c]->bsums));
        _mm512_store_si512(start[c], _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bsums, 5)));
    }
    __m512i total[X_GROUP], isum[X_GROUP];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) total[c] = _mm512_setzero_si512();
    if (cx <= 4) {
        q6_k_sub_block_pairs(unit, scale, start, x, cx, total);
    } else for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int t = 0; t < 2; t++) {
                const int sub = 8 * h + 2 * k + t; /* 16 values: 128h + 32k + 16t .. */
#pragma GCC unroll 8
                for (int c = 0; c < cx; c++) isum[c] = _mm512_set1_epi32(start[c][sub]);
#pragma GCC unroll 4
                for (int l = 4 * t; l < 4 * t + 4; l++) {
                    __m512i q = q6_k_quants(unit, h, k, l);
#pragma GCC unroll 8
                    for (int c = 0; c < cx; c++)
                        isum[c] = _mm512_dpbusd_epi32(isum[c], q,
                                                      broadcast_4_bytes(x[c]->qs + 128 * h + 32 * k + 4 * l));
                }
#pragma GCC unroll 8
                for (int c = 0; c < cx; c++)
                    total[c] = _mm512_add_epi32(total[c], _mm512_mullo_epi32(isum[c], scale[sub]));
            }
    __m512 d = load_halves(unit + R1_X16_Q6_K_D_BYTE);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++)
        sums[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total[c]), _mm512_mul_ps(d, _mm512_set1_ps(x[c]->d)), sums[c]);
}

/* One weight group times cx (1..8) activation rows of a K-quant: unit by
 * unit along the row, then the 16 rows' sums to y. */
static ALWAYS_INLINE void k_quant_group_n(x16_format f, const uint8_t *group, int64_t n_units, const uint8_t *xq,
                                          size_t x_row_bytes, int cx, float *y, long y_stride, x16_prefetch prefetch) {
    const int unit_bytes = f == X16_Q4_K ? R1_X16_Q4_K_UNIT_BYTES : R1_X16_Q6_K_UNIT_BYTES;
    __m512 sums[X_GROUP];
    const r1_block_q8_k *x[X_GROUP];
    /* Q4_K: from a unit's block to its sums of 32 values in the sidecar,
     * one offset for every row */
    long sums32_from_x = (long)r1_x16_sidecar_sums32_at(n_units * R1_X16_UNIT_VALUES);
    const long unit_sums32_bytes = R1_QK_K / 32 * (long)sizeof(int16_t);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        sums[c] = _mm512_setzero_ps();
        x[c] = (const r1_block_q8_k *)(xq + (size_t)c * x_row_bytes);
    }
    for (int64_t u = 0; u < n_units; u++) {
        const uint8_t *unit = group + (size_t)u * unit_bytes;
        if (f == X16_Q4_K && cx <= 4) {
            for (int line = 0; line < 4; line++) prefetch_line(unit, line, prefetch); /* the scales' */
            q4_k_unit(unit, x, sums32_from_x, cx, sums, prefetch); /* the rest beside their loads */
        } else if (f == X16_Q4_K) {
            prefetch_lines_ahead(unit, R1_X16_Q4_K_UNIT_BYTES / 64, prefetch);
            q4_k_unit(unit, x, sums32_from_x, cx, sums, prefetch);
        } else {
            prefetch_lines_ahead(unit, Q6_K_LINES, prefetch);
            q6_k_unit(unit, x, cx, sums);
        }
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) x[c]++;
        sums32_from_x += unit_sums32_bytes - (long)sizeof(r1_block_q8_k);
    }
    store_rows(sums, cx, y, y_stride);
}

/* ------------------------------------------------------------------ Q8_0 */

/*
 * A Q8_0 unit: vector 8b + g holds word g of block b of every row as
 * u = q + 128, then the 16 rows' halves d of block b at byte 4096 + 32b. dpbusd
 * of u with the signed activations gives sum(q * x) + 128 * sum(x), so each
 * block's int32 sum starts at -128 * sum(x) of that activation block, which
 * the activation row's sidecar holds beside the block's scale as a float
 * (r1_x16_prepare_activation). Per block and activation row that leaves, on
 * top of the 8 dpbusd, three vector operations: the conversion of the sum,
 * the product of the two scales, and the accumulation.
 */

/* Where row c's current unit starts (x[c]), and where its sidecar's scales
 * and sums for that unit lie, as offsets from x[c] shared by every row. */
typedef struct {
    const uint8_t *x[X_GROUP];
    long scales_at, sums_at;
} q8_0_rows;

static inline __m512 broadcast_float(const uint8_t *p) {
    float v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_ps(v);
}

/* Word g (4 quants) of block b of row c's current unit. */
static inline const uint8_t *x_word(const q8_0_rows *r, int c, int b, int g) {
    return r->x[c] + b * sizeof(r1_block_q8_0) + offsetof(r1_block_q8_0, qs) + 4 * g;
}

static ALWAYS_INLINE void q8_0_unit(const uint8_t *unit, const q8_0_rows *r, int cx, __m512 *sums,
                                    x16_prefetch prefetch) {
    for (int b = 0; b < Q8_0_BLOCKS_PER_UNIT; b++) {
        if (b % 2 == 0) prefetch_line(unit, R1_X16_Q8_0_D_BYTE / 64 + b / 2, prefetch); /* two blocks' halves a line */
        __m512 dw = load_halves(unit + R1_X16_Q8_0_D_BYTE + 32 * b);
        __m512i isum[X_GROUP];
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) isum[c] = broadcast_4_bytes(r->x[c] + r->sums_at + 4 * b);
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            __m512i u = load_vector(unit, 8 * b + g);
            prefetch_line(unit, 8 * b + g, prefetch);
#pragma GCC unroll 8
            for (int c = 0; c < cx; c++)
                isum[c] = _mm512_dpbusd_epi32(isum[c], u, broadcast_4_bytes(x_word(r, c, b, g)));
        }
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) {
            __m512 scale = _mm512_mul_ps(dw, broadcast_float(r->x[c] + r->scales_at + 4 * b));
            sums[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), scale, sums[c]);
        }
    }
}

static ALWAYS_INLINE void q8_0_group_n(const uint8_t *group, int64_t n_units, const uint8_t *xq,
                                       size_t x_row_bytes, int cx, float *y, long y_stride, x16_prefetch prefetch) {
    const int64_t n = n_units * R1_X16_UNIT_VALUES;
    const long unit_x_bytes = Q8_0_BLOCKS_PER_UNIT * (long)sizeof(r1_block_q8_0),
               unit_sidecar_bytes = Q8_0_BLOCKS_PER_UNIT * (long)sizeof(float);
    __m512 sums[X_GROUP];
    q8_0_rows r = {.scales_at = (long)r1_x16_sidecar_scales_at(n), .sums_at = (long)r1_x16_sidecar_sums_at(n)};
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        sums[c] = _mm512_setzero_ps();
        r.x[c] = xq + (size_t)c * x_row_bytes;
    }
    for (int64_t u = 0; u < n_units; u++) {
        const uint8_t *unit = group + (size_t)u * R1_X16_Q8_0_UNIT_BYTES;
        q8_0_unit(unit, &r, cx, sums, prefetch);
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) r.x[c] += unit_x_bytes;
        r.scales_at += unit_sidecar_bytes - unit_x_bytes;
        r.sums_at += unit_sidecar_bytes - unit_x_bytes;
    }
    store_rows(sums, cx, y, y_stride);
}

/* ------------------------------------- the sweep over groups and rows */

/* One weight group times cx (1..8) activation rows, cx a constant in each
 * instantiation so the accumulators stay in registers. */
static ALWAYS_INLINE void group_n(x16_format f, const uint8_t *group, int64_t n_units, const uint8_t *xq,
                                  size_t x_row_bytes, int cx, float *y, long y_stride, x16_prefetch prefetch) {
    switch (f) {
    case X16_Q4_K:
    case X16_Q6_K: k_quant_group_n(f, group, n_units, xq, x_row_bytes, cx, y, y_stride, prefetch); break;
    case X16_Q8_0: q8_0_group_n(group, n_units, xq, x_row_bytes, cx, y, y_stride, prefetch); break;
    }
}

static ALWAYS_INLINE void group_any(x16_format f, const uint8_t *group, int64_t n_units, const uint8_t *xq,
                                    size_t x_row_bytes, int cx, float *y, long y_stride, x16_prefetch prefetch) {
    switch (cx) {
    case 8: group_n(f, group, n_units, xq, x_row_bytes, 8, y, y_stride, prefetch); break;
    case 7: group_n(f, group, n_units, xq, x_row_bytes, 7, y, y_stride, prefetch); break;
    case 6: group_n(f, group, n_units, xq, x_row_bytes, 6, y, y_stride, prefetch); break;
    case 5: group_n(f, group, n_units, xq, x_row_bytes, 5, y, y_stride, prefetch); break;
    case 4: group_n(f, group, n_units, xq, x_row_bytes, 4, y, y_stride, prefetch); break;
    case 3: group_n(f, group, n_units, xq, x_row_bytes, 3, y, y_stride, prefetch); break;
    case 2: group_n(f, group, n_units, xq, x_row_bytes, 2, y, y_stride, prefetch); break;
    default: group_n(f, group, n_units, xq, x_row_bytes, 1, y, y_stride, prefetch); break;
    }
}

/*
 * Loop order: tiles of up to X_TILE activation rows (their quantized rows,
 * up to ~300 KB, stay in L2), then the weight groups, then passes of up to
 * X_GROUP rows over one group: a group (26-150 KB) comes from memory once
 * per tile and from L2 for the tile's later passes. Every pass prefetches
 * X16_PREFETCH_AHEAD on into L1, except the last of several, which asks for
 * the next group into L2: its memory traffic then runs under that pass's
 * arithmetic instead of holding up the next group's first pass. Measured,
 * 1.5B shape, batch 16, 1 thread, alternating builds: passes of activation
 * rows outermost (the former order) Q8_0 160-162 tokens/s, this order
 * 174-177; Q4_K_M ~199 either way. Other prefetching, in one experimental
 * build (where this order gave 183-185): every pass prefetching ahead
 * 162-168 tokens/s; the last pass prefetching the next group into L1
 * 142-145; into L2 but the other passes not prefetching at all 140.
 */
enum { X_TILE = 4 * X_GROUP };

static ALWAYS_INLINE void gemm_x16(x16_format f, const void *w, size_t group_bytes, int n_groups, const void *xq,
                                   size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    const int64_t n_units = n / R1_X16_UNIT_VALUES;
    const x16_prefetch ahead = {X16_PREFETCH_AHEAD, false}, next_group = {(long)group_bytes, true};
    for (int t0 = 0; t0 < n_x_rows; t0 += X_TILE) {
        const int tile_end = n_x_rows - t0 < X_TILE ? n_x_rows : t0 + X_TILE;
        for (int g = 0; g < n_groups; g++) {
            const uint8_t *group = (const uint8_t *)w + (size_t)g * group_bytes;
            for (int c0 = t0; c0 < tile_end; c0 += X_GROUP) {
                const int cx = tile_end - c0 < X_GROUP ? tile_end - c0 : X_GROUP;
                const bool last_of_several = c0 + cx == tile_end && c0 > t0;
                group_any(f, group, n_units, (const uint8_t *)xq + (size_t)c0 * x_row_bytes, x_row_bytes, cx,
                          y + (long)c0 * y_stride + g * R1_X16_ROWS, y_stride, last_of_several ? next_group : ahead);
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
static void q8_0_gemm_x16(const void *w, size_t group_bytes, int n_groups, const void *xq, size_t x_row_bytes,
                          int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_x16(X16_Q8_0, w, group_bytes, n_groups, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}

const r1_gemm_x16_fn r1_gemm_x16_avx512_table[R1_TYPE_COUNT] = {
    [R1_TYPE_Q4_K] = q4_k_gemm_x16,
    [R1_TYPE_Q6_K] = q6_k_gemm_x16,
    [R1_TYPE_Q8_0] = q8_0_gemm_x16,
};

#else /* not x86-64: weights are never interleaved */

const r1_gemm_x16_fn r1_gemm_x16_avx512_table[R1_TYPE_COUNT] = {0};

#endif
