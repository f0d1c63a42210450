/*
 * spm.c - SentencePiece BPE (`tokenizer.ggml.model` = "llama"), as
 * llama.cpp runs it: spaces become U+2581 ("▁"), one is put in front of a
 * fragment that starts the text or follows an added token, and the text
 * starts as one symbol per UTF-8 character. The adjacent pair whose joined
 * text is the vocabulary token with the highest score is merged (leftmost
 * first among equal scores) until no pair joins into a token. A symbol
 * left that is not a token is spelled with <0xXX> byte tokens.
 *
 * Only normal and user-defined tokens can be made by merging: control,
 * byte and unknown tokens are never text in SentencePiece.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

static const char space_marker[] = "\xe2\x96\x81"; /* U+2581 */

/* The symbols of one fragment: byte ranges of `text`, in a linked list. */
typedef struct spm_work {
    const r1_tokenizer *t;
    char *text;
    size_t len;
    int32_t *start, *size, *prev, *next;
    int32_t n;
    pair_heap heap;
} spm_work;

/* text with each space replaced by the marker, and one in front if asked. */
static char *escape_spaces(const char *text, size_t len, bool add_prefix, size_t *out_len) {
    char *out = malloc(3 * (len + 1));
    if (!out) return NULL;
    size_t n = 0;
    if (add_prefix) {
        memcpy(out, space_marker, 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(out + n, space_marker, 3);
            n += 3;
        } else {
            out[n++] = text[i];
        }
    }
    *out_len = n;
    return out;
}

static bool mergeable(const r1_tokenizer *t, int32_t id) {
    return id >= 0 && (t->types[id] == R1_TOKEN_NORMAL || t->types[id] == R1_TOKEN_USER_DEFINED);
}

/* Pushes symbols (left, right) if their joined text is a token. */
static int try_pair(spm_work *w, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return 0;
    int32_t joined = w->size[left] + w->size[right];
    int32_t id = token_map_find(&w->t->by_text, &w->t->texts, w->text + w->start[left], (size_t)joined);
    if (!mergeable(w->t, id)) return 0;
    pair_candidate c = {-(double)w->t->scores[id], left, right, joined, 0, id};
    return pair_heap_push(&w->heap, c);
}

static int split_characters(spm_work *w) {
    size_t n = w->len;
    w->start = malloc(n * sizeof *w->start);
    w->size = malloc(n * sizeof *w->size);
    w->prev = malloc(n * sizeof *w->prev);
    w->next = malloc(n * sizeof *w->next);
    if (!w->start || !w->size || !w->prev || !w->next) return -1;
    for (size_t i = 0; i < n;) {
        int clen = utf8_char_len((const unsigned char *)w->text + i, n - i);
        if (clen <= 0) clen = 1; /* an invalid byte is a symbol of its own */
        w->start[w->n] = (int32_t)i;
        w->size[w->n] = clen;
        w->prev[w->n] = w->n - 1;
        w->next[w->n] = -1;
        if (w->n > 0) w->next[w->n - 1] = w->n;
        w->n++;
        i += (size_t)clen;
    }
    return 0;
}

static int merge_all(spm_work *w) {
    for (int32_t i = 0; i + 1 < w->n; i++)
        if (try_pair(w, i, i + 1) != 0) return -1;
    while (w->heap.n > 0) {
        pair_candidate c = pair_heap_pop(&w->heap);
        int32_t l = c.left, r = c.right;
        if (w->size[l] == 0 || w->size[r] == 0 || w->next[l] != r || w->size[l] + w->size[r] != c.check_a)
            continue; /* stale: one side has changed */
        w->size[l] += w->size[r];
        w->size[r] = 0;
        w->next[l] = w->next[r];
        if (w->next[r] >= 0) w->prev[w->next[r]] = l;
        if (try_pair(w, w->prev[l], l) != 0 || try_pair(w, l, w->next[l]) != 0) return -1;
    }
    return 0;
}

/* Appends the token of symbol i, or its bytes as byte tokens. */
static int emit_symbol(const spm_work *w, int32_t i, id_vec *out) {
    const char *s = w->text + w->start[i];
    int32_t id = token_map_find(&w->t->by_text, &w->t->texts, s, (size_t)w->size[i]);
    if (id >= 0) return id_vec_push(out, id);
    for (int32_t k = 0; k < w->size[i]; k++) {
        int32_t byte = w->t->byte_token[(unsigned char)s[k]];
        if (byte < 0) byte = w->t->unk;
        if (byte >= 0 && id_vec_push(out, byte) != 0) return -1;
    }
    return 0;
}

static void work_free(spm_work *w) {
    free(w->text);
    free(w->start);
    free(w->size);
    free(w->prev);
    free(w->next);
    pair_heap_free(&w->heap);
}

int spm_encode_fragment(const r1_tokenizer *t, const char *text, size_t len, bool add_prefix,
                        id_vec *out, r1_error *err) {
    if (len > INT32_MAX / 4) return r1_error_set(err, "text fragment of %zu bytes is too long", len);
    spm_work w = {.t = t};
    int rc = -1;
    w.text = escape_spaces(text, len, add_prefix, &w.len);
    if (w.text && w.len > 0 && split_characters(&w) == 0 && merge_all(&w) == 0) {
        rc = 0;
        for (int32_t i = 0; i >= 0 && rc == 0; i = w.next[i]) rc = emit_symbol(&w, i, out);
    } else if (w.text && w.len == 0) {
        rc = 0;
    }
    work_free(&w);
    return rc == 0 ? 0 : r1_error_set(err, "out of memory in SentencePiece tokenization");
}
