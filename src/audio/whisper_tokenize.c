/*
 * whisper_tokenize.c - text to Whisper tokens by longest match (see
 * whisper_tokenize.h). The index is an open-addressing hash table from a
 * token's bytes to its id; when two tokens have the same text, the lower
 * id wins (the one the BPE would produce first).
 */
#include "audio/whisper_tokenize.h"

#include <stdlib.h>
#include <string.h>

struct whisper_token_index {
    const whisper_vocab *v;
    int32_t *slots;  /* token id + 1, 0 = empty */
    size_t n_slots;  /* a power of two */
    int max_len;     /* longest token text, in bytes */
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int lookup(const whisper_token_index *ix, const char *s, size_t n) {
    for (size_t i = hash_bytes(s, n) & (ix->n_slots - 1);; i = (i + 1) & (ix->n_slots - 1)) {
        int32_t id = ix->slots[i] - 1;
        if (id < 0) return -1;
        if ((size_t)ix->v->len[id] == n && memcmp(ix->v->text[id], s, n) == 0) return id;
    }
}

whisper_token_index *whisper_token_index_new(const whisper_vocab *v, r1_error *err) {
    whisper_token_index *ix = calloc(1, sizeof *ix);
    if (!ix) goto oom;
    ix->v = v;
    ix->n_slots = 1;
    while (ix->n_slots < 2 * (size_t)v->n_text) ix->n_slots *= 2;
    ix->slots = calloc(ix->n_slots, sizeof *ix->slots);
    if (!ix->slots) goto oom;
    for (int id = 0; id < v->n_text; id++) {
        size_t n = (size_t)v->len[id];
        if (n == 0 || lookup(ix, v->text[id], n) >= 0) continue;
        size_t i = hash_bytes(v->text[id], n) & (ix->n_slots - 1);
        while (ix->slots[i]) i = (i + 1) & (ix->n_slots - 1);
        ix->slots[i] = id + 1;
        if ((int)n > ix->max_len) ix->max_len = (int)n;
    }
    return ix;
oom:
    whisper_token_index_free(ix);
    r1_error_set(err, "out of memory indexing the Whisper vocabulary");
    return NULL;
}

void whisper_token_index_free(whisper_token_index *ix) {
    if (!ix) return;
    free(ix->slots);
    free(ix);
}

/* Tokens of one word (text[0..n)), longest first. */
static int tokenize_word(const whisper_token_index *ix, const char *text, size_t n, int32_t *out, int cap, int count,
                         r1_error *err) {
    size_t pos = 0;
    while (pos < n) {
        size_t longest = n - pos < (size_t)ix->max_len ? n - pos : (size_t)ix->max_len;
        int id = -1;
        size_t len = longest;
        for (; len > 0 && (id = lookup(ix, text + pos, len)) < 0; len--) {
        }
        if (id < 0) return r1_error_set(err, "prompt: byte 0x%02x has no token in this vocabulary", (uint8_t)text[pos]);
        if (count == cap) return r1_error_set(err, "prompt: more than %d tokens", cap);
        out[count++] = id;
        pos += len;
    }
    return count;
}

int whisper_tokenize(const whisper_token_index *ix, const char *text, size_t len, int32_t *out, int cap,
                     r1_error *err) {
    int count = 0;
    size_t start = 0;
    while (start < len) {
        /* a word: its leading spaces, then everything up to the next space */
        size_t end = start;
        while (end < len && text[end] == ' ') end++;
        while (end < len && text[end] != ' ') end++;
        count = tokenize_word(ix, text + start, end - start, out, cap, count, err);
        if (count < 0) return -1;
        start = end;
    }
    return count;
}
