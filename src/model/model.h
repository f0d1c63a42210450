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
    R1_ARCH_DEEPSEEK2 = 2,
} r1_arch;

/* Multi-head latent attention (deepseek2). */
typedef struct r1_mla_hparams {
    int q_lora_rank;       /* 0: queries projected directly (attn_q) */
    int kv_lora_rank;      /* width of the cached latent */
    int qk_nope;           /* per-head query/key dims without RoPE */
    int qk_rope;           /* per-head dims with RoPE (the key part is shared by all heads) */
    int v_head_dim;
    float kq_scale;        /* softmax scale, with YaRN's mscale correction */
} r1_mla_hparams;

/* DeepSeek-MoE routing (deepseek2). */
typedef enum r1_gating { R1_GATING_SOFTMAX = 1, R1_GATING_SIGMOID = 2 } r1_gating;

typedef struct r1_moe_hparams {
    int n_dense_layers;    /* leading_dense_block_count: the first layers use a dense FFN */
    int n_expert;
    int n_expert_used;
    int n_expert_shared;
    int n_ff_exp;          /* width of one routed expert */
    int n_group;           /* expert groups for group-limited routing (1: none) */
    int n_group_used;
    float weights_scale;
    bool weights_norm;
    r1_gating gating;
} r1_moe_hparams;

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
    r1_mla_hparams mla;    /* deepseek2 only */
    r1_moe_hparams moe;    /* deepseek2 only */
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

/* One block of deepseek2: MLA attention, then a dense FFN (first layers)
 * or DeepSeek-MoE. The absorbed attention needs, per head, the key
 * up-projection as rows of qk_nope (k_b: row h*kv_lora + j maps q_nope to
 * latent dimension j) and the value up-projection as rows of kv_lora (row
 * v_row0 + h*v_head_stride + e gives output dimension e of head h). Files
 * with the split attn_k_b/attn_v_b tensors have both; files with only
 * attn_kv_b get k_b built at load time (k_b_owned) and v rows read from
 * attn_kv_b in place. */
typedef struct r1_deepseek2_layer {
    r1_tensor attn_norm;
    bool has_q_lora;
    r1_tensor q_a, q_a_norm, q_b;  /* with q LoRA */
    r1_tensor wq;                  /* without */
    r1_tensor kv_a_mqa, kv_a_norm;
    r1_tensor k_b;
    float *k_b_owned;
    r1_tensor v_b;
    long v_row0, v_head_stride;
    r1_tensor wo;
    r1_tensor ffn_norm;
    bool is_moe;
    r1_tensor ffn_gate, ffn_up, ffn_down;             /* dense layers */
    r1_tensor gate_inp;                               /* router [n_embd -> n_expert] */
    bool has_probs_bias;
    r1_tensor probs_bias;                             /* exp_probs_b: choice-only bias */
    r1_tensor gate_exps, up_exps, down_exps;          /* [.., .., n_expert] */
    bool has_shared;
    r1_tensor gate_shexp, up_shexp, down_shexp;
} r1_deepseek2_layer;

typedef struct r1_model {
    gguf_file *file;
    r1_hparams hp;
    r1_tensor token_embd;
    r1_tensor output_norm;
    r1_tensor output;      /* token_embd itself when the output is tied */
    bool tied_output;
    r1_llama_layer *layers;            /* llama, qwen2 */
    r1_deepseek2_layer *ds_layers;     /* deepseek2 */
    uint64_t n_params;
    uint64_t weight_bytes;
} r1_model;

/* r1_model_load and r1_model_free are declared in r1.h. */

/* Bytes of weights read to decode one token: every tensor except the
 * embedding table, of which one row is read. */
uint64_t r1_model_bytes_per_token(const r1_model *m);

#endif
