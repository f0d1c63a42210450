/*
 * sound_device.c - speaker and microphone through PortAudio
 * (sound_device.h).
 *
 * PortAudio is initialised once per stream and terminated with it (its own
 * reference count makes that safe): a program that never touches sound
 * never pays for ALSA's device scan.
 */
#include "sound_device.h"

#include <alsa/asoundlib.h>
#include <portaudio.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>

struct sound_stream {
    PaStream *stream;
};

/* ALSA prints to stderr on every failed probe of a missing card; the
 * message PortAudio returns says what matters. */
static void alsa_quiet(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file, (void)line, (void)function, (void)err, (void)fmt;
}

/* PortAudio's probe of JACK prints "jack server is not running" lines
 * that no handler reaches: stderr is pointed at /dev/null meanwhile. */
static PaError initialize_quietly(void) {
    fflush(stderr);
    int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0) dup2(null, STDERR_FILENO);
    PaError pe = Pa_Initialize();
    if (saved >= 0 && null >= 0) dup2(saved, STDERR_FILENO);
    if (saved >= 0) close(saved);
    if (null >= 0) close(null);
    return pe;
}

static sound_stream *open_stream(bool input, int rate, r1_error *err) {
    snd_lib_error_set_handler(alsa_quiet);
    PaError pe = initialize_quietly();
    if (pe != paNoError) return r1_error_set(err, "no sound system: %s", Pa_GetErrorText(pe)), NULL;
    PaDeviceIndex device = input ? Pa_GetDefaultInputDevice() : Pa_GetDefaultOutputDevice();
    if (device == paNoDevice) {
        Pa_Terminate();
        r1_error_set(err, "no sound %s device (no sound card?)", input ? "input" : "output");
        return NULL;
    }
    const PaDeviceInfo *info = Pa_GetDeviceInfo(device);
    PaStreamParameters p = {.device = device, .channelCount = 1, .sampleFormat = paInt16,
                            .suggestedLatency = input ? info->defaultLowInputLatency : info->defaultHighOutputLatency};
    sound_stream *s = calloc(1, sizeof *s);
    if (!s) {
        Pa_Terminate();
        return r1_error_set(err, "out of memory"), NULL;
    }
    pe = Pa_OpenStream(&s->stream, input ? &p : NULL, input ? NULL : &p, rate, paFramesPerBufferUnspecified,
                       paClipOff, NULL, NULL);
    if (pe == paNoError) pe = Pa_StartStream(s->stream);
    if (pe != paNoError) {
        r1_error_set(err, "cannot open the %s (%s): %s", input ? "microphone" : "speaker", info->name,
                     Pa_GetErrorText(pe));
        if (s->stream) Pa_CloseStream(s->stream);
        free(s);
        Pa_Terminate();
        return NULL;
    }
    return s;
}

sound_stream *sound_open_speaker(int rate, r1_error *err) { return open_stream(false, rate, err); }
sound_stream *sound_open_microphone(int rate, r1_error *err) { return open_stream(true, rate, err); }

int sound_play(sound_stream *s, const int16_t *samples, size_t n, r1_error *err) {
    PaError pe = Pa_WriteStream(s->stream, samples, (unsigned long)n);
    if (pe != paNoError && pe != paOutputUnderflowed) return r1_error_set(err, "speaker: %s", Pa_GetErrorText(pe));
    return 0;
}

int sound_record(sound_stream *s, int16_t *samples, size_t n, r1_error *err) {
    PaError pe = Pa_ReadStream(s->stream, samples, (unsigned long)n);
    if (pe != paNoError && pe != paInputOverflowed) return r1_error_set(err, "microphone: %s", Pa_GetErrorText(pe));
    return 0;
}

void sound_stop_playing(sound_stream *s) {
    Pa_AbortStream(s->stream); /* drops what is queued */
    Pa_StartStream(s->stream);
}

void sound_close(sound_stream *s) {
    if (!s) return;
    Pa_StopStream(s->stream);
    Pa_CloseStream(s->stream);
    free(s);
    Pa_Terminate();
}
