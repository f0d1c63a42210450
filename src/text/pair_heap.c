/*
 * pair_heap.c - the min-heap of candidate merges that BPE (bpe.c) and
 * SentencePiece (spm.c) share: the candidate with the lowest key pops
 * first, the leftmost one among equal keys.
 */
#include <stdlib.h>

#include "text/tokenizer_internal.h"

static bool before(const pair_candidate *a, const pair_candidate *b) {
    return a->key < b->key || (a->key == b->key && a->left < b->left);
}

int pair_heap_push(pair_heap *h, pair_candidate c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        pair_candidate *grown = realloc(h->items, cap * sizeof *grown);
        if (!grown) return -1;
        h->items = grown;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && before(&c, &h->items[(i - 1) / 2])) { /* sift up */
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = c;
    return 0;
}

pair_candidate pair_heap_pop(pair_heap *h) {
    pair_candidate top = h->items[0], last = h->items[--h->n];
    size_t i = 0;
    for (;;) { /* sift the last item down from the root */
        size_t child = 2 * i + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && before(&h->items[child + 1], &h->items[child])) child++;
        if (!before(&h->items[child], &last)) break;
        h->items[i] = h->items[child];
        i = child;
    }
    if (h->n > 0) h->items[i] = last;
    return top;
}

void pair_heap_free(pair_heap *h) {
    free(h->items);
    h->items = NULL;
    h->n = h->cap = 0;
}
