/*
 * whisper.c - Whisper's forward pass (see whisper.h): the encoder over a
 * 30-second log-mel window, and the decoder over tokens with a
 * self-attention cache and the window's cross-attention keys and values.
 *
 * Activations are float rows, one per frame or token: x[t][n_state].
 * Convolutions become matrix products by unfolding each output frame's
 * receptive field into a row (im2col); attention is two products per head,
 * scores = Q Kᵀ and out = P V, both through r1_matmul with K and Vᵀ viewed
 * as F32 tensors, so the thread pool and the SIMD kernels do all the
 * arithmetic. Row-wise work (LayerNorm, GELU, softmax) is shared out over
 * the same pool.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/whisper.h"
#include "tensor/ops.h"

#define LAYERNORM_EPS 1e-5f

/* ---- scratch ---- */

enum { BUF_X, BUF_H, BUF_Q, BUF_K, BUF_V, BUF_O, BUF_F, BUF_S };

/* Scratch buffer `which`, at least n floats. */
static float *scratch(whisper_state *s, int which, size_t n, r1_error *err) {
    if (n > s->buf_size[which]) {
        free(s->buf[which]);
        s->buf[which] = malloc(n * sizeof(float));
        s->buf_size[which] = s->buf[which] ? n : 0;
        if (!s->buf[which]) {
            r1_error_set(err, "out of memory for %zu floats of Whisper scratch", n);
            return NULL;
        }
    }
    return s->buf[which];
}

/* ---- row-wise work on the pool ---- */

typedef enum row_op { ROW_LAYERNORM, ROW_GELU, ROW_SOFTMAX, ROW_ADD_BIAS } row_op;

typedef struct rows_task {
    row_op op;
    float *x;
    float *out;
    int n_rows, n, stride;
    const float *w, *b;
    int causal_offset;   /* softmax: row i sees columns <= causal_offset + i; -1: all */
    float scale;         /* softmax: scores are scaled first */
} rows_task;

static void rows_run(void *arg, int thread, int n_threads) {
    rows_task *t = arg;
    long begin, end;
    r1_split_range(t->n_rows, thread, n_threads, 1, &begin, &end);
    for (long i = begin; i < end; i++) {
        float *row = t->x + i * t->stride;
        switch (t->op) {
        case ROW_LAYERNORM: r1_layernorm(t->out + i * t->stride, row, t->w, t->b, t->n, LAYERNORM_EPS); break;
        case ROW_GELU: r1_gelu(row, t->n); break;
        case ROW_ADD_BIAS: r1_add(row, t->b, t->n); break;
        case ROW_SOFTMAX: {
            int visible = t->causal_offset < 0 ? t->n : t->causal_offset + (int)i + 1;
            if (visible > t->n) visible = t->n;
            for (int j = 0; j < visible; j++) row[j] *= t->scale;
            r1_softmax(row, visible);
            for (int j = visible; j < t->n; j++) row[j] = 0.0f;
            break;
        }
        }
    }
}

static void rows(whisper_state *s, rows_task t) {
    if (t.n_rows == 1) rows_run(&t, 0, 1);
    else r1_threadpool_run(s->compute->pool, rows_run, &t);
}

static void layernorm_rows(whisper_state *s, float *out, float *x, int n_rows, int n, const r1_tensor *w,
                           const r1_tensor *b) {
    rows(s, (rows_task){.op = ROW_LAYERNORM, .x = x, .out = out, .n_rows = n_rows, .n = n, .stride = n,
                        .w = w->data, .b = b->data});
}

static void gelu_rows(whisper_state *s, float *x, int n_rows, int n) {
    rows(s, (rows_task){.op = ROW_GELU, .x = x, .n_rows = n_rows, .n = n, .stride = n});
}

static void add_bias_rows(whisper_state *s, float *x, int n_rows, int n, const r1_tensor *b) {
    rows(s, (rows_task){.op = ROW_ADD_BIAS, .x = x, .n_rows = n_rows, .n = n, .stride = n, .b = b->data});
}

/* y = x Wᵀ (+ bias) */
static int linear(whisper_state *s, const r1_tensor *w, const r1_tensor *bias, const float *x, int n_rows, float *y,
                  r1_error *err) {
    if (r1_matmul(s->compute, w, x, n_rows, y, (long)w->ne[1]) != 0)
        return r1_error_set(err, "out of memory in a Whisper matrix product");
    if (bias) add_bias_rows(s, y, n_rows, (int)w->ne[1], bias);
    return 0;
}

/* A float matrix with rows `row_stride` floats apart, as a tensor that
 * r1_matmul can take as its weights. */
static r1_tensor f32_view(const float *data, int64_t row_len, int64_t n_rows, long row_stride) {
    return (r1_tensor){.name = "activations", .type = R1_TYPE_F32, .n_dims = 2, .ne = {row_len, n_rows, 1, 1},
                       .data = data, .row_bytes = (size_t)row_stride * sizeof(float)};
}

/* ---- attention ---- */

/* Attention for a few query rows (a decoding step): every head in one
 * pass of the pool, each head's scores and weighted sum as plain dot
 * products - two matrix products per head would cost more in thread
 * hand-offs than in arithmetic. */
typedef struct heads_task {
    const r1_compute *c;
    const float *q, *k, *vt;
    long k_stride, vt_stride;
    float *scores, *out;
    int n_q, n_kv, n, d, n_head, causal_offset;
} heads_task;

static void heads_run(void *arg, int thread, int n_threads) {
    heads_task *t = arg;
    r1_dot_f32_fn dot = t->c->kernels->format[R1_TYPE_F32].dot_f32;
    float scale = 1.0f / sqrtf((float)t->d);
    long begin, end;
    r1_split_range(t->n_head, thread, n_threads, 1, &begin, &end);
    for (long h = begin; h < end; h++)
        for (int i = 0; i < t->n_q; i++) {
            float *s = t->scores + ((size_t)h * t->n_q + i) * t->n_kv;
            const float *q = t->q + (size_t)i * t->n + h * t->d;
            int visible = t->causal_offset < 0 ? t->n_kv : t->causal_offset + i + 1;
            if (visible > t->n_kv) visible = t->n_kv;
            for (int j = 0; j < visible; j++) s[j] = dot(t->k + j * t->k_stride + h * t->d, q, t->d) * scale;
            r1_softmax(s, visible);
            float *o = t->out + (size_t)i * t->n + h * t->d;
            for (int e = 0; e < t->d; e++) o[e] = dot(t->vt + (h * t->d + e) * t->vt_stride, s, visible);
        }
}

/* out[i] (n_state wide, at row stride n) = softmax(q_i · K_hᵀ / sqrt(d)) V_h
 * for every head h. k rows are k_stride floats apart; vt holds Vᵀ with
 * rows vt_stride floats apart (row c = feature c over positions). With
 * causal_offset >= 0, query i sees keys 0..causal_offset+i. */
static int attention(whisper_state *s, const float *q, int n_q, const float *k, long k_stride, const float *vt,
                     long vt_stride, int n_kv, int n_head, int causal_offset, float *out, r1_error *err) {
    const whisper_hparams *hp = &s->m->hp;
    int n = hp->n_audio_state, d = n / n_head;
    if (n_q <= 4) {
        float *sc = scratch(s, BUF_S, (size_t)n_head * n_q * n_kv, err);
        if (!sc) return -1;
        heads_task t = {.c = s->compute, .q = q, .k = k, .vt = vt, .k_stride = k_stride, .vt_stride = vt_stride,
                        .scores = sc, .out = out, .n_q = n_q, .n_kv = n_kv, .n = n, .d = d, .n_head = n_head,
                        .causal_offset = causal_offset};
        r1_threadpool_run(s->compute->pool, heads_run, &t);
        return 0;
    }
    float *qh = scratch(s, BUF_H, (size_t)n_q * d, err);
    float *scores = scratch(s, BUF_S, (size_t)n_q * n_kv, err);
    if (!qh || !scores) return -1;
    for (int h = 0; h < n_head; h++) {
        for (int i = 0; i < n_q; i++) memcpy(qh + (size_t)i * d, q + (size_t)i * n + h * d, d * sizeof(float));
        r1_tensor kh = f32_view(k + h * d, d, n_kv, k_stride);
        if (r1_matmul(s->compute, &kh, qh, n_q, scores, n_kv) != 0)
            return r1_error_set(err, "out of memory in Whisper attention");
        rows(s, (rows_task){.op = ROW_SOFTMAX, .x = scores, .n_rows = n_q, .n = n_kv, .stride = n_kv,
                            .causal_offset = causal_offset, .scale = 1.0f / sqrtf((float)d)});
        r1_tensor vh = f32_view(vt + (size_t)h * d * vt_stride, n_kv, d, vt_stride);
        if (r1_matmul(s->compute, &vh, scores, n_q, out + h * d, n) != 0)
            return r1_error_set(err, "out of memory in Whisper attention");
    }
    return 0;
}

/* vt[c][t] = v[t][c], t < n_rows, c < n (vt rows vt_stride apart) */
static void transpose_into(float *vt, long vt_stride, const float *v, int n_rows, int n) {
    for (int t = 0; t < n_rows; t++)
        for (int c = 0; c < n; c++) vt[(size_t)c * vt_stride + t] = v[(size_t)t * n + c];
}

/* x += MLP(LayerNorm(x)) */
static int mlp(whisper_state *s, const whisper_block *b, float *x, int n_rows, r1_error *err) {
    int n = s->m->hp.n_audio_state;
    float *h = scratch(s, BUF_O, (size_t)n_rows * n, err);
    float *f = scratch(s, BUF_F, (size_t)n_rows * 4 * n, err);
    if (!h || !f) return -1;
    layernorm_rows(s, h, x, n_rows, n, &b->mlp_ln_w, &b->mlp_ln_b);
    if (linear(s, &b->mlp_fc1_w, &b->mlp_fc1_b, h, n_rows, f, err) != 0) return -1;
    gelu_rows(s, f, n_rows, 4 * n);
    if (linear(s, &b->mlp_fc2_w, &b->mlp_fc2_b, f, n_rows, h, err) != 0) return -1;
    for (size_t i = 0; i < (size_t)n_rows * n; i++) x[i] += h[i];
    return 0;
}

/* x += OutProj(attention output o); o is overwritten */
static int add_projection(whisper_state *s, const r1_tensor *w, const r1_tensor *b, float *x, float *o, int n_rows,
                          r1_error *err) {
    int n = s->m->hp.n_audio_state;
    float *y = scratch(s, BUF_F, (size_t)n_rows * n, err);
    if (!y || linear(s, w, b, o, n_rows, y, err) != 0) return -1;
    for (size_t i = 0; i < (size_t)n_rows * n; i++) x[i] += y[i];
    return 0;
}

/* ---- encoder ---- */

/* im2col for a kernel-3, padding-1 convolution: row t of `cols` holds, for
 * each input channel c, the inputs at frames stride*t-1, stride*t,
 * stride*t+1 (0 outside 0..n_in-1), in the weights' [c][k] order. `in`
 * gives input (frame f, channel c) as in[f * f_step + c * c_step]. */
static void unfold(float *cols, int n_out, int stride, const float *in, int n_in, int n_avail, long f_step,
                   long c_step, int channels) {
    for (int t = 0; t < n_out; t++) {
        float *row = cols + (size_t)t * channels * 3;
        for (int c = 0; c < channels; c++)
            for (int k = 0; k < 3; k++) {
                int f = stride * t + k - 1;
                row[c * 3 + k] = f >= 0 && f < n_in && f < n_avail ? in[f * f_step + c * c_step] : 0.0f;
            }
    }
}

static r1_tensor conv_as_matrix(const r1_tensor *w) {
    r1_tensor m = *w;
    m.n_dims = 2;
    m.ne[0] = w->ne[0] * w->ne[1];
    m.ne[1] = w->ne[2];
    m.ne[2] = 1;
    m.row_bytes = r1_row_bytes(w->type, m.ne[0]);
    return m;
}

static int encoder_stem(whisper_state *s, const float *mel, int mel_stride, int n_frames, int offset, float *x,
                        r1_error *err) {
    const whisper_model *m = s->m;
    int n = m->hp.n_audio_state, n_ctx = m->hp.n_audio_ctx, n_in = 2 * n_ctx, n_mels = m->hp.n_mels;
    size_t cols_floats = (size_t)n_in * n_mels * 3 > (size_t)n_ctx * n * 3 ? (size_t)n_in * n_mels * 3
                                                                           : (size_t)n_ctx * n * 3;
    float *cols = scratch(s, BUF_F, cols_floats, err);
    float *h1 = scratch(s, BUF_Q, (size_t)n_in * n, err);
    if (!cols || !h1) return -1;
    int avail = n_frames - offset > 0 ? n_frames - offset : 0;
    unfold(cols, n_in, 1, mel + offset, n_in, avail, 1, mel_stride, n_mels);
    r1_tensor w1 = conv_as_matrix(&m->conv1_w), w2 = conv_as_matrix(&m->conv2_w);
    if (linear(s, &w1, &m->conv1_b, cols, n_in, h1, err) != 0) return -1;
    gelu_rows(s, h1, n_in, n);
    unfold(cols, n_ctx, 2, h1, n_in, n_in, n, 1, n);
    if (linear(s, &w2, &m->conv2_b, cols, n_ctx, x, err) != 0) return -1;
    gelu_rows(s, x, n_ctx, n);
    const float *pos = m->enc_pos.data;
    for (size_t i = 0; i < (size_t)n_ctx * n; i++) x[i] += pos[i];
    return 0;
}

static int encoder_block(whisper_state *s, const whisper_block *b, float *x, r1_error *err) {
    const whisper_hparams *hp = &s->m->hp;
    int n = hp->n_audio_state, T = hp->n_audio_ctx;
    float *h = scratch(s, BUF_O, (size_t)T * n, err);
    float *q = scratch(s, BUF_Q, (size_t)T * n, err);
    float *k = scratch(s, BUF_K, (size_t)T * n, err);
    float *v = scratch(s, BUF_V, (size_t)T * n, err);
    float *vt = scratch(s, BUF_F, (size_t)T * n, err);
    if (!h || !q || !k || !v || !vt) return -1;
    layernorm_rows(s, h, x, T, n, &b->attn_ln_w, &b->attn_ln_b);
    r1_matmul_out qkv[3] = {{&b->attn_q_w, q, n}, {&b->attn_k_w, k, n}, {&b->attn_v_w, v, n}};
    if (r1_matmul_group(s->compute, qkv, 3, h, T) != 0) return r1_error_set(err, "out of memory in the encoder");
    add_bias_rows(s, q, T, n, &b->attn_q_b);
    add_bias_rows(s, v, T, n, &b->attn_v_b);
    transpose_into(vt, T, v, T, n);
    if (attention(s, q, T, k, n, vt, T, T, hp->n_audio_head, -1, v, err) != 0) return -1;
    if (add_projection(s, &b->attn_out_w, &b->attn_out_b, x, v, T, err) != 0) return -1;
    return mlp(s, b, x, T, err);
}

/* The cross-attention keys and values of every decoder layer, from the
 * encoder output: computed once per window. */
static int cross_kv(whisper_state *s, r1_error *err) {
    const whisper_hparams *hp = &s->m->hp;
    int n = hp->n_audio_state, T = hp->n_audio_ctx;
    float *v = scratch(s, BUF_V, (size_t)T * n, err);
    if (!v) return -1;
    for (int l = 0; l < hp->n_text_layer; l++) {
        const whisper_block *b = &s->m->dec_blocks[l];
        float *k = s->cross_k + (size_t)l * T * n;
        r1_matmul_out kv[2] = {{&b->cross_k_w, k, n}, {&b->cross_v_w, v, n}};
        if (r1_matmul_group(s->compute, kv, 2, s->enc_out, T) != 0)
            return r1_error_set(err, "out of memory in cross-attention");
        add_bias_rows(s, v, T, n, &b->cross_v_b);
        transpose_into(s->cross_vt + (size_t)l * n * T, T, v, T, n);
    }
    return 0;
}

int whisper_encode(whisper_state *s, const float *mel, int mel_stride, int n_frames, int offset, r1_error *err) {
    const whisper_model *m = s->m;
    int n = m->hp.n_audio_state, T = m->hp.n_audio_ctx;
    float *x = s->enc_out;
    if (encoder_stem(s, mel, mel_stride, n_frames, offset, x, err) != 0) return -1;
    for (int l = 0; l < m->hp.n_audio_layer; l++)
        if (encoder_block(s, &m->enc_blocks[l], x, err) != 0) return -1;
    float *h = scratch(s, BUF_O, (size_t)T * n, err);
    if (!h) return -1;
    layernorm_rows(s, h, x, T, n, &m->enc_ln_w, &m->enc_ln_b);
    memcpy(x, h, (size_t)T * n * sizeof(float));
    s->n_past = 0;
    return cross_kv(s, err);
}

/* ---- decoder ---- */

static int decoder_block(whisper_state *s, int l, float *x, int n_tok, r1_error *err) {
    const whisper_hparams *hp = &s->m->hp;
    const whisper_block *b = &s->m->dec_blocks[l];
    int n = hp->n_text_state, ctx = hp->n_text_ctx, T = hp->n_audio_ctx, p0 = s->n_past;
    float *h = scratch(s, BUF_O, (size_t)n_tok * n, err);
    float *q = scratch(s, BUF_Q, (size_t)n_tok * n, err);
    float *v = scratch(s, BUF_V, (size_t)n_tok * n, err);
    if (!h || !q || !v) return -1;
    float *k_cache = s->self_k + (size_t)l * ctx * n, *vt_cache = s->self_vt + (size_t)l * n * ctx;

    /* causal self-attention; this step's keys and values join the cache */
    layernorm_rows(s, h, x, n_tok, n, &b->attn_ln_w, &b->attn_ln_b);
    r1_matmul_out qkv[3] = {{&b->attn_q_w, q, n}, {&b->attn_k_w, k_cache + (size_t)p0 * n, n}, {&b->attn_v_w, v, n}};
    if (r1_matmul_group(s->compute, qkv, 3, h, n_tok) != 0) return r1_error_set(err, "out of memory in the decoder");
    add_bias_rows(s, q, n_tok, n, &b->attn_q_b);
    add_bias_rows(s, v, n_tok, n, &b->attn_v_b);
    transpose_into(vt_cache + p0, ctx, v, n_tok, n);
    if (attention(s, q, n_tok, k_cache, n, vt_cache, ctx, p0 + n_tok, hp->n_text_head, p0, v, err) != 0) return -1;
    if (add_projection(s, &b->attn_out_w, &b->attn_out_b, x, v, n_tok, err) != 0) return -1;

    /* cross-attention over the window's audio */
    layernorm_rows(s, h, x, n_tok, n, &b->cross_ln_w, &b->cross_ln_b);
    if (linear(s, &b->cross_q_w, &b->cross_q_b, h, n_tok, q, err) != 0) return -1;
    if (attention(s, q, n_tok, s->cross_k + (size_t)l * T * n, n, s->cross_vt + (size_t)l * n * T, T, T,
                  hp->n_text_head, -1, v, err) != 0)
        return -1;
    if (add_projection(s, &b->cross_out_w, &b->cross_out_b, x, v, n_tok, err) != 0) return -1;

    return mlp(s, b, x, n_tok, err);
}

int whisper_decode(whisper_state *s, const int32_t *tokens, int n_tok, float *logits, float *last_logits,
                   r1_error *err) {
    const whisper_model *m = s->m;
    int n = m->hp.n_text_state, n_vocab = m->hp.n_vocab;
    if (n_tok < 1) return r1_error_set(err, "nothing to decode");
    if (s->n_past + n_tok > m->hp.n_text_ctx)
        return r1_error_set(err, "the text context of %d tokens is full (%d + %d)", m->hp.n_text_ctx, s->n_past,
                            n_tok);
    float *x = scratch(s, BUF_X, (size_t)n_tok * n, err);
    if (!x) return -1;
    const float *pos = m->dec_pos.data;
    for (int i = 0; i < n_tok; i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return r1_error_set(err, "token id %d is outside the vocabulary (0..%d)", tokens[i], n_vocab - 1);
        r1_tensor_get_row(s->compute, &m->token_embedding, tokens[i], x + (size_t)i * n);
        r1_add(x + (size_t)i * n, pos + (size_t)(s->n_past + i) * n, n);
    }
    for (int l = 0; l < m->hp.n_text_layer; l++)
        if (decoder_block(s, l, x, n_tok, err) != 0) return -1;
    s->n_past += n_tok;
    float *h = scratch(s, BUF_O, (size_t)n_tok * n, err);
    if (!h) return -1;
    int first = logits ? 0 : n_tok - 1;
    layernorm_rows(s, h, x + (size_t)first * n, n_tok - first, n, &m->dec_ln_w, &m->dec_ln_b);
    float *out = logits ? logits : last_logits;
    if (r1_matmul(s->compute, &m->token_embedding, h, n_tok - first, out, n_vocab) != 0)
        return r1_error_set(err, "out of memory computing logits");
    if (logits && last_logits)
        memcpy(last_logits, logits + (size_t)(n_tok - 1) * n_vocab, (size_t)n_vocab * sizeof(float));
    return 0;
}

void whisper_decode_rewind(whisper_state *s, int n) {
    if (n >= 0 && n < s->n_past) s->n_past = n;
}

/* ---- state ---- */

int whisper_state_init(whisper_state *s, const whisper_model *m, r1_compute *compute, r1_error *err) {
    memset(s, 0, sizeof *s);
    s->m = m;
    s->compute = compute;
    const whisper_hparams *hp = &m->hp;
    size_t n = (size_t)hp->n_audio_state, T = (size_t)hp->n_audio_ctx, ctx = (size_t)hp->n_text_ctx;
    s->enc_out = malloc(T * n * sizeof(float));
    s->cross_k = malloc((size_t)hp->n_text_layer * T * n * sizeof(float));
    s->cross_vt = malloc((size_t)hp->n_text_layer * T * n * sizeof(float));
    s->self_k = calloc((size_t)hp->n_text_layer * ctx * n, sizeof(float));
    s->self_vt = calloc((size_t)hp->n_text_layer * ctx * n, sizeof(float));
    if (!s->enc_out || !s->cross_k || !s->cross_vt || !s->self_k || !s->self_vt) {
        whisper_state_free(s);
        return r1_error_set(err, "out of memory for the Whisper state");
    }
    return 0;
}

void whisper_state_free(whisper_state *s) {
    free(s->enc_out);
    free(s->cross_k);
    free(s->cross_vt);
    free(s->self_k);
    free(s->self_vt);
    for (int i = 0; i < 8; i++) free(s->buf[i]);
    memset(s, 0, sizeof *s);
}
