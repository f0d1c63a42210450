/*
 * token_map.c - the two lookup tables of a vocabulary: token text -> id
 * (for merges, SentencePiece pairs and whole-word lookups) and merge pair
 * (left id, right id) -> (rank, merged id). Both are open-addressing tables
 * with linear probing, filled once at load and read-only afterwards, so any
 * number of threads may look things up at once.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

/* FNV-1a, 64-bit. */
uint64_t hash_bytes(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Smallest power of two >= 2 * n (load factor <= 1/2). */
static uint64_t table_capacity(size_t n) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap <<= 1;
    return cap;
}

int token_map_build(token_map *m, const token_texts *texts, r1_error *err) {
    uint64_t cap = table_capacity((size_t)texts->n);
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return r1_error_set(err, "out of memory for the token table (%d tokens)", texts->n);
    memset(m->slots, 0xff, cap * sizeof *m->slots); /* every slot -1 */
    m->mask = cap - 1;
    for (int32_t id = 0; id < texts->n; id++) {
        size_t len;
        const char *s = token_texts_get(texts, id, &len);
        if (len == 0) continue; /* an empty token can never be looked up */
        if (token_map_find(m, texts, s, len) >= 0) {
            return r1_error_set(err, "duplicate token '%.*s' (ids %d and %d)", (int)(len > 64 ? 64 : len), s,
                                token_map_find(m, texts, s, len), id);
        }
        uint64_t i = hash_bytes(s, len) & m->mask;
        while (m->slots[i] >= 0) i = (i + 1) & m->mask;
        m->slots[i] = id;
    }
    return 0;
}

int32_t token_map_find(const token_map *m, const token_texts *texts, const char *s, size_t len) {
    for (uint64_t i = hash_bytes(s, len) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        size_t tlen;
        const char *t = token_texts_get(texts, id, &tlen);
        if (tlen == len && memcmp(t, s, len) == 0) return id;
    }
}

void token_map_free(token_map *m) {
    free(m->slots);
    m->slots = NULL;
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static uint64_t pair_hash(uint64_t key) {
    return (key * 0x9E3779B97F4A7C15ull) ^ (key >> 29);
}

int merge_map_init(merge_map *m, size_t n_merges, r1_error *err) {
    uint64_t cap = table_capacity(n_merges);
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return r1_error_set(err, "out of memory for the merge table (%zu merges)", n_merges);
    for (uint64_t i = 0; i < cap; i++) m->slots[i].key = MERGE_EMPTY;
    m->mask = cap - 1;
    return 0;
}

void merge_map_add(merge_map *m, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    uint64_t key = pair_key(left, right);
    uint64_t i = pair_hash(key) & m->mask;
    while (m->slots[i].key != MERGE_EMPTY) {
        if (m->slots[i].key == key) return;
        i = (i + 1) & m->mask;
    }
    m->slots[i] = (merge_slot){key, rank, merged};
}

const merge_slot *merge_map_find(const merge_map *m, int32_t left, int32_t right) {
    uint64_t key = pair_key(left, right);
    for (uint64_t i = pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (m->slots[i].key == MERGE_EMPTY) return NULL;
    }
}

void merge_map_free(merge_map *m) {
    free(m->slots);
    m->slots = NULL;
}
