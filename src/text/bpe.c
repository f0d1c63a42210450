/*
 * bpe.c - byte-level BPE: loading the merge list, and encoding one
 * pre-tokenized piece.
 *
 * A piece starts as one symbol per byte (the token of the byte's
 * byte-level character). The adjacent pair with the lowest merge rank is
 * merged, leftmost first among equal ranks, until no adjacent pair has a
 * merge - the rule of HF `tokenizers` and of the original GPT-2 code. The
 * symbols form a linked list and the candidate pairs sit in a min-heap
 * keyed by (rank, position); a candidate whose symbols have changed since
 * it was pushed is stale and skipped when popped. Each merge costs
 * O(log n), so even one long piece (a paragraph of Chinese is a single
 * piece for DeepSeek-V3) encodes in O(n log n).
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

int id_vec_push(id_vec *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *grown = realloc(v->data, cap * sizeof *grown);
        if (!grown) return -1;
        v->data = grown;
        v->cap = cap;
    }
    v->data[v->n++] = id;
    return 0;
}

/* ---- loading ---- */

/* One merge "LEFT RIGHT" (split at the first space after the first byte,
 * so a left part may itself be a space in non-byte-level vocabularies). */
static void add_merge(r1_tokenizer *t, const gguf_string *m, int32_t rank, char *buf) {
    const char *space = m->len > 1 ? memchr(m->ptr + 1, ' ', m->len - 1) : NULL;
    if (!space) return;
    size_t left_len = (size_t)(space - m->ptr), right_len = m->len - left_len - 1;
    int32_t left = token_map_find(&t->by_text, &t->texts, m->ptr, left_len);
    int32_t right = token_map_find(&t->by_text, &t->texts, space + 1, right_len);
    if (left < 0 || right < 0) return; /* HF refuses such files; llama.cpp never uses them */
    memcpy(buf, m->ptr, left_len);
    memcpy(buf + left_len, space + 1, right_len);
    int32_t merged = token_map_find(&t->by_text, &t->texts, buf, left_len + right_len);
    if (merged < 0) return;
    merge_map_add(&t->merges, left, right, rank, merged);
}

int bpe_load_merges(r1_tokenizer *t, const gguf_array *merges, r1_error *err) {
    if (merges->elem_type != GGUF_TYPE_STRING)
        return r1_error_set(err, "tokenizer.ggml.merges: array of %s, expected strings",
                            gguf_type_name(merges->elem_type));
    if (merges->count > INT32_MAX) return r1_error_set(err, "tokenizer.ggml.merges: too many merges");
    if (merge_map_init(&t->merges, (size_t)merges->count, err) != 0) return -1;
    size_t longest = 0;
    for (uint64_t i = 0; i < merges->count; i++)
        if (merges->strings[i].len > longest) longest = merges->strings[i].len;
    char *buf = malloc(longest + 1);
    if (!buf) return r1_error_set(err, "out of memory for the merges");
    for (uint64_t i = 0; i < merges->count; i++) add_merge(t, &merges->strings[i], (int32_t)i, buf);
    free(buf);
    return 0;
}

/* ---- encoding ---- */

void bpe_scratch_free(bpe_scratch *s) {
    free(s->ids);
    free(s->prev);
    free(s->next);
    pair_heap_free(&s->heap);
    free(s->encoded);
    memset(s, 0, sizeof *s);
}

static int scratch_reserve(bpe_scratch *s, size_t n) {
    if (n > s->cap) {
        int32_t *ids = realloc(s->ids, n * sizeof *ids);
        if (ids) s->ids = ids;
        int32_t *prev = realloc(s->prev, n * sizeof *prev);
        if (prev) s->prev = prev;
        int32_t *next = realloc(s->next, n * sizeof *next);
        if (next) s->next = next;
        if (!ids || !prev || !next) return -1;
        s->cap = n;
    }
    if (2 * n > s->encoded_cap) {
        char *enc = realloc(s->encoded, 2 * n);
        if (!enc) return -1;
        s->encoded = enc;
        s->encoded_cap = 2 * n;
    }
    return 0;
}

/* Pushes the pair (left, right) if it has a merge. */
static int push_pair(const r1_tokenizer *t, bpe_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0 || s->ids[left] < 0 || s->ids[right] < 0) return 0;
    const merge_slot *m = merge_map_find(&t->merges, s->ids[left], s->ids[right]);
    if (!m) return 0;
    pair_candidate c = {(double)m->rank, left, right, s->ids[left], s->ids[right], m->merged};
    return pair_heap_push(&s->heap, c);
}

/* False when either symbol has been merged since c was pushed. */
static bool still_valid(const bpe_scratch *s, const pair_candidate *c) {
    return s->next[c->left] == c->right && s->ids[c->left] == c->check_a && s->ids[c->right] == c->check_b;
}

/* Runs the merges over symbols 0..n-1 (already set up as a list). */
static int merge_all(const r1_tokenizer *t, bpe_scratch *s, int32_t n) {
    pair_heap *h = &s->heap;
    h->n = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        if (push_pair(t, s, i, i + 1) != 0) return -1;
    while (h->n > 0) {
        pair_candidate c = pair_heap_pop(h);
        if (!still_valid(s, &c)) continue;
        s->ids[c.left] = c.result;
        s->next[c.left] = s->next[c.right];
        if (s->next[c.right] >= 0) s->prev[s->next[c.right]] = c.left;
        s->next[c.right] = -2; /* dead: no candidate can match it again */
        if (push_pair(t, s, s->prev[c.left], c.left) != 0) return -1;
        if (push_pair(t, s, c.left, s->next[c.left]) != 0) return -1;
    }
    return 0;
}

/* Llama-3's ignore_merges: a piece whose byte-level text is a token is
 * that token, whatever the merges would make of it. Returns its id or -1. */
static int32_t whole_piece_token(const r1_tokenizer *t, bpe_scratch *s, const char *piece, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += (size_t)bytelevel_encode_byte((uint8_t)piece[i], s->encoded + n);
    return token_map_find(&t->by_text, &t->texts, s->encoded, n);
}

int bpe_encode_piece(const r1_tokenizer *t, const char *piece, size_t len, bpe_scratch *s, id_vec *out,
                     r1_error *err) {
    if (len == 0) return 0;
    if (len > INT32_MAX || scratch_reserve(s, len) != 0) return r1_error_set(err, "out of memory in BPE");
    if (t->ignore_merges) {
        int32_t id = whole_piece_token(t, s, piece, len);
        if (id >= 0) return id_vec_push(out, id) == 0 ? 0 : r1_error_set(err, "out of memory in BPE");
    }
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++) {
        s->ids[i] = t->byte_token[(uint8_t)piece[i]];
        s->prev[i] = i - 1;
        s->next[i] = i + 1 < n ? i + 1 : -1;
    }
    if (merge_all(t, s, n) != 0) return r1_error_set(err, "out of memory in BPE");
    for (int32_t i = 0; i >= 0; i = s->next[i]) {
        if (s->ids[i] < 0) continue; /* a byte the vocabulary cannot spell: dropped, as llama.cpp does */
        if (id_vec_push(out, s->ids[i]) != 0) return r1_error_set(err, "out of memory in BPE");
    }
    return 0;
}
