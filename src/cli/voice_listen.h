/*
 * voice_listen.h - the user's side of `r1 voice`: utterances cut out of
 * 16 kHz audio by voice activity detection (the Silero model when given,
 * else the energy detector), from a whole file or live from the
 * microphone, and the check for speech during an answer (barge-in).
 */
#ifndef R1_CLI_VOICE_LISTEN_H
#define R1_CLI_VOICE_LISTEN_H

#include <stdbool.h>

#include "audio/vad.h"

/* A pause of this long ends an utterance; shorter ones stay inside it. */
#define VOICE_END_SILENCE_MS 600

/* Speech segments of samples (16 kHz), pauses under VOICE_END_SILENCE_MS
 * joined. *segs is malloc'd (NULL when none). 0, or -1 with err. */
int voice_find_speech(vad_model *vad, const float *samples, long n, vad_segment **segs, int *n_segs, r1_error *err);

/* The microphone, recorded by a thread from open to close. */
typedef struct voice_mic voice_mic;

voice_mic *voice_mic_open(r1_error *err);
/* Waits for the next complete utterance (speech, then a pause of
 * VOICE_END_SILENCE_MS): its samples (malloc'd) and the cli_now() time
 * when its speech ended. 0, or -1 with err (the microphone failed). */
int voice_mic_listen(voice_mic *m, vad_model *vad, float **samples, long *n, double *ended, r1_error *err);
/* Whether the user is speaking now (speech in the last moments), for
 * barge-in. */
bool voice_mic_hears_speech(voice_mic *m, vad_model *vad);
/* The next utterance starts no earlier than keep_seconds ago: what was
 * recorded while the answer played (its own echo) is not taken for the
 * user, except the speech that interrupted it. */
void voice_mic_skip(voice_mic *m, double keep_seconds);
void voice_mic_close(voice_mic *m);

#endif
