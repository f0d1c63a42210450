/*
 * audio_decoder_reply.c - the reader of r1-audio-decoder's output (the
 * records are described in audio_decoder_reply.h). It takes bytes as they
 * come out of the pipe, in pieces of any size, and keeps the samples of
 * 'S' records in one growing array bounded by the reply's limit.
 */
#include "audio/audio_decoder_reply.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_source.h"

void audio_reply_init(audio_reply *r, int sample_rate, long max_samples) {
    memset(r, 0, sizeof *r);
    r->sample_rate = sample_rate;
    r->max_samples = max_samples;
}

void audio_reply_free(audio_reply *r) {
    free(r->samples);
    r->samples = NULL;
    r->sample_bytes = r->sample_cap = 0;
}

static int make_room_for_samples(audio_reply *r, size_t more, r1_error *err) {
    size_t limit = (size_t)r->max_samples * sizeof(float);
    if (r->sample_bytes + more > limit)
        return r1_error_set(err, "the audio decoder sent more than %ld samples, the limit", r->max_samples);
    if (r->sample_cap - r->sample_bytes >= more) return 0;
    size_t cap = r->sample_cap ? r->sample_cap : 65536;
    while (cap - r->sample_bytes < more) cap *= 2;
    if (cap > limit) cap = limit;
    float *grown = realloc(r->samples, cap);
    if (!grown) {
        r->out_of_memory = true;
        return r1_error_set(err, "out of memory for %zu bytes of audio samples", cap);
    }
    r->samples = grown;
    r->sample_cap = cap;
    return 0;
}

/* A record's header is complete: check its kind and length. */
static int start_record(audio_reply *r, r1_error *err) {
    unsigned char kind = r->header[0];
    uint32_t length;
    memcpy(&length, r->header + 1, sizeof length);
    r->payload_left = length;
    r->small_got = 0;
    switch (kind) {
    case AUDIO_REPLY_SAMPLES:
        if (length == 0 || length % sizeof(float) != 0 || length > AUDIO_REPLY_MAX_SAMPLE_BYTES)
            return r1_error_set(err, "the audio decoder sent a samples record of %u bytes (a multiple of 4, 4 to %d)",
                                length, AUDIO_REPLY_MAX_SAMPLE_BYTES);
        return make_room_for_samples(r, length, err);
    case AUDIO_REPLY_END:
        if (length != sizeof(audio_decoder_end))
            return r1_error_set(err, "the audio decoder sent an end record of %u bytes (%zu expected)", length,
                                sizeof(audio_decoder_end));
        return 0;
    case AUDIO_REPLY_REFUSED:
        if (length == 0 || length > AUDIO_REPLY_MAX_MESSAGE)
            return r1_error_set(err, "the audio decoder sent a message of %u bytes (1 to %d)", length,
                                AUDIO_REPLY_MAX_MESSAGE);
        return 0;
    default:
        return r1_error_set(err, "the audio decoder sent a record of unknown kind 0x%02x", kind);
    }
}

/* The refusal's text as printable ASCII: it reaches clients and logs. */
static void keep_message(audio_reply *r) {
    for (size_t i = 0; i < r->small_got; i++) {
        unsigned char c = r->small[i];
        r->message[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    r->message[r->small_got] = '\0';
    r->refused = true;
}

static int keep_end(audio_reply *r, r1_error *err) {
    audio_decoder_end *e = &r->end;
    memcpy(e, r->small, sizeof *e);
    int64_t received = (int64_t)(r->sample_bytes / sizeof(float));
    if (e->n_samples != received)
        return r1_error_set(err, "the audio decoder counted %lld samples but sent %lld", (long long)e->n_samples,
                            (long long)received);
    if (received == 0) return r1_error_set(err, "the audio decoder ended without sending a sample");
    if (e->source_rate < AUDIO_MIN_RATE || e->source_rate > AUDIO_MAX_RATE)
        return r1_error_set(err, "the audio decoder reported a source rate of %d Hz", (int)e->source_rate);
    if (e->source_channels < 1 || e->source_channels > AUDIO_MAX_CHANNELS)
        return r1_error_set(err, "the audio decoder reported %d channels", (int)e->source_channels);
    if (!isfinite(e->seconds) || e->seconds < 0.0 || e->seconds > 1e7)
        return r1_error_set(err, "the audio decoder reported a duration of %g s", e->seconds);
    r->ended = true;
    return 0;
}

static int end_record(audio_reply *r, r1_error *err) {
    switch (r->header[0]) {
    case AUDIO_REPLY_END:
        return keep_end(r, err);
    case AUDIO_REPLY_REFUSED:
        keep_message(r);
        return 0;
    default: /* samples: nothing to do until the end */
        return 0;
    }
}

static int feed(audio_reply *r, const unsigned char *bytes, size_t n, r1_error *err) {
    while (n > 0) {
        if (r->ended || r->refused)
            return r1_error_set(err, "the audio decoder wrote %zu bytes after its last record", n);
        if (r->header_got < AUDIO_REPLY_HEADER_BYTES) {
            size_t take = AUDIO_REPLY_HEADER_BYTES - r->header_got;
            if (take > n) take = n;
            memcpy(r->header + r->header_got, bytes, take);
            r->header_got += take, bytes += take, n -= take;
            if (r->header_got == AUDIO_REPLY_HEADER_BYTES && start_record(r, err) != 0) return -1;
            continue;
        }
        size_t take = r->payload_left < n ? r->payload_left : n;
        if (r->header[0] == AUDIO_REPLY_SAMPLES) {
            memcpy((unsigned char *)r->samples + r->sample_bytes, bytes, take);
            r->sample_bytes += take;
        } else {
            memcpy(r->small + r->small_got, bytes, take);
            r->small_got += take;
        }
        r->payload_left -= (uint32_t)take, bytes += take, n -= take;
        if (r->payload_left == 0) {
            r->header_got = 0;
            if (end_record(r, err) != 0) return -1;
        }
    }
    return 0;
}

int audio_reply_feed(audio_reply *r, const unsigned char *bytes, size_t n, r1_error *err) {
    if (r->failed) return r1_error_set(err, "the audio decoder's output was refused already");
    if (feed(r, bytes, n, err) == 0) return 0;
    r->failed = true;
    return -1;
}

int audio_reply_finish(audio_reply *r, audio_pcm *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (r->failed) return r1_error_set(err, "the audio decoder's output was refused");
    if (r->refused) return 1;
    if (!r->ended)
        return r1_error_set(err, "the audio decoder's output stopped before its end record (%zu samples had come)",
                            r->sample_bytes / sizeof(float));
    long n = (long)(r->sample_bytes / sizeof(float));
    for (long i = 0; i < n; i++) r->samples[i] = audio_clean_sample(r->samples[i]);
    *out = (audio_pcm){.samples = r->samples,
                       .n_samples = n,
                       .sample_rate = r->sample_rate,
                       .source_rate = r->end.source_rate,
                       .source_channels = r->end.source_channels,
                       .seconds = r->end.seconds};
    r->samples = NULL;
    r->sample_bytes = r->sample_cap = 0;
    return 0;
}
