/*
 * matmul.h - matrix products of weight tensors with float activations.
 *
 * y[i][j] = dot(W row j, x row i) for i < n_rows (the batch) and j < W's
 * rows. Each weight row is read once per call whatever the batch size, and
 * the rows of W are split across the thread pool. In the fast mode the
 * activations are first quantized to the weight format's 8-bit dot type
 * (Q8_0 or Q8_K) for integer dot products; in exact mode they stay float.
 */
#ifndef R1_TENSOR_MATMUL_H
#define R1_TENSOR_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/threadpool.h"
#include "tensor/kernels.h"
#include "tensor/tensor.h"

/* What every compute step needs: threads, kernels, the precision mode, and
 * a scratch buffer for quantized activations (grown on demand). */
typedef struct r1_compute {
    r1_threadpool *pool;
    const r1_kernel_set *kernels;
    bool exact;          /* float activations in every matmul */
    void *scratch;
    size_t scratch_size;
} r1_compute;

/* Fills c for n_threads threads (<= 0: one per CPU). Returns -1 on failure. */
int r1_compute_init(r1_compute *c, int n_threads, bool exact);
void r1_compute_free(r1_compute *c);

/* y = x W^T: x is [n_rows][W->ne[0]], y is [n_rows][W->ne[1]] (row stride
 * y_stride floats; pass W->ne[1] for dense output). Returns -1 only when
 * scratch memory cannot be allocated. */
int r1_matmul(r1_compute *c, const r1_tensor *w, const float *x, int n_rows,
              float *y, long y_stride);

/* One product of a group: weight w, output y with row stride y_stride. */
typedef struct r1_matmul_out {
    const r1_tensor *w;
    float *y;
    long y_stride;
} r1_matmul_out;

/* Several products of the same input (q, k, v; gate, up) in one pass: the
 * input is quantized once and the rows of all weights are shared out over
 * the threads together, so small matrices do not each pay a thread
 * hand-off. Every w must have the same row length. */
int r1_matmul_group(r1_compute *c, const r1_matmul_out *outs, int n_outs, const float *x, int n_rows);

/* Copies row `row` of any-format tensor t into out as floats. */
void r1_tensor_get_row(const r1_compute *c, const r1_tensor *t, long row, float *out);

#endif
