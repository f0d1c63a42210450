/*
 * asr_internal.h - what r1_asr (include/r1.h) holds, shared by asr.c (the
 * public functions, audio and voice activity around the loop),
 * transcribe.c (the decoding loop over 30 s windows) and
 * transcript_format.c (text, JSON, SRT, VTT).
 */
#ifndef R1_AUDIO_ASR_INTERNAL_H
#define R1_AUDIO_ASR_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "audio/vad.h"
#include "audio/whisper_rules.h"
#include "audio/whisper_tokenize.h"
#include "model/whisper.h"
#include "r1.h"

struct r1_asr {
    whisper_model model;
    r1_compute compute;
    whisper_state state;
    whisper_rules *rules;
    whisper_token_index *token_index; /* text -> tokens, for prompts */
    vad_model *vad;                   /* NULL: the energy-based detector */
    pthread_mutex_t lock;             /* one transcription at a time */
    char audio_decoder[PATH_MAX];     /* r1-audio-decoder for uploads; "": in this process */
};

/* The decoding loop on 16 kHz samples (no voice activity detection);
 * appends segments to out with times shifted by nothing. Caller holds the
 * lock. */
int asr_transcribe_samples(r1_asr *asr, const float *samples, long n_samples, const r1_transcribe_options *o,
                           r1_transcript *out, r1_error *err);

/* Adds a segment (copies text and tokens). */
int asr_transcript_add(r1_transcript *t, double start, double end, const char *text, const int32_t *tokens,
                       int n_tokens, float avg_logprob, float no_speech_prob, float temperature, r1_error *err);

#endif
