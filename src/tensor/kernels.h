/*
 * kernels.h - the per-format kernels and how one set is chosen at run time.
 *
 * For every number format there are up to four kernels:
 *   dequantize  row of that format -> float
 *   quantize    float -> row of that format (reference quantizer; used by
 *               `r1 model gen`, by tests, and for activations in Q8_0/Q8_K)
 *   dot_f32     weight row . float vector (exact path: activations stay float)
 *   dot_q       weight row . activation row already quantized to the type's
 *               dot_type (Q8_0 or Q8_K): the fast integer path
 * All lengths n are in values and are multiples of the format's block size.
 *
 * Three sets exist: scalar (the reference, plain C11, any CPU), avx2 and
 * avx512. A NULL entry in a SIMD set means "use the scalar kernel"; the
 * resolved set returned by r1_kernels() never has NULL entries for a kernel
 * the scalar set provides. Tests compare every SIMD kernel with its scalar twin.
 */
#ifndef R1_TENSOR_KERNELS_H
#define R1_TENSOR_KERNELS_H

#include "tensor/types.h"

typedef void (*r1_dequantize_fn)(const void *src, float *dst, int64_t n);
typedef void (*r1_quantize_fn)(const float *src, void *dst, int64_t n);
typedef float (*r1_dot_f32_fn)(const void *w, const float *x, int64_t n);
typedef float (*r1_dot_q_fn)(const void *w, const void *xq, int64_t n);

/* A tile of a matrix product (prefill, batched decode): for r < n_w_rows and
 * c < n_x_rows,
 *     y[c * y_stride + r] = dot_q(w + r * w_row_bytes, xq + c * x_row_bytes, n)
 * with the same result as dot_q up to float rounding, but each weight block
 * is unpacked once and reused for several activation rows. */
typedef void (*r1_gemm_q_fn)(const void *w, size_t w_row_bytes, int n_w_rows, const void *xq,
                             size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride);

/* The float twin of gemm_q, for float activations (F32, F16, BF16 weights,
 * and the exact mode): for r < n_w_rows and c < n_x_rows,
 *     y[c * y_stride + r] = dot_f32(w + r * w_row_bytes, x + c * x_stride, n)
 * up to float rounding. x_stride and y_stride count floats; any n >= 1 the
 * format allows (no multiple of a vector width is needed). Each output is
 * summed the same way wherever it sits in the tile, so results do not depend
 * on how a product is cut into tiles. */
typedef void (*r1_gemm_f32_fn)(const void *w, size_t w_row_bytes, int n_w_rows, const float *x,
                               long x_stride, int n_x_rows, int64_t n, float *y, long y_stride);

/* The product on weights stored 16 rows interleaved (tensor/interleave.h):
 * w is the first of n_groups groups of 16 rows, group_bytes apart, and
 *     y[c * y_stride + r] = dot_q(row r, xq + c * x_row_bytes, n)
 * for r < 16 * n_groups and c < n_x_rows, as r1_x16_gemm_reference computes
 * it, up to float rounding. Batches of any size, 1 included. The activation
 * rows are prepared by r1_x16_prepare_activation (their sidecar filled), and
 * come from r1's own quantizers: the K-quant products take the sums of the
 * quants from the blocks' bsums, which must match them. */
typedef void (*r1_gemm_x16_fn)(const void *w, size_t group_bytes, int n_groups, const void *xq,
                               size_t x_row_bytes, int n_x_rows, int64_t n, float *y, long y_stride);

/* Attention over cached rows for the n_q query heads that share one KV
 * head (see attention.h): scores[g * stride + t] = scale * (q_g . keys[t]),
 * and out[g * dim + c] = sum_t weights[g * stride + t] * values[t][c]. */
typedef void (*r1_attention_scores_fn)(float *scores, long stride, const float *q, int n_q,
                                       const float *const *keys, int n_keys, int dim, float scale);
typedef void (*r1_attention_values_fn)(float *out, const float *weights, long stride, int n_q,
                                       const float *const *values, int n_values, int dim);
/* The same over rows stored as IEEE half (an f16 KV cache). */
typedef void (*r1_attention_scores_f16_fn)(float *scores, long stride, const float *q, int n_q,
                                           const uint16_t *const *keys, int n_keys, int dim, float scale);
typedef void (*r1_attention_values_f16_fn)(float *out, const float *weights, long stride, int n_q,
                                           const uint16_t *const *values, int n_values, int dim);

typedef struct r1_format_kernels {
    r1_dequantize_fn dequantize;
    r1_quantize_fn quantize;
    r1_dot_f32_fn dot_f32;
    r1_dot_q_fn dot_q;
    r1_gemm_q_fn gemm_q; /* may stay NULL even when resolved: then dot_q is used */
    r1_gemm_f32_fn gemm_f32; /* NULL (then dot_f32 is used) except for F32, F16, BF16 */
    r1_gemm_x16_fn gemm_x16; /* NULL where this type's weights are never interleaved (scalar set; Q8_0 on AVX2) */
} r1_format_kernels;

typedef enum r1_isa {
    R1_ISA_SCALAR = 0,
    R1_ISA_AVX2 = 1,
    R1_ISA_AVX512 = 2,
    R1_ISA_COUNT
} r1_isa;

typedef struct r1_kernel_set {
    r1_isa isa;
    const char *name; /* "scalar", "avx2", "avx512" */
    r1_format_kernels format[R1_TYPE_COUNT];
    r1_attention_scores_fn attention_scores; /* set by dispatch.c from attention.h's builds */
    r1_attention_values_fn attention_values;
    r1_attention_scores_f16_fn attention_scores_f16;
    r1_attention_values_f16_fn attention_values_f16;
} r1_kernel_set;

/* The raw tables, defined in quant_scalar.c, quant_avx2.c, quant_avx512.c.
 * The SIMD tables may have NULL entries (not written yet, or no gain). */
extern const r1_kernel_set r1_kernels_scalar_table;
extern const r1_kernel_set r1_kernels_avx2_table;
extern const r1_kernel_set r1_kernels_avx512_table;

/* Tiled products for the AVX-512 set (gemm_avx512.c), indexed by type;
 * NULL where there is none. */
extern const r1_gemm_q_fn r1_gemm_avx512_table[R1_TYPE_COUNT];

/* Products on interleaved weights (gemm_x16_avx512.c, gemm_x16_avx2.c),
 * indexed by type; NULL where there is none. Each set takes its own ISA's
 * table: the AVX-512 one has its own kernel for every interleaved type, and
 * the AVX2 one has none for Q8_0 (whose weights then keep the file's layout
 * on such CPUs); the scalar set has none at all. */
extern const r1_gemm_x16_fn r1_gemm_x16_avx512_table[R1_TYPE_COUNT];
extern const r1_gemm_x16_fn r1_gemm_x16_avx2_table[R1_TYPE_COUNT];

/* Tiled float products (gemm_f32_avx2.c, gemm_f32_avx512.c), indexed by
 * type; NULL where there is none. dispatch.c puts them in the resolved sets
 * (a missing AVX-512 entry takes the AVX2 one, then the scalar one). */
extern const r1_gemm_f32_fn r1_gemm_f32_avx2_table[R1_TYPE_COUNT];
extern const r1_gemm_f32_fn r1_gemm_f32_avx512_table[R1_TYPE_COUNT];

/* Whether this CPU can run the given ISA's kernels. */
bool r1_isa_supported(r1_isa isa);

/* A complete set for one ISA: SIMD entries, and the scalar kernel wherever
 * the SIMD table has none. NULL if the CPU cannot run that ISA. */
const r1_kernel_set *r1_kernels_for(r1_isa isa);

/* The set used by the engine: the best ISA this CPU supports, unless the
 * environment variable R1_ISA (scalar|avx2|avx512) asks for a lower one. */
const r1_kernel_set *r1_kernels(void);

#endif
