/*
 * tts_text.c - sentences and readings for speech synthesis (tts_text.h).
 *
 * Everything here works on UTF-8 bytes, decoded by utf8proc: invalid
 * sequences count as one byte and are dropped from what is spoken, so text
 * from a model or a user can never make the synthesiser read junk.
 */
#include "speech/tts_text.h"
#include "text/tokenizer.h"

#include "base/text_buffer.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

/* ---- UTF-8 ---- */

/* The code point at s[0..n) and its length in *size; -1 (size 1) when the
 * bytes are not valid UTF-8 (utf8proc refuses overlong forms, surrogates
 * and code points past U+10FFFF). */
static int32_t utf8_decode(const unsigned char *s, size_t n, size_t *size) {
    utf8proc_int32_t c;
    utf8proc_ssize_t len = utf8proc_iterate(s, n < 4 ? (utf8proc_ssize_t)n : 4, &c);
    *size = len > 0 ? (size_t)len : 1;
    return len > 0 ? c : -1;
}

static bool is_han(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x2FFFF);
}

/* ---- sentences ---- */

static bool is_full_width_end(int32_t c) {
    return c == 0x3002 /* 。 */ || c == 0xFF01 /* ！ */ || c == 0xFF1F /* ？ */ || c == 0xFF1B /* ； */;
}

static bool is_soft_break(int32_t c) {
    return c == ',' || c == ';' || c == ':' || c == 0xFF0C /* ， */ || c == 0x3001 /* 、 */ || c == 0xFF1A /* ： */;
}

/* "Dr." and "e.g." do not end a sentence: the word before the dot is one
 * of these, or a single letter (an initial: "J. R. R. Tolkien"). */
static bool abbreviation_before(const char *text, size_t dot) {
    static const char *const words[] = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "no", "fig"};
    size_t start = dot;
    while (start > 0 && (isalpha((unsigned char)text[start - 1]) || text[start - 1] == '.')) start--;
    size_t n = dot - start;
    if (n == 1) return true;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i]) == n && strncasecmp(text + start, words[i], n) == 0) return true;
    return false;
}

static size_t skip_spaces(const char *text, size_t len, size_t i) {
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) i++;
    return i;
}

size_t tts_sentence_end(const char *text, size_t len, bool final) {
    const unsigned char *s = (const unsigned char *)text;
    size_t boundary = 0, space = 0;
    /* spaces before a sentence belong to it: a blank line is no sentence */
    size_t first = skip_spaces(text, len, 0);
    if (first == len) return final ? len : 0;
    for (size_t i = first; i < len;) {
        size_t size;
        int32_t c = utf8_decode(s + i, len - i, &size);
        if (c < 0 && !final && r1_utf8_char_len((const char *)s + i, len - i) == 0)
            return 0; /* a character cut short: wait for the rest of it */
        size_t next = i + size;
        if (c == '\n') return skip_spaces(text, len, next);
        if (is_full_width_end(c)) return skip_spaces(text, len, next);
        if (c == '.' || c == '!' || c == '?') {
            /* the end only when a space follows (3.14 and "..." mid-word are not) */
            size_t after = next;
            while (after < len && (text[after] == '.' || text[after] == '!' || text[after] == '?' ||
                                   text[after] == '"' || text[after] == '\'' || text[after] == ')'))
                after++;
            if (after < len && (text[after] == ' ' || text[after] == '\n' || text[after] == '\t')) {
                if (!(c == '.' && after == next && abbreviation_before(text, i))) return skip_spaces(text, len, after);
            } else if (after == len && !final) {
                return 0; /* the next bytes say whether this ends the sentence */
            }
            next = after;
        }
        /* lengths count from the first word: leading spaces are not speech */
        if (is_soft_break(c) && i - first >= TTS_SOFT_SENTENCE_BYTES) return skip_spaces(text, len, next);
        if (c == ' ') space = next;
        if (next - first > TTS_MAX_SENTENCE_BYTES) return space ? space : (boundary ? boundary : i);
        if (c >= 0) boundary = next; /* a character boundary to cut at in the worst case */
        i = next;
    }
    return final ? len : 0;
}

/* ---- readings ---- */

static void put(text_buffer *b, const char *s, size_t n) { text_buffer_append(b, s, n); }
static void put_str(text_buffer *b, const char *s) { text_buffer_append_str(b, s); }

static size_t digits_at(const char *s, size_t len, size_t i) {
    size_t n = 0;
    while (i + n < len && isdigit((unsigned char)s[i + n])) n++;
    return n;
}

/* 2026-12-01 (not inside a longer number): "December 1, 2026". */
static size_t english_date(text_buffer *b, const char *s, size_t len, size_t i) {
    static const char *const months[] = {"January", "February", "March",     "April",   "May",      "June",
                                         "July",    "August",   "September", "October", "November", "December"};
    if (i > 0 && isdigit((unsigned char)s[i - 1])) return 0;
    if (i + 10 > len || digits_at(s, len, i) != 4 || s[i + 4] != '-' || digits_at(s, len, i + 5) != 2 ||
        s[i + 7] != '-' || digits_at(s, len, i + 8) != 2 || (i + 10 < len && isdigit((unsigned char)s[i + 10])))
        return 0;
    int month = (s[i + 5] - '0') * 10 + (s[i + 6] - '0'), day = (s[i + 8] - '0') * 10 + (s[i + 9] - '0');
    if (month < 1 || month > 12 || day < 1 || day > 31) return 0;
    char out[64];
    int n = snprintf(out, sizeof out, "%s %d, %.4s", months[month - 1], day, s + i);
    put(b, out, (size_t)n);
    return 10;
}

/* Mandarin: a year (four digits before 年) is read digit by digit. */
static size_t mandarin_year(text_buffer *b, const char *s, size_t len, size_t i) {
    static const char *const digit[] = {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"};
    if (i > 0 && isdigit((unsigned char)s[i - 1])) return 0;
    if (digits_at(s, len, i) != 4 || i + 4 + 3 > len || memcmp(s + i + 4, "年", 3) != 0) return 0;
    for (int k = 0; k < 4; k++) put_str(b, digit[s[i + k] - '0']);
    return 4;
}

/* Mandarin: 50% is 百分之50 (the number itself espeak-ng reads well). */
static size_t mandarin_percent(text_buffer *b, const char *s, size_t len, size_t i) {
    if (i > 0 && isdigit((unsigned char)s[i - 1])) return 0;
    size_t n = digits_at(s, len, i);
    if (n > 0 && i + n + 1 < len && s[i + n] == '.') n += 1 + digits_at(s, len, i + n + 1);
    if (n == 0 || i + n >= len || s[i + n] != '%') return 0;
    put_str(b, "百分之");
    put(b, s + i, n);
    return n + 1;
}

/* A Markdown link [text](target) at s[i]: the text is read (by the main
 * loop, so it gets the same care), "](target)" is not. Returns whether one
 * starts here, with *target_from / *target_to the part to skip. */
static bool markdown_link(const char *s, size_t len, size_t i, size_t *target_from, size_t *target_to) {
    if (s[i] != '[') return false;
    const char *close = memchr(s + i, ']', len - i);
    if (!close || (size_t)(close - s) + 1 >= len || close[1] != '(') return false;
    const char *end = memchr(close, ')', len - (size_t)(close - s));
    if (!end) return false;
    *target_from = (size_t)(close - s);
    *target_to = (size_t)(end - s) + 1;
    return true;
}

char *tts_normalize(const char *sentence, size_t len, bool *mandarin) {
    const unsigned char *s = (const unsigned char *)sentence;
    *mandarin = false;
    for (size_t i = 0, size; i < len; i += size)
        if (is_han(utf8_decode(s + i, len - i, &size))) *mandarin = true;
    text_buffer b = {0};
    put(&b, "", 0);
    size_t link_from = len, link_to = len; /* the "](target)" of a link being read */
    for (size_t i = 0; i < len;) {
        if (i >= link_from) {
            i = i > link_to ? i : link_to;
            link_from = len;
            continue;
        }
        if (link_from == len && markdown_link(sentence, len, i, &link_from, &link_to)) {
            i++; /* the "[" */
            continue;
        }
        size_t used = 0;
        if (isdigit(s[i]))
            used = *mandarin ? mandarin_year(&b, sentence, len, i) : english_date(&b, sentence, len, i);
        if (!used && isdigit(s[i]) && *mandarin) used = mandarin_percent(&b, sentence, len, i);
        if (used) {
            i += used;
            continue;
        }
        size_t size;
        int32_t c = utf8_decode(s + i, len - i, &size);
        if (c < 0 || c == '*' || c == '_' || c == '#' || c == '`' || c == '|' || c == '>' || c == '~' ||
            (c < 0x20 && c != '\n' && c != '\t')) {
            /* Markdown marks, control characters and broken bytes are not spoken */
            if (c == '|' || (c >= 0 && c < 0x20)) put_str(&b, " ");
        } else if (c == '&' && !*mandarin) {
            put_str(&b, " and ");
        } else if (c == '\n' || c == '\t') {
            put_str(&b, " ");
        } else {
            put(&b, sentence + i, size);
        }
        i += size;
    }
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    /* trim the spaces the marks left */
    size_t start = 0, end = b.len;
    while (start < end && b.data[start] == ' ') start++;
    while (end > start && b.data[end - 1] == ' ') end--;
    memmove(b.data, b.data + start, end - start);
    b.data[end - start] = '\0';
    return b.data;
}
