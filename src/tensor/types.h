/*
 * types.h - the number formats weights are stored in.
 *
 * The ids and block layouts are those of GGUF files (they are ggml's), so a
 * tensor is used straight from the mapped file. A block holds `block_size`
 * consecutive values of one row in `block_bytes` bytes; every row length is
 * a multiple of its type's block size.
 *
 * Q8_0 and Q8_K also serve as the 8-bit formats activations are quantized to
 * before an integer dot product (Q8_0 for the 32-wide formats, Q8_K for the
 * 256-wide K-quants).
 */
#ifndef R1_TENSOR_TYPES_H
#define R1_TENSOR_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum r1_type {
    R1_TYPE_F32 = 0,
    R1_TYPE_F16 = 1,
    R1_TYPE_Q4_0 = 2,
    R1_TYPE_Q4_1 = 3,
    R1_TYPE_Q5_0 = 6,
    R1_TYPE_Q5_1 = 7,
    R1_TYPE_Q8_0 = 8,
    R1_TYPE_Q4_K = 12,
    R1_TYPE_Q5_K = 13,
    R1_TYPE_Q6_K = 14,
    R1_TYPE_Q8_K = 15,
    R1_TYPE_BF16 = 30,
    R1_TYPE_COUNT = 31 /* one past the largest id; not every id below is known */
} r1_type;

#define R1_QK 32   /* values per block of the 32-wide formats */
#define R1_QK_K 256 /* values per super-block of the K-quants */

typedef uint16_t r1_half; /* IEEE binary16 bits */

typedef struct {
    r1_half d;             /* scale */
    uint8_t qs[R1_QK / 2]; /* value j: low nibble of qs[j]; value j+16: high nibble. x = (q - 8) * d */
} r1_block_q4_0;

typedef struct {
    r1_half d, m;          /* x = q * d + m */
    uint8_t qs[R1_QK / 2]; /* nibbles as in Q4_0 */
} r1_block_q4_1;

typedef struct {
    r1_half d;
    uint8_t qh[4];         /* bit j of qh (little-endian uint32) = fifth bit of value j */
    uint8_t qs[R1_QK / 2]; /* low four bits as in Q4_0. x = (q - 16) * d */
} r1_block_q5_0;

typedef struct {
    r1_half d, m;
    uint8_t qh[4];
    uint8_t qs[R1_QK / 2]; /* x = q * d + m */
} r1_block_q5_1;

typedef struct {
    r1_half d;
    int8_t qs[R1_QK];      /* x = q * d */
} r1_block_q8_0;

/* K-quants: a super-block of 256 values in 8 sub-blocks of 32 (Q4_K, Q5_K)
 * or 16 sub-blocks of 16 (Q6_K), each with its own 6- or 8-bit scale. */
typedef struct {
    r1_half d;             /* super-scale of the sub-block scales */
    r1_half dmin;          /* super-scale of the sub-block minimums */
    uint8_t scales[12];    /* 8 scales + 8 mins, 6 bits each, packed */
    uint8_t qs[R1_QK_K / 2];
} r1_block_q4_k;

typedef struct {
    r1_half d;
    r1_half dmin;
    uint8_t scales[12];
    uint8_t qh[R1_QK_K / 8]; /* fifth bits */
    uint8_t qs[R1_QK_K / 2]; /* low four bits */
} r1_block_q5_k;

typedef struct {
    uint8_t ql[R1_QK_K / 2];      /* low four bits */
    uint8_t qh[R1_QK_K / 4];      /* high two bits */
    int8_t scales[R1_QK_K / 16];  /* 8-bit sub-block scales */
    r1_half d;
} r1_block_q6_k;

typedef struct {
    float d;                      /* x = q * d */
    int8_t qs[R1_QK_K];
    int16_t bsums[R1_QK_K / 16];  /* sum of each group of 16 qs */
} r1_block_q8_k;

typedef struct r1_type_info {
    const char *name;      /* as GGUF tools print it: "q4_K", "f16", ... */
    int64_t block_size;    /* values per block */
    size_t block_bytes;    /* bytes per block */
    r1_type dot_type;      /* activation format of this type's fast dot product:
                              R1_TYPE_Q8_0, R1_TYPE_Q8_K, or R1_TYPE_F32 (float) */
} r1_type_info;

/* Information about type id t, or NULL when r1 does not know that id. */
const r1_type_info *r1_type_get(uint32_t t);

/* Bytes of one row of n values; 0 when n is not a multiple of the block size
 * or the type is unknown. */
size_t r1_row_bytes(r1_type t, int64_t n);

#endif
