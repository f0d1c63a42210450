/*
 * context.c - creating a context and running batches (r1_decode): the
 * checks on every row, the split into chunks of n_batch rows, and the
 * bookkeeping of sequence lengths around the forward pass.
 */
#include "model/context.h"

#include <stdlib.h>
#include <string.h>

r1_context_params r1_context_default_params(void) {
    r1_context_params p = {.n_threads = 0, .n_ctx = 0, .n_seq_max = 1, .n_batch = 512, .exact = false};
    return p;
}

static int alloc_activations(r1_context *ctx, r1_error *err) {
    const r1_hparams *hp = &ctx->model->hp;
    r1_activations *a = &ctx->act;
    size_t n = (size_t)ctx->params.n_batch;
    size_t q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t wide = (size_t)hp->n_embd > q_dim ? (size_t)hp->n_embd : q_dim;
    a->x = malloc(n * hp->n_embd * sizeof(float));
    a->xn = malloc(n * wide * sizeof(float));
    a->q = malloc(n * q_dim * sizeof(float));
    a->k = malloc(n * kv_dim * sizeof(float));
    a->v = malloc(n * kv_dim * sizeof(float));
    a->attn = malloc(n * q_dim * sizeof(float));
    a->gate = malloc(n * hp->n_ff * sizeof(float));
    a->up = malloc(n * hp->n_ff * sizeof(float));
    a->scores = malloc((size_t)r1_threadpool_size(ctx->compute.pool) * ctx->params.n_ctx * sizeof(float));
    if (!a->x || !a->xn || !a->q || !a->k || !a->v || !a->attn || !a->gate || !a->up || !a->scores)
        return r1_error_set(err, "cannot allocate activations for a batch of %zu rows", n);
    return 0;
}

static void free_activations(r1_activations *a) {
    free(a->x);
    free(a->xn);
    free(a->q);
    free(a->k);
    free(a->v);
    free(a->attn);
    free(a->gate);
    free(a->up);
    free(a->scores);
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
    int kv_dim = model->hp.n_head_kv * model->hp.head_dim;
    if (r1_kv_cache_init(&ctx->cache, model->hp.n_layer, kv_dim, p->n_ctx, p->n_seq_max, err) != 0 ||
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
    int8_t *want = malloc((size_t)b->n);
    if (!want) return r1_error_set(err, "out of memory");
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
        rc = r1_llama_forward(ctx, &chunk, err);
        for (int i = 0; i < n && rc == 0; i++) {
            r1_kv_sequence *s = &ctx->cache.seqs[chunk.seq[i]];
            if (chunk.pos[i] + 1 > s->length) s->length = chunk.pos[i] + 1;
            if (want[start + i]) logits_next += ctx->model->hp.n_vocab;
        }
    }
    free(want);
    if (rc != 0) ctx->n_logits = 0;
    return rc;
}

const float *r1_get_logits(const r1_context *ctx, int i) {
    if (i < 0 || i >= ctx->n_logits) return NULL;
    return ctx->logits + (long)i * ctx->model->hp.n_vocab;
}

void r1_seq_truncate(r1_context *ctx, int seq, int from) {
    if (seq < 0 || seq >= ctx->params.n_seq_max) return;
    r1_kv_cache_truncate(&ctx->cache, seq, from);
}

int r1_seq_length(const r1_context *ctx, int seq) {
    if (seq < 0 || seq >= ctx->params.n_seq_max) return 0;
    return ctx->cache.seqs[seq].length;
}

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
