/*
 * llama.c - the forward pass of the llama and qwen2 architectures
 * (DeepSeek-R1-Distill-Llama and -Qwen), written in the order of the math.
 *
 * For each row of the chunk (token t at position p of sequence s):
 *   x = embedding[t]
 *   for each layer:
 *     h = rmsnorm(x) * attn_norm
 *     q, k, v = h Wq (+bq), h Wk (+bk), h Wv (+bv)         biases: qwen2
 *     q, k = rope(q, p), rope(k, p)
 *     cache[s][p] = (k, v)
 *     a = softmax(q K^T / sqrt(head_dim)) V over positions <= p of s,
 *         each group of n_head/n_head_kv query heads sharing one KV head
 *     x = x + a Wo
 *     h = rmsnorm(x) * ffn_norm
 *     x = x + (silu(h Wgate) * (h Wup)) Wdown
 *   logits = (rmsnorm(x) * output_norm) Woutput
 * Every matrix product takes all rows of the chunk at once, so a weight is
 * read once per chunk however many tokens or sequences it holds.
 */
#include <math.h>
#include <string.h>

#include "model/context.h"
#include "tensor/ops.h"

static void add_bias_rows(float *y, const r1_tensor *bias, int n_rows) {
    int dim = (int)bias->ne[0];
    for (int i = 0; i < n_rows; i++) r1_add(y + (long)i * dim, bias->data, dim);
}

/* Projects the normed rows to q, k, v, adds biases, rotates q and k. */
static int project_qkv(r1_context *ctx, const r1_llama_layer *l, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    r1_activations *a = &ctx->act;
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    r1_matmul_out qkv[3] = {{&l->wq, a->q, q_dim}, {&l->wk, a->k, kv_dim}, {&l->wv, a->v, kv_dim}};
    if (r1_matmul_group(&ctx->compute, qkv, 3, a->xn, b->n) != 0) return -1;
    if (l->has_qkv_bias) {
        add_bias_rows(a->q, &l->bq, b->n);
        add_bias_rows(a->k, &l->bk, b->n);
        add_bias_rows(a->v, &l->bv, b->n);
    }
    for (int i = 0; i < b->n; i++) {
        r1_rope_apply(&hp->rope, a->q + (long)i * q_dim, hp->n_head, hp->head_dim, b->pos[i]);
        r1_rope_apply(&hp->rope, a->k + (long)i * kv_dim, hp->n_head_kv, hp->head_dim, b->pos[i]);
    }
    return 0;
}

static void store_kv(r1_context *ctx, int layer, const r1_chunk *b) {
    r1_kv_cache *c = &ctx->cache;
    for (int i = 0; i < b->n; i++) {
        size_t off = r1_kv_cache_offset(c, layer, b->seq[i], b->pos[i]);
        memcpy(c->keys + off, ctx->act.k + (long)i * c->kv_dim, (size_t)c->kv_dim * sizeof(float));
        memcpy(c->values + off, ctx->act.v + (long)i * c->kv_dim, (size_t)c->kv_dim * sizeof(float));
    }
}

typedef struct attention_task {
    r1_context *ctx;
    const r1_chunk *chunk;
    int layer;
} attention_task;

/* Causal attention of one row for the group of query heads that share KV
 * head kv_head (GQA): each cached key and value is read once for the whole
 * group. scores holds group * n_ctx floats, then room for n_ctx row
 * pointers. */
static void attend_head_group(r1_context *ctx, const r1_chunk *b, int layer, int row, int kv_head, float *scores) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_kv_cache *c = &ctx->cache;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, first = kv_head * group;
    int n_pos = b->pos[row] + 1, seq = b->seq[row];
    long stride = ctx->params.n_ctx;
    const float *q = ctx->act.q + ((long)row * hp->n_head + first) * hd;
    /* the row pointers follow the scores, 8-byte aligned (scratch has room) */
    const float **rows = (const float **)(scores + ((group * stride + 1) & ~1L));
    for (int t = 0; t < n_pos; t++) rows[t] = c->keys + r1_kv_cache_offset(c, layer, seq, t) + (long)kv_head * hd;
    const r1_kernel_set *k = ctx->compute.kernels;
    k->attention_scores(scores, stride, q, group, rows, n_pos, hd, 1.0f / sqrtf((float)hd));
    for (int g = 0; g < group; g++) r1_softmax(scores + g * stride, n_pos);
    for (int t = 0; t < n_pos; t++) rows[t] = c->values + r1_kv_cache_offset(c, layer, seq, t) + (long)kv_head * hd;
    float *out = ctx->act.attn + ((long)row * hp->n_head + first) * hd;
    k->attention_values(out, scores, stride, group, rows, n_pos, hd);
}

/* Jobs (row, KV head) are dealt out round-robin: a row's cost grows with
 * its position, so contiguous ranges would leave the first thread idle. */
static void attention_task_run(void *arg, int thread, int n_threads) {
    attention_task *t = arg;
    int n_kv = t->ctx->model->hp.n_head_kv;
    long n_jobs = (long)t->chunk->n * n_kv;
    float *scores = t->ctx->act.scores + (long)thread * t->ctx->act.scratch_per_thread;
    for (long job = thread; job < n_jobs; job += n_threads)
        attend_head_group(t->ctx, t->chunk, t->layer, (int)(job / n_kv), (int)(job % n_kv), scores);
}

static int attention_block(r1_context *ctx, int il, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_llama_layer *l = &ctx->model->layers[il];
    r1_activations *a = &ctx->act;
    r1_forward_norm_rows(a->xn, a->x, &l->attn_norm, b->n, hp->n_embd, hp->rms_eps);
    if (project_qkv(ctx, l, b) != 0) return -1;
    store_kv(ctx, il, b);
    attention_task task = {ctx, b, il};
    r1_threadpool_run(ctx->compute.pool, attention_task_run, &task);
    /* x += attn Wo, through xn as the product's output */
    if (r1_matmul(&ctx->compute, &l->wo, a->attn, b->n, a->xn, hp->n_embd) != 0) return -1;
    r1_add(a->x, a->xn, b->n * hp->n_embd);
    return 0;
}

static int feed_forward_block(r1_context *ctx, int il, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_llama_layer *l = &ctx->model->layers[il];
    r1_activations *a = &ctx->act;
    r1_forward_norm_rows(a->xn, a->x, &l->ffn_norm, b->n, hp->n_embd, hp->rms_eps);
    r1_matmul_out gate_up[2] = {{&l->ffn_gate, a->gate, hp->n_ff}, {&l->ffn_up, a->up, hp->n_ff}};
    if (r1_matmul_group(&ctx->compute, gate_up, 2, a->xn, b->n) != 0) return -1;
    r1_swiglu(a->gate, a->up, b->n * hp->n_ff);
    if (r1_matmul(&ctx->compute, &l->ffn_down, a->gate, b->n, a->xn, hp->n_embd) != 0) return -1;
    r1_add(a->x, a->xn, b->n * hp->n_embd);
    return 0;
}

int r1_llama_forward(r1_context *ctx, const r1_chunk *b, r1_error *err) {
    return r1_forward_layers(ctx, b, attention_block, feed_forward_block, err);
}
