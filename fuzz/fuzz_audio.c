/*
 * fuzz_audio.c - libFuzzer harness for audio uploads: any bytes given to
 * audio_load_memory either decode into finite mono samples in [-1, 1] at
 * the target rate, within the length limit, or are refused with one line.
 *
 * Inputs are capped at 64 KB (uploads are bigger, but the header parsers
 * and codecs see the same code paths) and the length limit is 10 s, so a
 * FLAC of constant blocks claiming hours of audio is refused quickly
 * instead of timing the harness out; the 4-hour limit of the plain call is
 * the same check with another number.
 *
 * Ogg pages carry a CRC, so nearly every mutation of an OGG file would
 * stop at the first page; the harness recomputes the CRC of every page it
 * can delimit, letting the mutations reach the Vorbis/Opus headers and
 * packets behind them.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   ./fuzz_audio -max_len=65536 corpus fuzz/corpus-audio
 */
#include <math.h>
#include <ogg/ogg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_file.h"

#define MAX_INPUT 65536
#define MAX_SECONDS 10.0
#define TARGET_RATE 16000

/* No leak suppressions: a malformed upload must cost no memory. (Until
 * audio_vorbis.c, libsndfile read Ogg Vorbis and kept the codec setup of
 * every stream whose headers it refused; this harness had to tell
 * LeakSanitizer to ignore vorbis_info_init.) */

/* Rewrites the checksum of every whole "OggS" page in buf (libogg's
 * ogg_page_checksum_set, as an encoder would). */
static void fix_ogg_crcs(uint8_t *buf, size_t size) {
    size_t at = 0;
    while (at + 27 <= size && memcmp(buf + at, "OggS", 4) == 0) {
        size_t n_segments = buf[at + 26], header = 27 + n_segments, body = 0;
        if (at + header > size) return;
        for (size_t s = 0; s < n_segments; s++) body += buf[at + 27 + s];
        if (at + header + body > size) return;
        ogg_page page = {.header = buf + at, .header_len = (long)header, .body = buf + at + header,
                         .body_len = (long)body};
        ogg_page_checksum_set(&page);
        at += header + body;
    }
}

static void check(int ok) {
    if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) return 0;
    static uint8_t input[MAX_INPUT];
    memcpy(input, data, size);
    fix_ogg_crcs(input, size);
    audio_pcm a;
    r1_error err = {{0}};
    if (audio_load_memory_limited(input, size, TARGET_RATE, MAX_SECONDS, &a, &err) != 0) {
        /* a refusal always says why, on one line, and leaves nothing to free */
        check(err.message[0] != '\0' && strchr(err.message, '\n') == NULL && a.samples == NULL);
        return 0;
    }
    check(a.n_samples > 0 && a.samples != NULL && a.sample_rate == TARGET_RATE);
    check(a.source_channels >= 1 && a.source_channels <= AUDIO_MAX_CHANNELS);
    check(a.source_rate >= AUDIO_MIN_RATE && a.source_rate <= AUDIO_MAX_RATE);
    check(a.seconds > 0 && a.seconds <= MAX_SECONDS);
    /* the resampler's output stays within a few samples of the source length */
    check(fabs((double)a.n_samples - a.seconds * TARGET_RATE) <= 64.0);
    for (long i = 0; i < a.n_samples; i++) check(a.samples[i] >= -1.0f && a.samples[i] <= 1.0f);
    audio_pcm_free(&a);
    return 0;
}
