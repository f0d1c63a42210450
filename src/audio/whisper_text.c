/*
 * whisper_text.c - Whisper token bytes joined into valid UTF-8, carrying a
 * character split across tokens to the next piece (see whisper_text.h).
 */
#include "audio/whisper_text.h"

#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */

void whisper_text_init(whisper_text *t) {
    memset(t, 0, sizeof *t);
}

void whisper_text_free(whisper_text *t) {
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* Room for `more` bytes plus the terminating NUL. */
static int reserve(whisper_text *t, size_t more, r1_error *err) {
    size_t need = t->len + more + 1;
    if (need <= t->cap) return 0;
    size_t cap = t->cap ? t->cap : 64;
    while (cap < need) cap *= 2;
    char *data = realloc(t->data, cap);
    if (!data) return r1_error_set(err, "whisper text: out of memory for %zu bytes", cap);
    t->data = data;
    t->cap = cap;
    return 0;
}

static void put(whisper_text *t, const void *bytes, size_t n) {
    memcpy(t->data + t->len, bytes, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Length of the invalid piece at s[0..n) that one U+FFFD replaces: the
 * longest start of a character that was valid until the byte after it,
 * or the one byte that can start nothing. */
static size_t invalid_piece(const char *s, size_t n) {
    size_t piece = 1;
    for (size_t k = 2; k <= 3 && k <= n; k++)
        if (r1_utf8_char_len(s, k) == 0) piece = k;
    return piece;
}

/* Emits the complete characters of s[0..n) and carries an incomplete end. */
static void convert(whisper_text *t, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int k = r1_utf8_char_len(s + i, n - i);
        if (k > 0) {
            put(t, s + i, (size_t)k);
            i += (size_t)k;
        } else if (k == 0) { /* fewer than 4 bytes: the start of a character */
            t->n_carry = (int)(n - i);
            memcpy(t->carry, s + i, n - i);
            return;
        } else {
            put(t, REPLACEMENT, 3);
            i += invalid_piece(s + i, n - i);
        }
    }
}

int whisper_text_append(whisper_text *t, const char *bytes, size_t n, r1_error *err) {
    size_t total = (size_t)t->n_carry + n;
    /* each input byte gives at most 3 output bytes (one U+FFFD) */
    if (reserve(t, 3 * total, err) != 0) return -1;
    char *joined = malloc(total ? total : 1);
    if (!joined) return r1_error_set(err, "whisper text: out of memory");
    memcpy(joined, t->carry, (size_t)t->n_carry);
    if (n) memcpy(joined + t->n_carry, bytes, n);
    t->n_carry = 0;
    convert(t, joined, total);
    free(joined);
    return 0;
}

int whisper_text_append_token(whisper_text *t, const whisper_vocab *v, int id, r1_error *err) {
    if (id < 0 || id >= v->n_vocab)
        return r1_error_set(err, "whisper text: token %d outside the vocab of %d", id, v->n_vocab);
    if (id >= v->eot || !v->text[id]) return 0;
    return whisper_text_append(t, v->text[id], (size_t)v->len[id], err);
}

int whisper_text_finish(whisper_text *t, r1_error *err) {
    if (reserve(t, 3, err) != 0) return -1;
    if (t->n_carry > 0) put(t, REPLACEMENT, 3); /* one maximal piece */
    else t->data[t->len] = '\0';             /* a string even when empty */
    t->n_carry = 0;
    return 0;
}
