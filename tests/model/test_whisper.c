/*
 * test_whisper.c - the Whisper model (src/model/whisper*.c) against
 * whisper.cpp's outputs in ../shared/testdata/asr/golden/: the encoder
 * output of jfk.wav's log-mel and the decoder logits at the 9 reference
 * positions, for the f32 and the f16 random-weight models, with 1 and 2
 * threads; greedy decoding repeats the reference tokens. Then the loader
 * on broken files: each problem is an error that names it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/whisper.h"
#include "testutil.h"

#define MEL_BANDS 80
#define MEL_FRAMES 4100
#define N_FED 9
static const int32_t fed_tokens[N_FED] = {50258, 50259, 50359, 50363, 400, 370, 452, 7177, 6280};
#define GREEDY_TOKEN 49019 /* what both models repeat (golden/jfk.golden.json) */

static float *read_floats(const char *relative, size_t expect) {
    size_t size = 0;
    float *data = test_read_file(test_testdata_path(relative), &size);
    if (!data) fail_msg("cannot read %s", relative);
    if (size != expect * sizeof(float)) fail_msg("%s has %zu bytes, expected %zu", relative, size, expect * 4);
    return data;
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    return worst;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void check_model(const char *model_file, const char *enc_golden, const char *logits_golden, int threads) {
    whisper_model m;
    r1_error err = {{0}};
    if (whisper_model_load(test_testdata_path(model_file), &m, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(m.hp.n_vocab, 51865);
    assert_int_equal(m.hp.n_audio_state, 64);
    assert_true(m.vocab.multilingual);
    assert_int_equal(m.vocab.sot, 50258);

    r1_compute compute;
    assert_int_equal(r1_compute_init(&compute, threads, true), 0);
    whisper_state s;
    if (whisper_state_init(&s, &m, &compute, &err) != 0) fail_msg("%s", err.message);

    float *mel = read_floats("asr/golden/jfk.mel.f32", (size_t)MEL_BANDS * MEL_FRAMES);
    if (whisper_encode(&s, mel, MEL_FRAMES, MEL_FRAMES, 0, &err) != 0) fail_msg("%s", err.message);
    float *enc = read_floats(enc_golden, 1500 * 64);
    float enc_err = max_abs_diff(s.enc_out, enc, 1500 * 64);
    printf("%s, %d thread(s): encoder output max |diff| %.2e\n", model_file, threads, enc_err);
    assert_true(enc_err < 1e-2f);

    int n_vocab = m.hp.n_vocab;
    float *logits = malloc((size_t)N_FED * n_vocab * sizeof(float));
    float *want = read_floats(logits_golden, (size_t)N_FED * n_vocab);
    if (whisper_decode(&s, fed_tokens, N_FED, logits, NULL, &err) != 0) fail_msg("%s", err.message);
    float logit_err = max_abs_diff(logits, want, (size_t)N_FED * n_vocab);
    printf("%s, %d thread(s): logits max |diff| %.2e over %d positions\n", model_file, threads, logit_err, N_FED);
    assert_true(logit_err < 1e-2f);
    for (int i = 0; i < N_FED; i++)
        assert_int_equal(argmax(logits + (size_t)i * n_vocab, n_vocab), argmax(want + (size_t)i * n_vocab, n_vocab));

    /* the same, one token at a time through the cache */
    whisper_decode_rewind(&s, 0);
    float *last = malloc((size_t)n_vocab * sizeof(float));
    for (int i = 0; i < N_FED; i++) {
        if (whisper_decode(&s, &fed_tokens[i], 1, NULL, last, &err) != 0) fail_msg("%s", err.message);
        float d = max_abs_diff(last, want + (size_t)i * n_vocab, n_vocab);
        if (d >= 1e-2f) fail_msg("token %d fed alone: logits differ by %g", i, d);
    }

    /* greedy from the four special tokens: 24 steps, as the reference */
    whisper_decode_rewind(&s, 0);
    if (whisper_decode(&s, fed_tokens, 4, NULL, last, &err) != 0) fail_msg("%s", err.message);
    for (int step = 0; step < 24; step++) {
        int32_t next = argmax(last, n_vocab);
        assert_int_equal(next, GREEDY_TOKEN);
        if (whisper_decode(&s, &next, 1, NULL, last, &err) != 0) fail_msg("%s", err.message);
    }

    free(last);
    free(logits);
    free(want);
    free(enc);
    free(mel);
    whisper_state_free(&s);
    r1_compute_free(&compute);
    whisper_model_free(&m);
}

static void test_f32_model(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    check_model("asr/whisper-tiny-random-f32.bin", "asr/golden/jfk.f32model.enc.f32",
                "asr/golden/jfk.f32model.logits.f32", 1);
    check_model("asr/whisper-tiny-random-f32.bin", "asr/golden/jfk.f32model.enc.f32",
                "asr/golden/jfk.f32model.logits.f32", 2);
}

static void test_f16_model(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    check_model("asr/whisper-tiny-random-f16.bin", "asr/golden/jfk.f16model.enc.f32",
                "asr/golden/jfk.f16model.logits.f32", 2);
}

/* ---- broken files ---- */

static uint8_t *model_bytes;
static size_t model_size;

static void expect_load_error(const uint8_t *data, size_t size, const char *want) {
    whisper_model m;
    r1_error err = {{0}};
    if (whisper_model_load_memory(data, size, &m, &err) == 0) fail_msg("loaded, expected an error with '%s'", want);
    if (!strstr(err.message, want)) fail_msg("error '%s' lacks '%s'", err.message, want);
}

static uint8_t *copy_model(void) {
    uint8_t *c = malloc(model_size);
    memcpy(c, model_bytes, model_size);
    return c;
}

/* Offset of the first occurrence of a tensor's name in the file. */
static size_t name_offset(const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i + n <= model_size; i++)
        if (memcmp(model_bytes + i, name, n) == 0) return i;
    fail_msg("no '%s' in the model", name);
    return 0;
}

static void put_i32(uint8_t *p, int32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)((uint32_t)v >> (8 * i));
}

static void test_broken_files(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    model_bytes = test_read_file(test_testdata_path("asr/whisper-tiny-random-f32.bin"), &model_size);
    assert_non_null(model_bytes);

    expect_load_error(model_bytes, 0, "truncated file: magic");
    uint8_t *c = copy_model();
    c[0] ^= 0xff;
    expect_load_error(c, model_size, "not a ggml Whisper model");
    memcpy(c, model_bytes, model_size);
    put_i32(c + 4 + 4 * 3, 0); /* n_audio_head */
    expect_load_error(c, model_size, "n_audio_head is 0");
    memcpy(c, model_bytes, model_size);
    put_i32(c + 4, 12345); /* n_vocab */
    expect_load_error(c, model_size, "n_vocab is 12345");

    /* cut inside each part of the file */
    size_t conv1 = name_offset("encoder.conv1.weight");
    size_t cuts[] = {20, 60, 48 + 80 * 201 * 4 + 100, conv1 - 8, conv1 + 5, conv1 + 40, model_size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) expect_load_error(model_bytes, cuts[i], "truncated file");

    /* a wrong shape: conv1's kernel width 4 instead of 3 */
    memcpy(c, model_bytes, model_size);
    put_i32(c + conv1 - 12, 4);
    expect_load_error(c, model_size, "tensor 'encoder.conv1.weight' has shape [4, 80, 64], expected [3, 80, 64]");
    /* an unknown name */
    memcpy(c, model_bytes, model_size);
    c[conv1 + 12] = 'X';
    expect_load_error(c, model_size, "unknown tensor 'encoder.convX.weight'");
    /* a tensor twice: conv2's bias renamed to conv1's (same shape) */
    memcpy(c, model_bytes, model_size);
    c[name_offset("encoder.conv2.bias") + 12] = '1';
    expect_load_error(c, model_size, "appears twice");
    /* a type the tensor may not have: a LayerNorm weight as f16 */
    memcpy(c, model_bytes, model_size);
    size_t ln = name_offset("encoder.ln_post.weight");
    put_i32(c + ln - 8, 1); /* ttype sits before the one ne of a 1-D tensor */
    expect_load_error(c, model_size, "not allowed for it");
    free(c);
    free(model_bytes);
}

/* A file without tensors: the header of the real one, cut after the
 * vocabulary (found by walking it). */
static void test_vocabulary_only(void **state) {
    (void)state;
    if (!test_require_testdata("asr")) skip();
    size_t size;
    uint8_t *data = test_read_file(test_testdata_path("asr/whisper-tiny-random-f32.bin"), &size);
    assert_non_null(data);
    size_t pos = 4 + 11 * 4 + 8 + 80 * 201 * 4;
    int32_t n_tokens;
    memcpy(&n_tokens, data + pos, 4);
    pos += 4;
    for (int i = 0; i < n_tokens; i++) {
        int32_t len;
        memcpy(&len, data + pos, 4);
        pos += 4 + (size_t)len;
    }
    expect_load_error(data, pos, "no tensors");
    expect_load_error(data, pos + 3, "truncated file");
    free(data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_model),
        cmocka_unit_test(test_f16_model),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_vocabulary_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
