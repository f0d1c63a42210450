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

/* A chunk's rows in one layer, for row-wise steps. */
typedef struct layer_rows {
    const r1_chunk *chunk;
    int layer;
} layer_rows;

/* Rows [begin, end) of the projected q, k, v: biases added (qwen2), q
 * and k rotated, keys and values into the cache head by head. */
static void finish_qkv_rows(r1_context *ctx, void *arg, int begin, int end) {
    const layer_rows *rows = arg;
    const r1_chunk *b = rows->chunk;
    const int layer = rows->layer;
    const r1_hparams *hp = &ctx->model->hp;
    const r1_llama_layer *l = &ctx->model->layers[layer];
    r1_activations *a = &ctx->act;
    r1_kv_cache *c = &ctx->cache;
    const r1_quantize_fn to_half = ctx->compute.kernels->format[R1_TYPE_F16].quantize;
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    for (int i = begin; i < end; i++) {
        float *q = a->q + (long)i * q_dim, *k = a->k + (long)i * kv_dim, *v = a->v + (long)i * kv_dim;
        if (l->has_qkv_bias) {
            r1_add(q, l->bq.data, q_dim);
            r1_add(k, l->bk.data, kv_dim);
            r1_add(v, l->bv.data, kv_dim);
        }
        const float *angles = a->rope + (long)i * hp->rope.n_dims;
        r1_rope_rotate(&hp->rope, angles, q, hp->n_head, hp->head_dim);
        r1_rope_rotate(&hp->rope, angles, k, hp->n_head_kv, hp->head_dim);
        for (int h = 0; h < c->n_heads; h++) {
            const long at = (long)h * c->head_dim;
            r1_kv_cache_write_row(c, r1_kv_cache_key(c, layer, h, b->seq[i], b->pos[i]), k + at, to_half);
            r1_kv_cache_write_row(c, r1_kv_cache_value(c, layer, h, b->seq[i], b->pos[i]), v + at, to_half);
        }
    }
}

/* Projects the normed rows to q, k, v, then finishes them row by row on the
 * compute threads. */
static int project_qkv(r1_context *ctx, int layer, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_llama_layer *l = &ctx->model->layers[layer];
    r1_activations *a = &ctx->act;
    int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    r1_matmul_out qkv[3] = {{&l->wq, a->q, q_dim}, {&l->wk, a->k, kv_dim}, {&l->wv, a->v, kv_dim}};
    if (r1_matmul_group(&ctx->compute, qkv, 3, a->xn, b->n) != 0) return -1;
    layer_rows rows = {b, layer};
    r1_run_rows(ctx, b->n, finish_qkv_rows, &rows);
    return 0;
}

/* Points s.rows (f32 cache) or s.half_rows (f16) at KV head kv_head's key or
 * value rows of the first n positions of seq. */
static void point_at_cached_rows(const r1_kv_cache *c, bool values, int layer, int kv_head, int seq, int n,
                                 r1_attention_scratch s) {
    for (int t = 0; t < n; t++) {
        const void *row = values ? r1_kv_cache_value(c, layer, kv_head, seq, t)
                                 : r1_kv_cache_key(c, layer, kv_head, seq, t);
        if (c->type == R1_KV_F16) s.half_rows[t] = row;
        else s.rows[t] = row;
    }
}

typedef struct attention_task {
    r1_context *ctx;
    const r1_chunk *chunk;
    int layer;
} attention_task;

/*
 * Causal attention of n_rows consecutive rows of one sequence (positions
 * p, p + 1, ...) for the group of query heads that share KV head kv_head
 * (GQA). All n_rows x group queries are scored against the keys up to the
 * last row's position at once, so each block of cached rows is read once
 * for the tile (a prefill row at position 2048 took 35 instead of 55 us
 * with tiles of 4 rows); an earlier row's scores beyond its own position
 * are then dropped: its softmax stops at its position and the rest weigh 0.
 */
static void attend_rows(r1_context *ctx, const r1_chunk *b, int layer, int row0, int n_rows, int kv_head,
                        r1_attention_scratch s) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_kv_cache *c = &ctx->cache;
    const r1_kernel_set *k = ctx->compute.kernels;
    const int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, first = kv_head * group;
    const int n_q = n_rows * group, n_keys = b->pos[row0 + n_rows - 1] + 1, seq = b->seq[row0];
    const long stride = ctx->params.n_ctx, row_floats = (long)hp->n_head * hd, group_floats = (long)group * hd;
    /* the tile's queries side by side (one row's are already) */
    const float *q = ctx->act.q + row0 * row_floats + first * hd;
    if (n_rows > 1) {
        for (int i = 0; i < n_rows; i++)
            memcpy(s.q + i * group_floats, q + i * row_floats, (size_t)group_floats * sizeof(float));
        q = s.q;
    }
    const float scale = 1.0f / sqrtf((float)hd);
    point_at_cached_rows(c, false, layer, kv_head, seq, n_keys, s);
    if (c->type == R1_KV_F16) k->attention_scores_f16(s.scores, stride, q, n_q, s.half_rows, n_keys, hd, scale);
    else k->attention_scores(s.scores, stride, q, n_q, s.rows, n_keys, hd, scale);
    for (int i = 0; i < n_rows; i++) {
        int n_pos = b->pos[row0 + i] + 1;
        for (int g = 0; g < group; g++) {
            float *row_scores = s.scores + (i * group + g) * stride;
            r1_softmax(row_scores, n_pos);
            memset(row_scores + n_pos, 0, (size_t)(n_keys - n_pos) * sizeof(float));
        }
    }
    point_at_cached_rows(c, true, layer, kv_head, seq, n_keys, s);
    float *out = ctx->act.attn + row0 * row_floats + first * hd;
    if (c->type == R1_KV_F16)
        k->attention_values_f16(n_rows > 1 ? s.out : out, s.scores, stride, n_q, s.half_rows, n_keys, hd);
    else k->attention_values(n_rows > 1 ? s.out : out, s.scores, stride, n_q, s.rows, n_keys, hd);
    for (int i = 0; n_rows > 1 && i < n_rows; i++)
        memcpy(out + i * row_floats, s.out + i * group_floats, (size_t)group_floats * sizeof(float));
}

/* How many rows from row0 on (at most max) continue row0's sequence one
 * position at a time: prefill rows do, a batch of decoding sequences not. */
static int consecutive_rows(const r1_chunk *b, int row0, int max) {
    int n = 1;
    while (n < max && row0 + n < b->n && b->seq[row0 + n] == b->seq[row0] && b->pos[row0 + n] == b->pos[row0] + n)
        n++;
    return n;
}

/* Jobs (tile of R1_ATTENTION_TILE_ROWS rows, KV head) are dealt out
 * round-robin: a row's cost grows with its position, so contiguous ranges
 * would leave the first thread idle. A tile whose rows are not one
 * sequence's consecutive positions goes in runs that are. */
static void attention_task_run(void *arg, int thread, int n_threads) {
    attention_task *t = arg;
    const int n_kv = t->ctx->model->hp.n_head_kv, tile = R1_ATTENTION_TILE_ROWS;
    const long n_tiles = (t->chunk->n + tile - 1) / tile, n_jobs = n_tiles * n_kv;
    r1_attention_scratch s = r1_attention_scratch_of(t->ctx, thread);
    for (long job = thread; job < n_jobs; job += n_threads) {
        int row0 = (int)(job / n_kv) * tile, kv_head = (int)(job % n_kv);
        int end = row0 + tile < t->chunk->n ? row0 + tile : t->chunk->n;
        for (int row = row0; row < end;) {
            int n = consecutive_rows(t->chunk, row, end - row);
            attend_rows(t->ctx, t->chunk, t->layer, row, n, kv_head, s);
            row += n;
        }
    }
}

static int attention_block(r1_context *ctx, int il, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_llama_layer *l = &ctx->model->layers[il];
    r1_activations *a = &ctx->act;
    r1_forward_norm_rows(ctx, a->xn, a->x, &l->attn_norm, b->n, hp->n_embd, hp->rms_eps);
    if (project_qkv(ctx, il, b) != 0) return -1;
    attention_task task = {ctx, b, il};
    r1_threadpool_run(ctx->compute.pool, attention_task_run, &task);
    /* x += attn Wo, through xn as the product's output */
    if (r1_matmul(&ctx->compute, &l->wo, a->attn, b->n, a->xn, hp->n_embd) != 0) return -1;
    r1_forward_add_rows(ctx, a->x, a->xn, b->n, hp->n_embd);
    return 0;
}

static int feed_forward_block(r1_context *ctx, int il, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_llama_layer *l = &ctx->model->layers[il];
    r1_activations *a = &ctx->act;
    r1_forward_norm_rows(ctx, a->xn, a->x, &l->ffn_norm, b->n, hp->n_embd, hp->rms_eps);
    r1_matmul_out gate_up[2] = {{&l->ffn_gate, a->gate, hp->n_ff}, {&l->ffn_up, a->up, hp->n_ff}};
    if (r1_matmul_group(&ctx->compute, gate_up, 2, a->xn, b->n) != 0) return -1;
    r1_forward_swiglu_rows(ctx, a->gate, a->up, b->n, hp->n_ff);
    if (r1_matmul(&ctx->compute, &l->ffn_down, a->gate, b->n, a->xn, hp->n_embd) != 0) return -1;
    r1_forward_add_rows(ctx, a->x, a->xn, b->n, hp->n_embd);
    return 0;
}

int r1_llama_forward(r1_context *ctx, const r1_chunk *b, r1_error *err) {
    return r1_forward_layers(ctx, b, attention_block, feed_forward_block, err);
}
