/*
 * tensor.h - a view of a weight tensor: its format, shape and bytes.
 *
 * Weights are never copied out of the mapped model file; a tensor is a typed
 * pointer into it. Shapes use GGUF order: ne[0] is the row length (values
 * per row, contiguous), ne[1] the number of rows, ne[2] e.g. the expert.
 */
#ifndef R1_TENSOR_TENSOR_H
#define R1_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

typedef struct r1_tensor {
    const char *name;
    r1_type type;
    int n_dims;
    int64_t ne[4];
    const void *data;
    size_t row_bytes; /* bytes of one row of ne[0] values */
} r1_tensor;

/* Pointer to row `row` (counting over all dimensions above the first). */
static inline const void *r1_tensor_row(const r1_tensor *t, int64_t row) {
    return (const uint8_t *)t->data + (size_t)row * t->row_bytes;
}

#endif
