/*
 * special.c - finding added tokens (<｜User｜>, <think>, <|eot_id|>, ...) in
 * text before it is pre-tokenized, as HF `tokenizers` does: the leftmost
 * match wins, and among the tokens matching at that position the longest.
 *
 * The added tokens are kept sorted bytewise by text. Walking down that
 * sorted list one byte at a time (two binary searches per byte) is a trie
 * without the memory of one; a table of the bytes any added token starts
 * with lets almost every position of ordinary text be skipped at once.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

bool special_is_added(r1_token_type type) {
    return type == R1_TOKEN_CONTROL || type == R1_TOKEN_USER_DEFINED || type == R1_TOKEN_UNKNOWN;
}

/* An added token while sorting: its text travels with it, since qsort's
 * comparison gets no context. */
typedef struct sort_entry {
    const char *text;
    size_t len;
    int32_t id;
} sort_entry;

/* Bytewise order; a prefix sorts before the longer text. */
static int compare_entries(const void *pa, const void *pb) {
    const sort_entry *a = pa, *b = pb;
    int c = memcmp(a->text, b->text, a->len < b->len ? a->len : b->len);
    if (c != 0) return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

int special_index_build(r1_tokenizer *t, r1_error *err) {
    sort_entry *entries = malloc((size_t)t->n_vocab * sizeof *entries);
    if (!entries) return r1_error_set(err, "out of memory for the added tokens");
    int32_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = token_texts_get(&t->texts, id, &len);
        if (!special_is_added((r1_token_type)t->types[id]) || len == 0) continue;
        entries[n++] = (sort_entry){s, len, id};
        t->special_first_byte[(unsigned char)s[0]] = true;
    }
    qsort(entries, (size_t)n, sizeof *entries, compare_entries);
    t->special_ids = malloc((size_t)(n ? n : 1) * sizeof *t->special_ids);
    if (!t->special_ids) {
        free(entries);
        return r1_error_set(err, "out of memory for the added tokens");
    }
    for (int32_t i = 0; i < n; i++) t->special_ids[i] = entries[i].id;
    t->n_special = n;
    free(entries);
    return 0;
}

/* Byte k of token id (caller checks k < its length). */
static unsigned char byte_at(const r1_tokenizer *t, int32_t id, size_t k) {
    return (unsigned char)t->texts.arena[t->texts.off[id] + k];
}

static size_t text_len(const r1_tokenizer *t, int32_t id) {
    return t->texts.off[id + 1] - t->texts.off[id];
}

/* Narrows [*lo, *hi) - the tokens that agree with the text on bytes
 * 0..k-1, none shorter than k - to those whose byte k is c. */
static void narrow(const r1_tokenizer *t, size_t k, unsigned char c, int32_t *lo, int32_t *hi) {
    const int32_t *ids = t->special_ids;
    if (*lo < *hi && text_len(t, ids[*lo]) == k) (*lo)++; /* the one ending here */
    int32_t a = *lo, b = *hi;
    while (a < b) { /* first with byte k >= c */
        int32_t mid = a + (b - a) / 2;
        if (byte_at(t, ids[mid], k) < c) a = mid + 1;
        else b = mid;
    }
    int32_t first = a;
    b = *hi;
    while (a < b) { /* first with byte k > c */
        int32_t mid = a + (b - a) / 2;
        if (byte_at(t, ids[mid], k) <= c) a = mid + 1;
        else b = mid;
    }
    *lo = first;
    *hi = a;
}

static bool matchable(const r1_tokenizer *t, int32_t id, bool parse_special) {
    return parse_special || t->types[id] == R1_TOKEN_USER_DEFINED;
}

/* The longest matchable added token at the start of s[0..n), or -1. */
static int32_t longest_at(const r1_tokenizer *t, const unsigned char *s, size_t n, bool parse_special,
                          size_t *match_len) {
    int32_t lo = 0, hi = t->n_special, best = -1;
    for (size_t k = 0; k < n && lo < hi; k++) {
        narrow(t, k, s[k], &lo, &hi);
        if (lo < hi && text_len(t, t->special_ids[lo]) == k + 1 &&
            matchable(t, t->special_ids[lo], parse_special)) {
            best = t->special_ids[lo];
            *match_len = k + 1;
        }
    }
    return best;
}

int32_t special_find_next(const r1_tokenizer *t, const char *text, size_t len, size_t from,
                          bool parse_special, size_t *start, size_t *match_len) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t pos = from; pos < len; pos++) {
        if (!t->special_first_byte[s[pos]]) continue;
        int32_t id = longest_at(t, s + pos, len - pos, parse_special, match_len);
        if (id >= 0) {
            *start = pos;
            return id;
        }
    }
    return -1;
}
