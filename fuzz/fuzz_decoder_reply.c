/*
 * fuzz_decoder_reply.c - libFuzzer harness for the reader of r1-audio-
 * decoder's output (src/audio/audio_decoder_reply.c): the bytes a child
 * that parses hostile uploads writes back, so possibly anything.
 *
 * The input is read twice, whole and in pieces whose sizes its first byte
 * picks (a pipe hands bytes over in any split): both readings must agree on
 * the verdict and the samples. A reply that is accepted must hold no more
 * samples than the limit, each in [-1, 1], as many as its end record says;
 * a reader that refused once refuses everything after.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   ./build-fuzz/fuzz_decoder_reply -max_total_time=60 fuzz/corpus-decoder_reply
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_decoder_reply.h"

enum { MAX_SAMPLES = 100000 };

static void check(int ok) {
    if (!ok) __builtin_trap();
}

/* The reading's verdict: 0 accepted, 1 refused, -1 broken. */
static int read_reply(const uint8_t *data, size_t size, size_t piece, audio_pcm *out) {
    audio_reply r;
    r1_error err;
    memset(out, 0, sizeof *out);
    audio_reply_init(&r, 16000, MAX_SAMPLES);
    int verdict = 0;
    for (size_t at = 0; at < size && verdict == 0; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        if (audio_reply_feed(&r, data + at, n, &err) != 0) {
            verdict = -1;
            /* refused once, refused for good: more bytes and the end too */
            check(audio_reply_feed(&r, data, size, &err) != 0);
            check(audio_reply_finish(&r, out, &err) == -1 && out->samples == NULL);
        }
    }
    if (verdict == 0) verdict = audio_reply_finish(&r, out, &err);
    if (verdict == 1) check(strlen(r.message) > 0 && strlen(r.message) <= AUDIO_REPLY_MAX_MESSAGE);
    audio_reply_free(&r);
    return verdict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t piece = 1 + data[0] % 64;
    data++, size--;
    audio_pcm whole, pieces;
    int a = read_reply(data, size, size ? size : 1, &whole);
    int b = read_reply(data, size, piece, &pieces);
    check(a == b);
    if (a == 0) {
        check(whole.n_samples > 0 && whole.n_samples <= MAX_SAMPLES && whole.n_samples == pieces.n_samples);
        check(memcmp(whole.samples, pieces.samples, (size_t)whole.n_samples * sizeof(float)) == 0);
        for (long i = 0; i < whole.n_samples; i++) check(whole.samples[i] >= -1.0f && whole.samples[i] <= 1.0f);
        check(whole.source_rate >= AUDIO_MIN_RATE && whole.source_channels >= 1);
    }
    audio_pcm_free(&whole);
    audio_pcm_free(&pieces);
    return 0;
}
