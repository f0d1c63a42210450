/*
 * context.h - the state of running a model: threads and kernels, the KV
 * cache, and the activation buffers of one batch. (Public entry points are
 * in r1.h; this is their internal side, shared with the forward functions.)
 */
#ifndef R1_MODEL_CONTEXT_H
#define R1_MODEL_CONTEXT_H

#include "r1.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "tensor/matmul.h"

/* Rows of a prefill chunk whose attention is computed together, each block
 * of cached keys and values read once for all of them (llama.c). */
#define R1_ATTENTION_TILE_ROWS 4

/* Activation buffers for up to n_batch rows. */
typedef struct r1_activations {
    float *x;        /* [n][n_embd] the residual stream */
    float *xn;       /* [n][n_embd] normed input of a sub-layer */
    float *q;        /* [n][n_head * head_dim] */
    float *k;        /* [n][n_head_kv * head_dim] */
    float *v;        /* [n][n_head_kv * head_dim] */
    float *attn;     /* [n][n_head * head_dim] attention output */
    float *gate;     /* [n][n_ff] */
    float *up;       /* [n][n_ff] */
    float *rope;     /* [n][rope.n_dims] each row's rotary angles (r1_rope_angles), once
                        per chunk for all layers */
    float *scores;   /* [n_threads][scratch_per_thread] attention weights and
                        per-thread vectors */
    long scratch_per_thread;
    /* deepseek2 */
    float *qa;       /* [n][q_lora_rank] */
    float *latent;   /* [n][kv_lora_rank + qk_rope] what the MLA cache stores (in its type) */
    float *router;   /* [n][n_expert] */
    int32_t *chosen; /* [n][n_expert_used] experts chosen per row */
    float *chosen_w; /* [n][n_expert_used] their weights */
    float *xg;       /* [n][n_embd] rows gathered for one expert */
    float *moe_out;  /* [n][n_embd] */
    int32_t *rows;   /* [n] the rows routed to one expert */
} r1_activations;

struct r1_context {
    r1_model *model;
    r1_context_params params;
    r1_compute compute;
    r1_kv_cache cache;
    r1_activations act;
    float *logits;        /* [n_logits][n_vocab] of the last decode */
    int n_logits;
    int logits_capacity;  /* rows allocated */
};

/* A thread's share of act.scores as the attention of llama.c uses it: the
 * scores of up to R1_ATTENTION_TILE_ROWS rows x the group of query heads
 * that share a KV head, n_ctx apart; the tile's queries and outputs, each
 * gathered into one block; n_ctx row pointers. */
typedef struct r1_attention_scratch {
    float *scores, *q, *out;
    const float **rows;         /* n_ctx row pointers into an f32 cache */
    const uint16_t **half_rows; /* the same room, for an f16 cache */
} r1_attention_scratch;

r1_attention_scratch r1_attention_scratch_of(r1_context *ctx, int thread);

/* Row-wise work split over the compute threads (context.c): fn(ctx, arg,
 * begin, end) on contiguous ranges of rows [0, n_rows), each row
 * independent of the others, so the split changes no result. A few rows
 * stay on the calling thread. (The forward pass's row-wise steps; the
 * engine's sampling, one sequence a row.) */
typedef void (*r1_rows_fn)(r1_context *ctx, void *arg, int begin, int end);
void r1_run_rows(r1_context *ctx, int n_rows, r1_rows_fn fn, void *arg);

/* One chunk of a batch (at most n_batch rows), already validated. */
typedef struct r1_chunk {
    int n;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *want_logits;  /* never NULL here */
    float *logits;              /* where the flagged rows' logits go, in order */
} r1_chunk;

/* The forward passes over one chunk: llama.c (llama, qwen2) and
 * deepseek2.c. */
int r1_llama_forward(r1_context *ctx, const r1_chunk *chunk, r1_error *err);
int r1_deepseek2_forward(r1_context *ctx, const r1_chunk *chunk, r1_error *err);

/* Steps every architecture shares (forward_common.c). */
void r1_forward_embed(r1_context *ctx, const r1_chunk *b);

/* Row-wise steps on the compute threads (r1_run_rows): out = rmsnorm(x) * weight (out may be x),
 * y += x, and gate = silu(gate) * up, on n_rows rows of dim values. */
void r1_forward_norm_rows(r1_context *ctx, float *out, const float *x, const r1_tensor *weight, int n_rows, int dim,
                          float eps);
void r1_forward_add_rows(r1_context *ctx, float *y, const float *x, int n_rows, int dim);
void r1_forward_swiglu_rows(r1_context *ctx, float *gate, const float *up, int n_rows, int dim);
int r1_forward_output(r1_context *ctx, const r1_chunk *b);

/* A layer's two halves, as each architecture defines them. */
typedef int (*r1_block_fn)(r1_context *ctx, int layer, const r1_chunk *b);

/* embed -> for each layer: attention, then feed-forward -> output logits. */
int r1_forward_layers(r1_context *ctx, const r1_chunk *b, r1_block_fn attention, r1_block_fn feed_forward,
                      r1_error *err);

#endif
