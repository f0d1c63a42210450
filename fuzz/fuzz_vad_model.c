/*
 * fuzz_vad_model.c - libFuzzer harness for the Silero VAD model loader
 * (vad_model_load_memory).
 *
 * A rejected input must come with a message. An accepted one (rare: the
 * weights alone are 885 KB) must run: probabilities for a short made-up
 * signal are in [0, 1], or NaN where huge finite weights overflow, and never
 * read outside the model.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   ./build-fuzz/fuzz_vad_model -max_len=1000000 fuzz/corpus-vad_model
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "audio/vad.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static void run_model(vad_model *m) {
    float x[2 * VAD_WINDOW_SAMPLES + 100];
    for (int i = 0; i < (int)(sizeof x / sizeof x[0]); i++) x[i] = 0.5f * sinf(0.05f * (float)i);
    float *p;
    int n;
    r1_error err;
    check(vad_speech_probs(m, x, (long)(sizeof x / sizeof x[0]), &p, &n, &err) == 0 && n == 3);
    for (int i = 0; i < n; i++) check(isnan(p[i]) || (p[i] >= 0.0f && p[i] <= 1.0f));
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    r1_error err = {{0}};
    vad_model *m = vad_model_load_memory(data, size, "fuzz", &err);
    if (!m) {
        check(err.message[0] != '\0');
        return 0;
    }
    run_model(m);
    vad_model_free(m);
    return 0;
}
