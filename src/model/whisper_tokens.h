/*
 * whisper_tokens.h - Whisper's vocabulary: the text of every token and the
 * ids of the special tokens, which differ between model kinds.
 *
 * A ggml Whisper file stores the text (raw bytes, not byte-level escaped)
 * of the ordinary tokens only; the specials that follow are implied by
 * n_vocab:
 *   multilingual (n_vocab 51865): eot 50257, sot 50258, 99 languages from
 *     50259 (en, zh, de, ...), translate 50358, transcribe 50359, solm
 *     50360, prev 50361, nosp 50362, notimestamps 50363, timestamp_begin
 *     50364 (then one token per 0.02 s up to 30 s);
 *   English-only (n_vocab 51864): every special one lower, no languages used;
 *   large-v3 (n_vocab 51866): 100 languages (yue added), so every id from
 *     translate on is one higher.
 * The loader (src/model/whisper_load.c) fills text/len from the file, then
 * whisper_vocab_set_specials() fills the rest.
 */
#ifndef R1_MODEL_WHISPER_TOKENS_H
#define R1_MODEL_WHISPER_TOKENS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct whisper_vocab {
    int n_vocab;      /* from the hparams */
    int n_text;       /* ordinary tokens stored in the file (ids 0..n_text-1) */
    char **text;      /* [n_vocab]: bytes of each token, not NUL-terminated
                         for ordinary tokens (use len); specials get names
                         such as "<|en|>", "<|0.02|>" */
    int *len;         /* [n_vocab] */
    bool multilingual;
    int n_languages;  /* 99, or 100 for large-v3 */

    int eot, sot, lang_first, translate, transcribe, solm, prev, nosp, notimestamps, timestamp_begin;
} whisper_vocab;

/* Fills multilingual, n_languages and the special ids from n_vocab, and
 * gives the special ids (n_text .. n_vocab-1) their names in text/len
 * (allocating them). text and len must hold n_vocab entries, and the
 * entries from n_text on must be NULL (calloc) or names from an earlier
 * call. Names: "<|endoftext|>", "<|startoftranscript|>", "<|en|>"...,
 * "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
 * "<|nospeech|>", "<|notimestamps|>", "<|0.00|>" ... "<|30.00|>". Fails
 * for an n_vocab that is no known Whisper kind, and when n_text reaches
 * <|startoftranscript|>. English-only models get n_languages 99 (the
 * tokens exist but the model never uses them: check multilingual). */
int whisper_vocab_set_specials(whisper_vocab *v, r1_error *err);

/* Frees text (every entry) and len. */
void whisper_vocab_free(whisper_vocab *v);

/* Languages, in Whisper's order: index i is token lang_first + i.
 * whisper_language_index("zh") -> 1; -1 when unknown or beyond n_languages.
 * Accepts a code or an English name ("chinese"), in any ASCII case; v may
 * be NULL (then all 100 languages count). */
int whisper_language_index(const whisper_vocab *v, const char *code);
const char *whisper_language_code(int index);   /* "en", "zh", ...; NULL if out of range */
const char *whisper_language_name(int index);   /* "english", "chinese", ... */

/* A timestamp token's time in seconds (token - timestamp_begin) * 0.02. */
static inline double whisper_timestamp_seconds(const whisper_vocab *v, int token) {
    return (token - v->timestamp_begin) * 0.02;
}

#endif
