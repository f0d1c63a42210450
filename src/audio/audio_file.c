/*
 * audio_file.c - audio files and uploads to mono float samples at a target
 * rate (see audio_file.h): a decoder (audio_source.h: libogg and libvorbis
 * for Ogg Vorbis, libsndfile for the rest) gives chunks of frames with the
 * channels averaged, and libsamplerate converts the rate as the chunks
 * pass, so memory holds only the output and one chunk of input.
 */
#include "audio/audio_file.h"

#include <errno.h>
#include <math.h>
#include <samplerate.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/audio_source.h"

/* The most read from a pipe (a path that is not a regular file). */
#define AUDIO_MAX_STREAM_BYTES (1024 << 20)
/* Mono frames asked of the decoder per read. */
#define CHUNK_FRAMES 4096

/* The header's promises, before anything is allocated for them. */
static int check_header(const audio_source *src, double max_seconds, const char *name, r1_error *err) {
    if (src->channels < 1 || src->channels > AUDIO_MAX_CHANNELS)
        return r1_error_set(err, "%s: %d channels (1 to %d are accepted)", name, src->channels, AUDIO_MAX_CHANNELS);
    if (src->rate < AUDIO_MIN_RATE || src->rate > AUDIO_MAX_RATE)
        return r1_error_set(err, "%s: sample rate %d Hz (%d to %d Hz are accepted)", name, src->rate, AUDIO_MIN_RATE,
                            AUDIO_MAX_RATE);
    if (src->frames <= 0) return r1_error_set(err, "%s: no audio frames in the file", name);
    /* a header that does not know the length: the limit is then enforced
     * as frames arrive */
    double seconds = src->frames == AUDIO_FRAMES_UNKNOWN ? 0.0 : (double)src->frames / src->rate;
    if (seconds > max_seconds)
        return r1_error_set(err, "%s: %.0f s of audio, longer than the limit of %.0f s", name, seconds, max_seconds);
    return 0;
}

/* ---- decoding ---- */

/* Target-rate samples handed to the sink per call when resampling. */
#define SCRATCH_SAMPLES 8192

typedef struct decoder {
    const char *name;
    SRC_STATE *resampler; /* NULL when the rates already match */
    double ratio;         /* target rate / source rate */
    audio_samples_fn sink;
    void *user;
    long n_emitted;
    float scratch[SCRATCH_SAMPLES]; /* the resampler's output */
} decoder;

static int emit(decoder *d, const float *samples, long n, r1_error *err) {
    d->n_emitted += n;
    return d->sink(d->user, samples, n, err);
}

float audio_clean_sample(float x) {
    if (!isfinite(x)) return 0.0f;
    return x > 1.0f ? 1.0f : x < -1.0f ? -1.0f : x;
}

void audio_mix_interleaved(const float *in, long frames, int channels, float *mono) {
    for (long f = 0; f < frames; f++) {
        double sum = 0.0;
        for (int c = 0; c < channels; c++) sum += audio_clean_sample(in[f * channels + c]);
        mono[f] = (float)(sum / channels);
    }
}

void audio_mix_planar(float *const *in, long frames, int channels, float *mono) {
    for (long f = 0; f < frames; f++) {
        double sum = 0.0;
        for (int c = 0; c < channels; c++) sum += audio_clean_sample(in[c][f]);
        mono[f] = (float)(sum / channels);
    }
}

/* Passes frames of mono input on, resampled; end flushes the resampler. */
static int push(decoder *d, const float *mono, long frames, int end, r1_error *err) {
    if (!d->resampler) return frames > 0 ? emit(d, mono, frames, err) : 0;
    SRC_DATA job = {.data_in = mono,
                    .input_frames = frames,
                    .src_ratio = d->ratio,
                    .end_of_input = end,
                    .data_out = d->scratch,
                    .output_frames = SCRATCH_SAMPLES};
    for (;;) {
        int rc = src_process(d->resampler, &job);
        if (rc != 0) return r1_error_set(err, "%s: resampling failed: %s", d->name, src_strerror(rc));
        for (long i = 0; i < job.output_frames_gen; i++) d->scratch[i] = audio_clean_sample(d->scratch[i]);
        if (job.output_frames_gen > 0 && emit(d, d->scratch, job.output_frames_gen, err) != 0) return -1;
        job.data_in += job.input_frames_used;
        job.input_frames -= job.input_frames_used;
        int progressed = job.input_frames_used > 0 || job.output_frames_gen > 0;
        if (!progressed || (job.input_frames == 0 && !end)) return 0;
    }
}

/* Reads every frame of an open source through resampling. */
static int read_all(audio_source *src, decoder *d, double max_seconds, long *frames_read, r1_error *err) {
    double limit = max_seconds * src->rate;
    long max_frames = limit < 1e15 ? (long)limit : (long)1e15; /* a huge limit must not overflow */
    float *mono = malloc(CHUNK_FRAMES * sizeof *mono);
    int rc = mono ? 0 : r1_error_set(err, "%s: out of memory", d->name);
    *frames_read = 0;
    while (rc == 0) {
        long got = src->read_mono(src, mono, CHUNK_FRAMES, err);
        if (got < 0) rc = -1;
        if (got <= 0) break;
        *frames_read += got;
        if (*frames_read > max_frames) {
            rc = r1_error_set(err, "%s: more than %.0f s of audio, the limit", d->name, max_seconds);
            break;
        }
        rc = push(d, mono, got, 0, err);
    }
    if (rc == 0 && *frames_read == 0) rc = r1_error_set(err, "%s: no audio frames could be decoded", d->name);
    if (rc == 0) rc = push(d, mono, 0, 1, err);
    free(mono);
    return rc;
}

static int decode(audio_source *src, const char *name, int target_rate, double max_seconds, audio_samples_fn sink,
                  void *user, audio_stream_info *info, r1_error *err) {
    if (check_header(src, max_seconds, name, err) != 0) return -1;
    decoder *d = calloc(1, sizeof *d);
    if (!d) return r1_error_set(err, "%s: out of memory", name);
    d->name = name;
    d->ratio = (double)target_rate / src->rate;
    d->sink = sink;
    d->user = user;
    int rc = 0;
    if (src->rate != target_rate) {
        d->resampler = src_new(SRC_SINC_FASTEST, 1, &rc);
        if (!d->resampler) rc = r1_error_set(err, "%s: resampler: %s", name, src_strerror(rc));
    }
    long frames_read = 0;
    if (rc == 0) rc = read_all(src, d, max_seconds, &frames_read, err);
    if (rc == 0 && d->n_emitted == 0) /* e.g. 1 frame at 73 kHz is less than one sample at 16 kHz */
        rc = r1_error_set(err, "%s: too short: %ld frames at %d Hz make no sample at %d Hz", name, frames_read,
                          src->rate, target_rate);
    if (rc == 0)
        *info = (audio_stream_info){.n_samples = d->n_emitted,
                                    .sample_rate = target_rate,
                                    .source_rate = src->rate,
                                    .source_channels = src->channels,
                                    .seconds = (double)frames_read / src->rate};
    if (d->resampler) src_delete(d->resampler);
    free(d);
    return rc;
}

/* ---- the whole output in memory (the audio_load calls) ---- */

typedef struct sample_buffer {
    float *data;
    long n;
    long cap;
} sample_buffer;

/* A sink that appends to a sample_buffer, doubling it as audio arrives (a
 * header's promised length is not trusted with an allocation). */
static int append_samples(void *user, const float *samples, long n, r1_error *err) {
    sample_buffer *b = user;
    if (b->cap - b->n < n) {
        long cap = b->cap ? b->cap : 16384;
        while (cap - b->n < n) cap *= 2;
        float *grown = realloc(b->data, (size_t)cap * sizeof *grown);
        if (!grown) return r1_error_set(err, "out of memory for %ld audio samples", cap);
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->n, samples, (size_t)n * sizeof *samples);
    b->n += n;
    return 0;
}

static int check_target(int target_rate, double max_seconds, r1_error *err) {
    if (!(max_seconds > 0.0)) return r1_error_set(err, "audio length limit %g s is not positive", max_seconds);
    if (target_rate < AUDIO_MIN_RATE || target_rate > AUDIO_MAX_RATE)
        return r1_error_set(err, "target sample rate %d Hz is outside %d to %d Hz", target_rate, AUDIO_MIN_RATE,
                            AUDIO_MAX_RATE);
    return 0;
}

/* ---- the API ---- */

size_t audio_input_read_at(const audio_input *in, uint64_t at, unsigned char *buf, size_t n) {
    at += in->skip;
    if (!in->path) {
        if (at >= in->size) return 0;
        size_t got = in->size - at < n ? (size_t)(in->size - at) : n;
        memcpy(buf, in->data + at, got);
        return got;
    }
    FILE *f = fopen(in->path, "rb");
    size_t got = f && fseeko(f, (off_t)at, SEEK_SET) == 0 ? fread(buf, 1, n, f) : 0;
    if (f) fclose(f);
    return got;
}

/* The ID3v2 tags at the start of in, one after another (10 bytes and a
 * "syncsafe" size, 7 bits a byte, plus a 10-byte footer when its flag is
 * set), into in->skip; -1 with err set for more than MAX_ID3_TAGS. */
enum { MAX_ID3_TAGS = 64 };
static int skip_id3_tags(audio_input *in, r1_error *err) {
    unsigned char h[10];
    in->skip = 0;
    for (int tags = 0; audio_input_read_at(in, 0, h, sizeof h) == sizeof h; tags++) {
        if (memcmp(h, "ID3", 3) != 0 || h[3] < 2 || h[3] > 4) return 0;
        if (tags == MAX_ID3_TAGS) return r1_error_set(err, "%s: more than %d ID3 tags", in->name, MAX_ID3_TAGS);
        in->skip += 10 + ((uint64_t)(h[6] & 0x7f) << 21 | (uint64_t)(h[7] & 0x7f) << 14 |
                          (uint64_t)(h[8] & 0x7f) << 7 | (uint64_t)(h[9] & 0x7f));
        if (h[3] == 4 && (h[5] & 0x10)) in->skip += 10; /* the footer */
    }
    return 0;
}

/* Whether "OggS" lies near the end of in's ID3 tags, where libsndfile
 * would look for it (a few bytes apart, by its own reckoning). Only then
 * are the tags cut off: tagged MP3, FLAC and WAV stay whole, as
 * libsndfile knows them (an MP3 after its tag, a file's extension). */
static bool ogg_behind_tags(const audio_input *in) {
    enum { BEFORE = 64, AFTER = 16384 };
    audio_input whole = *in;
    whole.skip = 0;
    uint64_t from = in->skip > BEFORE ? in->skip - BEFORE : 0;
    unsigned char *bytes = malloc(BEFORE + AFTER);
    size_t n = bytes ? audio_input_read_at(&whole, from, bytes, BEFORE + AFTER) : 0;
    bool found = n >= 4 && memmem(bytes, n, "OggS", 4) != NULL;
    free(bytes);
    return found;
}

/* Opens in with the decoder its format needs and decodes it into sink. */
static int decode_input(audio_input *in, int target_rate, double max_seconds, audio_samples_fn sink, void *user,
                        audio_stream_info *info, r1_error *err) {
    memset(info, 0, sizeof *info);
    if (check_target(target_rate, max_seconds, err) != 0) return -1;
    if (skip_id3_tags(in, err) != 0) return -1;
    if (in->skip > 0 && !ogg_behind_tags(in)) in->skip = 0;
    audio_source src;
    int opened = audio_reads_as_vorbis(in) ? audio_vorbis_open(in, &src, err) : audio_sndfile_open(in, &src, err);
    if (opened != 0) return -1;
    int rc = decode(&src, in->name, target_rate, max_seconds, sink, user, info, err);
    src.close(&src);
    return rc;
}

/* The same into memory, as an audio_pcm. */
static int load(audio_input *in, int target_rate, double max_seconds, audio_pcm *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    sample_buffer buffer = {0};
    audio_stream_info info;
    if (decode_input(in, target_rate, max_seconds, append_samples, &buffer, &info, err) != 0) {
        free(buffer.data);
        return -1;
    }
    *out = (audio_pcm){.samples = buffer.data,
                       .n_samples = buffer.n,
                       .sample_rate = target_rate,
                       .source_rate = info.source_rate,
                       .source_channels = info.source_channels,
                       .seconds = info.seconds};
    return 0;
}

unsigned char *audio_read_stream(FILE *f, const char *name, size_t *size, r1_error *err) {
    unsigned char *bytes = NULL;
    size_t cap = 0;
    *size = 0;
    for (;;) {
        if (*size == cap) {
            size_t grown = cap ? 2 * cap : 1 << 20;
            unsigned char *larger = grown <= AUDIO_MAX_STREAM_BYTES ? realloc(bytes, grown) : NULL;
            if (!larger) {
                r1_error_set(err, "%s: more than %d MB from a pipe (give a file instead)", name,
                             AUDIO_MAX_STREAM_BYTES >> 20);
                break;
            }
            bytes = larger, cap = grown;
        }
        size_t n = fread(bytes + *size, 1, cap - *size, f);
        *size += n;
        if (n > 0) continue;
        if (!ferror(f)) return bytes; /* the end */
        r1_error_set(err, "%s: %s", name, strerror(errno));
        break;
    }
    free(bytes);
    return NULL;
}

/* The whole of a path that is not a regular file (a pipe, /dev/stdin):
 * such input can be read only once, while choosing the decoder and then
 * decoding both read from the start. */
static unsigned char *read_whole_stream(const char *path, size_t *size, r1_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        r1_error_set(err, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *bytes = audio_read_stream(f, path, size, err);
    fclose(f);
    return bytes;
}

int audio_load_file_limited(const char *path, int target_rate, double max_seconds, audio_pcm *out, r1_error *err) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        memset(out, 0, sizeof *out);
        size_t size;
        unsigned char *bytes = read_whole_stream(path, &size, err);
        if (!bytes) return -1;
        audio_input in = {.data = bytes, .size = size, .name = path};
        int rc = load(&in, target_rate, max_seconds, out, err);
        free(bytes);
        return rc;
    }
    audio_input in = {.path = path, .name = path};
    return load(&in, target_rate, max_seconds, out, err);
}

int audio_load_memory_limited(const void *data, size_t size, int target_rate, double max_seconds, audio_pcm *out,
                              r1_error *err) {
    audio_input in = {.data = data, .size = size, .name = "upload"};
    return load(&in, target_rate, max_seconds, out, err);
}

int audio_decode_memory_to(const void *data, size_t size, int target_rate, double max_seconds, audio_samples_fn sink,
                           void *user, audio_stream_info *info, r1_error *err) {
    audio_input in = {.data = data, .size = size, .name = "upload"};
    return decode_input(&in, target_rate, max_seconds, sink, user, info, err);
}

int audio_load_file(const char *path, int target_rate, audio_pcm *out, r1_error *err) {
    return audio_load_file_limited(path, target_rate, AUDIO_MAX_SECONDS, out, err);
}

int audio_load_memory(const void *data, size_t size, int target_rate, audio_pcm *out, r1_error *err) {
    return audio_load_memory_limited(data, size, target_rate, AUDIO_MAX_SECONDS, out, err);
}

void audio_pcm_free(audio_pcm *a) {
    if (!a) return;
    free(a->samples);
    memset(a, 0, sizeof *a);
}
