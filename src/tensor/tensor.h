/*
 * tensor.h - a view of a weight tensor: its format, shape and bytes.
 *
 * A tensor is a typed pointer into the loaded model file (mapped, or read
 * into private memory, where the products' weights may be rearranged once
 * into R1_LAYOUT_X16). Shapes use GGUF order: ne[0] is the row length (values
 * per row, contiguous), ne[1] the number of rows, ne[2] e.g. the expert.
 */
#ifndef R1_TENSOR_TENSOR_H
#define R1_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

/* How a tensor's rows sit in memory. */
typedef enum r1_layout {
    R1_LAYOUT_ROWS = 0, /* as in the file: row after row */
    R1_LAYOUT_X16 = 1   /* groups of 16 rows interleaved for the SIMD products (tensor/interleave.h);
                           r1_tensor_row does not apply, only r1_matmul reads such a tensor */
} r1_layout;

typedef struct r1_tensor {
    const char *name;
    r1_type type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t row_bytes; /* bytes of one row of ne[0] values */
    r1_layout layout;
} r1_tensor;

/* Pointer to row `row` (counting over all dimensions above the first) of a
 * tensor in R1_LAYOUT_ROWS. */
static inline const void *r1_tensor_row(const r1_tensor *t, int64_t row) {
    return (const uint8_t *)t->data + (size_t)row * t->row_bytes;
}

#endif
