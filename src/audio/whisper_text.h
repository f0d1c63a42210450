/*
 * whisper_text.h - text from Whisper tokens: the tokens' bytes joined into
 * valid UTF-8. A character may be split over several tokens (Chinese
 * often is: 3 bytes over 2 or 3 byte-level tokens), so the incomplete
 * bytes at the end of a piece wait for the next one; bytes that can never
 * become a character are replaced by U+FFFD (one per maximal invalid
 * piece, as WHATWG decoders do). data[0..len) is valid UTF-8 at every
 * moment, so a streaming caller may send whatever was added since its
 * last look. Included by whisper_rules.h.
 */
#ifndef R1_AUDIO_WHISPER_TEXT_H
#define R1_AUDIO_WHISPER_TEXT_H

#include <stddef.h>

#include "model/whisper_tokens.h"
#include "base/error.h"

typedef struct whisper_text {
    char *data;               /* valid UTF-8, NUL-terminated once non-empty */
    size_t len, cap;
    unsigned char carry[4];   /* the start of a character still incomplete */
    int n_carry;
} whisper_text;

void whisper_text_init(whisper_text *t);
void whisper_text_free(whisper_text *t);

/* Adds bytes[0..n). Fails only when out of memory. */
int whisper_text_append(whisper_text *t, const char *bytes, size_t n, r1_error *err);

/* Adds the text of token id when it is an ordinary token (< eot);
 * specials and timestamps add nothing. Fails on an id outside the vocab. */
int whisper_text_append_token(whisper_text *t, const whisper_vocab *v, int id, r1_error *err);

/* Ends the text: carried bytes that never completed become U+FFFD, and
 * data is a NUL-terminated string (even when empty). Appending may go on
 * afterwards. */
int whisper_text_finish(whisper_text *t, r1_error *err);

#endif
