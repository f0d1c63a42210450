/*
 * transcription.c - POST /v1/audio/transcriptions and /v1/audio/translations
 * as OpenAI defines them: a multipart/form-data upload (file, model,
 * language, prompt, response_format, temperature,
 * timestamp_granularities[]) answered with the transcript in the asked
 * format.
 *
 * A transcription takes seconds of CPU, so it never runs on an HTTP
 * thread (each one serves many connections): the request is checked and
 * parsed on the HTTP thread, queued for the speech worker thread, and its
 * connection suspended; the worker transcribes, then resumes the
 * connection, and the HTTP thread sends the answer. The queue is bounded
 * (--asr-queue): beyond it, 503 server_busy. The upload stays in the
 * exchange's body buffer until the answer is sent, so the worker reads it
 * in place.
 *
 * A suspended connection does not notice that its client left, so the
 * worker peeks at the socket before it starts a job (an upload whose
 * client gave up while queued is skipped, not transcribed for nobody), and
 * the answer is not sent to a closed socket (the request ends as 499).
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/helper_program.h"
#include "base/log.h"

#include "server/multipart.h"
#include "server/server_internal.h"

typedef struct asr_job asr_job;

struct asr_job {
    http_exchange *x;
    const uint8_t *audio;          /* the file part, inside x->body */
    size_t audio_size;
    char language[16], format[16];
    char *prompt;
    r1_transcribe_options options;
    /* the result, written by the worker */
    int rc;
    bool client_left; /* before its turn or while transcribed: no answer */
    double checked_at; /* when should_stop last peeked at the socket */
    r1_error err;
    r1_transcript transcript;
    asr_job *next;
};

struct asr_service {
    r1_asr *asr;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    asr_job *head, *tail;
    int n_queued, n_running, capacity;
    bool stopping;
};

/* ---- the worker ---- */

/* Asked before each decoding step: a client that closed its connection
 * frees the worker for the next upload. The socket is peeked at most every
 * 0.2 s, since a step takes milliseconds. */
static bool job_should_stop(void *user) {
    asr_job *job = user;
    double now = server_now();
    if (now - job->checked_at < 0.2) return false;
    job->checked_at = now;
    if (http_client_left(job->x->conn)) job->client_left = true;
    return job->client_left;
}


static void *worker(void *arg) {
    server *srv = arg;
    asr_service *s = srv->asr;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stopping) pthread_cond_wait(&s->wake, &s->lock);
        if (!s->head) break;
        asr_job *job = s->head;
        s->head = job->next;
        if (!s->head) s->tail = NULL;
        s->n_queued--;
        s->n_running++;
        pthread_mutex_unlock(&s->lock);
        double t0 = server_now();
        job->client_left = http_client_left(job->x->conn);
        if (job->client_left) {
            job->rc = -1;
            r1_log_info("request %s: the client left while its upload waited; not transcribed", job->x->request_id);
        } else {
            job->checked_at = t0;
            job->options.should_stop = job_should_stop;
            job->options.user = job;
            job->rc = r1_asr_transcribe_memory(s->asr, job->audio, job->audio_size, "upload", &job->options,
                                               &job->transcript, &job->err);
        }
        if (job->rc == 0)
            metrics_transcription(srv->metrics, job->transcript.duration, server_now() - t0);
        else if (job->rc == R1_ASR_STOPPED)
            r1_log_info("request %s: the client left; transcription stopped after %.2f s", job->x->request_id,
                        server_now() - t0);
        struct MHD_Connection *conn = job->x->conn;
        pthread_mutex_lock(&s->lock);
        s->n_running--;
        pthread_mutex_unlock(&s->lock);
        MHD_resume_connection(conn); /* the HTTP thread answers (transcription_resume) */
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Base name without .bin: the name the API also knows the model by. */
static void whisper_alias(server *srv) {
    const char *path = srv->config.whisper_model, *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".bin") == 0) n -= 4;
    snprintf(srv->whisper_alias, sizeof srv->whisper_alias, "%.*s", (int)n, base);
}

int transcription_service_start(server *srv, r1_error *err) {
    const r1_server_config *c = &srv->config;
    if (!c->whisper_model) return 0;
    asr_service *s = calloc(1, sizeof *s);
    if (!s) return r1_error_set(err, "out of memory");
    char decoder[PATH_MAX];
    helper_program_find("r1-audio-decoder", "R1_AUDIO_DECODER", c->audio_decoder, decoder, sizeof decoder);
    if (!helper_program_runnable(decoder)) {
        r1_error_set(err, "--audio-decoder %s: %s (build r1-audio-decoder beside r1, or name it with --audio-decoder or "
                          "R1_AUDIO_DECODER)", decoder, strerror(errno));
        free(s);
        return -1;
    }
    r1_asr_params p = {.model_path = c->whisper_model,
                       .vad_model_path = c->vad_model,
                       .n_threads = c->n_threads,
                       .audio_decoder = decoder};
    double t0 = server_now();
    if (r1_asr_load(&p, &s->asr, err) != 0) {
        free(s);
        return r1_error_prefix(err, "--whisper-model");
    }
    r1_log_info("uploads are decoded by %s, in a child process each, under limits", decoder);
    s->capacity = c->asr_queue;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    srv->asr = s;
    whisper_alias(srv);
    if (pthread_create(&s->thread, NULL, worker, srv) != 0) {
        srv->asr = NULL;
        r1_asr_free(s->asr);
        free(s);
        return r1_error_set(err, "cannot start the speech thread");
    }
    r1_log_info("speech model %s loaded in %.2f s as \"%s\" (%s, %s)", c->whisper_model, server_now() - t0,
                srv->whisper_alias, r1_asr_model_kind(s->asr),
                r1_asr_multilingual(s->asr) ? "multilingual" : "English only");
    return 0;
}

int transcription_busy(server *srv) {
    asr_service *s = srv->asr;
    if (!s) return 0;
    pthread_mutex_lock(&s->lock);
    int n = s->n_queued + s->n_running;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void transcription_service_stop(server *srv) {
    asr_service *s = srv->asr;
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true; /* the worker finishes what is queued: every suspended connection is resumed */
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    r1_asr_free(s->asr);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
    srv->asr = NULL;
}

/* ---- the request ---- */

static enum MHD_Result refuse(http_exchange *x, int status, const char *code, const char *param, const char *message) {
    api_error e;
    const char *type = status >= 500 ? "server_error" : "invalid_request_error";
    api_error_set(&e, status, type, code, param, "%s", message);
    return http_send_error(x, &e);
}

/* A text field of the form, copied and NUL-terminated into out; "" when
 * absent. Fails when it does not fit. */
static bool form_text(const multipart_form *f, const char *name, char *out, size_t cap) {
    const multipart_part *p = multipart_find(f, name);
    out[0] = '\0';
    if (!p) return true;
    if (p->size >= cap || memchr(p->data, '\0', p->size)) return false;
    memcpy(out, p->data, p->size);
    out[p->size] = '\0';
    return true;
}

static bool known_format(const char *f) {
    return !strcmp(f, "json") || !strcmp(f, "text") || !strcmp(f, "verbose_json") || !strcmp(f, "srt") ||
           !strcmp(f, "vtt");
}

/* Reads the form into job; on a problem, answers and returns false. */
static bool read_form(http_exchange *x, const multipart_form *form, bool translate, asr_job *job, enum MHD_Result *res) {
    char model[256], temperature[32];
    const multipart_part *file = multipart_find(form, "file");
    if (!file || !file->filename) {
        *res = refuse(x, 400, "missing_file", "file", "the form needs a file part (file=@audio.wav)");
        return false;
    }
    if (file->size == 0) {
        *res = refuse(x, 400, "invalid_file", "file", "the uploaded file is empty");
        return false;
    }
    if (!form_text(form, "model", model, sizeof model) || !model[0]) {
        *res = refuse(x, 400, "missing_model", "model", "the form needs a model field (e.g. whisper-1)");
        return false;
    }
    if (strcmp(model, "whisper-1") != 0 && strcmp(model, x->srv->whisper_alias) != 0) {
        api_error e;
        api_error_set(&e, 404, "invalid_request_error", "model_not_found", "model",
                      "The model '%s' does not exist; this server transcribes with '%s' (or say whisper-1)", model,
                      x->srv->whisper_alias);
        *res = http_send_error(x, &e);
        return false;
    }
    if (!form_text(form, "language", job->language, sizeof job->language) ||
        (job->language[0] && !r1_asr_knows_language(x->srv->asr->asr, job->language))) {
        *res = refuse(x, 400, "invalid_language", "language",
                      "language must be a code this model knows, such as en or zh (ISO-639-1)");
        return false;
    }
    if (!form_text(form, "response_format", job->format, sizeof job->format)) job->format[0] = '?';
    if (!job->format[0]) snprintf(job->format, sizeof job->format, "json");
    if (!known_format(job->format)) {
        *res = refuse(x, 400, "invalid_response_format", "response_format",
                      "response_format must be json, text, verbose_json, srt or vtt");
        return false;
    }
    if (!form_text(form, "temperature", temperature, sizeof temperature)) temperature[0] = '?';
    if (temperature[0]) {
        char *end;
        double t = strtod(temperature, &end);
        if (*end || t < 0.0 || t > 1.0) {
            *res = refuse(x, 400, "invalid_temperature", "temperature", "temperature must be a number in 0..1");
            return false;
        }
        job->options.temperature = (float)t;
    }
    char vad[8]; /* an r1 extension: transcribe only the speech the VAD finds */
    if (!form_text(form, "vad", vad, sizeof vad)) vad[0] = '?';
    if (vad[0] && strcmp(vad, "true") && strcmp(vad, "false")) {
        *res = refuse(x, 400, "invalid_vad", "vad", "vad must be true or false");
        return false;
    }
    job->options.vad = !strcmp(vad, "true");
    const multipart_part *granularity[4];
    int n_gran = multipart_find_all(form, "timestamp_granularities[]", granularity, 4);
    for (int i = 0; i < n_gran && i < 4; i++)
        if (granularity[i]->size != 7 || memcmp(granularity[i]->data, "segment", 7) != 0) {
            *res = refuse(x, 400, "unsupported_granularity", "timestamp_granularities[]",
                          "only segment timestamps are available (not word)");
            return false;
        }
    const multipart_part *prompt = multipart_find(form, "prompt");
    if (prompt && prompt->size > 0) {
        if (prompt->size > 4096 || memchr(prompt->data, '\0', prompt->size)) {
            *res = refuse(x, 400, "invalid_prompt", "prompt", "prompt must be text of at most 4096 bytes");
            return false;
        }
        job->prompt = strndup((const char *)prompt->data, prompt->size);
    }
    job->audio = file->data;
    job->audio_size = file->size;
    job->options.language = job->language[0] ? job->language : NULL;
    job->options.translate = translate;
    job->options.prompt = job->prompt;
    return true;
}

static void job_free(asr_job *job) {
    if (!job) return;
    r1_transcript_free(&job->transcript);
    free(job->prompt);
    free(job);
}

enum MHD_Result transcription_start(http_exchange *x, bool translate) {
    server *srv = x->srv;
    asr_service *s = srv->asr;
    if (!s)
        return refuse(x, 404, "no_speech_model", NULL,
                      "this server has no speech model (start r1 serve with --whisper-model FILE.bin)");
    const char *type = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Content-Type");
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    r1_error err = {{0}};
    if (!type || multipart_boundary_from_content_type(type, boundary, sizeof boundary, &err) != 0)
        return refuse(x, 400, "invalid_content_type", NULL, type ? err.message : "no Content-Type: send multipart/form-data");
    multipart_form form;
    if (multipart_parse((const uint8_t *)x->body, x->body_len, boundary, &form, &err) != 0)
        return refuse(x, 400, "invalid_multipart", NULL, err.message);
    asr_job *job = calloc(1, sizeof *job);
    if (!job) {
        multipart_form_free(&form);
        return refuse(x, 500, "out_of_memory", NULL, "out of memory");
    }
    enum MHD_Result res = MHD_YES;
    bool ok = read_form(x, &form, translate, job, &res);
    multipart_form_free(&form); /* the job keeps pointers into x->body only */
    if (!ok) {
        job_free(job);
        return res;
    }
    job->x = x;
    pthread_mutex_lock(&s->lock);
    bool full = s->n_queued + s->n_running >= s->capacity + 1;
    if (!full) {
        if (s->tail) s->tail->next = job;
        else s->head = job;
        s->tail = job;
        s->n_queued++;
        x->asr_job = job;
        MHD_suspend_connection(x->conn); /* before the worker can resume it */
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    if (full) {
        job_free(job);
        return refuse(x, 503, "server_busy", NULL, "the speech queue is full; retry later");
    }
    return MHD_YES;
}

/* After the worker resumed the connection: the answer. */
enum MHD_Result transcription_resume(http_exchange *x) {
    asr_job *job = x->asr_job;
    if (x->responded) return MHD_YES;
    if (job->client_left || http_client_left(x->conn)) return MHD_NO; /* nobody to answer: close (logged as 499) */
    if (job->rc != 0) {
        /* the upload could not be decoded, or the model failed */
        bool bad_audio = job->rc == R1_ASR_BAD_AUDIO;
        return refuse(x, bad_audio ? 400 : 500, bad_audio ? "invalid_audio" : "transcription_failed",
                      bad_audio ? "file" : NULL, job->err.message);
    }
    x->audio_seconds = job->transcript.duration;
    r1_error err;
    char *text = r1_transcript_format(&job->transcript, job->format, &err);
    if (!text) return refuse(x, 500, "out_of_memory", NULL, err.message);
    bool json = strstr(job->format, "json") != NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", json                            ? "application/json"
                                               : !strcmp(job->format, "vtt") ? "text/vtt; charset=utf-8"
                                                                             : "text/plain; charset=utf-8");
    return http_queue_200(x, r);
}

void transcription_release(http_exchange *x) {
    job_free(x->asr_job);
    x->asr_job = NULL;
}

void *transcription_model_object(const server *srv) {
    if (!srv->asr) return NULL;
    return json_pack("{s:s, s:s, s:I, s:s}", "id", srv->whisper_alias, "object", "model", "created",
                     (json_int_t)srv->created, "owned_by", "r1");
}
