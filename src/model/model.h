/*
 * model.h - a loaded model: hyper-parameters and weight views.
 *
 * r1_model_load() opens a GGUF file (mapped, not copied), reads the
 * architecture's hyper-parameters from the metadata, and finds every tensor
 * the architecture needs, checking its format and shape. Anything missing
 * or mis-shaped is an error naming the key or tensor, before any compute.
 */
#ifndef R1_MODEL_MODEL_H
#define R1_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "r1.h"
#include "base/error.h"
#include "model/gguf.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"

typedef enum r1_arch {
    R1_ARCH_LLAMA = 0,
    R1_ARCH_QWEN2 = 1,
} r1_arch;

typedef struct r1_hparams {
    r1_arch arch;
    char arch_name[32];    /* general.architecture as in the file */
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;          /* per head, for q and k (and v) */
    int n_ff;
    int n_ctx_train;
    const char *file_type; /* general.file_type as a name, e.g. "Q4_K_M" */
    int32_t bos_token;     /* tokenizer.ggml.bos_token_id, or -1 */
    int32_t eos_token;
    float rms_eps;
    r1_rope rope;
} r1_hparams;

/* One transformer block of llama/qwen2. Biases are present only in qwen2. */
typedef struct r1_llama_layer {
    r1_tensor attn_norm;
    r1_tensor wq, wk, wv, wo;
    r1_tensor bq, bk, bv;
    bool has_qkv_bias;
    r1_tensor ffn_norm;
    r1_tensor ffn_gate, ffn_up, ffn_down;
} r1_llama_layer;

typedef struct r1_model {
    gguf_file *file;
    r1_hparams hp;
    r1_tensor token_embd;
    r1_tensor output_norm;
    r1_tensor output;      /* token_embd itself when the output is tied */
    bool tied_output;
    r1_llama_layer *layers;
    uint64_t n_params;
    uint64_t weight_bytes;
} r1_model;

/* r1_model_load and r1_model_free are declared in r1.h. */

/* Bytes of weights read to decode one token: every tensor except the
 * embedding table, of which one row is read. */
uint64_t r1_model_bytes_per_token(const r1_model *m);

/* Short description of the formats used, e.g. "q4_K:13 q6_K:3 f32:5". */
void r1_model_type_summary(const r1_model *m, char *out, size_t cap);

#endif
