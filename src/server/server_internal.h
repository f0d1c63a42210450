/*
 * server_internal.h - what the files of the server share: the server
 * itself, one HTTP exchange (a request and its response), and the state of
 * a generation that the engine thread fills and an HTTP thread sends.
 *
 *   http_routes.c    the request handler of libmicrohttpd: routing, body,
 *                    limits, the small endpoints, error responses
 *   generation.c     chat and text completions: prompt, submit, stream
 *   response_json.c  the JSON of responses and stream chunks
 *   server.c         start, readiness, signals, drain, the client watchdog
 *   transcription.c  /v1/audio/transcriptions and /translations (Whisper)
 *   speech.c         /v1/audio/speech (espeak-ng worker processes)
 *   web_ui.c         the web page at / (the files of web/, built into the binary)
 */
#ifndef R1_SERVER_SERVER_INTERNAL_H
#define R1_SERVER_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "r1.h"
#include "server/access.h"
#include "server/api_request.h"
#include "server/metrics.h"
#include "server/server.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"

typedef struct generation generation;

/* Bytes of a streamed response not yet sent: a producer thread appends,
 * the HTTP thread's content reader takes (both under their owner's lock).
 * The buffer starts over once all was taken, so it stays as large as the
 * largest backlog, not the whole response. */
typedef struct send_buffer {
    char *data;
    size_t len, sent, cap;
} send_buffer;
typedef struct server server;
typedef struct asr_service asr_service;
struct asr_job;
struct tts_service;
struct speech_job;

/* What a daemon's handler is given: the server, and whether this daemon
 * is the separate metrics listener (--metrics-port), which serves only
 * GET /metrics. */
typedef struct listener {
    server *srv;
    bool metrics_only;
} listener;

struct server {
    r1_server_config config;
    char alias[256];
    struct MHD_Daemon *daemon;
    struct MHD_Daemon *metrics_daemon;   /* --metrics-port, or NULL */
    listener api_listener, metrics_listener;
    int port;
    metrics *metrics;
    access_control *access;
    /* --tls-*: the PEM texts MHD serves from */
    char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;
    /* set once loading is done; the engine is used only when ready */
    r1_model *model;
    r1_tokenizer *tok;
    r1_engine *engine;
    r1_chat_template template;
    char *bos_text;
    int n_vocab;
    atomic_bool ready;
    atomic_bool draining;
    long long created;              /* the model's "created" time */
    /* generations that are running, for the watchdog and the drain */
    pthread_mutex_t lock;
    generation *generations;
    int n_generations;
    atomic_ullong next_id;
    /* speech (--whisper-model): the worker and its queue, or NULL */
    struct asr_service *asr;
    char whisper_alias[128];
    /* speech synthesis (--tts-workers): threads, worker processes, queue; or NULL */
    struct tts_service *tts;
};

/* One HTTP request and what we answer (MHD's per-request pointer). */
typedef struct http_exchange {
    server *srv;
    struct MHD_Connection *conn;
    char method[8];
    char path[128];
    char request_id[64];
    const char *endpoint;            /* the route, for metrics: never the raw path */
    const char *error_code;          /* the code of the error body sent, or NULL */
    bool responded;                  /* a response is queued: ignore the rest of the body */
    caller who;                      /* the authenticated caller (access.c) */
    const char *www_authenticate;    /* for a 401/403 being sent */
    char ratelimit[6][72];           /* x-ratelimit-{limit,remaining,reset}-{requests,tokens}; "" = none */
    int retry_after_s;               /* for a 429; 0: the server's default */
    bool metrics_only;
    char *body;
    size_t body_len, body_cap;
    bool body_too_large;
    size_t body_limit;               /* --max-body-bytes, or --max-audio-bytes for uploads */
    double started;                  /* seconds, monotonic */
    int status;                      /* the status answered */
    generation *gen;                 /* for the generation endpoints */
    struct asr_job *asr_job;         /* for the audio endpoints, once queued */
    struct speech_job *speech_job;   /* for /v1/audio/speech, once queued */
    double audio_seconds;            /* of a transcribed upload, for the log */
    bool stream_failed;              /* r1 cut its own stream (speech failed mid-way): 500, not 499 */
} http_exchange;

/* A generation: filled by the engine thread's callback, sent by an HTTP
 * thread. Freed when both sides have let go of it. */
struct generation {
    pthread_mutex_t lock;
    int refs;                        /* the HTTP side's and the engine's */
    server *srv;
    struct MHD_Connection *conn;     /* NULL once the HTTP side let go */
    bool suspended;                  /* the connection waits for us */
    bool client_gone;                /* the watchdog saw the client close its connection */
    bool stream;
    bool chat;
    bool include_usage;
    bool logprobs;
    char id[48];
    long long created;
    r1_request *request;
    /* streaming: SSE bytes not yet sent */
    send_buffer out;
    bool role_sent;
    /* whole response: the text so far, and the logprob entries (JSON array) */
    char *reasoning, *content;
    size_t reasoning_len, content_len, reasoning_cap, content_cap;
    void *logprob_entries;           /* json_t array */
    /* the end */
    bool done;
    bool failed;                     /* out of memory building the answer */
    r1_finish_reason finish;
    char error[256];
    int n_prompt, n_prompt_cached, n_generated, n_reasoning;
    double started;                  /* the request's arrival, seconds, monotonic */
    double first_token_at;           /* seconds, monotonic; 0 before */
    double last_token_at;
    generation *next_active, *prev_active;
};

double server_now(void);

/* http_routes.c */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **con_cls);
void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe);
enum MHD_Result http_send_json(http_exchange *x, int status, const char *json);
enum MHD_Result http_send_error(http_exchange *x, const api_error *err);
void http_add_ratelimit_headers(const http_exchange *x, struct MHD_Response *r);
/* Whether the client of a suspended connection closed it (a peek reads 0
 * bytes: an orderly close; data or EAGAIN: still there). */
bool http_client_left(struct MHD_Connection *conn);
/* Queues r as the 200 answer of x (with X-Request-Id and the rate-limit
 * headers) and lets go of it. */
enum MHD_Result http_queue_200(http_exchange *x, struct MHD_Response *r);
/* send_buffer: false when memory ran out; the bytes taken (at most max, 0
 * when nothing waits). */
bool send_buffer_append(send_buffer *b, const void *data, size_t n);
size_t send_buffer_take(send_buffer *b, char *out, size_t max);

/* tls.c */
int tls_load(server *srv, r1_error *err);
/* SIGHUP: read --tls-cert/--tls-key again (the old pair stays if they are bad). */
void tls_reload(server *srv);
/* The function MHD_OPTION_HTTPS_CERT_CALLBACK takes. */
void *tls_certificate_callback(void);
void tls_free(server *srv);
/* With --tls-client-ca: whether the connection's client presented a
 * certificate that the CA signed (always true without mTLS). */
bool tls_client_allowed(server *srv, struct MHD_Connection *conn);

/* generation.c */
enum MHD_Result generation_start(http_exchange *x, bool chat);
enum MHD_Result generation_resume(http_exchange *x);
void generation_release_http(generation *g, bool client_gone);
/* The watchdog: cancels generations whose client closed its connection. */
void generation_check_clients(server *srv);

/* transcription.c: the audio endpoints and the speech worker */
int transcription_service_start(server *srv, r1_error *err); /* 0 also without --whisper-model */
void transcription_service_stop(server *srv);                 /* finishes what is queued */
int transcription_busy(server *srv);                          /* queued + running */
enum MHD_Result transcription_start(http_exchange *x, bool translate);
enum MHD_Result transcription_resume(http_exchange *x);
void transcription_release(http_exchange *x);
/* The speech model's /v1/models entry (a json_t *), or NULL without one. */
void *transcription_model_object(const server *srv);

/* speech.c: /v1/audio/speech and the synthesis threads */
int speech_service_start(server *srv, r1_error *err); /* 0 also with --tts-workers 0 */
void speech_service_stop(server *srv);                 /* refuses what is queued, stops what runs */
void speech_service_free(server *srv);                 /* after the HTTP daemon stopped */
int speech_busy(server *srv);                          /* queued + running */
enum MHD_Result speech_start(http_exchange *x);
enum MHD_Result speech_resume(http_exchange *x);
void speech_release(http_exchange *x);

/* web_ui.c: the page at / and its files under /web/ (web/ files, built into
 * the binary by cmake/embed_web.cmake as r1_web_assets) */
typedef struct web_asset {
    const char *path;                /* "/web/index.html" */
    const char *etag;                /* quoted, as the header says it */
    const unsigned char *data;
    size_t size;
} web_asset;
extern const web_asset r1_web_assets[];
extern const size_t r1_web_asset_count;
/* GET or HEAD of / or /web/NAME: the file with its headers, 304 when the
 * client has it (If-None-Match), else 404. */
enum MHD_Result web_ui_serve(http_exchange *x);

/* response_json.c */
char *json_chat_chunk(const generation *g, const char *field, const char *text, size_t len, const char *finish,
                      void *logprobs);
char *json_completion_chunk(const generation *g, const char *text, size_t len, const char *finish,
                            void *logprobs);
char *json_usage_chunk(const generation *g);
char *json_final_response(const generation *g);
void *json_logprob_entry(const server *srv, const r1_generation_event *ev, bool chat);
const char *finish_reason_name(r1_finish_reason f);

#endif
