/*
 * audio_isolated.h - an upload decoded by r1-audio-decoder in a child
 * process under memory, CPU and file limits (src/audio_decoder/
 * audio_decoder.c says what the child may do), instead of in r1: a bug of
 * a decoder library on a crafted file costs that request only.
 *
 * The result is the same audio_pcm audio_load_memory_limited gives, sample
 * for sample; the child's refusals ("upload: ...") come back as they are.
 * What can go wrong besides, each with its own message: the child crashed
 * (the signal is named and logged), went over its CPU time or its wall
 * clock, or wrote something that is not its protocol (read as hostile
 * output, audio_decoder_reply.h).
 *
 * Time is allowed as audio arrives: the cost of decoding follows the
 * audio's length and rate, not the upload's size (a few MB of silent
 * 192 kHz FLAC are hours of sound), and what a transcription costs
 * follows its length too. The child may use cpu_seconds of CPU time plus
 * cpu_per_audio_second for every second of audio it has sent; r1 watches
 * its CPU time (/proc) and kills it past that, and the kernel's limit
 * (setrlimit) caps it at what the longest audio allowed would earn. The
 * wall clock allows twice the CPU time, plus wall_seconds.
 */
#ifndef R1_AUDIO_AUDIO_ISOLATED_H
#define R1_AUDIO_AUDIO_ISOLATED_H

#include <stdbool.h>
#include <stddef.h>

#include "audio/audio_file.h"
#include "base/error.h"

/* The limits when an audio_isolation leaves them at 0. The address space
 * grows with the upload (it is mapped, and a decoder may hold a copy).
 * Decoding takes at most ~0.02 s of CPU per second of audio here (1 h of
 * 384 kHz FLAC: 80 s), Whisper 0.1-0.5 s per second; a decoder that makes
 * no audio (false Ogg page starts: ~4 s per MB) is stopped at 30 s. */
#define AUDIO_ISOLATED_BASE_MEMORY ((size_t)256 << 20)
#define AUDIO_ISOLATED_CPU_SECONDS 30.0
#define AUDIO_ISOLATED_CPU_PER_AUDIO_SECOND 0.1
#define AUDIO_ISOLATED_WALL_SECONDS 10.0

typedef struct audio_isolation {
    const char *decoder_path;    /* r1-audio-decoder: a path, or a name looked up on $PATH */
    size_t memory_bytes;         /* the child's address space; 0: base + 2x the upload */
    double cpu_seconds;          /* CPU time before any audio; 0: the default */
    double cpu_per_audio_second; /* more CPU time per second of audio sent; 0: the default */
    double wall_seconds;         /* wall clock beyond twice the CPU time allowed; 0: the default */
    /* asked between reads, at least every 0.2 s, while the child works (may
     * be NULL): true kills it */
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
