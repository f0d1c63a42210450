/*
 * tts_worker.c - r1-tts-worker: speech synthesis with espeak-ng in a process
 * of its own.
 *
 * Why a separate program: espeak-ng keeps one synthesizer in global state
 * (two threads calling it corrupt each other's audio) and it is GPL-3+. Run
 * at arm's length, behind a pipe, it is used by one request at a time, a
 * crash inside it costs one request instead of the server, and no GPL code
 * links into libr1 or the r1 binary. r1 starts and supervises this program
 * (src/speech/tts.c); nothing else here knows about HTTP or models.
 *
 * The protocol, on stdin and stdout (lines end with \n):
 *   worker:  "ready RATE\n"                  once, RATE = samples per second
 *   r1:      "speak VOICE WPM PITCH BYTES\n" then BYTES of UTF-8 text
 *   worker:  "audio N\n" then N 16-bit little-endian mono samples, repeated
 *            as espeak-ng produces them (so the first sound leaves early),
 *            then "done\n", or "error MESSAGE\n" when the request failed
 * VOICE is an espeak-ng voice name (en-us, cmn-latn-pinyin, en-us+f2); WPM
 * is words per minute (80..450); PITCH is 0..99. The worker exits when
 * stdin closes.
 */
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT_BYTES (1 << 20)

static bool output_failed;

/* espeak-ng hands over each chunk of samples as it synthesises them. */
static int on_samples(short *samples, int n, espeak_EVENT *events) {
    (void)events;
    if (n <= 0 || !samples || output_failed) return 0;
    if (printf("audio %d\n", n) < 0 || fwrite(samples, sizeof(short), (size_t)n, stdout) != (size_t)n ||
        fflush(stdout) != 0)
        output_failed = true; /* r1 went away: stop synthesising */
    return output_failed ? 1 : 0;
}

static void reply_error(const char *what, espeak_ng_STATUS status) {
    char message[256] = "";
    if (status != ENS_OK) espeak_ng_GetStatusCodeMessage(status, message, sizeof message);
    printf("error %s%s%s\n", what, message[0] ? ": " : "", message);
    fflush(stdout);
}

/* One "speak" request; false when the protocol broke (r1 is gone or wrong). */
static bool speak(const char *voice, int wpm, int pitch, long n_bytes) {
    if (n_bytes < 0 || n_bytes > MAX_TEXT_BYTES) return false;
    char *text = malloc((size_t)n_bytes + 1);
    if (!text) return false;
    if (fread(text, 1, (size_t)n_bytes, stdin) != (size_t)n_bytes) {
        free(text);
        return false;
    }
    text[n_bytes] = '\0';
    espeak_ng_STATUS status = espeak_ng_SetVoiceByName(voice);
    if (status != ENS_OK) {
        reply_error("unknown voice", status);
    } else {
        espeak_SetParameter(espeakRATE, wpm, 0);
        espeak_SetParameter(espeakPITCH, pitch, 0);
        status = espeak_ng_Synthesize(text, (size_t)n_bytes + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL);
        if (status == ENS_OK) status = espeak_ng_Synchronize();
        if (output_failed) {
            free(text);
            return false;
        }
        if (status != ENS_OK) reply_error("synthesis failed", status);
        else printf("done\n");
        fflush(stdout);
    }
    free(text);
    return true;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, "usage: %s (started by r1: requests on stdin, audio on stdout)\n", argv[0]);
        return 2;
    }
    espeak_ng_InitializePath(NULL);
    espeak_ng_STATUS status = espeak_ng_Initialize(NULL);
    if (status == ENS_OK) status = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, NULL);
    if (status != ENS_OK) {
        char message[256];
        espeak_ng_GetStatusCodeMessage(status, message, sizeof message);
        printf("error espeak-ng did not start (is espeak-ng-data installed?): %s\n", message);
        return 1;
    }
    espeak_SetSynthCallback(on_samples);
    printf("ready %d\n", espeak_ng_GetSampleRate());
    fflush(stdout);

    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char voice[128];
        int wpm, pitch;
        long n_bytes;
        if (sscanf(line, "speak %127s %d %d %ld", voice, &wpm, &pitch, &n_bytes) != 4) {
            fprintf(stderr, "r1-tts-worker: not a request: %.80s\n", line);
            return 1;
        }
        if (!speak(voice, wpm, pitch, n_bytes)) return 1;
    }
    espeak_ng_Terminate();
    return 0;
}
