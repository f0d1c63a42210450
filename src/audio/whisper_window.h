/*
 * whisper_window.h - what happens after a 30 s window is decoded: is the
 * result good enough, or should the loop retry at a higher temperature, or
 * is the window silence (whisper.cpp's criteria); and the segments the
 * tokens describe, with where the next window starts (OpenAI's
 * transcribe.py). Included by whisper_rules.h.
 *
 * Times are in centiseconds: timestamps are multiples of 2 cs, and one cs is
 * one mel frame (hop 160 at 16 kHz), so window offsets and seeks stay exact
 * integers, as in whisper.cpp.
 */
#ifndef R1_AUDIO_WHISPER_WINDOW_H
#define R1_AUDIO_WHISPER_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "model/whisper_tokens.h"
#include "base/error.h"

/* ---- fallback ---- */

typedef struct whisper_window_stats {
    int n_tokens;          /* sampled tokens counted */
    double avg_logprob;    /* mean log-probability of the sampled tokens (0 when none) */
    double entropy;        /* entropy (nats) of the token histogram of the last 32:
                              low means the decoder repeats itself */
    double no_speech_prob; /* from whisper_no_speech_prob */
} whisper_window_stats;

/* Stats of a decoded window: tokens[0..n) as sampled (timestamps and the
 * final eot included, as whisper.cpp counts them) and logprobs[i], the
 * log-probability each had when it was sampled (under the filtered
 * logits). */
void whisper_window_stats_compute(const int *tokens, const float *logprobs, int n, float no_speech_prob,
                                  whisper_window_stats *out);

typedef struct whisper_fallback_params {
    float logprob_threshold;   /* -1.0: below it, the window is doubtful */
    float entropy_threshold;   /* 2.4: below it (over > 32 tokens), repetitive */
    float no_speech_threshold; /* 0.6: above it (and doubtful), silence */
    float temperature_inc;     /* 0.2: the next try's temperature step, up to 1.0 */
} whisper_fallback_params;

/* whisper.cpp's defaults, listed above. */
whisper_fallback_params whisper_fallback_defaults(void);

typedef enum whisper_window_verdict {
    WHISPER_WINDOW_ACCEPT,  /* use the result */
    WHISPER_WINDOW_RETRY,   /* decode again at *next_temperature */
    WHISPER_WINDOW_SILENCE, /* no speech: emit nothing, move on by the window */
} whisper_window_verdict;

/* The decision after decoding at `temperature`:
 *   RETRY when a higher temperature is left (temperature + inc <= 1.0) and
 *     the result is repetitive (more than 32 tokens, entropy below the
 *     threshold) or doubtful (avg_logprob below the threshold while
 *     no_speech_prob is not above its threshold);
 *   else SILENCE when no_speech_prob > its threshold and avg_logprob is
 *     below the logprob threshold;
 *   else ACCEPT (the last temperature's result is kept even if poor).
 * *next_temperature (may be NULL) gets temperature + inc for RETRY and
 * temperature otherwise. */
whisper_window_verdict whisper_judge_window(const whisper_window_stats *s, float temperature,
                                            const whisper_fallback_params *p, float *next_temperature);

/* ---- segments ---- */

typedef struct whisper_segment_span {
    int first, end;       /* the segment is tokens[first..end); its text is the
                             ordinary tokens (< eot) among them */
    int64_t t0_cs, t1_cs; /* start and end, window offset included */
} whisper_segment_span;

/* Splits the tokens sampled in a window (tokens after an eot are ignored)
 * into segments, as OpenAI's transcribe does:
 *   timestamps true and two timestamps in a row somewhere: each segment
 *     runs to the end of a <|t1|><|t2|> pair, from its first timestamp to
 *     its last; a trailing text without its closing timestamp is dropped
 *     and *seek_cs is the last complete pair's time (that audio is decoded
 *     again in the next window); if the tokens end on a lone timestamp
 *     (text <|t|>), that closes a last segment and *seek_cs is the window's
 *     end;
 *   timestamps true and no pair: one segment from the offset to the last
 *     timestamp (or to the window's end), *seek_cs the window's end;
 *   timestamps false: one segment spanning the window, seek its end.
 * offset_cs is the window's start, window_cs its length (30 s = 3000, less
 * for the last window). Spans without text or with zero length are left
 * out. *seek_cs always moves past offset_cs (if a sequence would not
 * advance, the window's end is used). spans must hold cap entries; n
 * entries always suffice. Fails on a token outside the vocab or when cap
 * is too small. */
int whisper_window_segments(const whisper_vocab *v, const int *tokens, int n, bool timestamps, int64_t offset_cs,
                            int64_t window_cs, whisper_segment_span *spans, int cap, int *n_spans, int64_t *seek_cs,
                            r1_error *err);

#endif
