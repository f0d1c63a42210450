/*
 * whisper_tokens.c - Whisper's special token ids (implied by n_vocab), their
 * names, and the table of the languages Whisper knows, in the order of its
 * language tokens. See whisper_tokens.h for the id layout.
 */
#include "model/whisper_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct language {
    const char *code;
    const char *name;
} language;

/* Index i is the language of token lang_first + i. The first 99 are every
 * multilingual model's; large-v3 added Cantonese as the 100th. */
static const language LANGUAGES[] = {
    {"en", "english"},    {"zh", "chinese"},     {"de", "german"},          {"es", "spanish"},
    {"ru", "russian"},    {"ko", "korean"},      {"fr", "french"},          {"ja", "japanese"},
    {"pt", "portuguese"}, {"tr", "turkish"},     {"pl", "polish"},          {"ca", "catalan"},
    {"nl", "dutch"},      {"ar", "arabic"},      {"sv", "swedish"},         {"it", "italian"},
    {"id", "indonesian"}, {"hi", "hindi"},       {"fi", "finnish"},         {"vi", "vietnamese"},
    {"he", "hebrew"},     {"uk", "ukrainian"},   {"el", "greek"},           {"ms", "malay"},
    {"cs", "czech"},      {"ro", "romanian"},    {"da", "danish"},          {"hu", "hungarian"},
    {"ta", "tamil"},      {"no", "norwegian"},   {"th", "thai"},            {"ur", "urdu"},
    {"hr", "croatian"},   {"bg", "bulgarian"},   {"lt", "lithuanian"},      {"la", "latin"},
    {"mi", "maori"},      {"ml", "malayalam"},   {"cy", "welsh"},           {"sk", "slovak"},
    {"te", "telugu"},     {"fa", "persian"},     {"lv", "latvian"},         {"bn", "bengali"},
    {"sr", "serbian"},    {"az", "azerbaijani"}, {"sl", "slovenian"},       {"kn", "kannada"},
    {"et", "estonian"},   {"mk", "macedonian"},  {"br", "breton"},          {"eu", "basque"},
    {"is", "icelandic"},  {"hy", "armenian"},    {"ne", "nepali"},          {"mn", "mongolian"},
    {"bs", "bosnian"},    {"kk", "kazakh"},      {"sq", "albanian"},        {"sw", "swahili"},
    {"gl", "galician"},   {"mr", "marathi"},     {"pa", "punjabi"},         {"si", "sinhala"},
    {"km", "khmer"},      {"sn", "shona"},       {"yo", "yoruba"},          {"so", "somali"},
    {"af", "afrikaans"},  {"oc", "occitan"},     {"ka", "georgian"},        {"be", "belarusian"},
    {"tg", "tajik"},      {"sd", "sindhi"},      {"gu", "gujarati"},        {"am", "amharic"},
    {"yi", "yiddish"},    {"lo", "lao"},         {"uz", "uzbek"},           {"fo", "faroese"},
    {"ht", "haitian creole"}, {"ps", "pashto"},  {"tk", "turkmen"},         {"nn", "nynorsk"},
    {"mt", "maltese"},    {"sa", "sanskrit"},    {"lb", "luxembourgish"},   {"my", "myanmar"},
    {"bo", "tibetan"},    {"tl", "tagalog"},     {"mg", "malagasy"},        {"as", "assamese"},
    {"tt", "tatar"},      {"haw", "hawaiian"},   {"ln", "lingala"},         {"ha", "hausa"},
    {"ba", "bashkir"},    {"jw", "javanese"},    {"su", "sundanese"},       {"yue", "cantonese"},
};

enum { N_LANGUAGES_TABLE = (int)(sizeof LANGUAGES / sizeof LANGUAGES[0]) };

const char *whisper_language_code(int index) {
    return index >= 0 && index < N_LANGUAGES_TABLE ? LANGUAGES[index].code : NULL;
}

const char *whisper_language_name(int index) {
    return index >= 0 && index < N_LANGUAGES_TABLE ? LANGUAGES[index].name : NULL;
}

static bool equal_ignoring_case(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        char ca = (*a >= 'A' && *a <= 'Z') ? (char)(*a - 'A' + 'a') : *a;
        if (ca != *b) return false;
    }
    return *a == *b;
}

int whisper_language_index(const whisper_vocab *v, const char *code) {
    if (!code) return -1;
    int limit = v ? v->n_languages : N_LANGUAGES_TABLE;
    if (limit > N_LANGUAGES_TABLE) limit = N_LANGUAGES_TABLE;
    for (int i = 0; i < limit; i++)
        if (equal_ignoring_case(code, LANGUAGES[i].code) || equal_ignoring_case(code, LANGUAGES[i].name)) return i;
    return -1;
}

/* ---- special ids ---- */

/* Ids of an English-only model (n_vocab 51864); the other kinds shift them. */
enum {
    EN_EOT = 50256,
    EN_SOT = 50257,
    EN_TRANSLATE = 50357,
    N_VOCAB_ENGLISH = 51864,
    N_VOCAB_MULTILINGUAL = 51865,
    N_VOCAB_LARGE_V3 = 51866,
};

static void set_ids(whisper_vocab *v) {
    /* Multilingual tokenizers have one more ordinary token, so eot and sot
     * move up by one; each language beyond 99 moves everything after the
     * language tokens up by one more. */
    int shift_eot = v->multilingual ? 1 : 0;
    int shift_tasks = shift_eot + (v->n_languages - 99);
    v->eot = EN_EOT + shift_eot;
    v->sot = EN_SOT + shift_eot;
    v->lang_first = v->sot + 1;
    v->translate = EN_TRANSLATE + shift_tasks;
    v->transcribe = v->translate + 1;
    v->solm = v->translate + 2;
    v->prev = v->translate + 3;
    v->nosp = v->translate + 4;
    v->notimestamps = v->translate + 5;
    v->timestamp_begin = v->translate + 6;
}

/* The name of special token id, written into buf (at least 32 bytes). */
static void special_name(const whisper_vocab *v, int id, char *buf, size_t cap) {
    const char *fixed = NULL;
    if (id == v->eot) fixed = "<|endoftext|>";
    else if (id == v->sot) fixed = "<|startoftranscript|>";
    else if (id == v->translate) fixed = "<|translate|>";
    else if (id == v->transcribe) fixed = "<|transcribe|>";
    else if (id == v->solm) fixed = "<|startoflm|>";
    else if (id == v->prev) fixed = "<|startofprev|>";
    else if (id == v->nosp) fixed = "<|nospeech|>";
    else if (id == v->notimestamps) fixed = "<|notimestamps|>";
    if (fixed) {
        snprintf(buf, cap, "%s", fixed);
    } else if (id >= v->timestamp_begin) {
        int steps = id - v->timestamp_begin; /* 0.02 s each, printed exactly */
        snprintf(buf, cap, "<|%d.%02d|>", steps / 50, (steps % 50) * 2);
    } else if (id >= v->lang_first && id < v->translate) {
        snprintf(buf, cap, "<|%s|>", whisper_language_code(id - v->lang_first));
    } else {
        snprintf(buf, cap, "<|extra_%d|>", id);
    }
}

int whisper_vocab_set_specials(whisper_vocab *v, r1_error *err) {
    if (!v || !v->text || !v->len) return r1_error_set(err, "whisper vocab: no token table to fill");
    if (v->n_vocab == N_VOCAB_ENGLISH) {
        v->multilingual = false;
        v->n_languages = 99; /* the tokens exist, an English-only model never uses them */
    } else if (v->n_vocab == N_VOCAB_MULTILINGUAL || v->n_vocab == N_VOCAB_LARGE_V3) {
        v->multilingual = true;
        v->n_languages = v->n_vocab - N_VOCAB_MULTILINGUAL + 99;
    } else {
        return r1_error_set(err, "whisper vocab: n_vocab %d is no known Whisper model (51864 English-only, "
                                 "51865 multilingual, 51866 large-v3)", v->n_vocab);
    }
    set_ids(v);
    if (v->n_text < 1 || v->n_text > v->sot)
        return r1_error_set(err, "whisper vocab: %d stored tokens, expected at most %d before <|startoftranscript|>",
                            v->n_text, v->sot);
    for (int id = v->n_text; id < v->n_vocab; id++) {
        char name[32];
        special_name(v, id, name, sizeof name);
        size_t n = strlen(name);
        char *copy = malloc(n + 1);
        if (!copy) return r1_error_set(err, "whisper vocab: out of memory naming special tokens");
        memcpy(copy, name, n + 1);
        free(v->text[id]); /* NULL, or a name from an earlier call */
        v->text[id] = copy;
        v->len[id] = (int)n;
    }
    return 0;
}

void whisper_vocab_free(whisper_vocab *v) {
    if (!v) return;
    if (v->text)
        for (int i = 0; i < v->n_vocab; i++) free(v->text[i]);
    free(v->text);
    free(v->len);
    v->text = NULL;
    v->len = NULL;
}
