/* kv_cache.c - block pool, block tables and prefix sharing of the KV cache
 * (see kv_cache.h). */
#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* The keys' or the values' area. A long context's cache is read whole at
 * every decode step and is far larger than what the TLB maps in 4 KB pages:
 * in 2 MB pages (a hint the kernel may decline), the scores and value sums
 * over 2048 positions of the 1.5B shape took 5.5 instead of 6.7 ms per
 * token (1 thread). Small caches stay on the ordinary heap. */
enum { HUGE_PAGE_BYTES = 2 << 20 };

static uint8_t *cache_area_alloc(size_t bytes) {
    if (bytes < HUGE_PAGE_BYTES) return malloc(bytes);
    size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    uint8_t *p = aligned_alloc(HUGE_PAGE_BYTES, rounded);
    if (p) madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

int r1_kv_cache_init(r1_kv_cache *c, int n_layer, int n_heads, int head_dim, r1_kv_type type, bool with_values,
                     int n_tokens, int n_seq, r1_error *err) {
    memset(c, 0, sizeof *c);
    if (type != R1_KV_F32 && type != R1_KV_F16) return r1_error_set(err, "KV cache type %d is not f16 or f32", type);
    c->n_layer = n_layer;
    c->n_heads = n_heads;
    c->head_dim = head_dim;
    c->kv_dim = n_heads * head_dim;
    c->type = type;
    c->value_bytes = type == R1_KV_F16 ? sizeof(uint16_t) : sizeof(float);
    c->n_blocks = (n_tokens + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS;
    c->n_seq = n_seq;
    size_t area = (size_t)n_layer * c->n_blocks * R1_KV_BLOCK_TOKENS * (size_t)c->kv_dim * c->value_bytes;
    c->keys = cache_area_alloc(area);
    c->values = with_values ? cache_area_alloc(area) : NULL;
    c->free_blocks = malloc((size_t)c->n_blocks * sizeof(int));
    c->refs = calloc((size_t)c->n_blocks, sizeof(int));
    c->seqs = calloc((size_t)n_seq, sizeof *c->seqs);
    if (!c->keys || (with_values && !c->values) || !c->free_blocks || !c->refs || !c->seqs) {
        r1_kv_cache_free(c);
        return r1_error_set(err, "cannot allocate a KV cache of %d tokens (%zu MiB)", n_tokens,
                            (with_values ? 2 : 1) * area >> 20);
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
    free(c->refs);
    free(c->seqs);
    memset(c, 0, sizeof *c);
}

static int take_free_block(r1_kv_cache *c) {
    int block = c->free_blocks[--c->n_free];
    c->refs[block] = 1;
    return block;
}

static void release_block(r1_kv_cache *c, int block) {
    if (--c->refs[block] == 0) c->free_blocks[c->n_free++] = block;
}

void r1_kv_cache_write_row(const r1_kv_cache *c, void *at, const float *row, r1_quantize_fn to_half) {
    if (c->type == R1_KV_F16) to_half(row, at, c->head_dim);
    else memcpy(at, row, (size_t)c->head_dim * sizeof(float));
}

/* Copies the first n_positions slots of block `from` into block `to`, in
 * every layer and head. */
static void copy_block(r1_kv_cache *c, int from, int to, int n_positions) {
    size_t row_bytes = (size_t)c->head_dim * c->value_bytes, block_bytes = R1_KV_BLOCK_TOKENS * row_bytes;
    size_t n = (size_t)n_positions * row_bytes;
    for (int area = 0; area < c->n_layer * c->n_heads; area++) { /* one (layer, head) */
        size_t base = (size_t)area * c->n_blocks * block_bytes;
        memcpy(c->keys + base + (size_t)to * block_bytes, c->keys + base + (size_t)from * block_bytes, n);
        if (c->values)
            memcpy(c->values + base + (size_t)to * block_bytes, c->values + base + (size_t)from * block_bytes, n);
    }
}

static int grow_table(r1_kv_sequence *s, int n_blocks) {
    int *table = realloc(s->blocks, (size_t)(n_blocks > 0 ? n_blocks : 1) * sizeof(int));
    if (!table) return -1;
    s->blocks = table;
    return 0;
}

int r1_kv_cache_reserve(r1_kv_cache *c, int seq, int n_positions, r1_error *err) {
    r1_kv_sequence *s = &c->seqs[seq];
    int needed = (n_positions + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS;
    if (needed <= s->n_blocks) return 0;
    if (needed - s->n_blocks > c->n_free)
        return r1_error_set(err, "KV cache full: sequence %d needs %d more blocks of %d tokens, %d free "
                            "(raise the context size)", seq, needed - s->n_blocks, R1_KV_BLOCK_TOKENS, c->n_free);
    if (grow_table(s, needed) != 0)
        return r1_error_set(err, "out of memory growing the block table of sequence %d", seq);
    while (s->n_blocks < needed) s->blocks[s->n_blocks++] = take_free_block(c);
    return 0;
}

int r1_kv_cache_truncate(r1_kv_cache *c, int seq, int from) {
    r1_kv_sequence *s = &c->seqs[seq];
    if (from < 0) from = 0;
    if (from < s->length) s->length = from;
    int keep = (from + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS;
    while (s->n_blocks > keep) release_block(c, s->blocks[--s->n_blocks]);
    int used_in_last = s->length % R1_KV_BLOCK_TOKENS;
    if (used_in_last != 0 && s->n_blocks > 0 && c->refs[s->blocks[s->n_blocks - 1]] > 1) {
        /* The next write would land in a block another sequence reads. */
        int shared = s->blocks[s->n_blocks - 1];
        if (c->n_free > 0) {
            int copy = take_free_block(c);
            copy_block(c, shared, copy, used_in_last);
            s->blocks[s->n_blocks - 1] = copy;
        } else {
            s->n_blocks--;
            s->length -= used_in_last;
        }
        release_block(c, shared);
    }
    return s->length;
}

int r1_kv_cache_share(r1_kv_cache *c, int dst, int src, int n, r1_error *err) {
    r1_kv_sequence *d = &c->seqs[dst], *s = &c->seqs[src];
    if (dst == src || d->length != 0 || d->n_blocks != 0)
        return r1_error_set(err, "sequence %d must be empty to share a prefix of sequence %d", dst, src);
    if (n < 0 || n > s->length)
        return r1_error_set(err, "cannot share %d positions of sequence %d, which has %d", n, src, s->length);
    int whole = n / R1_KV_BLOCK_TOKENS, partial = n % R1_KV_BLOCK_TOKENS;
    if (partial && c->n_free == 0) return r1_error_set(err, "KV cache full: no block to copy a shared prefix into");
    if (grow_table(d, whole + (partial ? 1 : 0)) != 0) return r1_error_set(err, "out of memory");
    for (int i = 0; i < whole; i++) {
        d->blocks[i] = s->blocks[i];
        c->refs[s->blocks[i]]++;
    }
    d->n_blocks = whole;
    if (partial) {
        int copy = take_free_block(c);
        copy_block(c, s->blocks[whole], copy, partial);
        d->blocks[d->n_blocks++] = copy;
    }
    d->length = n;
    return 0;
}
