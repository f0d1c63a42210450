/*
 * r1.h - the public C API of libr1: load a model, run batches through it,
 * sample tokens. The server, the command line and embedders use only this.
 *
 * A minimal program:
 *
 *     r1_error err;
 *     r1_model *model;
 *     if (r1_model_load("model.gguf", &model, &err) != 0) { puts(err.message); return 1; }
 *     r1_context_params cp = r1_context_default_params();
 *     r1_context *ctx;
 *     if (r1_context_new(model, &cp, &ctx, &err) != 0) { ... }
 *     int32_t tokens[] = {1, 2, 3}, pos[] = {0, 1, 2}, seq[] = {0, 0, 0};
 *     int8_t want[] = {0, 0, 1};
 *     r1_batch b = {3, tokens, pos, seq, want};
 *     if (r1_decode(ctx, &b, &err) != 0) { ... }
 *     const float *logits = r1_get_logits(ctx, 0);   (logits of the last row)
 *
 * Conventions: functions that can fail return 0 on success and -1 on
 * failure with a one-line message in *err (err may be NULL). Nothing in the
 * library aborts the process on bad input.
 */
#ifndef R1_H
#define R1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef R1_ERROR_DEFINED
#define R1_ERROR_DEFINED
/* A failure's description: one line naming what failed and why. */
typedef struct r1_error {
    char message[512];
} r1_error;
#endif

/* ---- models ---- */

typedef struct r1_model r1_model;

/* Maps a GGUF file and checks it completely (format, metadata, every tensor
 * the architecture needs with its shape). Supported architectures: llama,
 * qwen2. Weights stay in the file's number formats. A sealed model file is
 * decrypted with the key in the file named by R1_MODEL_KEY_FILE (see
 * r1_model_params for the other ways to give it). */
int r1_model_load(const char *path, r1_model **out, r1_error *err);
void r1_model_free(r1_model *model);

/* Where the weights live once loaded. */
typedef enum r1_load_mode {
    R1_LOAD_AUTO = 0, /* COPY when the file fits in half the available memory, else MMAP;
                         the environment variable R1_LOAD=mmap|copy overrides */
    R1_LOAD_MMAP = 1, /* map the file: instant, shared with other processes, paged by the OS */
    R1_LOAD_COPY = 2  /* read it into private huge-page memory: faster decoding */
} r1_load_mode;

typedef struct r1_model_params {
    r1_load_mode load;
    /* Sealed (encrypted) model files, docs/SEALED-MODELS.md: the key comes
     * from the first of these that is set: key/key_len (32 raw bytes, or 64
     * hex digits), key_file (a file holding either form, optionally with a
     * newline), key_command (run by the shell; its standard output is the
     * key), else the file named by the environment variable
     * R1_MODEL_KEY_FILE. Plain GGUF files ignore them. A sealed file is
     * decrypted into locked private memory (never to disk), whatever `load`
     * says. */
    const uint8_t *key;
    size_t key_len;
    const char *key_file;
    const char *key_command;
    int n_threads;    /* threads that decrypt a sealed file; <= 0: one per CPU */
} r1_model_params;

/* r1_model_load with explicit parameters (params may be NULL: defaults). */
int r1_model_load_ex(const char *path, const r1_model_params *params, r1_model **out, r1_error *err);

typedef struct r1_model_info {
    const char *arch;     /* "llama", "qwen2" */
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int n_ctx_train;
    uint64_t n_params;
    uint64_t weight_bytes;     /* all tensor data */
    uint64_t bytes_per_token;  /* weight bytes read to decode one token */
    const char *file_type;     /* general.file_type by name: "Q4_K_M", "F16", ... or "unknown" */
    int32_t bos_token;         /* from the tokenizer metadata; -1 if none */
    int32_t eos_token;
} r1_model_info;

void r1_model_get_info(const r1_model *model, r1_model_info *info);

/* The model's vocabulary as a tokenizer (text/tokenizer.h has its API).
 * Load it once and share it: it is read-only and thread-safe. */
struct r1_tokenizer;
int r1_model_load_tokenizer(const r1_model *model, struct r1_tokenizer **out, r1_error *err);

/* ---- contexts: the state of running a model (threads, KV cache) ---- */

typedef struct r1_context r1_context;

/* How the KV cache stores keys and values. A long reasoning trace reads
 * its whole cache at every decode step, so f16 (half the bytes of f32)
 * makes long-context decode faster and lets twice the context fit in the
 * same memory; it moves logits by ~3e-3 on float models against f32 (more
 * through 8-bit activations), as llama.cpp's default f16 cache does.
 * R1_KV_DEFAULT is f16, except f32 with `exact` (a float reference to
 * match). deepseek2 caches its latent vectors in the same type. */
typedef enum r1_kv_type { R1_KV_DEFAULT = 0, R1_KV_F16, R1_KV_F32 } r1_kv_type;

/* "f16", "f32" or "auto" (R1_KV_DEFAULT), for flags and logs; NULL when
 * unknown. */
const char *r1_kv_type_name(r1_kv_type t);
/* The type of a name ("auto", "f16", "f32"); -1 when it is none of them. */
int r1_kv_type_parse(const char *name, r1_kv_type *out);

typedef struct r1_context_params {
    int n_threads;   /* <= 0: one per CPU */
    int n_ctx;       /* total cached tokens over all sequences; <= 0: min(4096, trained) */
    int n_seq_max;   /* sequences that may be cached at once (default 1) */
    int n_batch;     /* rows computed together; larger batches are split (default 512) */
    bool exact;      /* keep activations in float32 in every matrix product
                        (slower; matches a float reference tightly). Default:
                        8-bit activations with integer dot products. */
    bool mla_expanded; /* deepseek2 only, for checking: attention with keys and
                          values expanded from the latent cache per position
                          instead of the absorbed form (same result, slower) */
    r1_kv_type kv_type; /* see r1_kv_type (default: f16, f32 when exact) */
} r1_context_params;

r1_context_params r1_context_default_params(void);
int r1_context_new(r1_model *model, const r1_context_params *params, r1_context **out, r1_error *err);
void r1_context_free(r1_context *ctx);

/* A batch: n rows of (token, position, sequence). Rows of one sequence must
 * continue its cache without gaps (position p needs positions < p cached or
 * earlier in the batch). logits[i] != 0 asks for row i's logits; logits may
 * be NULL to ask for the last row only. */
typedef struct r1_batch {
    int n;
    const int32_t *token;
    const int32_t *pos;
    const int32_t *seq;
    const int8_t *logits;
} r1_batch;

/* Runs the model on the batch. Prefill and decode, one sequence or many,
 * all take this one path. On failure no sequence changes. */
int r1_decode(r1_context *ctx, const r1_batch *batch, r1_error *err);

/* The logits (n_vocab floats) of the i-th row that asked for logits in the
 * last r1_decode, or NULL. */
const float *r1_get_logits(const r1_context *ctx, int i);

/* Forgets a sequence's cached tokens from position `from` on (0: all).
 * Returns the new length: `from`, or in rare cases a little less (when
 * `from` falls inside a cache block shared with another sequence and the
 * cache has no free block to copy it into). */
int r1_seq_truncate(r1_context *ctx, int seq, int from);

/* Makes the empty sequence dst begin with the first n cached positions of
 * sequence src without recomputing them: the cache blocks of that prefix
 * are shared (copy-on-write). For many requests with one system prompt. */
int r1_seq_share_prefix(r1_context *ctx, int dst, int src, int n, r1_error *err);

/* The KV cache's size and its unused part, in positions. */
int r1_kv_cache_positions(const r1_context *ctx);
int r1_kv_cache_free_positions(const r1_context *ctx);

/* Number of positions cached for a sequence. */
int r1_seq_length(const r1_context *ctx, int seq);

/* Bytes the KV cache holds per cached position (all layers). deepseek2
 * caches one latent vector per layer instead of per-head keys and values. */
size_t r1_kv_bytes_per_token(const r1_context *ctx);
/* The type the cache stores (never R1_KV_DEFAULT: what that resolved to). */
r1_kv_type r1_context_kv_type(const r1_context *ctx);

/* ---- sampling ---- */

typedef struct r1_sampler_params {
    float temperature;     /* <= 0: greedy (argmax, lowest id wins ties) */
    int top_k;             /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off; applied to the last repeat_last_n tokens */
    int repeat_last_n;
    float presence_penalty;
    float frequency_penalty;
    uint64_t seed;
} r1_sampler_params;

typedef struct r1_sampler r1_sampler;

r1_sampler_params r1_sampler_default_params(void);
r1_sampler *r1_sampler_new(const r1_sampler_params *params, int n_vocab);
void r1_sampler_free(r1_sampler *s);
/* Picks the next token from logits (not modified). */
int32_t r1_sampler_sample(r1_sampler *s, const float *logits);
/* Tells the sampler a token was emitted (for repetition penalties). */
void r1_sampler_accept(r1_sampler *s, int32_t token);

/* Index of the largest value (the first one on ties). */
int32_t r1_argmax(const float *x, int n);

/* ---- the engine: many generations at once ----
 *
 * An engine owns a model context and one thread that runs it. Requests are
 * submitted from any thread; the engine thread batches every running
 * sequence into one forward pass per step (continuous batching: a request
 * joins at the next step, long prompts are fed in chunks so running streams
 * keep flowing), samples, turns tokens into text and hands each piece to the
 * request's callback. Prompts that begin like a cached sequence (a shared
 * system prompt, the earlier turns of a chat) reuse its cache blocks.
 */

typedef struct r1_engine r1_engine;
typedef struct r1_request r1_request;

struct r1_engine_step;

typedef struct r1_engine_params {
    int n_threads;        /* <= 0: one per CPU */
    int n_parallel;       /* sequences decoded together (default 32) */
    int n_ctx_seq;        /* most positions one request may use, prompt and
                             answer together; <= 0: min(4096, trained) */
    int n_cache_positions;/* KV cache size over all sequences; <= 0: n_parallel * n_ctx_seq */
    int n_queue;          /* requests that may wait once all n_parallel sequences are taken (default
                             256; 0: none wait, request n_parallel + 1 is refused) */
    int n_batch;          /* most rows computed in one step (default 512) */
    int n_prefill_chunk;  /* prompt rows per step while other sequences are
                             decoding (default 128): bounds their stall */
    bool exact;           /* as in r1_context_params */
    r1_kv_type kv_type;   /* as in r1_context_params */
    /* optional: called on the engine thread after every step (for metrics) */
    void (*on_step)(void *user, const struct r1_engine_step *step);
    void *on_step_user;
} r1_engine_params;

/* What one engine step did. */
typedef struct r1_engine_step {
    int rows;             /* batch rows computed */
    int decode_rows;      /* of which one token of a decoding sequence */
    int prefill_rows;     /* of which prompt tokens */
    int sequences;        /* sequences in the batch */
    double seconds;       /* the forward pass and sampling */
} r1_engine_step;

typedef enum r1_finish_reason {
    R1_FINISH_NONE = 0,   /* still running */
    R1_FINISH_STOP,       /* end-of-generation token or a stop string */
    R1_FINISH_LENGTH,     /* max_tokens or the context size reached */
    R1_FINISH_CANCELLED,  /* r1_request_cancel, or the engine stopped */
    R1_FINISH_ERROR       /* the engine failed (message in the event) */
} r1_finish_reason;

#define R1_MAX_TOP_LOGPROBS 20

typedef struct r1_generation_params {
    r1_sampler_params sampling;
    int max_tokens;                 /* > 0; capped by the context */
    const char *const *stops;       /* stop strings (copied); the text ends before one */
    int n_stops;
    const int32_t *bias_tokens;     /* logit bias: added to these tokens' logits (copied) */
    const float *bias_values;
    int n_bias;
    bool ignore_eos;                /* generate past end-of-generation tokens */
    bool split_reasoning;           /* separate <think>...</think> from the answer */
    bool starts_in_reasoning;       /* the prompt opened <think>: text is reasoning until </think> */
    int top_logprobs;               /* -1: no log-probabilities; 0..R1_MAX_TOP_LOGPROBS: the
                                       sampled token's and that many alternatives */
} r1_generation_params;

r1_generation_params r1_generation_default_params(void);

typedef struct r1_token_logprob {
    int32_t token;
    float logprob;
} r1_token_logprob;

/* What a request's callback receives, once per generated token and once at
 * the end (done). Text never splits a UTF-8 character; the pointers are
 * valid during the callback only. */
typedef struct r1_generation_event {
    const char *reasoning;          /* new reasoning text (reasoning_len bytes) */
    size_t reasoning_len;
    const char *content;            /* new answer text */
    size_t content_len;
    int32_t token;                  /* the token sampled this step; -1 if none */
    r1_token_logprob sampled;       /* with top_logprobs >= 0: the token's log-probability */
    const r1_token_logprob *top;    /* and the n_top most likely tokens */
    int n_top;
    bool done;                      /* the last event of the request */
    r1_finish_reason finish;
    const char *error;              /* with R1_FINISH_ERROR */
    /* counts so far */
    int n_prompt;                   /* prompt tokens */
    int n_prompt_cached;            /* of which found in the cache */
    int n_generated;                /* tokens sampled (the end-of-generation token included) */
    int n_reasoning;                /* of which inside the reasoning */
    double queue_seconds;           /* from submit to a sequence (0 if it never got one) */
} r1_generation_event;

typedef void (*r1_generation_callback)(void *user, const r1_generation_event *event);

r1_engine_params r1_engine_default_params(void);

/* Starts the engine thread. The model must outlive the engine; tokenizer
 * is the model's (r1_model_load_tokenizer), shared read-only. */
struct r1_tokenizer;
int r1_engine_start(r1_model *model, const struct r1_tokenizer *tok, const r1_engine_params *params,
                    r1_engine **out, r1_error *err);

/* Cancels every request (their callbacks get done, R1_FINISH_CANCELLED),
 * stops the thread and frees the engine. */
void r1_engine_stop(r1_engine *engine);

/* The most positions one request may use (prompt + max_tokens). */
int r1_engine_ctx_seq(const r1_engine *engine);

#define R1_ENGINE_BUSY (-2)

/* Queues a generation. Returns 0 and a handle in *out (release it with
 * r1_request_release), R1_ENGINE_BUSY when the queue is full, or -1 for a
 * request that can never run (empty prompt, prompt + max_tokens beyond the
 * context, bad token id). After a successful submit the callback is called
 * from the engine thread for every step and exactly once with done set;
 * after that never again. */
int r1_engine_submit(r1_engine *engine, const int32_t *prompt, int n_prompt, const r1_generation_params *params,
                     r1_generation_callback callback, void *user, r1_request **out, r1_error *err);

/* Asks the engine to stop this request at its next step (e.g. the client
 * left). Its callback still gets the final event. Safe from any thread. */
void r1_request_cancel(r1_request *request);
void r1_request_release(r1_request *request);

typedef struct r1_engine_stats {
    int running;                    /* requests holding a sequence */
    int waiting;                    /* requests queued for one */
    int parallel;
    int queue_capacity;
    bool full;                      /* running + waiting reached parallel + queue: a new request is refused */
    int cache_positions;            /* KV cache size in positions */
    r1_kv_type cache_type;          /* what it stores: R1_KV_F16 or R1_KV_F32 */
    size_t cache_bytes_per_position;/* all layers, keys and values */
    int cache_positions_used;       /* by any sequence, idle ones' reusable caches included */
    int cache_positions_running;    /* by running requests (shared prefixes counted per request) */
    uint64_t steps;                 /* forward passes so far */
    uint64_t prefix_queries;        /* requests admitted */
    uint64_t prefix_hits;           /* of which found part of their prompt cached */
    uint64_t prompt_tokens_cached;  /* prompt tokens not recomputed thanks to the cache */
} r1_engine_stats;

/* A consistent snapshot; safe from any thread. */
void r1_engine_get_stats(r1_engine *engine, r1_engine_stats *stats);

/* ---- speech recognition (Whisper) ---- */

/* A Whisper model (whisper.cpp's ggml .bin), with its own thread pool and
 * state. One transcription runs at a time per r1_asr (calls from several
 * threads are serialised); load one per concurrent stream if needed. */
typedef struct r1_asr r1_asr;

typedef struct r1_asr_params {
    const char *model_path;     /* ggml Whisper .bin */
    const char *vad_model_path; /* Silero VAD ggml .bin, or NULL: the energy-based detector */
    int n_threads;              /* <= 0: one per CPU */
    bool exact;                 /* float activations in every product (the reference tests) */
    /* r1-audio-decoder (a path, or a name on $PATH): uploads given to
     * r1_asr_transcribe_memory are then decoded in a child process under
     * memory, CPU and file limits, so that a decoder library's bug on a
     * crafted upload costs that request only (src/audio_decoder/). NULL or
     * "": decoded in this process. Files (r1_asr_transcribe_file) are
     * always decoded in this process. */
    const char *audio_decoder;
} r1_asr_params;

int r1_asr_load(const r1_asr_params *params, r1_asr **out, r1_error *err);
void r1_asr_free(r1_asr *asr);
/* "tiny", "base", "small", "medium", "large" or "unknown"; and whether the
 * model knows languages other than English. */
const char *r1_asr_model_kind(const r1_asr *asr);
bool r1_asr_multilingual(const r1_asr *asr);
/* Whether code ("en", "zh", ...) is a language this model can be told to use. */
bool r1_asr_knows_language(const r1_asr *asr, const char *code);

typedef struct r1_transcribe_options {
    const char *language;   /* "en", "zh", ...; NULL, "" or "auto": detected */
    bool translate;         /* into English instead of transcribing */
    bool no_timestamps;     /* decode without timestamp tokens: one segment per 30 s window */
    float temperature;      /* first try; 0 = greedy. Fallback raises it by 0.2 up to 1.0 */
    bool no_fallback;       /* keep the first try whatever its quality */
    const char *prompt;     /* text that conditions the first window (names, spelling), or NULL */
    bool vad;               /* transcribe only the speech found by voice activity detection */
    uint64_t seed;          /* for temperature > 0 */
    int max_tokens;         /* sampled per 30 s window; 0: half the text context (224), as Whisper */
    /* called for each segment as soon as it is final (may be NULL) */
    void (*on_segment)(void *user, double start, double end, const char *text);
    /* asked before each decoding step (may be NULL): true stops the
     * transcription, which then returns R1_ASR_STOPPED (a client that left) */
    bool (*should_stop)(void *user);
    void *user;
} r1_transcribe_options;

/* What the transcribe functions return besides 0. */
enum {
    R1_ASR_FAILED = -1,    /* the model failed, or out of memory */
    R1_ASR_BAD_AUDIO = -2, /* the file or upload is not audio r1 can decode, or its decoder failed on it */
    R1_ASR_STOPPED = -3,   /* should_stop said so */
};

typedef struct r1_transcript_segment {
    double start, end;      /* seconds from the start of the audio */
    char *text;             /* UTF-8, as decoded (usually with a leading space) */
    float avg_logprob;      /* of the window the segment came from */
    float no_speech_prob;
    float temperature;      /* the try whose result was kept */
    int32_t *tokens;        /* its text tokens */
    int n_tokens;
} r1_transcript_segment;

typedef struct r1_transcript {
    char *text;             /* every segment's text, joined and trimmed */
    char language[8];       /* the language used ("en"; given or detected) */
    float language_probability; /* when detected; 1 when given */
    bool translated;        /* the task was translate (into English) */
    double duration;        /* seconds of audio */
    r1_transcript_segment *segments;
    int n_segments;
    /* figures */
    double mel_seconds, encode_seconds, decode_seconds, total_seconds;
    int n_windows, n_fallbacks;
} r1_transcript;

/* Transcribes mono 16 kHz float samples. 0, or one of R1_ASR_* with err. */
int r1_asr_transcribe(r1_asr *asr, const float *samples, long n_samples, const r1_transcribe_options *options,
                      r1_transcript *out, r1_error *err);
/* Decodes an audio file or in-memory upload (any format and rate
 * libsndfile reads: WAV, FLAC, OGG, MP3; down-mixed, resampled) and
 * transcribes it. `name` labels errors ("upload", the file name). */
int r1_asr_transcribe_file(r1_asr *asr, const char *path, const r1_transcribe_options *options, r1_transcript *out,
                           r1_error *err);
int r1_asr_transcribe_memory(r1_asr *asr, const void *data, size_t size, const char *name,
                             const r1_transcribe_options *options, r1_transcript *out, r1_error *err);
void r1_transcript_free(r1_transcript *t);

/* The transcript as OpenAI's response formats: "text", "json" ({"text"}),
 * "verbose_json" (language, duration, segments), "srt", "vtt". A
 * malloc'd NUL-terminated string, or NULL with err for an unknown format. */
char *r1_transcript_format(const r1_transcript *t, const char *format, r1_error *err);

/* ---- speech synthesis (espeak-ng, in a worker process) ----
 *
 * An r1_tts owns one r1-tts-worker process (src/tts_worker/): espeak-ng is
 * GPL-3+ and keeps global state, so it runs there, never in this library.
 * The worker is started on first use and started again after it dies; a
 * request that was running when it died fails with an error saying so. One
 * r1_tts speaks one text at a time (calls are serialised by a lock): for
 * several at once, open several. Audio is 16-bit mono at
 * r1_tts_sample_rate() (22050 Hz with espeak-ng). */

typedef struct r1_tts r1_tts;

typedef struct r1_tts_params {
    const char *worker_path; /* NULL: $R1_TTS_WORKER, else r1-tts-worker beside this program, else $PATH */
    double timeout_seconds;  /* longest silence from the worker before it is killed; 0: 30 */
} r1_tts_params;

typedef struct r1_speak_options {
    const char *voice; /* a name of r1_tts_voices(); NULL: "alloy" */
    float speed;       /* 1 = 175 words per minute; 0.25..4 (espeak-ng's own range, 0.46..2.57, bounds it) */
    /* receives the audio as it is synthesised; nonzero stops the speech */
    int (*on_audio)(void *user, const int16_t *samples, size_t n);
    /* called before each sentence with the text spoken (may be NULL) */
    void (*on_sentence)(void *user, const char *text, bool mandarin);
    void *user;
} r1_speak_options;

int r1_tts_open(const r1_tts_params *params, r1_tts **out, r1_error *err);
void r1_tts_close(r1_tts *tts);
int r1_tts_sample_rate(const r1_tts *tts);
/* Speaks UTF-8 text (English, Mandarin or both): sentence by sentence, each
 * read in its language (tts_text.h says how numbers, dates and Markdown are
 * read). 0 when all was spoken or on_audio stopped it; -1 with err. */
int r1_tts_speak(r1_tts *tts, const char *text, size_t len, const r1_speak_options *options, r1_error *err);
/* The process id of the running worker, or 0 (for supervision and tests). */
int r1_tts_worker_pid(r1_tts *tts);
/* The voices, as a NULL-terminated list of names (OpenAI's: alloy, ash,
 * ...); whether name is one of them. */
const char *const *r1_tts_voices(void);
bool r1_tts_voice_known(const char *name);

/* ---- build information ---- */

const char *r1_version(void);
/* The kernel set in use: "scalar", "avx2" or "avx512". */
const char *r1_kernel_isa(void);

#ifdef __cplusplus
}
#endif

#endif
