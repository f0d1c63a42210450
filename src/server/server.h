/*
 * server.h - `r1 serve`: the HTTP server of the OpenAI- and DeepSeek-style
 * API (docs/SERVER.md), over one engine (r1_engine in r1.h).
 */
#ifndef R1_SERVER_SERVER_H
#define R1_SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct r1_server_config {
    const char *model_path;
    const char *alias;             /* the model's name in the API; NULL: file name without .gguf */
    const char *host;              /* address to listen on (default 127.0.0.1) */
    int port;                      /* 0: any free port (the log says which) */
    int metrics_port;              /* -1: /metrics on the main port only; else also a listener
                                      serving only /metrics here (0: any free port) */
    int n_threads;                 /* compute threads; <= 0: one per core */
    int n_http_threads;            /* HTTP threads (default 4) */
    int n_parallel;                /* sequences decoded together (default 32) */
    int ctx_size;                  /* positions per request, prompt + answer; 0: min(4096, trained) */
    int kv_cache_tokens;           /* KV cache size in positions; 0: parallel * ctx_size */
    int queue;                     /* requests waiting for a sequence (default 256) */
    int n_batch;                   /* rows per engine step (default 512) */
    int prefill_chunk;             /* prompt rows per step beside decoding ones (default 128) */
    bool exact;                    /* float activations (bit-identical results in any batch) */
    const char *load_mode;         /* "auto", "mmap" or "copy" */
    const char *kv_type;           /* "auto" (f16; f32 with exact), "f16" or "f32" */
    const char *model_key_file;    /* a sealed model's key (else R1_MODEL_KEY_FILE) */
    const char *model_key_command; /* or a command that prints it (a KMS client) */
    const char *chat_template;     /* NULL: recognised from the model */
    size_t max_body_bytes;         /* larger request bodies get 413 (default 4 MiB) */
    int max_connections;           /* open connections (default 1024) */
    int max_connections_per_ip;    /* 0: unlimited (the load balancer is one IP) */
    int idle_timeout_s;            /* a connection silent this long is closed (default 120) */
    int drain_timeout_s;           /* SIGTERM: wait this long for running requests (default 60) */
    int retry_after_s;             /* the Retry-After of a 503 (default 2) */
    bool log_json;                 /* JSON lines instead of text */
    bool log_prompts;              /* log each request's prompt text (off: prompts are private) */
    /* access control (docs/SECURITY.md) */
    const char *auth;              /* "none" (default), "jwt" or "keys" */
    const char *jwks;              /* --auth jwt: the JWKS file (reloaded on SIGHUP and change) */
    const char *jwt_issuer;
    const char *jwt_audience;
    int jwt_leeway_s;              /* clock skew allowed (default 30) */
    const char *jwt_hs256_secret;  /* a file: also accept HS256 tokens signed with it */
    const char *keys_db;           /* --auth keys: the SQLite key store (r1 keys) */
    int rate_requests_per_min;     /* per caller; 0: no limit (API keys may set their own) */
    int rate_tokens_per_min;
    int rate_tokens_per_day;
    int rate_concurrent;
    const char *rate_scope;        /* "audio.speech=30,chat=600": requests per minute per caller and scope */
    const char *audit_log;         /* the tamper-evident audit log, or NULL */
    const char *audit_key_file;    /* its HMAC key (>= 32 bytes) */
    bool audit_content;            /* write prompts and answers into it */
    int audit_fsync_every;         /* 1: every line (default); N: every N lines; 0: never */
    size_t audit_max_bytes;        /* rotate past this size (default 256 MiB; 0: never) */
    const char *tls_cert;          /* PEM files: serve HTTPS, TLS 1.3 only */
    const char *tls_key;
    const char *tls_client_ca;     /* require client certificates signed by this CA (mTLS) */
    /* speech: POST /v1/audio/transcriptions and /translations */
    const char *whisper_model;     /* ggml Whisper .bin; NULL: no audio endpoints */
    const char *vad_model;         /* Silero VAD .bin for uploads with vad (NULL: the energy detector) */
    int asr_queue;                 /* uploads that may wait for the speech worker (default 8); more get 503 */
    size_t max_audio_bytes;        /* larger uploads get 413 (default 25 MiB, as OpenAI) */
    const char *audio_decoder;     /* r1-audio-decoder, which decodes each upload under limits (NULL: beside r1, else $PATH) */
    /* speech synthesis: POST /v1/audio/speech (r1-tts-worker processes) */
    int tts_workers;               /* worker processes, texts spoken at once (default 1; 0: no endpoint) */
    int tts_queue;                 /* texts that may wait for a worker (default 16); more get 503 */
    int max_speech_chars;          /* longest input (default 4096, as OpenAI) */
    const char *tts_worker;        /* the r1-tts-worker program (NULL: beside r1, else $PATH) */
    /* model storage: check the model against its SHA-256 manifest while loading */
    const char *verify;            /* "full", "fast" (first, last and 2 random chunks) or "off" (default) */
    const char *manifest;          /* NULL: r1.manifest beside the model */
    int (*verify_model)(const char *model, const char *mode, const char *manifest, r1_error *err);
} r1_server_config;

r1_server_config r1_server_default_config(void);

/* Runs until SIGTERM/SIGINT (graceful drain) or a failure to start.
 * Returns the process exit status. */
int r1_server_run(const r1_server_config *config);

#endif
