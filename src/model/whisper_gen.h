/*
 * whisper_gen.h - writing random-weight Whisper models in whisper.cpp's
 * ggml .bin format (`r1 model gen --arch whisper`), for benchmarks and tests
 * of every size without downloading weights.
 *
 * The file holds: magic, 11 hparams, the mel filterbank, the vocabulary,
 * then every tensor whisper.cpp expects, in whisper.cpp's order and with its
 * per-tensor types (ftype 1: conv weights, 2-D linear weights and the token
 * embedding f16, everything else f32). Filters and vocabulary are copied
 * from an existing Whisper .bin (vocab_from) or made up: a Slaney mel
 * filterbank computed here, and 256 one-byte tokens followed by
 * placeholders.
 *
 * Weights: one gaussian stream (xoshiro256** seeded from the seed, Box-Muller)
 * drawn tensor by tensor in file order, times 0.02; LayerNorm weights are 1
 * and LayerNorm biases 0 (they draw nothing). The same options give the same
 * bytes. Tensors are written in chunks, never held whole, so large-v2
 * (6 GB in f32) needs a few hundred KiB of memory.
 */
#ifndef R1_MODEL_WHISPER_GEN_H
#define R1_MODEL_WHISPER_GEN_H

#include <stdint.h>

#include "base/error.h"
#include "tensor/types.h"

typedef struct whisper_gen_hparams {
    int n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer;
    int n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels;
} whisper_gen_hparams;

typedef struct whisper_gen_shape {
    const char *name; /* "tiny", "base", "small", "medium", "large-v2" */
    whisper_gen_hparams hparams;
} whisper_gen_shape;

/* All shapes, terminated by an entry with name NULL. */
const whisper_gen_shape *whisper_gen_shapes(void);
/* The shape with this name, or NULL. */
const whisper_gen_shape *whisper_gen_shape_find(const char *name);

typedef struct whisper_gen_options {
    whisper_gen_hparams hparams;
    int ftype;              /* ggml's: 0 = all f32, 1 = f16 where whisper.cpp expects it, 2 q4_0, 3 q4_1,
                               7 q8_0, 8 q5_0, 9 q5_1 (the 2-D weights; +2000 as whisper.cpp writes it) */
    uint64_t seed;
    const char *vocab_from; /* a Whisper .bin to copy filters + vocabulary from; NULL: made up */
    const char *path;       /* the file to write (replaced; removed again on failure) */
} whisper_gen_options;

/* Writes the model file. Fails (and removes the partial file) on bad
 * hparams, an unreadable or malformed vocab_from, or a write error. */
int whisper_gen_write(const whisper_gen_options *opt, r1_error *err);

/* Tensors in a file of these hparams: 7 + 15 n_audio_layer + 4 + 24 n_text_layer. */
int whisper_gen_tensor_count(const whisper_gen_hparams *hp);

/* The type of the 2-D weights in a file of this ftype (F32 for 0 and for
 * an ftype r1 cannot write). */
r1_type whisper_gen_matrix_type(int ftype);

/* Bytes of the tensor section (headers + data) for these hparams and ftype. */
uint64_t whisper_gen_tensor_bytes(const whisper_gen_hparams *hp, int ftype);

/* A Slaney-style mel filterbank with Slaney area normalisation, as
 * librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels) computes
 * it: out[m * (n_fft/2 + 1) + k] for band m and FFT bin k. */
void whisper_gen_mel_filters(int sample_rate, int n_fft, int n_mels, float *out);

#endif
