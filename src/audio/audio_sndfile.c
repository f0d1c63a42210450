/*
 * audio_sndfile.c - the libsndfile decoder of audio_source.h: every format
 * libsndfile reads except Ogg Vorbis (audio_vorbis.c), from a path or from
 * memory (sf_open_virtual), frames read in chunks and averaged into mono.
 */
#include <errno.h>
#include <pthread.h>
#include <sndfile.h>
#include <stdbool.h>
#include <stdio.h>
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

/* ---- reading through sf_open_virtual: memory, or a file past its tags ---- */

/* A stretch of bytes: size bytes at data, or size bytes of file from
 * base on (a file whose ID3 tags are cut off). */
typedef struct byte_view {
    const unsigned char *data;
    FILE *file;
    sf_count_t base, size, pos;
} byte_view;

static sf_count_t view_length(void *user) {
    return ((byte_view *)user)->size;
}

static sf_count_t view_seek(sf_count_t offset, int whence, void *user) {
    byte_view *v = user;
    sf_count_t from = whence == SEEK_CUR ? v->pos : whence == SEEK_END ? v->size : 0;
    /* Past the end is allowed, as lseek allows it on a file (reads there
     * return nothing); before the start is not. */
    if (offset < -from || offset > INT64_MAX - from) return -1;
    v->pos = from + offset;
    return v->pos;
}

static sf_count_t view_read(void *ptr, sf_count_t count, void *user) {
    byte_view *v = user;
    if (count <= 0 || v->pos >= v->size) return 0;
    sf_count_t n = count < v->size - v->pos ? count : v->size - v->pos;
    if (v->file) {
        if (fseeko(v->file, (off_t)(v->base + v->pos), SEEK_SET) != 0) return 0;
        n = (sf_count_t)fread(ptr, 1, (size_t)n, v->file);
    } else {
        memcpy(ptr, v->data + v->pos, (size_t)n);
    }
    v->pos += n;
    return n;
}

static sf_count_t view_write(const void *ptr, sf_count_t count, void *user) {
    (void)ptr, (void)count, (void)user;
    return 0; /* opened for reading only */
}

static sf_count_t view_tell(void *user) {
    return ((byte_view *)user)->pos;
}

/* ---- the open file ---- */

typedef struct sndfile_state {
    SNDFILE *sf;
    byte_view view; /* what sf reads through sf_open_virtual */
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
    if (st->view.file) fclose(st->view.file);
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
    if (stat(path, &st) != 0) return 0; /* the open that follows says why */
    if (S_ISDIR(st.st_mode)) return r1_error_set(err, "%s: is a folder, not an audio file", path);
    if (S_ISREG(st.st_mode) && st.st_size == 0) return r1_error_set(err, "%s: empty file (0 bytes)", path);
    return 0;
}

/* The bytes past in->skip as a view; -1 with err set when the file
 * cannot be opened. */
static int open_view(const audio_input *in, byte_view *view, r1_error *err) {
    sf_count_t skip = (sf_count_t)in->skip;
    if (!in->path) {
        sf_count_t size = (sf_count_t)in->size;
        *view = (byte_view){.data = in->data + (skip < size ? skip : size), .size = skip < size ? size - skip : 0};
        return 0;
    }
    struct stat st;
    if (!(view->file = fopen(in->path, "rb")) || fstat(fileno(view->file), &st) != 0) {
        r1_error_set(err, "%s: %s", in->name, strerror(errno));
        if (view->file) fclose(view->file);
        view->file = NULL;
        return -1;
    }
    view->base = skip;
    view->size = skip < (sf_count_t)st.st_size ? (sf_count_t)st.st_size - skip : 0;
    return 0;
}

/* sf_open or sf_open_virtual; NULL with err set. */
static SNDFILE *open_input(const audio_input *in, sndfile_state *st, SF_INFO *info, r1_error *err) {
    static SF_VIRTUAL_IO io = {view_length, view_seek, view_read, view_write, view_tell};
    if (in->path && check_path(in->path, err) != 0) return NULL;
    if (!in->path && in->size == 0) {
        r1_error_set(err, "%s: empty (0 bytes)", in->name);
        return NULL;
    }
    bool whole_file = in->path && in->skip == 0;
    if (!whole_file && open_view(in, &st->view, err) != 0) return NULL;
    pthread_mutex_lock(&open_lock);
    SNDFILE *sf = whole_file ? sf_open(in->path, SFM_READ, info) : sf_open_virtual(&io, SFM_READ, info, &st->view);
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
        if (st->view.file) fclose(st->view.file);
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
