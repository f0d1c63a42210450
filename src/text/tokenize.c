/*
 * tokenize.c - r1_tokenize: the whole pipeline for one text.
 *
 *   1. added tokens are found first (special.c) and cut the text into
 *      fragments; each added token is one id;
 *   2. BPE: each fragment is NFC-normalized where the vocabulary says so,
 *      split by the pre-tokenizer regexes, and each piece BPE-encoded;
 *      SentencePiece: each fragment is encoded as a whole (spm.c);
 *   3. BOS goes first when asked for and the vocabulary adds one.
 *
 * All working memory belongs to the call, so calls on one tokenizer can
 * run in parallel.
 */
#include <stdlib.h>

#include "text/tokenizer_internal.h"

typedef struct encode_state {
    const r1_tokenizer *t;
    bpe_scratch scratch;
    id_vec out;
} encode_state;

static int encode_piece(void *user, const char *piece, size_t len, r1_error *err) {
    encode_state *st = user;
    return bpe_encode_piece(st->t, piece, len, &st->scratch, &st->out, err);
}

static int encode_bpe_fragment(encode_state *st, const char *text, size_t len, r1_error *err) {
    if (!st->t->normalize_nfc) return pretokenize(st->t->pre, text, len, encode_piece, st, err);
    char *normalized;
    size_t normalized_len;
    if (normalize_nfc(text, len, &normalized, &normalized_len, err) != 0) return -1;
    int rc = pretokenize(st->t->pre, normalized, normalized_len, encode_piece, st, err);
    free(normalized);
    return rc;
}

/* A fragment of plain text; `after_special`: it starts the text or follows
 * an added token (where SentencePiece puts its leading space). */
static int encode_fragment(encode_state *st, const char *text, size_t len, bool after_special,
                           r1_error *err) {
    if (st->t->kind == TOKENIZER_SPM)
        return spm_encode_fragment(st->t, text, len, st->t->add_space_prefix && after_special, &st->out, err);
    return encode_bpe_fragment(st, text, len, err);
}

static int encode_text(encode_state *st, const char *text, size_t len, bool parse_special, r1_error *err) {
    size_t pos = 0;
    bool after_special = true;
    while (pos < len) {
        size_t start = len, match_len = 0;
        int32_t id = special_find_next(st->t, text, len, pos, parse_special, &start, &match_len);
        if (start > pos && encode_fragment(st, text + pos, start - pos, after_special, err) != 0) return -1;
        if (id < 0) break;
        if (id_vec_push(&st->out, id) != 0) return r1_error_set(err, "out of memory tokenizing");
        after_special = true;
        pos = start + match_len;
    }
    return 0;
}

int r1_tokenize(const r1_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                int32_t **ids, size_t *n_ids, r1_error *err) {
    encode_state st = {.t = t};
    *ids = NULL;
    *n_ids = 0;
    int rc = 0;
    if (add_bos && r1_tokenizer_adds_bos(t) && id_vec_push(&st.out, t->bos) != 0)
        rc = r1_error_set(err, "out of memory tokenizing");
    if (rc == 0) rc = encode_text(&st, text, len, parse_special, err);
    bpe_scratch_free(&st.scratch);
    if (rc != 0) {
        free(st.out.data);
        return -1;
    }
    *ids = st.out.data;
    *n_ids = st.out.n;
    return 0;
}
