/*
 * api_request.h - reading the body of a generation request
 * (POST /v1/chat/completions and POST /v1/completions) into a checked
 * struct, or a client error that names the offending field.
 *
 * Everything a client sends is validated here, before anything reaches the
 * engine: JSON syntax and nesting depth, the type and range of every field
 * r1 reads, the size of arrays and strings, and fields r1 does not support
 * where ignoring them would silently change the answer (tools, n > 1, ...).
 * Fields OpenAI defines that do not change the result (e.g. "user",
 * "metadata") and fields nobody knows are ignored, as OpenAI does.
 */
#ifndef R1_SERVER_API_REQUEST_H
#define R1_SERVER_API_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "r1.h"
#include "text/chat_template.h"

#define API_MAX_STOP_STRINGS 16
#define API_MAX_LOGIT_BIAS 300

/* A client error, ready to become an OpenAI-style error body:
 * {"error":{"message":..., "type":..., "param":..., "code":...}}. */
typedef struct api_error {
    int status;            /* HTTP status: 400, 404, 413, ... */
    const char *type;      /* "invalid_request_error", ... (static string) */
    const char *code;      /* short machine-readable code or NULL (static string) */
    char param[64];        /* the offending field, e.g. "messages[2].content"; "" if none */
    char message[512];     /* one line naming the problem */
} api_error;

/* Limits the server applies to every request (from its configuration).
 * A limit <= 0 means none, except max_json_depth (<= 0: 32); with n_vocab
 * <= 0 any token id from 0 to INT32_MAX is accepted. */
typedef struct api_limits {
    int max_json_depth;      /* nesting of arrays/objects, e.g. 32 */
    int max_messages;        /* e.g. 1024 */
    int max_tokens_limit;    /* upper bound for max_tokens, e.g. the context size */
    int max_prompt_tokens_array; /* length of a token-array prompt, e.g. the context size */
    int n_vocab;             /* token ids (prompt arrays, logit_bias keys) must be < n_vocab */
} api_limits;

typedef struct api_logit_bias {
    int32_t token;
    float bias;              /* -100 .. 100 */
} api_logit_bias;

typedef struct api_generation_request {
    bool chat;                     /* /v1/chat/completions (else /v1/completions) */
    char *model;                   /* as sent; NULL when absent */

    /* chat: the conversation (roles: system, user, assistant, developer->system);
     * content given as a string or as an array of {"type":"text","text":...}
     * parts (joined without separator). Contents are owned by the request;
     * roles point at static strings ("system", "user", "assistant"). */
    r1_chat_message *messages;
    size_t n_messages;

    /* completions: a string prompt, or an array of token ids */
    char *prompt;
    int32_t *prompt_tokens;
    size_t n_prompt_tokens;

    bool stream;
    bool include_usage;            /* stream_options.include_usage */
    int max_tokens;                /* max_completion_tokens, else max_tokens; -1 when neither */
    r1_sampler_params sampling;    /* temperature (default 1), top_p (1), top_k (0 = off),
                                      min_p (0), presence/frequency penalty (0), seed */
    bool seed_given;               /* without a seed the server picks one */
    char *stops[API_MAX_STOP_STRINGS];  /* "stop": a string or an array of strings */
    size_t n_stops;
    bool logprobs;                 /* chat: "logprobs": true; completions: "logprobs": N >= 0 */
    int top_logprobs;              /* 0..20 (completions: the N of "logprobs") */
    api_logit_bias *logit_bias;    /* "logit_bias": {"token id": bias} */
    size_t n_logit_bias;
    bool ignore_eos;               /* r1 extension: keep generating past end-of-generation */
    char *user;                    /* as sent, for the log; NULL when absent */
} api_generation_request;

/* Parse and validate; *out need not be initialised. On failure returns -1,
 * fills *err (status 400 for anything wrong in the body, 500 when memory
 * runs out) and leaves *out freed/zeroed. */
int api_parse_chat_request(const char *body, size_t len, const api_limits *limits, api_generation_request *out,
                           api_error *err);
int api_parse_completion_request(const char *body, size_t len, const api_limits *limits,
                                 api_generation_request *out, api_error *err);
void api_generation_request_free(api_generation_request *r);

/* Fills *err (printf-style message). Returns -1 so callers can `return api_error_set(...)`. */
int api_error_set(api_error *err, int status, const char *type, const char *code, const char *param,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The OpenAI-style error body as a malloc'ed JSON string (free() it); NULL
 * only when memory runs out. An empty param and a NULL code become null. */
char *api_error_json(const api_error *err);

#endif
