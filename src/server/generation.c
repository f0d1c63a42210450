/*
 * generation.c - POST /v1/chat/completions and POST /v1/completions: from a
 * validated request to a prompt (chat template, tokenizer), into the engine,
 * and the answer back out, streamed as server-sent events or whole.
 *
 * The engine thread calls on_engine_event for every step; it only appends
 * to the generation's buffers under its lock and wakes the connection. The
 * HTTP thread sends: for a stream, stream_reader hands out the buffered SSE
 * bytes and, when there are none, suspends the connection until the next
 * event resumes it; for a whole response, the handler suspends until the
 * final event and is then called again to answer.
 *
 * A suspended connection does not notice that its client left, so the
 * server's watchdog (generation_check_clients) peeks at the sockets of
 * suspended connections and cancels the generations of closed ones; a
 * stream also notices at its next write.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "server/server_internal.h"

/* ---- life of a generation ---- */

static void generation_unref(generation *g) {
    pthread_mutex_lock(&g->lock);
    bool last = --g->refs == 0;
    pthread_mutex_unlock(&g->lock);
    if (!last) return;
    r1_request_release(g->request);
    json_decref(g->logprob_entries);
    free(g->out.data);
    free(g->reasoning);
    free(g->content);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static void add_active(server *srv, generation *g) {
    pthread_mutex_lock(&srv->lock);
    g->next_active = srv->generations;
    if (srv->generations) srv->generations->prev_active = g;
    srv->generations = g;
    srv->n_generations++;
    pthread_mutex_unlock(&srv->lock);
}

static void remove_active(server *srv, generation *g) {
    pthread_mutex_lock(&srv->lock);
    if (g->prev_active) g->prev_active->next_active = g->next_active;
    else srv->generations = g->next_active;
    if (g->next_active) g->next_active->prev_active = g->prev_active;
    g->next_active = g->prev_active = NULL;
    srv->n_generations--;
    pthread_mutex_unlock(&srv->lock);
}

void generation_release_http(generation *g, bool client_gone) {
    pthread_mutex_lock(&g->lock);
    g->conn = NULL;
    bool cancel = client_gone && !g->done;
    pthread_mutex_unlock(&g->lock);
    if (cancel) r1_request_cancel(g->request);
    remove_active(g->srv, g);
    generation_unref(g);
}

void generation_check_clients(server *srv) {
    pthread_mutex_lock(&srv->lock);
    for (generation *g = srv->generations; g; g = g->next_active) {
        pthread_mutex_lock(&g->lock);
        if (g->suspended && g->conn && !g->done) {
            if (!g->client_gone && http_client_left(g->conn)) {
                g->client_gone = true;
                r1_log_info("request %s: the client closed its connection; cancelling", g->id);
                r1_request_cancel(g->request);
            }
        }
        pthread_mutex_unlock(&g->lock);
    }
    pthread_mutex_unlock(&srv->lock);
}

/* ---- what the engine thread does ---- */

static bool append_bytes(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2 > 4096 ? (*len + n + 1) * 2 : 4096;
        char *p = realloc(*buf, want);
        if (!p) return false;
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return true;
}

/* One SSE event: "data: JSON\n\n". Takes the JSON string. */
static void append_event(generation *g, char *json) {
    if (!json) {
        g->failed = true;
        return;
    }
    bool ok = send_buffer_append(&g->out, "data: ", 6) && send_buffer_append(&g->out, json, strlen(json)) &&
              send_buffer_append(&g->out, "\n\n", 2);
    g->failed |= !ok;
    free(json);
}

static void stream_step(generation *g, const r1_generation_event *ev) {
    json_t *logprobs = g->logprobs && ev->token >= 0 ? json_logprob_entry(g->srv, ev, g->chat) : NULL;
    if (g->chat) {
        if (ev->reasoning_len) {
            append_event(g, json_chat_chunk(g, "reasoning_content", ev->reasoning, ev->reasoning_len, NULL,
                                            ev->content_len ? NULL : logprobs));
            g->role_sent = true;
        }
        if (ev->content_len || (logprobs && !ev->reasoning_len)) {
            append_event(g, json_chat_chunk(g, "content", ev->content ? ev->content : "", ev->content_len, NULL,
                                            logprobs));
            g->role_sent = true;
        }
    } else if (ev->content_len || logprobs) {
        append_event(g, json_completion_chunk(g, ev->content, ev->content_len, NULL, logprobs));
    }
    json_decref(logprobs);
}

static void stream_end(generation *g, const r1_generation_event *ev) {
    if (ev->finish == R1_FINISH_ERROR) {
        api_error err;
        api_error_set(&err, 500, "server_error", "engine_error", NULL, "%s", ev->error ? ev->error : "engine failure");
        append_event(g, api_error_json(&err));
    } else {
        const char *finish = finish_reason_name(ev->finish);
        append_event(g, g->chat ? json_chat_chunk(g, NULL, NULL, 0, finish, NULL)
                                : json_completion_chunk(g, "", 0, finish, NULL));
        if (g->include_usage) append_event(g, json_usage_chunk(g));
    }
    g->failed |= !send_buffer_append(&g->out, "data: [DONE]\n\n", 14);
}

static void collect_step(generation *g, const r1_generation_event *ev) {
    if (ev->reasoning_len)
        g->failed |= !append_bytes(&g->reasoning, &g->reasoning_len, &g->reasoning_cap, ev->reasoning, ev->reasoning_len);
    if (ev->content_len)
        g->failed |= !append_bytes(&g->content, &g->content_len, &g->content_cap, ev->content, ev->content_len);
    if (g->logprobs && ev->token >= 0) json_array_append_new(g->logprob_entries, json_logprob_entry(g->srv, ev, g->chat));
}

/* Time to the first token, then between tokens; and how long the request
 * waited for a sequence (known with its first token). */
static void observe_timing(generation *g) {
    double now = server_now();
    metrics *m = g->srv->metrics;
    if (g->first_token_at == 0) {
        g->first_token_at = now;
        metrics_time_to_first_token(m, now - g->started);
    } else {
        metrics_inter_token_latency(m, now - g->last_token_at);
    }
    g->last_token_at = now;
}

static void on_engine_event(void *user, const r1_generation_event *ev) {
    generation *g = user;
    pthread_mutex_lock(&g->lock);
    if (ev->token >= 0 && g->first_token_at == 0) metrics_queue_time(g->srv->metrics, ev->queue_seconds);
    g->n_prompt = ev->n_prompt;
    g->n_prompt_cached = ev->n_prompt_cached;
    g->n_generated = ev->n_generated;
    g->n_reasoning = ev->n_reasoning;
    if (ev->token >= 0) observe_timing(g);
    if (g->conn) { /* nobody reads what a departed client would get */
        if (g->stream) stream_step(g, ev);
        else collect_step(g, ev);
        if (ev->done && g->stream) stream_end(g, ev);
    }
    if (ev->done) {
        g->done = true;
        g->finish = ev->finish;
        if (ev->error) snprintf(g->error, sizeof g->error, "%s", ev->error);
    }
    struct MHD_Connection *wake = g->suspended ? g->conn : NULL;
    g->suspended = false;
    pthread_mutex_unlock(&g->lock);
    /* A suspended connection cannot be closed, so it is still there. */
    if (wake) MHD_resume_connection(wake);
    if (ev->done) generation_unref(g);
}

/* ---- what the HTTP threads do ---- */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    generation *g = cls;
    pthread_mutex_lock(&g->lock);
    ssize_t n = (ssize_t)send_buffer_take(&g->out, buf, max);
    if (n == 0 && (g->done || g->failed)) {
        n = g->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    } else if (n == 0) { /* more will come: wait for the producer to wake us */
        g->suspended = true;
        MHD_suspend_connection(g->conn);
    }
    pthread_mutex_unlock(&g->lock);
    return n;
}

static enum MHD_Result send_stream(http_exchange *x, generation *g) {
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, g, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: do not buffer the stream */
    return http_queue_200(x, r);
}

static enum MHD_Result send_whole(http_exchange *x, generation *g) {
    api_error err;
    if (g->client_gone) return MHD_NO; /* nobody to answer: close, and count it as the client's leaving */
    if (g->finish == R1_FINISH_ERROR || g->failed) {
        api_error_set(&err, 500, "server_error", "engine_error", NULL, "generation failed: %s",
                      g->failed ? "out of memory building the response" : g->error);
        return http_send_error(x, &err);
    }
    if (g->finish == R1_FINISH_CANCELLED) {
        api_error_set(&err, 503, "server_error", "shutting_down", NULL, "the server is shutting down");
        return http_send_error(x, &err);
    }
    char *json = json_final_response(g);
    if (!json) {
        api_error_set(&err, 500, "server_error", NULL, NULL, "out of memory building the response");
        return http_send_error(x, &err);
    }
    enum MHD_Result ok = http_send_json(x, 200, json);
    free(json);
    return ok;
}

/* A whole response: suspends the connection until the engine's final
 * event resumes it (MHD then calls the handler, and this, again), or sends
 * the answer when it is complete. */
enum MHD_Result generation_resume(http_exchange *x) {
    generation *g = x->gen;
    pthread_mutex_lock(&g->lock);
    if (!g->done) {
        g->suspended = true;
        MHD_suspend_connection(x->conn);
        pthread_mutex_unlock(&g->lock);
        return MHD_YES;
    }
    pthread_mutex_unlock(&g->lock);
    return send_whole(x, g);
}

/* ---- from the request to the prompt ---- */

/* Whether the rendered prompt opens R1's reasoning ("...<think>\n"). */
static bool ends_in_think(const char *prompt) {
    size_t n = strlen(prompt);
    while (n > 0 && (prompt[n - 1] == '\n' || prompt[n - 1] == ' ')) n--;
    return n >= 7 && memcmp(prompt + n - 7, "<think>", 7) == 0;
}

/* The prompt's tokens; *opens_reasoning for a chat prompt that ends in <think>. */
static int prompt_tokens(server *srv, const char *request_id, const api_generation_request *req, int32_t **ids,
                         size_t *n_ids, bool *opens_reasoning, api_error *err) {
    r1_error e;
    *opens_reasoning = false;
    if (req->prompt_tokens) {
        *ids = malloc(req->n_prompt_tokens * sizeof(int32_t));
        if (!*ids) return api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
        memcpy(*ids, req->prompt_tokens, req->n_prompt_tokens * sizeof(int32_t));
        *n_ids = req->n_prompt_tokens;
        return 0;
    }
    char *text = NULL;
    bool add_bos = false;
    if (req->chat) {
        text = r1_chat_render(srv->template, req->messages, req->n_messages, true, srv->bos_text, &e);
        if (!text) return api_error_set(err, 400, "invalid_request_error", NULL, "messages", "%s", e.message);
        *opens_reasoning = srv->template == R1_CHAT_DEEPSEEK_R1 && ends_in_think(text);
    } else {
        add_bos = r1_tokenizer_adds_bos(srv->tok);
    }
    const char *source = text ? text : req->prompt;
    if (srv->config.log_prompts) {
        r1_log_field f[] = {{"request_id", request_id, 0}, {"prompt", source, 0}};
        r1_log_fields(R1_LOG_INFO, "prompt", f, 2);
    }
    int rc = r1_tokenize(srv->tok, source, strlen(source), add_bos, true, ids, n_ids, &e);
    free(text);
    if (rc != 0) return api_error_set(err, 500, "server_error", NULL, NULL, "tokenizer: %s", e.message);
    if (*n_ids == 0) return api_error_set(err, 400, "invalid_request_error", NULL, "prompt", "the prompt is empty");
    return 0;
}

static int check_lengths(server *srv, const api_generation_request *req, size_t n_prompt, int *max_tokens,
                         api_error *err) {
    int ctx = r1_engine_ctx_seq(srv->engine);
    if ((long)n_prompt >= ctx)
        return api_error_set(err, 400, "invalid_request_error", "context_length_exceeded",
                             req->chat ? "messages" : "prompt",
                             "This model's maximum context length is %d tokens. However, your %s resulted in %zu "
                             "tokens, leaving no room for an answer.", ctx, req->chat ? "messages" : "prompt", n_prompt);
    *max_tokens = req->max_tokens > 0 ? req->max_tokens : ctx - (int)n_prompt;
    if ((long)n_prompt + *max_tokens > ctx)
        return api_error_set(err, 400, "invalid_request_error", "context_length_exceeded",
                             "max_tokens", "This model's maximum context length is %d tokens. However, you "
                             "requested %zu tokens (%zu in the %s, %d for the completion). Please reduce the "
                             "length of the %s or the completion.", ctx, n_prompt + (size_t)*max_tokens, n_prompt,
                             req->chat ? "messages" : "prompt", *max_tokens, req->chat ? "messages" : "prompt");
    return 0;
}

static generation *generation_new(server *srv, struct MHD_Connection *conn, const api_generation_request *req,
                                  double started) {
    generation *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutex_init(&g->lock, NULL);
    g->refs = 2; /* the HTTP side's and the engine's */
    g->srv = srv;
    g->conn = conn;
    g->stream = req->stream;
    g->chat = req->chat;
    g->include_usage = req->include_usage;
    g->logprobs = req->logprobs;
    g->created = (long long)time(NULL);
    g->started = started;
    unsigned long long n = atomic_fetch_add(&srv->next_id, 1);
    snprintf(g->id, sizeof g->id, "%s-%llx%08llx", req->chat ? "chatcmpl" : "cmpl", (unsigned long long)g->created, n);
    if (g->logprobs && !g->stream) g->logprob_entries = json_array();
    return g;
}

static r1_generation_params engine_params(server *srv, const api_generation_request *req, int max_tokens,
                                          bool opens_reasoning, int32_t *bias_tokens, float *bias_values) {
    r1_generation_params p = r1_generation_default_params();
    p.sampling = req->sampling;
    if (!req->seed_given) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p.sampling.seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ atomic_fetch_add(&srv->next_id, 1);
    }
    p.max_tokens = max_tokens;
    p.stops = (const char *const *)req->stops;
    p.n_stops = (int)req->n_stops;
    for (size_t i = 0; i < req->n_logit_bias; i++) {
        bias_tokens[i] = req->logit_bias[i].token;
        bias_values[i] = req->logit_bias[i].bias;
    }
    p.bias_tokens = bias_tokens;
    p.bias_values = bias_values;
    p.n_bias = (int)req->n_logit_bias;
    p.ignore_eos = req->ignore_eos;
    p.split_reasoning = req->chat && srv->template == R1_CHAT_DEEPSEEK_R1;
    p.starts_in_reasoning = opens_reasoning;
    p.top_logprobs = req->logprobs ? req->top_logprobs : -1;
    return p;
}

static bool model_matches(const server *srv, const char *name) {
    return !name || strcmp(name, srv->alias) == 0; /* absent is fine; "" names no model */
}

/* Submits; on success x->gen holds the generation. */
static int submit(http_exchange *x, const api_generation_request *req, api_error *err) {
    server *srv = x->srv;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    bool opens_reasoning = false;
    int max_tokens = 0;
    if (prompt_tokens(srv, x->request_id, req, &ids, &n_ids, &opens_reasoning, err) != 0 ||
        check_lengths(srv, req, n_ids, &max_tokens, err) != 0) {
        free(ids);
        return -1;
    }
    int32_t bias_tokens[API_MAX_LOGIT_BIAS];
    float bias_values[API_MAX_LOGIT_BIAS];
    r1_generation_params p = engine_params(srv, req, max_tokens, opens_reasoning, bias_tokens, bias_values);
    generation *g = generation_new(srv, x->conn, req, x->started);
    if (!g) {
        free(ids);
        return api_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    }
    r1_error e;
    int rc = r1_engine_submit(srv->engine, ids, (int)n_ids, &p, on_engine_event, g, &g->request, &e);
    free(ids);
    if (rc != 0) {
        g->refs = 1;
        generation_unref(g);
        if (rc == R1_ENGINE_BUSY)
            return api_error_set(err, 503, "server_error", "server_busy", NULL,
                                 "the server is at capacity (%s); retry later", e.message);
        return api_error_set(err, 400, "invalid_request_error", NULL, NULL, "%s", e.message);
    }
    add_active(srv, g);
    x->gen = g;
    return 0;
}

enum MHD_Result generation_start(http_exchange *x, bool chat) {
    server *srv = x->srv;
    api_limits limits = {.max_json_depth = 64, .max_messages = 4096,
                         .max_tokens_limit = r1_engine_ctx_seq(srv->engine),
                         .max_prompt_tokens_array = r1_engine_ctx_seq(srv->engine), .n_vocab = srv->n_vocab};
    api_generation_request req;
    api_error err;
    int rc = chat ? api_parse_chat_request(x->body ? x->body : "", x->body_len, &limits, &req, &err)
                  : api_parse_completion_request(x->body ? x->body : "", x->body_len, &limits, &req, &err);
    if (rc != 0) return http_send_error(x, &err);
    if (!model_matches(srv, req.model)) {
        api_error_set(&err, 404, "invalid_request_error", "model_not_found", "model",
                      "The model '%s' does not exist; this server serves '%s'", req.model, srv->alias);
        rc = -1;
    }
    if (rc == 0) rc = submit(x, &req, &err);
    bool stream = req.stream;
    api_generation_request_free(&req);
    if (rc != 0) return http_send_error(x, &err);
    if (stream) return send_stream(x, x->gen);
    return generation_resume(x); /* waits (suspended) for the answer, or sends it if it is done already */
}
