/*
 * detokenize.c - from ids back to text: each token's piece (its bytes,
 * computed once at load), r1_detokenize, and the streaming detokenizer
 * that never hands out part of a UTF-8 character.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

static const char replacement_char[] = "\xef\xbf\xbd"; /* U+FFFD */

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xXX>" -> the byte, or -1. */
static int parse_byte_token(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int high = hex_digit(s[3]), low = hex_digit(s[4]);
    return high < 0 || low < 0 ? -1 : high * 16 + low;
}

/* SentencePiece text: U+2581 back to spaces. Returns the length. */
static size_t unescape_spaces(const char *s, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (i + 2 < len && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            out[n++] = ' ';
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    return n;
}

/* Writes the piece of token id to out (room for its text length). */
static size_t decode_piece(const r1_tokenizer *t, int32_t id, char *out) {
    size_t len;
    const char *s = token_texts_get(&t->texts, id, &len);
    r1_token_type type = (r1_token_type)t->types[id];
    if (type == R1_TOKEN_UNUSED) return 0;
    if (special_is_added(type)) {
        memcpy(out, s, len);
        return len;
    }
    int byte = type == R1_TOKEN_BYTE ? parse_byte_token(s, len) : -1;
    if (byte >= 0) {
        out[0] = (char)byte;
        return 1;
    }
    if (t->kind == TOKENIZER_SPM) return unescape_spaces(s, len, out);
    return bytelevel_decode(s, len, out);
}

int pieces_build(r1_tokenizer *t, r1_error *err) {
    size_t total = t->texts.off[t->n_vocab]; /* decoding never lengthens a token */
    t->pieces.arena = malloc(total ? total : 1);
    t->pieces.off = malloc(((size_t)t->n_vocab + 1) * sizeof *t->pieces.off);
    if (!t->pieces.arena || !t->pieces.off) return r1_error_set(err, "out of memory for the token pieces");
    t->pieces.n = t->n_vocab;
    uint32_t used = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->pieces.off[id] = used;
        size_t n = decode_piece(t, id, t->pieces.arena + used);
        if (n > t->max_piece_len) t->max_piece_len = n;
        used += (uint32_t)n;
    }
    t->pieces.off[t->n_vocab] = used;
    return 0;
}

const char *r1_token_piece(const r1_tokenizer *t, int32_t id, size_t *len) {
    *len = 0;
    if (id < 0 || id >= t->n_vocab) return NULL;
    return token_texts_get(&t->pieces, id, len);
}

const char *r1_token_text(const r1_tokenizer *t, int32_t id, size_t *len) {
    *len = 0;
    if (id < 0 || id >= t->n_vocab) return NULL;
    return token_texts_get(&t->texts, id, len);
}

/* The piece of id as it appears in running text: SentencePiece drops the
 * space it put in front of a fragment at the start or after an added
 * token. *after_special is updated for the next token. */
static const char *running_piece(const r1_tokenizer *t, int32_t id, bool *after_special, size_t *len) {
    const char *p = token_texts_get(&t->pieces, id, len);
    bool added = special_is_added((r1_token_type)t->types[id]);
    if (t->kind == TOKENIZER_SPM && t->add_space_prefix && *after_special && !added && *len > 0 && p[0] == ' ') {
        p++;
        (*len)--;
    }
    *after_special = added;
    return p;
}

static int check_id(const r1_tokenizer *t, int32_t id, r1_error *err) {
    if (id >= 0 && id < t->n_vocab) return 0;
    return r1_error_set(err, "token id %d is outside the vocabulary (0..%d)", id, t->n_vocab - 1);
}

int r1_detokenize(const r1_tokenizer *t, const int32_t *ids, size_t n, char **text, size_t *len,
                  r1_error *err) {
    *text = NULL;
    *len = 0;
    size_t total = 0, plen;
    bool after_special = true;
    for (size_t i = 0; i < n; i++) {
        if (check_id(t, ids[i], err) != 0) return -1;
        running_piece(t, ids[i], &after_special, &plen);
        total += plen;
    }
    char *out = malloc(total + 1);
    if (!out) return r1_error_set(err, "out of memory detokenizing %zu tokens", n);
    after_special = true;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = running_piece(t, ids[i], &after_special, &plen);
        memcpy(out + used, p, plen);
        used += plen;
    }
    out[used] = '\0';
    *text = out;
    *len = used;
    return 0;
}

/* ---- streaming ---- */

void r1_detok_stream_init(r1_detok_stream *s, const r1_tokenizer *t) {
    memset(s, 0, sizeof *s);
    s->tok = t;
    s->after_special = true;
}

void r1_detok_stream_free(r1_detok_stream *s) {
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

static int reserve_output(r1_detok_stream *s, size_t need, r1_error *err) {
    if (need <= s->cap) return 0;
    char *grown = realloc(s->buf, need);
    if (!grown) return r1_error_set(err, "out of memory in the streaming detokenizer");
    s->buf = grown;
    s->cap = need;
    return 0;
}

static void put(r1_detok_stream *s, size_t *n, const void *bytes, size_t len) {
    memcpy(s->buf + *n, bytes, len);
    *n += len;
}

/* Completes the held-back character with bytes from the piece. Returns how
 * many piece bytes it took. */
static size_t drain_pending(r1_detok_stream *s, const char *piece, size_t plen, size_t *n) {
    size_t used = 0;
    while (s->n_pending > 0) {
        int clen = utf8_char_len(s->pending, s->n_pending);
        if (clen > 0) { /* complete */
            put(s, n, s->pending, s->n_pending);
            s->n_pending = 0;
        } else if (clen < 0) { /* its first byte can never be valid */
            put(s, n, replacement_char, 3);
            memmove(s->pending, s->pending + 1, --s->n_pending);
        } else if (used < plen) { /* still incomplete: take one more byte */
            s->pending[s->n_pending++] = (unsigned char)piece[used++];
        } else {
            break;
        }
    }
    return used;
}

/* Emits the complete characters of p[0..len) and holds back a cut-short
 * one at the end. */
static void emit_complete(r1_detok_stream *s, const char *p, size_t len, size_t *n) {
    for (size_t i = 0; i < len;) {
        int clen = utf8_char_len((const unsigned char *)p + i, len - i);
        if (clen > 0) {
            put(s, n, p + i, (size_t)clen);
            i += (size_t)clen;
        } else if (clen < 0) {
            put(s, n, replacement_char, 3);
            i++;
        } else { /* at most 3 bytes: the start of a character */
            memcpy(s->pending, p + i, len - i);
            s->n_pending = len - i;
            break;
        }
    }
}

int r1_detok_stream_feed(r1_detok_stream *s, int32_t id, const char **out, size_t *out_len, r1_error *err) {
    *out = "";
    *out_len = 0;
    if (check_id(s->tok, id, err) != 0) return -1;
    size_t plen;
    const char *piece = running_piece(s->tok, id, &s->after_special, &plen);
    if (reserve_output(s, 3 * (plen + sizeof s->pending) + 1, err) != 0) return -1;
    size_t n = 0;
    size_t used = drain_pending(s, piece, plen, &n);
    emit_complete(s, piece + used, plen - used, &n);
    *out = s->buf;
    *out_len = n;
    return 0;
}

int r1_detok_stream_flush(r1_detok_stream *s, const char **out, size_t *out_len, r1_error *err) {
    *out = "";
    *out_len = 0;
    if (reserve_output(s, 4, err) != 0) return -1;
    size_t n = 0;
    if (s->n_pending > 0) put(s, &n, replacement_char, 3); /* a character cut short for good */
    s->n_pending = 0;
    s->after_special = true;
    *out = s->buf;
    *out_len = n;
    return 0;
}
