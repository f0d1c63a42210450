/*
 * bytelevel.c - GPT-2's byte-level encoding: each of the 256 byte values is
 * shown as one printable character, so BPE vocabularies can hold any bytes
 * as text. Printable Latin-1 bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand
 * for themselves; the other 68 take the code points 256, 257, ... in byte
 * order (so a space is U+0120 'Ġ' and a newline U+010A 'Ċ').
 */
#include "text/tokenizer_internal.h"

/* The 68 bytes that are not shown as themselves, in three runs. */
#define LOW_RUN_END 0x20   /* 0x00..0x20: 33 bytes -> 256..288 */
#define MID_RUN_START 0x7F /* 0x7F..0xA0: 34 bytes -> 289..322 */
#define MID_RUN_END 0xA0
#define SOFT_HYPHEN 0xAD   /* -> 323 */

uint32_t bytelevel_char_of_byte(uint8_t b) {
    if (b <= LOW_RUN_END) return 256u + b;
    if (b >= MID_RUN_START && b <= MID_RUN_END) return 256u + 33u + (uint32_t)(b - MID_RUN_START);
    if (b == SOFT_HYPHEN) return 256u + 33u + 34u;
    return b;
}

int bytelevel_byte_of_char(uint32_t c) {
    if (c <= 0xFF) {
        bool shifted = c <= LOW_RUN_END || (c >= MID_RUN_START && c <= MID_RUN_END) || c == SOFT_HYPHEN;
        return shifted ? -1 : (int)c;
    }
    if (c < 256 + 33) return (int)(c - 256);
    if (c < 256 + 33 + 34) return (int)(MID_RUN_START + (c - 256 - 33));
    if (c == 256 + 33 + 34) return SOFT_HYPHEN;
    return -1;
}

int bytelevel_encode_byte(uint8_t b, char *out) {
    return utf8_encode(bytelevel_char_of_byte(b), out);
}

size_t bytelevel_decode(const char *text, size_t len, char *out) {
    const unsigned char *s = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int clen = utf8_char_len(s + i, len - i);
        int byte = clen > 0 ? bytelevel_byte_of_char(utf8_decode(s + i, clen)) : -1;
        if (clen <= 0) clen = 1;
        if (byte >= 0) {
            out[n++] = (char)byte;
        } else { /* not a byte-level character: keep it as it is */
            for (int k = 0; k < clen; k++) out[n++] = (char)s[i + k];
        }
        i += (size_t)clen;
    }
    return n;
}
