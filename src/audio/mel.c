/*
 * mel.c - Whisper's log-mel spectrogram (see mel.h for the definition).
 *
 * The padded signal is never built: a frame's samples are looked up in the
 * audio (reflection at the start, zeros past the end), so 4 hours of audio
 * do not need a second copy. Frames that lie wholly in the trailing zeros
 * have power 0 everywhere and get log10(1e-10) without an FFT, which is
 * exactly what the FFT would give. Threads take every n-th frame; each
 * frame is computed whole by one thread, so the thread count does not
 * change a single bit.
 */
#include "audio/mel.h"

#include <kiss_fftr.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define REFLECT_PAD (WHISPER_N_FFT / 2) /* 200 samples mirrored before the audio */
#define MAX_MEL_BANDS 512
#define MAX_THREADS 64
#define LOG_FLOOR (-10.0) /* log10(1e-10) */

typedef struct mel_job {
    const float *samples;
    long n_samples;
    long n_reflect; /* samples mirrored at the start: min(200, n_samples - 1) */
    const float *filters;
    const int *band_lo, *band_hi; /* each band's nonzero bins: [lo, hi) */
    int n_mel;
    const float *hann;
    float *data;
    int n_len;
    long n_fft_frames; /* frames before this one are all-zero input */
    int first, step;   /* this job's frames: first, first + step, ... */
    float max;         /* largest log value among this job's frames */
    int failed;        /* out of memory */
} mel_job;

/* Sample p of the padded signal: [reflection | audio | zeros]. */
static float padded_sample(const mel_job *job, long p) {
    if (p < REFLECT_PAD) {
        long q = REFLECT_PAD - p; /* x[200], x[199], ..., x[1] */
        return q <= job->n_reflect ? job->samples[q] : 0.0f;
    }
    p -= REFLECT_PAD;
    return p < job->n_samples ? job->samples[p] : 0.0f;
}

/* Windowed samples of frame t into in[400]. */
static void load_frame(const mel_job *job, int t, float *in) {
    long start = (long)t * WHISPER_HOP_LENGTH;
    int inside = start >= REFLECT_PAD && start - REFLECT_PAD + WHISPER_N_FFT <= job->n_samples;
    for (int j = 0; j < WHISPER_N_FFT; j++) {
        float x = inside ? job->samples[start - REFLECT_PAD + j] : padded_sample(job, start + j);
        in[j] = job->hann[j] * x;
    }
}

/* Log-mel of one frame into column t; returns the column's largest value. */
static float mel_frame(const mel_job *job, kiss_fftr_cfg fft, int t, float *in, kiss_fft_cpx *spectrum,
                       float *power) {
    float col_max = (float)LOG_FLOOR;
    if (t >= job->n_fft_frames) {
        for (int m = 0; m < job->n_mel; m++) job->data[(size_t)m * job->n_len + t] = (float)LOG_FLOOR;
        return col_max;
    }
    load_frame(job, t, in);
    kiss_fftr(fft, in, spectrum);
    for (int k = 0; k < WHISPER_N_FFT_BINS; k++) power[k] = spectrum[k].r * spectrum[k].r + spectrum[k].i * spectrum[k].i;
    for (int m = 0; m < job->n_mel; m++) {
        const float *filter = job->filters + (size_t)m * WHISPER_N_FFT_BINS;
        double sum = 0.0;
        for (int k = job->band_lo[m]; k < job->band_hi[m]; k++) sum += (double)power[k] * filter[k];
        float v = (float)log10(sum > 1e-10 ? sum : 1e-10);
        job->data[(size_t)m * job->n_len + t] = v;
        if (v > col_max) col_max = v;
    }
    return col_max;
}

static void *mel_worker(void *arg) {
    mel_job *job = arg;
    kiss_fftr_cfg fft = kiss_fftr_alloc(WHISPER_N_FFT, 0, NULL, NULL);
    if (!fft) {
        job->failed = 1;
        return NULL;
    }
    float in[WHISPER_N_FFT], power[WHISPER_N_FFT_BINS];
    kiss_fft_cpx spectrum[WHISPER_N_FFT_BINS];
    job->max = (float)LOG_FLOOR;
    for (int t = job->first; t < job->n_len; t += job->step) {
        float v = mel_frame(job, fft, t, in, spectrum, power);
        if (v > job->max) job->max = v;
    }
    kiss_fftr_free(fft);
    return NULL;
}

/* Runs the jobs, one per thread; a thread that cannot start is run here. */
static void run_jobs(mel_job *jobs, int n) {
    pthread_t threads[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 1; i < n; i++) started[i] = pthread_create(&threads[i], NULL, mel_worker, &jobs[i]) == 0;
    mel_worker(&jobs[0]);
    for (int i = 1; i < n; i++) {
        if (started[i])
            pthread_join(threads[i], NULL);
        else
            mel_worker(&jobs[i]);
    }
}

/* Each band's filter is zero outside a few bins; summing only the rest
 * gives the same sum bit for bit (adding 0 * power changes nothing) at a
 * fraction of the cost. */
static void band_ranges(const float *filters, int n_mel, int *lo, int *hi) {
    for (int m = 0; m < n_mel; m++) {
        const float *f = filters + (size_t)m * WHISPER_N_FFT_BINS;
        lo[m] = 0;
        hi[m] = WHISPER_N_FFT_BINS;
        while (lo[m] < hi[m] && f[lo[m]] == 0.0f) lo[m]++;
        while (hi[m] > lo[m] && f[hi[m] - 1] == 0.0f) hi[m]--;
    }
}

static void periodic_hann(float *w) {
    for (int i = 0; i < WHISPER_N_FFT; i++) w[i] = (float)(0.5 * (1.0 - cos(2.0 * M_PI * i / WHISPER_N_FFT)));
}

/* Clamp below (max - 8) and rescale, over the whole spectrogram. */
static void normalize(float *data, size_t n, float max) {
    double floor = (double)max - 8.0;
    for (size_t i = 0; i < n; i++) {
        double v = data[i] < floor ? floor : data[i];
        data[i] = (float)((v + 4.0) / 4.0);
    }
}

static int check_args(const float *samples, long n_samples, const float *filters, int n_mel, int n_fft_bins,
                      r1_error *err) {
    if (n_samples < 0 || (n_samples > 0 && !samples))
        return r1_error_set(err, "mel: no samples (%ld requested)", n_samples);
    if (n_samples > (long)INT_MAX * WHISPER_HOP_LENGTH - WHISPER_CHUNK_SAMPLES)
        return r1_error_set(err, "mel: %ld samples is too long", n_samples);
    if (!filters) return r1_error_set(err, "mel: no filterbank");
    if (n_fft_bins != WHISPER_N_FFT_BINS)
        return r1_error_set(err, "mel: the filterbank has %d frequency bins, expected %d (a %d-point FFT)", n_fft_bins,
                            WHISPER_N_FFT_BINS, WHISPER_N_FFT);
    if (n_mel < 1 || n_mel > MAX_MEL_BANDS)
        return r1_error_set(err, "mel: %d mel bands (1 to %d are accepted)", n_mel, MAX_MEL_BANDS);
    return 0;
}

int whisper_mel_compute(const float *samples, long n_samples, const float *filters, int n_mel, int n_fft_bins,
                        int n_threads, whisper_mel *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (check_args(samples, n_samples, filters, n_mel, n_fft_bins, err) != 0) return -1;
    int n_len = (int)((n_samples + WHISPER_CHUNK_SAMPLES) / WHISPER_HOP_LENGTH);
    size_t total = (size_t)n_mel * (size_t)n_len;
    float *data = malloc(total * sizeof *data);
    if (!data) return r1_error_set(err, "mel: out of memory for %d x %d values", n_mel, n_len);

    float hann[WHISPER_N_FFT];
    periodic_hann(hann);
    int band_lo[MAX_MEL_BANDS], band_hi[MAX_MEL_BANDS];
    band_ranges(filters, n_mel, band_lo, band_hi);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > MAX_THREADS) n_threads = MAX_THREADS;
    if (n_threads > n_len) n_threads = n_len;
    mel_job jobs[MAX_THREADS];
    long n_reflect = n_samples - 1 < REFLECT_PAD ? n_samples - 1 : REFLECT_PAD;
    for (int i = 0; i < n_threads; i++)
        jobs[i] = (mel_job){.samples = samples,
                            .n_samples = n_samples,
                            .n_reflect = n_reflect < 0 ? 0 : n_reflect,
                            .filters = filters,
                            .band_lo = band_lo,
                            .band_hi = band_hi,
                            .n_mel = n_mel,
                            .hann = hann,
                            .data = data,
                            .n_len = n_len,
                            .n_fft_frames = (n_samples + REFLECT_PAD) / WHISPER_HOP_LENGTH + 1,
                            .first = i,
                            .step = n_threads};
    run_jobs(jobs, n_threads);

    float max = (float)LOG_FLOOR;
    for (int i = 0; i < n_threads; i++) {
        if (jobs[i].failed) {
            free(data);
            return r1_error_set(err, "mel: out of memory for the FFT");
        }
        if (jobs[i].max > max) max = jobs[i].max;
    }
    normalize(data, total, max);
    *out = (whisper_mel){.data = data,
                         .n_mel = n_mel,
                         .n_len = n_len,
                         .n_len_original = (int)(1 + ((int64_t)n_samples + REFLECT_PAD - WHISPER_N_FFT) / WHISPER_HOP_LENGTH)};
    return 0;
}

void whisper_mel_free(whisper_mel *m) {
    if (!m) return;
    free(m->data);
    memset(m, 0, sizeof *m);
}
