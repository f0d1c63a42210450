/*
 * deepseek2_load.c - reading a deepseek2 (DeepSeek-V3 / R1) GGUF: the MLA
 * and MoE hyper-parameters, YaRN RoPE, and every layer's tensors with their
 * shapes, as the common converters write them.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_load.h"
#include "model/moe_router.h"
#include "tensor/kernels.h"

static int read_mla(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    const char *a = hp->arch_name;
    r1_mla_hparams *mla = &hp->mla;
    int key_length = hp->head_dim; /* attention.key_length = qk_nope + qk_rope */
    if (gguf_find_kv(f, "deepseek2.attention.q_lora_rank") &&
        r1_load_int(f, a, "attention.q_lora_rank", -1, &mla->q_lora_rank, err) != 0)
        return -1;
    if (r1_load_int(f, a, "attention.kv_lora_rank", -1, &mla->kv_lora_rank, err) != 0 ||
        r1_load_int(f, a, "attention.value_length", -1, &mla->v_head_dim, err) != 0)
        return -1;
    mla->qk_rope = hp->rope.n_dims;
    mla->qk_nope = key_length - mla->qk_rope;
    if (mla->qk_nope <= 0)
        return r1_error_set(err, "deepseek2.attention.key_length %d must exceed rope.dimension_count %d", key_length,
                            mla->qk_rope);
    return 0;
}

/* YaRN: the angles of low-frequency dimensions are interpolated by the
 * scaling factor; DeepSeek corrects the attention scale by mscale^2. */
static int read_yarn(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    const char *a = hp->arch_name;
    r1_rope *rope = &hp->rope;
    float factor = 1.0f, log_mul = 0.0f;
    int n_ctx_orig = hp->n_ctx_train;
    gguf_string type = {"none", 4};
    if (gguf_find_kv(f, "deepseek2.rope.scaling.type") &&
        gguf_get_string(f, "deepseek2.rope.scaling.type", &type, err) != 0)
        return -1;
    bool yarn = type.len == 4 && memcmp(type.ptr, "yarn", 4) == 0;
    if (!yarn && !(type.len == 4 && memcmp(type.ptr, "none", 4) == 0))
        return r1_error_set(err, "deepseek2.rope.scaling.type '%.*s' is not supported (yarn, none)", (int)type.len,
                            type.ptr);
    if (yarn && (r1_load_float(f, a, "rope.scaling.factor", 1.0f, &factor, err) != 0 ||
                 r1_load_int(f, a, "rope.scaling.original_context_length", hp->n_ctx_train, &n_ctx_orig, err) != 0 ||
                 r1_load_float(f, a, "rope.scaling.yarn_log_multiplier", 0.0f, &log_mul, err) != 0))
        return -1;
    if (!(factor >= 1.0f)) return r1_error_set(err, "deepseek2.rope.scaling.factor must be >= 1");
    rope->freq_scale = 1.0f / factor;
    rope->ext_factor = yarn ? 1.0f : 0.0f;
    rope->beta_fast = 32.0f;
    rope->beta_slow = 1.0f;
    rope->n_ctx_orig = n_ctx_orig;
    /* RoPE multiplies cos/sin by (1 + 0.1 ln factor) under YaRN; DeepSeek
     * moves that magnitude into the softmax scale instead. */
    rope->attn_factor = yarn ? 1.0f / (1.0f + 0.1f * logf(factor)) : 1.0f;
    float mscale = yarn ? 1.0f + log_mul * logf(factor) : 1.0f;
    hp->mla.kq_scale = mscale * mscale / sqrtf((float)(hp->mla.qk_nope + hp->mla.qk_rope));
    return 0;
}

static int read_moe(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    const char *a = hp->arch_name;
    r1_moe_hparams *moe = &hp->moe;
    int gating = R1_GATING_SOFTMAX;
    if (r1_load_int(f, a, "leading_dense_block_count", 0, &moe->n_dense_layers, err) != 0 ||
        r1_load_int(f, a, "expert_count", 0, &moe->n_expert, err) != 0)
        return -1;
    if (moe->n_dense_layers > hp->n_layer) moe->n_dense_layers = hp->n_layer;
    if (moe->n_expert == 0) { /* a dense-only model */
        moe->n_dense_layers = hp->n_layer;
        return 0;
    }
    if (r1_load_int(f, a, "expert_used_count", -1, &moe->n_expert_used, err) != 0 ||
        r1_load_int(f, a, "expert_shared_count", 0, &moe->n_expert_shared, err) != 0 ||
        r1_load_int(f, a, "expert_feed_forward_length", -1, &moe->n_ff_exp, err) != 0 ||
        r1_load_float(f, a, "expert_weights_scale", 1.0f, &moe->weights_scale, err) != 0 ||
        r1_load_bool(f, a, "expert_weights_norm", false, &moe->weights_norm, err) != 0 ||
        r1_load_int(f, a, "expert_gating_func", R1_GATING_SOFTMAX, &gating, err) != 0 ||
        r1_load_int(f, a, "expert_group_count", 1, &moe->n_group, err) != 0 ||
        r1_load_int(f, a, "expert_group_used_count", moe->n_group, &moe->n_group_used, err) != 0)
        return -1;
    if (gating != R1_GATING_SOFTMAX && gating != R1_GATING_SIGMOID)
        return r1_error_set(err, "deepseek2.expert_gating_func %d is unknown (1 softmax, 2 sigmoid)", gating);
    moe->gating = (r1_gating)gating;
    if (moe->n_expert_used > moe->n_expert || moe->n_expert % moe->n_group != 0 || moe->n_group_used > moe->n_group)
        return r1_error_set(err, "deepseek2: inconsistent routing: %d experts, %d used, %d groups, %d groups used",
                            moe->n_expert, moe->n_expert_used, moe->n_group, moe->n_group_used);
    if (moe->n_group > 1 && moe->n_expert / moe->n_group < 2)
        return r1_error_set(err, "deepseek2: group-limited routing needs at least 2 experts per group");
    if (moe->n_expert > R1_MOE_MAX_EXPERTS)
        return r1_error_set(err, "deepseek2.expert_count %d exceeds the %d experts r1 supports", moe->n_expert,
                            R1_MOE_MAX_EXPERTS);
    if (moe->n_group > 1 && moe->n_expert_used > moe->n_group_used * (moe->n_expert / moe->n_group))
        return r1_error_set(err, "deepseek2: %d experts used per token, but the %d groups used hold only %d",
                            moe->n_expert_used, moe->n_group_used, moe->n_group_used * (moe->n_expert / moe->n_group));
    return 0;
}

int r1_deepseek2_read_hparams(const gguf_file *f, r1_hparams *hp, r1_error *err) {
    hp->rope.mode = R1_ROPE_NORMAL;
    if (read_mla(f, hp, err) != 0 || read_yarn(f, hp, err) != 0 || read_moe(f, hp, err) != 0) return -1;
    return 0;
}

/* ---- tensors ---- */

static int bind_attention_inputs(const gguf_file *f, const r1_hparams *hp, int il, r1_deepseek2_layer *l,
                                 r1_error *err) {
    const r1_mla_hparams *mla = &hp->mla;
    int64_t q_width = (int64_t)hp->n_head * (mla->qk_nope + mla->qk_rope);
    if (r1_bind_layer_tensor(f, &l->attn_norm, il, "attn_norm.weight", hp->n_embd, 0, 0, err) ||
        r1_bind_layer_tensor(f, &l->kv_a_mqa, il, "attn_kv_a_mqa.weight", hp->n_embd,
                             mla->kv_lora_rank + mla->qk_rope, 0, err) ||
        r1_bind_layer_tensor(f, &l->kv_a_norm, il, "attn_kv_a_norm.weight", mla->kv_lora_rank, 0, 0, err))
        return -1;
    l->has_q_lora = mla->q_lora_rank > 0;
    if (!l->has_q_lora) return r1_bind_layer_tensor(f, &l->wq, il, "attn_q.weight", hp->n_embd, q_width, 0, err);
    return r1_bind_layer_tensor(f, &l->q_a, il, "attn_q_a.weight", hp->n_embd, mla->q_lora_rank, 0, err) ||
                   r1_bind_layer_tensor(f, &l->q_a_norm, il, "attn_q_a_norm.weight", mla->q_lora_rank, 0, 0, err) ||
                   r1_bind_layer_tensor(f, &l->q_b, il, "attn_q_b.weight", mla->q_lora_rank, q_width, 0, err)
               ? -1
               : 0;
}

/* attn_kv_b rows: per head, qk_nope key rows then v_head_dim value rows,
 * each of kv_lora values. The absorbed query projection needs the key part
 * transposed (rows of qk_nope): built here once, in f32. */
static int build_k_b_from_kv_b(const r1_hparams *hp, const r1_tensor *kv_b, r1_deepseek2_layer *l, r1_error *err) {
    const r1_mla_hparams *mla = &hp->mla;
    int rank = mla->kv_lora_rank, nope = mla->qk_nope, per_head = nope + mla->v_head_dim;
    float *k_b = malloc((size_t)hp->n_head * rank * nope * sizeof(float));
    float *row = malloc((size_t)rank * sizeof(float));
    if (!k_b || !row) {
        free(k_b);
        free(row);
        return r1_error_set(err, "out of memory building the absorbed key projection");
    }
    const r1_format_kernels *fk = &r1_kernels()->format[kv_b->type];
    for (int h = 0; h < hp->n_head; h++)
        for (int d = 0; d < nope; d++) {
            fk->dequantize(r1_tensor_row(kv_b, (int64_t)h * per_head + d), row, rank);
            for (int j = 0; j < rank; j++) k_b[((size_t)h * rank + j) * nope + d] = row[j];
        }
    free(row);
    l->k_b_owned = k_b;
    l->k_b = (r1_tensor){.name = "k_b (from attn_kv_b)", .type = R1_TYPE_F32, .n_dims = 2,
                         .ne = {nope, (int64_t)hp->n_head * rank, 1, 1}, .data = k_b,
                         .row_bytes = (size_t)nope * sizeof(float)};
    l->v_b = *kv_b;
    l->v_row0 = nope;
    l->v_head_stride = per_head;
    return 0;
}

static int bind_latent_projections(const gguf_file *f, const r1_hparams *hp, int il, r1_deepseek2_layer *l,
                                   r1_error *err) {
    const r1_mla_hparams *mla = &hp->mla;
    if (r1_has_layer_tensor(f, il, "attn_k_b.weight")) {
        l->v_row0 = 0;
        l->v_head_stride = mla->v_head_dim;
        return r1_bind_layer_tensor(f, &l->k_b, il, "attn_k_b.weight", mla->qk_nope, mla->kv_lora_rank, hp->n_head,
                                    err) ||
                       r1_bind_layer_tensor(f, &l->v_b, il, "attn_v_b.weight", mla->kv_lora_rank, mla->v_head_dim,
                                            hp->n_head, err)
                   ? -1
                   : 0;
    }
    r1_tensor kv_b;
    if (r1_bind_layer_tensor(f, &kv_b, il, "attn_kv_b.weight", mla->kv_lora_rank,
                             (int64_t)hp->n_head * (mla->qk_nope + mla->v_head_dim), 0, err))
        return -1;
    return build_k_b_from_kv_b(hp, &kv_b, l, err);
}

static int bind_moe(const gguf_file *f, const r1_hparams *hp, int il, r1_deepseek2_layer *l, r1_error *err) {
    const r1_moe_hparams *moe = &hp->moe;
    if (r1_bind_layer_tensor(f, &l->gate_inp, il, "ffn_gate_inp.weight", hp->n_embd, moe->n_expert, 0, err) ||
        r1_bind_layer_tensor(f, &l->gate_exps, il, "ffn_gate_exps.weight", hp->n_embd, moe->n_ff_exp, moe->n_expert, err) ||
        r1_bind_layer_tensor(f, &l->up_exps, il, "ffn_up_exps.weight", hp->n_embd, moe->n_ff_exp, moe->n_expert, err) ||
        r1_bind_layer_tensor(f, &l->down_exps, il, "ffn_down_exps.weight", moe->n_ff_exp, hp->n_embd, moe->n_expert, err))
        return -1;
    l->has_probs_bias = r1_has_layer_tensor(f, il, "exp_probs_b.bias");
    if (l->has_probs_bias &&
        r1_bind_layer_tensor(f, &l->probs_bias, il, "exp_probs_b.bias", moe->n_expert, 0, 0, err))
        return -1;
    l->has_shared = moe->n_expert_shared > 0;
    int64_t shared_ff = (int64_t)moe->n_ff_exp * moe->n_expert_shared;
    if (l->has_shared &&
        (r1_bind_layer_tensor(f, &l->gate_shexp, il, "ffn_gate_shexp.weight", hp->n_embd, shared_ff, 0, err) ||
         r1_bind_layer_tensor(f, &l->up_shexp, il, "ffn_up_shexp.weight", hp->n_embd, shared_ff, 0, err) ||
         r1_bind_layer_tensor(f, &l->down_shexp, il, "ffn_down_shexp.weight", shared_ff, hp->n_embd, 0, err)))
        return -1;
    return 0;
}

static int bind_layer(const r1_model *m, int il, r1_deepseek2_layer *l, r1_error *err) {
    const gguf_file *f = m->file;
    const r1_hparams *hp = &m->hp;
    int64_t v_width = (int64_t)hp->n_head * hp->mla.v_head_dim;
    if (bind_attention_inputs(f, hp, il, l, err) || bind_latent_projections(f, hp, il, l, err) ||
        r1_bind_layer_tensor(f, &l->wo, il, "attn_output.weight", v_width, hp->n_embd, 0, err) ||
        r1_bind_layer_tensor(f, &l->ffn_norm, il, "ffn_norm.weight", hp->n_embd, 0, 0, err))
        return -1;
    l->is_moe = il >= hp->moe.n_dense_layers;
    if (l->is_moe) return bind_moe(f, hp, il, l, err);
    return r1_bind_layer_tensor(f, &l->ffn_gate, il, "ffn_gate.weight", hp->n_embd, hp->n_ff, 0, err) ||
                   r1_bind_layer_tensor(f, &l->ffn_up, il, "ffn_up.weight", hp->n_embd, hp->n_ff, 0, err) ||
                   r1_bind_layer_tensor(f, &l->ffn_down, il, "ffn_down.weight", hp->n_ff, hp->n_embd, 0, err)
               ? -1
               : 0;
}

int r1_deepseek2_bind_layers(r1_model *m, r1_error *err) {
    m->ds_layers = calloc((size_t)m->hp.n_layer, sizeof *m->ds_layers);
    if (!m->ds_layers) return r1_error_set(err, "out of memory");
    for (int il = 0; il < m->hp.n_layer; il++)
        if (bind_layer(m, il, &m->ds_layers[il], err) != 0) return -1;
    return 0;
}

void r1_deepseek2_free_layers(r1_model *m) {
    if (!m->ds_layers) return;
    for (int il = 0; il < m->hp.n_layer; il++) free(m->ds_layers[il].k_b_owned);
    free(m->ds_layers);
    m->ds_layers = NULL;
}
