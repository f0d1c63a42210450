/*
 * fuzz_speech_request.c - libFuzzer harness for the body of POST
 * /v1/audio/speech (src/server/speech_request.c). An accepted request must
 * keep every promise of speech_request.h (text of 1..limit characters, a
 * known voice and format, speed in range); a refused one must leave the
 * request zeroed and give a 4xx with a message, code and JSON body that
 * parses. ASan catches leaks and overreads on either path.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   fuzz/run-fuzz.sh [seconds] [testdata-dir] speech_request
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_encode.h"
#include "r1.h"
#include "server/speech_request.h"

enum { MAX_CHARS = 64 };

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    speech_request r;
    api_error e;
    if (speech_request_parse((const char *)data, size, MAX_CHARS, &r, &e) == 0) {
        check(r.input != NULL && r.input_chars >= 1 && r.input_chars <= MAX_CHARS && strlen(r.input) >= r.input_chars);
        check(r1_tts_voice_known(r.voice));
        check(audio_format_known(r.format) && strcmp(r.format, "ogg") != 0);
        check(r.speed >= 0.25f && r.speed <= 4.0f);
        speech_request_free(&r);
        return 0;
    }
    check(r.input == NULL && (e.status == 400 || e.status == 404 || e.status == 500) && e.code && e.message[0]);
    char *body = api_error_json(&e);
    check(body != NULL);
    json_t *back = json_loads(body, 0, NULL);
    check(back && strcmp(json_string_value(json_object_get(json_object_get(back, "error"), "message")), e.message) == 0);
    json_decref(back);
    free(body);
    return 0;
}
