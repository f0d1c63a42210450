/*
 * audio_decoder_reply.h - what r1-audio-decoder (src/audio_decoder/) writes
 * on its standard output, and the reader of it on r1's side.
 *
 * The decoder is a child process of r1 on the same machine, so numbers go
 * in the machine's own byte order. Its output is a sequence of records,
 * each one byte of kind, a 4-byte length, then that many bytes:
 *   'S'  samples: length/4 floats, mono at the target rate, in order
 *   'E'  the end: an audio_decoder_end (the totals, to check against)
 *   'X'  a refusal: length bytes of UTF-8 message (the input is not audio
 *        it can decode, or is over a limit), at most 511
 * and ends with exactly one 'E' or 'X', after which it exits.
 *
 * r1 treats that output as outside data, since the child parses hostile
 * uploads with third-party libraries and may have been subverted: the
 * reader refuses an unknown kind, a length out of bounds, more samples
 * than the limit allows, totals that disagree with what arrived, anything
 * after the last record, and output that ends early; it clamps every
 * sample into [-1, 1] (NaN to 0). fuzz/fuzz_decoder_reply.c feeds it
 * arbitrary bytes.
 */
#ifndef R1_AUDIO_AUDIO_DECODER_REPLY_H
#define R1_AUDIO_AUDIO_DECODER_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audio/audio_file.h"
#include "base/error.h"

/* The protocol's version, r1-audio-decoder's first argument: a decoder of
 * another version (a half-done upgrade) refuses to start instead of
 * misreading its arguments or being misread. */
#define AUDIO_DECODER_PROTOCOL "1"

/* How r1-audio-decoder ends: its exit status. */
enum {
    AUDIO_DECODER_DECODED = 0,      /* the samples and an 'E' record were written */
    AUDIO_DECODER_REFUSED = 1,      /* the input: an 'X' record says why */
    AUDIO_DECODER_USAGE = 2,        /* arguments of another protocol version */
    AUDIO_DECODER_CANNOT_START = 3, /* could not confine itself or read the input: an 'X' record says why */
};

enum {
    AUDIO_REPLY_SAMPLES = 'S',
    AUDIO_REPLY_END = 'E',
    AUDIO_REPLY_REFUSED = 'X',
    AUDIO_REPLY_HEADER_BYTES = 5,
    AUDIO_REPLY_MAX_SAMPLE_BYTES = 1 << 20, /* one 'S' record */
    AUDIO_REPLY_MAX_MESSAGE = 511,
};

/* The payload of 'E'. */
typedef struct audio_decoder_end {
    int64_t n_samples; /* every sample sent */
    int32_t source_rate;
    int32_t source_channels;
    double seconds; /* of source audio */
} audio_decoder_end;

typedef struct audio_reply {
    /* set by audio_reply_init */
    int sample_rate;
    long max_samples;
    /* the record being read */
    unsigned char header[AUDIO_REPLY_HEADER_BYTES];
    size_t header_got;
    uint32_t payload_left;
    unsigned char small[AUDIO_REPLY_MAX_MESSAGE + 1]; /* an 'E' or 'X' payload */
    size_t small_got;
    /* what arrived */
    float *samples;
    size_t sample_bytes, sample_cap; /* in bytes */
    bool ended, refused;
    bool failed;        /* a feed was refused: nothing more is read */
    bool out_of_memory; /* ... because memory ran out here, not for what the child sent */
    audio_decoder_end end;
    char message[AUDIO_REPLY_MAX_MESSAGE + 1]; /* of 'X' */
} audio_reply;

/* Ready to read a reply of at most max_samples samples at sample_rate. */
void audio_reply_init(audio_reply *r, int sample_rate, long max_samples);

/* Reads n more bytes of output. -1 with err naming the violation (or
 * r->out_of_memory set); every call after that fails the same way. */
int audio_reply_feed(audio_reply *r, const unsigned char *bytes, size_t n, r1_error *err);

/* At the end of the output: 0 with *out filled (the samples move there;
 * free with audio_pcm_free), 1 when the decoder refused the input (its
 * message in r->message), -1 with err for output that ended early, after
 * a failed feed, or whose totals disagree. */
int audio_reply_finish(audio_reply *r, audio_pcm *out, r1_error *err);

/* Frees what the reply still holds; safe after audio_reply_finish. */
void audio_reply_free(audio_reply *r);

#endif
