/*
 * test_whisper_rules.c - Whisper's token-level decoding logic with
 * constructed logits: special ids per model kind, the language table, the
 * suppression and timestamp rules, language detection, the fallback
 * verdict, segments and seek, and UTF-8 text from split token bytes. Most
 * tests use a synthetic vocab (ordinary tokens "w<id>" with a few chosen
 * texts); the real vocab of the test model checks the non-speech table
 * against OpenAI's published list.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/whisper_rules.h"
#include "testutil.h"
#include "text/tokenizer.h"

/* ---- vocabularies ---- */

/* Chosen texts of the synthetic vocab; every other ordinary token is
 * "w<id>", which no rule looks for. */
enum {
    TOK_BLANK = 10,        /* " " */
    TOK_QUOTE = 11,        /* "\"": non-speech */
    TOK_SPACE_PAREN = 12,  /* " (": non-speech */
    TOK_NOTE = 13,         /* "♪": non-speech */
    TOK_SPACE_DASH = 14,   /* " -": non-speech (no word starts with it) */
    TOK_SPACE_QUOTE1 = 15, /* " '": non-speech */
    TOK_DASH = 16,         /* "-": speech (inside words) */
    TOK_APOSTROPHE = 17,   /* "'": speech */
    TOK_HELLO = 18,        /* "hello" */
    TOK_WORLD = 19,        /* " world" */
    TOK_CHEVRONS = 20,     /* ">>": non-speech */
    TOK_MUSIC_HEAD = 21,   /* "\xe2\x99": first piece of ♩♫♬♭♮♯ (not single tokens here) */
    TOK_COMMA = 22,        /* ",": speech */
    TOK_JIN_HEAD = 23,     /* first two bytes of 今 */
    TOK_JIN_TAIL = 24,     /* last byte of 今 */
    TOK_TIAN = 25,         /* 天 */
};

static const struct {
    int id;
    const char *text;
} CHOSEN[] = {
    {TOK_BLANK, " "},          {TOK_QUOTE, "\""},           {TOK_SPACE_PAREN, " ("},  {TOK_NOTE, "♪"},
    {TOK_SPACE_DASH, " -"},    {TOK_SPACE_QUOTE1, " '"},    {TOK_DASH, "-"},          {TOK_APOSTROPHE, "'"},
    {TOK_HELLO, "hello"},      {TOK_WORLD, " world"},       {TOK_CHEVRONS, ">>"},     {TOK_MUSIC_HEAD, "\xe2\x99"},
    {TOK_COMMA, ","},          {TOK_JIN_HEAD, "\xe4\xbb"},  {TOK_JIN_TAIL, "\x8a"},   {TOK_TIAN, "天"},
};

static char *copy_bytes(const char *s, size_t n) {
    char *c = malloc(n + 1);
    assert_non_null(c);
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

/* A synthetic vocab of the kind n_vocab implies (English-only 51864,
 * multilingual 51865, large-v3 51866). */
static whisper_vocab synthetic_vocab(int n_vocab) {
    whisper_vocab v = {0};
    v.n_vocab = n_vocab;
    v.n_text = n_vocab == 51864 ? 50256 : 50257;
    v.text = calloc((size_t)n_vocab, sizeof(char *));
    v.len = calloc((size_t)n_vocab, sizeof(int));
    assert_non_null(v.text);
    assert_non_null(v.len);
    for (int id = 0; id < v.n_text; id++) {
        char name[16];
        int n = snprintf(name, sizeof name, "w%d", id);
        v.text[id] = copy_bytes(name, (size_t)n);
        v.len[id] = n;
    }
    for (size_t i = 0; i < sizeof CHOSEN / sizeof CHOSEN[0]; i++) {
        free(v.text[CHOSEN[i].id]);
        v.len[CHOSEN[i].id] = (int)strlen(CHOSEN[i].text);
        v.text[CHOSEN[i].id] = copy_bytes(CHOSEN[i].text, strlen(CHOSEN[i].text));
    }
    r1_error err = {{0}};
    if (whisper_vocab_set_specials(&v, &err) != 0) fail_msg("set_specials(%d): %s", n_vocab, err.message);
    return v;
}

static int32_t read_i32(const unsigned char *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

/* The vocab of the test model: magic, 11 hparams, mel filters, then the
 * stored token texts (README "ggml Whisper model file format"). */
static bool real_vocab(whisper_vocab *v) {
    if (!test_require_testdata("asr")) return false;
    size_t size = 0;
    unsigned char *file = test_read_file(test_testdata_path("asr/whisper-tiny-random-f32.bin"), &size);
    assert_non_null(file);
    assert_true(size > 4 + 11 * 4 + 8);
    assert_int_equal(read_i32(file), 0x67676d6c);
    size_t at = 4;
    memset(v, 0, sizeof *v);
    v->n_vocab = read_i32(file + at);
    at += 11 * 4;
    int n_mel = read_i32(file + at), n_fft = read_i32(file + at + 4);
    at += 8 + (size_t)n_mel * (size_t)n_fft * 4;
    v->n_text = read_i32(file + at);
    at += 4;
    assert_int_equal(v->n_vocab, 51865);
    assert_int_equal(v->n_text, 50257);
    v->text = calloc((size_t)v->n_vocab, sizeof(char *));
    v->len = calloc((size_t)v->n_vocab, sizeof(int));
    for (int id = 0; id < v->n_text; id++) {
        assert_true(at + 4 <= size);
        int n = read_i32(file + at);
        at += 4;
        assert_true(n >= 0 && at + (size_t)n <= size);
        v->text[id] = copy_bytes((const char *)file + at, (size_t)n);
        v->len[id] = n;
        at += (size_t)n;
    }
    free(file);
    r1_error err = {{0}};
    if (whisper_vocab_set_specials(v, &err) != 0) fail_msg("set_specials: %s", err.message);
    return true;
}

static whisper_rules *rules_for(const whisper_vocab *v) {
    r1_error err = {{0}};
    whisper_rules *r = whisper_rules_new(v, &err);
    if (!r) fail_msg("whisper_rules_new: %s", err.message);
    return r;
}

static bool is_text(const whisper_vocab *v, int id, const char *expect) {
    return v->len[id] == (int)strlen(expect) && memcmp(v->text[id], expect, strlen(expect)) == 0;
}

#define assert_token_text(v, id, expect)                                                                              \
    do {                                                                                                               \
        if (!is_text((v), (id), (expect)))                                                                             \
            fail_msg("token %d is '%.*s', expected '%s'", (id), (v)->len[(id)], (v)->text[(id)], (expect));            \
    } while (0)

static float *filled_logits(const whisper_vocab *v, float value) {
    float *logits = malloc(sizeof(float) * (size_t)v->n_vocab);
    assert_non_null(logits);
    for (int i = 0; i < v->n_vocab; i++) logits[i] = value;
    return logits;
}

static bool banned(const float *logits, int id) {
    return isinf(logits[id]) && logits[id] < 0;
}

/* ---- special ids and names ---- */

static void test_special_ids_per_model_kind(void **state) {
    (void)state;
    static const struct {
        int n_vocab, eot, sot, translate, transcribe, solm, prev, nosp, notimestamps, timestamp_begin, n_languages;
        bool multilingual;
    } KINDS[] = {
        {51864, 50256, 50257, 50357, 50358, 50359, 50360, 50361, 50362, 50363, 99, false},
        {51865, 50257, 50258, 50358, 50359, 50360, 50361, 50362, 50363, 50364, 99, true},
        {51866, 50257, 50258, 50359, 50360, 50361, 50362, 50363, 50364, 50365, 100, true},
    };
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        whisper_vocab v = synthetic_vocab(KINDS[k].n_vocab);
        assert_int_equal(v.eot, KINDS[k].eot);
        assert_int_equal(v.sot, KINDS[k].sot);
        assert_int_equal(v.lang_first, KINDS[k].sot + 1);
        assert_int_equal(v.translate, KINDS[k].translate);
        assert_int_equal(v.transcribe, KINDS[k].transcribe);
        assert_int_equal(v.solm, KINDS[k].solm);
        assert_int_equal(v.prev, KINDS[k].prev);
        assert_int_equal(v.nosp, KINDS[k].nosp);
        assert_int_equal(v.notimestamps, KINDS[k].notimestamps);
        assert_int_equal(v.timestamp_begin, KINDS[k].timestamp_begin);
        assert_int_equal(v.n_languages, KINDS[k].n_languages);
        assert_int_equal(v.multilingual, KINDS[k].multilingual);
        /* the language tokens fill the gap between sot and translate */
        assert_int_equal(v.lang_first + v.n_languages, v.translate);
        /* 1501 timestamps: 0.00 to 30.00 s in 0.02 s steps */
        assert_int_equal(v.n_vocab - v.timestamp_begin, 1501);

        assert_token_text(&v, v.eot, "<|endoftext|>");
        assert_token_text(&v, v.sot, "<|startoftranscript|>");
        assert_token_text(&v, v.lang_first, "<|en|>");
        assert_token_text(&v, v.lang_first + 1, "<|zh|>");
        assert_token_text(&v, v.lang_first + 98, "<|su|>");
        assert_token_text(&v, v.translate, "<|translate|>");
        assert_token_text(&v, v.transcribe, "<|transcribe|>");
        assert_token_text(&v, v.solm, "<|startoflm|>");
        assert_token_text(&v, v.prev, "<|startofprev|>");
        assert_token_text(&v, v.nosp, "<|nospeech|>");
        assert_token_text(&v, v.notimestamps, "<|notimestamps|>");
        assert_token_text(&v, v.timestamp_begin, "<|0.00|>");
        assert_token_text(&v, v.timestamp_begin + 1, "<|0.02|>");
        assert_token_text(&v, v.timestamp_begin + 50, "<|1.00|>");
        assert_token_text(&v, v.timestamp_begin + 1234, "<|24.68|>");
        assert_token_text(&v, v.n_vocab - 1, "<|30.00|>");
        assert_true(fabs(whisper_timestamp_seconds(&v, v.timestamp_begin + 50) - 1.0) < 1e-12);
        /* ordinary tokens keep their stored text */
        assert_token_text(&v, TOK_HELLO, "hello");
        whisper_vocab_free(&v);
    }
    whisper_vocab v = synthetic_vocab(51866);
    assert_token_text(&v, v.lang_first + 99, "<|yue|>");
    /* calling again renames the specials without leaking (ASan checks) */
    r1_error err = {{0}};
    assert_int_equal(whisper_vocab_set_specials(&v, &err), 0);
    assert_token_text(&v, v.sot, "<|startoftranscript|>");
    whisper_vocab_free(&v);
}

static void test_set_specials_rejects_unknown_kinds(void **state) {
    (void)state;
    r1_error err = {{0}};
    whisper_vocab v = {0};
    v.n_vocab = 50000;
    v.n_text = 40000;
    v.text = calloc(50000, sizeof(char *));
    v.len = calloc(50000, sizeof(int));
    assert_int_equal(whisper_vocab_set_specials(&v, &err), -1);
    assert_non_null(strstr(err.message, "50000"));
    whisper_vocab_free(&v);

    /* stored tokens reaching <|startoftranscript|> cannot be Whisper's */
    v.n_vocab = 51865;
    v.n_text = 50300;
    v.text = calloc(51865, sizeof(char *));
    v.len = calloc(51865, sizeof(int));
    memset(&err, 0, sizeof err);
    assert_int_equal(whisper_vocab_set_specials(&v, &err), -1);
    assert_non_null(strstr(err.message, "50300"));
    whisper_vocab_free(&v);

    whisper_vocab empty = {0};
    empty.n_vocab = 51865;
    assert_int_equal(whisper_vocab_set_specials(&empty, &err), -1);
    assert_null(whisper_rules_new(&empty, &err)); /* no specials: no rules */
}

static void test_language_table(void **state) {
    (void)state;
    const char *first[] = {"en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl"};
    for (int i = 0; i < 11; i++) assert_string_equal(whisper_language_code(i), first[i]);
    assert_string_equal(whisper_language_name(0), "english");
    assert_string_equal(whisper_language_name(1), "chinese");
    assert_string_equal(whisper_language_code(98), "su");
    assert_string_equal(whisper_language_code(99), "yue");
    assert_string_equal(whisper_language_name(99), "cantonese");
    assert_null(whisper_language_code(100));
    assert_null(whisper_language_code(-1));
    assert_null(whisper_language_name(100));

    whisper_vocab multi = synthetic_vocab(51865), v3 = synthetic_vocab(51866);
    assert_int_equal(whisper_language_index(&multi, "en"), 0);
    assert_int_equal(whisper_language_index(&multi, "zh"), 1);
    assert_int_equal(whisper_language_index(&multi, "Chinese"), 1);
    assert_int_equal(whisper_language_index(&multi, "ZH"), 1);
    assert_int_equal(whisper_language_index(&multi, "haw"), 93);
    assert_int_equal(whisper_language_index(&multi, "yue"), -1); /* only large-v3 has it */
    assert_int_equal(whisper_language_index(&v3, "yue"), 99);
    assert_int_equal(whisper_language_index(NULL, "yue"), 99);
    assert_int_equal(whisper_language_index(&multi, "xx"), -1);
    assert_int_equal(whisper_language_index(&multi, ""), -1);
    assert_int_equal(whisper_language_index(&multi, NULL), -1);
    /* codes are unique: each finds itself */
    for (int i = 0; i < 100; i++) assert_int_equal(whisper_language_index(NULL, whisper_language_code(i)), i);
    whisper_vocab_free(&multi);
    whisper_vocab_free(&v3);
}

/* ---- suppression ---- */

/* Text logits 0 and timestamp logits -10: the timestamps' total mass
 * (1501 e^-10, log about -2.7) stays below a text token, so only the
 * sequence rules act. */
static float *text_favoured_logits(const whisper_vocab *v) {
    float *logits = filled_logits(v, 0.0f);
    for (int t = v->timestamp_begin; t < v->n_vocab; t++) logits[t] = -10.0f;
    return logits;
}


static void test_non_speech_table_from_texts(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    whisper_rules *r = rules_for(&v);
    assert_int_equal(whisper_rules_blank_token(r), TOK_BLANK);
    const int *ids = NULL;
    int n = whisper_rules_non_speech(r, &ids);
    /* "\"", " (", "♪", ">>", the music signs' shared first piece, " -", " '";
     * not " " (only ♩♪.. with a space would reach it), "-", "'", "," */
    int expect[] = {TOK_QUOTE, TOK_SPACE_PAREN, TOK_NOTE, TOK_SPACE_DASH, TOK_SPACE_QUOTE1, TOK_CHEVRONS,
                    TOK_MUSIC_HEAD};
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++) {
        bool found = false;
        for (int j = 0; j < n; j++) found = found || ids[j] == expect[i];
        if (!found) fail_msg("token %d is not in the non-speech table", expect[i]);
    }
    for (int j = 1; j < n; j++) assert_true(ids[j - 1] < ids[j]); /* sorted */
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

/* OpenAI's non_speech_tokens for the multilingual tokenizer (the list
 * whisper-tiny's generation config carries, specials removed). */
static const int OPENAI_NON_SPEECH_MULTILINGUAL[] = {
    1,     2,     7,     8,     9,     10,    14,    25,    26,    27,    28,    29,    31,    58,    59,    60,    61,
    62,    63,    90,    91,    92,    93,    359,   503,   522,   542,   873,   893,   902,   918,   922,   931,   1350,
    1853,  1982,  2460,  2627,  3246,  3253,  3268,  3536,  3846,  3961,  4183,  4667,  6585,  6647,  7273,  9061,  9383,
    10428, 10929, 11938, 12033, 12331, 12562, 13793, 14157, 14635, 15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675,
    22520, 26130, 26161, 26435, 28279, 29464, 31650, 32302, 32470, 36865, 42863, 47425, 49870, 50254,
};

static void test_real_vocab_tables(void **state) {
    (void)state;
    whisper_vocab v;
    if (!real_vocab(&v)) {
        skip();
        return;
    }
    assert_int_equal(v.sot, 50258);
    assert_int_equal(v.timestamp_begin, 50364);
    assert_token_text(&v, 50259, "<|en|>");
    assert_token_text(&v, 12074, "今天");
    assert_token_text(&v, 1654, "我");
    whisper_rules *r = rules_for(&v);
    assert_int_equal(whisper_rules_blank_token(r), 220);

    const int *ids = NULL;
    int n = whisper_rules_non_speech(r, &ids);
    int n_expect = (int)(sizeof OPENAI_NON_SPEECH_MULTILINGUAL / sizeof OPENAI_NON_SPEECH_MULTILINGUAL[0]);
    int matched = 0;
    for (int i = 0; i < n_expect; i++) {
        int id = OPENAI_NON_SPEECH_MULTILINGUAL[i];
        bool found = false;
        for (int j = 0; j < n; j++) found = found || ids[j] == id;
        if (found) {
            matched++;
        } else if (!is_text(&v, id, " \xEF\xBF\xBD") && !is_text(&v, id, "\xEF\xBF\xBD")) {
            /* only tokens whose bytes this lossy vocab lost may be missed:
             * the test vocab stores byte pieces as U+FFFD (README) */
            fail_msg("OpenAI's non-speech token %d ('%.*s') is missing", id, v.len[id], v.text[id]);
        }
    }
    for (int j = 0; j < n; j++) {
        bool listed = false;
        for (int i = 0; i < n_expect; i++) listed = listed || OPENAI_NON_SPEECH_MULTILINGUAL[i] == ids[j];
        if (!listed) fail_msg("token %d ('%.*s') is not in OpenAI's list", ids[j], v.len[ids[j]], v.text[ids[j]]);
    }
    printf("non-speech tokens: %d of OpenAI's %d found, none extra (the rest are lossy byte pieces here)\n", matched,
           n_expect);
    assert_true(matched >= n_expect - 2);
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

static void test_blank_and_eot_suppressed_only_at_start(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    whisper_rules *r = rules_for(&v);
    float *logits = filled_logits(&v, 0.0f);
    whisper_rules_apply(r, logits, NULL, 0, false, 1.0f);
    assert_true(banned(logits, TOK_BLANK));
    assert_true(banned(logits, v.eot));
    assert_false(banned(logits, TOK_HELLO));
    assert_false(banned(logits, TOK_COMMA));

    const int sampled[] = {TOK_HELLO};
    for (int i = 0; i < v.n_vocab; i++) logits[i] = 0.0f;
    whisper_rules_apply(r, logits, sampled, 1, false, 1.0f);
    assert_false(banned(logits, TOK_BLANK));
    assert_false(banned(logits, v.eot));
    free(logits);
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

static void test_specials_languages_and_non_speech_always_suppressed(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    whisper_rules *r = rules_for(&v);
    const int history[] = {v.timestamp_begin, TOK_HELLO, TOK_WORLD, v.timestamp_begin + 40};
    for (int mode = 0; mode < 2; mode++) {
        bool timestamps = mode == 1;
        for (int n_sampled = 0; n_sampled <= 4; n_sampled++) {
            float *logits = text_favoured_logits(&v);
            whisper_rules_apply(r, logits, history, n_sampled, timestamps, 1.0f);
            int always[] = {v.sot, v.translate, v.transcribe, v.solm, v.prev, v.nosp, v.notimestamps,
                            TOK_QUOTE, TOK_SPACE_PAREN, TOK_NOTE, TOK_SPACE_DASH, TOK_SPACE_QUOTE1, TOK_CHEVRONS};
            for (size_t k = 0; k < sizeof always / sizeof always[0]; k++)
                if (!banned(logits, always[k]))
                    fail_msg("token %d allowed (timestamps %d, %d sampled)", always[k], timestamps, n_sampled);
            for (int lang = 0; lang < v.n_languages; lang++) assert_true(banned(logits, v.lang_first + lang));
            /* punctuation inside speech stays (where text may come next) */
            if (!timestamps || (n_sampled >= 1 && n_sampled <= 3)) {
                assert_false(banned(logits, TOK_DASH));
                assert_false(banned(logits, TOK_APOSTROPHE));
                assert_false(banned(logits, TOK_COMMA));
            }
            free(logits);
        }
    }
    /* without timestamps no timestamp token is ever allowed */
    float *logits = filled_logits(&v, 0.0f);
    whisper_rules_apply(r, logits, (const int[]){TOK_HELLO}, 1, false, 1.0f);
    for (int t = v.timestamp_begin; t < v.n_vocab; t++) assert_true(banned(logits, t));
    assert_false(banned(logits, TOK_WORLD));
    free(logits);
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

/* ---- timestamp rules ---- */

/* The allowed timestamps form one range; its first and last index. */
static void allowed_timestamps(const whisper_vocab *v, const float *logits, int *first, int *last) {
    *first = *last = -1;
    for (int t = v->timestamp_begin; t < v->n_vocab; t++)
        if (!banned(logits, t)) {
            if (*first < 0) *first = t - v->timestamp_begin;
            *last = t - v->timestamp_begin;
        }
}

static void test_first_token_is_an_early_timestamp(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    whisper_rules *r = rules_for(&v);
    const struct {
        float max_initial_s;
        int last_allowed;
    } CASES[] = {{1.0f, 50}, {0.5f, 25}, {0.0f, 1500}, {-1.0f, 1500}, {40.0f, 1500}, {NAN, 1500}};
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        float *logits = text_favoured_logits(&v);
        whisper_rules_apply(r, logits, NULL, 0, true, CASES[c].max_initial_s);
        for (int i = 0; i < v.timestamp_begin; i++)
            if (!banned(logits, i)) fail_msg("max %.1f: text token %d allowed first", CASES[c].max_initial_s, i);
        int first, last;
        allowed_timestamps(&v, logits, &first, &last);
        assert_int_equal(first, 0);
        assert_int_equal(last, CASES[c].last_allowed);
        free(logits);
    }
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

typedef struct pair_case {
    const char *what;
    int sampled[6];
    int n;
    bool text_allowed, eot_allowed;
    int first_ts, last_ts; /* allowed timestamp range (indices), -1 none */
} pair_case;

static void test_timestamps_pair_up_and_never_go_back(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    whisper_rules *r = rules_for(&v);
    int tb = v.timestamp_begin;
    const pair_case CASES[] = {
        {"after the opening <|0.00|>: text", {tb}, 1, true, true, -1, -1},
        {"after <|0.00|> text: text, or a later timestamp", {tb, TOK_HELLO}, 2, true, true, 1, 1500},
        {"after <|0.20|> text: not 0.20 itself (no empty segment)", {tb + 10, TOK_HELLO}, 2, true, true, 11, 1500},
        {"after text <|1.00|> (a segment's end): a timestamp or eot, at least 1.00",
         {tb, TOK_HELLO, tb + 50}, 3, false, true, 50, 1500},
        {"after <|1.00|><|1.00|> (end and start): text", {tb, TOK_HELLO, tb + 50, tb + 50}, 4, true, true, -1, -1},
        {"after <|1.00|><|1.00|> text: later than 1.00", {tb, TOK_HELLO, tb + 50, tb + 50, TOK_WORLD}, 5, true, true, 51,
         1500},
        {"the last timestamp counts, not the largest seen", {tb + 30, TOK_HELLO, tb + 40, tb + 40, TOK_WORLD, TOK_COMMA},
         6, true, true, 41, 1500},
    };
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        const pair_case *pc = &CASES[c];
        float *logits = text_favoured_logits(&v);
        whisper_rules_apply(r, logits, pc->sampled, pc->n, true, 1.0f);
        if (banned(logits, TOK_HELLO) == pc->text_allowed) fail_msg("%s: text allowed is %d", pc->what, !pc->text_allowed);
        if (banned(logits, v.eot) == pc->eot_allowed) fail_msg("%s: eot allowed is %d", pc->what, !pc->eot_allowed);
        int first, last;
        allowed_timestamps(&v, logits, &first, &last);
        if (first != pc->first_ts || last != pc->last_ts)
            fail_msg("%s: timestamps %d..%d allowed, expected %d..%d", pc->what, first, last, pc->first_ts, pc->last_ts);
        free(logits);
    }
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void test_timestamp_forced_when_its_mass_wins(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    whisper_rules *r = rules_for(&v);
    int tb = v.timestamp_begin;
    const int sampled[] = {tb, TOK_HELLO}; /* text and timestamps both allowed next */
    /* The best text token has logit 2; n timestamps have logit 0 each, so
     * their mass is log(n): 10 of them (2.30) beat it, 5 (1.61) do not,
     * though each alone is far below it. */
    const struct {
        int n_timestamps;
        bool forced;
    } CASES[] = {{10, true}, {5, false}, {7, false}, {8, true}};
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        float *logits = filled_logits(&v, -INFINITY);
        logits[TOK_WORLD] = 2.0f;
        logits[TOK_COMMA] = 1.0f;
        for (int k = 0; k < CASES[c].n_timestamps; k++) logits[tb + 100 + k] = 0.0f;
        assert_int_equal(argmax(logits, v.n_vocab), TOK_WORLD);
        whisper_rules_apply(r, logits, sampled, 2, true, 1.0f);
        if (CASES[c].forced) {
            assert_true(banned(logits, TOK_WORLD));
            assert_true(banned(logits, TOK_COMMA));
            assert_true(banned(logits, v.eot));
            assert_int_equal(argmax(logits, v.n_vocab), tb + 100);
        } else {
            assert_false(banned(logits, TOK_WORLD));
            assert_int_equal(argmax(logits, v.n_vocab), TOK_WORLD);
            assert_false(banned(logits, tb + 100));
        }
        free(logits);
    }
    /* eot counts as "another token": a confident eot is not overruled */
    float *logits = filled_logits(&v, -INFINITY);
    logits[v.eot] = 3.0f;
    for (int k = 0; k < 10; k++) logits[tb + 100 + k] = 0.0f;
    whisper_rules_apply(r, logits, sampled, 2, true, 1.0f);
    assert_int_equal(argmax(logits, v.n_vocab), v.eot);
    free(logits);
    whisper_rules_free(r);
    whisper_vocab_free(&v);
}

/* ---- language detection and no-speech ---- */

static void test_language_detection(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    uint64_t seed = 7;
    float *logits = filled_logits(&v, 0.0f);
    for (int i = 0; i < v.n_vocab; i++) logits[i] = test_rand_normal(&seed);
    logits[TOK_HELLO] = 50.0f; /* a huge non-language logit must not matter */
    int de = whisper_language_index(&v, "de");
    logits[v.lang_first + de] += 4.0f;

    double sum = 0;
    for (int i = 0; i < v.n_languages; i++) sum += exp((double)logits[v.lang_first + i]);
    double expect = exp((double)logits[v.lang_first + de]) / sum;

    float p = 0, all[100];
    int found = whisper_detect_language(&v, logits, &p, all);
    assert_int_equal(found, de);
    assert_string_equal(whisper_language_code(found), "de");
    printf("language: %s with p = %.4f (expected %.4f)\n", whisper_language_code(found), p, expect);
    assert_true(fabs(p - expect) < 1e-5);
    double total = 0;
    for (int i = 0; i < v.n_languages; i++) total += all[i];
    assert_true(fabs(total - 1.0) < 1e-5);
    assert_true(fabs(all[de] - p) < 1e-7);
    assert_int_equal(whisper_detect_language(&v, logits, NULL, NULL), de);

    /* two languages tied at the top: half each */
    for (int i = 0; i < v.n_vocab; i++) logits[i] = -INFINITY;
    logits[v.lang_first + 1] = logits[v.lang_first + 5] = 0.0f;
    found = whisper_detect_language(&v, logits, &p, NULL);
    assert_true(found == 1 || found == 5);
    assert_true(fabs(p - 0.5) < 1e-6);
    free(logits);
    whisper_vocab_free(&v);

    whisper_vocab v3 = synthetic_vocab(51866);
    logits = filled_logits(&v3, 0.0f);
    logits[v3.lang_first + 99] = 1.0f;
    assert_string_equal(whisper_language_code(whisper_detect_language(&v3, logits, &p, NULL)), "yue");
    free(logits);
    whisper_vocab_free(&v3);

    whisper_vocab en = synthetic_vocab(51864);
    logits = filled_logits(&en, 0.0f);
    assert_int_equal(whisper_detect_language(&en, logits, &p, NULL), -1); /* English-only: nothing to detect */
    free(logits);
    whisper_vocab_free(&en);
}

static void test_no_speech_probability(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    float *logits = filled_logits(&v, 0.0f);
    logits[v.nosp] = logf(3.0f);
    double expect = 3.0 / (v.n_vocab - 1 + 3.0);
    assert_true(fabs(whisper_no_speech_prob(&v, logits) - expect) < 1e-7);
    for (int i = 0; i < v.n_vocab; i++) logits[i] = -INFINITY;
    logits[v.nosp] = 5.0f;
    logits[TOK_HELLO] = 5.0f;
    assert_true(fabs(whisper_no_speech_prob(&v, logits) - 0.5) < 1e-6);
    free(logits);
    whisper_vocab_free(&v);
}

/* ---- fallback ---- */

static whisper_window_stats stats_of(const int *tokens, int n, float logprob, float no_speech) {
    float *lp = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) lp[i] = logprob;
    whisper_window_stats s;
    whisper_window_stats_compute(tokens, lp, n, no_speech, &s);
    free(lp);
    return s;
}

static void test_fallback_verdicts(void **state) {
    (void)state;
    whisper_fallback_params p = whisper_fallback_defaults();
    assert_true(p.logprob_threshold == -1.0f && p.entropy_threshold == 2.4f);
    assert_true(p.no_speech_threshold == 0.6f && p.temperature_inc == 0.2f);
    int distinct[40], looping[40], cycle4[40];
    for (int i = 0; i < 40; i++) {
        distinct[i] = 100 + i;
        looping[i] = TOK_HELLO;
        cycle4[i] = 100 + i % 4;
    }
    float next = -1;

    /* healthy: varied tokens, confident */
    whisper_window_stats s = stats_of(distinct, 40, -0.3f, 0.01f);
    assert_true(fabs(s.avg_logprob - -0.3) < 1e-6);
    assert_true(fabs(s.entropy - log(32.0)) < 1e-9); /* the last 32 only */
    assert_int_equal(whisper_judge_window(&s, 0.0f, &p, &next), WHISPER_WINDOW_ACCEPT);
    assert_true(next == 0.0f);

    /* the same token over and over, though confident: retry hotter */
    s = stats_of(looping, 40, -0.05f, 0.01f);
    assert_true(s.entropy == 0.0);
    assert_int_equal(whisper_judge_window(&s, 0.0f, &p, &next), WHISPER_WINDOW_RETRY);
    assert_true(fabsf(next - 0.2f) < 1e-6f);
    /* a 4-token loop: entropy log 4 = 1.39 < 2.4 */
    s = stats_of(cycle4, 40, -0.05f, 0.01f);
    assert_true(fabs(s.entropy - log(4.0)) < 1e-9);
    assert_int_equal(whisper_judge_window(&s, 0.4f, &p, &next), WHISPER_WINDOW_RETRY);
    /* repetition is only judged past 32 tokens */
    s = stats_of(looping, 32, -0.05f, 0.01f);
    assert_int_equal(whisper_judge_window(&s, 0.0f, &p, &next), WHISPER_WINDOW_ACCEPT);

    /* low confidence while there is speech: retry */
    s = stats_of(distinct, 20, -1.5f, 0.1f);
    assert_int_equal(whisper_judge_window(&s, 0.0f, &p, &next), WHISPER_WINDOW_RETRY);
    /* low confidence and likely no speech: silence, no retry */
    s = stats_of(distinct, 20, -1.5f, 0.9f);
    assert_int_equal(whisper_judge_window(&s, 0.0f, &p, &next), WHISPER_WINDOW_SILENCE);
    /* likely no speech yet confident text: keep it */
    s = stats_of(distinct, 20, -0.2f, 0.9f);
    assert_int_equal(whisper_judge_window(&s, 0.0f, &p, &next), WHISPER_WINDOW_ACCEPT);

    /* the schedule 0, 0.2, ..., 1.0, then the last result is kept */
    s = stats_of(looping, 40, -2.0f, 0.1f);
    float t = 0.0f;
    int retries = 0;
    while (whisper_judge_window(&s, t, &p, &next) == WHISPER_WINDOW_RETRY) {
        assert_true(next > t);
        t = next;
        assert_true(++retries <= 5);
    }
    assert_int_equal(retries, 5);
    assert_true(fabsf(t - 1.0f) < 1e-5f);

    /* entropy of [a a b b] is log 2; an empty window is harmless */
    s = stats_of((const int[]){1, 1, 2, 2}, 4, -0.5f, 0.0f);
    assert_true(fabs(s.entropy - log(2.0)) < 1e-12);
    s = stats_of(NULL, 0, 0.0f, 0.0f);
    assert_int_equal(s.n_tokens, 0);
    assert_true(s.avg_logprob == 0.0 && s.entropy == 0.0);
}

/* ---- segments ---- */

/* The text of a span, assembled as a caller would. */
static void span_text(const whisper_vocab *v, const int *tokens, const whisper_segment_span *s, char *out, size_t cap) {
    whisper_text t;
    whisper_text_init(&t);
    r1_error err = {{0}};
    for (int i = s->first; i < s->end; i++) assert_int_equal(whisper_text_append_token(&t, v, tokens[i], &err), 0);
    assert_int_equal(whisper_text_finish(&t, &err), 0);
    snprintf(out, cap, "%s", t.data);
    whisper_text_free(&t);
}

static void expect_span(const whisper_vocab *v, const int *tokens, const whisper_segment_span *s, int64_t t0,
                        int64_t t1, const char *text) {
    char got[128];
    span_text(v, tokens, s, got, sizeof got);
    if (s->t0_cs != t0 || s->t1_cs != t1 || strcmp(got, text) != 0)
        fail_msg("segment %lld..%lld '%s', expected %lld..%lld '%s'", (long long)s->t0_cs, (long long)s->t1_cs, got,
                 (long long)t0, (long long)t1, text);
}

static void test_segments_and_seek(void **state) {
    (void)state;
    whisper_vocab v = synthetic_vocab(51865);
    int tb = v.timestamp_begin, eot = v.eot;
    whisper_segment_span spans[16];
    int n = -1;
    int64_t seek = -1;
    r1_error err = {{0}};
    const int64_t offset = 1000; /* this window starts at 10.00 s */

    /* two closed segments, then an unfinished one: the next window starts
     * at the last pair (15.00 s), where the unfinished text begins */
    const int unfinished[] = {tb, TOK_HELLO, TOK_WORLD, tb + 150, tb + 150, TOK_HELLO, tb + 250, tb + 250, TOK_WORLD};
    assert_int_equal(whisper_window_segments(&v, unfinished, 9, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 2);
    expect_span(&v, unfinished, &spans[0], 1000, 1300, "hello world");
    expect_span(&v, unfinished, &spans[1], 1300, 1500, "hello");
    assert_int_equal(seek, 1500);

    /* a pair need not repeat one time (a gap between segments): the seek
     * is the closing one, the next segment starts at the opening one */
    const int gap[] = {tb, TOK_HELLO, tb + 150, tb + 170, TOK_WORLD, tb + 250, tb + 260, TOK_COMMA};
    assert_int_equal(whisper_window_segments(&v, gap, 8, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 2);
    expect_span(&v, gap, &spans[0], 1000, 1300, "hello");
    expect_span(&v, gap, &spans[1], 1340, 1500, " world");
    assert_int_equal(seek, 1500);

    /* ending on a lone timestamp closes the last segment: seek the window's end */
    const int closed[] = {tb, TOK_HELLO, tb + 100, tb + 100, TOK_WORLD, TOK_COMMA, tb + 200, eot, TOK_HELLO};
    assert_int_equal(whisper_window_segments(&v, closed, 9, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 2);
    expect_span(&v, closed, &spans[0], 1000, 1200, "hello");
    expect_span(&v, closed, &spans[1], 1200, 1400, " world,"); /* nothing after eot */
    assert_int_equal(seek, 4000);

    /* a shorter last window: its end is offset + its length */
    assert_int_equal(whisper_window_segments(&v, closed, 9, true, offset, 1234, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(seek, 2234);

    /* timestamps but no pair: one segment to the last timestamp */
    const int no_pair[] = {tb, TOK_HELLO, TOK_WORLD, tb + 240, eot};
    assert_int_equal(whisper_window_segments(&v, no_pair, 5, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 1);
    expect_span(&v, no_pair, &spans[0], 1000, 1480, "hello world");
    assert_int_equal(seek, 4000);
    /* ...and to the window's end when the only timestamp is 0.00 */
    assert_int_equal(whisper_window_segments(&v, no_pair, 3, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    expect_span(&v, no_pair, &spans[0], 1000, 4000, "hello world");

    /* no timestamps: one segment for the window */
    const int plain[] = {TOK_HELLO, TOK_WORLD, eot};
    assert_int_equal(whisper_window_segments(&v, plain, 3, false, 0, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 1);
    expect_span(&v, plain, &spans[0], 0, 3000, "hello world");
    assert_int_equal(seek, 3000);

    /* nothing said: no segment, the window is done */
    const int silent[] = {tb, eot};
    assert_int_equal(whisper_window_segments(&v, silent, 2, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(seek, 4000);
    assert_int_equal(whisper_window_segments(&v, &eot, 1, false, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 0);

    /* a sequence whose last pair is at 0.00 would never move on: seek
     * takes the window's end, and the zero-length segment is dropped */
    const int stuck[] = {TOK_HELLO, tb, tb, TOK_WORLD};
    assert_int_equal(whisper_window_segments(&v, stuck, 4, true, offset, 3000, spans, 16, &n, &seek, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(seek, 4000);

    /* errors are values */
    const int bad[] = {tb, TOK_HELLO, 999999};
    assert_int_equal(whisper_window_segments(&v, bad, 3, true, offset, 3000, spans, 16, &n, &seek, &err), -1);
    assert_non_null(strstr(err.message, "999999"));
    assert_int_equal(whisper_window_segments(&v, unfinished, 9, true, offset, 3000, spans, 1, &n, &seek, &err), -1);
    assert_int_equal(whisper_window_segments(&v, plain, 3, false, offset, 0, spans, 16, &n, &seek, &err), -1);
    whisper_vocab_free(&v);
}

/* ---- UTF-8 text ---- */

static bool valid_utf8(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        int k = r1_utf8_char_len(s + i, n - i);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

/* Feeds bytes cut at the positions in the bit mask cuts (bit i: a cut
 * after byte i) and checks the text is valid after every piece and equal
 * to expect at the end. */
static void check_pieces(const char *bytes, size_t n, unsigned cuts, const char *expect) {
    whisper_text t;
    whisper_text_init(&t);
    r1_error err = {{0}};
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && !(cuts & (1u << i))) continue;
        assert_int_equal(whisper_text_append(&t, bytes + start, i + 1 - start, &err), 0);
        if (!valid_utf8(t.data, t.len)) fail_msg("cuts %#x: invalid UTF-8 emitted after byte %zu", cuts, i);
        if (strncmp(expect, t.data ? t.data : "", t.len) != 0)
            fail_msg("cuts %#x: '%.*s' is not the start of '%s'", cuts, (int)t.len, t.data, expect);
        start = i + 1;
    }
    assert_int_equal(whisper_text_finish(&t, &err), 0);
    if (strcmp(t.data, expect) != 0) fail_msg("cuts %#x: got '%s', expected '%s'", cuts, t.data, expect);
    whisper_text_free(&t);
}

static void check_every_split(const char *bytes, const char *expect) {
    size_t n = strlen(bytes);
    for (unsigned cuts = 0; cuts < (1u << (n - 1)); cuts++) check_pieces(bytes, n, cuts, expect);
}

static void test_utf8_from_split_tokens(void **state) {
    (void)state;
    /* 今天 = e4 bb 8a e5 a4 a9, cut at every combination of places */
    check_every_split("\xe4\xbb\x8a\xe5\xa4\xa9", "今天");
    check_every_split("a\xf0\x9f\x98\x80!", "a😀!");

    /* invalid bytes: one U+FFFD per maximal piece that can never complete */
    check_every_split("a\xff" "b", "a\xEF\xBF\xBD" "b");
    check_every_split("\xe4\xbb" "x", "\xEF\xBF\xBD" "x");          /* 今 cut short by 'x' */
    check_every_split("\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD");     /* overlong '/' */
    check_every_split("\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* a surrogate */
    check_every_split("\x8a\xe5\xa4\xa9", "\xEF\xBF\xBD天");        /* a stray continuation byte */
    check_every_split("ok\xf0\x9f\x98", "ok\xEF\xBF\xBD");           /* incomplete at the end */

    /* through tokens: 今 in two byte pieces, then 天; specials add nothing */
    whisper_vocab v = synthetic_vocab(51865);
    whisper_text t;
    whisper_text_init(&t);
    r1_error err = {{0}};
    const int tokens[] = {v.timestamp_begin, TOK_JIN_HEAD, TOK_JIN_TAIL, TOK_TIAN, v.eot};
    size_t seen[5];
    for (int i = 0; i < 5; i++) {
        assert_int_equal(whisper_text_append_token(&t, &v, tokens[i], &err), 0);
        seen[i] = t.len;
    }
    assert_int_equal(seen[0], 0);
    assert_int_equal(seen[1], 0); /* 今's first two bytes wait */
    assert_int_equal(seen[2], 3); /* 今 complete */
    assert_int_equal(seen[3], 6);
    assert_int_equal(whisper_text_finish(&t, &err), 0);
    assert_string_equal(t.data, "今天");
    assert_int_equal(whisper_text_append_token(&t, &v, -1, &err), -1);
    assert_int_equal(whisper_text_append_token(&t, &v, v.n_vocab, &err), -1);
    whisper_text_free(&t);

    /* an empty text is still a string once finished */
    whisper_text_init(&t);
    assert_int_equal(whisper_text_finish(&t, &err), 0);
    assert_string_equal(t.data, "");
    whisper_text_free(&t);
    whisper_vocab_free(&v);
}

static void test_utf8_with_the_real_vocab(void **state) {
    (void)state;
    whisper_vocab v;
    if (!real_vocab(&v)) {
        skip();
        return;
    }
    /* " And so my fellow Americans" as fed in the golden run, then 我 今天 */
    const int tokens[] = {50258, 50259, 50359, 50363, 400, 370, 452, 7177, 6280, 1654, 12074, 50257};
    whisper_text t;
    whisper_text_init(&t);
    r1_error err = {{0}};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        assert_int_equal(whisper_text_append_token(&t, &v, tokens[i], &err), 0);
    assert_int_equal(whisper_text_finish(&t, &err), 0);
    assert_string_equal(t.data, " And so my fellow Americans我今天");
    whisper_text_free(&t);
    whisper_vocab_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_ids_per_model_kind),
        cmocka_unit_test(test_set_specials_rejects_unknown_kinds),
        cmocka_unit_test(test_language_table),
        cmocka_unit_test(test_non_speech_table_from_texts),
        cmocka_unit_test(test_real_vocab_tables),
        cmocka_unit_test(test_blank_and_eot_suppressed_only_at_start),
        cmocka_unit_test(test_specials_languages_and_non_speech_always_suppressed),
        cmocka_unit_test(test_first_token_is_an_early_timestamp),
        cmocka_unit_test(test_timestamps_pair_up_and_never_go_back),
        cmocka_unit_test(test_timestamp_forced_when_its_mass_wins),
        cmocka_unit_test(test_language_detection),
        cmocka_unit_test(test_no_speech_probability),
        cmocka_unit_test(test_fallback_verdicts),
        cmocka_unit_test(test_segments_and_seek),
        cmocka_unit_test(test_utf8_from_split_tokens),
        cmocka_unit_test(test_utf8_with_the_real_vocab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
