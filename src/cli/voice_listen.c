/*
 * voice_listen.c - utterances by voice activity detection, and the
 * microphone recorded by a thread (voice_listen.h).
 *
 * The recording thread only appends to a buffer under a lock; the caller's
 * thread does the detection on copies, so a slow detector never drops
 * microphone samples. Detection reruns on everything since the last
 * utterance every LISTEN_POLL_MS: the detectors restart their state on
 * each call, and an utterance (at most MAX_UTTERANCE_S) is short enough
 * for that to cost milliseconds.
 */
#include "voice_listen.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "sound_device.h"

#define LISTEN_POLL_MS 100
#define MAX_UTTERANCE_S 25.0f  /* longer speech is cut there: Whisper reads 30 s windows */
#define IDLE_KEEP_S 1.0        /* of silence kept in front of the next utterance */
#define IDLE_DROP_S 10.0       /* silence longer than this is dropped, but for IDLE_KEEP_S */
#define BARGE_IN_LOOK_S 3.0    /* looked at for barge-in: enough background for the energy detector */
#define BARGE_IN_RECENT_S 0.5  /* speech must reach this close to now */
#define CHUNK_SAMPLES 512

int voice_find_speech(vad_model *vad, const float *samples, long n, vad_segment **segs, int *n_segs, r1_error *err) {
    float *probs = NULL;
    int n_probs = 0;
    *segs = NULL;
    *n_segs = 0;
    if (n <= 0) return 0;
    int rc = vad ? vad_speech_probs(vad, samples, n, &probs, &n_probs, err) : vad_energy_probs(samples, n, &probs, &n_probs);
    if (rc != 0) return vad ? -1 : r1_error_set(err, "out of memory");
    vad_params p;
    vad_params_default(&p);
    p.min_silence_ms = VOICE_END_SILENCE_MS;
    p.max_speech_s = MAX_UTTERANCE_S;
    rc = vad_segments_from_probs(probs, n_probs, VAD_WINDOW_SAMPLES, n, &p, segs, n_segs);
    free(probs);
    return rc != 0 ? r1_error_set(err, "out of memory") : 0;
}

/* ---- the microphone ---- */

struct voice_mic {
    sound_stream *stream;
    pthread_t thread;
    pthread_mutex_t lock;
    float *buf;          /* samples first .. first + n - 1 of the recording */
    long long first;
    long n, cap;
    double latest;       /* cli_now() when the last chunk arrived */
    bool quit, failed;
    r1_error err;
};

static int append(voice_mic *m, const int16_t *chunk, long count) {
    if (m->n + count > m->cap) {
        long cap = 2 * (m->n + count);
        float *p = realloc(m->buf, (size_t)cap * sizeof *p);
        if (!p) return r1_error_set(&m->err, "out of memory");
        m->buf = p;
        m->cap = cap;
    }
    for (long i = 0; i < count; i++) m->buf[m->n + i] = chunk[i] / 32768.0f;
    m->n += count;
    m->latest = cli_now();
    return 0;
}

static void *record_thread(void *arg) {
    voice_mic *m = arg;
    int16_t chunk[CHUNK_SAMPLES];
    for (bool quit = false; !quit;) {
        r1_error err;
        int rc = sound_record(m->stream, chunk, CHUNK_SAMPLES, &err);
        pthread_mutex_lock(&m->lock);
        if (rc != 0) m->err = err;
        if (rc != 0 || append(m, chunk, CHUNK_SAMPLES) != 0) m->failed = true;
        quit = m->quit || m->failed;
        pthread_mutex_unlock(&m->lock);
    }
    return NULL;
}

voice_mic *voice_mic_open(r1_error *err) {
    voice_mic *m = calloc(1, sizeof *m);
    if (!m) return r1_error_set(err, "out of memory"), NULL;
    if (!(m->stream = sound_open_microphone(VAD_SAMPLE_RATE, err))) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    m->latest = cli_now();
    if (pthread_create(&m->thread, NULL, record_thread, m) != 0) {
        sound_close(m->stream);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return r1_error_set(err, "cannot start the recording thread"), NULL;
    }
    return m;
}

void voice_mic_close(voice_mic *m) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->quit = true;
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL); /* the last read returns within one chunk (32 ms) */
    sound_close(m->stream);
    pthread_mutex_destroy(&m->lock);
    free(m->buf);
    free(m);
}

/* ---- utterances from the recording ---- */

typedef struct snapshot {
    float *samples;
    long n;
    long long from, end; /* the samples' place in the recording */
    double latest;       /* cli_now() of sample `end` */
} snapshot;

/* A copy of the recording from sample `from` (or the oldest kept) to now. */
static int take_snapshot(voice_mic *m, long long from, snapshot *s, r1_error *err) {
    pthread_mutex_lock(&m->lock);
    long long end = m->first + m->n;
    from = from < m->first ? m->first : from > end ? end : from;
    *s = (snapshot){.n = (long)(end - from), .from = from, .end = end, .latest = m->latest};
    s->samples = malloc((size_t)(s->n ? s->n : 1) * sizeof(float));
    int rc = m->failed ? -1 : s->samples ? 0 : r1_error_set(err, "out of memory");
    if (m->failed) *err = m->err;
    else if (s->samples) memcpy(s->samples, m->buf + (from - m->first), (size_t)s->n * sizeof(float));
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static long long recording_end(voice_mic *m) {
    pthread_mutex_lock(&m->lock);
    long long end = m->first + m->n;
    pthread_mutex_unlock(&m->lock);
    return end;
}

/* Forgets the recording before sample `upto`: the next utterance starts there. */
static void drop_before(voice_mic *m, long long upto) {
    pthread_mutex_lock(&m->lock);
    long k = (long)((upto > m->first + m->n ? m->first + m->n : upto) - m->first);
    if (k > 0) {
        memmove(m->buf, m->buf + k, (size_t)(m->n - k) * sizeof(float));
        m->n -= k;
        m->first += k;
    }
    pthread_mutex_unlock(&m->lock);
}

/* 1 with the first utterance of s when its speech is over, 0 when there is
 * none yet, -1 with err. The detector closes a segment only after
 * VOICE_END_SILENCE_MS of pause, and one still open ends at the end of the
 * audio: a gap behind the segment means it is closed. */
static int utterance_in(voice_mic *m, vad_model *vad, const snapshot *s, float **samples, long *n, double *ended,
                        r1_error *err) {
    vad_segment *segs;
    int n_segs;
    if (voice_find_speech(vad, s->samples, s->n, &segs, &n_segs, err) != 0) return -1;
    vad_segment seg = n_segs ? segs[0] : (vad_segment){0, 0};
    free(segs);
    double span = (double)s->n / VAD_SAMPLE_RATE;
    if (n_segs == 0 && span > IDLE_DROP_S) drop_before(m, s->end - (long long)(IDLE_KEEP_S * VAD_SAMPLE_RATE));
    if (n_segs == 0 || span - seg.end < 0.25) return 0;
    long a = (long)(seg.start * VAD_SAMPLE_RATE), b = (long)(seg.end * VAD_SAMPLE_RATE);
    b = b > s->n ? s->n : b;
    if (!(*samples = malloc((size_t)(b - a) * sizeof(float)))) return r1_error_set(err, "out of memory");
    memcpy(*samples, s->samples + a, (size_t)(b - a) * sizeof(float));
    *n = b - a;
    *ended = s->latest - (double)(s->end - (s->from + b)) / VAD_SAMPLE_RATE;
    drop_before(m, s->from + b);
    return 1;
}

int voice_mic_listen(voice_mic *m, vad_model *vad, float **samples, long *n, double *ended, r1_error *err) {
    for (;;) {
        nanosleep(&(struct timespec){0, LISTEN_POLL_MS * 1000000L}, NULL);
        snapshot s;
        int rc = take_snapshot(m, 0, &s, err) /* all that is kept */;
        if (rc == 0) rc = utterance_in(m, vad, &s, samples, n, ended, err);
        free(s.samples);
        if (rc != 0) return rc < 0 ? -1 : 0;
    }
}

bool voice_mic_hears_speech(voice_mic *m, vad_model *vad) {
    snapshot s;
    r1_error err;
    vad_segment *segs = NULL;
    int n_segs = 0;
    long long from = recording_end(m) - (long long)(BARGE_IN_LOOK_S * VAD_SAMPLE_RATE);
    bool heard = take_snapshot(m, from, &s, &err) == 0 && voice_find_speech(vad, s.samples, s.n, &segs, &n_segs, &err) == 0 &&
                 n_segs > 0 && (double)s.n / VAD_SAMPLE_RATE - segs[n_segs - 1].end < BARGE_IN_RECENT_S;
    free(segs);
    free(s.samples);
    return heard;
}

void voice_mic_skip(voice_mic *m, double keep_seconds) {
    drop_before(m, recording_end(m) - (long long)(keep_seconds * VAD_SAMPLE_RATE));
}
