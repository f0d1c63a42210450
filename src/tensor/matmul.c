/*
 * matmul.c - weight x activation products on the thread pool (see matmul.h).
 *
 * Work split: thread t takes a contiguous range of weight rows and, for each
 * row, computes its dot product with every activation row of the batch. The
 * weight row stays in L1 while the batch is swept, so weights (the bulk of
 * the bytes) stream from memory exactly once per call. With several
 * activation rows, the formats that have a tiled kernel (gemm_q for
 * quantized activations, gemm_f32 for float ones) take tiles of 16 weight
 * rows by a few dozen activation rows instead: the activation tile stays in
 * L2 and the weights are read once per activation tile. Weights interleaved
 * at load (R1_LAYOUT_X16) go to gemm_x16 for every batch size, a few groups
 * of 16 rows per call.
 */
#include "tensor/matmul.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/interleave.h"

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

#define MAX_GROUP 4

typedef struct matmul_task {
    const r1_compute *c;
    const r1_matmul_out *outs;
    int n_outs;
    long total_w_rows;    /* rows of all weights of the group together */
    const float *x;       /* float activations [n_rows][k] */
    const void *xq;       /* the same, quantized, or NULL for float dots */
    size_t xq_row_bytes;
    r1_type dot_type;
    r1_type sidecar_type; /* interleaved weights whose activations carry a sidecar, or R1_TYPE_F32 */
    int n_rows;
} matmul_task;

static void quantize_rows_task(void *arg, int thread, int n_threads) {
    matmul_task *t = arg;
    long k = t->outs[0].w->ne[0], begin, end;
    r1_quantize_fn quantize = t->c->kernels->format[t->dot_type].quantize;
    r1_split_range(t->n_rows, thread, n_threads, 1, &begin, &end);
    for (long i = begin; i < end; i++) {
        uint8_t *row = (uint8_t *)t->xq + i * t->xq_row_bytes;
        quantize(t->x + i * k, row, k);
        if (t->sidecar_type != R1_TYPE_F32) r1_x16_prepare_activation(t->sidecar_type, row, k);
    }
}

/* Weight rows and activation rows per call of a tiled kernel: 16 weight
 * rows stay in L1 while 64 activation rows (at most ~1 MB of Q8 data) are
 * reused from L2. */
#define TILE_W_ROWS 16
#define TILE_X_ROWS 64

static void rows_tiled(const matmul_task *t, const r1_matmul_out *o, r1_gemm_q_fn gemm, long begin, long end) {
    const r1_tensor *w = o->w;
    for (int c0 = 0; c0 < t->n_rows; c0 += TILE_X_ROWS) {
        int nc = t->n_rows - c0 < TILE_X_ROWS ? t->n_rows - c0 : TILE_X_ROWS;
        for (long r0 = begin; r0 < end; r0 += TILE_W_ROWS) {
            int nr = end - r0 < TILE_W_ROWS ? (int)(end - r0) : TILE_W_ROWS;
            gemm(r1_tensor_row(w, r0), w->row_bytes, nr, (const uint8_t *)t->xq + (size_t)c0 * t->xq_row_bytes,
                 t->xq_row_bytes, nc, w->ne[0], o->y + (long)c0 * o->y_stride + r0, o->y_stride);
        }
    }
}

/* The float tiles (gemm_f32): the x tile is sized so its activation rows,
 * about 256 KB, stay in L2 while the thread's weight rows stream past in
 * tiles of 16; a multiple of 6 rows (the AVX-512 kernel's register tile),
 * between 6 and 96. */
#define F32_TILE_X_BYTES (256 * 1024)
#define F32_TILE_X_MAX 96

static int f32_tile_x_rows(long k) {
    long rows = F32_TILE_X_BYTES / ((long)sizeof(float) * k);
    if (rows > F32_TILE_X_MAX) rows = F32_TILE_X_MAX;
    rows -= rows % 6;
    return rows < 6 ? 6 : (int)rows;
}

static void rows_tiled_f32(const matmul_task *t, const r1_matmul_out *o, r1_gemm_f32_fn gemm, long begin,
                           long end) {
    const r1_tensor *w = o->w;
    long k = w->ne[0];
    int tile_x = f32_tile_x_rows(k);
    for (int c0 = 0; c0 < t->n_rows; c0 += tile_x) {
        int nc = t->n_rows - c0 < tile_x ? t->n_rows - c0 : tile_x;
        for (long r0 = begin; r0 < end; r0 += TILE_W_ROWS) {
            int nr = end - r0 < TILE_W_ROWS ? (int)(end - r0) : TILE_W_ROWS;
            gemm(r1_tensor_row(w, r0), w->row_bytes, nr, t->x + (long)c0 * k, k, nc, k,
                 o->y + (long)c0 * o->y_stride + r0, o->y_stride);
        }
    }
}

static void rows_one_by_one(const matmul_task *t, const r1_matmul_out *o, long begin, long end) {
    const r1_tensor *w = o->w;
    long k = w->ne[0];
    const r1_format_kernels *fk = &t->c->kernels->format[w->type];
    for (long j = begin; j < end; j++) {
        const void *row = r1_tensor_row(w, j);
        if (t->xq) {
            for (int i = 0; i < t->n_rows; i++)
                o->y[i * o->y_stride + j] = fk->dot_q(row, (const uint8_t *)t->xq + i * t->xq_row_bytes, k);
        } else {
            for (int i = 0; i < t->n_rows; i++)
                o->y[i * o->y_stride + j] = fk->dot_f32(row, t->x + i * k, k);
        }
    }
}

/* Interleaved weights: groups of 16 rows, X16_GROUPS_PER_CALL at a time, so
 * that the later activation rows of a batch find the group's weights in
 * L1/L2. Rows b, e are multiples of 16 (see r1_matmul_group). */
#define X16_GROUPS_PER_CALL 4

static void rows_x16(const matmul_task *t, const r1_matmul_out *o, long begin, long end) {
    const r1_tensor *w = o->w;
    size_t group_bytes = r1_x16_group_bytes(w);
    r1_gemm_x16_fn gemm = t->c->kernels->format[w->type].gemm_x16;
    for (long r0 = begin; r0 < end; r0 += X16_GROUPS_PER_CALL * R1_X16_ROWS) {
        long rows = end - r0 < X16_GROUPS_PER_CALL * R1_X16_ROWS ? end - r0 : X16_GROUPS_PER_CALL * R1_X16_ROWS;
        const uint8_t *group = (const uint8_t *)w->data + (size_t)(r0 / R1_X16_ROWS) * group_bytes;
        int n_groups = (int)(rows / R1_X16_ROWS);
        if (gemm)
            gemm(group, group_bytes, n_groups, t->xq, t->xq_row_bytes, t->n_rows, w->ne[0], o->y + r0, o->y_stride);
        else /* a kernel set without interleaved products (R1_ISA, tests) */
            r1_x16_gemm_reference(w->type, group, n_groups, t->xq, t->xq_row_bytes, t->n_rows, w->ne[0], o->y + r0,
                                  o->y_stride);
    }
}

/* Interleaved weights with float activations (exact mode): each group's rows
 * are restored, then dot_f32 as for any row. */
static void rows_x16_exact(const matmul_task *t, const r1_matmul_out *o, long begin, long end) {
    const r1_tensor *w = o->w;
    long k = w->ne[0];
    r1_dot_f32_fn dot = t->c->kernels->format[w->type].dot_f32;
    uint8_t *rows = malloc(r1_x16_group_bytes(w));
    if (!rows) abort(); /* a few KB: nothing sensible is left to do */
    for (long r0 = begin; r0 < end; r0 += R1_X16_ROWS) {
        r1_x16_group_rows(w->type, (const uint8_t *)w->data + (size_t)(r0 / R1_X16_ROWS) * r1_x16_group_bytes(w), k,
                          rows);
        for (int r = 0; r < R1_X16_ROWS; r++)
            for (int i = 0; i < t->n_rows; i++)
                o->y[i * o->y_stride + r0 + r] = dot(rows + (size_t)r * w->row_bytes, t->x + i * k, k);
    }
    free(rows);
}

/* Thread `thread` takes its share of the group's rows, counted across the
 * weights one after another, and computes each piece. */
static void matmul_rows_task(void *arg, int thread, int n_threads) {
    matmul_task *t = arg;
    long begin, end, first = 0;
    r1_split_range(t->total_w_rows, thread, n_threads, TILE_W_ROWS, &begin, &end);
    for (int g = 0; g < t->n_outs; g++) {
        const r1_matmul_out *o = &t->outs[g];
        long rows = o->w->ne[1];
        long b = begin > first ? begin - first : 0, e = end - first < rows ? end - first : rows;
        first += rows;
        if (b >= e) continue;
        const r1_format_kernels *fk = &t->c->kernels->format[o->w->type];
        if (o->w->layout == R1_LAYOUT_X16 && t->xq) rows_x16(t, o, b, e);
        else if (o->w->layout == R1_LAYOUT_X16) rows_x16_exact(t, o, b, e);
        else if (t->xq && fk->gemm_q && t->n_rows > 1) rows_tiled(t, o, fk->gemm_q, b, e);
        else if (!t->xq && fk->gemm_f32 && t->n_rows > 1) rows_tiled_f32(t, o, fk->gemm_f32, b, e);
        else rows_one_by_one(t, o, b, e);
    }
}

/* Whether the whole group can share one quantized input. */
static bool group_quantizes(const r1_compute *c, const r1_matmul_out *outs, int n_outs, r1_type *dot_type) {
    if (c->exact) return false;
    *dot_type = r1_type_get(outs[0].w->type)->dot_type;
    for (int g = 0; g < n_outs; g++) {
        r1_type wt = outs[g].w->type;
        if (r1_type_get(wt)->dot_type != *dot_type || !c->kernels->format[wt].dot_q) return false;
    }
    return *dot_type != R1_TYPE_F32;
}

int r1_matmul_group(r1_compute *c, const r1_matmul_out *outs, int n_outs, const float *x, int n_rows) {
    r1_type dot_type = R1_TYPE_F32;
    bool quantized = group_quantizes(c, outs, n_outs, &dot_type);
    bool mixed = false; /* some weights would quantize, others not: no shared input */
    for (int g = 0; g < n_outs && !quantized && !c->exact; g++)
        mixed |= r1_type_get(outs[g].w->type)->dot_type != R1_TYPE_F32 && n_outs > 1;
    /* the threads' shares are cut at multiples of 16 rows of the group; an
     * interleaved weight after one of other row counts would be cut inside a
     * group of 16 */
    long rows_before = 0;
    for (int g = 0; g < n_outs; g++) {
        if (outs[g].w->layout == R1_LAYOUT_X16 && rows_before % R1_X16_ROWS != 0) mixed = true;
        rows_before += outs[g].w->ne[1];
    }
    if (mixed || n_outs > MAX_GROUP) {
        /* weights of different dot types: one product at a time */
        for (int g = 0; g < n_outs; g++)
            if (r1_matmul_group(c, &outs[g], 1, x, n_rows) != 0) return -1;
        return 0;
    }
    matmul_task task = {.c = c, .outs = outs, .n_outs = n_outs, .x = x, .n_rows = n_rows, .dot_type = dot_type};
    for (int g = 0; g < n_outs; g++) task.total_w_rows += outs[g].w->ne[1];
    if (quantized) {
        task.xq_row_bytes = r1_row_bytes(dot_type, outs[0].w->ne[0]);
        task.sidecar_type = R1_TYPE_F32;
        for (int g = 0; g < n_outs; g++) {
            /* the rows sized for an interleaved weight's products serve
             * the others of the group as well: they read only the blocks.
             * This holds while each dot type has at most one weight type
             * with a sidecar (Q8_0: Q8_0; Q8_K: Q4_K, whose rows are longer
             * than Q6_K's); a second one would need both sidecars filled. */
            size_t bytes = r1_x16_activation_row_bytes(outs[g].w->type, outs[0].w->ne[0]);
            if (outs[g].w->layout == R1_LAYOUT_X16 && bytes > task.xq_row_bytes) {
                task.xq_row_bytes = bytes;
                task.sidecar_type = outs[g].w->type;
            }
        }
        if (ensure_scratch(c, task.xq_row_bytes * (size_t)n_rows) != 0) return -1;
        task.xq = c->scratch;
        if (n_rows == 1) quantize_rows_task(&task, 0, 1);
        else r1_threadpool_run(c->pool, quantize_rows_task, &task);
    }
    r1_threadpool_run(c->pool, matmul_rows_task, &task);
    return 0;
}

int r1_matmul(r1_compute *c, const r1_tensor *w, const float *x, int n_rows, float *y, long y_stride) {
    r1_matmul_out out = {w, y, y_stride};
    return r1_matmul_group(c, &out, 1, x, n_rows);
}

void r1_tensor_get_row(const r1_compute *c, const r1_tensor *t, long row, float *out) {
    c->kernels->format[t->type].dequantize(r1_tensor_row(t, row), out, t->ne[0]);
}
