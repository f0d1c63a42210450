/*
 * audio_encode.h - audio out: 16-bit mono samples from the synthesiser,
 * resampled to AUDIO_OUTPUT_RATE and encoded as a stream of bytes in one of
 * the formats of OpenAI's speech API, handed to a sink as they are made.
 *
 *   wav   16-bit PCM in RIFF. A stream cannot know its length up front, so
 *         the header says 0xFFFFFFFF (as OpenAI's does; readers take "to
 *         the end"); with a patch hook (a file) the real sizes are written
 *         at the end.
 *   pcm   raw 16-bit little-endian samples, no header.
 *   flac  FLAC (libsndfile). Its header is rewritten at the end with the
 *         totals; without a patch hook the streamed copy keeps the first
 *         header (totals "unknown", which FLAC allows).
 *   opus  Ogg/Opus (libsndfile).
 *   ogg   Ogg/Vorbis (libsndfile; not one of OpenAI's, offered by r1 speak).
 * All at 24000 Hz, the rate OpenAI's pcm format documents.
 */
#ifndef R1_AUDIO_AUDIO_ENCODE_H
#define R1_AUDIO_AUDIO_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"

#define AUDIO_OUTPUT_RATE 24000

typedef struct audio_encoder audio_encoder;

typedef struct audio_sink {
    /* the next bytes of the stream; nonzero: stop (the reader is gone) */
    int (*write)(void *user, const void *bytes, size_t n);
    /* rewrites bytes already written at offset (may be NULL: a stream) */
    int (*patch)(void *user, uint64_t offset, const void *bytes, size_t n);
    void *user;
} audio_sink;

/* A sink that writes to f; when seekable (a regular file) headers are
 * patched at the end through pwrite (the WAV sizes, FLAC's totals). */
audio_sink audio_file_sink(FILE *f, bool seekable);

/* Whether format is one of wav, pcm, flac, opus, ogg; its MIME type. */
bool audio_format_known(const char *format);
const char *audio_format_content_type(const char *format);

audio_encoder *audio_encoder_new(const char *format, int input_rate, const audio_sink *sink, r1_error *err);
/* Encodes n samples; -1 with err when encoding failed or the sink stopped. */
int audio_encoder_write(audio_encoder *e, const int16_t *samples, size_t n, r1_error *err);
/* Ends the stream (the resampler's tail, the format's trailer). */
int audio_encoder_finish(audio_encoder *e, r1_error *err);
void audio_encoder_free(audio_encoder *e);
/* Seconds of audio encoded so far. */
double audio_encoder_seconds(const audio_encoder *e);

#endif
