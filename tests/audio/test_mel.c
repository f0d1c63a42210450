/* test_mel.c - the Whisper log-mel against whisper.cpp's output for jfk.wav,
 * thread-count independence, short and empty inputs, bad arguments. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/audio_file.h"
#include "audio/mel.h"
#include "testutil.h"

#define GOLDEN_MEL 80
#define GOLDEN_LEN 4100

/* The mel filterbank of a ggml Whisper file: magic, 11 int32 hparams, then
 * int32 n_mel, int32 n_fft and n_mel * n_fft float32. Caller frees. */
static float *read_filters(const char *path, int *n_mel, int *n_fft) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    int32_t head[14];
    if (fread(head, sizeof head[0], 14, f) != 14) fail_msg("%s: short header", path);
    if ((uint32_t)head[0] != 0x67676d6cu) fail_msg("%s: not a ggml Whisper file", path);
    *n_mel = head[12];
    *n_fft = head[13];
    if (*n_mel < 1 || *n_mel > 512 || *n_fft < 1 || *n_fft > 1024) fail_msg("%s: filterbank %d x %d", path, *n_mel, *n_fft);
    size_t n = (size_t)*n_mel * (size_t)*n_fft;
    float *filters = malloc(n * sizeof *filters);
    if (!filters || fread(filters, sizeof *filters, n, f) != n) fail_msg("%s: short filterbank", path);
    fclose(f);
    return filters;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct fixture {
    float *filters;
    int n_mel, n_fft;
} fixture;

static int setup(void **state) {
    if (!test_require_testdata("asr")) {
        *state = NULL;
        return 0;
    }
    fixture *f = calloc(1, sizeof *f);
    f->filters = read_filters(test_testdata_path("asr/whisper-tiny-random-f32.bin"), &f->n_mel, &f->n_fft);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    if (f) free(f->filters);
    free(f);
    return 0;
}

static void test_jfk_golden(void **state) {
    fixture *f = *state;
    if (!f) skip();
    assert_int_equal(f->n_mel, GOLDEN_MEL);
    assert_int_equal(f->n_fft, WHISPER_N_FFT_BINS);
    audio_pcm pcm;
    r1_error err;
    if (audio_load_file(test_testdata_path("asr/audio/jfk.wav"), WHISPER_SAMPLE_RATE, &pcm, &err) != 0)
        fail_msg("%s", err.message);
    size_t size;
    float *golden = test_read_file(test_testdata_path("asr/golden/jfk.mel.f32"), &size);
    assert_non_null(golden);
    assert_int_equal(size, sizeof(float) * GOLDEN_MEL * GOLDEN_LEN);

    whisper_mel mel, mel4;
    double t0 = now_ms();
    if (whisper_mel_compute(pcm.samples, pcm.n_samples, f->filters, f->n_mel, f->n_fft, 1, &mel, &err) != 0)
        fail_msg("%s", err.message);
    double t1 = now_ms();
    assert_int_equal(whisper_mel_compute(pcm.samples, pcm.n_samples, f->filters, f->n_mel, f->n_fft, 4, &mel4, &err), 0);
    double t2 = now_ms();
    assert_int_equal(mel.n_mel, GOLDEN_MEL);
    assert_int_equal(mel.n_len, GOLDEN_LEN);
    assert_int_equal(mel.n_len_original, 1099);

    double worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < (size_t)GOLDEN_MEL * GOLDEN_LEN; i++) {
        double d = fabs((double)mel.data[i] - golden[i]);
        if (d > worst) worst = d, worst_at = i;
    }
    printf("jfk mel: max abs error vs whisper.cpp %.3g at band %zu frame %zu; %.1f ms on 1 thread, %.1f ms on 4\n",
           worst, worst_at / GOLDEN_LEN, worst_at % GOLDEN_LEN, t1 - t0, t2 - t1);
    assert_true(worst < 1e-4);
    assert_memory_equal(mel.data, mel4.data, sizeof(float) * GOLDEN_MEL * GOLDEN_LEN); /* threads change no bit */
    whisper_mel_free(&mel);
    whisper_mel_free(&mel4);
    assert_null(mel.data);
    free(golden);
    audio_pcm_free(&pcm);
}

/* Every value of a mel lies in [max - 2, max] after the (x + 4) / 4 step
 * (the clamp is 8 below the max in log10 units, i.e. 2 after scaling). */
static void check_range(const whisper_mel *m, float *max_out) {
    size_t n = (size_t)m->n_mel * m->n_len;
    float lo = m->data[0], hi = m->data[0];
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(m->data[i]));
        if (m->data[i] < lo) lo = m->data[i];
        if (m->data[i] > hi) hi = m->data[i];
    }
    assert_true(hi - lo <= 2.0f + 1e-6f);
    *max_out = hi;
}

/* 0, 1, 100, 200, 201 and 16000 samples: 3000+ frames, finite, clamped. */
static void test_short_inputs(void **state) {
    fixture *f = *state;
    if (!f) skip();
    static const long lengths[] = {0, 1, 100, 200, 201, 16000};
    static const int expect_original[] = {0, 0, 1, 1, 1, 99};
    static float samples[16000];
    for (int i = 0; i < 16000; i++) samples[i] = (float)(0.5 * cos(2.0 * M_PI * 1000.0 * i / 16000.0));
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        whisper_mel m;
        r1_error err;
        const float *in = lengths[k] ? samples : NULL;
        if (whisper_mel_compute(in, lengths[k], f->filters, f->n_mel, f->n_fft, 3, &m, &err) != 0)
            fail_msg("%ld samples: %s", lengths[k], err.message);
        assert_int_equal(m.n_len, (lengths[k] + WHISPER_CHUNK_SAMPLES) / WHISPER_HOP_LENGTH);
        assert_int_equal(m.n_len_original, expect_original[k]);
        float max;
        check_range(&m, &max);
        if (lengths[k] == 0) {
            for (size_t i = 0; i < (size_t)m.n_mel * m.n_len; i++) assert_true(m.data[i] == -1.5f); /* (-10+4)/4 */
        } else {
            assert_true(max > -1.5f);
        }
        printf("%5ld samples: %d frames (%d of audio), max %.4f\n", lengths[k], m.n_len, m.n_len_original, max);
        whisper_mel_free(&m);
    }
}

/* A 1 kHz tone: the loudest band is the one whose filter peaks nearest 1 kHz. */
static void test_tone_band(void **state) {
    fixture *f = *state;
    if (!f) skip();
    static float samples[16000];
    for (int i = 0; i < 16000; i++) samples[i] = (float)(0.5 * sin(2.0 * M_PI * 1000.0 * i / 16000.0));
    whisper_mel m;
    r1_error err;
    assert_int_equal(whisper_mel_compute(samples, 16000, f->filters, f->n_mel, f->n_fft, 1, &m, &err), 0);
    int frame = 50, loudest = 0, peak_band = 0;
    for (int b = 1; b < m.n_mel; b++)
        if (m.data[(size_t)b * m.n_len + frame] > m.data[(size_t)loudest * m.n_len + frame]) loudest = b;
    int bin = 1000 * WHISPER_N_FFT / WHISPER_SAMPLE_RATE; /* 25 */
    for (int b = 1; b < f->n_mel; b++)
        if (f->filters[b * f->n_fft + bin] > f->filters[peak_band * f->n_fft + bin]) peak_band = b;
    printf("1 kHz tone: loudest band %d, filter with most weight at bin %d: %d\n", loudest, bin, peak_band);
    assert_int_equal(loudest, peak_band);
    whisper_mel_free(&m);
}

static void test_bad_arguments(void **state) {
    fixture *f = *state;
    if (!f) skip();
    whisper_mel m;
    r1_error err;
    float x[10] = {0};
    assert_int_equal(whisper_mel_compute(x, 10, f->filters, f->n_mel, 200, 1, &m, &err), -1);
    assert_non_null(strstr(err.message, "200 frequency bins"));
    assert_null(m.data);
    assert_int_equal(whisper_mel_compute(x, 10, f->filters, 0, 201, 1, &m, &err), -1);
    assert_non_null(strstr(err.message, "0 mel bands"));
    assert_int_equal(whisper_mel_compute(x, -1, f->filters, f->n_mel, 201, 1, &m, &err), -1);
    assert_int_equal(whisper_mel_compute(NULL, 10, f->filters, f->n_mel, 201, 1, &m, &err), -1);
    assert_int_equal(whisper_mel_compute(x, 10, NULL, f->n_mel, 201, 1, &m, &err), -1);
    assert_non_null(strstr(err.message, "filterbank"));
    whisper_mel_free(&m); /* safe on a zeroed mel */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jfk_golden),
        cmocka_unit_test(test_short_inputs),
        cmocka_unit_test(test_tone_band),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
