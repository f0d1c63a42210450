/*
 * whisper_rules.h - Whisper's token-level decoding logic, apart from the
 * network: what a greedy decoding loop does to the logits of the next
 * token, language detection and the no-speech probability. The rest of it
 * (fallback decision and segments: whisper_window.h; UTF-8 text from token
 * bytes: whisper_text.h) is included below, so this one header is enough.
 *
 * The rules are OpenAI whisper's (decoding.py: SuppressBlank, SuppressTokens
 * with suppress_tokens="-1", ApplyTimestampRules) as whisper.cpp applies
 * them, plus whisper.cpp's suppression of the language tokens and of every
 * timestamp in no-timestamps mode.
 *
 * A decoding loop, per 30 s window:
 *   prompt = sot [lang task] [notimestamps], decode it;
 *   language: whisper_detect_language on the logits after sot (multilingual);
 *   no_speech = whisper_no_speech_prob(logits after the prompt);
 *   loop: logits /= temperature (when > 0); whisper_rules_apply(rules,
 *         logits, sampled, n_sampled, timestamps, 1.0f); take the argmax (or
 *         sample); keep its log-probability under the filtered logits; stop
 *         at eot or at the context limit;
 *   whisper_window_stats_compute + whisper_judge_window: accept, retry at
 *   a higher temperature, or skip the window as silence;
 *   whisper_window_segments: segments and where the next window starts;
 *   whisper_text_*: the text of each segment.
 */
#ifndef R1_AUDIO_WHISPER_RULES_H
#define R1_AUDIO_WHISPER_RULES_H

#include <stdbool.h>

#include "model/whisper_tokens.h"
#include "audio/whisper_text.h"
#include "audio/whisper_window.h"
#include "base/error.h"

/* Per-vocabulary tables the rules need (the blank token, the non-speech
 * tokens), computed once from the token texts. Borrows v, which must
 * outlive it. Read-only after creation: any number of threads may apply
 * the same rules at once. */
typedef struct whisper_rules whisper_rules;

whisper_rules *whisper_rules_new(const whisper_vocab *v, r1_error *err);
void whisper_rules_free(whisper_rules *r);

/* The token whose text is exactly " ", or -1 when the vocab has none. */
int whisper_rules_blank_token(const whisper_rules *r);

/* The non-speech tokens (sorted ids, *ids points into r): the tokens of
 * the symbols "#()*+/:;<=>@[\]^_`{|}~「」『』 and << >> <<< >>> -- --- -(
 * -[ (' (" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪, each as it is and with a
 * leading space, when that is one token; the musical signs ♩♪♫♬♭♮♯ (the
 * token of their longest leading piece, when they are not one token); and
 * " -" and " '" (a hyphen or quote may continue a word, not start one). */
int whisper_rules_non_speech(const whisper_rules *r, const int **ids);

/* Applies the rules to logits[n_vocab] (already divided by the temperature)
 * for the next token, by setting the excluded ones to -INFINITY.
 * sampled[0..n_sampled) are the tokens sampled so far in this window (not
 * the prompt).
 * Always: sot, translate, transcribe, every language token, solm, prev,
 *   nosp, notimestamps and the non-speech tokens.
 * First sampled token: not blank (" ") and not eot.
 * timestamps false: no timestamp token.
 * timestamps true (each pair brackets a segment: <|t0|> text <|t1|>):
 *   - the first sampled token is a timestamp, at most
 *     max_initial_timestamp_s (rounded to 0.02 s; <= 0, NaN or 30 s and
 *     more: no limit; OpenAI and whisper.cpp use 1.0);
 *   - after a timestamp that follows text (a segment's end), the next is a
 *     timestamp or eot, never text;
 *   - after two timestamps in a row (a segment's end and the next one's
 *     start), or after the first token, the next is text or eot;
 *   - timestamps never go back: after a segment's end the next start may
 *     equal it, otherwise a timestamp must be later than the last one (so
 *     every segment has a length);
 *   - when the summed probability of all timestamps exceeds that of the
 *     most likely other token, the next token must be a timestamp. */
void whisper_rules_apply(const whisper_rules *r, float *logits, const int *sampled, int n_sampled, bool timestamps,
                         float max_initial_timestamp_s);

/* Language detection from the logits that follow <|startoftranscript|>:
 * softmax over the language tokens only. Returns the language index (see
 * whisper_language_code) and its probability in *probability (may be
 * NULL); all_probs (may be NULL) gets n_languages probabilities. Returns
 * -1 for an English-only vocab (nothing to detect: it is English). */
int whisper_detect_language(const whisper_vocab *v, const float *logits, float *probability, float *all_probs);

/* The probability of <|nospeech|> under a softmax over all n_vocab logits.
 * whisper.cpp takes the logits after the whole prompt, OpenAI those right
 * after <|startoftranscript|>; either is "the first position". */
float whisper_no_speech_prob(const whisper_vocab *v, const float *logits);

#endif
