/*
 * vad_model.c - loads a Silero VAD file in whisper.cpp's ggml VAD format and
 * checks every byte of it before the forward pass (vad.c) may touch it.
 *
 * Layout (little-endian int32 unless stated, no padding):
 *   uint32 magic 0x67676d6c; int32 type length + type bytes ("silero-16k");
 *   version major, minor, patch; window (512); context (64);
 *   n_encoder_layers (4), then per layer in, out, kernel channels;
 *   lstm input, lstm hidden, final conv in, final conv out;
 *   tensors until the end of the file: n_dims (0..4), name length, type
 *   (0 f32, 1 f16), n_dims x ne (ggml order, fastest first), name, data.
 * The network is fixed (vad_internal.h), so every header field must hold the
 * value that network needs; tensors may come in any order but each must be
 * present exactly once with its shape and type. Weights become float32.
 */
#include "audio/vad.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/vad_internal.h"
#include "tensor/fp16.h"

#define VAD_MAGIC 0x67676d6cu
#define VAD_MODEL_TYPE "silero-16k"
#define MAX_NAME_LENGTH 256
#define MAX_FILE_BYTES (64u << 20) /* the real file is 885 KB */

typedef struct reader {
    const uint8_t *data;
    size_t size, pos;
} reader;

static int read_bytes(reader *r, void *dst, size_t n, const char *field, r1_error *err) {
    if (r->size - r->pos < n)
        return r1_error_set(err, "truncated: %s needs %zu bytes at offset %zu, only %zu left", field, n, r->pos,
                            r->size - r->pos);
    memcpy(dst, r->data + r->pos, n);
    r->pos += n;
    return 0;
}

static int read_i32(reader *r, int32_t *v, const char *field, r1_error *err) {
    uint8_t b[4] = {0};
    if (read_bytes(r, b, 4, field, err)) return -1;
    *v = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
    return 0;
}

/* Reads an int32 header field that must equal `want`. */
static int expect_i32(reader *r, int32_t want, const char *field, r1_error *err) {
    int32_t v;
    if (read_i32(r, &v, field, err)) return -1;
    if (v != want) return r1_error_set(err, "header field %s is %d, this network needs %d", field, (int)v, (int)want);
    return 0;
}

static int read_type_and_version(reader *r, vad_model *m, r1_error *err) {
    int32_t len, major, minor, patch;
    char type[64];
    if (read_i32(r, &len, "model type length", err)) return -1;
    if (len <= 0 || len >= (int32_t)sizeof type)
        return r1_error_set(err, "header field model type length is %d, expected 1..%d", (int)len,
                            (int)sizeof type - 1);
    if (read_bytes(r, type, (size_t)len, "model type", err)) return -1;
    type[len] = '\0';
    if (strcmp(type, VAD_MODEL_TYPE) != 0)
        return r1_error_set(err, "header field model type is '%.*s', expected '%s'", (int)len, type, VAD_MODEL_TYPE);
    if (read_i32(r, &major, "version major", err) || read_i32(r, &minor, "version minor", err) ||
        read_i32(r, &patch, "version patch", err))
        return -1;
    if (major < 0 || minor < 0 || patch < 0)
        return r1_error_set(err, "header field version is %d.%d.%d, expected non-negative numbers", (int)major,
                            (int)minor, (int)patch);
    snprintf(m->description, sizeof m->description, "%s %d.%d.%d", type, (int)major, (int)minor, (int)patch);
    return 0;
}

static int read_hparams(reader *r, r1_error *err) {
    char field[64];
    if (expect_i32(r, VAD_WINDOW_SAMPLES, "window size", err) || expect_i32(r, VAD_PAD, "context size", err) ||
        expect_i32(r, VAD_ENC_LAYERS, "n_encoder_layers", err))
        return -1;
    for (int i = 0; i < VAD_ENC_LAYERS; i++) {
        snprintf(field, sizeof field, "encoder_in_channels[%d]", i);
        if (expect_i32(r, vad_enc_in[i], field, err)) return -1;
        snprintf(field, sizeof field, "encoder_out_channels[%d]", i);
        if (expect_i32(r, vad_enc_out[i], field, err)) return -1;
        snprintf(field, sizeof field, "kernel_size[%d]", i);
        if (expect_i32(r, VAD_KERNEL, field, err)) return -1;
    }
    return expect_i32(r, VAD_HIDDEN, "lstm_input_size", err) || expect_i32(r, VAD_HIDDEN, "lstm_hidden_size", err) ||
                   expect_i32(r, VAD_HIDDEN, "final_conv_in", err) || expect_i32(r, 1, "final_conv_out", err)
               ? -1
               : 0;
}

/* One tensor the network needs: its name, ggml shape (trailing 1s may be
 * left out in the file), stored type, and where its float32 copy goes. */
typedef struct tensor_spec {
    char name[64];
    int64_t ne[4];
    int32_t type; /* 0 f32, 1 f16 */
    float *dst;
    int seen;
} tensor_spec;

enum { N_TENSORS = 2 * VAD_ENC_LAYERS + 4 + 2 + 1 };

static size_t spec_elements(const tensor_spec *s) {
    return (size_t)(s->ne[0] * s->ne[1] * s->ne[2] * s->ne[3]);
}

static void set_spec(tensor_spec *s, const char *name, int64_t ne0, int64_t ne1, int64_t ne2, int32_t type) {
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ne[0] = ne0, s->ne[1] = ne1, s->ne[2] = ne2, s->ne[3] = 1;
    s->type = type;
    s->dst = NULL;
    s->seen = 0;
}

static void describe_tensors(tensor_spec *t) {
    char name[64];
    for (int i = 0; i < VAD_ENC_LAYERS; i++) {
        snprintf(name, sizeof name, "_model.encoder.%d.reparam_conv.weight", i);
        set_spec(&t[2 * i], name, VAD_KERNEL, vad_enc_in[i], vad_enc_out[i], 1);
        snprintf(name, sizeof name, "_model.encoder.%d.reparam_conv.bias", i);
        set_spec(&t[2 * i + 1], name, vad_enc_out[i], 1, 1, 0);
    }
    tensor_spec *d = t + 2 * VAD_ENC_LAYERS;
    set_spec(&d[0], "_model.decoder.rnn.weight_ih", VAD_HIDDEN, VAD_GATES, 1, 0);
    set_spec(&d[1], "_model.decoder.rnn.weight_hh", VAD_HIDDEN, VAD_GATES, 1, 0);
    set_spec(&d[2], "_model.decoder.rnn.bias_ih", VAD_GATES, 1, 1, 0);
    set_spec(&d[3], "_model.decoder.rnn.bias_hh", VAD_GATES, 1, 1, 0);
    set_spec(&d[4], "_model.decoder.decoder.2.weight", VAD_HIDDEN, 1, 1, 1);
    set_spec(&d[5], "_model.decoder.decoder.2.bias", 1, 1, 1, 0);
    set_spec(&d[6], "_model.stft.forward_basis_buffer", VAD_STFT_TAPS, 1, 2 * VAD_STFT_BINS, 1);
}

/* Hands each spec its slice of m->weights and points the model's fields at
 * them. Returns -1 when out of memory. */
static int place_tensors(vad_model *m, tensor_spec *t) {
    size_t total = 0;
    for (int i = 0; i < N_TENSORS; i++) total += spec_elements(&t[i]);
    if (!(m->weights = malloc(total * sizeof(float)))) return -1;
    float *next = m->weights;
    for (int i = 0; i < N_TENSORS; i++) {
        t[i].dst = next;
        next += spec_elements(&t[i]);
    }
    for (int i = 0; i < VAD_ENC_LAYERS; i++) {
        m->enc_w[i] = t[2 * i].dst;
        m->enc_b[i] = t[2 * i + 1].dst;
    }
    tensor_spec *d = t + 2 * VAD_ENC_LAYERS;
    m->w_ih = d[0].dst, m->w_hh = d[1].dst, m->b_ih = d[2].dst, m->b_hh = d[3].dst;
    m->out_w = d[4].dst, m->out_b = d[5].dst, m->stft = d[6].dst;
    return 0;
}

static int check_shape(const tensor_spec *s, int32_t n_dims, const int32_t *ne, r1_error *err) {
    int64_t got[4] = {1, 1, 1, 1};
    for (int i = 0; i < n_dims; i++) got[i] = ne[i];
    if (memcmp(got, s->ne, sizeof got) != 0)
        return r1_error_set(err, "tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, %lld]",
                            s->name, (long long)got[0], (long long)got[1], (long long)got[2], (long long)got[3],
                            (long long)s->ne[0], (long long)s->ne[1], (long long)s->ne[2], (long long)s->ne[3]);
    return 0;
}

/* Copies a tensor's data to float32, refusing NaN and infinity. */
static int convert_data(reader *r, const tensor_spec *s, r1_error *err) {
    size_t n = spec_elements(s), width = s->type == 1 ? 2 : 4;
    if (r->size - r->pos < n * width)
        return r1_error_set(err, "truncated: tensor %s needs %zu bytes of data at offset %zu, only %zu left", s->name,
                            n * width, r->pos, r->size - r->pos);
    const uint8_t *p = r->data + r->pos;
    for (size_t i = 0; i < n; i++, p += width) {
        float v;
        if (width == 2) {
            v = r1_half_to_f32((uint16_t)(p[0] | p[1] << 8));
        } else {
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            v = r1_f32_from_bits(u);
        }
        if (!isfinite(v)) return r1_error_set(err, "tensor %s element %zu is not a finite number", s->name, i);
        s->dst[i] = v;
    }
    r->pos += n * width;
    return 0;
}

static tensor_spec *find_spec(tensor_spec *t, const char *name) {
    for (int i = 0; i < N_TENSORS; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

/* Reads one tensor record (header, name, data) at r->pos. */
static int read_tensor(reader *r, tensor_spec *t, r1_error *err) {
    int32_t n_dims, name_len, type, ne[4];
    char name[MAX_NAME_LENGTH + 1];
    size_t start = r->pos;
    if (read_i32(r, &n_dims, "tensor n_dims", err) || read_i32(r, &name_len, "tensor name length", err) ||
        read_i32(r, &type, "tensor type", err))
        return -1;
    if (n_dims < 0 || n_dims > 4)
        return r1_error_set(err, "tensor at offset %zu: n_dims is %d, expected 0..4", start, (int)n_dims);
    if (name_len <= 0 || name_len > MAX_NAME_LENGTH)
        return r1_error_set(err, "tensor at offset %zu: name length is %d, expected 1..%d", start, (int)name_len,
                            MAX_NAME_LENGTH);
    for (int i = 0; i < n_dims; i++)
        if (read_i32(r, &ne[i], "tensor dimension", err)) return -1;
    if (read_bytes(r, name, (size_t)name_len, "tensor name", err)) return -1;
    name[name_len] = '\0';
    if (strlen(name) != (size_t)name_len)
        return r1_error_set(err, "tensor at offset %zu: name contains a NUL byte", start);
    tensor_spec *s = find_spec(t, name);
    if (!s) return r1_error_set(err, "unknown tensor '%s' at offset %zu", name, start);
    if (s->seen) return r1_error_set(err, "tensor %s appears twice", s->name);
    if (type != s->type)
        return r1_error_set(err, "tensor %s has type %d, expected %d (%s)", s->name, (int)type, (int)s->type,
                            s->type == 1 ? "f16" : "f32");
    if (check_shape(s, n_dims, ne, err) || convert_data(r, s, err)) return -1;
    s->seen = 1;
    return 0;
}

static int read_tensors(reader *r, tensor_spec *t, r1_error *err) {
    while (r->pos < r->size)
        if (read_tensor(r, t, err)) return -1;
    for (int i = 0; i < N_TENSORS; i++)
        if (!t[i].seen) return r1_error_set(err, "tensor %s is missing", t[i].name);
    return 0;
}

vad_model *vad_model_load_memory(const void *data, size_t size, const char *name, r1_error *err) {
    reader r = {data, size, 0};
    tensor_spec specs[N_TENSORS];
    uint8_t magic[4] = {0};
    vad_model *m = calloc(1, sizeof *m);
    if (!m) {
        r1_error_set(err, "%s: out of memory", name);
        return NULL;
    }
    describe_tensors(specs);
    int rc = read_bytes(&r, magic, 4, "magic", err);
    if (rc == 0 && (uint32_t)(magic[0] | magic[1] << 8 | magic[2] << 16 | (uint32_t)magic[3] << 24) != VAD_MAGIC)
        rc = r1_error_set(err, "bad magic %02x %02x %02x %02x, expected 6c 6d 67 67 (ggml)", magic[0], magic[1],
                          magic[2], magic[3]);
    if (rc == 0) rc = read_type_and_version(&r, m, err);
    if (rc == 0) rc = read_hparams(&r, err);
    if (rc == 0 && place_tensors(m, specs)) rc = r1_error_set(err, "out of memory");
    if (rc == 0) rc = read_tensors(&r, specs, err);
    if (rc != 0) {
        r1_error_prefix(err, "VAD model %s", name);
        vad_model_free(m);
        return NULL;
    }
    return m;
}

/* The whole file in memory; NULL with err filled. */
static void *read_file(const char *path, size_t *size, r1_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        r1_error_set(err, "VAD model %s: cannot open it", path);
        return NULL;
    }
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint8_t *buf = NULL;
    const char *problem = NULL;
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0)
        problem = "cannot find its size";
    else if ((unsigned long)len > MAX_FILE_BYTES)
        problem = "larger than 64 MB, not a VAD model";
    else if (!(buf = malloc(len ? (size_t)len : 1)))
        problem = "out of memory";
    else if (fread(buf, 1, (size_t)len, f) != (size_t)len)
        problem = "read error";
    fclose(f);
    if (problem) {
        r1_error_set(err, "VAD model %s: %s", path, problem);
        free(buf);
        return NULL;
    }
    *size = (size_t)len;
    return buf;
}

vad_model *vad_model_load(const char *path, r1_error *err) {
    size_t size;
    void *data = read_file(path, &size, err);
    if (!data) return NULL;
    vad_model *m = vad_model_load_memory(data, size, path, err);
    free(data);
    return m;
}

void vad_model_free(vad_model *m) {
    if (!m) return;
    free(m->weights);
    free(m);
}

const char *vad_model_description(const vad_model *m) {
    return m->description;
}
