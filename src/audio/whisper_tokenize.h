/*
 * whisper_tokenize.h - text to Whisper tokens, for the `prompt` that
 * conditions a transcription (names, spellings, the style of the text).
 *
 * A ggml Whisper file carries the tokens' texts but not the BPE merges, so
 * text is cut the way whisper.cpp cuts it: into words (each with its
 * leading space), then each word greedily into the longest tokens found in
 * the vocabulary. This is not always the sequence the real BPE would give,
 * but it spells the same text, which is what a prompt needs.
 */
#ifndef R1_AUDIO_WHISPER_TOKENIZE_H
#define R1_AUDIO_WHISPER_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "model/whisper_tokens.h"
#include "base/error.h"

typedef struct whisper_token_index whisper_token_index;

/* An index of the ordinary tokens' texts (borrows v). */
whisper_token_index *whisper_token_index_new(const whisper_vocab *v, r1_error *err);
void whisper_token_index_free(whisper_token_index *ix);

/* Tokens of text[0..len) into out (cap entries); the count, or -1 with err
 * when a byte has no token or out is too small. */
int whisper_tokenize(const whisper_token_index *ix, const char *text, size_t len, int32_t *out, int cap,
                     r1_error *err);

#endif
