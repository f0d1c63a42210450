/*
 * random_model.c - random-weight GGUF files of real model shapes (see
 * random_model.h and docs/MODEL-GEN.md).
 *
 * The metadata order, tokenizer stand-in and value recipe for the
 * r1-distill-qwen-1.5b shape in f16 reproduce, byte for byte, the file
 * described in the project's performance anchor, so r1 and other engines can
 * be compared on identical bytes. Quantized types apply the per-tensor mix
 * of the common quantizer (llama-quantize) for that type.
 */
#include "model/random_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "model/gguf.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"

static const r1_model_shape shapes[] = {
    {"tiny", "qwen2", "random-tiny-qwen2", 512, 256, 2, 8, 2, 512, 4096, 10000.0f, 1e-6f, 510, 511,
     "deepseek-r1-qwen"},
    {"tiny-llama", "llama", "random-tiny-llama", 512, 256, 2, 8, 2, 512, 4096, 500000.0f, 1e-5f, 510, 511,
     "llama-bpe"},
    {"r1-distill-qwen-1.5b", "qwen2", "random-R1-Distill-Qwen-1.5B-shape", 151936, 1536, 28, 12, 2, 8960,
     131072, 10000.0f, 1e-6f, 151646, 151643, "deepseek-r1-qwen"},
    {"r1-distill-qwen-7b", "qwen2", "random-R1-Distill-Qwen-7B-shape", 152064, 3584, 28, 28, 4, 18944,
     131072, 10000.0f, 1e-6f, 151646, 151643, "deepseek-r1-qwen"},
    {"r1-distill-llama-8b", "llama", "random-R1-Distill-Llama-8B-shape", 128256, 4096, 32, 32, 8, 14336,
     131072, 500000.0f, 1e-5f, 128000, 128001, "llama-bpe"},
    {NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0.0f, 0.0f, 0, 0, NULL},
};

const r1_model_shape *r1_model_shapes(void) { return shapes; }

const r1_model_shape *r1_model_shape_find(const char *name) {
    for (const r1_model_shape *s = shapes; s->name; s++)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

/* ---- the value stream ---- */

float r1_random_weight(uint64_t seed, uint64_t g) {
    uint64_t s = 0x1234ABCD5678EF01ull + seed * 0xD1B54A32D192ED03ull + g * 0x9E3779B97F4A7C15ull;
    uint64_t z = (s ^ (s >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    float u = (float)(z >> 40) * (1.0f / 16777216.0f);
    const float amplitude = 0.034641016f; /* 0.02 * sqrt(3): uniform with std 0.02 */
    return (2.0f * u - 1.0f) * amplitude;
}

/* ---- the tensor list and its type mix ---- */

typedef struct planned_tensor {
    char name[64];
    uint32_t type;
    int64_t ne[2];
    int n_dims;
    bool is_norm;      /* all 1.0, consumes no random numbers */
    uint64_t first_g;  /* stream index of its first value */
} planned_tensor;

typedef struct type_mix {
    const char *name;
    uint32_t file_type;   /* general.file_type (llama.cpp's LLAMA_FTYPE numbers) */
    r1_type main;         /* most matrices */
    r1_type embedding;
    r1_type output;
    r1_type more_bits;    /* attn_v and ffn_down in the "use more bits" layers */
} type_mix;

static const type_mix mixes[] = {
    {"f32", 0, R1_TYPE_F32, R1_TYPE_F32, R1_TYPE_F32, R1_TYPE_F32},
    {"f16", 1, R1_TYPE_F16, R1_TYPE_F16, R1_TYPE_F16, R1_TYPE_F16},
    {"q4_0", 2, R1_TYPE_Q4_0, R1_TYPE_Q4_0, R1_TYPE_Q6_K, R1_TYPE_Q4_0},
    {"q8_0", 7, R1_TYPE_Q8_0, R1_TYPE_Q8_0, R1_TYPE_Q8_0, R1_TYPE_Q8_0},
    {"q4_k_m", 15, R1_TYPE_Q4_K, R1_TYPE_Q4_K, R1_TYPE_Q6_K, R1_TYPE_Q6_K},
    {"q6_k", 18, R1_TYPE_Q6_K, R1_TYPE_Q6_K, R1_TYPE_Q6_K, R1_TYPE_Q6_K},
};

/* llama-quantize gives attn_v and ffn_down more bits in the first and last
 * eighth of the layers and in every third layer between. */
static bool uses_more_bits(int layer, int n_layer) {
    return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

typedef struct plan {
    planned_tensor *t;
    int n;
} plan;

static void plan_add(plan *p, const char *name, uint32_t type, int64_t ne0, int64_t ne1, bool is_norm) {
    planned_tensor *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->n_dims = ne1 ? 2 : 1;
    t->is_norm = is_norm;
}

static void plan_layer(plan *p, const r1_model_shape *s, const type_mix *mix, int il) {
    char name[64];
    int64_t q_dim = s->n_embd, kv_dim = (int64_t)s->n_embd / s->n_head * s->n_head_kv;
    r1_type heavy = uses_more_bits(il, s->n_layer) ? mix->more_bits : mix->main;
    bool qwen = strcmp(s->arch, "qwen2") == 0;
#define LAYER_TENSOR(suffix, type, ne0, ne1, norm)                      \
    do {                                                                \
        snprintf(name, sizeof name, "blk.%d.%s", il, suffix);           \
        plan_add(p, name, type, ne0, ne1, norm);                        \
    } while (0)
    LAYER_TENSOR("attn_norm.weight", R1_TYPE_F32, s->n_embd, 0, true);
    LAYER_TENSOR("attn_q.weight", mix->main, s->n_embd, q_dim, false);
    if (qwen) LAYER_TENSOR("attn_q.bias", R1_TYPE_F32, q_dim, 0, false);
    LAYER_TENSOR("attn_k.weight", mix->main, s->n_embd, kv_dim, false);
    if (qwen) LAYER_TENSOR("attn_k.bias", R1_TYPE_F32, kv_dim, 0, false);
    LAYER_TENSOR("attn_v.weight", heavy, s->n_embd, kv_dim, false);
    if (qwen) LAYER_TENSOR("attn_v.bias", R1_TYPE_F32, kv_dim, 0, false);
    LAYER_TENSOR("attn_output.weight", mix->main, q_dim, s->n_embd, false);
    LAYER_TENSOR("ffn_norm.weight", R1_TYPE_F32, s->n_embd, 0, true);
    LAYER_TENSOR("ffn_gate.weight", mix->main, s->n_embd, s->n_ff, false);
    LAYER_TENSOR("ffn_up.weight", mix->main, s->n_embd, s->n_ff, false);
    LAYER_TENSOR("ffn_down.weight", heavy, s->n_ff, s->n_embd, false);
#undef LAYER_TENSOR
}

static int make_plan(const r1_model_shape *s, const type_mix *mix, plan *p, r1_error *err) {
    p->n = 0;
    p->t = calloc((size_t)s->n_layer * 12 + 4, sizeof *p->t);
    if (!p->t) return r1_error_set(err, "out of memory");
    plan_add(p, "token_embd.weight", mix->embedding, s->n_embd, s->n_vocab, false);
    for (int il = 0; il < s->n_layer; il++) plan_layer(p, s, mix, il);
    plan_add(p, "output_norm.weight", R1_TYPE_F32, s->n_embd, 0, true);
    plan_add(p, "output.weight", mix->output, s->n_embd, s->n_vocab, false);
    uint64_t g = 1;
    for (int i = 0; i < p->n; i++) {
        p->t[i].first_g = g;
        if (!p->t[i].is_norm) g += (uint64_t)(p->t[i].ne[0] * p->t[i].ne[1]);
        if (r1_row_bytes(p->t[i].type, p->t[i].ne[0]) == 0)
            return r1_error_set(err, "tensor '%s': row of %lld values does not fit format %s", p->t[i].name,
                                (long long)p->t[i].ne[0], r1_type_get(p->t[i].type)->name);
    }
    return 0;
}

/* ---- metadata ---- */

static int add_vocabulary(gguf_writer *w, const r1_model_shape *s, r1_error *err) {
    char **tokens = calloc((size_t)s->n_vocab, sizeof(char *));
    int32_t *types = malloc((size_t)s->n_vocab * sizeof(int32_t));
    if (!tokens || !types) {
        free(tokens);
        free(types);
        return r1_error_set(err, "out of memory");
    }
    for (int i = 0; i < s->n_vocab; i++) {
        char buf[40];
        if (i < 256) {
            /* GPT-2 byte-to-unicode: printable bytes map to themselves, the
             * rest to U+0100 onwards in byte order. */
            static int shifted[256];
            static bool ready = false;
            if (!ready) {
                int next = 256;
                for (int b = 0; b < 256; b++) {
                    bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
                    shifted[b] = printable ? b : next++;
                }
                ready = true;
            }
            int cp = shifted[i];
            if (cp < 0x80) snprintf(buf, sizeof buf, "%c", cp);
            else snprintf(buf, sizeof buf, "%c%c", 0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
        } else if (i == 256) {
            snprintf(buf, sizeof buf, "\xc4\xa0t"); /* "Ġt" */
        } else if (i == s->eos) {
            snprintf(buf, sizeof buf, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        } else if (i == s->bos) {
            snprintf(buf, sizeof buf, "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        } else {
            snprintf(buf, sizeof buf, "<x%d>", i);
        }
        tokens[i] = strdup(buf);
        types[i] = (i == s->eos || i == s->bos) ? 3 : 1;
        if (!tokens[i]) break;
    }
    int rc = 0;
    for (int i = 0; i < s->n_vocab; i++)
        if (!tokens[i]) rc = r1_error_set(err, "out of memory");
    if (rc == 0) {
        const char *merges[] = {"\xc4\xa0 t"};
        gguf_writer_set_array_strings(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)s->n_vocab);
        gguf_writer_set_array_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)s->n_vocab);
        gguf_writer_set_array_strings(w, "tokenizer.ggml.merges", merges, 1);
    }
    for (int i = 0; i < s->n_vocab; i++) free(tokens[i]);
    free(tokens);
    free(types);
    return rc;
}

static int add_metadata(gguf_writer *w, const r1_model_shape *s, const type_mix *mix, r1_error *err) {
    char key[96];
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", s->arch, suffix), key)
    gguf_writer_set_string(w, "general.architecture", s->arch);
    gguf_writer_set_string(w, "general.name", s->model_name);
    gguf_writer_set_u32(w, "general.file_type", mix->file_type);
    gguf_writer_set_u32(w, ARCH_KEY("context_length"), (uint32_t)s->n_ctx);
    gguf_writer_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)s->n_embd);
    gguf_writer_set_u32(w, ARCH_KEY("block_count"), (uint32_t)s->n_layer);
    gguf_writer_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)s->n_ff);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)s->n_head);
    gguf_writer_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv);
    gguf_writer_set_f32(w, ARCH_KEY("rope.freq_base"), s->rope_base);
    gguf_writer_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), s->rms_eps);
#undef ARCH_KEY
    gguf_writer_set_string(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_string(w, "tokenizer.ggml.pre", s->tokenizer_pre);
    if (add_vocabulary(w, s, err) != 0) return -1;
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)s->bos);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)s->eos);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    return 0;
}

/* ---- tensor data ---- */

/* A scripted model (r1_model_generate_scripted): which token comes before
 * each token of the script in the chain, and where the embeddings start in
 * the random stream. */
typedef struct script_plan {
    int *pred;            /* [n_vocab]: the token it follows, or -1 */
    uint64_t embd_first_g;
} script_plan;

typedef struct fill_job {
    const planned_tensor *t;
    uint64_t seed;
    uint8_t *dst;
    const r1_kernel_set *kernels;
    const script_plan *script; /* NULL: plain random weights */
    bool failed;
} fill_job;

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Scripted models: the blocks add nothing to the residual stream (zero
 * output projections), and output row u is a multiple of the embedding of
 * the token u follows, so logit(u | t) is large exactly when t precedes u. */
static void script_row(const fill_job *job, long r, float *row) {
    const planned_tensor *t = job->t;
    if (ends_with(t->name, "attn_output.weight") || ends_with(t->name, "ffn_down.weight")) {
        memset(row, 0, (size_t)t->ne[0] * sizeof(float));
    } else if (strcmp(t->name, "output.weight") == 0) {
        const float strength = 4.0f; /* logit ~20 for the successor, ~N(0, 1.3) for others */
        int pred = job->script->pred[r];
        uint64_t g = job->script->embd_first_g + (uint64_t)(pred < 0 ? 0 : pred) * (uint64_t)t->ne[0];
        for (int64_t i = 0; i < t->ne[0]; i++)
            row[i] = pred < 0 ? 0.0f : strength * r1_random_weight(job->seed, g + (uint64_t)i);
    }
}

static void fill_rows_task(void *arg, int thread, int n_threads) {
    fill_job *job = arg;
    const planned_tensor *t = job->t;
    long begin, end;
    r1_split_range(t->ne[1], thread, n_threads, 1, &begin, &end);
    size_t row_bytes = r1_row_bytes(t->type, t->ne[0]);
    float *row = malloc((size_t)t->ne[0] * sizeof(float));
    if (!row) {
        job->failed = true;
        return;
    }
    r1_quantize_fn quantize = job->kernels->format[t->type].quantize;
    for (long r = begin; r < end; r++) {
        uint64_t g = t->first_g + (uint64_t)r * (uint64_t)t->ne[0];
        for (int64_t i = 0; i < t->ne[0]; i++)
            row[i] = t->is_norm ? 1.0f : r1_random_weight(job->seed, g + (uint64_t)i);
        if (job->script) script_row(job, r, row);
        quantize(row, job->dst + (size_t)r * row_bytes, t->ne[0]);
    }
    free(row);
}

typedef struct generate_state {
    plan plan;
    uint64_t seed;
    r1_threadpool *pool;
    const script_plan *script;
} generate_state;

static int fill_tensor(void *user, int index, void *dst, uint64_t size, r1_error *err) {
    generate_state *st = user;
    const planned_tensor *t = &st->plan.t[index];
    (void)size;
    fill_job job = {t, st->seed, dst, r1_kernels(), st->script, false};
    r1_threadpool_run(st->pool, fill_rows_task, &job);
    return job.failed ? r1_error_set(err, "out of memory filling '%s'", t->name) : 0;
}

static int generate(const r1_model_shape *shape, const char *type, uint64_t seed, const script_plan *script,
                    const char *path, int n_threads, r1_error *err) {
    const type_mix *mix = NULL;
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
        if (strcmp(mixes[i].name, type) == 0) mix = &mixes[i];
    if (!mix) return r1_error_set(err, "unknown type '%s' (f32, f16, q8_0, q4_0, q4_k_m, q6_k)", type);

    generate_state st = {.seed = seed, .script = script};
    gguf_writer *w = gguf_writer_new();
    int rc = w ? 0 : r1_error_set(err, "out of memory");
    if (rc == 0) rc = make_plan(shape, mix, &st.plan, err);
    for (int i = 0; rc == 0 && script && i < st.plan.n; i++)
        if (strcmp(st.plan.t[i].name, "token_embd.weight") == 0) ((script_plan *)script)->embd_first_g = st.plan.t[i].first_g;
    if (rc == 0) rc = add_metadata(w, shape, mix, err);
    for (int i = 0; rc == 0 && i < st.plan.n; i++) {
        const planned_tensor *t = &st.plan.t[i];
        if (gguf_writer_add_tensor(w, t->name, t->type, (uint32_t)t->n_dims, t->ne, err) < 0) rc = -1;
    }
    if (rc == 0) {
        st.pool = r1_threadpool_new(n_threads);
        rc = st.pool ? gguf_writer_write_file(w, path, fill_tensor, &st, err)
                     : r1_error_set(err, "cannot start threads");
    }
    r1_threadpool_free(st.pool);
    gguf_writer_free(w);
    free(st.plan.t);
    return rc;
}

int r1_model_generate(const r1_model_shape *shape, const char *type, uint64_t seed, const char *path,
                      int n_threads, r1_error *err) {
    return generate(shape, type, seed, NULL, path, n_threads, err);
}

int r1_model_generate_scripted(const r1_model_shape *shape, const char *type, uint64_t seed, const char *script,
                               const char *path, int n_threads, r1_error *err) {
    if (shape->n_vocab > 4096)
        return r1_error_set(err, "--script needs a byte-vocabulary shape (tiny, tiny-llama), not %s", shape->name);
    size_t n = strlen(script);
    if (n == 0) return r1_error_set(err, "--script: the script is empty");
    script_plan plan = {.pred = malloc((size_t)shape->n_vocab * sizeof(int))};
    if (!plan.pred) return r1_error_set(err, "out of memory");
    for (int i = 0; i < shape->n_vocab; i++) plan.pred[i] = -1;
    int prev = '\n', rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int byte = (unsigned char)script[i];
        if (byte == '\n' || plan.pred[byte] >= 0)
            rc = r1_error_set(err, "--script: byte %zu ('%c') repeats an earlier byte or the newline; a bigram "
                              "model needs every byte to have one successor", i, byte >= 0x20 && byte < 0x7f ? byte : '?');
        plan.pred[byte] = prev;
        prev = byte;
    }
    plan.pred[shape->eos] = prev;
    if (rc == 0) rc = generate(shape, type, seed, &plan, path, n_threads, err);
    free(plan.pred);
    return rc;
}
