/*
 * model_load.h - helpers the architecture loaders share (model.c defines
 * them): typed metadata reads with defaults, and binding a tensor by name
 * with its expected shape.
 */
#ifndef R1_MODEL_MODEL_LOAD_H
#define R1_MODEL_MODEL_LOAD_H

#include "model/model.h"

/* "<arch>.<suffix>" as a positive int; def < 0 makes the key required. */
int r1_load_int(const gguf_file *f, const char *arch, const char *suffix, int def, int *out, r1_error *err);
int r1_load_float(const gguf_file *f, const char *arch, const char *suffix, float def, float *out, r1_error *err);
int r1_load_bool(const gguf_file *f, const char *arch, const char *suffix, bool def, bool *out, r1_error *err);

/* Binds tensor `name` of shape [ne0, ne1, ne2] (ne1 = 0: a vector; ne2 = 0:
 * a matrix). Vectors must be f32; matrices need kernels for their format. */
int r1_bind_tensor(const gguf_file *f, r1_tensor *t, const char *name, int64_t ne0, int64_t ne1, int64_t ne2,
                   r1_error *err);
/* The same for "blk.<layer>.<suffix>". */
int r1_bind_layer_tensor(const gguf_file *f, r1_tensor *t, int layer, const char *suffix, int64_t ne0,
                         int64_t ne1, int64_t ne2, r1_error *err);
/* Whether "blk.<layer>.<suffix>" exists. */
bool r1_has_layer_tensor(const gguf_file *f, int layer, const char *suffix);

/* deepseek2.c / deepseek2_load.c */
int r1_deepseek2_read_hparams(const gguf_file *f, r1_hparams *hp, r1_error *err);
int r1_deepseek2_bind_layers(r1_model *m, r1_error *err);
void r1_deepseek2_free_layers(r1_model *m);

#endif
