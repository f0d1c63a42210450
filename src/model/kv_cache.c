/* kv_cache.c - block pool and block tables of the KV cache (see kv_cache.h). */
#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

int r1_kv_cache_init(r1_kv_cache *c, int n_layer, int kv_dim, bool with_values, int n_tokens, int n_seq,
                     r1_error *err) {
    memset(c, 0, sizeof *c);
    c->n_layer = n_layer;
    c->kv_dim = kv_dim;
    c->n_blocks = (n_tokens + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS;
    c->n_seq = n_seq;
    size_t floats = (size_t)n_layer * c->n_blocks * R1_KV_BLOCK_TOKENS * (size_t)kv_dim;
    c->keys = malloc(floats * sizeof(float));
    c->values = with_values ? malloc(floats * sizeof(float)) : NULL;
    c->free_blocks = malloc((size_t)c->n_blocks * sizeof(int));
    c->seqs = calloc((size_t)n_seq, sizeof *c->seqs);
    if (!c->keys || (with_values && !c->values) || !c->free_blocks || !c->seqs) {
        r1_kv_cache_free(c);
        return r1_error_set(err, "cannot allocate a KV cache of %d tokens (%zu MiB)", n_tokens,
                            (with_values ? 2 : 1) * floats * sizeof(float) >> 20);
    }
    /* Hand out low block ids first: a stack popped from the end. */
    for (int i = 0; i < c->n_blocks; i++) c->free_blocks[i] = c->n_blocks - 1 - i;
    c->n_free = c->n_blocks;
    return 0;
}

void r1_kv_cache_free(r1_kv_cache *c) {
    if (c->seqs)
        for (int s = 0; s < c->n_seq; s++) free(c->seqs[s].blocks);
    free(c->keys);
    free(c->values);
    free(c->free_blocks);
    free(c->seqs);
    memset(c, 0, sizeof *c);
}

int r1_kv_cache_reserve(r1_kv_cache *c, int seq, int n_positions, r1_error *err) {
    r1_kv_sequence *s = &c->seqs[seq];
    int needed = (n_positions + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS;
    if (needed <= s->n_blocks) return 0;
    if (needed - s->n_blocks > c->n_free)
        return r1_error_set(err, "KV cache full: sequence %d needs %d more blocks of %d tokens, %d free "
                            "(raise the context size)", seq, needed - s->n_blocks, R1_KV_BLOCK_TOKENS, c->n_free);
    int *table = realloc(s->blocks, (size_t)needed * sizeof(int));
    if (!table) return r1_error_set(err, "out of memory growing the block table of sequence %d", seq);
    s->blocks = table;
    while (s->n_blocks < needed) s->blocks[s->n_blocks++] = c->free_blocks[--c->n_free];
    return 0;
}

void r1_kv_cache_truncate(r1_kv_cache *c, int seq, int from) {
    r1_kv_sequence *s = &c->seqs[seq];
    if (from < 0) from = 0;
    if (from < s->length) s->length = from;
    int keep = (from + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS;
    while (s->n_blocks > keep) c->free_blocks[c->n_free++] = s->blocks[--s->n_blocks];
}
