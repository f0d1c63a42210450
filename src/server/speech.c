/*
 * speech.c - POST /v1/audio/speech: text to speech as OpenAI's API defines
 * it, with espeak-ng in r1-tts-worker processes (src/speech/tts.c).
 *
 * An HTTP thread validates the JSON body and queues a job (--tts-queue
 * deep; beyond, 503 server_busy), then suspends the connection. Each of
 * the --tts-workers synthesis threads owns one worker process and takes
 * jobs in turn: it speaks the text sentence by sentence, encodes the audio
 * as it comes (src/audio/audio_encode.c) and appends the bytes to the
 * job. The first bytes resume the connection, which then answers 200 and
 * streams them chunked - so the first sound leaves before the whole text
 * is synthesised - suspending again whenever it has sent all there is.
 * A failure before any audio is a clean 500 JSON error; after, the stream
 * is cut (the client sees a truncated chunked body, and the log says why).
 * A client that leaves stops its synthesis at the next chunk.
 *
 * A job is shared by the HTTP side and its synthesis thread; it is freed
 * when both have let go (refs).
 */
#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio_encode.h"
#include "base/log.h"
#include "server/server_internal.h"
#include "server/speech_request.h"

typedef struct speech_job speech_job;

struct speech_job {
    pthread_mutex_t lock;
    int refs;                  /* the HTTP side and the synthesis side */
    struct MHD_Connection *conn;
    char request_id[64];
    speech_request request;
    /* the audio, appended by the synthesis thread, sent by the HTTP thread */
    send_buffer out;
    bool suspended;            /* the connection waits for bytes */
    bool audio_started;        /* sound came: a header alone does not answer 200 */
    bool done, failed;         /* the synthesis ended */
    bool client_gone;          /* the HTTP side let go before the end */
    r1_error err;
    double audio_seconds;
    struct tts_service *service;
    speech_job *next;
};

struct tts_service {
    r1_tts **tts;              /* one per synthesis thread */
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    speech_job *head, *tail;
    int n_queued, n_running, capacity;
    int n_active;              /* queued until the HTTP side let go: what a drain waits for */
    bool stopping;
    atomic_bool cancel;        /* shutting down: running jobs stop at their next chunk */
    server *srv;
};

/* ---- the job ---- */

static void job_unref(speech_job *job) {
    pthread_mutex_lock(&job->lock);
    bool last = --job->refs == 0;
    pthread_mutex_unlock(&job->lock);
    if (!last) return;
    pthread_mutex_destroy(&job->lock);
    speech_request_free(&job->request);
    free(job->out.data);
    free(job);
}

/* Called with job->lock held: the connection may go on. */
static void wake_connection(speech_job *job) {
    if (!job->suspended) return;
    job->suspended = false;
    MHD_resume_connection(job->conn);
}

/* The encoder's sink: the bytes join the job's buffer. */
static int append_audio(void *user, const void *bytes, size_t n) {
    speech_job *job = user;
    pthread_mutex_lock(&job->lock);
    bool stop = job->client_gone || atomic_load(&job->service->cancel);
    int rc = !stop && send_buffer_append(&job->out, bytes, n) ? 0 : -1;
    if (rc == 0 && job->audio_started) wake_connection(job);
    pthread_mutex_unlock(&job->lock);
    return rc;
}

/* ---- the synthesis threads ---- */

typedef struct synthesis {
    speech_job *job;
    audio_encoder *encoder;
    r1_error err;
    bool encoder_failed, started;
} synthesis;

static int on_audio(void *user, const int16_t *samples, size_t n) {
    synthesis *s = user;
    if (!s->started) { /* from now on a failure can only cut the stream */
        s->started = true;
        pthread_mutex_lock(&s->job->lock);
        s->job->audio_started = true;
        pthread_mutex_unlock(&s->job->lock);
    }
    if (audio_encoder_write(s->encoder, samples, n, &s->err) != 0) s->encoder_failed = true;
    return s->encoder_failed;
}

static void synthesise(server *srv, r1_tts *tts, speech_job *job) {
    double t0 = server_now();
    synthesis s = {.job = job};
    audio_sink sink = {.write = append_audio, .user = job};
    int rc = (s.encoder = audio_encoder_new(job->request.format, r1_tts_sample_rate(tts), &sink, &s.err)) ? 0 : -1;
    if (rc == 0) {
        r1_speak_options o = {.voice = job->request.voice, .speed = job->request.speed, .on_audio = on_audio, .user = &s};
        rc = r1_tts_speak(tts, job->request.input, strlen(job->request.input), &o, &s.err);
    }
    if (rc == 0 && !s.encoder_failed) rc = audio_encoder_finish(s.encoder, &s.err);
    if (s.encoder_failed) rc = -1;
    double audio_seconds = s.encoder ? audio_encoder_seconds(s.encoder) : 0.0;
    audio_encoder_free(s.encoder);
    pthread_mutex_lock(&job->lock);
    bool gone = job->client_gone;
    job->audio_seconds = audio_seconds;
    job->done = rc == 0;
    job->failed = rc != 0;
    job->err = s.err;
    wake_connection(job);
    pthread_mutex_unlock(&job->lock);
    if (rc == 0) {
        metrics_speech(srv->metrics, job->request.input_chars, audio_seconds, server_now() - t0);
    } else if (gone) {
        r1_log_info("request %s: the client left; speech stopped after %.2f s of audio", job->request_id,
                    audio_seconds);
    } else {
        r1_log_warn("request %s: speech failed after %.2f s of audio: %s", job->request_id, audio_seconds,
                    s.err.message);
    }
}

typedef struct thread_arg {
    struct tts_service *s;
    int index;
} thread_arg;

static void *synthesis_thread(void *arg) {
    thread_arg *a = arg;
    struct tts_service *s = a->s;
    r1_tts *tts = s->tts[a->index];
    free(a);
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stopping) pthread_cond_wait(&s->wake, &s->lock);
        if (!s->head) break;
        speech_job *job = s->head;
        s->head = job->next;
        if (!s->head) s->tail = NULL;
        s->n_queued--;
        s->n_running++;
        pthread_mutex_unlock(&s->lock);
        if (http_client_left(job->conn)) { /* it left while queued: nobody to speak to */
            pthread_mutex_lock(&job->lock);
            job->client_gone = job->failed = true;
            r1_error_set(&job->err, "the client left while its text waited");
            wake_connection(job);
            pthread_mutex_unlock(&job->lock);
            r1_log_info("request %s: the client left while its text waited; not spoken", job->request_id);
        } else {
            synthesise(s->srv, tts, job);
        }
        job_unref(job);
        pthread_mutex_lock(&s->lock);
        s->n_running--;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- start and stop ---- */

int speech_service_start(server *srv, r1_error *err) {
    const r1_server_config *c = &srv->config;
    if (c->tts_workers <= 0) return 0;
    struct tts_service *s = calloc(1, sizeof *s);
    if (!s) return r1_error_set(err, "out of memory");
    s->srv = srv;
    s->capacity = c->tts_queue;
    s->tts = calloc((size_t)c->tts_workers, sizeof *s->tts);
    s->threads = calloc((size_t)c->tts_workers, sizeof *s->threads);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    srv->tts = s;
    if (!s->tts || !s->threads) return r1_error_set(err, "out of memory");
    r1_tts_params p = {.worker_path = c->tts_worker};
    for (int i = 0; i < c->tts_workers; i++) {
        if (r1_tts_open(&p, &s->tts[i], err) != 0) return r1_error_prefix(err, "speech synthesis");
        thread_arg *a = malloc(sizeof *a);
        if (!a) return r1_error_set(err, "out of memory");
        *a = (thread_arg){s, i};
        if (pthread_create(&s->threads[i], NULL, synthesis_thread, a) != 0) {
            free(a);
            return r1_error_set(err, "cannot start a speech synthesis thread");
        }
        s->n_threads++;
    }
    r1_log_info("speech synthesis: %d worker%s (espeak-ng, %d Hz), queue %d", s->n_threads,
                s->n_threads == 1 ? "" : "s", r1_tts_sample_rate(s->tts[0]), s->capacity);
    return 0;
}

void speech_service_stop(server *srv) {
    struct tts_service *s = srv->tts;
    if (!s) return;
    /* after the drain: what is still queued is refused, what runs stops at
     * its next chunk (the drain already waited for them) */
    atomic_store(&s->cancel, true);
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    for (speech_job *job = s->head, *next; job; job = next) {
        next = job->next;
        pthread_mutex_lock(&job->lock);
        job->failed = true;
        r1_error_set(&job->err, "the server is shutting down");
        wake_connection(job);
        pthread_mutex_unlock(&job->lock);
        job_unref(job); /* the synthesis side's reference */
    }
    s->head = s->tail = NULL;
    s->n_queued = 0;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
    s->n_threads = 0;
    for (int i = 0; s->tts && i < srv->config.tts_workers; i++) r1_tts_close(s->tts[i]);
    free(s->tts);
    s->tts = NULL;
}

/* After the HTTP daemon stopped: no request can reach a job any more. */
void speech_service_free(server *srv) {
    struct tts_service *s = srv->tts;
    if (!s) return;
    free(s->threads);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
    srv->tts = NULL;
}

int speech_busy(server *srv) {
    struct tts_service *s = srv->tts;
    if (!s) return 0;
    pthread_mutex_lock(&s->lock);
    int n = s->n_active;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* ---- the request ---- */

static enum MHD_Result refuse(http_exchange *x, int status, const char *code, const char *param, const char *fmt,
                              const char *arg) {
    api_error e;
    api_error_set(&e, status, status >= 500 ? "server_error" : "invalid_request_error", code, param, fmt, arg);
    return http_send_error(x, &e);
}

enum MHD_Result speech_start(http_exchange *x) {
    struct tts_service *s = x->srv->tts;
    if (!s)
        return refuse(x, 404, "no_speech_synthesis", NULL, "%s",
                      "this server does not synthesise speech (started with --tts-workers 0)");
    speech_job *job = calloc(1, sizeof *job);
    if (!job) return refuse(x, 500, "out_of_memory", NULL, "%s", "out of memory");
    pthread_mutex_init(&job->lock, NULL);
    job->refs = 1;
    api_error e;
    if (speech_request_parse(x->body ? x->body : "", x->body_len, x->srv->config.max_speech_chars, &job->request,
                             &e) != 0) {
        job_unref(job);
        return http_send_error(x, &e);
    }
    job->conn = x->conn;
    snprintf(job->request_id, sizeof job->request_id, "%s", x->request_id);
    pthread_mutex_lock(&s->lock);
    bool full = s->stopping || s->n_queued + s->n_running >= s->n_threads + s->capacity;
    if (!full) {
        job->refs = 2; /* the HTTP side and the synthesis thread */
        job->suspended = true;
        MHD_suspend_connection(x->conn); /* before a synthesis thread can resume it */
        if (s->tail) s->tail->next = job;
        else s->head = job;
        s->tail = job;
        s->n_queued++;
        s->n_active++;
        job->service = s;
        x->speech_job = job;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    if (full) {
        job_unref(job);
        return refuse(x, 503, "server_busy", NULL, "%s", "the speech synthesis queue is full; retry later");
    }
    return MHD_YES;
}

/* The stream: what the synthesis thread appended; suspends when all is sent. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    speech_job *job = cls;
    pthread_mutex_lock(&job->lock);
    ssize_t n = (ssize_t)send_buffer_take(&job->out, buf, max);
    if (n == 0 && (job->done || job->failed)) {
        n = job->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    } else if (n == 0) { /* more will come: wait for the producer to wake us */
        job->suspended = true;
        MHD_suspend_connection(job->conn);
    }
    pthread_mutex_unlock(&job->lock);
    return n;
}

/* After the first bytes (or the end) resumed the connection: the answer. */
enum MHD_Result speech_resume(http_exchange *x) {
    speech_job *job = x->speech_job;
    if (x->responded) return MHD_YES;
    pthread_mutex_lock(&job->lock);
    bool failed_before_audio = job->failed; /* nothing was sent yet: a clean error */
    r1_error err = job->err;
    pthread_mutex_unlock(&job->lock);
    if (failed_before_audio) return refuse(x, 500, "speech_failed", NULL, "%s", err.message);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, job, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", audio_format_content_type(job->request.format));
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: pass the audio on as it comes */
    return http_queue_200(x, r);
}

/* The request is over (answered, or the client left): let go of the job. */
void speech_release(http_exchange *x) {
    speech_job *job = x->speech_job;
    if (!job) return;
    pthread_mutex_lock(&job->lock);
    if (!job->done && !job->failed) job->client_gone = true; /* stops the synthesis at its next chunk */
    x->audio_seconds = job->audio_seconds;
    x->stream_failed = job->failed && x->responded && !job->client_gone; /* cut by r1, not by the client */
    job->suspended = false;
    pthread_mutex_unlock(&job->lock);
    struct tts_service *s = job->service;
    pthread_mutex_lock(&s->lock);
    s->n_active--;
    pthread_mutex_unlock(&s->lock);
    x->speech_job = NULL;
    job_unref(job);
}
