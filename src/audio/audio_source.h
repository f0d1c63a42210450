/*
 * audio_source.h - what audio_file.c's pipeline (limits, resampling, the
 * growing output) needs from a decoder, and the decoders that provide it:
 *
 *   audio_vorbis.c   Ogg Vorbis (libogg and libvorbis, with the codebook
 *                    limits of vorbis_limits.h);
 *   audio_sndfile.c  everything else libsndfile reads (WAV, FLAC, Ogg Opus,
 *                    MP3, AIFF, ...).
 *
 * Ogg Vorbis has its own decoder because libsndfile leaks the codec setup
 * (~5.8 KB) of every Vorbis stream whose headers it refuses, and a server
 * must not lose memory to each bad upload. audio_file.c asks
 * audio_reads_as_vorbis first and picks the decoder by the answer.
 */
#ifndef R1_AUDIO_AUDIO_SOURCE_H
#define R1_AUDIO_AUDIO_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* A header that does not say how long the audio is (FLAC with 0 total
 * samples, an unseekable Ogg stream): the limit is then enforced as frames
 * arrive. */
#define AUDIO_FRAMES_UNKNOWN INT64_MAX

/* Where the bytes are: a file (path) or memory (data, size). name is what
 * messages call it: the path, or "upload". The first `skip` bytes are
 * ID3v2 tags, which no decoder sees: libsndfile would skip them itself,
 * but reckons where they end differently for files and memory, and reads
 * an Ogg stream it finds behind them with its leaky Vorbis reader (found
 * by reviews and fuzz_audio). When "OggS" lies near their end, they are
 * cut off here and every decoder and the routing test see the same bytes;
 * otherwise skip is 0 and libsndfile reads the tags itself. */
typedef struct audio_input {
    const char *path;
    const unsigned char *data;
    size_t size;
    const char *name;
    uint64_t skip;
} audio_input;

/* An opened input. read_mono writes up to max_frames frames with the
 * channels averaged (audio_mix_*) into mono and returns how many, 0 at the
 * end, or -1 with err naming the input and the problem. close frees
 * everything open_* allocated. */
typedef struct audio_source audio_source;
struct audio_source {
    int channels;
    int rate;
    int64_t frames; /* as the header claims, or AUDIO_FRAMES_UNKNOWN */
    long (*read_mono)(audio_source *s, float *mono, long max_frames, r1_error *err);
    void (*close)(audio_source *s);
    void *state;
};

/* Each opens in or sets err (naming in->name) and returns -1. */
int audio_sndfile_open(const audio_input *in, audio_source *out, r1_error *err);
int audio_vorbis_open(const audio_input *in, audio_source *out, r1_error *err);

/* Whether in goes to audio_vorbis_open: an Ogg input whose first page
 * does not begin a stream of another codec libsndfile reads (Opus, FLAC,
 * Speex, PCM). Reads at most the first 16 KB of the input (SNIFF_BYTES in
 * audio_vorbis.c). */
bool audio_reads_as_vorbis(const audio_input *in);

/* Up to n bytes of in from offset at (past skip) into buf: the count. */
size_t audio_input_read_at(const audio_input *in, uint64_t at, unsigned char *buf, size_t n);

/* A sample as Whisper wants it: finite, in [-1, 1]. Float files carry any
 * value at all, and resampling rings slightly past full scale. */
float audio_clean_sample(float x);

/* Averages frames frames of channels channels into mono: interleaved
 * (libsndfile) or one array per channel (libvorbis). */
void audio_mix_interleaved(const float *in, long frames, int channels, float *mono);
void audio_mix_planar(float *const *in, long frames, int channels, float *mono);

#endif
