/*
 * api_request.c - reading the body of POST /v1/chat/completions and
 * POST /v1/completions into an api_generation_request, or an api_error
 * that names the field at fault (see api_request.h for the contract).
 *
 * The body is first scanned for nesting depth, so that jansson's recursive
 * parser never sees a deeply nested document; it is then parsed with
 * duplicate keys refused and without JSON_ALLOW_NUL (so no string holds an
 * embedded NUL), and every field r1 reads is checked for type and range.
 * As in OpenAI's API, null stands for "not given" in every optional field.
 */
#include "server/api_request.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h" /* r1_utf8_char_len */

#define DEFAULT_MAX_JSON_DEPTH 32
#define INVALID_REQUEST "invalid_request_error"
#define MAX_TOP_LOGPROBS 20
#define MAX_COMPLETION_LOGPROBS 5
/* Room for the longest field path built here with two 20-digit indices;
 * api_error keeps the first 63 bytes of it. */
#define PARAM_CAP 96

/* What every field reader needs: the limits, where errors go, the result. */
typedef struct parse_ctx {
    const api_limits *limits;
    api_error *err;
    api_generation_request *out;
} parse_ctx;

/* ---- errors ---- */

/* Error text ends up in a JSON string, which must be valid UTF-8, and in
 * one log line: control characters become spaces and bytes that are not
 * valid UTF-8 (including a character cut by truncation) become '?'. */
static void make_printable(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x20 || b == 0x7F) {
            s[i++] = ' ';
            continue;
        }
        int len = r1_utf8_char_len(s + i, n - i);
        if (len > 0) {
            i += (size_t)len;
        } else {
            s[i++] = '?';
        }
    }
}

static int error_vset(api_error *err, int status, const char *type, const char *code, const char *param,
                      const char *fmt, va_list ap) {
    if (!err) return -1;
    err->status = status;
    err->type = type ? type : INVALID_REQUEST;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    make_printable(err->param);
    make_printable(err->message);
    return -1;
}

int api_error_set(api_error *err, int status, const char *type, const char *code, const char *param,
                  const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, type, code, param, fmt, ap);
    va_end(ap);
    return -1;
}

/* A 400 invalid_request_error; every complaint about a body is one. */
static int bad_request(parse_ctx *c, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad_request(parse_ctx *c, const char *code, const char *param, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vset(c->err, 400, INVALID_REQUEST, code, param, fmt, ap);
    va_end(ap);
    return -1;
}

static int out_of_memory(parse_ctx *c) {
    return api_error_set(c->err, 500, "server_error", NULL, NULL, "out of memory while reading the request");
}

char *api_error_json(const api_error *err) {
    api_error safe = {0};
    if (err) safe = *err;
    else snprintf(safe.message, sizeof safe.message, "internal error");
    /* the struct may have been filled by hand: terminate and clean it again */
    safe.message[sizeof safe.message - 1] = '\0';
    safe.param[sizeof safe.param - 1] = '\0';
    make_printable(safe.message);
    make_printable(safe.param);
    json_t *body = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", safe.message, "type",
                             safe.type ? safe.type : INVALID_REQUEST, "param", safe.param[0] ? safe.param : NULL,
                             "code", safe.code);
    if (!body) return NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text;
}

/* A short one-line rendering of a value for error messages: "hot" (quoted,
 * cut after ~40 bytes), 3.5, true, null, an array, an object. */
static const char *describe(const json_t *v, char *buf, size_t cap) {
    if (json_is_object(v)) return "an object";
    if (json_is_array(v)) return "an array";
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));
    if (!text) return "a value";
    if (strlen(text) > 44) snprintf(buf, cap, "%.40s...", text);
    else snprintf(buf, cap, "%s", text);
    free(text);
    return buf;
}

/* "<param> must be <expected>, got <value>": a wrong type, or (with code
 * invalid_value) a value of the right type out of range. */
static int expected_error(parse_ctx *c, const char *code, const char *param, const char *expected,
                          const json_t *got) {
    char shown[64];
    return bad_request(c, code, param, "%s must be %s, got %s", param, expected, describe(got, shown, sizeof shown));
}

static int type_error(parse_ctx *c, const char *param, const char *expected, const json_t *got) {
    return expected_error(c, "invalid_type", param, expected, got);
}

static int range_error(parse_ctx *c, const char *param, const char *expected, const json_t *got) {
    return expected_error(c, "invalid_value", param, expected, got);
}

static int missing(parse_ctx *c, const char *param) {
    return bad_request(c, "missing_required_parameter", param, "%s is required", param);
}

/* ---- reading values ---- */

/* The value of an optional field; NULL when absent or null. */
static json_t *optional(const json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* True when v is an integer, or a real with an integral value inside int64
 * (clients that compute in floating point send 100.0). */
static bool as_integer(const json_t *v, json_int_t *out) {
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
    *out = (json_int_t)d;
    return true;
}

/* An optional integer in [lo, hi]; *given tells whether it was there. */
static int read_integer(parse_ctx *c, const json_t *v, const char *param, json_int_t lo, json_int_t hi,
                        json_int_t *dst, bool *given) {
    *given = false;
    if (!v) return 0;
    char expected[96];
    if (lo == INT64_MIN && hi == INT64_MAX) snprintf(expected, sizeof expected, "a 64-bit integer");
    else if (hi == INT64_MAX) snprintf(expected, sizeof expected, "an integer >= %lld", (long long)lo);
    else snprintf(expected, sizeof expected, "an integer between %lld and %lld", (long long)lo, (long long)hi);
    json_int_t x;
    if (!as_integer(v, &x)) return type_error(c, param, expected, v);
    if (x < lo || x > hi) return range_error(c, param, expected, v);
    *dst = x;
    *given = true;
    return 0;
}

/* An optional number in [lo, hi]; *dst keeps its default when not given. */
static int read_number(parse_ctx *c, const json_t *v, const char *param, double lo, double hi, float *dst) {
    if (!v) return 0;
    char expected[96];
    snprintf(expected, sizeof expected, "a number between %g and %g", lo, hi);
    if (!json_is_number(v)) return type_error(c, param, expected, v);
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) return range_error(c, param, expected, v);
    *dst = (float)x;
    return 0;
}

static int read_bool(parse_ctx *c, const json_t *v, const char *param, bool *dst) {
    if (!v) return 0;
    if (!json_is_boolean(v)) return type_error(c, param, "a boolean", v);
    *dst = json_is_true(v);
    return 0;
}

/* A malloc'ed copy of a JSON string (never holds a NUL: see the top). */
static char *copy_string(const json_t *s) {
    size_t len = json_string_length(s);
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, json_string_value(s), len);
    copy[len] = '\0';
    return copy;
}

static int read_string(parse_ctx *c, const json_t *v, const char *param, char **dst) {
    if (!v) return 0;
    if (!json_is_string(v)) return type_error(c, param, "a string", v);
    *dst = copy_string(v);
    return *dst ? 0 : out_of_memory(c);
}

/* ---- the body as a whole ---- */

/* True when arrays and objects nest deeper than `limit`. Counts brackets
 * outside strings before jansson parses, whose parser recurses per level. */
static bool nests_deeper_than(const char *s, size_t n, int limit) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_string) {
            if (ch == '\\') i++; /* the escaped byte cannot end the string */
            else if (ch == '"') in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '[' || ch == '{') {
            if (++depth > limit) return true;
        } else if ((ch == ']' || ch == '}') && depth > 0) {
            depth--;
        }
    }
    return false;
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return false;
    return true;
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* The parsed body, which must be an object; NULL with err set otherwise. */
static json_t *load_body(parse_ctx *c, const char *body, size_t len) {
    int max_depth = c->limits->max_json_depth > 0 ? c->limits->max_json_depth : DEFAULT_MAX_JSON_DEPTH;
    if (!body || is_blank(body, len)) {
        bad_request(c, "invalid_json", NULL, "the request body is empty; expected a JSON object");
        return NULL;
    }
    if (nests_deeper_than(body, len, max_depth)) {
        bad_request(c, "invalid_json", NULL, "the request body nests arrays and objects deeper than %d levels",
                    max_depth);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        bad_request(c, "invalid_json", NULL, "the request body is not valid JSON: line %d, column %d: %s", jerr.line,
                    jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        bad_request(c, "invalid_json", NULL, "the request body must be a JSON object, got %s", json_type_name(root));
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- chat messages ---- */

/* A tool field is harmless when absent, null, "none" or an empty list. */
static bool asks_for_tools(const json_t *v) {
    if (!v) return false;
    if (json_is_string(v) && strcmp(json_string_value(v), "none") == 0) return false;
    if (json_is_array(v) && json_array_size(v) == 0) return false;
    return true;
}

/* Roles point at static strings; "developer" is OpenAI's new name for system. */
static int parse_role(parse_ctx *c, const json_t *msg, size_t i, const char **role) {
    char param[PARAM_CAP];
    snprintf(param, sizeof param, "messages[%zu].role", i);
    const json_t *v = optional(msg, "role");
    if (!v) return missing(c, param);
    static const char *const expected = "one of \"system\", \"user\", \"assistant\", \"developer\"";
    if (!json_is_string(v)) return type_error(c, param, expected, v);
    const char *s = json_string_value(v);
    static const struct {
        const char *sent, *stored;
    } roles[] = {{"system", "system"}, {"developer", "system"}, {"user", "user"}, {"assistant", "assistant"}};
    for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
        if (strcmp(s, roles[k].sent) == 0) {
            *role = roles[k].stored;
            return 0;
        }
    if (strcmp(s, "tool") == 0 || strcmp(s, "function") == 0)
        return bad_request(c, "unsupported_value", param,
                           "%s \"%s\" is not supported: tools are not supported by this server", param, s);
    return range_error(c, param, expected, v);
}

/* Tool calls in the history would be dropped silently: refuse them. */
static int reject_message_tool_calls(parse_ctx *c, const json_t *msg, size_t i) {
    static const char *const fields[] = {"tool_calls", "function_call"};
    for (size_t k = 0; k < 2; k++) {
        if (!asks_for_tools(optional(msg, fields[k]))) continue;
        char param[PARAM_CAP];
        snprintf(param, sizeof param, "messages[%zu].%s", i, fields[k]);
        return bad_request(c, "unsupported_parameter", param, "%s: tools are not supported by this server", param);
    }
    return 0;
}

/* Checks content part j: {"type": "text", "text": "..."}. */
static int check_text_part(parse_ctx *c, const json_t *part, size_t i, size_t j) {
    char param[PARAM_CAP];
    snprintf(param, sizeof param, "messages[%zu].content[%zu]", i, j);
    if (!json_is_object(part)) return type_error(c, param, "an object {\"type\": \"text\", \"text\": ...}", part);
    snprintf(param, sizeof param, "messages[%zu].content[%zu].type", i, j);
    const json_t *type = optional(part, "type");
    if (!type) return missing(c, param);
    if (!json_is_string(type)) return type_error(c, param, "\"text\"", type);
    if (strcmp(json_string_value(type), "text") != 0)
        return bad_request(c, "unsupported_value", param, "%s \"%.40s\" is not supported (only \"text\")", param,
                           json_string_value(type));
    snprintf(param, sizeof param, "messages[%zu].content[%zu].text", i, j);
    const json_t *text = optional(part, "text");
    if (!text) return missing(c, param);
    if (!json_is_string(text)) return type_error(c, param, "a string", text);
    return 0;
}

/* Content given as parts: the texts joined without separator. */
static int join_text_parts(parse_ctx *c, const json_t *parts, size_t i, char **dst) {
    size_t n = json_array_size(parts), total = 0;
    if (n == 0) {
        char param[PARAM_CAP];
        snprintf(param, sizeof param, "messages[%zu].content", i);
        return range_error(c, param, "a string or a non-empty array of content parts", parts);
    }
    for (size_t j = 0; j < n; j++) {
        if (check_text_part(c, json_array_get(parts, j), i, j) != 0) return -1;
        total += json_string_length(json_object_get(json_array_get(parts, j), "text"));
    }
    char *joined = malloc(total + 1);
    if (!joined) return out_of_memory(c);
    size_t at = 0;
    for (size_t j = 0; j < n; j++) {
        const json_t *text = json_object_get(json_array_get(parts, j), "text");
        memcpy(joined + at, json_string_value(text), json_string_length(text));
        at += json_string_length(text);
    }
    joined[at] = '\0';
    *dst = joined;
    return 0;
}

/* Content: a string or text parts; null means "" (an assistant turn that
 * only called tools has none), and only an assistant may leave it out. */
static int parse_content(parse_ctx *c, const json_t *msg, size_t i, const char *role, char **dst) {
    char param[PARAM_CAP];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    const json_t *v = json_object_get(msg, "content");
    if (!v && strcmp(role, "assistant") != 0) return missing(c, param);
    if (!v || json_is_null(v)) {
        *dst = calloc(1, 1);
        return *dst ? 0 : out_of_memory(c);
    }
    if (json_is_string(v)) return read_string(c, v, param, dst);
    if (json_is_array(v)) return join_text_parts(c, v, i, dst);
    return type_error(c, param, "a string or an array of content parts", v);
}

static int parse_message(parse_ctx *c, const json_t *msg, size_t i, r1_chat_message *dst) {
    if (!json_is_object(msg)) {
        char param[PARAM_CAP];
        snprintf(param, sizeof param, "messages[%zu]", i);
        return type_error(c, param, "an object with \"role\" and \"content\"", msg);
    }
    if (parse_role(c, msg, i, &dst->role) != 0 || reject_message_tool_calls(c, msg, i) != 0) return -1;
    char *content = NULL;
    if (parse_content(c, msg, i, dst->role, &content) != 0) return -1;
    dst->content = content;
    return 0;
}

static int parse_messages(parse_ctx *c, const json_t *root) {
    const json_t *v = optional(root, "messages");
    if (!v) return missing(c, "messages");
    if (!json_is_array(v)) return type_error(c, "messages", "a non-empty array of messages", v);
    size_t n = json_array_size(v);
    if (n == 0) return range_error(c, "messages", "a non-empty array of messages", v);
    size_t max = c->limits->max_messages > 0 ? (size_t)c->limits->max_messages : SIZE_MAX;
    if (n > max) return bad_request(c, "invalid_value", "messages", "too many messages: %zu, at most %zu", n, max);
    c->out->messages = calloc(n, sizeof *c->out->messages);
    if (!c->out->messages) return out_of_memory(c);
    c->out->n_messages = n; /* the unfilled ones are NULL, which free skips */
    for (size_t i = 0; i < n; i++)
        if (parse_message(c, json_array_get(v, i), i, &c->out->messages[i]) != 0) return -1;
    return 0;
}

/* ---- completion prompt ---- */

/* Token ids must lie in the vocabulary; unknown vocabulary: any int32 >= 0. */
static json_int_t max_token_id(const parse_ctx *c) {
    return c->limits->n_vocab > 0 ? c->limits->n_vocab - 1 : INT32_MAX;
}

static int parse_prompt_tokens(parse_ctx *c, const json_t *arr) {
    size_t n = json_array_size(arr);
    size_t max = c->limits->max_prompt_tokens_array > 0 ? (size_t)c->limits->max_prompt_tokens_array : SIZE_MAX;
    if (n > max) return bad_request(c, "invalid_value", "prompt", "prompt has %zu token ids, at most %zu", n, max);
    c->out->prompt_tokens = malloc(n * sizeof *c->out->prompt_tokens);
    if (!c->out->prompt_tokens) return out_of_memory(c);
    for (size_t i = 0; i < n; i++) {
        char param[PARAM_CAP];
        snprintf(param, sizeof param, "prompt[%zu]", i);
        const json_t *v = json_array_get(arr, i);
        char expected[64];
        snprintf(expected, sizeof expected, "a token id between 0 and %lld", (long long)max_token_id(c));
        json_int_t id;
        if (!as_integer(v, &id)) return type_error(c, param, expected, v);
        if (id < 0 || id > max_token_id(c)) return range_error(c, param, expected, v);
        c->out->prompt_tokens[i] = (int32_t)id;
    }
    c->out->n_prompt_tokens = n;
    return 0;
}

/* An array prompt: token ids, or one string; several prompts are a batch. */
static int parse_prompt_array(parse_ctx *c, const json_t *arr) {
    size_t n = json_array_size(arr);
    if (n == 0) return range_error(c, "prompt", "a string or a non-empty array of token ids", arr);
    const json_t *first = json_array_get(arr, 0);
    if (json_is_string(first) && n == 1) return read_string(c, first, "prompt[0]", &c->out->prompt);
    if (json_is_string(first) || json_is_array(first))
        return bad_request(c, "unsupported_value", "prompt",
                           "batched prompts are not supported: send one prompt (a string or an array of token "
                           "ids) per request");
    return parse_prompt_tokens(c, arr);
}

static int parse_prompt(parse_ctx *c, const json_t *root) {
    const json_t *v = optional(root, "prompt");
    if (!v) return missing(c, "prompt");
    if (json_is_string(v)) return read_string(c, v, "prompt", &c->out->prompt);
    if (json_is_array(v)) return parse_prompt_array(c, v);
    return type_error(c, "prompt", "a string or an array of token ids", v);
}

/* ---- fields both endpoints share ---- */

static int parse_stream(parse_ctx *c, const json_t *root) {
    if (read_bool(c, optional(root, "stream"), "stream", &c->out->stream) != 0) return -1;
    const json_t *opts = optional(root, "stream_options");
    if (!opts) return 0;
    if (!json_is_object(opts)) return type_error(c, "stream_options", "an object or null", opts);
    if (!c->out->stream)
        return bad_request(c, "invalid_value", "stream_options", "stream_options is only allowed when stream is true");
    return read_bool(c, optional(opts, "include_usage"), "stream_options.include_usage", &c->out->include_usage);
}

/* max_completion_tokens (the newer name) wins over max_tokens. */
static int parse_max_tokens(parse_ctx *c, const json_t *root) {
    json_int_t hi = c->limits->max_tokens_limit > 0 ? c->limits->max_tokens_limit : INT_MAX;
    static const char *const names[] = {"max_tokens", "max_completion_tokens"};
    c->out->max_tokens = -1;
    for (int k = 0; k < 2; k++) {
        json_int_t v;
        bool given;
        if (read_integer(c, optional(root, names[k]), names[k], 1, hi, &v, &given) != 0) return -1;
        if (given) c->out->max_tokens = (int)v;
    }
    return 0;
}

/* OpenAI's defaults (temperature 1, top_p 1, no top-k or min-p, no
 * penalties), not the command line's. */
static r1_sampler_params openai_sampling_defaults(void) {
    r1_sampler_params p = r1_sampler_default_params();
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 0;
    return p;
}

/* r1 extension; only > 0 makes sense (it divides logits), and the float
 * must stay finite. */
static int parse_repetition_penalty(parse_ctx *c, const json_t *root) {
    const json_t *v = optional(root, "repetition_penalty");
    if (!v) return 0;
    if (!json_is_number(v)) return type_error(c, "repetition_penalty", "a number > 0", v);
    double x = json_number_value(v);
    if (!(x > 0 && x <= FLT_MAX)) return range_error(c, "repetition_penalty", "a number > 0", v);
    c->out->sampling.repeat_penalty = (float)x;
    return 0;
}

static int parse_sampling(parse_ctx *c, const json_t *root) {
    r1_sampler_params *p = &c->out->sampling;
    json_int_t top_k = 0, seed = 0;
    bool top_k_given, seed_given;
    if (read_number(c, optional(root, "temperature"), "temperature", 0, 2, &p->temperature) != 0 ||
        read_number(c, optional(root, "top_p"), "top_p", 0, 1, &p->top_p) != 0 ||
        read_integer(c, optional(root, "top_k"), "top_k", 0, INT_MAX, &top_k, &top_k_given) != 0 ||
        read_number(c, optional(root, "min_p"), "min_p", 0, 1, &p->min_p) != 0 ||
        read_number(c, optional(root, "presence_penalty"), "presence_penalty", -2, 2, &p->presence_penalty) != 0 ||
        read_number(c, optional(root, "frequency_penalty"), "frequency_penalty", -2, 2, &p->frequency_penalty) != 0 ||
        parse_repetition_penalty(c, root) != 0 ||
        read_integer(c, optional(root, "seed"), "seed", INT64_MIN, INT64_MAX, &seed, &seed_given) != 0)
        return -1;
    if (top_k_given) p->top_k = (int)top_k;
    if (seed_given) p->seed = (uint64_t)seed;
    c->out->seed_given = seed_given;
    return 0;
}

static int add_stop(parse_ctx *c, const json_t *s) {
    if (json_string_length(s) == 0) return 0; /* would match everywhere; OpenAI ignores it too */
    char *copy = copy_string(s);
    if (!copy) return out_of_memory(c);
    c->out->stops[c->out->n_stops++] = copy;
    return 0;
}

static int parse_stop(parse_ctx *c, const json_t *root) {
    const json_t *v = optional(root, "stop");
    if (!v) return 0;
    if (json_is_string(v)) return add_stop(c, v);
    if (!json_is_array(v)) return type_error(c, "stop", "a string or an array of strings", v);
    size_t n = json_array_size(v);
    if (n > API_MAX_STOP_STRINGS)
        return bad_request(c, "invalid_value", "stop", "stop has %zu strings, at most %d", n, API_MAX_STOP_STRINGS);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            char param[PARAM_CAP];
            snprintf(param, sizeof param, "stop[%zu]", i);
            return type_error(c, param, "a string", s);
        }
        if (add_stop(c, s) != 0) return -1;
    }
    return 0;
}

/* Keys are decimal token ids: digits only (an optional '-' to report
 * negative ids as out of range rather than as garbage). */
static bool parse_token_key(const char *key, long long *id) {
    const char *digits = key[0] == '-' ? key + 1 : key;
    if (*digits < '0' || *digits > '9') return false;
    char *end;
    errno = 0;
    *id = strtoll(key, &end, 10);
    if (*end != '\0') return false;
    if (errno == ERANGE) *id = *key == '-' ? -1 : LLONG_MAX;
    return true;
}

static int parse_one_bias(parse_ctx *c, const char *key, const json_t *value, api_logit_bias *dst) {
    long long id;
    if (!parse_token_key(key, &id))
        return bad_request(c, "invalid_value", "logit_bias", "logit_bias key \"%.40s\" is not a token id", key);
    if (id < 0 || id > max_token_id(c))
        return bad_request(c, "invalid_value", "logit_bias",
                           "logit_bias key \"%.40s\" must be a token id between 0 and %lld", key,
                           (long long)max_token_id(c));
    char expected[96];
    snprintf(expected, sizeof expected, "a number between -100 and 100 (for token %lld)", id);
    if (!json_is_number(value)) return type_error(c, "logit_bias", expected, value);
    double bias = json_number_value(value);
    if (!(bias >= -100 && bias <= 100)) return range_error(c, "logit_bias", expected, value);
    dst->token = (int32_t)id;
    dst->bias = (float)bias;
    return 0;
}

static int parse_logit_bias(parse_ctx *c, const json_t *root) {
    const json_t *v = optional(root, "logit_bias");
    if (!v) return 0;
    if (!json_is_object(v)) return type_error(c, "logit_bias", "an object mapping token ids to biases", v);
    size_t n = json_object_size(v);
    if (n > API_MAX_LOGIT_BIAS)
        return bad_request(c, "invalid_value", "logit_bias", "logit_bias has %zu entries, at most %d", n,
                           API_MAX_LOGIT_BIAS);
    if (n == 0) return 0;
    c->out->logit_bias = calloc(n, sizeof *c->out->logit_bias);
    if (!c->out->logit_bias) return out_of_memory(c);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value) {
        if (parse_one_bias(c, key, value, &c->out->logit_bias[c->out->n_logit_bias]) != 0) return -1;
        c->out->n_logit_bias++;
    }
    return 0;
}

static int parse_n(parse_ctx *c, const json_t *root) {
    json_int_t n;
    bool given;
    if (read_integer(c, optional(root, "n"), "n", INT64_MIN, INT64_MAX, &n, &given) != 0) return -1;
    if (given && n != 1)
        return bad_request(c, "unsupported_n", "n", "only n=1 is supported by this server, got n=%lld", (long long)n);
    return 0;
}

static int reject_tools(parse_ctx *c, const json_t *root) {
    static const char *const fields[] = {"tools", "tool_choice", "functions", "function_call"};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        if (asks_for_tools(optional(root, fields[k])))
            return bad_request(c, "unsupported_parameter", fields[k], "%s%stools are not supported by this server",
                               k ? fields[k] : "", k ? ": " : "");
    return 0;
}

/* Only plain text output: JSON modes would be ignored silently otherwise. */
static int parse_response_format(parse_ctx *c, const json_t *root) {
    const json_t *v = optional(root, "response_format");
    if (!v) return 0;
    if (!json_is_object(v)) return type_error(c, "response_format", "an object {\"type\": \"text\"}", v);
    const json_t *type = optional(v, "type");
    if (!type) return missing(c, "response_format.type");
    if (!json_is_string(type)) return type_error(c, "response_format.type", "a string", type);
    if (strcmp(json_string_value(type), "text") != 0)
        return bad_request(c, "unsupported_parameter", "response_format.type",
                           "response_format type \"%.40s\" is not supported (only \"text\")", json_string_value(type));
    return 0;
}

static int parse_common(parse_ctx *c, const json_t *root) {
    api_generation_request *out = c->out;
    if (read_string(c, optional(root, "model"), "model", &out->model) != 0 || reject_tools(c, root) != 0 ||
        parse_response_format(c, root) != 0 || parse_n(c, root) != 0 || parse_stream(c, root) != 0 ||
        parse_max_tokens(c, root) != 0 || parse_sampling(c, root) != 0 || parse_stop(c, root) != 0 ||
        parse_logit_bias(c, root) != 0 || read_string(c, optional(root, "user"), "user", &out->user) != 0 ||
        read_bool(c, optional(root, "ignore_eos"), "ignore_eos", &out->ignore_eos) != 0)
        return -1;
    return 0;
}

/* ---- endpoint-specific fields ---- */

/* chat: "logprobs": bool, "top_logprobs": 0..20, which needs logprobs. */
static int parse_chat_logprobs(parse_ctx *c, const json_t *root) {
    json_int_t top;
    bool given;
    if (read_bool(c, optional(root, "logprobs"), "logprobs", &c->out->logprobs) != 0 ||
        read_integer(c, optional(root, "top_logprobs"), "top_logprobs", 0, MAX_TOP_LOGPROBS, &top, &given) != 0)
        return -1;
    if (!given) return 0;
    if (!c->out->logprobs)
        return bad_request(c, "invalid_value", "top_logprobs", "top_logprobs is only allowed when logprobs is true");
    c->out->top_logprobs = (int)top;
    return 0;
}

/* completions: "logprobs": N (0..5) asks for the chosen token's logprob
 * and the N most likely alternatives. */
static int parse_completion_logprobs(parse_ctx *c, const json_t *root) {
    json_int_t n;
    bool given;
    if (read_integer(c, optional(root, "logprobs"), "logprobs", 0, MAX_COMPLETION_LOGPROBS, &n, &given) != 0) return -1;
    c->out->logprobs = given;
    c->out->top_logprobs = given ? (int)n : 0;
    return 0;
}

/* echo, suffix and best_of > 1 change what comes back; r1 does none of them. */
static int reject_completion_extras(parse_ctx *c, const json_t *root) {
    bool echo = false;
    json_int_t best_of;
    bool best_of_given;
    if (read_bool(c, optional(root, "echo"), "echo", &echo) != 0) return -1;
    if (echo) return bad_request(c, "unsupported_parameter", "echo", "echo is not supported by this server");
    const json_t *suffix = optional(root, "suffix");
    if (suffix && !json_is_string(suffix)) return type_error(c, "suffix", "a string or null", suffix);
    if (suffix && json_string_length(suffix) > 0)
        return bad_request(c, "unsupported_parameter", "suffix", "suffix is not supported by this server");
    if (read_integer(c, optional(root, "best_of"), "best_of", 1, INT64_MAX, &best_of, &best_of_given) != 0) return -1;
    if (best_of_given && best_of > 1)
        return bad_request(c, "unsupported_parameter", "best_of", "best_of > 1 is not supported by this server");
    return 0;
}

static int parse_chat_fields(parse_ctx *c, const json_t *root) {
    if (parse_messages(c, root) != 0 || parse_chat_logprobs(c, root) != 0) return -1;
    return 0;
}

static int parse_completion_fields(parse_ctx *c, const json_t *root) {
    if (parse_prompt(c, root) != 0 || reject_completion_extras(c, root) != 0 ||
        parse_completion_logprobs(c, root) != 0)
        return -1;
    return 0;
}

/* ---- entry points ---- */

static int parse_request(const char *body, size_t len, const api_limits *limits, bool chat,
                         api_generation_request *out, api_error *err) {
    static const api_limits no_limits = {0};
    api_error scratch;
    parse_ctx c = {.limits = limits ? limits : &no_limits, .err = err ? err : &scratch, .out = out};
    if (!out) return api_error_set(c.err, 500, "server_error", NULL, NULL, "no request to fill");
    memset(out, 0, sizeof *out);
    out->chat = chat;
    out->max_tokens = -1;
    out->sampling = openai_sampling_defaults();
    json_t *root = load_body(&c, body, len);
    if (!root) {
        api_generation_request_free(out); /* back to all zeros */
        return -1;
    }
    int rc = chat ? parse_chat_fields(&c, root) : parse_completion_fields(&c, root);
    if (rc == 0) rc = parse_common(&c, root);
    json_decref(root);
    if (rc != 0) api_generation_request_free(out);
    return rc;
}

int api_parse_chat_request(const char *body, size_t len, const api_limits *limits, api_generation_request *out,
                           api_error *err) {
    return parse_request(body, len, limits, true, out, err);
}

int api_parse_completion_request(const char *body, size_t len, const api_limits *limits,
                                 api_generation_request *out, api_error *err) {
    return parse_request(body, len, limits, false, out, err);
}

void api_generation_request_free(api_generation_request *r) {
    if (!r) return;
    free(r->model);
    for (size_t i = 0; i < r->n_messages; i++) free((char *)r->messages[i].content);
    free(r->messages);
    free(r->prompt);
    free(r->prompt_tokens);
    for (size_t i = 0; i < r->n_stops; i++) free(r->stops[i]);
    free(r->logit_bias);
    free(r->user);
    memset(r, 0, sizeof *r);
}
