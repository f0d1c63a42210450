/*
 * mel.h - Whisper's log-mel spectrogram, numerically as whisper.cpp
 * computes it (whisper_pcm_to_mel).
 *
 * Input: mono 16 kHz samples. The signal is framed as
 *   200 samples reflected from the start (x[200], ..., x[1]),
 *   the audio, then 480000 + 200 zeros (30 s of silence and half a frame),
 * cut into n_len = (n_samples + 480000) / 160 frames of 400 samples at a
 * hop of 160, each weighted by a periodic Hann window. Per frame: power
 * spectrum |X_k|^2 of bins 0..200 (kissfft), mel = filters . power,
 * log10(max(mel, 1e-10)). Over the whole spectrogram: values below
 * (max - 8) are raised to it, then x -> (x + 4) / 4.
 *
 * The encoder reads the first 3000 frames; n_len_original frames cover real
 * audio (whisper.cpp's n_len_org = 1 + (n_samples + 200 - 400) / 160).
 */
#ifndef R1_AUDIO_MEL_H
#define R1_AUDIO_MEL_H

#include "base/error.h"

#define WHISPER_SAMPLE_RATE 16000
#define WHISPER_N_FFT 400
#define WHISPER_HOP_LENGTH 160
#define WHISPER_N_FFT_BINS (WHISPER_N_FFT / 2 + 1) /* 201 */
#define WHISPER_CHUNK_SAMPLES (30 * WHISPER_SAMPLE_RATE)

typedef struct whisper_mel {
    float *data;        /* [n_mel][n_len], band-major: (m, t) at m * n_len + t */
    int n_mel;
    int n_len;          /* frames, including the 30 s of padding */
    int n_len_original; /* frames of real audio */
} whisper_mel;

/* Computes the log-mel of n_samples (0 is allowed: all padding) with the
 * model's filterbank filters[n_mel][n_fft_bins] (n_fft_bins must be 201).
 * n_threads >= 1 threads split the frames; the result does not depend on
 * it. 0 with *out filled (free with whisper_mel_free), or -1 with err. */
int whisper_mel_compute(const float *samples, long n_samples, const float *filters, int n_mel, int n_fft_bins,
                        int n_threads, whisper_mel *out, r1_error *err);

/* Frees the data and zeroes *m; safe on a zeroed or freed whisper_mel. */
void whisper_mel_free(whisper_mel *m);

#endif
