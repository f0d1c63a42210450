/*
 * audio_file.h - audio in: any file libsndfile reads (WAV of any sample
 * format, FLAC, OGG/Vorbis/Opus, MP3, AIFF, ...; Ogg Vorbis goes through
 * libogg and libvorbis instead, see audio_source.h), from a path or from bytes
 * in memory (an HTTP upload), turned into mono float samples at the rate
 * the model wants (16000 Hz for Whisper).
 *
 * Channels are averaged; the rate is converted with libsamplerate
 * (SRC_SINC_FASTEST), skipped when the file is already at the target rate.
 * Samples come out in [-1, 1]: integer formats are scaled by libsndfile,
 * float formats are clamped and NaN/inf become 0.
 *
 * Refused with one clear line in err: an empty input, anything the decoder
 * cannot parse (its message, prefixed with the file name or "upload"), no
 * audio frames, more than AUDIO_MAX_CHANNELS channels, a sample rate outside
 * [AUDIO_MIN_RATE, AUDIO_MAX_RATE], and audio longer than the limit
 * (AUDIO_MAX_SECONDS for the plain calls). Reading goes in bounded chunks
 * and the output grows as audio actually arrives, so a header that lies
 * about its length costs nothing.
 */
#ifndef R1_AUDIO_AUDIO_FILE_H
#define R1_AUDIO_AUDIO_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "base/error.h"

#define AUDIO_MAX_SECONDS (4.0 * 3600.0)
#define AUDIO_MAX_CHANNELS 64
#define AUDIO_MIN_RATE 1000
#define AUDIO_MAX_RATE 384000

typedef struct audio_pcm {
    float *samples;      /* mono, in [-1, 1], malloc'd */
    long n_samples;      /* at sample_rate */
    int sample_rate;     /* the target rate asked for */
    int source_rate;     /* the file's rate */
    int source_channels; /* the file's channel count */
    double seconds;      /* duration of the source audio */
} audio_pcm;

/* Decodes the file at path. 0 with *out filled (free it with
 * audio_pcm_free), or -1 with err naming the file and the problem. */
int audio_load_file(const char *path, int target_rate, audio_pcm *out, r1_error *err);

/* The same from size bytes at data (the bytes are not kept); messages say
 * "upload". */
int audio_load_memory(const void *data, size_t size, int target_rate, audio_pcm *out, r1_error *err);

/* As above with another duration limit in seconds (a server may want a
 * shorter one than AUDIO_MAX_SECONDS; fuzzing wants a short one). */
int audio_load_file_limited(const char *path, int target_rate, double max_seconds, audio_pcm *out, r1_error *err);
int audio_load_memory_limited(const void *data, size_t size, int target_rate, double max_seconds, audio_pcm *out,
                              r1_error *err);

/* Where audio_decode_memory_to puts the samples as they are decoded: n
 * mono samples at the target rate, in [-1, 1]. Returns 0, or -1 with err
 * set to stop the decoding (its message is then the call's). */
typedef int (*audio_samples_fn)(void *user, const float *samples, long n, r1_error *err);

typedef struct audio_stream_info {
    long n_samples;      /* given to the sink, at sample_rate */
    int sample_rate;     /* the target rate asked for */
    int source_rate;     /* the file's rate */
    int source_channels; /* the file's channel count */
    double seconds;      /* duration of the source audio */
} audio_stream_info;

/* Decodes size bytes at data as audio_load_memory_limited does, but hands
 * the samples to sink as they come instead of keeping them: memory holds
 * one chunk, however long the audio (the isolated decoder, src/
 * audio_decoder, streams them to its parent). 0 with *info filled, or -1
 * with err set; samples already given to the sink stay the caller's
 * business. */
int audio_decode_memory_to(const void *data, size_t size, int target_rate, double max_seconds, audio_samples_fn sink,
                           void *user, audio_stream_info *info, r1_error *err);

/* The whole of a stream that can be read only once (a pipe): malloc'd,
 * with *size, or NULL with err naming it (name) beyond 1 GB or on a read
 * error. */
unsigned char *audio_read_stream(FILE *f, const char *name, size_t *size, r1_error *err);

/* Frees the samples and zeroes *a; safe on a zeroed or freed audio_pcm. */
void audio_pcm_free(audio_pcm *a);

#endif
