/*
 * interleave.h - the "16 rows interleaved" weight layout (R1_LAYOUT_X16).
 *
 * In a GGUF file each weight row is a run of blocks. The batched AVX-512
 * and AVX2 products want 16 rows side by side instead, one row per 32-bit lane, and
 * rearranging the bytes on every call (gathers, 16x16 transposes) cost them
 * more than the multiplications. So, once at load, r1 rewrites each group of
 * 16 rows of a Q4_K, Q6_K or Q8_0 tensor in place into that lane order; the
 * tensor keeps its size, and every product reads it as it is.
 *
 * A row is cut into units of 256 values (one K-quant super-block, or eight
 * Q8_0 blocks). A unit of one row is first written in its canonical form:
 *   Q4_K: the block as stored (36 words: d|dmin, 3 of scales, 32 of qs);
 *   Q6_K: the block as stored: 52 words (ql, qh, scales), then the half d;
 *   Q8_0: the 8 blocks' 256 quants, each XOR 0x80 (q + 128, unsigned, as
 *         the VNNI instruction wants its first operand), then the 8 halves d.
 * The unit of a group of 16 rows is then: for each canonical word w, the 16
 * rows' word w (64 bytes: lane r = row r); after them, for each canonical
 * half h, the 16 rows' half h (32 bytes). Units follow one another, and
 * groups of 16 rows follow one another, so a group occupies exactly the bytes
 * its 16 rows occupied before.
 */
#ifndef R1_TENSOR_INTERLEAVE_H
#define R1_TENSOR_INTERLEAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

enum {
    R1_X16_ROWS = 16,
    R1_X16_UNIT_VALUES = 256
};

/* A unit of 16 rows, as the products read it: its bytes, and where its
 * parts begin, in 64-byte vectors (one canonical word of the 16 rows each)
 * or in bytes. Q4_K: vector 0 the halves d|dmin, 1..3 the scales, 4..35
 * the qs. Q6_K: 0..31 ql, 32..47 qh, 48..51 the int8 scales, then the
 * halves d. Q8_0: 8 vectors per block of quants (q + 128), then each
 * block's 16 halves d (32 bytes). */
enum {
    R1_X16_Q4_K_UNIT_BYTES = R1_X16_ROWS * sizeof(r1_block_q4_k),
    R1_X16_Q6_K_UNIT_BYTES = R1_X16_ROWS * sizeof(r1_block_q6_k),
    R1_X16_Q6_K_QH = 32,
    R1_X16_Q6_K_SCALES = 48,
    R1_X16_Q6_K_D_BYTE = 52 * 64,
    R1_X16_Q8_0_UNIT_BYTES = R1_X16_ROWS * 8 * sizeof(r1_block_q8_0),
    R1_X16_Q8_0_D_BYTE = 64 * 64
};

/* Whether a tensor of this type and shape can be interleaved: a type with a
 * layout above, whole units per row and whole groups of 16 rows. */
bool r1_x16_possible(r1_type type, int64_t row_values, int64_t n_rows);

/* Bytes of one group of 16 rows (16 * row_bytes). */
size_t r1_x16_group_bytes(const r1_tensor *t);

/* Rewrites rows [0, n_rows) at data, row_bytes each, into the interleaved
 * layout, in place. r1_x16_possible must hold. -1 when out of memory. */
int r1_x16_interleave(r1_type type, void *data, int64_t row_values, int64_t n_rows);

/* The inverse for one group: its 16 rows, in the file's layout, to rows
 * (16 * row_bytes bytes). */
void r1_x16_group_rows(r1_type type, const void *group, int64_t row_values, void *rows);

/*
 * Activation rows for the interleaved products. A Q8_0 product needs, for
 * every activation block, its scale as a float and -128 times the sum of its
 * quants (the weights are stored q + 128). Computed once per product instead
 * of once per kernel call, they follow the row's Q8_0 blocks as a sidecar:
 * the n / 32 floats, then the n / 32 int32 sums. The blocks are left as they
 * are, so every other reader of the row (dot_q, the tiled products, the
 * reference below) sees a plain Q8_0 row.
 *
 * A Q4_K product takes each sub-block's minimum off with the sum of the
 * activation row's 32 values in that sub-block. Q8_K blocks carry sums of
 * 16 (bsums), so the Q4_K sidecar holds the sums of 32, 8 int16 per block
 * (at most 32 * 127 in magnitude): one dpwssd then takes two sub-blocks'
 * minimums off, where the bsums needed one per sub-block (measured, one
 * core in cache, 16 activation rows: +2-4 % on the whole AVX-512 product).
 * Q6_K weights need no sidecar.
 */

/* Bytes of one activation row of n values for products on interleaved
 * weights of this type: the dot type's row, plus the sidecar if any. */
size_t r1_x16_activation_row_bytes(r1_type weight_type, int64_t n);

/* Fills the sidecar of a quantized activation row (nothing for types
 * without one). */
void r1_x16_prepare_activation(r1_type weight_type, void *row, int64_t n);

/* Where, from the start of a prepared Q8_0 activation row of n values, the
 * sidecar's block scales (floats) and -128 * sums (int32) begin. */
static inline size_t r1_x16_sidecar_scales_at(int64_t n) { return (size_t)(n / R1_QK) * sizeof(r1_block_q8_0); }
static inline size_t r1_x16_sidecar_sums_at(int64_t n) {
    return r1_x16_sidecar_scales_at(n) + (size_t)(n / R1_QK) * sizeof(float);
}

/* Where, from the start of a prepared Q4_K activation row (Q8_K blocks) of
 * n values, the sidecar's sums of 32 values (int16) begin. */
static inline size_t r1_x16_sidecar_sums32_at(int64_t n) { return (size_t)(n / R1_QK_K) * sizeof(r1_block_q8_k); }

/* The reference product on an interleaved tensor: for the 16 * n_groups
 * rows from `group` on, y[c * y_stride + r] = dot_q(row r, activation row c),
 * with the rows restored by r1_x16_group_rows and the scalar dot_q. The
 * SIMD kernels (r1_gemm_x16_fn, kernels.h) must agree with it. */
void r1_x16_gemm_reference(r1_type type, const void *group, int n_groups, const void *xq, size_t x_row_bytes,
                           int n_x_rows, int64_t n, float *y, long y_stride);

#endif
