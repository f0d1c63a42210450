/*
 * kv_cache.h - the paged key/value cache of the attention layers.
 *
 * The cache is a pool of fixed-size blocks (R1_KV_BLOCK_TOKENS positions
 * each); every sequence owns a list of blocks (its block table), taken from
 * the pool as it grows and returned when it is truncated or freed. Many
 * sequences of different lengths thus share one allocation without
 * fragmentation. A block holds, for every layer and KV head, the keys and
 * the values of its positions (head_dim values each), as float32 or as
 * IEEE half.
 *
 * Layout: [layer][KV head][block][slot][head_dim], so that one head's rows
 * of a sequence whose blocks were taken in order (the usual case) form one
 * stream in memory: attention reads a head's keys and values position after
 * position, and rows of the other head interleaved between them made the
 * hardware fetch lines nobody read (decode after 2048 positions, 1.5B shape:
 * scores and value sums of a KV head from memory 96-112 -> 61-65 us f32,
 * 60-67 -> 41-43 us f16, in a microbenchmark of the attention kernels).
 *
 * Sequences that begin with the same tokens (a shared system prompt) can
 * share the blocks of that prefix: blocks are reference-counted, and a block
 * is only ever written while one sequence owns it. A sequence writes only
 * at positions >= its length, so it is enough to keep the block that holds
 * position `length` private: sharing copies a partly-used last block, and
 * truncating into the middle of a shared block copies it first.
 */
#ifndef R1_MODEL_KV_CACHE_H
#define R1_MODEL_KV_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "r1.h"
#include "tensor/kernels.h"

#define R1_KV_BLOCK_TOKENS 16

typedef struct r1_kv_sequence {
    int *blocks;      /* block table: block ids in position order */
    int n_blocks;
    int length;       /* positions cached */
} r1_kv_sequence;

typedef struct r1_kv_cache {
    int n_layer;
    int n_heads;      /* KV heads (MLA: 1, the latent vector) */
    int head_dim;     /* values per position, layer and head */
    int kv_dim;       /* n_heads * head_dim: per position and layer, for K and for V */
    r1_kv_type type;  /* R1_KV_F32 or R1_KV_F16 */
    size_t value_bytes; /* 4 or 2: the size of one stored value */
    int n_blocks;
    uint8_t *keys;    /* [layer][head][block][slot][head_dim] values of value_bytes */
    uint8_t *values;  /* NULL when the cache holds keys only (MLA latents) */
    int *free_blocks; /* stack of free block ids */
    int *refs;        /* per block: sequences whose table holds it */
    int n_free;
    int n_seq;
    r1_kv_sequence *seqs;
} r1_kv_cache;

/* Room for n_tokens positions in total (rounded up to whole blocks), of
 * n_heads rows of head_dim values per layer, each value stored as `type`
 * (R1_KV_F32 or R1_KV_F16). Without values only `keys` is allocated: MLA
 * caches one latent vector per position (1 head), from which both keys and
 * values are derived. */
int r1_kv_cache_init(r1_kv_cache *c, int n_layer, int n_heads, int head_dim, r1_kv_type type, bool with_values,
                     int n_tokens, int n_seq, r1_error *err);
void r1_kv_cache_free(r1_kv_cache *c);

/* Makes sure positions [0, n_positions) of seq have blocks. Fails (cache
 * full) without changing anything. */
int r1_kv_cache_reserve(r1_kv_cache *c, int seq, int n_positions, r1_error *err);

/* Drops positions >= from of seq, returning blocks no sequence uses any
 * more to the pool. Returns the new length: `from`, or less in the rare case
 * where from falls inside a shared block and no free block is left to copy
 * it into (the shared block is then dropped whole). */
int r1_kv_cache_truncate(r1_kv_cache *c, int seq, int from);

/* Makes the empty sequence dst begin with the first n positions of src:
 * whole blocks are shared, a partly-used last block is copied. */
int r1_kv_cache_share(r1_kv_cache *c, int dst, int src, int n, r1_error *err);

/* Where position pos of seq keeps the key / value row of KV head `head` in
 * layer `layer`, in bytes from the start of the keys' (values') area. */
static inline size_t r1_kv_cache_offset(const r1_kv_cache *c, int layer, int head, int seq, int pos) {
    int block = c->seqs[seq].blocks[pos / R1_KV_BLOCK_TOKENS];
    size_t row = (((size_t)layer * c->n_heads + (size_t)head) * c->n_blocks + (size_t)block) * R1_KV_BLOCK_TOKENS +
                 (size_t)(pos % R1_KV_BLOCK_TOKENS);
    return row * (size_t)c->head_dim * c->value_bytes;
}

static inline void *r1_kv_cache_key(const r1_kv_cache *c, int layer, int head, int seq, int pos) {
    return c->keys + r1_kv_cache_offset(c, layer, head, seq, pos);
}
static inline void *r1_kv_cache_value(const r1_kv_cache *c, int layer, int head, int seq, int pos) {
    return c->values + r1_kv_cache_offset(c, layer, head, seq, pos);
}

/* Writes one row (head_dim floats) at `at` (from r1_kv_cache_key/value) in
 * the cache's type: copied, or converted to half by to_half (a kernel
 * set's f16 quantize: round to nearest even). */
void r1_kv_cache_write_row(const r1_kv_cache *c, void *at, const float *row, r1_quantize_fn to_half);

#endif
