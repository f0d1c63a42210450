/*
 * whisper.h - the Whisper speech model: its file, its weights, and the two
 * halves of its forward pass.
 *
 * Files are whisper.cpp's ggml `.bin` format (the layout is written out in
 * ../shared/testdata/asr/README.md and checked field by field by
 * whisper_load.c): hparams, the mel filterbank, the vocabulary, then named
 * tensors. Weights are read into aligned memory owned by the model (the
 * format has no alignment, and the models are small next to an LLM).
 *
 * The forward pass (whisper.c) reads as the math:
 *   encoder: log-mel [n_mels][2 n_audio_ctx] -> conv1 + GELU -> conv2
 *            (stride 2) + GELU -> + positions -> pre-LayerNorm blocks
 *            (self-attention, MLP) -> ln_post: [n_audio_ctx][n_state]
 *   decoder: tokens -> token + position embeddings -> blocks (causal
 *            self-attention over a cache, cross-attention over the
 *            encoder output, MLP) -> LayerNorm -> logits against the
 *            token embedding (tied).
 * Every matrix product goes through r1_matmul on the engine's kernels and
 * thread pool, attention included (Q Kᵀ and P V as products with K and Vᵀ).
 */
#ifndef R1_MODEL_WHISPER_H
#define R1_MODEL_WHISPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/whisper_tokens.h"
#include "base/error.h"
#include "tensor/matmul.h"
#include "tensor/tensor.h"

typedef struct whisper_hparams {
    int n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype;
} whisper_hparams;

/* One transformer block. The encoder's leave the cross-attention empty. */
typedef struct whisper_block {
    r1_tensor attn_ln_w, attn_ln_b;
    r1_tensor attn_q_w, attn_q_b, attn_k_w, attn_v_w, attn_v_b, attn_out_w, attn_out_b;
    r1_tensor cross_ln_w, cross_ln_b;
    r1_tensor cross_q_w, cross_q_b, cross_k_w, cross_v_w, cross_v_b, cross_out_w, cross_out_b;
    r1_tensor mlp_ln_w, mlp_ln_b, mlp_fc1_w, mlp_fc1_b, mlp_fc2_w, mlp_fc2_b;
} whisper_block;

typedef struct whisper_model {
    whisper_hparams hp;
    r1_type weight_type;   /* the type of the big matrices (f32, f16, a quantized type) */
    float *mel_filters;    /* [n_mels][n_fft_bins] */
    int n_fft_bins;        /* 201: bins of a 400-point FFT */
    whisper_vocab vocab;

    r1_tensor conv1_w, conv1_b, conv2_w, conv2_b, enc_pos, enc_ln_w, enc_ln_b;
    r1_tensor dec_pos, token_embedding, dec_ln_w, dec_ln_b;
    whisper_block *enc_blocks, *dec_blocks;

    void *weights;         /* every tensor's data, one allocation */
    size_t weights_size;
    void *tensor_names;    /* what the tensors' names point into */
} whisper_model;

/* Loads and validates a model file. Every problem (bad magic, hparams out
 * of range, unknown or repeated tensor, wrong shape, type or size, a
 * truncated file) is an error naming the field or tensor. */
int whisper_model_load(const char *path, whisper_model *m, r1_error *err);
/* The same from bytes in memory (fuzzing, tests). */
int whisper_model_load_memory(const void *data, size_t size, whisper_model *m, r1_error *err);
void whisper_model_free(whisper_model *m);

/* "tiny", "base", "small", "medium", "large", or "unknown", by shape. */
const char *whisper_model_kind(const whisper_model *m);

/* ---- the forward pass (whisper.c) ---- */

/* What a running model needs besides its weights: scratch for the encoder,
 * the cross-attention K/V of the current window, the self-attention cache. */
typedef struct whisper_state {
    const whisper_model *m;
    r1_compute *compute;
    float *enc_out;        /* [n_audio_ctx][n_state]: the last encoder output */
    /* K is kept [position][n_state]; V transposed, [n_state][position], so
     * that both products of attention (Q Kᵀ, P V) are r1_matmul calls whose
     * "weights" are rows of K and of Vᵀ */
    float *cross_k;        /* [layer][n_audio_ctx][n_state] */
    float *cross_vt;       /* [layer][n_state][n_audio_ctx] */
    float *self_k;         /* [layer][n_text_ctx][n_state] */
    float *self_vt;        /* [layer][n_state][n_text_ctx] */
    int n_past;            /* decoder positions in the self-attention cache */
    /* scratch, grown on demand */
    float *buf[8];
    size_t buf_size[8];
} whisper_state;

int whisper_state_init(whisper_state *s, const whisper_model *m, r1_compute *compute, r1_error *err);
void whisper_state_free(whisper_state *s);

/* Runs the encoder on the 2 n_audio_ctx mel frames (30 s) starting at
 * frame `offset` of a log-mel laid out [n_mels][mel_stride] with n_frames
 * frames; frames past n_frames read as 0, as in whisper.cpp. Fills enc_out
 * and the cross-attention K/V of every decoder layer, and empties the
 * self-attention cache. */
int whisper_encode(whisper_state *s, const float *mel, int mel_stride, int n_frames, int offset, r1_error *err);

/* Feeds n tokens at positions n_past.. and writes logits [n][n_vocab] for
 * each (logits may be NULL to write only the last row into last_logits).
 * Returns -1 when the text context would overflow. */
int whisper_decode(whisper_state *s, const int32_t *tokens, int n, float *logits, float *last_logits,
                   r1_error *err);

/* Forgets the self-attention cache from position n on (n = 0: all). */
void whisper_decode_rewind(whisper_state *s, int n);

#endif
