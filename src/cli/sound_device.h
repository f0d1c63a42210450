/*
 * sound_device.h - the speaker and the microphone, through PortAudio (ALSA
 * underneath), for `r1 speak` and `r1 voice`.
 *
 * On a machine with no sound card PortAudio finds no device: opening fails
 * with one clear message (the callers suggest writing or reading files
 * instead), and ALSA's own complaints on stderr are silenced.
 */
#ifndef R1_CLI_SOUND_DEVICE_H
#define R1_CLI_SOUND_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct sound_stream sound_stream;

/* 16-bit mono at rate, to the default output (speaker) or from the
 * default input (microphone). */
sound_stream *sound_open_speaker(int rate, r1_error *err);
sound_stream *sound_open_microphone(int rate, r1_error *err);
/* Blocks until the samples are played / recorded. */
int sound_play(sound_stream *s, const int16_t *samples, size_t n, r1_error *err);
int sound_record(sound_stream *s, int16_t *samples, size_t n, r1_error *err);
/* Drops what is queued for playing (barge-in). */
void sound_stop_playing(sound_stream *s);
void sound_close(sound_stream *s);

#endif
