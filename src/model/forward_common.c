/*
 * forward_common.c - the steps every architecture's forward pass shares:
 * the token embedding lookup, each row's rotary angles, row-wise steps (RMS
 * norm, residual sums, SwiGLU) on the compute threads, the final norm and
 * output projection for the rows that asked for logits, and the loop over
 * layers.
 */
#include "model/context.h"
#include "tensor/ops.h"

void r1_forward_embed(r1_context *ctx, const r1_chunk *b) {
    const r1_model *m = ctx->model;
    for (int i = 0; i < b->n; i++)
        r1_tensor_get_row(&ctx->compute, &m->token_embd, b->token[i], ctx->act.x + (long)i * m->hp.n_embd);
}

/* ---- row-wise steps on the compute threads (r1_run_rows) ---- */

typedef struct row_step {
    float *out;
    const float *x;
    const float *weight;        /* norm */
    int dim;
    float eps;                  /* norm */
    void (*pairwise)(float *out, const float *x, int n); /* out = f(out, x): r1_add, r1_swiglu */
} row_step;

static void norm_rows(r1_context *ctx, void *arg, int begin, int end) {
    (void)ctx;
    const row_step *s = arg;
    for (long i = begin; i < end; i++) r1_rmsnorm(s->out + i * s->dim, s->x + i * s->dim, s->weight, s->dim, s->eps);
}

void r1_forward_norm_rows(r1_context *ctx, float *out, const float *x, const r1_tensor *weight, int n_rows, int dim,
                          float eps) {
    row_step s = {.out = out, .x = x, .weight = weight->data, .dim = dim, .eps = eps};
    r1_run_rows(ctx, n_rows, norm_rows, &s);
}

/* The rows' values are contiguous, so a range of rows is one call. */
static void pairwise_rows(r1_context *ctx, void *arg, int begin, int end) {
    (void)ctx;
    const row_step *s = arg;
    s->pairwise(s->out + (long)begin * s->dim, s->x + (long)begin * s->dim, (end - begin) * s->dim);
}

void r1_forward_add_rows(r1_context *ctx, float *y, const float *x, int n_rows, int dim) {
    row_step s = {.out = y, .x = x, .dim = dim, .pairwise = r1_add};
    r1_run_rows(ctx, n_rows, pairwise_rows, &s);
}

void r1_forward_swiglu_rows(r1_context *ctx, float *gate, const float *up, int n_rows, int dim) {
    row_step s = {.out = gate, .x = up, .dim = dim, .pairwise = r1_swiglu};
    r1_run_rows(ctx, n_rows, pairwise_rows, &s);
}

int r1_forward_output(r1_context *ctx, const r1_chunk *b) {
    const r1_model *m = ctx->model;
    int dim = m->hp.n_embd, n_out = 0;
    for (int i = 0; i < b->n; i++) n_out += b->want_logits[i] != 0;
    if (n_out == b->n) {
        /* every row (batched decode): the norms on the compute threads */
        r1_forward_norm_rows(ctx, ctx->act.xn, ctx->act.x, &m->output_norm, n_out, dim, m->hp.rms_eps);
    } else {
        /* a prompt's last row or a few: packed in order */
        for (int i = 0, out = 0; i < b->n; i++)
            if (b->want_logits[i])
                r1_rmsnorm(ctx->act.xn + (long)out++ * dim, ctx->act.x + (long)i * dim, m->output_norm.data, dim,
                           m->hp.rms_eps);
    }
    if (n_out == 0) return 0;
    return r1_matmul(&ctx->compute, &m->output, ctx->act.xn, n_out, b->logits, m->hp.n_vocab);
}

/* Rows [begin, end)'s rotary angles. They depend on the position alone, so
 * they are computed once per chunk instead of in every layer (powf and
 * sincosf per pair: 0.6 % of a 16-row decode step when each layer did it). */
static void rope_angle_rows(r1_context *ctx, void *arg, int begin, int end) {
    const r1_chunk *b = arg;
    const r1_rope *rope = &ctx->model->hp.rope;
    for (int i = begin; i < end; i++) r1_rope_angles(rope, b->pos[i], ctx->act.rope + (long)i * rope->n_dims);
}

int r1_forward_layers(r1_context *ctx, const r1_chunk *b, r1_block_fn attention, r1_block_fn feed_forward,
                      r1_error *err) {
    r1_forward_embed(ctx, b);
    r1_run_rows(ctx, b->n, rope_angle_rows, (void *)b);
    for (int il = 0; il < ctx->model->hp.n_layer; il++) {
        if (attention(ctx, il, b) != 0 || feed_forward(ctx, il, b) != 0)
            return r1_error_set(err, "out of memory for activation scratch in layer %d", il);
    }
    if (r1_forward_output(ctx, b) != 0) return r1_error_set(err, "out of memory computing logits");
    return 0;
}
