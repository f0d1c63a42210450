/* test_vad.c - the Silero VAD against whisper.cpp's probabilities and
 * segments, the loader against damaged files, and the energy fallback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/vad.h"
#include "testutil.h"

#define MODEL "asr/for-tests-silero-v6.2.0-ggml.bin"

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* 16 kHz mono PCM16 WAV (walking the RIFF chunks: jfk.wav has a LIST chunk
 * before its data); NULL for anything else. */
static float *read_wav16k(const char *path, long *n) {
    size_t size, pos = 12;
    uint8_t *b = test_read_file(path, &size);
    if (!b) return NULL;
    float *x = NULL;
    int pcm16_mono_16k = 0;
    while (size >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WAVE", 4) && pos + 8 <= size) {
        uint32_t len = le32(b + pos + 4);
        if (len > size - pos - 8) break;
        const uint8_t *body = b + pos + 8;
        if (!memcmp(b + pos, "fmt ", 4) && len >= 16)
            pcm16_mono_16k = body[0] == 1 && body[2] == 1 && le32(body + 4) == 16000 && body[14] == 16;
        if (!memcmp(b + pos, "data", 4) && pcm16_mono_16k) {
            *n = len / 2;
            x = malloc((size_t)*n * sizeof *x + 1);
            for (long i = 0; i < *n; i++) x[i] = (float)(int16_t)(body[2 * i] | body[2 * i + 1] << 8) / 32768.0f;
            break;
        }
        pos += 8 + len + (len & 1);
    }
    free(b);
    return x;
}

static vad_model *load_model(void) {
    r1_error err = {{0}};
    vad_model *m = vad_model_load(test_testdata_path(MODEL), &err);
    if (!m) fail_msg("%s", err.message);
    return m;
}

static double seconds_since(struct timespec t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}

/* Segments within 1 centisecond of whisper.cpp's. */
static void check_segments(const char *what, const vad_segment *s, int n, const double (*want_cs)[2], int n_want) {
    for (int i = 0; i < n; i++) printf("%s: segment %d %.4f-%.4f s\n", what, i, s[i].start, s[i].end);
    assert_int_equal(n, n_want);
    for (int i = 0; i < n; i++) {
        double ds = fabs(s[i].start * 100.0 - want_cs[i][0]), de = fabs(s[i].end * 100.0 - want_cs[i][1]);
        if (ds > 1.0 || de > 1.0)
            fail_msg("%s segment %d: %.2f-%.2f cs, whisper.cpp %.0f-%.0f", what, i, s[i].start * 100.0, s[i].end * 100.0,
                     want_cs[i][0], want_cs[i][1]);
    }
}

/* Probabilities within 1e-3 of the golden file, then segments from both. */
static void check_clip(const char *wav, const char *golden, const double (*want_cs)[2], int n_want) {
    if (!test_require_testdata("asr")) skip();
    vad_model *m = load_model();
    long n = 0;
    float *x = read_wav16k(test_testdata_path(wav), &n);
    assert_non_null(x);
    size_t gsize;
    float *gold = test_read_file(test_testdata_path(golden), &gsize);
    assert_non_null(gold);
    float *p;
    int np;
    r1_error err = {{0}};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (vad_speech_probs(m, x, n, &p, &np, &err)) fail_msg("%s", err.message);
    double secs = seconds_since(t0);
    assert_int_equal((size_t)np, gsize / sizeof(float));
    double max_err = 0.0;
    int worst = 0;
    for (int i = 0; i < np; i++)
        if (fabs(p[i] - gold[i]) > max_err) max_err = fabs(p[i] - gold[i]), worst = i;
    printf("%s: %d windows in %.3f s (%.0fx real time), max |p - whisper.cpp| = %.3g at window %d\n", wav, np, secs,
           (double)n / 16000.0 / secs, max_err, worst);
    assert_true(max_err < 1e-3); /* observed: 1.7e-4 (jfk), 6.8e-5 (fox) */

    vad_params params;
    vad_params_default(&params);
    vad_segment *s;
    int ns;
    assert_int_equal(vad_segments_from_probs(p, np, VAD_WINDOW_SAMPLES, n, &params, &s, &ns), 0);
    check_segments("ours", s, ns, want_cs, n_want);
    free(s);
    assert_int_equal(vad_segments_from_probs(gold, np, VAD_WINDOW_SAMPLES, n, &params, &s, &ns), 0);
    check_segments("golden probs", s, ns, want_cs, n_want);
    free(s);
    free(p);
    free(gold);
    free(x);
    vad_model_free(m);
}

static void test_jfk(void **state) {
    (void)state;
    static const double want[][2] = {{32, 227}, {327, 441}, {538, 768}, {816, 1062}};
    check_clip("asr/audio/jfk.wav", "asr/golden/vad_jfk.probs.f32", want, 4);
}

static void test_fox_padded(void **state) {
    (void)state;
    static const double want[][2] = {{154, 464}};
    check_clip("asr/audio/vad_en_fox_padded.wav", "asr/golden/vad_en_fox_padded.probs.f32", want, 1);
}

/* Loads a damaged copy; it must fail with a message containing `expect`. */
static void expect_load_error(const uint8_t *data, size_t size, const char *expect) {
    r1_error err = {{0}};
    vad_model *m = vad_model_load_memory(data, size, "damaged", &err);
    if (m) fail_msg("a damaged model (%zu bytes, expecting '%s') loaded", size, expect);
    if (!err.message[0]) fail_msg("a damaged model (%zu bytes) failed without a message", size);
    if (!strstr(err.message, expect)) fail_msg("error '%s' does not mention '%s'", err.message, expect);
}

static void put_i32(uint8_t *p, int32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)((uint32_t)v >> (8 * i));
}

/* Byte offset of the first tensor record: after the magic, type string,
 * 5 version/window fields, n_layers, 4 x 3 layer fields and 4 more. */
static size_t first_tensor_offset(const uint8_t *b) {
    size_t type_len = (size_t)(b[4] | b[5] << 8);
    return 8 + type_len + 4 * (5 + 1 + 12 + 4);
}

static void test_damaged_files(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    size_t size;
    uint8_t *orig = test_read_file(test_testdata_path(MODEL), &size);
    assert_non_null(orig);
    uint8_t *b = malloc(size + 8);
    r1_error err = {{0}};
    vad_model *m = vad_model_load_memory(orig, size, "intact", &err);
    if (!m) fail_msg("%s", err.message);
    printf("loaded %s\n", vad_model_description(m));
    assert_string_equal(vad_model_description(m), "silero-16k 6.2.0");
    vad_model_free(m);

    /* truncated anywhere in the header, and at points through the tensors */
    for (size_t cut = 0; cut < 200; cut++) expect_load_error(orig, cut, cut < 4 ? "truncated" : "");
    for (size_t cut = 200; cut < size; cut += 997) expect_load_error(orig, cut, "");
    expect_load_error(orig, size - 1, "truncated");

    memcpy(b, orig, size);
    b[0] ^= 0x20;
    expect_load_error(b, size, "magic");

    memcpy(b, orig, size);
    put_i32(b + 8 + 10 + 12, 256); /* window size */
    expect_load_error(b, size, "window size is 256");

    memcpy(b, orig, size);
    put_i32(b + 8 + 10 + 24 + 4 * 4, 32); /* encoder_out_channels[1] */
    expect_load_error(b, size, "encoder_out_channels[1]");

    size_t t0 = first_tensor_offset(orig); /* encoder.0 weight: n_dims 3, name, type 1, ne 3 129 128 */
    memcpy(b, orig, size);
    put_i32(b + t0 + 12 + 8, 127);
    expect_load_error(b, size, "has shape");

    memcpy(b, orig, size);
    put_i32(b + t0 + 8, 0); /* f16 data declared as f32 */
    expect_load_error(b, size, "has type 0");

    memcpy(b, orig, size);
    b[t0 + 24 + 7] = 'X'; /* "_model.Xncoder..." */
    expect_load_error(b, size, "unknown tensor");

    memcpy(b, orig, size);
    put_i32(b + t0, 9);
    expect_load_error(b, size, "n_dims is 9");

    memcpy(b, orig, size);
    memset(b + size, 0, 8); /* trailing bytes: an incomplete tensor record */
    expect_load_error(b, size + 8, "truncated");

    memcpy(b, orig, size);
    b[t0 + 24 + 36 + 1] = 0x7c, b[t0 + 24 + 36] = 0; /* first weight = +inf in f16 */
    expect_load_error(b, size, "not a finite number");

    expect_load_error(orig, t0, "is missing"); /* a header and no tensors */

    assert_null(vad_model_load("/nonexistent/vad.bin", &err));
    assert_non_null(strstr(err.message, "cannot open"));
    free(b);
    free(orig);
}

static int count_segments(const float *p, int np, long n, vad_segment **s) {
    vad_params params;
    vad_params_default(&params);
    int ns;
    assert_int_equal(vad_segments_from_probs(p, np, VAD_WINDOW_SAMPLES, n, &params, s, &ns), 0);
    return ns;
}

static void test_energy_fallback(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    long n = 0;
    float *x = read_wav16k(test_testdata_path("asr/audio/vad_en_fox_padded.wav"), &n);
    assert_non_null(x);
    float *p;
    int np;
    vad_segment *s;
    assert_int_equal(vad_energy_probs(x, n, &p, &np), 0);
    int ns = count_segments(p, np, n, &s);
    for (int i = 0; i < ns; i++) printf("energy: segment %d %.3f-%.3f s\n", i, s[i].start, s[i].end);
    assert_true(ns >= 1);
    if (fabs(s[0].start - 1.54) > 0.2 || fabs(s[ns - 1].end - 4.64) > 0.2)
        fail_msg("energy speech %.3f-%.3f s, Silero says 1.54-4.64", s[0].start, s[ns - 1].end);
    free(s);
    free(p);

    memset(x, 0, (size_t)n * sizeof *x); /* pure digital silence */
    assert_int_equal(vad_energy_probs(x, n, &p, &np), 0);
    assert_int_equal(count_segments(p, np, n, &s), 0);
    free(p);

    vad_model *m = load_model(); /* the model agrees, and a NaN sample does not poison it */
    r1_error err;
    x[1000] = NAN;
    assert_int_equal(vad_speech_probs(m, x, n, &p, &np, &err), 0);
    for (int i = 0; i < np; i++) assert_true(p[i] >= 0.0f && p[i] < 0.5f);
    assert_int_equal(count_segments(p, np, n, &s), 0);
    free(p);
    vad_model_free(m);
    free(x);
}

/* Segment rules on made-up probabilities: padding, the pause needed to end
 * a segment, dropping short blips, splitting at max_speech_s. */
static void test_segment_rules(void **state) {
    (void)state;
    float p[200];
    vad_params params;
    vad_params_default(&params);
    vad_segment *s;
    int ns;
    for (int i = 0; i < 200; i++) p[i] = i >= 50 && i < 100 ? 0.9f : 0.1f;
    p[70] = p[71] = 0.2f; /* a 64 ms dip does not end the segment */
    p[150] = 0.9f;        /* a 32 ms blip is not speech */
    assert_int_equal(vad_segments_from_probs(p, 200, 512, 200 * 512, &params, &s, &ns), 0);
    assert_int_equal(ns, 1);
    assert_true(fabs(s[0].start - (50 * 512 - 480) / 16000.0) < 1e-9);
    assert_true(fabs(s[0].end - (100 * 512 + 480) / 16000.0) < 1e-9);
    free(s);

    params.max_speech_s = 1.0f; /* 50 windows of speech = 1.6 s: cut */
    assert_int_equal(vad_segments_from_probs(p, 200, 512, 200 * 512, &params, &s, &ns), 0);
    assert_true(ns >= 2);
    free(s);

    assert_int_equal(vad_segments_from_probs(p, 0, 512, 0, &params, &s, &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(vad_segments_from_probs(p, 10, 0, 0, &params, &s, &ns), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jfk),
        cmocka_unit_test(test_fox_padded),
        cmocka_unit_test(test_damaged_files),
        cmocka_unit_test(test_energy_fallback),
        cmocka_unit_test(test_segment_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
