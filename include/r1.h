/*
 * r1.h - the public C API of libr1: load a model, run batches through it,
 * sample tokens. The server, the command line and embedders use only this.
 *
 * A minimal program:
 *
 *     r1_error err;
 *     r1_model *model;
 *     if (r1_model_load("model.gguf", &model, &err) != 0) { puts(err.message); return 1; }
 *     r1_context_params cp = r1_context_default_params();
 *     r1_context *ctx;
 *     if (r1_context_new(model, &cp, &ctx, &err) != 0) { ... }
 *     int32_t tokens[] = {1, 2, 3}, pos[] = {0, 1, 2}, seq[] = {0, 0, 0};
 *     int8_t want[] = {0, 0, 1};
 *     r1_batch b = {3, tokens, pos, seq, want};
 *     if (r1_decode(ctx, &b, &err) != 0) { ... }
 *     const float *logits = r1_get_logits(ctx, 0);   (logits of the last row)
 *
 * Conventions: functions that can fail return 0 on success and -1 on
 * failure with a one-line message in *err (err may be NULL). Nothing in the
 * library aborts the process on bad input.
 */
#ifndef R1_H
#define R1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef R1_ERROR_DEFINED
#define R1_ERROR_DEFINED
/* A failure's description: one line naming what failed and why. */
typedef struct r1_error {
    char message[512];
} r1_error;
#endif

/* ---- models ---- */

typedef struct r1_model r1_model;

/* Maps a GGUF file and checks it completely (format, metadata, every tensor
 * the architecture needs with its shape). Supported architectures: llama,
 * qwen2. Weights stay in the file's number formats. */
int r1_model_load(const char *path, r1_model **out, r1_error *err);
void r1_model_free(r1_model *model);

/* Where the weights live once loaded. */
typedef enum r1_load_mode {
    R1_LOAD_AUTO = 0, /* COPY when the file fits in half the available memory, else MMAP;
                         the environment variable R1_LOAD=mmap|copy overrides */
    R1_LOAD_MMAP = 1, /* map the file: instant, shared with other processes, paged by the OS */
    R1_LOAD_COPY = 2  /* read it into private huge-page memory: faster decoding */
} r1_load_mode;

typedef struct r1_model_params {
    r1_load_mode load;
} r1_model_params;

/* r1_model_load with explicit parameters (params may be NULL: defaults). */
int r1_model_load_ex(const char *path, const r1_model_params *params, r1_model **out, r1_error *err);

typedef struct r1_model_info {
    const char *arch;     /* "llama", "qwen2" */
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int n_ctx_train;
    uint64_t n_params;
    uint64_t weight_bytes;     /* all tensor data */
    uint64_t bytes_per_token;  /* weight bytes read to decode one token */
    const char *file_type;     /* general.file_type by name: "Q4_K_M", "F16", ... or "unknown" */
    int32_t bos_token;         /* from the tokenizer metadata; -1 if none */
    int32_t eos_token;
} r1_model_info;

void r1_model_get_info(const r1_model *model, r1_model_info *info);

/* The model's vocabulary as a tokenizer (text/tokenizer.h has its API).
 * Load it once and share it: it is read-only and thread-safe. */
struct r1_tokenizer;
int r1_model_load_tokenizer(const r1_model *model, struct r1_tokenizer **out, r1_error *err);

/* ---- contexts: the state of running a model (threads, KV cache) ---- */

typedef struct r1_context r1_context;

typedef struct r1_context_params {
    int n_threads;   /* <= 0: one per CPU */
    int n_ctx;       /* total cached tokens over all sequences; <= 0: min(4096, trained) */
    int n_seq_max;   /* sequences that may be cached at once (default 1) */
    int n_batch;     /* rows computed together; larger batches are split (default 512) */
    bool exact;      /* keep activations in float32 in every matrix product
                        (slower; matches a float reference tightly). Default:
                        8-bit activations with integer dot products. */
    bool mla_expanded; /* deepseek2 only, for checking: attention with keys and
                          values expanded from the latent cache per position
                          instead of the absorbed form (same result, slower) */
} r1_context_params;

r1_context_params r1_context_default_params(void);
int r1_context_new(r1_model *model, const r1_context_params *params, r1_context **out, r1_error *err);
void r1_context_free(r1_context *ctx);

/* A batch: n rows of (token, position, sequence). Rows of one sequence must
 * continue its cache without gaps (position p needs positions < p cached or
 * earlier in the batch). logits[i] != 0 asks for row i's logits; logits may
 * be NULL to ask for the last row only. */
typedef struct r1_batch {
    int n;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *logits;
} r1_batch;

/* Runs the model on the batch. Prefill and decode, one sequence or many,
 * all take this one path. On failure no sequence changes. */
int r1_decode(r1_context *ctx, const r1_batch *batch, r1_error *err);

/* The logits (n_vocab floats) of the i-th row that asked for logits in the
 * last r1_decode, or NULL. */
const float *r1_get_logits(const r1_context *ctx, int i);

/* Forgets a sequence's cached tokens from position `from` on (0: all). */
void r1_seq_truncate(r1_context *ctx, int seq, int from);

/* Number of positions cached for a sequence. */
int r1_seq_length(const r1_context *ctx, int seq);

/* Bytes the KV cache holds per cached position (all layers). deepseek2
 * caches one latent vector per layer instead of per-head keys and values. */
size_t r1_kv_bytes_per_token(const r1_context *ctx);

/* ---- sampling ---- */

typedef struct r1_sampler_params {
    float temperature;     /* <= 0: greedy (argmax, lowest id wins ties) */
    int top_k;             /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off; applied to the last repeat_last_n tokens */
    int repeat_last_n;
    float presence_penalty;
    float frequency_penalty;
    uint64_t seed;
} r1_sampler_params;

typedef struct r1_sampler r1_sampler;

r1_sampler_params r1_sampler_default_params(void);
r1_sampler *r1_sampler_new(const r1_sampler_params *params, int n_vocab);
void r1_sampler_free(r1_sampler *s);
/* Picks the next token from logits (not modified). */
int32_t r1_sampler_sample(r1_sampler *s, const float *logits);
/* Tells the sampler a token was emitted (for repetition penalties). */
void r1_sampler_accept(r1_sampler *s, int32_t token);

/* Index of the largest value (the first one on ties). */
int32_t r1_argmax(const float *x, int n);

/* ---- build information ---- */

const char *r1_version(void);
/* The kernel set in use: "scalar", "avx2" or "avx512". */
const char *r1_kernel_isa(void);

#ifdef __cplusplus
}
#endif

#endif
