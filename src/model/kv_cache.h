/*
 * kv_cache.h - the paged key/value cache of the attention layers.
 *
 * The cache is a pool of fixed-size blocks (R1_KV_BLOCK_TOKENS positions
 * each); every sequence owns a list of blocks (its block table), taken from
 * the pool as it grows and returned when it is truncated or freed. Many
 * sequences of different lengths thus share one allocation without
 * fragmentation. A block holds, for every layer, the keys and the values of
 * its positions as float32 (kv_dim values each).
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

#define R1_KV_BLOCK_TOKENS 16

typedef struct r1_kv_sequence {
    int *blocks;      /* block table: block ids in position order */
    int n_blocks;
    int length;       /* positions cached */
} r1_kv_sequence;

typedef struct r1_kv_cache {
    int n_layer;
    int kv_dim;       /* floats per position per layer, for K and for V */
    int n_blocks;
    float *keys;      /* [layer][block][slot][kv_dim] */
    float *values;    /* NULL when the cache holds keys only (MLA latents) */
    int *free_blocks; /* stack of free block ids */
    int *refs;        /* per block: sequences whose table holds it */
    int n_free;
    int n_seq;
    r1_kv_sequence *seqs;
} r1_kv_cache;

/* Room for n_tokens positions in total (rounded up to whole blocks).
 * Without values only `keys` is allocated: MLA caches one latent vector
 * per position, from which both keys and values are derived. */
int r1_kv_cache_init(r1_kv_cache *c, int n_layer, int kv_dim, bool with_values, int n_tokens, int n_seq,
                     r1_error *err);
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

/* Where position pos of seq keeps its key / value in layer `layer`. */
static inline size_t r1_kv_cache_offset(const r1_kv_cache *c, int layer, int seq, int pos) {
    int block = c->seqs[seq].blocks[pos / R1_KV_BLOCK_TOKENS];
    size_t slot = ((size_t)layer * c->n_blocks + (size_t)block) * R1_KV_BLOCK_TOKENS +
                  (size_t)(pos % R1_KV_BLOCK_TOKENS);
    return slot * (size_t)c->kv_dim;
}

#endif
