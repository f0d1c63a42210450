/*
 * forward_common.c - the steps every architecture's forward pass shares:
 * the token embedding lookup, row-wise RMS norm, the final norm and output
 * projection for the rows that asked for logits, and the loop over layers.
 */
#include "model/context.h"
#include "tensor/ops.h"

void r1_forward_embed(r1_context *ctx, const r1_chunk *b) {
    const r1_model *m = ctx->model;
    for (int i = 0; i < b->n; i++)
        r1_tensor_get_row(&ctx->compute, &m->token_embd, b->token[i], ctx->act.x + (long)i * m->hp.n_embd);
}

void r1_forward_norm_rows(float *out, const float *x, const r1_tensor *weight, int n_rows, int dim, float eps) {
    for (int i = 0; i < n_rows; i++) r1_rmsnorm(out + (long)i * dim, x + (long)i * dim, weight->data, dim, eps);
}

int r1_forward_output(r1_context *ctx, const r1_chunk *b) {
    const r1_model *m = ctx->model;
    int dim = m->hp.n_embd, n_out = 0;
    for (int i = 0; i < b->n; i++) {
        if (!b->want_logits[i]) continue;
        r1_rmsnorm(ctx->act.xn + (long)n_out * dim, ctx->act.x + (long)i * dim, m->output_norm.data, dim,
                   m->hp.rms_eps);
        n_out++;
    }
    if (n_out == 0) return 0;
    return r1_matmul(&ctx->compute, &m->output, ctx->act.xn, n_out, b->logits, m->hp.n_vocab);
}

int r1_forward_layers(r1_context *ctx, const r1_chunk *b, r1_block_fn attention, r1_block_fn feed_forward,
                      r1_error *err) {
    r1_forward_embed(ctx, b);
    for (int il = 0; il < ctx->model->hp.n_layer; il++) {
        if (attention(ctx, il, b) != 0 || feed_forward(ctx, il, b) != 0)
            return r1_error_set(err, "out of memory for activation scratch in layer %d", il);
    }
    if (r1_forward_output(ctx, b) != 0) return r1_error_set(err, "out of memory computing logits");
    return 0;
}
