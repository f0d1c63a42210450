/*
 * audio_isolated.h - an upload decoded by r1-audio-decoder in a child
 * process under memory, CPU and file limits (src/audio_decoder/
 * audio_decoder.c says what the child may do), instead of in r1: a bug of
 * a decoder library on a crafted file costs that request only.
 *
 * The result is the same audio_pcm audio_load_memory_limited gives, sample
 * for sample; the child's refusals ("upload: ...") come back as they are.
 * What can go wrong besides, each with its own message: the child crashed
 * (the signal is named and logged), went over its CPU time, ran past the
 * wall-clock limit, or wrote something that is not its protocol (read as
 * hostile output, audio_decoder_reply.h).
 */
#ifndef R1_AUDIO_AUDIO_ISOLATED_H
#define R1_AUDIO_AUDIO_ISOLATED_H

#include <stdbool.h>
#include <stddef.h>

#include "audio/audio_file.h"
#include "base/error.h"

/* The limits when an audio_isolation leaves them at 0: the address space
 * grows with the upload (it is mapped, and a decoder may hold a copy);
 * CPU time too (a few MB of compressed audio are hours of sound). */
#define AUDIO_ISOLATED_BASE_MEMORY ((size_t)256 << 20)
#define AUDIO_ISOLATED_BASE_CPU_SECONDS 30.0
#define AUDIO_ISOLATED_CPU_SECONDS_PER_MB 10.0

typedef struct audio_isolation {
    const char *decoder_path; /* r1-audio-decoder: a path, or a name looked up on $PATH */
    size_t memory_bytes;      /* the child's address space; 0: base + 2x the upload */
    double cpu_seconds;       /* its CPU time; 0: base + per MB of upload */
    double wall_seconds;      /* killed past this; 0: twice the CPU time + 10 s */
    /* asked every 0.2 s while the child works (may be NULL): true kills it */
    bool (*should_stop)(void *user);
    void *user;
} audio_isolation;

/* What audio_load_memory_isolated returns besides 0. */
enum {
    AUDIO_ISOLATED_BAD_AUDIO = -1, /* refused, or the decoder failed on this input */
    AUDIO_ISOLATED_FAILED = -2,    /* the decoder could not be run (not installed, no memory) */
    AUDIO_ISOLATED_STOPPED = -3,   /* should_stop said so */
};

int audio_load_memory_isolated(const audio_isolation *iso, const void *data, size_t size, int target_rate,
                               double max_seconds, audio_pcm *out, r1_error *err);

#endif
