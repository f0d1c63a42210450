/*
 * random_model.h - writing GGUF files with random weights in the exact
 * shapes, names and per-tensor formats of real models (`r1 model gen`).
 *
 * Such files let anyone benchmark and test without downloading weights, and
 * the build machines cannot download any. The values follow a fixed recipe
 * (docs/MODEL-GEN.md): element g of the whole file (counting across tensors
 * in file order, norm weights excluded) is a splitmix64 hash of g mapped to
 * a uniform value of standard deviation 0.02; norm weights are 1.0.
 */
#ifndef R1_MODEL_RANDOM_MODEL_H
#define R1_MODEL_RANDOM_MODEL_H

#include <stdint.h>

#include "base/error.h"

typedef struct r1_model_shape {
    const char *name;       /* e.g. "r1-distill-qwen-1.5b" */
    const char *arch;       /* "qwen2" or "llama" */
    const char *model_name; /* general.name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, rms_eps;
    int bos, eos;
    const char *tokenizer_pre;
} r1_model_shape;

/* The shape with this name, or NULL. */
const r1_model_shape *r1_model_shape_find(const char *name);
/* All shapes, terminated by an entry with name NULL. */
const r1_model_shape *r1_model_shapes(void);

/* The value of element number g (g >= 1) of the random stream for seed. */
float r1_random_weight(uint64_t seed, uint64_t g);

/* Writes the model. type: f32, f16, q8_0, q4_0, q4_k_m, q6_k. seed 0 gives
 * the documented reference stream. n_threads <= 0: one per CPU. */
int r1_model_generate(const r1_model_shape *shape, const char *type, uint64_t seed, const char *path,
                      int n_threads, r1_error *err);

/* A scripted model, for tests of everything above the engine: with greedy
 * decoding, any prompt that ends in a newline continues with `script` and
 * then the end-of-sequence token. Only for the byte-vocabulary shapes
 * (tiny, tiny-llama); every byte of the script must differ from the others
 * and from the newline. The weights make the model a bigram table: the
 * attention and feed-forward outputs are zero, so the last token alone
 * decides the next (see docs/MODEL-GEN.md). */
int r1_model_generate_scripted(const r1_model_shape *shape, const char *type, uint64_t seed, const char *script,
                               const char *path, int n_threads, r1_error *err);

#endif
