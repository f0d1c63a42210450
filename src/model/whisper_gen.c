/*
 * whisper_gen.c - random-weight Whisper models in whisper.cpp's ggml .bin
 * format (see whisper_gen.h): the shape table, the tensor list (one walk
 * shared by the byte count and the writer), the header sections (copied
 * from another file or made up) and the streaming tensor writer.
 */
#include "model/whisper_gen.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/fp16.h"
#include "tensor/kernels.h"
#include "tensor/types.h"

#define WHISPER_MAGIC 0x67676d6cu
#define N_FFT 400
#define N_FFT_BINS (N_FFT / 2 + 1)
#define SAMPLE_RATE 16000
#define N_TEXT_TOKENS 50257      /* ordinary tokens stored in a multilingual file */
#define MAX_TOKEN_BYTES 4096     /* longer token texts in a vocab_from file are refused */
#define WEIGHT_STD 0.02
#define CHUNK_ELEMENTS 65536
#define IO_BUFFER_BYTES (1 << 20)

/* ---- shapes ---- */

#define SHAPE(name_, state, heads, layers) \
    {name_, {51865, 1500, state, heads, layers, 448, state, heads, layers, 80}}

static const whisper_gen_shape shapes[] = {
    SHAPE("tiny", 384, 6, 4),
    SHAPE("base", 512, 8, 6),
    SHAPE("small", 768, 12, 12),
    SHAPE("medium", 1024, 16, 24),
    SHAPE("large-v2", 1280, 20, 32),
    {NULL, {0}},
};

const whisper_gen_shape *whisper_gen_shapes(void) { return shapes; }

const whisper_gen_shape *whisper_gen_shape_find(const char *name) {
    for (const whisper_gen_shape *s = shapes; s->name; s++)
        if (strcmp(s->name, name) == 0) return s;
    return NULL;
}

static int check_hparams(const whisper_gen_hparams *hp, int ftype, r1_error *err) {
    if (ftype != 0 && ftype != 1 && whisper_gen_matrix_type(ftype) == R1_TYPE_F32)
        return r1_error_set(err, "ftype %d: only f32, f16, q4_0, q4_1, q5_0, q5_1 and q8_0 can be written", ftype);
    if (hp->n_vocab < 1 || hp->n_audio_ctx < 1 || hp->n_text_ctx < 1 || hp->n_mels < 1 || hp->n_audio_state < 1 ||
        hp->n_audio_head < 1 || hp->n_text_head < 1 || hp->n_audio_layer < 0 || hp->n_text_layer < 0)
        return r1_error_set(err, "hparams: every size must be positive (layer counts at least 0)");
    if (hp->n_text_state != hp->n_audio_state)
        return r1_error_set(err, "hparams: n_text_state %d differs from n_audio_state %d (whisper.cpp needs them equal)",
                            hp->n_text_state, hp->n_audio_state);
    if (hp->n_audio_state % hp->n_audio_head || hp->n_text_state % hp->n_text_head)
        return r1_error_set(err, "hparams: the state size %d is not a multiple of the head count", hp->n_audio_state);
    if (hp->n_audio_state > (1 << 16) || hp->n_vocab > (1 << 24) || hp->n_audio_ctx > (1 << 20) ||
        hp->n_text_ctx > (1 << 20) || hp->n_mels > 1024 || hp->n_audio_layer > 1024 || hp->n_text_layer > 1024)
        return r1_error_set(err, "hparams: a size is implausibly large");
    return 0;
}

/* ---- the tensor list ---- */

typedef enum init_kind { INIT_GAUSSIAN, INIT_ONES, INIT_ZEROS } init_kind;

typedef struct gen_tensor {
    char name[96];
    int n_dims;
    int64_t shape[3];   /* PyTorch order: shape[0] is the outermost dimension */
    bool f16_in_ftype1; /* conv weights, 2-D linear weights, the token embedding */
    init_kind init;
} gen_tensor;

typedef int (*tensor_visitor)(void *ctx, const gen_tensor *t);

typedef struct walker {
    tensor_visitor visit;
    void *ctx;
    int rc;
} walker;

static void emit(walker *w, const char *name, init_kind init, bool f16, int n_dims, int64_t d0, int64_t d1,
                 int64_t d2) {
    if (w->rc) return;
    gen_tensor t = {.n_dims = n_dims, .shape = {d0, d1, d2}, .f16_in_ftype1 = f16, .init = init};
    snprintf(t.name, sizeof t.name, "%s", name);
    w->rc = w->visit(w->ctx, &t);
}

/* "<prefix><name>.weight" [out, in] and, when bias, "<prefix><name>.bias" [out]. */
static void emit_linear(walker *w, const char *prefix, const char *name, int64_t out, int64_t in, bool bias) {
    char full[96];
    snprintf(full, sizeof full, "%s%s.weight", prefix, name);
    emit(w, full, INIT_GAUSSIAN, true, 2, out, in, 0);
    if (!bias) return;
    snprintf(full, sizeof full, "%s%s.bias", prefix, name);
    emit(w, full, INIT_GAUSSIAN, false, 1, out, 0, 0);
}

static void emit_layer_norm(walker *w, const char *prefix, const char *name, int64_t n) {
    char full[96];
    snprintf(full, sizeof full, "%s%s.weight", prefix, name);
    emit(w, full, INIT_ONES, false, 1, n, 0, 0);
    snprintf(full, sizeof full, "%s%s.bias", prefix, name);
    emit(w, full, INIT_ZEROS, false, 1, n, 0, 0);
}

static void emit_attention(walker *w, const char *prefix, const char *attn, int64_t n) {
    char name[64];
    snprintf(name, sizeof name, "%s.query", attn);
    emit_linear(w, prefix, name, n, n, true);
    snprintf(name, sizeof name, "%s.key", attn);
    emit_linear(w, prefix, name, n, n, false); /* Whisper's key projection has no bias */
    snprintf(name, sizeof name, "%s.value", attn);
    emit_linear(w, prefix, name, n, n, true);
    snprintf(name, sizeof name, "%s.out", attn);
    emit_linear(w, prefix, name, n, n, true);
    snprintf(name, sizeof name, "%s_ln", attn);
    emit_layer_norm(w, prefix, name, n);
}

/* One residual block: 15 tensors, 24 with cross-attention. */
static void emit_block(walker *w, const char *prefix, int64_t n, bool cross) {
    emit_attention(w, prefix, "attn", n);
    if (cross) emit_attention(w, prefix, "cross_attn", n);
    emit_linear(w, prefix, "mlp.0", 4 * n, n, true);
    emit_linear(w, prefix, "mlp.2", n, 4 * n, true);
    emit_layer_norm(w, prefix, "mlp_ln", n);
}

/* Calls visit for every tensor, in whisper.cpp's order; stops at the first
 * failure and returns its result. */
static int walk_tensors(const whisper_gen_hparams *hp, tensor_visitor visit, void *ctx) {
    walker w = {visit, ctx, 0};
    int64_t n = hp->n_audio_state;
    char prefix[64];
    emit(&w, "encoder.positional_embedding", INIT_GAUSSIAN, false, 2, hp->n_audio_ctx, n, 0);
    emit(&w, "encoder.conv1.weight", INIT_GAUSSIAN, true, 3, n, hp->n_mels, 3);
    emit(&w, "encoder.conv1.bias", INIT_GAUSSIAN, false, 2, n, 1, 0);
    emit(&w, "encoder.conv2.weight", INIT_GAUSSIAN, true, 3, n, n, 3);
    emit(&w, "encoder.conv2.bias", INIT_GAUSSIAN, false, 2, n, 1, 0);
    for (int i = 0; i < hp->n_audio_layer; i++) {
        snprintf(prefix, sizeof prefix, "encoder.blocks.%d.", i);
        emit_block(&w, prefix, n, false);
    }
    emit_layer_norm(&w, "encoder.", "ln_post", n);
    emit(&w, "decoder.positional_embedding", INIT_GAUSSIAN, false, 2, hp->n_text_ctx, n, 0);
    emit(&w, "decoder.token_embedding.weight", INIT_GAUSSIAN, true, 2, hp->n_vocab, n, 0);
    for (int i = 0; i < hp->n_text_layer; i++) {
        snprintf(prefix, sizeof prefix, "decoder.blocks.%d.", i);
        emit_block(&w, prefix, n, true);
    }
    emit_layer_norm(&w, "decoder.", "ln", n);
    return w.rc;
}

static uint64_t tensor_elements(const gen_tensor *t) {
    uint64_t count = 1;
    for (int d = 0; d < t->n_dims; d++) count *= (uint64_t)t->shape[d];
    return count;
}

/* ggml's file types: 0 all f32, 1 mostly f16, 2 q4_0, 3 q4_1, 7 q8_0, 8
 * q5_0, 9 q5_1; whisper.cpp's quantizer adds 1000 x its quantization
 * version (2) to the quantized ones. */
r1_type whisper_gen_matrix_type(int ftype) {
    switch (ftype % 1000) {
    case 1: return R1_TYPE_F16;
    case 2: return R1_TYPE_Q4_0;
    case 3: return R1_TYPE_Q4_1;
    case 7: return R1_TYPE_Q8_0;
    case 8: return R1_TYPE_Q5_0;
    case 9: return R1_TYPE_Q5_1;
    default: return R1_TYPE_F32;
    }
}

/* The type a tensor is written in: as whisper.cpp's quantizer does it, the
 * 2-D weights (linear layers, the token embedding) take the file's type,
 * the convolution kernels stay f16 in any file but an f32 one, the rest
 * (biases, norms, positions) f32. */
static r1_type stored_type(const gen_tensor *t, int ftype) {
    if (ftype == 0 || !t->f16_in_ftype1) return R1_TYPE_F32;
    return t->n_dims == 2 ? whisper_gen_matrix_type(ftype) : R1_TYPE_F16;
}

static uint64_t tensor_record_bytes(const gen_tensor *t, int ftype) {
    uint64_t header = 12 + 4 * (uint64_t)t->n_dims + strlen(t->name);
    const r1_type_info *info = r1_type_get(stored_type(t, ftype));
    return header + tensor_elements(t) / (uint64_t)info->block_size * info->block_bytes;
}

typedef struct byte_count {
    int ftype;
    int tensors;
    uint64_t bytes;
} byte_count;

static int count_tensor(void *ctx, const gen_tensor *t) {
    byte_count *c = ctx;
    c->tensors++;
    c->bytes += tensor_record_bytes(t, c->ftype);
    return 0;
}

int whisper_gen_tensor_count(const whisper_gen_hparams *hp) {
    byte_count c = {0};
    walk_tensors(hp, count_tensor, &c);
    return c.tensors;
}

uint64_t whisper_gen_tensor_bytes(const whisper_gen_hparams *hp, int ftype) {
    byte_count c = {.ftype = ftype};
    walk_tensors(hp, count_tensor, &c);
    return c.bytes;
}

/* ---- the mel filterbank ---- */

/* Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above. */
static double hz_to_mel(double hz) {
    const double min_log_hz = 1000.0, min_log_mel = 15.0, log_step = log(6.4) / 27.0;
    if (hz < min_log_hz) return hz * 3.0 / 200.0;
    return min_log_mel + log(hz / min_log_hz) / log_step;
}

static double mel_to_hz(double mel) {
    const double min_log_hz = 1000.0, min_log_mel = 15.0, log_step = log(6.4) / 27.0;
    if (mel < min_log_mel) return mel * 200.0 / 3.0;
    return min_log_hz * exp(log_step * (mel - min_log_mel));
}

void whisper_gen_mel_filters(int sample_rate, int n_fft, int n_mels, float *out) {
    int n_bins = n_fft / 2 + 1;
    double *edges = malloc((size_t)(n_mels + 2) * sizeof *edges); /* band edges in Hz */
    if (!edges) {
        memset(out, 0, (size_t)n_mels * (size_t)n_bins * sizeof *out);
        return;
    }
    double mel_lo = hz_to_mel(0.0), mel_hi = hz_to_mel(sample_rate / 2.0);
    for (int i = 0; i < n_mels + 2; i++) edges[i] = mel_to_hz(mel_lo + (mel_hi - mel_lo) * i / (n_mels + 1));
    for (int m = 0; m < n_mels; m++) {
        double norm = 2.0 / (edges[m + 2] - edges[m]); /* Slaney: every band has the same area */
        for (int k = 0; k < n_bins; k++) {
            double hz = (double)k * sample_rate / n_fft;
            double rising = (hz - edges[m]) / (edges[m + 1] - edges[m]);
            double falling = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]);
            double w = rising < falling ? rising : falling;
            out[(size_t)m * n_bins + k] = (float)(w > 0.0 ? w * norm : 0.0);
        }
    }
    free(edges);
}

/* ---- filters and vocabulary: copied or made up ---- */

/* The two header sections that follow the hparams, as bytes ready to write. */
typedef struct header_sections {
    uint8_t *bytes;
    size_t size, cap;
} header_sections;

static int put_bytes(header_sections *h, const void *data, size_t n, r1_error *err) {
    if (h->size + n > h->cap) {
        size_t cap = h->cap ? h->cap : 1 << 16;
        while (cap < h->size + n) cap *= 2;
        uint8_t *grown = realloc(h->bytes, cap);
        if (!grown) return r1_error_set(err, "out of memory for the vocabulary");
        h->bytes = grown;
        h->cap = cap;
    }
    memcpy(h->bytes + h->size, data, n);
    h->size += n;
    return 0;
}

static int put_i32(header_sections *h, int32_t v, r1_error *err) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)((uint32_t)v >> 24)};
    return put_bytes(h, b, 4, err);
}

static int make_up_sections(const whisper_gen_hparams *hp, header_sections *h, r1_error *err) {
    size_t n_filters = (size_t)hp->n_mels * N_FFT_BINS;
    float *filters = malloc(n_filters * sizeof *filters);
    if (!filters) return r1_error_set(err, "out of memory for the mel filters");
    whisper_gen_mel_filters(SAMPLE_RATE, N_FFT, hp->n_mels, filters);
    int rc = put_i32(h, hp->n_mels, err) || put_i32(h, N_FFT_BINS, err) ||
             put_bytes(h, filters, n_filters * sizeof *filters, err);
    free(filters);
    if (rc) return -1;
    int n_text = hp->n_vocab < N_TEXT_TOKENS ? hp->n_vocab : N_TEXT_TOKENS;
    if (put_i32(h, n_text, err)) return -1;
    for (int id = 0; id < n_text; id++) {
        char text[32];
        int len;
        if (id < 256) {
            text[0] = (char)id; /* the byte-level base tokens: one byte each */
            len = 1;
        } else {
            len = snprintf(text, sizeof text, "<tok%d>", id);
        }
        if (put_i32(h, len, err) || put_bytes(h, text, (size_t)len, err)) return -1;
    }
    return 0;
}

static int read_exact(FILE *f, void *dst, size_t n, const char *path, const char *what, r1_error *err) {
    if (fread(dst, 1, n, f) == n) return 0;
    return r1_error_set(err, "%s: the file ends inside %s", path, what);
}

static int read_i32(FILE *f, int32_t *v, const char *path, const char *what, r1_error *err) {
    uint8_t b[4];
    if (read_exact(f, b, 4, path, what, err)) return -1;
    *v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    return 0;
}

/* Copies the filters and vocabulary of `path` into h, checking that they
 * fit hp (same band count, bins of a 400-point FFT, no more tokens than
 * n_vocab). */
static int copy_sections(const char *path, const whisper_gen_hparams *hp, header_sections *h, r1_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return r1_error_set(err, "%s: %s", path, strerror(errno));
    int32_t magic, skip, n_mel, n_bins, n_tokens;
    int rc = -1;
    if (read_i32(f, &magic, path, "the magic", err)) goto done;
    if ((uint32_t)magic != WHISPER_MAGIC) {
        r1_error_set(err, "%s: not a ggml Whisper model file (magic 0x%08x)", path, (unsigned)magic);
        goto done;
    }
    for (int i = 0; i < 11; i++)
        if (read_i32(f, &skip, path, "the hparams", err)) goto done;
    if (read_i32(f, &n_mel, path, "the mel filters", err) || read_i32(f, &n_bins, path, "the mel filters", err))
        goto done;
    if (n_mel != hp->n_mels || n_bins != N_FFT_BINS) {
        r1_error_set(err, "%s: mel filters are %dx%d, this model needs %dx%d", path, n_mel, n_bins, hp->n_mels,
                     N_FFT_BINS);
        goto done;
    }
    if (put_i32(h, n_mel, err) || put_i32(h, n_bins, err)) goto done;
    for (int m = 0; m < n_mel; m++) {
        float row[N_FFT_BINS];
        if (read_exact(f, row, sizeof row, path, "the mel filters", err) || put_bytes(h, row, sizeof row, err))
            goto done;
    }
    if (read_i32(f, &n_tokens, path, "the vocabulary", err)) goto done;
    if (n_tokens < 0 || n_tokens > hp->n_vocab) {
        r1_error_set(err, "%s: %d tokens in the vocabulary, this model has n_vocab %d", path, n_tokens, hp->n_vocab);
        goto done;
    }
    if (put_i32(h, n_tokens, err)) goto done;
    for (int id = 0; id < n_tokens; id++) {
        int32_t len;
        char text[MAX_TOKEN_BYTES];
        if (read_i32(f, &len, path, "the vocabulary", err)) goto done;
        if (len < 0 || len > MAX_TOKEN_BYTES) {
            r1_error_set(err, "%s: token %d has length %d (at most %d allowed)", path, id, len, MAX_TOKEN_BYTES);
            goto done;
        }
        if (read_exact(f, text, (size_t)len, path, "the vocabulary", err) || put_i32(h, len, err) ||
            put_bytes(h, text, (size_t)len, err))
            goto done;
    }
    rc = 0;
done:
    fclose(f);
    return rc;
}

/* ---- the random stream ---- */

typedef struct gauss_rng {
    uint64_t s[4];
    double spare;
    bool has_spare;
} gauss_rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(gauss_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
    r->has_spare = false;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static uint64_t rng_next(gauss_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A standard normal value (Box-Muller, both values of each pair used). */
static double rng_gauss(gauss_rng *r) {
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u1 = 1.0 - (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double u2 = (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    double radius = sqrt(-2.0 * log(u1)), angle = 2.0 * M_PI * u2;
    r->spare = radius * sin(angle);
    r->has_spare = true;
    return radius * cos(angle);
}

/* ---- writing ---- */

typedef struct writer {
    FILE *f;
    const char *path;
    int ftype;
    gauss_rng rng;
    float *chunk;
    uint16_t *half;
    void *quant;      /* one row in a quantized type */
    char *io_buffer; /* large stdio buffer: the data goes out in few big writes */
    r1_error *err;
} writer;

static int write_bytes(writer *w, const void *data, size_t n) {
    if (fwrite(data, 1, n, w->f) == n) return 0;
    return r1_error_set(w->err, "%s: write failed: %s", w->path, strerror(errno));
}

static int write_i32(writer *w, int32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)((uint32_t)v >> 24)};
    return write_bytes(w, b, 4);
}

static void fill_chunk(writer *w, init_kind init, float *chunk, size_t n) {
    for (size_t i = 0; i < n; i++)
        chunk[i] = init == INIT_ONES ? 1.0f : init == INIT_ZEROS ? 0.0f : (float)(WEIGHT_STD * rng_gauss(&w->rng));
}

/* One tensor record: n_dims, name length, type, ne[] (PyTorch shape
 * reversed), name, then the data in chunks (host order floats and halves:
 * little-endian, like every platform r1 builds for). */
/* A quantized tensor's data, row by row (a row is the innermost
 * dimension, a whole number of blocks), with the reference quantizer. */
static int write_quantized_rows(writer *w, const gen_tensor *t, r1_type type) {
    const r1_type_info *info = r1_type_get(type);
    int64_t row = t->shape[t->n_dims - 1], rows = (int64_t)(tensor_elements(t) / (uint64_t)row);
    if (row % info->block_size != 0 || row > (int64_t)CHUNK_ELEMENTS)
        return r1_error_set(w->err, "%s: rows of %lld values cannot be %s", t->name, (long long)row, info->name);
    r1_quantize_fn quantize = r1_kernels_for(R1_ISA_SCALAR)->format[type].quantize;
    for (int64_t r = 0; r < rows; r++) {
        fill_chunk(w, t->init, w->chunk, (size_t)row);
        quantize(w->chunk, w->quant, row);
        if (write_bytes(w, w->quant, (size_t)(row / info->block_size) * info->block_bytes)) return -1;
    }
    return 0;
}

static int write_tensor(void *ctx, const gen_tensor *t) {
    writer *w = ctx;
    r1_type type = stored_type(t, w->ftype);
    bool f16 = type == R1_TYPE_F16;
    if (write_i32(w, t->n_dims) || write_i32(w, (int32_t)strlen(t->name)) || write_i32(w, (int32_t)type)) return -1;
    for (int d = t->n_dims - 1; d >= 0; d--)
        if (write_i32(w, (int32_t)t->shape[d])) return -1;
    if (write_bytes(w, t->name, strlen(t->name))) return -1;
    if (type != R1_TYPE_F32 && type != R1_TYPE_F16) return write_quantized_rows(w, t, type);
    for (uint64_t left = tensor_elements(t); left > 0;) {
        size_t n = left < CHUNK_ELEMENTS ? (size_t)left : CHUNK_ELEMENTS;
        fill_chunk(w, t->init, w->chunk, n);
        int rc;
        if (f16) {
            for (size_t i = 0; i < n; i++) w->half[i] = r1_f32_to_half(w->chunk[i]);
            rc = write_bytes(w, w->half, n * sizeof *w->half);
        } else {
            rc = write_bytes(w, w->chunk, n * sizeof *w->chunk);
        }
        if (rc) return -1;
        left -= n;
    }
    return 0;
}

static int write_header(writer *w, const whisper_gen_hparams *hp, const header_sections *h) {
    const int32_t fields[] = {hp->n_vocab,      hp->n_audio_ctx,  hp->n_audio_state, hp->n_audio_head,
                              hp->n_audio_layer, hp->n_text_ctx,  hp->n_text_state,  hp->n_text_head,
                              hp->n_text_layer,  hp->n_mels,      w->ftype};
    if (write_i32(w, (int32_t)WHISPER_MAGIC)) return -1;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (write_i32(w, fields[i])) return -1;
    return write_bytes(w, h->bytes, h->size);
}

static int write_file(writer *w, const whisper_gen_hparams *hp, const header_sections *h) {
    if (write_header(w, hp, h) || walk_tensors(hp, write_tensor, w)) return -1;
    if (fflush(w->f) != 0) return r1_error_set(w->err, "%s: write failed: %s", w->path, strerror(errno));
    return 0;
}

int whisper_gen_write(const whisper_gen_options *opt, r1_error *err) {
    const whisper_gen_hparams *hp = &opt->hparams;
    if (check_hparams(hp, opt->ftype, err)) return -1;
    header_sections h = {0};
    int rc = opt->vocab_from ? copy_sections(opt->vocab_from, hp, &h, err) : make_up_sections(hp, &h, err);
    if (rc) {
        free(h.bytes);
        return -1;
    }
    writer w = {.path = opt->path, .ftype = opt->ftype, .err = err};
    rng_seed(&w.rng, opt->seed);
    w.chunk = malloc(CHUNK_ELEMENTS * sizeof *w.chunk);
    w.half = malloc(CHUNK_ELEMENTS * sizeof *w.half);
    w.quant = malloc(CHUNK_ELEMENTS * sizeof(float)); /* a row in any quantized type is smaller */
    w.io_buffer = malloc(IO_BUFFER_BYTES);
    if (!w.chunk || !w.half || !w.quant || !w.io_buffer) {
        rc = r1_error_set(err, "out of memory");
    } else if (!(w.f = fopen(opt->path, "wb"))) {
        rc = r1_error_set(err, "%s: %s", opt->path, strerror(errno));
    } else {
        setvbuf(w.f, w.io_buffer, _IOFBF, IO_BUFFER_BYTES);
        rc = write_file(&w, hp, &h);
        if (fclose(w.f) != 0 && rc == 0) rc = r1_error_set(err, "%s: write failed: %s", opt->path, strerror(errno));
        if (rc) remove(opt->path);
    }
    free(w.chunk);
    free(w.half);
    free(w.quant);
    free(w.io_buffer);
    free(h.bytes);
    return rc;
}
