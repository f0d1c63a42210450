/*
 * whisper_load.c - reads whisper.cpp's ggml `.bin` Whisper files (see
 * whisper.h and ../shared/testdata/asr/README.md for the layout).
 *
 * The file is read front to back through a small reader that works on a
 * FILE or on bytes in memory, so the fuzz harness takes the same path as a
 * real load. Sizes claimed by the file are checked against the bytes that
 * remain before anything is allocated, and every tensor must be one of the
 * expected names, with the expected shape and an allowed type, exactly once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/whisper.h"
#include "tensor/types.h"

#define WHISPER_MAGIC 0x67676d6cu
#define MAX_TENSOR_NAME 128
#define MAX_TOKEN_BYTES 1024

/* ---- reading ---- */

typedef struct reader {
    FILE *file;            /* or: */
    const uint8_t *mem;
    size_t size, pos;      /* size of the whole input, bytes consumed */
} reader;

static size_t remaining(const reader *r) {
    return r->size - r->pos;
}

static int read_bytes(reader *r, void *out, size_t n, const char *what, r1_error *err) {
    if (n > remaining(r))
        return r1_error_set(err, "truncated file: %s needs %zu bytes at offset %zu, %zu remain", what, n, r->pos,
                            remaining(r));
    if (r->mem) memcpy(out, r->mem + r->pos, n);
    else if (n && fread(out, 1, n, r->file) != n)
        return r1_error_set(err, "read error at offset %zu (%s): %s", r->pos, what, strerror(errno));
    r->pos += n;
    return 0;
}

static int read_i32(reader *r, int32_t *v, const char *what, r1_error *err) {
    uint8_t b[4];
    if (read_bytes(r, b, 4, what, err) != 0) return -1;
    *v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    return 0;
}

/* ---- hparams, filters, vocabulary ---- */

static int check_range(const char *name, int v, int lo, int hi, r1_error *err) {
    if (v < lo || v > hi) return r1_error_set(err, "hparams: %s is %d, expected %d..%d", name, v, lo, hi);
    return 0;
}

static int read_hparams(reader *r, whisper_hparams *hp, r1_error *err) {
    int32_t *fields[] = {&hp->n_vocab,      &hp->n_audio_ctx,  &hp->n_audio_state, &hp->n_audio_head,
                         &hp->n_audio_layer, &hp->n_text_ctx,  &hp->n_text_state,  &hp->n_text_head,
                         &hp->n_text_layer,  &hp->n_mels,      &hp->ftype};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (read_i32(r, fields[i], "hparams", err) != 0) return -1;
    if (check_range("n_vocab", hp->n_vocab, 51864, 51866, err) || check_range("n_audio_ctx", hp->n_audio_ctx, 1, 1500, err) ||
        check_range("n_audio_state", hp->n_audio_state, 1, 4096, err) ||
        check_range("n_audio_head", hp->n_audio_head, 1, 64, err) ||
        check_range("n_audio_layer", hp->n_audio_layer, 1, 64, err) ||
        check_range("n_text_ctx", hp->n_text_ctx, 1, 448, err) ||
        check_range("n_text_state", hp->n_text_state, 1, 4096, err) ||
        check_range("n_text_head", hp->n_text_head, 1, 64, err) ||
        check_range("n_text_layer", hp->n_text_layer, 1, 64, err) || check_range("n_mels", hp->n_mels, 1, 256, err))
        return -1;
    if (hp->n_text_state != hp->n_audio_state)
        return r1_error_set(err, "hparams: n_text_state %d differs from n_audio_state %d", hp->n_text_state,
                            hp->n_audio_state);
    if (hp->n_audio_state % hp->n_audio_head || hp->n_text_state % hp->n_text_head)
        return r1_error_set(err, "hparams: the state size %d is not a multiple of the heads (%d, %d)",
                            hp->n_audio_state, hp->n_audio_head, hp->n_text_head);
    if (hp->ftype < 0) return r1_error_set(err, "hparams: ftype %d is negative", hp->ftype);
    return 0;
}

static int read_filters(reader *r, whisper_model *m, r1_error *err) {
    int32_t n_mel, n_fft;
    if (read_i32(r, &n_mel, "mel filters: n_mel", err) || read_i32(r, &n_fft, "mel filters: n_fft", err)) return -1;
    if (n_mel != m->hp.n_mels)
        return r1_error_set(err, "mel filters: %d bands, but hparams say n_mels %d", n_mel, m->hp.n_mels);
    if (n_fft != 201) return r1_error_set(err, "mel filters: %d FFT bins, expected 201 (a 400-point FFT)", n_fft);
    size_t bytes = (size_t)n_mel * (size_t)n_fft * sizeof(float);
    if (bytes > remaining(r)) return r1_error_set(err, "truncated file: mel filters need %zu bytes", bytes);
    m->mel_filters = malloc(bytes);
    if (!m->mel_filters) return r1_error_set(err, "out of memory for the mel filters");
    m->n_fft_bins = n_fft;
    return read_bytes(r, m->mel_filters, bytes, "mel filters", err);
}

static int read_vocab(reader *r, whisper_model *m, r1_error *err) {
    whisper_vocab *v = &m->vocab;
    int32_t n_tokens;
    if (read_i32(r, &n_tokens, "vocabulary size", err) != 0) return -1;
    if (n_tokens < 1 || n_tokens > m->hp.n_vocab - 1)
        return r1_error_set(err, "vocabulary: %d tokens stored, expected 1..%d", n_tokens, m->hp.n_vocab - 1);
    v->n_vocab = m->hp.n_vocab;
    v->text = calloc((size_t)v->n_vocab, sizeof *v->text);
    v->len = calloc((size_t)v->n_vocab, sizeof *v->len);
    if (!v->text || !v->len) return r1_error_set(err, "out of memory for the vocabulary");
    for (int i = 0; i < n_tokens; i++) {
        int32_t len;
        if (read_i32(r, &len, "token length", err) != 0) return r1_error_prefix(err, "vocabulary token %d", i);
        if (len < 0 || len > MAX_TOKEN_BYTES)
            return r1_error_set(err, "vocabulary: token %d has length %d, expected 0..%d", i, len, MAX_TOKEN_BYTES);
        v->text[i] = malloc((size_t)len + 1);
        if (!v->text[i]) return r1_error_set(err, "out of memory for the vocabulary");
        if (read_bytes(r, v->text[i], (size_t)len, "token text", err) != 0)
            return r1_error_prefix(err, "vocabulary token %d", i);
        v->text[i][len] = '\0';
        v->len[i] = len;
    }
    v->n_text = n_tokens;
    /* ids between the stored tokens and the first special (none in real
     * files) read as empty text */
    for (int i = n_tokens; i < v->n_vocab; i++) {
        v->text[i] = calloc(1, 1);
        if (!v->text[i]) return r1_error_set(err, "out of memory for the vocabulary");
    }
    return whisper_vocab_set_specials(v, err);
}

/* ---- the expected tensors ---- */

typedef enum tensor_kind {
    KIND_VECTOR,   /* biases, norms: f32 */
    KIND_POSITION, /* positional embeddings: f32 */
    KIND_CONV,     /* conv weights: f32 or f16 */
    KIND_MATRIX    /* linear weights, token embedding: f32, f16 or a quantized type */
} tensor_kind;

typedef struct expected_tensor {
    char name[64];
    r1_tensor *t;
    tensor_kind kind;
    int n_dims;
    int64_t ne[3];
    bool seen;
} expected_tensor;

typedef struct expected_list {
    expected_tensor *items;
    int n, cap;
} expected_list;

static int expect(expected_list *l, const char *name, r1_tensor *t, tensor_kind kind, int n_dims, int64_t ne0,
                  int64_t ne1, int64_t ne2) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 128;
        expected_tensor *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        l->items = grown;
        l->cap = cap;
    }
    expected_tensor *e = &l->items[l->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->t = t;
    e->kind = kind;
    e->n_dims = n_dims;
    e->ne[0] = ne0, e->ne[1] = ne1, e->ne[2] = ne2;
    return 0;
}

/* The tensors of one block; `cross` adds the decoder's cross-attention. */
static int expect_block(expected_list *l, const char *prefix, whisper_block *b, int n, bool cross) {
    char name[64];
    int rc = 0;
#define NAMED(suffix) (snprintf(name, sizeof name, "%s.%s", prefix, suffix), name)
    rc |= expect(l, NAMED("attn_ln.weight"), &b->attn_ln_w, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("attn_ln.bias"), &b->attn_ln_b, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("attn.query.weight"), &b->attn_q_w, KIND_MATRIX, 2, n, n, 1);
    rc |= expect(l, NAMED("attn.query.bias"), &b->attn_q_b, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("attn.key.weight"), &b->attn_k_w, KIND_MATRIX, 2, n, n, 1);
    rc |= expect(l, NAMED("attn.value.weight"), &b->attn_v_w, KIND_MATRIX, 2, n, n, 1);
    rc |= expect(l, NAMED("attn.value.bias"), &b->attn_v_b, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("attn.out.weight"), &b->attn_out_w, KIND_MATRIX, 2, n, n, 1);
    rc |= expect(l, NAMED("attn.out.bias"), &b->attn_out_b, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("mlp_ln.weight"), &b->mlp_ln_w, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("mlp_ln.bias"), &b->mlp_ln_b, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, NAMED("mlp.0.weight"), &b->mlp_fc1_w, KIND_MATRIX, 2, n, 4 * n, 1);
    rc |= expect(l, NAMED("mlp.0.bias"), &b->mlp_fc1_b, KIND_VECTOR, 1, 4 * n, 1, 1);
    rc |= expect(l, NAMED("mlp.2.weight"), &b->mlp_fc2_w, KIND_MATRIX, 2, 4 * n, n, 1);
    rc |= expect(l, NAMED("mlp.2.bias"), &b->mlp_fc2_b, KIND_VECTOR, 1, n, 1, 1);
    if (cross) {
        rc |= expect(l, NAMED("cross_attn_ln.weight"), &b->cross_ln_w, KIND_VECTOR, 1, n, 1, 1);
        rc |= expect(l, NAMED("cross_attn_ln.bias"), &b->cross_ln_b, KIND_VECTOR, 1, n, 1, 1);
        rc |= expect(l, NAMED("cross_attn.query.weight"), &b->cross_q_w, KIND_MATRIX, 2, n, n, 1);
        rc |= expect(l, NAMED("cross_attn.query.bias"), &b->cross_q_b, KIND_VECTOR, 1, n, 1, 1);
        rc |= expect(l, NAMED("cross_attn.key.weight"), &b->cross_k_w, KIND_MATRIX, 2, n, n, 1);
        rc |= expect(l, NAMED("cross_attn.value.weight"), &b->cross_v_w, KIND_MATRIX, 2, n, n, 1);
        rc |= expect(l, NAMED("cross_attn.value.bias"), &b->cross_v_b, KIND_VECTOR, 1, n, 1, 1);
        rc |= expect(l, NAMED("cross_attn.out.weight"), &b->cross_out_w, KIND_MATRIX, 2, n, n, 1);
        rc |= expect(l, NAMED("cross_attn.out.bias"), &b->cross_out_b, KIND_VECTOR, 1, n, 1, 1);
    }
#undef NAMED
    return rc;
}

static int expect_all(expected_list *l, whisper_model *m) {
    const whisper_hparams *hp = &m->hp;
    int n = hp->n_audio_state, rc = 0;
    rc |= expect(l, "encoder.positional_embedding", &m->enc_pos, KIND_POSITION, 2, n, hp->n_audio_ctx, 1);
    rc |= expect(l, "encoder.conv1.weight", &m->conv1_w, KIND_CONV, 3, 3, hp->n_mels, n);
    rc |= expect(l, "encoder.conv1.bias", &m->conv1_b, KIND_VECTOR, 2, 1, n, 1);
    rc |= expect(l, "encoder.conv2.weight", &m->conv2_w, KIND_CONV, 3, 3, n, n);
    rc |= expect(l, "encoder.conv2.bias", &m->conv2_b, KIND_VECTOR, 2, 1, n, 1);
    rc |= expect(l, "encoder.ln_post.weight", &m->enc_ln_w, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, "encoder.ln_post.bias", &m->enc_ln_b, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, "decoder.positional_embedding", &m->dec_pos, KIND_POSITION, 2, n, hp->n_text_ctx, 1);
    rc |= expect(l, "decoder.token_embedding.weight", &m->token_embedding, KIND_MATRIX, 2, n, hp->n_vocab, 1);
    rc |= expect(l, "decoder.ln.weight", &m->dec_ln_w, KIND_VECTOR, 1, n, 1, 1);
    rc |= expect(l, "decoder.ln.bias", &m->dec_ln_b, KIND_VECTOR, 1, n, 1, 1);
    for (int i = 0; i < hp->n_audio_layer; i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "encoder.blocks.%d", i);
        rc |= expect_block(l, prefix, &m->enc_blocks[i], n, false);
    }
    for (int i = 0; i < hp->n_text_layer; i++) {
        char prefix[48];
        snprintf(prefix, sizeof prefix, "decoder.blocks.%d", i);
        rc |= expect_block(l, prefix, &m->dec_blocks[i], n, true);
    }
    return rc;
}

/* ---- tensors ---- */

static bool type_allowed(tensor_kind kind, r1_type type) {
    switch (kind) {
    case KIND_VECTOR:
    case KIND_POSITION: return type == R1_TYPE_F32;
    case KIND_CONV: return type == R1_TYPE_F32 || type == R1_TYPE_F16;
    case KIND_MATRIX:
        return type == R1_TYPE_F32 || type == R1_TYPE_F16 || type == R1_TYPE_Q4_0 || type == R1_TYPE_Q4_1 ||
               type == R1_TYPE_Q5_0 || type == R1_TYPE_Q5_1 || type == R1_TYPE_Q8_0;
    }
    return false;
}

static expected_tensor *find_expected(expected_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
    return NULL;
}

static void describe_ne(const int64_t *ne, int n_dims, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (int d = 0; d < n_dims && used < cap; d++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", d ? ", " : "[", (long long)ne[d]);
    if (used < cap) snprintf(out + used, cap - used, "]");
}

/* The tensor headers, validated; returns the data's byte size in *bytes. */
static int read_tensor_header(reader *r, expected_list *l, expected_tensor **out, r1_type *type_out, size_t *bytes,
                              r1_error *err) {
    int32_t n_dims, name_len, ttype;
    size_t at = r->pos;
    if (read_i32(r, &n_dims, "tensor header", err) || read_i32(r, &name_len, "tensor header", err) ||
        read_i32(r, &ttype, "tensor header", err))
        return -1;
    if (n_dims < 1 || n_dims > 3)
        return r1_error_set(err, "tensor at offset %zu: %d dimensions, expected 1..3", at, n_dims);
    if (name_len < 1 || name_len >= MAX_TENSOR_NAME)
        return r1_error_set(err, "tensor at offset %zu: name length %d, expected 1..%d", at, name_len,
                            MAX_TENSOR_NAME - 1);
    int64_t ne[3] = {1, 1, 1};
    for (int d = 0; d < n_dims; d++) {
        int32_t v;
        if (read_i32(r, &v, "tensor shape", err) != 0) return -1;
        if (v < 1) return r1_error_set(err, "tensor at offset %zu: dimension %d is %d", at, d, v);
        ne[d] = v;
    }
    char name[MAX_TENSOR_NAME];
    if (read_bytes(r, name, (size_t)name_len, "tensor name", err) != 0) return -1;
    name[name_len] = '\0';
    if (memchr(name, '\0', (size_t)name_len)) return r1_error_set(err, "tensor at offset %zu: NUL in its name", at);
    expected_tensor *e = find_expected(l, name);
    if (!e) return r1_error_set(err, "unknown tensor '%s' (offset %zu)", name, at);
    if (e->seen) return r1_error_set(err, "tensor '%s' appears twice", name);
    if (n_dims != e->n_dims || ne[0] != e->ne[0] || ne[1] != e->ne[1] || ne[2] != e->ne[2]) {
        char got[64], want[64];
        describe_ne(ne, n_dims, got, sizeof got);
        describe_ne(e->ne, e->n_dims, want, sizeof want);
        return r1_error_set(err, "tensor '%s' has shape %s, expected %s", name, got, want);
    }
    const r1_type_info *info = ttype >= 0 && ttype < R1_TYPE_COUNT ? r1_type_get((r1_type)ttype) : NULL;
    if (!info || !info->name || !type_allowed(e->kind, (r1_type)ttype))
        return r1_error_set(err, "tensor '%s' has type %d (%s), not allowed for it", name, ttype,
                            info && info->name ? info->name : "unknown");
    if (ne[0] % info->block_size)
        return r1_error_set(err, "tensor '%s': rows of %lld values do not fill %s blocks of %lld", name,
                            (long long)ne[0], info->name, (long long)info->block_size);
    *bytes = r1_row_bytes((r1_type)ttype, ne[0]) * (size_t)(ne[1] * ne[2]);
    if (*bytes > remaining(r))
        return r1_error_set(err, "truncated file: tensor '%s' needs %zu bytes, %zu remain", name, *bytes,
                            remaining(r));
    *out = e;
    *type_out = (r1_type)ttype;
    return 0;
}

/* Reads every tensor into one allocation sized from what remains of the
 * input (the data cannot exceed it), 64-byte aligned per tensor. */
static int read_tensors(reader *r, whisper_model *m, expected_list *l, r1_error *err) {
    size_t cap = remaining(r) + (size_t)l->n * 64;
    m->weights = aligned_alloc(64, (cap + 63) / 64 * 64);
    if (!m->weights) return r1_error_set(err, "out of memory for %zu bytes of weights", cap);
    size_t used = 0;
    int n_seen = 0;
    while (remaining(r) > 0) {
        expected_tensor *e;
        r1_type type;
        size_t bytes;
        if (read_tensor_header(r, l, &e, &type, &bytes, err) != 0) return -1;
        uint8_t *data = (uint8_t *)m->weights + used;
        if (read_bytes(r, data, bytes, e->name, err) != 0) return -1;
        used += (bytes + 63) / 64 * 64;
        *e->t = (r1_tensor){.name = e->name, .type = type, .n_dims = e->n_dims,
                            .ne = {e->ne[0], e->ne[1], e->ne[2], 1}, .data = data,
                            .row_bytes = r1_row_bytes(type, e->ne[0])};
        e->seen = true;
        n_seen++;
    }
    m->weights_size = used;
    if (n_seen == 0) return r1_error_set(err, "no tensors: this file holds only a vocabulary (a test stub?)");
    for (int i = 0; i < l->n; i++)
        if (!l->items[i].seen) return r1_error_set(err, "tensor '%s' is missing (%d of %d present)", l->items[i].name,
                                                   n_seen, l->n);
    m->weight_type = m->enc_blocks[0].mlp_fc1_w.type;
    return 0;
}

/* ---- the whole file ---- */

static int load(reader *r, whisper_model *m, r1_error *err) {
    memset(m, 0, sizeof *m);
    int32_t magic;
    if (read_i32(r, &magic, "magic", err) != 0) return -1;
    if ((uint32_t)magic != WHISPER_MAGIC)
        return r1_error_set(err, "not a ggml Whisper model: magic 0x%08x, expected 0x%08x", (uint32_t)magic,
                            WHISPER_MAGIC);
    if (read_hparams(r, &m->hp, err) || read_filters(r, m, err) || read_vocab(r, m, err)) return -1;
    m->enc_blocks = calloc((size_t)m->hp.n_audio_layer, sizeof *m->enc_blocks);
    m->dec_blocks = calloc((size_t)m->hp.n_text_layer, sizeof *m->dec_blocks);
    if (!m->enc_blocks || !m->dec_blocks) return r1_error_set(err, "out of memory");
    expected_list list = {0};
    int rc = expect_all(&list, m);
    if (rc != 0) rc = r1_error_set(err, "out of memory");
    if (rc == 0) rc = read_tensors(r, m, &list, err);
    m->tensor_names = list.items; /* the tensors' names point into it */
    return rc;
}

int whisper_model_load_memory(const void *data, size_t size, whisper_model *m, r1_error *err) {
    reader r = {.mem = data, .size = size};
    if (load(&r, m, err) != 0) {
        whisper_model_free(m);
        return -1;
    }
    return 0;
}

int whisper_model_load(const char *path, whisper_model *m, r1_error *err) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return r1_error_set(err, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return r1_error_set(err, "%s: not a regular file", path);
    }
    reader r = {.file = f, .size = (size_t)st.st_size};
    int rc = load(&r, m, err);
    fclose(f);
    if (rc != 0) {
        whisper_model_free(m);
        return r1_error_prefix(err, "%s", path);
    }
    return 0;
}

void whisper_model_free(whisper_model *m) {
    free(m->mel_filters);
    whisper_vocab_free(&m->vocab);
    free(m->enc_blocks);
    free(m->dec_blocks);
    free(m->weights);
    free(m->tensor_names);
    memset(m, 0, sizeof *m);
}

const char *whisper_model_kind(const whisper_model *m) {
    switch (m->hp.n_audio_layer) {
    case 4: return "tiny";
    case 6: return "base";
    case 12: return "small";
    case 24: return "medium";
    case 32: return "large";
    default: return "unknown";
    }
}
