/*
 * gemm_avx512.c - tiled AVX-512 VNNI matrix products (r1_gemm_q_fn, see
 * kernels.h): a tile of up to 16 weight rows times up to 64 activation rows,
 * for prefill and batched decode.
 *
 * Layout: "rows in lanes". The weight tile is unpacked, one chunk of 256
 * values at a time (eight 32-value blocks, or one K-quant super-block), into
 * vectors whose 32-bit lane r holds four consecutive quants of weight row r
 * (a 16x16 transpose of 32-bit words after the bytes are unpacked). One
 * dpbusd of such a vector with four bytes of one activation row, broadcast to
 * all lanes, advances the dot products of all 16 weight rows at once. A
 * block's scales differ per weight row, i.e. per lane, so converting and
 * scaling a block's int32 sums is one operation for 16 rows, and there is no
 * horizontal reduction anywhere: lane r of activation row c's float
 * accumulator is y[c][r].
 *
 * Tiling: for each chunk, the weights are unpacked once (nibbles, high bits,
 * offsets, transposes, scales) into about 6 KB that stay in L1; then groups
 * of 8 activation rows (4, 2, 1 for the remainder) sweep them, each group
 * keeping 8 int32 block sums and 8 float sums in registers. Across chunks the
 * float sums of the tile wait in a 64 x 16 array.
 *
 * dpbusd multiplies unsigned bytes by signed bytes:
 *  - Q4_K, Q5_K, Q6_K: the weight quants are unsigned (Q6_K's as q + 32) and
 *    the Q8_K activation bytes are used in place. The minimums (Q4_K, Q5_K)
 *    and Q6_K's offset of 32 come from the activations' bsums.
 *  - Q8_0, Q4_0, Q5_0, Q4_1, Q5_1: the weights are signed (or small), so
 *    the activation bytes are flipped to x + 128 into a small buffer, once per
 *    group of 8 activation rows and chunk; each block's int32 sum starts at
 *    -128 * sum(w), found per weight row and block when the weights are
 *    unpacked. Q4_1 and Q5_1 also need sum(x) per block, for their minimum.
 *
 * Small batches (Q4_K, Q6_K up to 4 activation rows, Q8_0 up to 6) skip the
 * tiles: a row walk unpacks one weight row at a time as dot_q does and
 * applies each block to all the activation rows (see "small batches").
 *
 * All sums stay exact in int32 up to the per-block (or per-sub-block) float
 * scaling, so results match dot_q up to the order of float additions.
 * Off x86-64 the table is empty: the engine then uses dot_q row by row.
 */
#include "tensor/kernels.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "tensor/simd_avx512.h"

enum {
    TILE_W_ROWS = 16,              /* weight rows: one per 32-bit lane */
    MAX_X_ROWS = 64,               /* activation rows per pass of the float sums array */
    GROUP = 8,                     /* activation rows whose sums sit in registers */
    CHUNK_BLOCKS = 8,              /* 32-value blocks per chunk */
    GROUPS_PER_BLOCK = R1_QK / 4,  /* 4-byte groups in a 32-value block */
    GROUPS_PER_SUPER = R1_QK_K / 4 /* 4-byte groups in a K-quant super-block */
};

/* ---------------------------------------------------------------- helpers */

static inline __m512 halves_to_floats(__m512i low_halves) {
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(low_halves));
}

/* The weight rows of a tile. Lanes past n_rows repeat row 0, so they read
 * valid memory; their results are never stored. The gather offsets are
 * int32: fine for rows under 2^31 / 16 bytes (143 M), far past any model. */
typedef struct {
    const uint8_t *row[TILE_W_ROWS];
    const uint8_t *first;
    __m512i offset; /* lane r: row[r] - first, for gathers */
    int n_rows;
} weight_tile;

static weight_tile make_tile(const void *w, size_t row_bytes, int n_rows) {
    weight_tile t;
    int32_t offset[TILE_W_ROWS];
    t.first = w;
    t.n_rows = n_rows;
    for (int r = 0; r < TILE_W_ROWS; r++) {
        int source = r < n_rows ? r : 0;
        offset[r] = (int32_t)((size_t)source * row_bytes);
        t.row[r] = t.first + (size_t)source * row_bytes;
    }
    t.offset = _mm512_loadu_si512(offset);
    return t;
}

/* The 32-bit word at byte `at` of every row, in lane r for row r. */
static inline __m512i gather_words(const weight_tile *t, size_t at) {
    return _mm512_i32gather_epi32(t->offset, t->first + at, 1);
}

/* m[i] word j becomes m[j] word i. Word pairs, then quads, are interleaved
 * inside 128-bit lanes; two rounds of 128-bit lane shuffles finish. */
static void transpose_16x16(__m512i m[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(m[i], m[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(m[i], m[i + 1]);
    }
    /* per quad q of rows: m[4q + k] lane L = word 4L + k of the four rows */
    for (int q = 0; q < 16; q += 4) {
        m[q] = _mm512_unpacklo_epi64(t[q], t[q + 2]);
        m[q + 1] = _mm512_unpackhi_epi64(t[q], t[q + 2]);
        m[q + 2] = _mm512_unpacklo_epi64(t[q + 1], t[q + 3]);
        m[q + 3] = _mm512_unpackhi_epi64(t[q + 1], t[q + 3]);
    }
    /* word 4L + k of all rows: lane L of m[k], m[4 + k], m[8 + k], m[12 + k] */
    for (int k = 0; k < 4; k++) {
        __m512i even_a = _mm512_shuffle_i32x4(m[k], m[4 + k], 0x88);
        __m512i odd_a = _mm512_shuffle_i32x4(m[k], m[4 + k], 0xDD);
        __m512i even_b = _mm512_shuffle_i32x4(m[8 + k], m[12 + k], 0x88);
        __m512i odd_b = _mm512_shuffle_i32x4(m[8 + k], m[12 + k], 0xDD);
        t[k] = _mm512_shuffle_i32x4(even_a, even_b, 0x88);      /* lane 0 */
        t[4 + k] = _mm512_shuffle_i32x4(odd_a, odd_b, 0x88);    /* lane 1 */
        t[8 + k] = _mm512_shuffle_i32x4(even_a, even_b, 0xDD);  /* lane 2 */
        t[12 + k] = _mm512_shuffle_i32x4(odd_a, odd_b, 0xDD);   /* lane 3 */
    }
    memcpy(m, t, sizeof t);
}

/* The 64 bytes at byte `at` of every row of the tile, transposed: word k of
 * the result holds bytes 4k..4k+3, lane r from row r. */
static void load_transposed(const weight_tile *t, size_t at, __m512i words[16]) {
    for (int r = 0; r < TILE_W_ROWS; r++) words[r] = _mm512_loadu_si512(t->row[r] + at);
    transpose_16x16(words);
}

/* Asks for bytes [at, at + len) of every row of the tile: the next chunk is
 * then on its way from memory while this one is computed (the weights are
 * read once per tile and would otherwise stall the unpacking). */
static void prefetch_rows(const weight_tile *t, size_t at, size_t len) {
    for (int r = 0; r < t->n_rows; r++) {
        uintptr_t begin = (uintptr_t)(t->row[r] + at), end = begin + len;
        for (uintptr_t line = begin & ~(uintptr_t)63; line < end; line += 64)
            __builtin_prefetch((const char *)line, 0, 3); /* see prefetch_lines */
    }
}

/* Float sums of the tile: lane r of sums[c] is y[c][r]. */
typedef struct {
    __m512 sums[MAX_X_ROWS];
} tile_sums;

static void store_tile(const tile_sums *s, int n_x_rows, int n_w_rows, float *y, long y_stride) {
    __mmask16 rows = (__mmask16)((1u << n_w_rows) - 1);
    for (int c = 0; c < n_x_rows; c++) _mm512_mask_storeu_ps(y + c * y_stride, rows, s->sums[c]);
}

/* Activation rows per group: 8 while there are, then 4, 2, 1 (the kernels
 * are instantiated for those sizes only). */
static int group_size(int remaining) {
    return remaining >= 8 ? 8 : remaining >= 4 ? 4 : remaining >= 2 ? 2 : 1;
}

/* ------------------------------------------------ small batches: row walk */

/*
 * With a handful of activation rows the tile's unpacking and transposes are
 * shared by too few rows to pay off, and its prefetch (one chunk ahead, 16
 * rows at once) leaves the loads waiting on memory. The row walk instead
 * takes one weight row at a time, as dot_q does: each block is unpacked in
 * the layout of dot_q (quant_avx512.c), then multiplied with every
 * activation row of the group, each with its own accumulators. The weights
 * stream once and in order, prefetched PREFETCH_AHEAD_BYTES ahead like dot_q's,
 * and an extra activation row costs only its dpbusd and scaling. The
 * operations per activation row are dot_q's, so the results equal dot_q's
 * up to float rounding.
 */

enum {
    ROW_WALK_GROUP = 8 /* activation rows sharing one unpacked block */
};

/*
 * Batches up to these sizes take the row walk, larger ones the tiles. Each
 * extra activation row costs the walk about 0.7-0.9x a dot_q of the row,
 * the tiles about 0.1x, but the tiles' fixed unpacking costs ~3-4 dot_q
 * rows. Measured on Zen 4 (one thread, 50 MB of 1536-wide rows, ms per
 * pass, walk / tiles): Q4_K B=3 6.0 / 7.8, B=4 8.0 / 7.7, B=6 10.6 / 8.4;
 * Q6_K B=4 6.2 / 7.0, B=6 8.3 / 7.3; Q8_0 B=6 5.9 / 6.7, B=8 7.7 / 7.0.
 */
enum { Q4_K_WALK_MAX_X_ROWS = 4, Q6_K_WALK_MAX_X_ROWS = 4, Q8_0_WALK_MAX_X_ROWS = 6 };

/* The activation row c of a group, as the block array of its format. */
static inline const void *x_row(const void *xq, size_t x_row_bytes, int c) {
    return (const uint8_t *)xq + (size_t)c * x_row_bytes;
}

/* ---- Q4_K */

/* One Q4_K super-block unpacked as dot_q does: u[j] holds sub-blocks 2j
 * (bytes 0..31) and 2j + 1 (32..63) in value order. */
typedef struct {
    __m512i u[4];
    __m512i scales16[2]; /* int16 sub-block scales for add_scaled_dots, halves 0, 1 */
    __m256i mins16;      /* each min twice, as int16, for the bsums */
    __m128 d_dmin;       /* lane 0: d, lane 1: dmin */
} q4_k_unpacked;

static ALWAYS_INLINE void unpack_q4_k_block(const r1_block_q4_k *b, q4_k_unpacked *k) {
    for (int j = 0; j < 4; j++) {
        __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qs + 32 * j)));
        q = _mm512_mask_srli_epi16(q, 0xFFFF0000u, q, 4);
        k->u[j] = _mm512_and_si512(q, _mm512_set1_epi8(0x0F));
    }
    __m128i scales_mins = unpack_k_scales(b->scales);
    __m512i scale_bytes = _mm512_broadcast_i32x4(scales_mins);
    k->scales16[0] = _mm512_shuffle_epi8(scale_bytes, byte_scale_index(0, 2, 1, 3));
    k->scales16[1] = _mm512_shuffle_epi8(scale_bytes, byte_scale_index(4, 6, 5, 7));
    k->mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scales_mins, scales_mins));
    uint32_t d_dmin;
    memcpy(&d_dmin, b, 4);
    k->d_dmin = _mm_cvtph_ps(_mm_cvtsi32_si128((int)d_dmin));
}

/* The unpacked super-block times one activation block, added to acc and
 * (the min part) acc_min, as q45_k_superblock in quant_avx512.c. */
static ALWAYS_INLINE void q4_k_block_dot(const q4_k_unpacked *k, const r1_block_q8_k *x,
                                         __m512 *acc, __m256 *acc_min) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i dot[4];
    for (int j = 0; j < 4; j++)
        dot[j] = _mm512_dpbusd_epi32(zero, k->u[j], _mm512_loadu_si512(x->qs + 64 * j));
    __m512i sums = add_scaled_dots(zero, dot[0], dot[1], k->scales16[0]);
    sums = add_scaled_dots(sums, dot[2], dot[3], k->scales16[1]);
    __m256i min_sums = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)x->bsums), k->mins16);
    __m128 super = _mm_mul_ps(k->d_dmin, _mm_set1_ps(x->d));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_broadcastss_ps(super), *acc);
    *acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(min_sums),
                               _mm256_broadcastss_ps(_mm_movehdup_ps(super)), *acc_min);
}

/* One Q4_K weight row times cx activation rows: y[c * y_stride]. */
static ALWAYS_INLINE void q4_k_row_n(const r1_block_q4_k *w, const void *xq, size_t x_row_bytes,
                                     int cx, int64_t n_super, float *y, long y_stride) {
    __m512 acc[ROW_WALK_GROUP];
    __m256 acc_min[ROW_WALK_GROUP];
    const r1_block_q8_k *x[ROW_WALK_GROUP];
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q4_k);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        acc[c] = _mm512_setzero_ps();
        acc_min[c] = _mm256_setzero_ps();
        x[c] = x_row(xq, x_row_bytes, c);
    }
    for (int64_t i = 0; i < n_super; i++) {
        prefetch_lines(&w[i + ahead], 3);
        q4_k_unpacked k;
        unpack_q4_k_block(&w[i], &k);
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) q4_k_block_dot(&k, &x[c][i], &acc[c], &acc_min[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) y[c * y_stride] = _mm512_reduce_add_ps(acc[c]) - hsum256(acc_min[c]);
}

/* ---- Q6_K */

/* One Q6_K super-block unpacked as dot_q does (q6_k_chunk in
 * quant_avx512.c): u[2c] and u[2c + 1] hold values 128c .. 128c + 127 as
 * q + 32, 128-bit lane L of u[2c] sub-block 8c + L, of u[2c + 1] 8c + L + 4. */
typedef struct {
    __m512i u[4];
    __m512i scales16[2]; /* chunk c's int16 scales in the order of add_scaled_dots */
    __m256i scales;      /* the 16 scales as int16, for the offset */
    float d;
} q6_k_unpacked;

static ALWAYS_INLINE void unpack_q6_k_block(const r1_block_q6_k *b, q6_k_unpacked *k) {
    const __m512i nibble = _mm512_set1_epi8(0x0F), bits45 = _mm512_set1_epi8(0x30);
    const __m512i up_lo = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i down_hi = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
    for (int c = 0; c < 2; c++) {
        __m512i ql = _mm512_loadu_si512(b->ql + 64 * c);
        __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * c)));
        /* 0xEA: (a & b) | c */
        k->u[2 * c] = _mm512_ternarylogic_epi32(_mm512_sllv_epi16(qh, up_lo), bits45,
                                                _mm512_and_si512(ql, nibble), 0xEA);
        k->u[2 * c + 1] = _mm512_ternarylogic_epi32(
            _mm512_srlv_epi16(qh, down_hi), bits45,
            _mm512_and_si512(_mm512_srli_epi16(ql, 4), nibble), 0xEA);
    }
    k->scales = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    /* int16 word L four times, then word L + 4, in 128-bit lane L */
    const __m512i index =
        _mm512_set_epi64(four_words_from(14, 15), four_words_from(6, 7), four_words_from(12, 13),
                         four_words_from(4, 5), four_words_from(10, 11), four_words_from(2, 3),
                         four_words_from(8, 9), four_words_from(0, 1));
    k->scales16[0] =
        _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm256_castsi256_si128(k->scales)), index);
    k->scales16[1] =
        _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm256_extracti128_si256(k->scales, 1)), index);
    k->d = _cvtsh_ss(b->d);
}

/* The unpacked super-block times one activation block: the scaled sums to
 * acc, 32 * sum(scale * bsum) (the offset of u) to acc_offset. */
static ALWAYS_INLINE void q6_k_block_dot(const q6_k_unpacked *k, const r1_block_q8_k *x,
                                         __m512 *acc, __m256 *acc_offset) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i dot[4];
    for (int j = 0; j < 4; j++)
        dot[j] = _mm512_dpbusd_epi32(zero, k->u[j], _mm512_loadu_si512(x->qs + 64 * j));
    __m512i sums = add_scaled_dots(zero, dot[0], dot[1], k->scales16[0]);
    sums = add_scaled_dots(sums, dot[2], dot[3], k->scales16[1]);
    __m256i bsums = _mm256_loadu_si256((const __m256i *)x->bsums);
    __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums, k->scales), 5);
    float d = k->d * x->d;
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_set1_ps(d), *acc);
    *acc_offset = _mm256_fmadd_ps(_mm256_cvtepi32_ps(offset), _mm256_set1_ps(d), *acc_offset);
}

static ALWAYS_INLINE void q6_k_row_n(const r1_block_q6_k *w, const void *xq, size_t x_row_bytes,
                                     int cx, int64_t n_super, float *y, long y_stride) {
    __m512 acc[ROW_WALK_GROUP];
    __m256 acc_offset[ROW_WALK_GROUP];
    const r1_block_q8_k *x[ROW_WALK_GROUP];
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q6_k);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        acc[c] = _mm512_setzero_ps();
        acc_offset[c] = _mm256_setzero_ps();
        x[c] = x_row(xq, x_row_bytes, c);
    }
    for (int64_t i = 0; i < n_super; i++) {
        prefetch_lines(&w[i + ahead], 4);
        q6_k_unpacked k;
        unpack_q6_k_block(&w[i], &k);
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) q6_k_block_dot(&k, &x[c][i], &acc[c], &acc_offset[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++)
        y[c * y_stride] = _mm512_reduce_add_ps(acc[c]) - hsum256(acc_offset[c]);
}

/* ---- Q8_0 */

/* Blocks i and i + 1 of a Q8_0 row in one register: the weights as
 * u = q + 128 (sign bit flipped), the activations as they are. */
static inline __m512i q8_0_pair_bytes(const r1_block_q8_0 *a, const r1_block_q8_0 *b) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)a->qs);
    __m256i hi = _mm256_loadu_si256((const __m256i *)b->qs);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Per lane: sum of (u - 128) * x over its four bytes, i.e. q . x. */
static inline __m512i q8_0_pair_sums(__m512i u, __m512i x) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i ux = _mm512_dpbusd_epi32(zero, u, x);
    __m512i ox = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8((char)0x80), x);
    return _mm512_sub_epi32(ux, ox);
}

/* Blocks ia and ib (ib == ia for an odd last block, then only lanes 0..7
 * count) of one weight row times cx activation rows. */
static ALWAYS_INLINE void q8_0_pair_n(const r1_block_q8_0 *w, const r1_block_q8_0 *const *x, int cx,
                                      int64_t ia, int64_t ib, __m512 *acc) {
    const __mmask16 lanes = ib > ia ? 0xFFFF : 0x00FF;
    __m512i u = _mm512_xor_si512(q8_0_pair_bytes(&w[ia], &w[ib]), _mm512_set1_epi8((char)0x80));
    const float wa = _cvtsh_ss(w[ia].d), wb = _cvtsh_ss(w[ib].d);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        __m512i sums = q8_0_pair_sums(u, q8_0_pair_bytes(&x[c][ia], &x[c][ib]));
        __m512 scale = pair_of(wa * _cvtsh_ss(x[c][ia].d), wb * _cvtsh_ss(x[c][ib].d));
        acc[c] = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc[c], lanes);
    }
}

static ALWAYS_INLINE void q8_0_row_n(const r1_block_q8_0 *w, const void *xq, size_t x_row_bytes,
                                     int cx, int64_t n_blocks, float *y, long y_stride) {
    __m512 acc[ROW_WALK_GROUP];
    const r1_block_q8_0 *x[ROW_WALK_GROUP];
    const int64_t ahead = PREFETCH_AHEAD_BYTES / (int64_t)sizeof(r1_block_q8_0);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        acc[c] = _mm512_setzero_ps();
        x[c] = x_row(xq, x_row_bytes, c);
    }
    for (int64_t i = 0; i < n_blocks; i += 2) {
        prefetch_lines(&w[i + ahead], 1);
        q8_0_pair_n(w, x, cx, i, i + 1 < n_blocks ? i + 1 : i, acc);
    }
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) y[c * y_stride] = _mm512_reduce_add_ps(acc[c]);
}

/* ---- the walk over weight rows and groups of activation rows */

typedef enum { ROW_WALK_Q4_K, ROW_WALK_Q6_K, ROW_WALK_Q8_0 } row_walk_format;

/* One weight row times cx (1..8) activation rows, with cx a constant in
 * each instantiation so the accumulators stay in registers. */
static ALWAYS_INLINE void row_walk_n(row_walk_format f, const void *w, const void *xq,
                                     size_t x_row_bytes, int cx, int64_t n, float *y,
                                     long y_stride) {
    switch (f) {
    case ROW_WALK_Q4_K: q4_k_row_n(w, xq, x_row_bytes, cx, n / R1_QK_K, y, y_stride); break;
    case ROW_WALK_Q6_K: q6_k_row_n(w, xq, x_row_bytes, cx, n / R1_QK_K, y, y_stride); break;
    case ROW_WALK_Q8_0: q8_0_row_n(w, xq, x_row_bytes, cx, n / R1_QK, y, y_stride); break;
    }
}

static ALWAYS_INLINE void row_walk_group(row_walk_format f, const void *w, const void *xq,
                                         size_t x_row_bytes, int cx, int64_t n, float *y,
                                         long y_stride) {
    switch (cx) {
    case 8: row_walk_n(f, w, xq, x_row_bytes, 8, n, y, y_stride); break;
    case 7: row_walk_n(f, w, xq, x_row_bytes, 7, n, y, y_stride); break;
    case 6: row_walk_n(f, w, xq, x_row_bytes, 6, n, y, y_stride); break;
    case 5: row_walk_n(f, w, xq, x_row_bytes, 5, n, y, y_stride); break;
    case 4: row_walk_n(f, w, xq, x_row_bytes, 4, n, y, y_stride); break;
    case 3: row_walk_n(f, w, xq, x_row_bytes, 3, n, y, y_stride); break;
    case 2: row_walk_n(f, w, xq, x_row_bytes, 2, n, y, y_stride); break;
    default: row_walk_n(f, w, xq, x_row_bytes, 1, n, y, y_stride); break;
    }
}

/* The r1_gemm_q_fn contract by row walks: weight row by weight row, each
 * swept over groups of up to 8 activation rows. */
static ALWAYS_INLINE void row_walk(row_walk_format f, const void *w, size_t w_row_bytes,
                                   int n_w_rows, const void *xq, size_t x_row_bytes, int n_x_rows,
                                   int64_t n, float *y, long y_stride) {
    for (int r = 0; r < n_w_rows; r++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)r * w_row_bytes;
        for (int c0 = 0; c0 < n_x_rows; c0 += ROW_WALK_GROUP) {
            int cx = n_x_rows - c0 < ROW_WALK_GROUP ? n_x_rows - c0 : ROW_WALK_GROUP;
            row_walk_group(f, row, x_row(xq, x_row_bytes, c0), x_row_bytes, cx, n,
                           y + (long)c0 * y_stride + r, y_stride);
        }
    }
}

static void q4_k_row_walk(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                          size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    row_walk(ROW_WALK_Q4_K, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q6_k_row_walk(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                          size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    row_walk(ROW_WALK_Q6_K, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q8_0_row_walk(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                          size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    row_walk(ROW_WALK_Q8_0, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}

/* ------------------------------------ 32-wide formats (Q8_0 activations) */

/* A chunk of up to 8 weight blocks of 16 rows. */
typedef struct {
    __m512i q[CHUNK_BLOCKS][GROUPS_PER_BLOCK]; /* signed quants (Q4_1, Q5_1: 0..31) */
    __m512i start[CHUNK_BLOCKS];               /* -128 * sum of the block's quants */
    __m512 d[CHUNK_BLOCKS];                    /* block scale */
    __m512 m[CHUNK_BLOCKS];                    /* block minimum (Q4_1, Q5_1) */
} wide_chunk;

/* The activations of one group and chunk. */
typedef struct {
    _Alignas(64) uint8_t u[GROUP][CHUNK_BLOCKS][R1_QK]; /* x + 128 */
    float d[GROUP][CHUNK_BLOCKS];                       /* block scale */
    float d_sum[GROUP][CHUNK_BLOCKS];                   /* scale * sum(x) (Q4_1, Q5_1) */
} wide_x_group;

/* The 32 values of block a in bytes 0..31 and of block b in bytes 32..63. */
typedef __m512i (*block_pair_fn)(const uint8_t *a, const uint8_t *b);

typedef struct {
    size_t block_bytes;
    bool has_min; /* x = q * d + m, with m the half after d */
    block_pair_fn values;
} wide_format;

/* Nibble formats: value j is the low nibble of qs[j], value 16 + j the high
 * one. Each 16-byte qs goes into two 128-bit lanes; the second copy is
 * shifted down to its high nibbles. */
static inline __m512i nibble_pair(const uint8_t *qs_a, const uint8_t *qs_b) {
    __m256i a = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs_a));
    __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs_b));
    __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    both = _mm512_mask_srli_epi16(both, 0xFF00FF00u, both, 4); /* 128-bit lanes 1, 3 */
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
}

/* Adds 16 where the fifth bit (bit j of the little-endian qh word) is set. */
static inline __m512i with_fifth_bits(__m512i u, const uint8_t *qh_a, const uint8_t *qh_b) {
    uint32_t a, b;
    memcpy(&a, qh_a, 4);
    memcpy(&b, qh_b, 4);
    __mmask64 set = (__mmask64)a | (__mmask64)b << 32;
    return _mm512_mask_add_epi8(u, set, u, _mm512_set1_epi8(16));
}

static __m512i q8_0_pair(const uint8_t *a, const uint8_t *b) {
    const r1_block_q8_0 *ba = (const void *)a, *bb = (const void *)b;
    __m256i lo = _mm256_loadu_si256((const __m256i *)ba->qs);
    __m256i hi = _mm256_loadu_si256((const __m256i *)bb->qs);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static __m512i q4_0_pair(const uint8_t *a, const uint8_t *b) {
    const r1_block_q4_0 *ba = (const void *)a, *bb = (const void *)b;
    return _mm512_sub_epi8(nibble_pair(ba->qs, bb->qs), _mm512_set1_epi8(8));
}

static __m512i q5_0_pair(const uint8_t *a, const uint8_t *b) {
    const r1_block_q5_0 *ba = (const void *)a, *bb = (const void *)b;
    __m512i u = with_fifth_bits(nibble_pair(ba->qs, bb->qs), ba->qh, bb->qh);
    return _mm512_sub_epi8(u, _mm512_set1_epi8(16));
}

static __m512i q4_1_pair(const uint8_t *a, const uint8_t *b) {
    const r1_block_q4_1 *ba = (const void *)a, *bb = (const void *)b;
    return nibble_pair(ba->qs, bb->qs);
}

static __m512i q5_1_pair(const uint8_t *a, const uint8_t *b) {
    const r1_block_q5_1 *ba = (const void *)a, *bb = (const void *)b;
    return with_fifth_bits(nibble_pair(ba->qs, bb->qs), ba->qh, bb->qh);
}

static const wide_format q8_0_format = {sizeof(r1_block_q8_0), false, q8_0_pair};
static const wide_format q4_0_format = {sizeof(r1_block_q4_0), false, q4_0_pair};
static const wide_format q5_0_format = {sizeof(r1_block_q5_0), false, q5_0_pair};
static const wide_format q4_1_format = {sizeof(r1_block_q4_1), true, q4_1_pair};
static const wide_format q5_1_format = {sizeof(r1_block_q5_1), true, q5_1_pair};

/* Blocks first .. first + nb - 1 of every row, two at a time (the odd last
 * block is loaded twice). */
static void unpack_wide_chunk(const wide_format *f, const weight_tile *t, int64_t first, int nb,
                              wide_chunk *chunk) {
    for (int a = 0; a < nb; a += 2) {
        int b = a + 1 < nb ? a + 1 : a;
        __m512i words[16];
        for (int r = 0; r < TILE_W_ROWS; r++) {
            const uint8_t *blocks = t->row[r] + (size_t)first * f->block_bytes;
            words[r] = f->values(blocks + (size_t)a * f->block_bytes,
                                 blocks + (size_t)b * f->block_bytes);
        }
        transpose_16x16(words);
        memcpy(chunk->q[b], words + GROUPS_PER_BLOCK, sizeof chunk->q[b]);
        memcpy(chunk->q[a], words, sizeof chunk->q[a]);
    }
    const __m512i u128 = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < nb; b++) {
        __m512i sum = _mm512_setzero_si512(); /* 128 * sum(q) */
        for (int g = 0; g < GROUPS_PER_BLOCK; g++)
            sum = _mm512_dpbusd_epi32(sum, u128, chunk->q[b][g]);
        chunk->start[b] = _mm512_sub_epi32(_mm512_setzero_si512(), sum);
        __m512i scales = gather_words(t, (size_t)(first + b) * f->block_bytes); /* d, then m */
        chunk->d[b] = halves_to_floats(scales);
        if (f->has_min) chunk->m[b] = halves_to_floats(_mm512_srli_epi32(scales, 16));
    }
}

/* Flips blocks first .. first + nb - 1 of cx activation rows to unsigned. */
static void prepare_wide_x(const uint8_t *x, size_t x_row_bytes, int cx, int64_t first, int nb,
                           bool has_min, wide_x_group *g) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int c = 0; c < cx; c++) {
        const r1_block_q8_0 *row = (const r1_block_q8_0 *)(x + (size_t)c * x_row_bytes) + first;
        for (int b = 0; b < nb; b++) {
            __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)row[b].qs), flip);
            _mm256_store_si256((__m256i *)g->u[c][b], u);
            g->d[c][b] = _cvtsh_ss(row[b].d);
            if (!has_min) continue;
            /* sum(x) = sum(x + 128) - 32 * 128; sad gives four partial sums */
            __m256i partial = _mm256_sad_epu8(u, _mm256_setzero_si256());
            __m128i two = _mm_add_epi64(_mm256_castsi256_si128(partial),
                                        _mm256_extracti128_si256(partial, 1));
            int sum = (int)(_mm_cvtsi128_si64(two) + _mm_extract_epi64(two, 1)) - R1_QK * 128;
            g->d_sum[c][b] = g->d[c][b] * (float)sum;
        }
    }
}

/* The chunk times cx activation rows, added to sums[0 .. cx-1]. Per block:
 * 8 dpbusd per row into an int32 sum that starts at -128 * sum(w), then
 * one scaling per row for all 16 weight rows. */
static ALWAYS_INLINE void wide_group_n(const wide_chunk *w, int nb, const wide_x_group *x, int cx,
                                       bool has_min, __m512 *sums) {
    __m512 acc[GROUP];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) acc[c] = sums[c];
    for (int b = 0; b < nb; b++) {
        __m512i isum[GROUP];
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) isum[c] = w->start[b];
#pragma GCC unroll 8
        for (int g = 0; g < GROUPS_PER_BLOCK; g++) {
            __m512i q = w->q[b][g];
#pragma GCC unroll 8
            for (int c = 0; c < cx; c++)
                isum[c] = _mm512_dpbusd_epi32(isum[c], broadcast_4_bytes(x->u[c][b] + 4 * g), q);
        }
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) {
            __m512 scale = _mm512_mul_ps(w->d[b], _mm512_set1_ps(x->d[c][b]));
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), scale, acc[c]);
            if (has_min) acc[c] = _mm512_fmadd_ps(w->m[b], _mm512_set1_ps(x->d_sum[c][b]), acc[c]);
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) sums[c] = acc[c];
}

static void wide_group(const wide_chunk *w, int nb, const wide_x_group *x, int cx, bool has_min,
                       __m512 *sums) {
    if (has_min) {
        switch (cx) {
        case 8: wide_group_n(w, nb, x, 8, true, sums); break;
        case 4: wide_group_n(w, nb, x, 4, true, sums); break;
        case 2: wide_group_n(w, nb, x, 2, true, sums); break;
        default: wide_group_n(w, nb, x, 1, true, sums); break;
        }
    } else {
        switch (cx) {
        case 8: wide_group_n(w, nb, x, 8, false, sums); break;
        case 4: wide_group_n(w, nb, x, 4, false, sums); break;
        case 2: wide_group_n(w, nb, x, 2, false, sums); break;
        default: wide_group_n(w, nb, x, 1, false, sums); break;
        }
    }
}

static void gemm_wide(const wide_format *f, const void *w, size_t w_row_bytes, int n_w_rows,
                      const void *xq, size_t x_row_bytes, int n_x_rows, int64_t n, float *y,
                      long y_stride) {
    const weight_tile tile = make_tile(w, w_row_bytes, n_w_rows);
    const int64_t n_blocks = n / R1_QK;
    for (int x0 = 0; x0 < n_x_rows; x0 += MAX_X_ROWS) {
        const int nx = n_x_rows - x0 < MAX_X_ROWS ? n_x_rows - x0 : MAX_X_ROWS;
        const uint8_t *x = (const uint8_t *)xq + (size_t)x0 * x_row_bytes;
        tile_sums s;
        for (int c = 0; c < nx; c++) s.sums[c] = _mm512_setzero_ps();
        for (int64_t first = 0; first < n_blocks; first += CHUNK_BLOCKS) {
            const int nb = n_blocks - first < CHUNK_BLOCKS ? (int)(n_blocks - first) : CHUNK_BLOCKS;
            wide_chunk chunk;
            unpack_wide_chunk(f, &tile, first, nb, &chunk);
            if (first + nb < n_blocks)
                prefetch_rows(&tile, (size_t)(first + nb) * f->block_bytes,
                              CHUNK_BLOCKS * f->block_bytes);
            for (int c0 = 0; c0 < nx;) {
                const int cx = group_size(nx - c0);
                wide_x_group xg;
                prepare_wide_x(x + (size_t)c0 * x_row_bytes, x_row_bytes, cx, first, nb,
                               f->has_min, &xg);
                wide_group(&chunk, nb, &xg, cx, f->has_min, s.sums + c0);
                c0 += cx;
            }
        }
        store_tile(&s, nx, n_w_rows, y + (long)x0 * y_stride, y_stride);
    }
}

static void q8_0_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    if (n_x_rows <= Q8_0_WALK_MAX_X_ROWS) {
        q8_0_row_walk(w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
        return;
    }
    gemm_wide(&q8_0_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q4_0_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_wide(&q4_0_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q5_0_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_wide(&q5_0_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q4_1_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_wide(&q4_1_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q5_1_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_wide(&q5_1_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}

/* ------------------------------------------- K-quants (Q8_K activations) */

/* One super-block of 16 rows. */
typedef struct {
    __m512i q[GROUPS_PER_SUPER]; /* group G: values 4G..4G+3, unsigned */
    __m512 scale[16];            /* d * sub-block scale (Q4_K, Q5_K: 8 sub-blocks) */
    __m512i min_pair[8];         /* Q4_K, Q5_K: sub-block min twice, as two int16 */
    __m512 dmin;                 /* Q4_K, Q5_K */
} k_chunk;

/* Q4_K / Q5_K: d, dmin and the 6-bit scales and mins (packed in 12 bytes
 * at byte 4, see k4_scale_min in quant_scalar.c), with rows in lanes. */
static void unpack_k4_scales(const weight_tile *t, size_t block_at, k_chunk *chunk) {
    __m512i mins[8];
    k4_scales_in_lanes(gather_words(t, block_at), gather_words(t, block_at + 4), gather_words(t, block_at + 8),
                       gather_words(t, block_at + 12), chunk->scale, mins, &chunk->dmin);
    for (int j = 0; j < 8; j++) chunk->min_pair[j] = _mm512_or_si512(mins[j], _mm512_slli_epi32(mins[j], 16));
}

/* Q4_K / Q5_K nibbles: qs byte 32k + l holds value 64k + l (low nibble) and
 * 64k + 32 + l (high nibble). qh (Q5_K, else 0): bit j of qh[l] is the fifth
 * bit of value 32j + l. */
static void unpack_k45_quants(const weight_tile *t, size_t block_at, size_t qs_at, size_t qh_at,
                              k_chunk *chunk) {
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    for (int half = 0; half < 2; half++) {
        __m512i words[16]; /* word k: qs bytes 64 half + 4k .. + 3 */
        load_transposed(t, block_at + qs_at + 64 * (size_t)half, words);
        for (int k = 0; k < 16; k++) {
            int group = 32 * half + 16 * (k / 8) + k % 8; /* of the low nibbles */
            chunk->q[group] = _mm512_and_si512(words[k], nibble);
            chunk->q[group + 8] = _mm512_and_si512(_mm512_srli_epi32(words[k], 4), nibble);
        }
    }
    if (!qh_at) return;
    __m512i bits[16]; /* word k: qh bytes 4k .. 4k+3 (words 8..15 are qs) */
    load_transposed(t, block_at + qh_at, bits);
    const __m512i fifth = _mm512_set1_epi8(0x10);
    for (int j = 0; j < 8; j++)
        for (int k = 0; k < 8; k++) {
            /* bit j of every byte to bit 4; what crosses bytes lands outside 0x10 */
            __m512i moved = j <= 4 ? _mm512_slli_epi32(bits[k], (unsigned)(4 - j))
                                   : _mm512_srli_epi32(bits[k], (unsigned)(j - 4));
            /* 0xEA: (a & b) | c */
            __m512i *q = &chunk->q[8 * j + k];
            *q = _mm512_ternarylogic_epi32(moved, fifth, *q, 0xEA);
        }
}

static void unpack_q4_k(const weight_tile *t, int64_t sb, k_chunk *chunk) {
    size_t at = (size_t)sb * sizeof(r1_block_q4_k);
    unpack_k4_scales(t, at, chunk);
    unpack_k45_quants(t, at, offsetof(r1_block_q4_k, qs), 0, chunk);
}

static void unpack_q5_k(const weight_tile *t, int64_t sb, k_chunk *chunk) {
    size_t at = (size_t)sb * sizeof(r1_block_q5_k);
    unpack_k4_scales(t, at, chunk);
    unpack_k45_quants(t, at, offsetof(r1_block_q5_k, qs), offsetof(r1_block_q5_k, qh), chunk);
}

/* Q6_K: value 128h + 32k + l (l < 32) has its low four bits in
 * ql[64h + 32(k % 2) + l] (low nibble for k < 2, else high) and its top two
 * at bit 2k of qh[32h + l]; the stored u = q + 32 is 0..63. */
static void unpack_q6_k(const weight_tile *t, int64_t sb, k_chunk *chunk) {
    const size_t at = (size_t)sb * sizeof(r1_block_q6_k);
    /* the half d ends the block: read it as the top of the word at 206 */
    __m512 d = halves_to_floats(
        _mm512_srli_epi32(gather_words(t, at + offsetof(r1_block_q6_k, d) - 2), 16));
    for (int s = 0; s < 4; s++) {
        __m512i four = gather_words(t, at + offsetof(r1_block_q6_k, scales) + 4 * (size_t)s);
        for (int i = 0; i < 4; i++) {
            __m512i scale = _mm512_srai_epi32(_mm512_slli_epi32(four, 24 - 8 * (unsigned)i), 24);
            chunk->scale[4 * s + i] = _mm512_mul_ps(d, _mm512_cvtepi32_ps(scale));
        }
    }
    __m512i low[32], high[16]; /* word k: ql / qh bytes 4k .. 4k+3 */
    load_transposed(t, at + offsetof(r1_block_q6_k, ql), low);
    load_transposed(t, at + offsetof(r1_block_q6_k, ql) + 64, low + 16);
    load_transposed(t, at + offsetof(r1_block_q6_k, qh), high);
    const __m512i nibble = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30);
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 4; k++)
            for (int l4 = 0; l4 < 8; l4++) {
                __m512i l = low[16 * h + 8 * (k % 2) + l4];
                l = _mm512_and_si512(k < 2 ? l : _mm512_srli_epi32(l, 4), nibble);
                /* bits 2k, 2k+1 of every byte to bits 4, 5 */
                __m512i hb = high[8 * h + l4];
                hb = k < 2 ? _mm512_slli_epi32(hb, 4 - 2 * (unsigned)k)
                           : _mm512_srli_epi32(hb, 2 * (unsigned)k - 4);
                chunk->q[32 * h + 8 * k + l4] = _mm512_ternarylogic_epi32(hb, top, l, 0xEA);
            }
}

/* Q4_K / Q5_K super-block times cx activation rows (x[c]: row c's block).
 * Per sub-block of 32: 8 dpbusd per row, then one scaling per row; the mins
 * are min_j * (bsums[2j] + bsums[2j + 1]), 8 dpwssd per row. */
static ALWAYS_INLINE void k45_group_n(const k_chunk *w, const r1_block_q8_k *const *x, int cx,
                                      __m512 *sums) {
    __m512 acc[GROUP];
    __m512i isum[GROUP];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) acc[c] = _mm512_setzero_ps();
    for (int j = 0; j < 8; j++) {
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) isum[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int g = 0; g < 8; g++) {
            __m512i q = w->q[8 * j + g];
#pragma GCC unroll 8
            for (int c = 0; c < cx; c++)
                isum[c] = _mm512_dpbusd_epi32(isum[c], q,
                                              broadcast_4_bytes(x[c]->qs + 32 * j + 4 * g));
        }
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), w->scale[j], acc[c]);
    }
    subtract_k4_mins(w->min_pair, 8, w->dmin, x, (long)offsetof(r1_block_q8_k, bsums), cx, acc);
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) sums[c] = _mm512_fmadd_ps(acc[c], _mm512_set1_ps(x[c]->d), sums[c]);
}

/* Q6_K super-block times cx activation rows. Per sub-block of 16: the int32
 * sum starts at -32 * bsum (taking the offset of u back out), 4 dpbusd per
 * row, one scaling per row. */
static ALWAYS_INLINE void q6_k_group_n(const k_chunk *w, const r1_block_q8_k *const *x, int cx,
                                       __m512 *sums) {
    _Alignas(64) int32_t start[GROUP][16];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) {
        __m512i bsums = _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)x[c]->bsums));
        __m512i offset = _mm512_slli_epi32(bsums, 5); /* 32 * bsum */
        _mm512_store_si512(start[c], _mm512_sub_epi32(_mm512_setzero_si512(), offset));
    }
    __m512 acc[GROUP];
    __m512i isum[GROUP];
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++) acc[c] = _mm512_setzero_ps();
    for (int j = 0; j < 16; j++) {
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++) isum[c] = _mm512_set1_epi32(start[c][j]);
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m512i q = w->q[4 * j + g];
#pragma GCC unroll 8
            for (int c = 0; c < cx; c++)
                isum[c] = _mm512_dpbusd_epi32(isum[c], q,
                                              broadcast_4_bytes(x[c]->qs + 16 * j + 4 * g));
        }
#pragma GCC unroll 8
        for (int c = 0; c < cx; c++)
            acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[c]), w->scale[j], acc[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < cx; c++)
        sums[c] = _mm512_fmadd_ps(acc[c], _mm512_set1_ps(x[c]->d), sums[c]);
}

static void k45_group(const k_chunk *w, const r1_block_q8_k *const *x, int cx, __m512 *sums) {
    switch (cx) {
    case 8: k45_group_n(w, x, 8, sums); break;
    case 4: k45_group_n(w, x, 4, sums); break;
    case 2: k45_group_n(w, x, 2, sums); break;
    default: k45_group_n(w, x, 1, sums); break;
    }
}

static void q6_k_group(const k_chunk *w, const r1_block_q8_k *const *x, int cx, __m512 *sums) {
    switch (cx) {
    case 8: q6_k_group_n(w, x, 8, sums); break;
    case 4: q6_k_group_n(w, x, 4, sums); break;
    case 2: q6_k_group_n(w, x, 2, sums); break;
    default: q6_k_group_n(w, x, 1, sums); break;
    }
}

typedef struct {
    size_t block_bytes;
    void (*unpack)(const weight_tile *t, int64_t sb, k_chunk *chunk);
    void (*group)(const k_chunk *w, const r1_block_q8_k *const *x, int cx, __m512 *sums);
} k_format;

static const k_format q4_k_format = {sizeof(r1_block_q4_k), unpack_q4_k, k45_group};
static const k_format q5_k_format = {sizeof(r1_block_q5_k), unpack_q5_k, k45_group};
static const k_format q6_k_format = {sizeof(r1_block_q6_k), unpack_q6_k, q6_k_group};

static void gemm_k(const k_format *f, const void *w, size_t w_row_bytes, int n_w_rows,
                   const void *xq, size_t x_row_bytes, int n_x_rows, int64_t n, float *y,
                   long y_stride) {
    const weight_tile tile = make_tile(w, w_row_bytes, n_w_rows);
    const int64_t n_super = n / R1_QK_K;
    for (int x0 = 0; x0 < n_x_rows; x0 += MAX_X_ROWS) {
        const int nx = n_x_rows - x0 < MAX_X_ROWS ? n_x_rows - x0 : MAX_X_ROWS;
        const uint8_t *x = (const uint8_t *)xq + (size_t)x0 * x_row_bytes;
        tile_sums s;
        for (int c = 0; c < nx; c++) s.sums[c] = _mm512_setzero_ps();
        for (int64_t sb = 0; sb < n_super; sb++) {
            k_chunk chunk;
            f->unpack(&tile, sb, &chunk);
            if (sb + 1 < n_super)
                prefetch_rows(&tile, (size_t)(sb + 1) * f->block_bytes, f->block_bytes);
            for (int c0 = 0; c0 < nx;) {
                const int cx = group_size(nx - c0);
                const r1_block_q8_k *rows[GROUP];
                for (int c = 0; c < cx; c++)
                    rows[c] = (const r1_block_q8_k *)(x + (size_t)(c0 + c) * x_row_bytes) + sb;
                f->group(&chunk, rows, cx, s.sums + c0);
                c0 += cx;
            }
        }
        store_tile(&s, nx, n_w_rows, y + (long)x0 * y_stride, y_stride);
    }
}

static void q4_k_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    if (n_x_rows <= Q4_K_WALK_MAX_X_ROWS) {
        q4_k_row_walk(w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
        return;
    }
    gemm_k(&q4_k_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q5_k_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    gemm_k(&q5_k_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}
static void q6_k_gemm(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                      size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride) {
    if (n_x_rows <= Q6_K_WALK_MAX_X_ROWS) {
        q6_k_row_walk(w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
        return;
    }
    gemm_k(&q6_k_format, w, w_row_bytes, n_w_rows, xq, x_row_bytes, n_x_rows, n, y, y_stride);
}

/* ----------------------------------------------------------------- table */

const r1_gemm_q_fn r1_gemm_avx512_table[R1_TYPE_COUNT] = {
    [R1_TYPE_Q8_0] = q8_0_gemm, [R1_TYPE_Q4_0] = q4_0_gemm, [R1_TYPE_Q5_0] = q5_0_gemm,
    [R1_TYPE_Q4_1] = q4_1_gemm, [R1_TYPE_Q5_1] = q5_1_gemm, [R1_TYPE_Q4_K] = q4_k_gemm,
    [R1_TYPE_Q5_K] = q5_k_gemm, [R1_TYPE_Q6_K] = q6_k_gemm,
};

#else /* not x86-64: no tiled products; dot_q runs row by row */

const r1_gemm_q_fn r1_gemm_avx512_table[R1_TYPE_COUNT] = {0};

#endif
