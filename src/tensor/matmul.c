/*
 * matmul.c - weight x activation products on the thread pool (see matmul.h).
 *
 * Work split: thread t takes a contiguous range of weight rows and, for each
 * row, computes its dot product with every activation row of the batch. The
 * weight row stays in L1 while the batch is swept, so weights (the bulk of
 * the bytes) stream from memory exactly once per call.
 */
#include "tensor/matmul.h"

#include <stdlib.h>
#include <string.h>

int r1_compute_init(r1_compute *c, int n_threads, bool exact) {
    memset(c, 0, sizeof *c);
    c->pool = r1_threadpool_new(n_threads);
    if (!c->pool) return -1;
    c->kernels = r1_kernels();
    c->exact = exact;
    return 0;
}

void r1_compute_free(r1_compute *c) {
    r1_threadpool_free(c->pool);
    free(c->scratch);
    memset(c, 0, sizeof *c);
}

static int ensure_scratch(r1_compute *c, size_t size) {
    if (size <= c->scratch_size) return 0;
    void *p = realloc(c->scratch, size);
    if (!p) return -1;
    c->scratch = p;
    c->scratch_size = size;
    return 0;
}

typedef struct matmul_task {
    const r1_compute *c;
    const r1_tensor *w;
    const float *x;       /* float activations */
    const void *xq;       /* quantized activations, or NULL */
    size_t xq_row_bytes;
    r1_type dot_type;
    int n_rows;
    float *y;
    long y_stride;
} matmul_task;

static void quantize_rows_task(void *arg, int thread, int n_threads) {
    matmul_task *t = arg;
    long k = t->w->ne[0], begin, end;
    r1_quantize_fn quantize = t->c->kernels->format[t->dot_type].quantize;
    r1_split_range(t->n_rows, thread, n_threads, 1, &begin, &end);
    for (long i = begin; i < end; i++)
        quantize(t->x + i * k, (uint8_t *)t->xq + i * t->xq_row_bytes, k);
}

/* Weight rows and activation rows per call of a tiled kernel: 16 weight
 * rows stay in L1 while 64 activation rows (at most ~1 MB of Q8 data) are
 * reused from L2. */
#define TILE_W_ROWS 16
#define TILE_X_ROWS 64

static void matmul_tiled(const matmul_task *t, r1_gemm_q_fn gemm, long begin, long end) {
    const r1_tensor *w = t->w;
    for (int c0 = 0; c0 < t->n_rows; c0 += TILE_X_ROWS) {
        int nc = t->n_rows - c0 < TILE_X_ROWS ? t->n_rows - c0 : TILE_X_ROWS;
        for (long r0 = begin; r0 < end; r0 += TILE_W_ROWS) {
            int nr = end - r0 < TILE_W_ROWS ? (int)(end - r0) : TILE_W_ROWS;
            gemm(r1_tensor_row(w, r0), w->row_bytes, nr, (const uint8_t *)t->xq + (size_t)c0 * t->xq_row_bytes,
                 t->xq_row_bytes, nc, w->ne[0], t->y + (long)c0 * t->y_stride + r0, t->y_stride);
        }
    }
}

static void matmul_rows_task(void *arg, int thread, int n_threads) {
    matmul_task *t = arg;
    const r1_tensor *w = t->w;
    long k = w->ne[0], begin, end;
    const r1_format_kernels *fk = &t->c->kernels->format[w->type];
    r1_split_range(w->ne[1], thread, n_threads, 4, &begin, &end);
    if (t->xq && fk->gemm_q && t->n_rows > 1) {
        matmul_tiled(t, fk->gemm_q, begin, end);
        return;
    }
    for (long j = begin; j < end; j++) {
        const void *row = r1_tensor_row(w, j);
        if (t->xq) {
            for (int i = 0; i < t->n_rows; i++)
                t->y[i * t->y_stride + j] =
                    fk->dot_q(row, (const uint8_t *)t->xq + i * t->xq_row_bytes, k);
        } else {
            for (int i = 0; i < t->n_rows; i++)
                t->y[i * t->y_stride + j] = fk->dot_f32(row, t->x + i * k, k);
        }
    }
}

int r1_matmul(r1_compute *c, const r1_tensor *w, const float *x, int n_rows,
              float *y, long y_stride) {
    const r1_type_info *info = r1_type_get(w->type);
    matmul_task task = {.c = c, .w = w, .x = x, .n_rows = n_rows, .y = y, .y_stride = y_stride,
                        .dot_type = info->dot_type};
    bool quantized = !c->exact && info->dot_type != R1_TYPE_F32 &&
                     c->kernels->format[w->type].dot_q != NULL;
    if (quantized) {
        task.xq_row_bytes = r1_row_bytes(info->dot_type, w->ne[0]);
        if (ensure_scratch(c, task.xq_row_bytes * (size_t)n_rows) != 0) return -1;
        task.xq = c->scratch;
        if (n_rows == 1)
            quantize_rows_task(&task, 0, 1);
        else
            r1_threadpool_run(c->pool, quantize_rows_task, &task);
    }
    r1_threadpool_run(c->pool, matmul_rows_task, &task);
    return 0;
}

void r1_tensor_get_row(const r1_compute *c, const r1_tensor *t, long row, float *out) {
    c->kernels->format[t->type].dequantize(r1_tensor_row(t, row), out, t->ne[0]);
}
