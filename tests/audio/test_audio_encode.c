/* test_audio_encode.c - audio out: a 22050 Hz sine fed in small chunks (as
 * the synthesiser sends it) comes out of every format as a stream that
 * libsndfile decodes to the same sine at 24 kHz, of the same length; a
 * stream with no patch hook is still valid; a file with one gets exact
 * WAV sizes; a sink that stops stops the encoder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_encode.h"
#include "audio/audio_file.h"
#include "testutil.h"

#define IN_RATE 22050
#define TONE_HZ 440.0

typedef struct memory_sink {
    unsigned char *data;
    size_t len, cap;
    int writes, patches;
    size_t stop_after; /* refuse writes once this many bytes are in (0: never) */
} memory_sink;

static int memory_write(void *user, const void *bytes, size_t n) {
    memory_sink *m = user;
    if (m->stop_after && m->len >= m->stop_after) return -1;
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->data = realloc(m->data, m->cap);
        assert_non_null(m->data);
    }
    memcpy(m->data + m->len, bytes, n);
    m->len += n;
    m->writes++;
    return 0;
}

static int memory_patch(void *user, uint64_t offset, const void *bytes, size_t n) {
    memory_sink *m = user;
    assert_true(offset + n <= m->len);
    memcpy(m->data + offset, bytes, n);
    m->patches++;
    return 0;
}

/* seconds of a 440 Hz sine at IN_RATE, encoded in 1323-sample chunks */
static void encode_sine(const char *format, double seconds, memory_sink *m, bool patch) {
    audio_sink sink = {.write = memory_write, .patch = patch ? memory_patch : NULL, .user = m};
    r1_error err = {{0}};
    audio_encoder *e = audio_encoder_new(format, IN_RATE, &sink, &err);
    if (!e) fail_msg("%s: %s", format, err.message);
    size_t n = (size_t)(seconds * IN_RATE);
    int16_t chunk[1323];
    for (size_t i = 0; i < n; i += 1323) {
        size_t k = n - i < 1323 ? n - i : 1323;
        for (size_t j = 0; j < k; j++) chunk[j] = (int16_t)lrint(16000.0 * sin(2 * M_PI * TONE_HZ * (double)(i + j) / IN_RATE));
        if (audio_encoder_write(e, chunk, k, &err) != 0) fail_msg("%s: %s", format, err.message);
    }
    if (audio_encoder_finish(e, &err) != 0) fail_msg("%s finish: %s", format, err.message);
    assert_true(fabs(audio_encoder_seconds(e) - seconds) < 0.01);
    audio_encoder_free(e);
}

/* The decoded stream is the sine: its length, and its correlation with a
 * 440 Hz sine (lossy codecs shift the phase, so the best over a period). */
static void assert_sine(const char *format, const memory_sink *m, double seconds) {
    audio_pcm pcm;
    r1_error err = {{0}};
    if (audio_load_memory(m->data, m->len, AUDIO_OUTPUT_RATE, &pcm, &err) != 0) fail_msg("%s: %s", format, err.message);
    if (fabs((double)pcm.n_samples / AUDIO_OUTPUT_RATE - seconds) > 0.03)
        fail_msg("%s: %ld samples, expected %.2f s", format, pcm.n_samples, seconds);
    double best = 0.0;
    long from = AUDIO_OUTPUT_RATE / 10, to = pcm.n_samples - AUDIO_OUTPUT_RATE / 10;
    for (int shift = 0; shift < 55; shift++) {
        double dot = 0, xx = 0, yy = 0;
        for (long i = from; i < to; i++) {
            double y = sin(2 * M_PI * TONE_HZ * (double)(i + shift) / AUDIO_OUTPUT_RATE);
            dot += pcm.samples[i] * y, xx += (double)pcm.samples[i] * pcm.samples[i], yy += y * y;
        }
        double c = dot / sqrt(xx * yy + 1e-30);
        if (c > best) best = c;
    }
    if (best < 0.98) fail_msg("%s: correlation with the sine %.4f", format, best);
    audio_pcm_free(&pcm);
}

static void test_every_format_round_trips(void **state) {
    (void)state;
    const char *formats[] = {"wav", "flac", "opus", "ogg"};
    for (size_t f = 0; f < 4; f++)
        for (int patch = 0; patch < 2; patch++) {
            memory_sink m = {0};
            encode_sine(formats[f], 3.0, &m, patch);
            /* libsndfile's Vorbis holds its pages to the end (ogg is for files) */
            if (strcmp(formats[f], "ogg") != 0 && m.writes <= 2) fail_msg("%s: %d writes: not streamed as it came", formats[f], m.writes);
            assert_sine(formats[f], &m, 3.0);
            free(m.data);
        }
}

static void test_wav_sizes(void **state) {
    (void)state;
    memory_sink stream = {0}, file = {0};
    encode_sine("wav", 1.0, &stream, false);
    encode_sine("wav", 1.0, &file, true);
    assert_int_equal(stream.len, file.len);
    assert_memory_equal(stream.data + 4, "\xff\xff\xff\xff", 4); /* a stream: "to the end" */
    uint32_t data = (uint32_t)(file.len - 44);
    unsigned char le[4] = {(unsigned char)data, (unsigned char)(data >> 8), (unsigned char)(data >> 16),
                           (unsigned char)(data >> 24)};
    assert_memory_equal(file.data + 40, le, 4);
    assert_int_equal(file.patches, 1);
    free(stream.data);
    free(file.data);
}

static void test_pcm_is_raw_24k(void **state) {
    (void)state;
    memory_sink m = {0};
    encode_sine("pcm", 2.0, &m, false);
    assert_true(labs((long)m.len - 2 * 2 * AUDIO_OUTPUT_RATE) <= 64); /* 2 s of 16-bit samples, no header */
    double peak = 0;
    for (size_t i = 0; i + 1 < m.len; i += 2) {
        int16_t v = (int16_t)(m.data[i] | m.data[i + 1] << 8);
        if (fabs((double)v) > peak) peak = fabs((double)v);
    }
    assert_true(peak > 15000 && peak < 17000);
    free(m.data);
}

static void test_sink_stop_and_bad_format(void **state) {
    (void)state;
    memory_sink m = {.stop_after = 1000};
    audio_sink sink = {.write = memory_write, .user = &m};
    r1_error err = {{0}};
    audio_encoder *e = audio_encoder_new("pcm", IN_RATE, &sink, &err);
    assert_non_null(e);
    int16_t silence[4096] = {0};
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++) rc = audio_encoder_write(e, silence, 4096, &err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err.message, "stopped"));
    audio_encoder_free(e);
    free(m.data);
    assert_null(audio_encoder_new("mp3", IN_RATE, &sink, &err));
    assert_non_null(strstr(err.message, "mp3"));
    assert_false(audio_format_known("aac"));
    assert_string_equal(audio_format_content_type("opus"), "audio/ogg; codecs=opus");
}

/* A full-scale square wave overshoots after resampling (the sinc filter
 * rings): every format still encodes it (FLAC refused such samples). */
static void test_full_scale_square(void **state) {
    (void)state;
    const char *formats[] = {"wav", "pcm", "flac", "opus", "ogg"};
    int16_t square[4410];
    for (int i = 0; i < 4410; i++) square[i] = (i / 25) % 2 ? 32767 : -32768;
    for (size_t f = 0; f < 5; f++) {
        memory_sink m = {0};
        audio_sink sink = {.write = memory_write, .user = &m};
        r1_error err = {{0}};
        audio_encoder *e = audio_encoder_new(formats[f], IN_RATE, &sink, &err);
        assert_non_null(e);
        for (int k = 0; k < 5; k++)
            if (audio_encoder_write(e, square, 4410, &err) != 0) fail_msg("%s: %s", formats[f], err.message);
        if (audio_encoder_finish(e, &err) != 0) fail_msg("%s: %s", formats[f], err.message);
        audio_encoder_free(e);
        free(m.data);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_format_round_trips),
        cmocka_unit_test(test_wav_sizes),
        cmocka_unit_test(test_pcm_is_raw_24k),
        cmocka_unit_test(test_sink_stop_and_bad_format),
        cmocka_unit_test(test_full_scale_square),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
