/*
 * pretokenize.c - splitting text into pieces before BPE, with the regexes
 * of each pre-tokenizer named by `tokenizer.ggml.pre`.
 *
 * A pre-tokenizer is a list of patterns applied in turn, as a sequence of
 * HF `Split(pattern, behavior = Isolated)` steps: each pattern splits every
 * piece the previous one produced into its matches and the text between
 * them, all kept. A pattern only sees the piece it splits, so a look-ahead
 * or `$` stops at the piece's end. The patterns are the ones in the models'
 * tokenizer.json files (llama.cpp's src/llama-vocab.cpp lists them too).
 *
 * Matching uses PCRE2 (UTF + Unicode properties, JIT-compiled where the
 * platform allows). Two details make it agree with HF's Oniguruma:
 *  - `\s` / `\S` are rewritten to the Unicode White_Space set before
 *    compiling: PCRE2's own \s leaves out U+0085 (NEL), which HF counts as
 *    a space.
 *  - PCRE2_MATCH_INVALID_UTF: bytes that are not valid UTF-8 match nothing,
 *    so they stay in the text between matches instead of failing the call.
 * Compiled patterns are read-only; each call makes its own match data, so
 * many threads can pre-tokenize with one pretokenizer.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

#define MAX_PATTERNS 6
#define MAX_NAMES 4

/* Unicode White_Space, as the contents of a character class. */
static const char white_space_class[] =
    "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";

/* GPT-2's pattern (also the ByteLevel pre-tokenizer's default). */
static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Letters with case, in the ranges DeepSeek LLM's tokenizer.json spells
 * out (written as code points: several of them are canonical singletons
 * that an editor's NFC would silently change, e.g. U+2126 OHM SIGN). */
static const char deepseek_llm_letters[] =
    "\\s?[A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}\\x{1c4}-\\x{293}"
    "\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}\\x{37f}\\x{386}\\x{388}-\\x{38a}"
    "\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}"
    "\\x{10a0}-\\x{10c5}\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}"
    "\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}\\x{1f18}-\\x{1f1d}"
    "\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}"
    "\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}"
    "\\x{1fd6}-\\x{1fdb}\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}"
    "\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}\\x{212a}-\\x{212d}"
    "\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}\\x{214e}\\x{2183}\\x{2184}"
    "\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}"
    "\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}"
    "\\x{fb00}-\\x{fb06}\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}"
    "\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}"
    "\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}]+";

/* CJK ideographs, everything from U+0800 up to them, and Hangul. */
static const char deepseek_cjk_hangul[] = "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+";

typedef struct pretok_rule {
    const char *names[MAX_NAMES + 1];      /* values of tokenizer.ggml.pre */
    const char *patterns[MAX_PATTERNS + 1];
    bool nfc;           /* tokenizer.json has an NFC normalizer */
    bool ignore_merges; /* tokenizer.json BPE has ignore_merges: true */
    bool force_bos;     /* add BOS unless the file says otherwise */
} pretok_rule;

static const pretok_rule rules[] = {
    {.names = {"deepseek-v3"},
     .patterns = {"\\p{N}{1,3}", "[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+",
                  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|"
                  "[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {.names = {"deepseek-r1-qwen", "qwen2"},
     .patterns = {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     .nfc = true},
    {.names = {"llama-bpe", "llama3", "llama-v3"},
     .patterns = {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
     .ignore_merges = true,
     .force_bos = true},
    {.names = {"deepseek-llm"},
     .patterns = {"[\\r\\n]", deepseek_llm_letters,
                  "\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+", "\\s+$",
                  deepseek_cjk_hangul, "\\p{N}+"}},
    {.names = {"deepseek-coder"},
     .patterns = {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", deepseek_cjk_hangul, "\\p{N}"}},
    {.names = {"gpt-2", "gpt2"}, .patterns = {gpt2_pattern}},
    {.names = {"starcoder"}, .patterns = {"\\p{N}", gpt2_pattern}},
    {.names = {"falcon"},
     .patterns = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2_pattern, "[0-9][0-9][0-9]"}},
    {.names = {"default"},
     .patterns = {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2_pattern, "\\p{N}+", "[0-9][0-9][0-9]"}},
};

struct pretokenizer {
    int n;
    pcre2_code *code[MAX_PATTERNS];
};

static const pretok_rule *find_rule(const char *name) {
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
        for (const char *const *n = rules[r].names; *n; n++)
            if (strcmp(*n, name) == 0) return &rules[r];
    return NULL;
}

static int unknown_name_error(const char *name, r1_error *err) {
    char known[512] = "";
    size_t used = 0;
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++)
        for (const char *const *n = rules[r].names; *n && used < sizeof known; n++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", *n);
    return r1_error_set(err, "unknown pre-tokenizer '%s' (known: %s)", name, known);
}

/* Appends s to the growing pattern text at *out. */
static void append(char *out, size_t *n, const char *s, size_t len) {
    memcpy(out + *n, s, len);
    *n += len;
}

/* Rewrites \s and \S to the White_Space class, inside and outside
 * character classes; every other escape is copied as it is. */
static char *expand_white_space(const char *pattern) {
    size_t cls = strlen(white_space_class);
    char *out = malloc(strlen(pattern) * (cls + 4) + 1);
    if (!out) return NULL;
    size_t n = 0;
    bool in_class = false;
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '\\' && (p[1] == 's' || p[1] == 'S')) {
            bool negated = p[1] == 'S';
            if (!in_class) append(out, &n, negated ? "[^" : "[", negated ? 2 : 1);
            append(out, &n, white_space_class, cls); /* (\S never occurs inside a class) */
            if (!in_class) append(out, &n, "]", 1);
            p++;
        } else if (p[0] == '\\' && p[1]) {
            append(out, &n, p, 2);
            p++;
        } else if (p[0] == '[' && !in_class) {
            in_class = true;
            append(out, &n, p, 1);
            if (p[1] == '^') append(out, &n, ++p, 1);
            if (p[1] == ']') append(out, &n, ++p, 1); /* a leading ] is literal */
        } else {
            if (p[0] == ']') in_class = false;
            append(out, &n, p, 1);
        }
    }
    out[n] = '\0';
    return out;
}

static int compile_pattern(const char *pattern, pcre2_code **out, r1_error *err) {
    char *expanded = expand_white_space(pattern);
    if (!expanded) return r1_error_set(err, "out of memory compiling a pre-tokenizer pattern");
    int code;
    PCRE2_SIZE offset;
    uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    *out = pcre2_compile((PCRE2_SPTR)expanded, PCRE2_ZERO_TERMINATED, options, &code, &offset, NULL);
    free(expanded);
    if (!*out) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return r1_error_set(err, "pre-tokenizer pattern '%.60s': %s at offset %zu", pattern, (char *)msg,
                            (size_t)offset);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
    return 0;
}

int pretokenizer_create(const char *name, pretokenizer **out, bool *nfc, bool *ignore_merges,
                        bool *force_bos, r1_error *err) {
    *out = NULL;
    const pretok_rule *rule = find_rule(name);
    if (!rule) return unknown_name_error(name, err);
    pretokenizer *p = calloc(1, sizeof *p);
    if (!p) return r1_error_set(err, "out of memory");
    for (const char *const *pat = rule->patterns; *pat; pat++) {
        if (compile_pattern(*pat, &p->code[p->n], err) != 0) {
            pretokenizer_free(p);
            return -1;
        }
        p->n++;
    }
    *nfc = rule->nfc;
    *ignore_merges = rule->ignore_merges;
    *force_bos = rule->force_bos;
    *out = p;
    return 0;
}

void pretokenizer_free(pretokenizer *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->code[i]);
    free(p);
}

/* The next match of code in text[0..len) at or after pos: 1 with
 * [*start, *end), 0 for none, -1 on a matching error. */
static int next_match(const pcre2_code *code, const char *text, size_t len, size_t pos, pcre2_match_data *md,
                      size_t *start, size_t *end, r1_error *err) {
    int rc = pcre2_match(code, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its frames on the heap */
        rc = pcre2_match(code, (PCRE2_SPTR)text, len, pos, PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return r1_error_set(err, "pre-tokenizer: matching failed: %s", (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *start = ov[0];
    *end = ov[1];
    return 1;
}

typedef struct split_job {
    const pretokenizer *p;
    pcre2_match_data *md;
    piece_fn fn;
    void *user;
    r1_error *err;
} split_job;

/* Splits text[0..len) with pattern `level` and passes every part on to the
 * next level; past the last pattern, parts go to the caller's function. */
static int split_level(const split_job *job, int level, const char *text, size_t len) {
    if (level == job->p->n) return job->fn(job->user, text, len, job->err);
    size_t pos = 0, search = 0;
    while (search < len) {
        size_t start, end;
        int found = next_match(job->p->code[level], text, len, search, job->md, &start, &end, job->err);
        if (found < 0) return -1;
        if (!found) break;
        if (end == start) { /* an empty match splits nothing: look further */
            int clen = utf8_char_len((const unsigned char *)text + start, len - start);
            search = start + (size_t)(clen > 0 ? clen : 1);
            continue;
        }
        if (start > pos && split_level(job, level + 1, text + pos, start - pos) != 0) return -1;
        if (split_level(job, level + 1, text + start, end - start) != 0) return -1;
        pos = search = end;
    }
    if (pos < len) return split_level(job, level + 1, text + pos, len - pos);
    return 0;
}

int pretokenize(const pretokenizer *p, const char *text, size_t len, piece_fn fn, void *user,
                r1_error *err) {
    if (len == 0) return 0;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return r1_error_set(err, "out of memory");
    split_job job = {p, md, fn, user, err};
    int rc = split_level(&job, 0, text, len);
    pcre2_match_data_free(md);
    return rc;
}
