/*
 * context.c - creating a context and running batches (r1_decode): the
 * checks on every row, the split into chunks of n_batch rows, and the
 * bookkeeping of sequence lengths around the forward pass; per-thread
 * scratch and row-wise work on the context's compute threads.
 */
#include "model/context.h"

#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"

r1_context_params r1_context_default_params(void) {
    r1_context_params p = {.n_threads = 0, .n_ctx = 0, .n_seq_max = 1, .n_batch = 512, .exact = false,
                           .kv_type = R1_KV_DEFAULT};
    return p;
}

const char *r1_kv_type_name(r1_kv_type t) {
    switch (t) {
    case R1_KV_DEFAULT: return "auto";
    case R1_KV_F16: return "f16";
    case R1_KV_F32: return "f32";
    }
    return NULL;
}

int r1_kv_type_parse(const char *name, r1_kv_type *out) {
    if (strcmp(name, "auto") == 0) *out = R1_KV_DEFAULT;
    else if (strcmp(name, "f16") == 0) *out = R1_KV_F16;
    else if (strcmp(name, "f32") == 0) *out = R1_KV_F32;
    else return -1;
    return 0;
}

/* What R1_KV_DEFAULT means in this mode (see r1.h). */
static int resolve_kv_type(const r1_context_params *p, r1_kv_type *out, r1_error *err) {
    if (p->kv_type == R1_KV_DEFAULT) *out = p->exact ? R1_KV_F32 : R1_KV_F16;
    else if (p->kv_type == R1_KV_F16 || p->kv_type == R1_KV_F32) *out = p->kv_type;
    else return r1_error_set(err, "unknown KV cache type %d (f16 or f32)", (int)p->kv_type);
    return 0;
}

/* Where the parts of r1_attention_scratch lie in a thread's share, in
 * floats from its start (the scores start it), and where they end. */
typedef struct attention_scratch_layout {
    long q_at, out_at, rows_at, end;
} attention_scratch_layout;

static attention_scratch_layout attention_layout(const r1_hparams *hp, long n_ctx) {
    long group = hp->n_head_kv > 0 ? hp->n_head / hp->n_head_kv : 1; /* GQA: query heads per KV head */
    long n_q = (long)R1_ATTENTION_TILE_ROWS * (group > 1 ? group : 1);
    attention_scratch_layout l = {.q_at = n_q * n_ctx};
    l.out_at = l.q_at + n_q * hp->head_dim;
    l.rows_at = (l.out_at + n_q * hp->head_dim + 1) & ~1L; /* 8-byte aligned pointers */
    l.end = l.rows_at + 2 * n_ctx;                        /* a pointer takes 2 floats */
    return l;
}

r1_attention_scratch r1_attention_scratch_of(r1_context *ctx, int thread) {
    attention_scratch_layout l = attention_layout(&ctx->model->hp, ctx->params.n_ctx);
    float *base = ctx->act.scores + (long)thread * ctx->act.scratch_per_thread; /* 64-byte aligned */
    /* the row pointers of an f32 or an f16 cache, in the same place */
    return (r1_attention_scratch){.scores = base, .q = base + l.q_at, .out = base + l.out_at,
                                  .rows = (const float **)(base + l.rows_at),
                                  .half_rows = (const uint16_t **)(base + l.rows_at)};
}

/* Row-wise work on the compute threads (context.h). Norms, residual sums,
 * SwiGLU, RoPE, sampling are cheap beside the products, but the products
 * keep every thread busy, so a row-wise step left to the calling thread
 * keeps the others waiting: with 2 threads and a batch of 32 rows they
 * were ~5 % of a step, all on one thread (perf of r1 serve under load).
 * Below MIN_PARALLEL_ROWS rows, waking the pool costs about what it
 * saves. */
enum { MIN_PARALLEL_ROWS = 4 };

typedef struct rows_job {
    r1_context *ctx;
    int n_rows;
    r1_rows_fn fn;
    void *arg;
} rows_job;

static void rows_job_run(void *arg, int thread, int n_threads) {
    const rows_job *job = arg;
    long begin, end;
    r1_split_range(job->n_rows, thread, n_threads, 1, &begin, &end);
    if (begin < end) job->fn(job->ctx, job->arg, (int)begin, (int)end);
}

void r1_run_rows(r1_context *ctx, int n_rows, r1_rows_fn fn, void *arg) {
    if (n_rows < MIN_PARALLEL_ROWS || r1_threadpool_size(ctx->compute.pool) == 1) {
        fn(ctx, arg, 0, n_rows);
        return;
    }
    rows_job job = {ctx, n_rows, fn, arg};
    r1_threadpool_run(ctx->compute.pool, rows_job_run, &job);
}

/* Floats of per-thread scratch: the attention tile's (above), and for MLA
 * the latent query/output, the expanded key/value vectors and one latent
 * converted from an f16 cache. */
static long scratch_per_thread(const r1_context *ctx) {
    const r1_hparams *hp = &ctx->model->hp;
    long widest = hp->mla.kv_lora_rank;
    if (hp->mla.qk_nope > widest) widest = hp->mla.qk_nope;
    if (hp->mla.v_head_dim > widest) widest = hp->mla.v_head_dim;
    /* a multiple of 16 floats keeps every thread's share 64-byte aligned */
    long latent = hp->mla.kv_lora_rank + hp->mla.qk_rope;
    long floats = attention_layout(hp, ctx->params.n_ctx).end + 4 * widest + latent + 32;
    return (floats + 15) & ~15L;
}

static int alloc_activations(r1_context *ctx, r1_error *err) {
    const r1_hparams *hp = &ctx->model->hp;
    const r1_mla_hparams *mla = &hp->mla;
    const r1_moe_hparams *moe = &hp->moe;
    r1_activations *a = &ctx->act;
    size_t n = (size_t)ctx->params.n_batch;
    bool mla_model = hp->arch == R1_ARCH_DEEPSEEK2;
    size_t q_dim = mla_model ? (size_t)hp->n_head * (mla->qk_nope + mla->qk_rope) : (size_t)hp->n_head * hp->head_dim;
    size_t kv_dim = mla_model ? 1 : (size_t)hp->n_head_kv * hp->head_dim;
    size_t attn_dim = mla_model ? (size_t)hp->n_head * mla->v_head_dim : q_dim;
    size_t wide = (size_t)hp->n_embd > attn_dim ? (size_t)hp->n_embd : attn_dim;
    size_t ff = (size_t)hp->n_ff, ff_moe = (size_t)moe->n_ff_exp * (moe->n_expert_shared > 1 ? moe->n_expert_shared : 1);
    if (ff_moe > ff) ff = ff_moe;
    a->scratch_per_thread = scratch_per_thread(ctx);
    a->x = malloc(n * hp->n_embd * sizeof(float));
    a->xn = malloc(n * wide * sizeof(float));
    a->q = malloc(n * q_dim * sizeof(float));
    a->k = malloc(n * kv_dim * sizeof(float));
    a->v = malloc(n * kv_dim * sizeof(float));
    a->attn = malloc(n * wide * sizeof(float)); /* also holds FFN outputs of n_embd */
    a->gate = malloc(n * ff * sizeof(float));
    a->up = malloc(n * ff * sizeof(float));
    a->rope = malloc(n * (size_t)(hp->rope.n_dims > 0 ? hp->rope.n_dims : 1) * sizeof(float));
    /* a multiple of 64 bytes (scratch_per_thread is of 16 floats) */
    size_t scratch_bytes = (size_t)r1_threadpool_size(ctx->compute.pool) * a->scratch_per_thread * sizeof(float);
    a->scores = aligned_alloc(64, scratch_bytes);
    bool ok = a->x && a->xn && a->q && a->k && a->v && a->attn && a->gate && a->up && a->rope && a->scores;
    if (ok && mla_model) {
        size_t k_used = moe->n_expert_used > 0 ? (size_t)moe->n_expert_used : 1;
        a->qa = malloc(n * (size_t)(mla->q_lora_rank > 0 ? mla->q_lora_rank : 1) * sizeof(float));
        a->latent = malloc(n * (size_t)(mla->kv_lora_rank + mla->qk_rope) * sizeof(float));
        a->router = malloc(n * (size_t)(moe->n_expert > 0 ? moe->n_expert : 1) * sizeof(float));
        a->chosen = malloc(n * k_used * sizeof(int32_t));
        a->chosen_w = malloc(n * k_used * sizeof(float));
        a->xg = malloc(n * hp->n_embd * sizeof(float));
        a->moe_out = malloc(n * hp->n_embd * sizeof(float));
        a->rows = malloc(n * sizeof(int32_t));
        ok = a->qa && a->latent && a->router && a->chosen && a->chosen_w && a->xg && a->moe_out && a->rows;
    }
    if (!ok) return r1_error_set(err, "cannot allocate activations for a batch of %zu rows", n);
    return 0;
}

static void free_activations(r1_activations *a) {
    float *buffers[] = {a->x, a->xn, a->q, a->k, a->v, a->attn, a->gate, a->up, a->rope, a->scores,
                        a->qa, a->latent, a->router, a->chosen_w, a->xg, a->moe_out};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) free(buffers[i]);
    free(a->chosen);
    free(a->rows);
    memset(a, 0, sizeof *a);
}

int r1_context_new(r1_model *model, const r1_context_params *params, r1_context **out, r1_error *err) {
    *out = NULL;
    r1_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return r1_error_set(err, "out of memory");
    ctx->model = model;
    ctx->params = params ? *params : r1_context_default_params();
    r1_context_params *p = &ctx->params;
    if (p->n_ctx <= 0) p->n_ctx = model->hp.n_ctx_train < 4096 ? model->hp.n_ctx_train : 4096;
    if (p->n_seq_max <= 0) p->n_seq_max = 1;
    if (p->n_batch <= 0) p->n_batch = 512;
    if (r1_compute_init(&ctx->compute, p->n_threads, p->exact) != 0) {
        int n_threads = p->n_threads;
        free(ctx);
        return r1_error_set(err, "cannot start %d threads", n_threads);
    }
    /* MLA caches the normed latent and the shared RoPE key per position;
     * the others cache per-head keys and values. */
    bool mla_model = model->hp.arch == R1_ARCH_DEEPSEEK2;
    int kv_heads = mla_model ? 1 : model->hp.n_head_kv;
    int kv_head_dim = mla_model ? model->hp.mla.kv_lora_rank + model->hp.mla.qk_rope : model->hp.head_dim;
    r1_kv_type kv_type = R1_KV_DEFAULT; /* resolved below; the cache keeps it (r1_context_kv_type) */
    if (resolve_kv_type(p, &kv_type, err) != 0 ||
        r1_kv_cache_init(&ctx->cache, model->hp.n_layer, kv_heads, kv_head_dim, kv_type, !mla_model, p->n_ctx,
                         p->n_seq_max, err) != 0 ||
        alloc_activations(ctx, err) != 0) {
        r1_context_free(ctx);
        return -1;
    }
    *out = ctx;
    return 0;
}

void r1_context_free(r1_context *ctx) {
    if (!ctx) return;
    free_activations(&ctx->act);
    r1_kv_cache_free(&ctx->cache);
    r1_compute_free(&ctx->compute);
    free(ctx->logits);
    free(ctx);
}

/* Checks every row and reserves cache blocks; on failure nothing changed
 * except possibly extra reserved (still unused) blocks. */
static int check_batch(r1_context *ctx, const r1_batch *b, r1_error *err) {
    const r1_hparams *hp = &ctx->model->hp;
    if (b->n <= 0 || !b->token || !b->pos || !b->seq) return r1_error_set(err, "empty batch");
    int *length = malloc((size_t)ctx->params.n_seq_max * sizeof(int));
    if (!length) return r1_error_set(err, "out of memory");
    for (int s = 0; s < ctx->params.n_seq_max; s++) length[s] = ctx->cache.seqs[s].length;
    int rc = 0;
    for (int i = 0; i < b->n && rc == 0; i++) {
        int32_t t = b->token[i], p = b->pos[i], s = b->seq[i];
        if (t < 0 || t >= hp->n_vocab)
            rc = r1_error_set(err, "batch row %d: token id %d is outside the vocabulary [0, %d)", i, t, hp->n_vocab);
        else if (s < 0 || s >= ctx->params.n_seq_max)
            rc = r1_error_set(err, "batch row %d: sequence %d is outside [0, %d)", i, s, ctx->params.n_seq_max);
        else if (p != length[s])
            rc = r1_error_set(err, "batch row %d: position %d of sequence %d does not continue its cache "
                              "(next position is %d)", i, p, s, length[s]);
        else if (p >= ctx->params.n_ctx)
            rc = r1_error_set(err, "batch row %d: position %d is beyond the context size %d", i, p, ctx->params.n_ctx);
        else
            length[s] = p + 1;
    }
    for (int s = 0; s < ctx->params.n_seq_max && rc == 0; s++)
        rc = r1_kv_cache_reserve(&ctx->cache, s, length[s], err);
    free(length);
    return rc;
}

static int prepare_logits(r1_context *ctx, int n_logits, r1_error *err) {
    if (n_logits > ctx->logits_capacity) {
        float *p = realloc(ctx->logits, (size_t)n_logits * ctx->model->hp.n_vocab * sizeof(float));
        if (!p) return r1_error_set(err, "cannot allocate logits for %d rows", n_logits);
        ctx->logits = p;
        ctx->logits_capacity = n_logits;
    }
    ctx->n_logits = n_logits;
    return 0;
}

int r1_decode(r1_context *ctx, const r1_batch *b, r1_error *err) {
    ctx->n_logits = 0;
    if (check_batch(ctx, b, err) != 0) return -1;
    int *before = malloc((size_t)ctx->params.n_seq_max * sizeof(int));
    for (int s = 0; before && s < ctx->params.n_seq_max; s++) before[s] = ctx->cache.seqs[s].length;
    int8_t *want = malloc((size_t)b->n);
    if (!want || !before) {
        free(want);
        free(before);
        return r1_error_set(err, "out of memory");
    }
    int n_logits = 0;
    for (int i = 0; i < b->n; i++) {
        want[i] = b->logits ? (b->logits[i] != 0) : (i == b->n - 1);
        n_logits += want[i];
    }
    int rc = prepare_logits(ctx, n_logits, err);
    float *logits_next = ctx->logits;
    for (int start = 0; start < b->n && rc == 0; start += ctx->params.n_batch) {
        int n = b->n - start < ctx->params.n_batch ? b->n - start : ctx->params.n_batch;
        r1_chunk chunk = {n, b->token + start, b->pos + start, b->seq + start, want + start, logits_next};
        rc = ctx->model->hp.arch == R1_ARCH_DEEPSEEK2 ? r1_deepseek2_forward(ctx, &chunk, err)
                                                      : r1_llama_forward(ctx, &chunk, err);
        for (int i = 0; i < n && rc == 0; i++) {
            r1_kv_sequence *s = &ctx->cache.seqs[chunk.seq[i]];
            if (chunk.pos[i] + 1 > s->length) s->length = chunk.pos[i] + 1;
            if (want[start + i]) logits_next += ctx->model->hp.n_vocab;
        }
    }
    free(want);
    if (rc != 0) {
        /* a later chunk failed: forget what earlier chunks cached, so a
         * failed call leaves every sequence as it was */
        ctx->n_logits = 0;
        for (int s = 0; s < ctx->params.n_seq_max && before; s++) r1_kv_cache_truncate(&ctx->cache, s, before[s]);
    }
    free(before);
    return rc;
}

const float *r1_get_logits(const r1_context *ctx, int i) {
    if (i < 0 || i >= ctx->n_logits) return NULL;
    return ctx->logits + (long)i * ctx->model->hp.n_vocab;
}

int r1_seq_truncate(r1_context *ctx, int seq, int from) {
    if (seq < 0 || seq >= ctx->params.n_seq_max) return 0;
    return r1_kv_cache_truncate(&ctx->cache, seq, from);
}

int r1_seq_share_prefix(r1_context *ctx, int dst, int src, int n, r1_error *err) {
    if (dst < 0 || dst >= ctx->params.n_seq_max || src < 0 || src >= ctx->params.n_seq_max)
        return r1_error_set(err, "sequence %d or %d is outside [0, %d)", dst, src, ctx->params.n_seq_max);
    return r1_kv_cache_share(&ctx->cache, dst, src, n, err);
}

int r1_kv_cache_positions(const r1_context *ctx) { return ctx->cache.n_blocks * R1_KV_BLOCK_TOKENS; }

int r1_kv_cache_free_positions(const r1_context *ctx) { return ctx->cache.n_free * R1_KV_BLOCK_TOKENS; }

int r1_seq_length(const r1_context *ctx, int seq) {
    if (seq < 0 || seq >= ctx->params.n_seq_max) return 0;
    return ctx->cache.seqs[seq].length;
}

size_t r1_kv_bytes_per_token(const r1_context *ctx) {
    const r1_kv_cache *c = &ctx->cache;
    return (size_t)c->n_layer * c->kv_dim * c->value_bytes * (c->values ? 2 : 1);
}

r1_kv_type r1_context_kv_type(const r1_context *ctx) { return ctx->cache.type; }

void r1_model_get_info(const r1_model *m, r1_model_info *info) {
    info->arch = m->hp.arch_name;
    info->n_vocab = m->hp.n_vocab;
    info->n_embd = m->hp.n_embd;
    info->n_layer = m->hp.n_layer;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->n_ctx_train = m->hp.n_ctx_train;
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
    info->bytes_per_token = r1_model_bytes_per_token(m);
    info->file_type = m->hp.file_type;
    info->bos_token = m->hp.bos_token;
    info->eos_token = m->hp.eos_token;
}

const char *r1_version(void) { return R1_VERSION; }

const char *r1_kernel_isa(void) { return r1_kernels()->name; }
