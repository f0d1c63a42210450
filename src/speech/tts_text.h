/*
 * tts_text.h - text to be spoken: cut into sentences and rewritten so that
 * espeak-ng reads it as a person would.
 *
 * Sentences are the unit of speech: each is synthesised as soon as it is
 * complete, so the first sound leaves before a long answer is done (and,
 * in the voice loop, before the model has finished writing it). A sentence
 * ends after . ! ? followed by a space (not in 3.14, e.g., Dr.), after the
 * full-width 。！？；, or at a line break; a run with no such end is cut
 * at a comma past TTS_SOFT_SENTENCE_BYTES, or at a space (or any character
 * boundary) past TTS_MAX_SENTENCE_BYTES.
 *
 * Rewriting (tts_normalize): Markdown marks (* _ # ` > |, links) are
 * dropped; a sentence with Han characters is Mandarin and gets Mandarin
 * readings (2026年 as digits, 50% as 百分之50); an English one gets ISO
 * dates read as dates (2026-12-01: December 1, 2026) and & as "and".
 */
#ifndef R1_SPEECH_TTS_TEXT_H
#define R1_SPEECH_TTS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#define TTS_SOFT_SENTENCE_BYTES 200
#define TTS_MAX_SENTENCE_BYTES 400

/* Where the first sentence of text[0..len) ends (the byte after it,
 * trailing spaces included), or 0 when no sentence is complete yet. With
 * `final`, the rest of the text is a sentence too. */
size_t tts_sentence_end(const char *text, size_t len, bool final);

/* The sentence as espeak-ng should read it: a malloc'd NUL-terminated
 * string ("" when nothing is left to say), or NULL when out of memory.
 * *mandarin says whether it holds Han characters. Invalid UTF-8 bytes are
 * dropped. */
char *tts_normalize(const char *sentence, size_t len, bool *mandarin);

#endif
