/*
 * fuzz_api_request.c - libFuzzer harness for the request body parser
 * (src/server/api_request.c). Each input is parsed as a chat body and as a
 * completion body. An accepted request must keep every promise of
 * api_request.h (roles, ranges, token ids, owned strings that can be read
 * to their end); a refused one must leave the request zeroed and give an
 * error whose JSON body parses back with the same message. ASan catches
 * leaks and overreads on either path.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   fuzz/run-fuzz.sh [seconds] [testdata-dir] api
 */
#include <float.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/api_request.h"

/* Small limits, so that inputs reach them. */
static const api_limits LIMITS = {.max_json_depth = 16,
                                  .max_messages = 64,
                                  .max_tokens_limit = 4096,
                                  .max_prompt_tokens_array = 256,
                                  .n_vocab = 1000};

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static volatile size_t sink; /* keeps the reads of every string alive */

static void check_messages(const api_generation_request *r) {
    check(r->n_messages >= 1 && (int)r->n_messages <= LIMITS.max_messages && r->messages != NULL);
    for (size_t i = 0; i < r->n_messages; i++) {
        const char *role = r->messages[i].role;
        check(role && (!strcmp(role, "system") || !strcmp(role, "user") || !strcmp(role, "assistant")));
        check(r->messages[i].content != NULL);
        sink += strlen(r->messages[i].content);
    }
    check(r->prompt == NULL && r->prompt_tokens == NULL);
}

static void check_prompt(const api_generation_request *r) {
    check(r->messages == NULL && r->n_messages == 0);
    check((r->prompt != NULL) != (r->prompt_tokens != NULL)); /* exactly one form */
    if (r->prompt) sink += strlen(r->prompt);
    check((r->n_prompt_tokens > 0) == (r->prompt_tokens != NULL));
    check((int)r->n_prompt_tokens <= LIMITS.max_prompt_tokens_array);
    for (size_t i = 0; i < r->n_prompt_tokens; i++)
        check(r->prompt_tokens[i] >= 0 && r->prompt_tokens[i] < LIMITS.n_vocab);
}

static void check_sampling(const r1_sampler_params *p) {
    check(p->temperature >= 0 && p->temperature <= 2);
    check(p->top_p >= 0 && p->top_p <= 1);
    check(p->top_k >= 0);
    check(p->min_p >= 0 && p->min_p <= 1);
    check(p->presence_penalty >= -2 && p->presence_penalty <= 2);
    check(p->frequency_penalty >= -2 && p->frequency_penalty <= 2);
    check(p->repeat_penalty > 0 && p->repeat_penalty <= FLT_MAX);
}

static void check_accepted(const api_generation_request *r, bool chat) {
    check(r->chat == chat);
    if (chat) check_messages(r);
    else check_prompt(r);
    check(r->max_tokens == -1 || (r->max_tokens >= 1 && r->max_tokens <= LIMITS.max_tokens_limit));
    check_sampling(&r->sampling);
    check(r->n_stops <= API_MAX_STOP_STRINGS);
    for (size_t i = 0; i < r->n_stops; i++) check(r->stops[i] && r->stops[i][0] != '\0');
    check(r->top_logprobs >= 0 && r->top_logprobs <= (chat ? 20 : 5));
    check(r->logprobs || r->top_logprobs == 0);
    check(r->n_logit_bias <= API_MAX_LOGIT_BIAS);
    for (size_t i = 0; i < r->n_logit_bias; i++) {
        check(r->logit_bias[i].token >= 0 && r->logit_bias[i].token < LIMITS.n_vocab);
        check(r->logit_bias[i].bias >= -100 && r->logit_bias[i].bias <= 100);
    }
    check(r->include_usage == false || r->stream);
    if (r->model) sink += strlen(r->model);
    if (r->user) sink += strlen(r->user);
}

/* The error body is JSON that carries the message unchanged. */
static void check_refused(const api_generation_request *r, const api_error *err) {
    static const api_generation_request zero;
    check(memcmp(r, &zero, sizeof zero) == 0);
    check(err->status == 400 || err->status == 500);
    check(err->type != NULL && err->message[0] != '\0');
    char *body = api_error_json(err);
    check(body != NULL);
    json_t *root = json_loads(body, 0, NULL);
    check(root != NULL);
    const char *message = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
    check(message != NULL && strcmp(message, err->message) == 0);
    json_decref(root);
    free(body);
}

static void parse_as(const uint8_t *data, size_t size, bool chat) {
    api_generation_request r;
    memset(&r, 0x5A, sizeof r); /* the parser must not read what it was given */
    api_error err;
    int rc = chat ? api_parse_chat_request((const char *)data, size, &LIMITS, &r, &err)
                  : api_parse_completion_request((const char *)data, size, &LIMITS, &r, &err);
    if (rc == 0) check_accepted(&r, chat);
    else check_refused(&r, &err);
    api_generation_request_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_as(data, size, true);
    parse_as(data, size, false);
    return 0;
}
