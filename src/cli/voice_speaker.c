/*
 * voice_speaker.c - sentences queued as the answer streams in, spoken by a
 * thread (voice_speaker.h).
 *
 * The lock guards the queue, the flags and the figures; r1_tts_speak runs
 * without it, so the generation thread is never held up by synthesis.
 */
#include "voice_speaker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "commands.h"
#include "speech/tts_text.h"

typedef struct sentence {
    struct sentence *next;
    size_t len;
    char text[];
} sentence;

struct voice_speaker {
    voice_speaker_params p;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    sentence *head, *tail;
    bool text_ended, stop, busy;
    char *pending; /* the answer's text not yet cut into a sentence */
    size_t n_pending, cap_pending;
    voice_speech_figures figures;
    int failed;
    r1_error err;
};

static int on_audio(void *user, const int16_t *samples, size_t n) {
    voice_speaker *s = user;
    pthread_mutex_lock(&s->lock);
    bool stop = s->stop;
    if (!stop && s->figures.first_audio == 0) s->figures.first_audio = cli_now();
    if (!stop) s->figures.n_samples += n;
    pthread_mutex_unlock(&s->lock);
    if (stop) return 1;
    /* the sink only ever runs on this thread: it needs no lock */
    r1_error err;
    if (s->p.on_audio(s->p.user, samples, n, &err) == 0) return 0;
    pthread_mutex_lock(&s->lock);
    if (!s->failed) s->err = err;
    s->failed = 1;
    s->stop = true; /* a sink that failed ends this answer's speech */
    pthread_mutex_unlock(&s->lock);
    return 1;
}

static void on_sentence(void *user, const char *text, bool mandarin) {
    (void)user, (void)mandarin;
    fprintf(stderr, "speaking: %s\n", text);
}

/* The next sentence, or NULL when there is none left to speak. */
static sentence *next_sentence(voice_speaker *s) {
    pthread_mutex_lock(&s->lock);
    s->busy = false;
    pthread_cond_broadcast(&s->changed);
    while (!s->head && !s->text_ended && !s->stop) pthread_cond_wait(&s->changed, &s->lock);
    sentence *next = s->stop ? NULL : s->head;
    if (next) {
        s->head = next->next;
        if (!s->head) s->tail = NULL;
        s->busy = true;
    }
    pthread_mutex_unlock(&s->lock);
    return next;
}

static void *speak_thread(void *arg) {
    voice_speaker *s = arg;
    r1_speak_options o = {.voice = s->p.voice, .speed = s->p.speed, .on_audio = on_audio,
                          .on_sentence = s->p.verbose ? on_sentence : NULL, .user = s};
    for (sentence *next; (next = next_sentence(s));) {
        r1_error err;
        int rc = r1_tts_speak(s->p.tts, next->text, next->len, &o, &err);
        free(next);
        if (rc == 0) continue;
        pthread_mutex_lock(&s->lock);
        if (!s->failed) s->err = err;
        s->failed = 1;
        s->stop = true;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

voice_speaker *voice_speaker_start(const voice_speaker_params *p, r1_error *err) {
    voice_speaker *s = calloc(1, sizeof *s);
    if (!s) return r1_error_set(err, "out of memory"), NULL;
    s->p = *p;
    s->busy = true; /* until the thread first looks at the queue */
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    if (pthread_create(&s->thread, NULL, speak_thread, s) != 0) {
        pthread_cond_destroy(&s->changed);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return r1_error_set(err, "cannot start the speech thread"), NULL;
    }
    return s;
}

/* Queues pending[0..len) as a sentence and drops it from pending. */
static void queue_sentence(voice_speaker *s, size_t len) {
    sentence *x = malloc(sizeof *x + len + 1);
    if (x) {
        memcpy(x->text, s->pending, len);
        x->text[len] = 0;
        x->len = len;
        x->next = NULL;
    }
    memmove(s->pending, s->pending + len, s->n_pending - len);
    s->n_pending -= len;
    pthread_mutex_lock(&s->lock);
    if (!x) {
        s->failed = 1;
        r1_error_set(&s->err, "out of memory");
    } else if (!s->stop) {
        *(s->tail ? &s->tail->next : &s->head) = x;
        s->tail = x;
        s->figures.n_sentences++;
        if (s->figures.first_sentence == 0) s->figures.first_sentence = cli_now();
        x = NULL;
    }
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    free(x);
}

static void cut_sentences(voice_speaker *s, bool final) {
    for (size_t end; s->n_pending && (end = tts_sentence_end(s->pending, s->n_pending, final)) > 0;)
        queue_sentence(s, end);
}

void voice_speaker_feed(voice_speaker *s, const char *text, size_t len) {
    if (s->n_pending + len > s->cap_pending) {
        size_t cap = 2 * (s->n_pending + len);
        char *p = realloc(s->pending, cap);
        if (!p) return; /* out of memory: this piece is not spoken */
        s->pending = p;
        s->cap_pending = cap;
    }
    memcpy(s->pending + s->n_pending, text, len);
    s->n_pending += len;
    cut_sentences(s, false);
}

void voice_speaker_end_text(voice_speaker *s) {
    cut_sentences(s, true);
    pthread_mutex_lock(&s->lock);
    s->text_ended = true;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static void free_queue(voice_speaker *s) {
    for (sentence *x = s->head, *next; x; x = next) {
        next = x->next;
        free(x);
    }
    s->head = s->tail = NULL;
}

void voice_speaker_stop(voice_speaker *s) {
    pthread_mutex_lock(&s->lock);
    s->stop = s->figures.stopped = true;
    free_queue(s);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

bool voice_speaker_idle(voice_speaker *s) {
    pthread_mutex_lock(&s->lock);
    bool idle = !s->busy && (!s->head || s->stop);
    pthread_mutex_unlock(&s->lock);
    return idle;
}

int voice_speaker_finish(voice_speaker *s, voice_speech_figures *figures, r1_error *err) {
    voice_speaker_end_text(s);
    pthread_join(s->thread, NULL);
    free_queue(s); /* what a failure left unspoken */
    *figures = s->figures;
    int rc = s->failed ? -1 : 0;
    if (rc) *err = s->err;
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s->pending);
    free(s);
    return rc;
}
