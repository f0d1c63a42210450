/*
 * utf8.c - UTF-8 character lengths, decoding and encoding, strict as in
 * RFC 3629 (no overlong forms, no surrogates, nothing above U+10FFFF):
 * the streaming detokenizer relies on "valid" meaning what JSON encoders
 * and browsers accept.
 */
#include "text/tokenizer_internal.h"

/* The allowed range of the second byte after each lead byte; later bytes
 * are always 0x80..0xBF. */
static void second_byte_range(unsigned char lead, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (lead == 0xE0) *lo = 0xA0;      /* no overlong 3-byte forms */
    else if (lead == 0xED) *hi = 0x9F; /* no surrogates */
    else if (lead == 0xF0) *lo = 0x90; /* no overlong 4-byte forms */
    else if (lead == 0xF4) *hi = 0x8F; /* nothing above U+10FFFF */
}

static int sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return -1; /* continuation byte, C0/C1, F5..FF */
}

int utf8_char_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    int need = sequence_length(s[0]);
    if (need <= 1) return need;
    unsigned char lo, hi;
    second_byte_range(s[0], &lo, &hi);
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= n) return 0; /* valid so far, cut short */
        if (s[i] < lo || s[i] > hi) return -1;
        lo = 0x80;
        hi = 0xBF;
    }
    return need;
}

int r1_utf8_char_len(const char *s, size_t n) {
    return utf8_char_len((const unsigned char *)s, n);
}

uint32_t utf8_decode(const unsigned char *s, int len) {
    if (len == 1) return s[0];
    uint32_t c = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) c = (c << 6) | (s[i] & 0x3F);
    return c;
}

int utf8_encode(uint32_t c, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}
