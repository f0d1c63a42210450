/*
 * vad_energy.c - the model-free fallback detector: speech is where a window
 * is clearly louder than the clip's background.
 *
 * Per 512-sample window (the same windows as the Silero model, last one
 * zero-padded) the level is 20 log10(RMS) in dB full scale. The noise floor
 * is the 10th percentile of the window levels over the clip (speech rarely
 * fills more than 90% of a recording). A window's speech level threshold is
 *     T = max(noise floor + 10 dB, -50 dBFS)
 * and its pseudo-probability is a logistic of the distance to T with a 2 dB
 * scale: p = 1 / (1 + exp(-(level - T) / 2)), so p = 0.5 exactly at T, and
 * the segment rules' end threshold 0.35 lies 1.2 dB below T. The -50 dBFS
 * floor keeps quiet hiss and digital silence from ever counting as speech.
 * The percentile looks at the whole clip, so this is for whole buffers, not
 * for streaming.
 */
#include "audio/vad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NOISE_PERCENTILE 0.10
#define MARGIN_DB 10.0
#define ABSOLUTE_FLOOR_DB -50.0
#define SLOPE_DB 2.0
#define SILENCE_DB -200.0 /* the level of an all-zero window */

static double window_level_db(const float *x, long count) {
    double sum = 0.0;
    for (long i = 0; i < count; i++) {
        double v = isfinite(x[i]) ? x[i] : 0.0;
        sum += v * v;
    }
    double rms = sqrt(sum / VAD_WINDOW_SAMPLES); /* the padding counts as zeros */
    return rms > 0.0 ? fmax(20.0 * log10(rms), SILENCE_DB) : SILENCE_DB;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *levels, long n, double q, int *failed) {
    double *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) {
        *failed = 1;
        return 0.0;
    }
    memcpy(sorted, levels, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    double v = sorted[(long)(q * (double)(n - 1))];
    free(sorted);
    return v;
}

int vad_energy_probs(const float *samples_16k, long n, float **probs, int *n_probs) {
    *probs = NULL;
    *n_probs = 0;
    if (n < 0 || (n > 0 && !samples_16k)) return -1;
    long windows = (n + VAD_WINDOW_SAMPLES - 1) / VAD_WINDOW_SAMPLES;
    if (windows > 0x7fffffffL) return -1;
    if (windows == 0) return 0;
    double *levels = malloc((size_t)windows * sizeof *levels);
    float *out = malloc((size_t)windows * sizeof *out);
    int failed = !levels || !out;
    for (long w = 0; !failed && w < windows; w++) {
        long start = w * VAD_WINDOW_SAMPLES;
        levels[w] = window_level_db(samples_16k + start, n - start < VAD_WINDOW_SAMPLES ? n - start : VAD_WINDOW_SAMPLES);
    }
    double noise = failed ? 0.0 : percentile(levels, windows, NOISE_PERCENTILE, &failed);
    double threshold = fmax(noise + MARGIN_DB, ABSOLUTE_FLOOR_DB);
    for (long w = 0; !failed && w < windows; w++)
        out[w] = (float)(1.0 / (1.0 + exp(-(levels[w] - threshold) / SLOPE_DB)));
    free(levels);
    if (failed) {
        free(out);
        return -1;
    }
    *probs = out;
    *n_probs = (int)windows;
    return 0;
}
