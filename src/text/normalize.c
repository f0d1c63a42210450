/*
 * normalize.c - Unicode NFC (canonical composition) with utf8proc, for the
 * vocabularies whose tokenizer.json normalizes (R1-Distill-Qwen, Qwen2).
 *
 * utf8proc refuses invalid UTF-8, so the text is normalized one valid run
 * at a time and invalid bytes are copied between the runs unchanged (they
 * then become byte tokens, see tokenizer.h).
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tokenizer_internal.h"

/* Length of the run of valid UTF-8 at the start of s[0..n). */
static size_t valid_run(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int clen = utf8_char_len(s + i, n - i);
        if (clen <= 0) break;
        i += (size_t)clen;
    }
    return i;
}

static bool all_ascii(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) return false;
    return true;
}

/* A growing output buffer. */
typedef struct out_buf {
    char *data;
    size_t used, cap;
} out_buf;

static int reserve(out_buf *b, size_t more, r1_error *err) {
    if (b->used + more <= b->cap) return 0;
    size_t cap = (b->used + more) * 2;
    char *grown = realloc(b->data, cap);
    if (!grown) return r1_error_set(err, "out of memory normalizing text");
    b->data = grown;
    b->cap = cap;
    return 0;
}

/* Appends the NFC of the valid run s[0..n). */
static int append_nfc(out_buf *b, const unsigned char *s, size_t n, r1_error *err) {
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map(s, (utf8proc_ssize_t)n, &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) return r1_error_set(err, "NFC normalization failed: %s", utf8proc_errmsg(m));
    int rc = reserve(b, (size_t)m, err);
    if (rc == 0) {
        memcpy(b->data + b->used, nfc, (size_t)m);
        b->used += (size_t)m;
    }
    free(nfc);
    return rc;
}

/* Appends s[0..n) (no normalization) to b. */
static int append_raw(out_buf *b, const unsigned char *s, size_t n, r1_error *err) {
    if (reserve(b, n, err) != 0) return -1;
    memcpy(b->data + b->used, s, n);
    b->used += n;
    return 0;
}

int normalize_nfc(const char *text, size_t len, char **out, size_t *out_len, r1_error *err) {
    const unsigned char *s = (const unsigned char *)text;
    out_buf b = {NULL, 0, 0};
    int rc = reserve(&b, len + 1, err);
    if (rc == 0 && all_ascii(s, len)) { /* ASCII is always NFC */
        rc = append_raw(&b, s, len, err);
    } else {
        for (size_t i = 0; rc == 0 && i < len;) {
            size_t run = valid_run(s + i, len - i);
            if (run > 0) rc = append_nfc(&b, s + i, run, err);
            i += run;
            if (rc == 0 && i < len) rc = append_raw(&b, s + i++, 1, err); /* an invalid byte, kept */
        }
    }
    if (rc != 0) {
        free(b.data);
        return -1;
    }
    *out = b.data;
    *out_len = b.used;
    return 0;
}
