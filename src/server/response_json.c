/*
 * response_json.c - the JSON r1 answers with, shaped as OpenAI's API and,
 * for the reasoning, as DeepSeek's: whole chat and text completions, stream
 * chunks, the usage block and log-probabilities. Built with jansson, which
 * refuses invalid UTF-8: generated text is valid by construction (the
 * streaming detokenizer), a single token's bytes are made valid here.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

const char *finish_reason_name(r1_finish_reason f) {
    switch (f) {
    case R1_FINISH_STOP: return "stop";
    case R1_FINISH_LENGTH: return "length";
    case R1_FINISH_CANCELLED: return "cancelled";
    case R1_FINISH_ERROR: return "error";
    default: return NULL;
    }
}

static char *dump(json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

static json_t *string_or_null(const char *s, size_t len) { return s ? json_stringn(s, len) : json_null(); }

/* The fields every response and chunk starts with. */
static json_t *envelope(const generation *g, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", g->id, "object", object, "created", (json_int_t)g->created,
                     "model", g->srv->alias, "system_fingerprint", "r1-" R1_VERSION);
}

/* ---- log-probabilities ---- */

/* A token's bytes as a valid UTF-8 string (a piece may hold part of a
 * character: such bytes become U+FFFD) and as OpenAI's "bytes" array. */
static json_t *token_fields(const server *srv, int32_t token, float logprob) {
    size_t len = 0;
    const char *piece = r1_token_piece(srv->tok, token, &len);
    char *text = malloc(len * 3 + 1);
    json_t *bytes = json_array();
    size_t n = 0;
    for (size_t i = 0; text && piece && i < len;) {
        int c = r1_utf8_char_len(piece + i, len - i);
        if (c > 0) {
            memcpy(text + n, piece + i, (size_t)c);
            n += (size_t)c;
            i += (size_t)c;
        } else {
            memcpy(text + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        }
    }
    for (size_t i = 0; piece && i < len; i++) json_array_append_new(bytes, json_integer((unsigned char)piece[i]));
    json_t *o = json_pack("{s:s%, s:f, s:o}", "token", text ? text : "", text ? n : 0, "logprob", (double)logprob,
                          "bytes", bytes);
    free(text);
    return o;
}

void *json_logprob_entry(const server *srv, const r1_generation_event *ev, bool chat) {
    (void)chat;
    json_t *entry = token_fields(srv, ev->sampled.token, ev->sampled.logprob);
    json_t *top = json_array();
    for (int i = 0; i < ev->n_top; i++) json_array_append_new(top, token_fields(srv, ev->top[i].token, ev->top[i].logprob));
    json_object_set_new(entry, "top_logprobs", top);
    return entry;
}

/* /v1/completions wants parallel arrays instead of a list of entries. */
static json_t *completion_logprobs(json_t *entries) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offsets = json_array();
    size_t i, offset = 0;
    json_t *e;
    json_array_foreach(entries, i, e) {
        const char *token = json_string_value(json_object_get(e, "token"));
        json_array_append(tokens, json_object_get(e, "token"));
        json_array_append(lps, json_object_get(e, "logprob"));
        json_t *map = json_object(), *alt;
        size_t k;
        json_array_foreach(json_object_get(e, "top_logprobs"), k, alt)
            json_object_set(map, json_string_value(json_object_get(alt, "token")), json_object_get(alt, "logprob"));
        json_array_append_new(tops, map);
        json_array_append_new(offsets, json_integer((json_int_t)offset));
        offset += token ? strlen(token) : 0;
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offsets);
}

static json_t *logprobs_json(const generation *g, void *entries) {
    if (!g->logprobs || !entries) return json_null();
    if (!g->chat) return completion_logprobs(entries);
    return json_pack("{s:O}", "content", (json_t *)entries);
}

/* ---- usage ---- */

static json_t *usage_json(const generation *g) {
    return json_pack("{s:i, s:i, s:i, s:{s:i}, s:{s:i}, s:i, s:i}", "prompt_tokens", g->n_prompt,
                     "completion_tokens", g->n_generated, "total_tokens", g->n_prompt + g->n_generated,
                     "prompt_tokens_details", "cached_tokens", g->n_prompt_cached, "completion_tokens_details",
                     "reasoning_tokens", g->n_reasoning, "prompt_cache_hit_tokens", g->n_prompt_cached,
                     "prompt_cache_miss_tokens", g->n_prompt - g->n_prompt_cached);
}

/* ---- stream chunks ---- */

char *json_chat_chunk(const generation *g, const char *field, const char *text, size_t len, const char *finish,
                      void *logprobs) {
    json_t *delta = json_object();
    if (!g->role_sent) {
        json_object_set_new(delta, "role", json_string("assistant"));
        if (!field) json_object_set_new(delta, "content", json_string(""));
    }
    if (field) json_object_set_new(delta, field, json_stringn(text, len));
    json_t *choice = json_pack("{s:i, s:o, s:o, s:o}", "index", 0, "delta", delta, "logprobs",
                               logprobs ? json_pack("{s:[O]}", "content", (json_t *)logprobs) : json_null(),
                               "finish_reason", finish ? json_string(finish) : json_null());
    json_t *chunk = envelope(g, "chat.completion.chunk");
    json_object_set_new(chunk, "choices", json_pack("[o]", choice));
    return dump(chunk);
}

char *json_completion_chunk(const generation *g, const char *text, size_t len, const char *finish,
                            void *logprobs) {
    json_t *lp = json_null();
    if (logprobs) {
        json_t *one = json_pack("[O]", (json_t *)logprobs);
        lp = completion_logprobs(one);
        json_decref(one);
    }
    json_t *choice = json_pack("{s:i, s:s%, s:o, s:o}", "index", 0, "text", text ? text : "", text ? len : 0,
                               "logprobs", lp, "finish_reason", finish ? json_string(finish) : json_null());
    json_t *chunk = envelope(g, "text_completion");
    json_object_set_new(chunk, "choices", json_pack("[o]", choice));
    return dump(chunk);
}

char *json_usage_chunk(const generation *g) {
    json_t *chunk = envelope(g, g->chat ? "chat.completion.chunk" : "text_completion");
    json_object_set_new(chunk, "choices", json_array());
    json_object_set_new(chunk, "usage", usage_json(g));
    return dump(chunk);
}

/* ---- whole responses ---- */

char *json_final_response(const generation *g) {
    const char *finish = finish_reason_name(g->finish);
    json_t *choice;
    if (g->chat) {
        json_t *message = json_pack("{s:s, s:s%, s:o}", "role", "assistant", "content",
                                    g->content ? g->content : "", g->content_len, "reasoning_content",
                                    g->srv->template == R1_CHAT_DEEPSEEK_R1
                                        ? string_or_null(g->reasoning ? g->reasoning : "", g->reasoning_len)
                                        : json_null());
        choice = json_pack("{s:i, s:o, s:o, s:s}", "index", 0, "message", message, "logprobs",
                           logprobs_json(g, g->logprob_entries), "finish_reason", finish);
    } else {
        choice = json_pack("{s:i, s:s%, s:o, s:s}", "index", 0, "text", g->content ? g->content : "",
                           g->content_len, "logprobs", logprobs_json(g, g->logprob_entries), "finish_reason",
                           finish);
    }
    json_t *response = envelope(g, g->chat ? "chat.completion" : "text_completion");
    json_object_set_new(response, "choices", json_pack("[o]", choice));
    json_object_set_new(response, "usage", usage_json(g));
    return dump(response);
}
