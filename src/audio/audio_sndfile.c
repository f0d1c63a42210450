/*
 * audio_sndfile.c - the libsndfile decoder of audio_source.h: every format
 * libsndfile reads except Ogg Vorbis (audio_vorbis.c), from a path or from
 * memory (sf_open_virtual), frames read in chunks and averaged into mono.
 */
#include <pthread.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audio/audio_source.h"

/* Frames read from libsndfile per call: 4096 frames of 64 channels is 1 MB. */
#define CHUNK_FRAMES 4096

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

/* ---- the open file ---- */

typedef struct sndfile_state {
    SNDFILE *sf;
    memory_source memory; /* what sf reads, when from memory */
    const char *name;
    float *chunk; /* CHUNK_FRAMES interleaved frames */
    long frames_read;
} sndfile_state;

static long sndfile_read_mono(audio_source *s, float *mono, long max_frames, r1_error *err) {
    sndfile_state *st = s->state;
    /* allocated at the first read, after the pipeline has checked the
     * header's channel count (a header may claim millions) */
    if (!st->chunk) st->chunk = malloc((size_t)CHUNK_FRAMES * (size_t)s->channels * sizeof *st->chunk);
    if (!st->chunk) return r1_error_set(err, "%s: out of memory", st->name);
    long want = max_frames < CHUNK_FRAMES ? max_frames : CHUNK_FRAMES;
    sf_count_t got = sf_readf_float(st->sf, st->chunk, want);
    if (got <= 0) {
        if (sf_error(st->sf) != SF_ERR_NO_ERROR)
            return r1_error_set(err, "%s: decoding failed after %ld frames: %s", st->name, st->frames_read,
                                sf_strerror(st->sf));
        return 0;
    }
    audio_mix_interleaved(st->chunk, (long)got, s->channels, mono);
    st->frames_read += (long)got;
    return (long)got;
}

static void sndfile_close(audio_source *s) {
    sndfile_state *st = s->state;
    if (!st) return;
    if (st->sf) sf_close(st->sf);
    free(st->chunk);
    free(st);
    s->state = NULL;
}

/* ---- opening ---- */

/* libsndfile's reason for a failed open, made plainer where its own words
 * do not say what is wrong. Called with open_lock held. */
static int open_failed(const char *name, r1_error *err) {
    if (sf_error(NULL) == SF_ERR_UNRECOGNISED_FORMAT)
        return r1_error_set(err, "%s: not an audio format libsndfile can read (%s)", name, sf_strerror(NULL));
    return r1_error_set(err, "%s: cannot read audio: %s", name, sf_strerror(NULL));
}

static int check_path(const char *path, r1_error *err) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return r1_error_set(err, "%s: is a folder, not an audio file", path);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
        return r1_error_set(err, "%s: empty file (0 bytes)", path);
    return 0;
}

/* sf_open or sf_open_virtual; NULL with err set. */
static SNDFILE *open_input(const audio_input *in, sndfile_state *st, SF_INFO *info, r1_error *err) {
    static SF_VIRTUAL_IO io = {memory_length, memory_seek, memory_read, memory_write, memory_tell};
    if (in->path && check_path(in->path, err) != 0) return NULL;
    if (!in->path && in->size == 0) {
        r1_error_set(err, "%s: empty (0 bytes)", in->name);
        return NULL;
    }
    pthread_mutex_lock(&open_lock);
    SNDFILE *sf;
    if (in->path) {
        sf = sf_open(in->path, SFM_READ, info);
    } else {
        st->memory = (memory_source){.data = in->data, .size = (sf_count_t)in->size, .pos = 0};
        sf = sf_open_virtual(&io, SFM_READ, info, &st->memory);
    }
    if (!sf) open_failed(in->name, err);
    pthread_mutex_unlock(&open_lock);
    return sf;
}

int audio_sndfile_open(const audio_input *in, audio_source *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    sndfile_state *st = calloc(1, sizeof *st);
    if (!st) return r1_error_set(err, "%s: out of memory", in->name);
    st->name = in->name;
    SF_INFO info = {0};
    st->sf = open_input(in, st, &info, err);
    if (!st->sf) {
        free(st);
        return -1;
    }
    *out = (audio_source){.channels = info.channels,
                          .rate = info.samplerate,
                          .frames = info.frames == SF_COUNT_MAX ? AUDIO_FRAMES_UNKNOWN : (int64_t)info.frames,
                          .read_mono = sndfile_read_mono,
                          .close = sndfile_close,
                          .state = st};
    return 0;
}
