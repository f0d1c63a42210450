/*
 * deepseek2.c - the forward pass of DeepSeek-V3 / DeepSeek-R1 (GGUF
 * architecture deepseek2): multi-head latent attention and DeepSeek-MoE.
 *
 * For each row (token t at position p of sequence s), in each layer:
 *   h       = rmsnorm(x) * attn_norm
 *   q       = q_b(rmsnorm(q_a(h)) * q_a_norm)         per head [q_nope | q_pe]
 *   [c, kpe]= kv_a_mqa(h);  c = rmsnorm(c) * kv_a_norm; kpe shared by all heads
 *   q_pe, kpe = rope(q_pe, p), rope(kpe, p)            (YaRN)
 *   cache[s][p] = [c, kpe]                             the latent: kv_lora + rope values (f16 or f32)
 *   per head h (absorbed form: keys and values never expanded):
 *     q_lat   = W_UK_h^T q_nope                        kv_lora values
 *     score_t = (q_lat . c_t + q_pe . kpe_t) * kq_scale, for t <= p
 *     o_lat   = sum_t softmax(score)_t c_t
 *     out_h   = W_UV_h o_lat                           v_head_dim values
 *   x = x + concat(out_h) Wo
 *   h = rmsnorm(x) * ffn_norm
 *   dense layers: x = x + down(silu(gate(h)) * up(h))
 *   MoE layers:   x = x + sum_k w_k expert_k(h) + shared(h)
 * The absorbed form costs O(kv_lora_rank) per cached position and head,
 * instead of expanding every cached latent into per-head keys and values.
 * The expanded form is kept (mla_expanded) to check the two agree.
 */
#include <math.h>
#include <string.h>

#include "model/context.h"
#include "model/moe_router.h"
#include "tensor/ops.h"

/* ---- attention ---- */

/* Rows [begin, end) of the projected latents and queries: the latent's
 * compressed part normed, its rotary part and the queries' rotated with
 * the row's angles. */
static void finish_latent_rows(r1_context *ctx, void *arg, int begin, int end) {
    const r1_deepseek2_layer *l = arg;
    const r1_hparams *hp = &ctx->model->hp;
    const r1_mla_hparams *mla = &hp->mla;
    r1_activations *a = &ctx->act;
    const int q_width = hp->n_head * (mla->qk_nope + mla->qk_rope), lat_width = mla->kv_lora_rank + mla->qk_rope;
    for (int i = begin; i < end; i++) {
        float *latent = a->latent + (long)i * lat_width;
        const float *angles = a->rope + (long)i * hp->rope.n_dims;
        r1_rmsnorm(latent, latent, l->kv_a_norm.data, mla->kv_lora_rank, hp->rms_eps);
        r1_rope_rotate(&hp->rope, angles, latent + mla->kv_lora_rank, 1, mla->qk_rope);
        r1_rope_rotate(&hp->rope, angles, a->q + (long)i * q_width + mla->qk_nope, hp->n_head,
                       mla->qk_nope + mla->qk_rope);
    }
}

/* Projects the normed rows to queries and latents, normalises the latents
 * and rotates the RoPE parts (on the compute threads). */
static int project_queries_and_latents(r1_context *ctx, const r1_deepseek2_layer *l, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_mla_hparams *mla = &hp->mla;
    r1_activations *a = &ctx->act;
    int q_width = hp->n_head * (mla->qk_nope + mla->qk_rope), lat_width = mla->kv_lora_rank + mla->qk_rope;
    if (l->has_q_lora) {
        r1_matmul_out first[2] = {{&l->q_a, a->qa, mla->q_lora_rank}, {&l->kv_a_mqa, a->latent, lat_width}};
        if (r1_matmul_group(&ctx->compute, first, 2, a->xn, b->n) != 0) return -1;
        r1_forward_norm_rows(ctx, a->qa, a->qa, &l->q_a_norm, b->n, mla->q_lora_rank, hp->rms_eps);
        if (r1_matmul(&ctx->compute, &l->q_b, a->qa, b->n, a->q, q_width) != 0) return -1;
    } else {
        r1_matmul_out first[2] = {{&l->wq, a->q, q_width}, {&l->kv_a_mqa, a->latent, lat_width}};
        if (r1_matmul_group(&ctx->compute, first, 2, a->xn, b->n) != 0) return -1;
    }
    r1_run_rows(ctx, b->n, finish_latent_rows, (void *)l);
    return 0;
}

/* Each row's latent into the cache (one "head" of kv_dim values). */
static void store_latents(r1_context *ctx, int layer, const r1_chunk *b) {
    r1_kv_cache *c = &ctx->cache;
    const r1_quantize_fn to_half = ctx->compute.kernels->format[R1_TYPE_F16].quantize;
    for (int i = 0; i < b->n; i++)
        r1_kv_cache_write_row(c, r1_kv_cache_key(c, layer, 0, b->seq[i], b->pos[i]),
                              ctx->act.latent + (long)i * c->kv_dim, to_half);
}

/* Position t's latent as floats: in the cache itself (f32), or converted
 * into buf by the kernel set's f16 conversion (kv_dim floats). */
static const float *latent_floats(const r1_context *ctx, int layer, int seq, int t, float *buf) {
    const r1_kv_cache *c = &ctx->cache;
    const void *entry = r1_kv_cache_key(c, layer, 0, seq, t);
    if (c->type == R1_KV_F32) return entry;
    ctx->compute.kernels->format[R1_TYPE_F16].dequantize(entry, buf, c->kv_dim);
    return buf;
}

static float dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* The per-head up-projection rows (see r1_deepseek2_layer). */
static const void *key_row(const r1_deepseek2_layer *l, int rank, int head, int j) {
    return r1_tensor_row(&l->k_b, (int64_t)head * rank + j);
}
static const void *value_row(const r1_deepseek2_layer *l, int head, int e) {
    return r1_tensor_row(&l->v_b, l->v_row0 + (int64_t)head * l->v_head_stride + e);
}

typedef struct mla_job {
    r1_context *ctx;
    const r1_chunk *chunk;
    const r1_deepseek2_layer *l;
    int layer;
} mla_job;

/* Absorbed attention of one head of one row. */
static void attend_absorbed(const mla_job *job, int row, int head, float *scratch) {
    r1_context *ctx = job->ctx;
    const r1_hparams *hp = &ctx->model->hp;
    const r1_mla_hparams *mla = &hp->mla;
    const r1_kv_cache *c = &ctx->cache;
    const r1_format_kernels *kk = &ctx->compute.kernels->format[job->l->k_b.type];
    const r1_format_kernels *vk = &ctx->compute.kernels->format[job->l->v_b.type];
    int rank = mla->kv_lora_rank, n_pos = job->chunk->pos[row] + 1, seq = job->chunk->seq[row];
    float *scores = scratch, *q_lat = scratch + ctx->params.n_ctx, *o_lat = q_lat + rank;
    const float *q_nope = ctx->act.q + ((long)row * hp->n_head + head) * (mla->qk_nope + mla->qk_rope);
    const float *q_pe = q_nope + mla->qk_nope;
    for (int j = 0; j < rank; j++) q_lat[j] = kk->dot_f32(key_row(job->l, rank, head, j), q_nope, mla->qk_nope);
    const bool half = c->type == R1_KV_F16;
    /* an f16 latent is read by the f16 rows' dot product, no copy */
    const r1_dot_f32_fn simd_dot = ctx->compute.kernels->format[half ? R1_TYPE_F16 : R1_TYPE_F32].dot_f32;
    for (int t = 0; t < n_pos; t++) {
        const uint8_t *entry = r1_kv_cache_key(c, job->layer, 0, seq, t);
        const void *pe = entry + (size_t)rank * c->value_bytes;
        float pe_dot = half ? simd_dot(pe, q_pe, mla->qk_rope) : dot(q_pe, pe, mla->qk_rope);
        scores[t] = (simd_dot(entry, q_lat, rank) + pe_dot) * mla->kq_scale;
    }
    r1_softmax(scores, n_pos);
    /* n_ctx row pointers after o_lat, 8-byte aligned (the scratch has room),
     * to the latents' first rank values */
    void *pointers = scratch + ((ctx->params.n_ctx + 2L * rank + 1) & ~1L);
    if (half) {
        const uint16_t **latents = pointers;
        for (int t = 0; t < n_pos; t++) latents[t] = r1_kv_cache_key(c, job->layer, 0, seq, t);
        ctx->compute.kernels->attention_values_f16(o_lat, scores, 0, 1, latents, n_pos, rank);
    } else {
        const float **latents = pointers;
        for (int t = 0; t < n_pos; t++) latents[t] = r1_kv_cache_key(c, job->layer, 0, seq, t);
        ctx->compute.kernels->attention_values(o_lat, scores, 0, 1, latents, n_pos, rank);
    }
    float *out = ctx->act.attn + ((long)row * hp->n_head + head) * mla->v_head_dim;
    for (int e = 0; e < mla->v_head_dim; e++) out[e] = vk->dot_f32(value_row(job->l, head, e), o_lat, rank);
}

/* The same attention with each cached latent expanded into this head's key
 * and value (the textbook form). */
static void attend_expanded(const mla_job *job, int row, int head, float *scratch) {
    r1_context *ctx = job->ctx;
    const r1_hparams *hp = &ctx->model->hp;
    const r1_mla_hparams *mla = &hp->mla;
    const r1_format_kernels *kk = &ctx->compute.kernels->format[job->l->k_b.type];
    const r1_format_kernels *vk = &ctx->compute.kernels->format[job->l->v_b.type];
    int rank = mla->kv_lora_rank, nope = mla->qk_nope, n_pos = job->chunk->pos[row] + 1, seq = job->chunk->seq[row];
    float *scores = scratch, *k_nope = scratch + ctx->params.n_ctx, *k_row = k_nope + nope, *value = k_row + nope;
    float *latent_buf = value + mla->v_head_dim; /* kv_dim floats: an f16 latent converted */
    const float *q_nope = ctx->act.q + ((long)row * hp->n_head + head) * (nope + mla->qk_rope);
    for (int t = 0; t < n_pos; t++) {
        const float *latent = latent_floats(ctx, job->layer, seq, t, latent_buf);
        memset(k_nope, 0, (size_t)nope * sizeof(float));
        for (int j = 0; j < rank; j++) { /* k_nope = W_UK_h c_t, column by column */
            kk->dequantize(key_row(job->l, rank, head, j), k_row, nope);
            for (int d = 0; d < nope; d++) k_nope[d] += k_row[d] * latent[j];
        }
        scores[t] = (dot(q_nope, k_nope, nope) + dot(q_nope + nope, latent + rank, mla->qk_rope)) * mla->kq_scale;
    }
    r1_softmax(scores, n_pos);
    float *out = ctx->act.attn + ((long)row * hp->n_head + head) * mla->v_head_dim;
    memset(out, 0, (size_t)mla->v_head_dim * sizeof(float));
    for (int t = 0; t < n_pos; t++) {
        const float *latent = latent_floats(ctx, job->layer, seq, t, latent_buf);
        for (int e = 0; e < mla->v_head_dim; e++) value[e] = vk->dot_f32(value_row(job->l, head, e), latent, rank);
        for (int e = 0; e < mla->v_head_dim; e++) out[e] += scores[t] * value[e];
    }
}

/* (row, head) jobs dealt round-robin: later rows attend to more positions. */
static void mla_task(void *arg, int thread, int n_threads) {
    mla_job *job = arg;
    int n_head = job->ctx->model->hp.n_head;
    long n_jobs = (long)job->chunk->n * n_head;
    float *scratch = job->ctx->act.scores + (long)thread * job->ctx->act.scratch_per_thread;
    for (long k = thread; k < n_jobs; k += n_threads) {
        if (job->ctx->params.mla_expanded) attend_expanded(job, (int)(k / n_head), (int)(k % n_head), scratch);
        else attend_absorbed(job, (int)(k / n_head), (int)(k % n_head), scratch);
    }
}

static int attention_block(r1_context *ctx, int il, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_deepseek2_layer *l = &ctx->model->ds_layers[il];
    r1_activations *a = &ctx->act;
    r1_forward_norm_rows(ctx, a->xn, a->x, &l->attn_norm, b->n, hp->n_embd, hp->rms_eps);
    if (project_queries_and_latents(ctx, l, b) != 0) return -1;
    store_latents(ctx, il, b);
    mla_job job = {ctx, b, l, il};
    r1_threadpool_run(ctx->compute.pool, mla_task, &job);
    if (r1_matmul(&ctx->compute, &l->wo, a->attn, b->n, a->xn, hp->n_embd) != 0) return -1;
    r1_forward_add_rows(ctx, a->x, a->xn, b->n, hp->n_embd);
    return 0;
}

/* ---- feed-forward: dense, shared expert, routed experts ---- */

/* out = down(silu(gate(x)) * up(x)) for n rows of x. */
static int swiglu_ffn(r1_context *ctx, const r1_tensor *gate, const r1_tensor *up, const r1_tensor *down,
                      const float *x, int n, float *out) {
    r1_activations *a = &ctx->act;
    int width = (int)gate->ne[1];
    r1_matmul_out gate_up[2] = {{gate, a->gate, width}, {up, a->up, width}};
    if (r1_matmul_group(&ctx->compute, gate_up, 2, x, n) != 0) return -1;
    r1_forward_swiglu_rows(ctx, a->gate, a->up, n, width);
    return r1_matmul(&ctx->compute, down, a->gate, n, out, down->ne[1]);
}

/* Expert e's slice of a [.., .., n_expert] tensor, as a matrix. */
static r1_tensor expert_matrix(const r1_tensor *all, int e) {
    r1_tensor t = *all;
    t.n_dims = 2;
    t.ne[2] = 1;
    t.data = (const uint8_t *)all->data + (size_t)e * (size_t)all->ne[1] * all->row_bytes;
    return t;
}

/* Runs each chosen expert once on all the rows routed to it, adding the
 * weighted outputs into moe_out. */
static int run_routed_experts(r1_context *ctx, const r1_deepseek2_layer *l, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_moe_hparams *moe = &hp->moe;
    r1_activations *a = &ctx->act;
    int dim = hp->n_embd, k_used = moe->n_expert_used;
    for (int e = 0; e < moe->n_expert; e++) {
        int m = 0;
        for (int i = 0; i < b->n; i++)
            for (int k = 0; k < k_used; k++)
                if (a->chosen[i * k_used + k] == e) {
                    a->rows[m] = i * k_used + k; /* row and slot together */
                    memcpy(a->xg + (long)m * dim, a->xn + (long)i * dim, (size_t)dim * sizeof(float));
                    m++;
                }
        if (m == 0) continue;
        r1_tensor gate = expert_matrix(&l->gate_exps, e), up = expert_matrix(&l->up_exps, e);
        r1_tensor down = expert_matrix(&l->down_exps, e);
        float *out = a->attn; /* free at this point: [n][>= n_embd] */
        if (swiglu_ffn(ctx, &gate, &up, &down, a->xg, m, out) != 0) return -1;
        for (int r = 0; r < m; r++) {
            int i = a->rows[r] / k_used;
            float w = a->chosen_w[a->rows[r]];
            for (int d = 0; d < dim; d++) a->moe_out[(long)i * dim + d] += w * out[(long)r * dim + d];
        }
    }
    return 0;
}

static int moe_block(r1_context *ctx, const r1_deepseek2_layer *l, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_moe_hparams *moe = &hp->moe;
    r1_activations *a = &ctx->act;
    if (r1_matmul(&ctx->compute, &l->gate_inp, a->xn, b->n, a->router, moe->n_expert) != 0) return -1;
    const float *bias = l->has_probs_bias ? l->probs_bias.data : NULL;
    for (int i = 0; i < b->n; i++)
        r1_moe_route(moe, a->router + (long)i * moe->n_expert, bias, a->chosen + (long)i * moe->n_expert_used,
                     a->chosen_w + (long)i * moe->n_expert_used);
    memset(a->moe_out, 0, (size_t)b->n * hp->n_embd * sizeof(float));
    if (run_routed_experts(ctx, l, b) != 0) return -1;
    if (l->has_shared) {
        if (swiglu_ffn(ctx, &l->gate_shexp, &l->up_shexp, &l->down_shexp, a->xn, b->n, a->attn) != 0) return -1;
        r1_forward_add_rows(ctx, a->moe_out, a->attn, b->n, hp->n_embd);
    }
    r1_forward_add_rows(ctx, a->x, a->moe_out, b->n, hp->n_embd);
    return 0;
}

static int feed_forward_block(r1_context *ctx, int il, const r1_chunk *b) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_deepseek2_layer *l = &ctx->model->ds_layers[il];
    r1_activations *a = &ctx->act;
    r1_forward_norm_rows(ctx, a->xn, a->x, &l->ffn_norm, b->n, hp->n_embd, hp->rms_eps);
    if (l->is_moe) return moe_block(ctx, l, b);
    if (swiglu_ffn(ctx, &l->ffn_gate, &l->ffn_up, &l->ffn_down, a->xn, b->n, a->attn) != 0) return -1;
    r1_forward_add_rows(ctx, a->x, a->attn, b->n, hp->n_embd);
    return 0;
}

int r1_deepseek2_forward(r1_context *ctx, const r1_chunk *b, r1_error *err) {
    return r1_forward_layers(ctx, b, attention_block, feed_forward_block, err);
}
