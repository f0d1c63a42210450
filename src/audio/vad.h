/*
 * vad.h - voice activity detection: which stretches of 16 kHz mono audio hold
 * speech.
 *
 * Two sources of per-window speech probabilities, one window = 512 samples
 * (32 ms):
 *   - the Silero VAD network (v6, 16 kHz) from a file in whisper.cpp's ggml
 *     VAD format (vad_model_load, vad_speech_probs), matching whisper.cpp's
 *     whisper_vad_detect_speech within ~2e-4;
 *   - a model-free energy detector (vad_energy_probs) for when no model is
 *     given.
 * vad_segments_from_probs turns either into speech segments in seconds with
 * the same rules as whisper.cpp's whisper_vad_segments_from_probs.
 */
#ifndef R1_AUDIO_VAD_H
#define R1_AUDIO_VAD_H

#include <stddef.h>

#include "base/error.h"

#define VAD_SAMPLE_RATE 16000
#define VAD_WINDOW_SAMPLES 512 /* one probability per 32 ms */

typedef struct vad_model vad_model;

/* Loads and fully validates a Silero VAD file (ggml VAD format). NULL with
 * err filled (naming the file and the field) on any problem. */
vad_model *vad_model_load(const char *path, r1_error *err);

/* The same from bytes in memory (copied; data may be freed afterwards).
 * `name` is used in error messages. */
vad_model *vad_model_load_memory(const void *data, size_t size, const char *name, r1_error *err);

void vad_model_free(vad_model *m);

/* "silero-16k 6.2.0": the model type and version from the file header. */
const char *vad_model_description(const vad_model *m);

/* One speech probability in [0, 1] per VAD_WINDOW_SAMPLES window of
 * samples_16k (mono, 16 kHz, about [-1, 1]); the last partial window is
 * zero-padded, so *n_probs = ceil(n / 512). The recurrent state starts fresh
 * on every call; NaN and infinite samples count as 0. *probs is malloc'd
 * (NULL when n == 0); the caller frees it. Returns 0, or -1 with err filled. */
int vad_speech_probs(vad_model *m, const float *samples_16k, long n, float **probs, int *n_probs, r1_error *err);

typedef struct vad_params {
    float threshold;    /* a window is speech at >= threshold; a segment ends below threshold - 0.15 (min 0.01) */
    int min_speech_ms;  /* shorter segments are dropped */
    int min_silence_ms; /* a pause must last this long to end a segment */
    int speech_pad_ms;  /* added before and after each segment */
    float max_speech_s; /* longer segments are split; <= 0 or >= 100000 means no limit */
} vad_params;

/* whisper.cpp's defaults: 0.5, 250 ms, 100 ms, 30 ms, no limit. */
void vad_params_default(vad_params *p);

typedef struct vad_segment {
    double start, end; /* seconds from the start of the audio */
} vad_segment;

/* Speech segments from per-window probabilities (window_samples samples per
 * probability, n_samples samples of audio in all: segment ends are clamped to
 * it). *segs is malloc'd (NULL when none); the caller frees it. Returns 0, or
 * -1 on invalid arguments or out of memory. */
int vad_segments_from_probs(const float *probs, int n_probs, int window_samples, long n_samples, const vad_params *p,
                            vad_segment **segs, int *n_segs);

/* The energy fallback: a pseudo-probability per VAD_WINDOW_SAMPLES window
 * from the window's RMS level against the clip's noise floor (see
 * vad_energy.c for the parameters). Same layout and ownership as
 * vad_speech_probs. Returns 0, or -1 on invalid arguments or out of memory. */
int vad_energy_probs(const float *samples_16k, long n, float **probs, int *n_probs);

#endif
