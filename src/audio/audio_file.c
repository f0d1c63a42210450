/*
 * audio_file.c - audio files and uploads to mono float samples at a target
 * rate (see audio_file.h): libsndfile decodes, the channels are averaged
 * chunk by chunk, and libsamplerate converts the rate as the chunks pass,
 * so memory holds only the output and one chunk of input.
 */
#include "audio/audio_file.h"

#include <math.h>
#include <pthread.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Frames read from libsndfile per call: 4096 frames of 64 channels is 1 MB. */
#define CHUNK_FRAMES 4096
/* The first output allocation trusts the header only up to one minute at
 * the target rate; beyond that the buffer grows as audio arrives. */
#define FIRST_RESERVE_SECONDS 60

/* sf_open reports a failure only through a process-wide error
 * (sf_strerror(NULL)), so opening and reading that message happen under
 * one lock: two uploads failing at once must not swap messages. */
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- reading from memory (sf_open_virtual) ---- */

typedef struct memory_source {
    const unsigned char *data;
    sf_count_t size;
    sf_count_t pos;
} memory_source;

static sf_count_t memory_length(void *user) {
    return ((memory_source *)user)->size;
}

static sf_count_t memory_seek(sf_count_t offset, int whence, void *user) {
    memory_source *m = user;
    sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
    /* Past the end is allowed, as lseek allows it on a file (reads there
     * return nothing); before the start is not. */
    if (offset < -base || offset > INT64_MAX - base) return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t memory_read(void *ptr, sf_count_t count, void *user) {
    memory_source *m = user;
    if (count <= 0 || m->pos >= m->size) return 0;
    sf_count_t n = count < m->size - m->pos ? count : m->size - m->pos;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t memory_write(const void *ptr, sf_count_t count, void *user) {
    (void)ptr, (void)count, (void)user;
    return 0; /* opened for reading only */
}

static sf_count_t memory_tell(void *user) {
    return ((memory_source *)user)->pos;
}

/* ---- opening ---- */

/* libsndfile's reason for a failed open, made plainer where its own words
 * do not say what is wrong. Called with open_lock held. */
static int open_failed(const char *name, r1_error *err) {
    if (sf_error(NULL) == SF_ERR_UNRECOGNISED_FORMAT)
        return r1_error_set(err, "%s: not an audio format libsndfile can read (%s)", name, sf_strerror(NULL));
    return r1_error_set(err, "%s: cannot read audio: %s", name, sf_strerror(NULL));
}

static SNDFILE *open_path(const char *path, SF_INFO *info, r1_error *err) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        r1_error_set(err, "%s: is a folder, not an audio file", path);
        return NULL;
    }
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
        r1_error_set(err, "%s: empty file (0 bytes)", path);
        return NULL;
    }
    pthread_mutex_lock(&open_lock);
    SNDFILE *sf = sf_open(path, SFM_READ, info);
    if (!sf) open_failed(path, err);
    pthread_mutex_unlock(&open_lock);
    return sf;
}

static SNDFILE *open_memory(memory_source *src, SF_INFO *info, r1_error *err) {
    static SF_VIRTUAL_IO io = {memory_length, memory_seek, memory_read, memory_write, memory_tell};
    if (src->size == 0) {
        r1_error_set(err, "upload: empty (0 bytes)");
        return NULL;
    }
    pthread_mutex_lock(&open_lock);
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, info, src);
    if (!sf) open_failed("upload", err);
    pthread_mutex_unlock(&open_lock);
    return sf;
}

/* The header's promises, before anything is allocated for them. */
static int check_header(const SF_INFO *info, double max_seconds, const char *name, r1_error *err) {
    if (info->channels < 1 || info->channels > AUDIO_MAX_CHANNELS)
        return r1_error_set(err, "%s: %d channels (1 to %d are accepted)", name, info->channels, AUDIO_MAX_CHANNELS);
    if (info->samplerate < AUDIO_MIN_RATE || info->samplerate > AUDIO_MAX_RATE)
        return r1_error_set(err, "%s: sample rate %d Hz (%d to %d Hz are accepted)", name, info->samplerate,
                            AUDIO_MIN_RATE, AUDIO_MAX_RATE);
    if (info->frames <= 0) return r1_error_set(err, "%s: no audio frames in the file", name);
    /* a stream that did not know its length (FLAC with total samples 0)
     * says SF_COUNT_MAX: the limit is then enforced as frames arrive */
    double seconds = info->frames == SF_COUNT_MAX ? 0.0 : (double)info->frames / info->samplerate;
    if (seconds > max_seconds)
        return r1_error_set(err, "%s: %.0f s of audio, longer than the limit of %.0f s", name, seconds, max_seconds);
    return 0;
}

/* ---- decoding ---- */

/* The growing output, in target-rate samples. */
typedef struct sample_buffer {
    float *data;
    long n;
    long cap;
} sample_buffer;

static int reserve(sample_buffer *b, long more, r1_error *err) {
    if (b->cap - b->n >= more) return 0;
    long cap = b->cap ? b->cap : 1024;
    while (cap - b->n < more) cap *= 2;
    float *grown = realloc(b->data, (size_t)cap * sizeof *grown);
    if (!grown) return r1_error_set(err, "out of memory for %ld audio samples", cap);
    b->data = grown;
    b->cap = cap;
    return 0;
}

/* A sample as Whisper wants it: finite, in [-1, 1]. Float files carry any
 * value at all, and resampling rings slightly past full scale. */
static float clean_sample(float x) {
    if (!isfinite(x)) return 0.0f;
    return x > 1.0f ? 1.0f : x < -1.0f ? -1.0f : x;
}

/* Averages the channels of frames interleaved frames into mono. */
static void downmix(const float *in, long frames, int channels, float *mono) {
    for (long f = 0; f < frames; f++) {
        double sum = 0.0;
        for (int c = 0; c < channels; c++) sum += clean_sample(in[f * channels + c]);
        mono[f] = (float)(sum / channels);
    }
}

typedef struct decoder {
    const char *name;
    SRC_STATE *resampler; /* NULL when the rates already match */
    double ratio;         /* target rate / source rate */
    sample_buffer out;
} decoder;

/* Appends frames of mono input, resampled; end flushes the resampler. */
static int push(decoder *d, const float *mono, long frames, int end, r1_error *err) {
    if (!d->resampler) {
        if (reserve(&d->out, frames, err) != 0) return -1;
        memcpy(d->out.data + d->out.n, mono, (size_t)frames * sizeof *mono);
        d->out.n += frames;
        return 0;
    }
    SRC_DATA job = {.data_in = mono, .input_frames = frames, .src_ratio = d->ratio, .end_of_input = end};
    for (;;) {
        if (reserve(&d->out, (long)(job.input_frames * d->ratio) + 256, err) != 0) return -1;
        job.data_out = d->out.data + d->out.n;
        job.output_frames = d->out.cap - d->out.n;
        int rc = src_process(d->resampler, &job);
        if (rc != 0) return r1_error_set(err, "%s: resampling failed: %s", d->name, src_strerror(rc));
        for (long i = 0; i < job.output_frames_gen; i++) job.data_out[i] = clean_sample(job.data_out[i]);
        d->out.n += job.output_frames_gen;
        job.data_in += job.input_frames_used;
        job.input_frames -= job.input_frames_used;
        int progressed = job.input_frames_used > 0 || job.output_frames_gen > 0;
        if (!progressed || (job.input_frames == 0 && !end)) return 0;
    }
}

/* Reads every frame of an open file through downmix and resampling. */
static int read_all(SNDFILE *sf, const SF_INFO *info, decoder *d, double max_seconds, long *frames_read,
                    r1_error *err) {
    double limit = max_seconds * info->samplerate;
    long max_frames = limit < 1e15 ? (long)limit : (long)1e15; /* a huge limit must not overflow */
    float *chunk = malloc((size_t)CHUNK_FRAMES * (size_t)info->channels * sizeof *chunk);
    float *mono = malloc(CHUNK_FRAMES * sizeof *mono);
    int rc = chunk && mono ? 0 : r1_error_set(err, "%s: out of memory", d->name);
    *frames_read = 0;
    while (rc == 0) {
        sf_count_t got = sf_readf_float(sf, chunk, CHUNK_FRAMES);
        if (got <= 0) break;
        *frames_read += (long)got;
        if (*frames_read > max_frames) {
            rc = r1_error_set(err, "%s: more than %.0f s of audio, the limit", d->name, max_seconds);
            break;
        }
        downmix(chunk, (long)got, info->channels, mono);
        rc = push(d, mono, (long)got, 0, err);
    }
    if (rc == 0 && sf_error(sf) != SF_ERR_NO_ERROR)
        rc = r1_error_set(err, "%s: decoding failed after %ld frames: %s", d->name, *frames_read, sf_strerror(sf));
    if (rc == 0 && *frames_read == 0) rc = r1_error_set(err, "%s: no audio frames could be decoded", d->name);
    if (rc == 0) rc = push(d, mono, 0, 1, err);
    free(chunk);
    free(mono);
    return rc;
}

static int decode(SNDFILE *sf, const SF_INFO *info, const char *name, int target_rate, double max_seconds,
                  audio_pcm *out, r1_error *err) {
    if (check_header(info, max_seconds, name, err) != 0) return -1;
    decoder d = {.name = name, .ratio = (double)target_rate / info->samplerate};
    if (info->samplerate != target_rate) {
        int rc;
        d.resampler = src_new(SRC_SINC_FASTEST, 1, &rc);
        if (!d.resampler) return r1_error_set(err, "%s: resampler: %s", name, src_strerror(rc));
    }
    double expected = (double)info->frames * d.ratio + 1024;
    double first = (double)target_rate * FIRST_RESERVE_SECONDS;
    long frames_read = 0;
    int rc = reserve(&d.out, (long)(expected < first ? expected : first), err);
    if (rc == 0) rc = read_all(sf, info, &d, max_seconds, &frames_read, err);
    if (d.resampler) src_delete(d.resampler);
    if (rc == 0 && d.out.n == 0) /* e.g. 1 frame at 73 kHz is less than one sample at 16 kHz */
        rc = r1_error_set(err, "%s: too short: %ld frames at %d Hz make no sample at %d Hz", name, frames_read,
                          info->samplerate, target_rate);
    if (rc != 0) {
        free(d.out.data);
        return -1;
    }
    *out = (audio_pcm){.samples = d.out.data,
                       .n_samples = d.out.n,
                       .sample_rate = target_rate,
                       .source_rate = info->samplerate,
                       .source_channels = info->channels,
                       .seconds = (double)frames_read / info->samplerate};
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

int audio_load_file_limited(const char *path, int target_rate, double max_seconds, audio_pcm *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (check_target(target_rate, max_seconds, err) != 0) return -1;
    SF_INFO info = {0};
    SNDFILE *sf = open_path(path, &info, err);
    if (!sf) return -1;
    int rc = decode(sf, &info, path, target_rate, max_seconds, out, err);
    sf_close(sf);
    return rc;
}

int audio_load_memory_limited(const void *data, size_t size, int target_rate, double max_seconds, audio_pcm *out,
                              r1_error *err) {
    memset(out, 0, sizeof *out);
    if (check_target(target_rate, max_seconds, err) != 0) return -1;
    memory_source src = {.data = data, .size = (sf_count_t)size, .pos = 0};
    SF_INFO info = {0};
    SNDFILE *sf = open_memory(&src, &info, err);
    if (!sf) return -1;
    int rc = decode(sf, &info, "upload", target_rate, max_seconds, out, err);
    sf_close(sf);
    return rc;
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
