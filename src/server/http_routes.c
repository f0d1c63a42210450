/*
 * http_routes.c - libmicrohttpd's request handler: collects the body
 * within its size limit, routes by path and method, answers the small
 * endpoints (/health, /ready, /v1/models) and every error as OpenAI's
 * error JSON, and writes the access log line when a request ends.
 *
 * MHD calls the handler several times per request: once when the headers
 * are in, once per piece of body, once more when the body is complete
 * (upload_data_size 0) - and, for a whole generation response, again after
 * the engine resumed the suspended connection.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "server/server_internal.h"

/* ---- sending ---- */

void http_add_ratelimit_headers(const http_exchange *x, struct MHD_Response *r) {
    static const char *names[6] = {"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                                   "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
                                   "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"};
    for (int i = 0; i < 6; i++)
        if (x->ratelimit[i][0]) MHD_add_response_header(r, names[i], x->ratelimit[i]);
}

bool http_client_left(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    char byte;
    return info && recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

enum MHD_Result http_queue_200(http_exchange *x, struct MHD_Response *r) {
    MHD_add_response_header(r, "X-Request-Id", x->request_id);
    http_add_ratelimit_headers(x, r);
    x->status = 200;
    x->responded = true;
    enum MHD_Result ok = MHD_queue_response(x->conn, 200, r);
    MHD_destroy_response(r);
    return ok;
}

bool send_buffer_append(send_buffer *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return false;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return true;
}

size_t send_buffer_take(send_buffer *b, char *out, size_t max) {
    size_t left = b->len - b->sent, n = left < max ? left : max;
    memcpy(out, b->data + b->sent, n);
    b->sent += n;
    if (b->sent == b->len) b->sent = b->len = 0;
    return n;
}

enum MHD_Result http_send_json(http_exchange *x, int status, const char *json) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "X-Request-Id", x->request_id);
    if (status == 503 || status == 429) {
        char seconds[16];
        snprintf(seconds, sizeof seconds, "%d", x->retry_after_s > 0 ? x->retry_after_s : x->srv->config.retry_after_s);
        MHD_add_response_header(r, "Retry-After", seconds);
    }
    if (x->www_authenticate) MHD_add_response_header(r, "WWW-Authenticate", x->www_authenticate);
    http_add_ratelimit_headers(x, r);
    if (atomic_load(&x->srv->draining)) MHD_add_response_header(r, "Connection", "close");
    x->status = status;
    x->responded = true;
    enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

enum MHD_Result http_send_error(http_exchange *x, const api_error *err) {
    x->error_code = err->code ? err->code : "error";
    char *json = api_error_json(err);
    enum MHD_Result ok = http_send_json(x, err->status, json ? json : "{\"error\":{\"message\":\"out of memory\"}}");
    free(json);
    return ok;
}

static enum MHD_Result send_error(http_exchange *x, int status, const char *type, const char *code, const char *msg) {
    api_error err;
    api_error_set(&err, status, type, code, NULL, "%s", msg);
    return http_send_error(x, &err);
}

static enum MHD_Result send_packed(http_exchange *x, int status, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return send_error(x, 500, "server_error", NULL, "out of memory");
    enum MHD_Result ok = http_send_json(x, status, s);
    free(s);
    return ok;
}

/* ---- the small endpoints ---- */

static enum MHD_Result health(http_exchange *x) {
    r1_engine_stats st = {0};
    if (atomic_load(&x->srv->ready)) r1_engine_get_stats(x->srv->engine, &st);
    return send_packed(x, 200, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "status", "ok", "requests_running",
                                         st.running, "requests_waiting", st.waiting, "parallel",
                                         x->srv->config.n_parallel, "kv_cache_positions", st.cache_positions,
                                         "kv_cache_positions_used", st.cache_positions_used));
}

/* 200 only when a new request would be served: loaded, not draining,
 * room in the queue. Load balancers take a replica out on 503. */
static enum MHD_Result ready(http_exchange *x) {
    server *srv = x->srv;
    const char *why = NULL;
    if (atomic_load(&srv->draining)) why = "draining";
    else if (!atomic_load(&srv->ready)) why = "loading";
    else {
        r1_engine_stats st;
        r1_engine_get_stats(srv->engine, &st);
        if (st.full) why = "queue_full";
    }
    return send_packed(x, why ? 503 : 200, json_pack("{s:s}", "status", why ? why : "ready"));
}

static enum MHD_Result metrics_page(http_exchange *x) {
    server *srv = x->srv;
    metrics_snapshot snap = {.model = srv->alias, .ready = atomic_load(&srv->ready) && !atomic_load(&srv->draining),
                             .auth_enabled = access_enabled(srv->access)};
    if (atomic_load(&srv->ready)) {
        r1_engine_get_stats(srv->engine, &snap.engine);
        snap.have_engine = true;
        snap.ready = snap.ready && !snap.engine.full; /* as GET /ready */
    }
    char *page = metrics_render(srv->metrics, &snap);
    if (!page) return send_error(x, 500, "server_error", NULL, "out of memory rendering the metrics");
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(page), page, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(page);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    x->status = 200;
    enum MHD_Result ok = MHD_queue_response(x->conn, 200, r);
    MHD_destroy_response(r);
    return ok;
}

static json_t *model_object(const server *srv) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", srv->alias, "object", "model", "created",
                     (json_int_t)srv->created, "owned_by", "r1");
}

static enum MHD_Result models(http_exchange *x) {
    json_t *list = json_pack("{s:s, s:[o]}", "object", "list", "data", model_object(x->srv));
    json_t *speech = transcription_model_object(x->srv);
    if (list && speech) json_array_append_new(json_object_get(list, "data"), speech);
    return send_packed(x, 200, list);
}

static enum MHD_Result one_model(http_exchange *x, const char *name) {
    json_t *speech = transcription_model_object(x->srv);
    if (speech && strcmp(name, x->srv->whisper_alias) == 0) return send_packed(x, 200, speech);
    json_decref(speech);
    if (strcmp(name, x->srv->alias) != 0) {
        api_error err;
        api_error_set(&err, 404, "invalid_request_error", "model_not_found", "model",
                      "The model '%s' does not exist; this server serves '%s'", name, x->srv->alias);
        return http_send_error(x, &err);
    }
    return send_packed(x, 200, model_object(x->srv));
}

/* ---- routing ---- */

typedef enum route_kind {
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_METRICS,
    ROUTE_MODELS,
    ROUTE_MODEL,
    ROUTE_CHAT,
    ROUTE_COMPLETIONS,
    ROUTE_TRANSCRIPTIONS,
    ROUTE_TRANSLATIONS,
    ROUTE_SPEECH,
    ROUTE_WEB,
} route_kind;

typedef struct route {
    const char *path;
    const char *method;
    route_kind kind;
    bool prefix;
} route;

static const route routes[] = {
    {"/health", "GET", ROUTE_HEALTH, false},
    {"/ready", "GET", ROUTE_READY, false},
    {"/metrics", "GET", ROUTE_METRICS, false},
    {"/v1/models", "GET", ROUTE_MODELS, false},
    {"/v1/models/", "GET", ROUTE_MODEL, true},
    {"/v1/chat/completions", "POST", ROUTE_CHAT, false},
    {"/v1/completions", "POST", ROUTE_COMPLETIONS, false},
    {"/v1/audio/transcriptions", "POST", ROUTE_TRANSCRIPTIONS, false},
    {"/v1/audio/translations", "POST", ROUTE_TRANSLATIONS, false},
    {"/v1/audio/speech", "POST", ROUTE_SPEECH, false},
    {"/", "GET", ROUTE_WEB, false}, /* the web page (web_ui.c) */
    {"/web/", "GET", ROUTE_WEB, true},
};

/* What every request that costs compute passes: not draining, loaded,
 * within the caller's rate limits, body within its limit. True to go on;
 * else the refusal is queued in *res. */
static bool admit_work(http_exchange *x, size_t limit, enum MHD_Result *res) {
    server *srv = x->srv;
    if (atomic_load(&srv->draining)) {
        *res = send_error(x, 503, "server_error", "draining", "the server is shutting down; retry on another replica");
        return false;
    }
    if (!atomic_load(&srv->ready)) {
        *res = send_error(x, 503, "server_error", "loading", "the model is still loading");
        return false;
    }
    if (!access_admit(srv->access, x)) {
        *res = MHD_YES;
        return false;
    }
    if (x->body_too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes", limit);
        *res = send_error(x, 413, "invalid_request_error", "request_too_large", msg);
        return false;
    }
    return true;
}

static enum MHD_Result audio_route(http_exchange *x, bool translate) {
    enum MHD_Result res;
    if (!admit_work(x, x->srv->config.max_audio_bytes, &res)) return res;
    return transcription_start(x, translate);
}

static enum MHD_Result speech_route(http_exchange *x) {
    enum MHD_Result res;
    if (!admit_work(x, x->srv->config.max_body_bytes, &res)) return res;
    return speech_start(x);
}

static enum MHD_Result generation_route(http_exchange *x, bool chat) {
    enum MHD_Result res;
    if (!admit_work(x, x->srv->config.max_body_bytes, &res)) return res;
    return generation_start(x, chat);
}

static enum MHD_Result dispatch(http_exchange *x) {
    const char *path = x->path, *method = strcmp(x->method, "HEAD") == 0 ? "GET" : x->method;
    const route *found = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0] && !found; i++) {
        const route *r = &routes[i];
        bool match = r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 && path[strlen(r->path)]
                               : strcmp(path, r->path) == 0;
        if (match) found = r;
    }
    if (found && x->metrics_only && found->kind != ROUTE_METRICS) found = NULL;
    x->endpoint = found ? (found->kind == ROUTE_MODEL ? "/v1/models/{id}" : found->path) : "other";
    if (!found) {
        char msg[256];
        snprintf(msg, sizeof msg, "no endpoint %s %.128s", x->method, path);
        return send_error(x, 404, "invalid_request_error", "not_found", msg);
    }
    if (strcmp(method, found->method) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%.128s accepts %s, not %s", path, found->method, x->method);
        return send_error(x, 405, "invalid_request_error", "method_not_allowed", msg);
    }
    switch (found->kind) {
    case ROUTE_HEALTH: return health(x);
    case ROUTE_READY: return ready(x);
    case ROUTE_METRICS: return metrics_page(x);
    case ROUTE_MODELS: return models(x);
    case ROUTE_MODEL: return one_model(x, path + strlen(found->path));
    case ROUTE_CHAT: return generation_route(x, true);
    case ROUTE_COMPLETIONS: return generation_route(x, false);
    case ROUTE_TRANSCRIPTIONS: return audio_route(x, false);
    case ROUTE_TRANSLATIONS: return audio_route(x, true);
    case ROUTE_SPEECH: return speech_route(x);
    case ROUTE_WEB: return web_ui_serve(x);
    }
    return MHD_NO;
}

/* ---- the handler ---- */

/* The client's X-Request-Id when it is sane, else a new one. */
static void set_request_id(http_exchange *x) {
    const char *given = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;
    bool ok = n > 0 && n < sizeof x->request_id;
    for (size_t i = 0; ok && i < n; i++)
        ok = (given[i] >= 'a' && given[i] <= 'z') || (given[i] >= 'A' && given[i] <= 'Z') ||
             (given[i] >= '0' && given[i] <= '9') || strchr("-_.:", given[i]);
    if (ok) memcpy(x->request_id, given, n + 1);
    else snprintf(x->request_id, sizeof x->request_id, "req-%llx", (unsigned long long)atomic_fetch_add(&x->srv->next_id, 1));
}

static http_exchange *exchange_new(const listener *l, struct MHD_Connection *conn, const char *url,
                                   const char *method) {
    http_exchange *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->srv = l->srv;
    x->metrics_only = l->metrics_only;
    x->endpoint = "other";
    x->conn = conn;
    x->started = server_now();
    x->body_limit = l->srv->config.max_body_bytes;
    snprintf(x->method, sizeof x->method, "%s", method);
    snprintf(x->path, sizeof x->path, "%s", url);
    set_request_id(x);
    return x;
}

static void collect_body(http_exchange *x, const char *data, size_t n) {
    if (x->body_too_large || x->body_len + n > x->body_limit) {
        x->body_too_large = true;
        return;
    }
    if (x->body_len + n + 1 > x->body_cap) {
        size_t cap = (x->body_len + n + 1) * 2;
        char *p = realloc(x->body, cap);
        if (!p) {
            x->body_too_large = true;
            return;
        }
        x->body = p;
        x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, n);
    x->body_len += n;
    x->body[x->body_len] = '\0';
}

enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **con_cls) {
    (void)version;
    http_exchange *x = *con_cls;
    if (!x) {
        x = exchange_new((const listener *)cls, conn, url, method);
        if (!x) return MHD_NO;
        *con_cls = x;
        if (!tls_client_allowed(x->srv, conn)) return MHD_NO; /* mTLS: no valid client certificate */
        if (!access_check(x->srv->access, x)) return MHD_YES; /* refused before the body is read */
        /* A declared body over the limit is refused before it is read. */
        const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        bool chat = strcmp(url, "/v1/chat/completions") == 0, completions = strcmp(url, "/v1/completions") == 0;
        bool transcribe = strcmp(url, "/v1/audio/transcriptions") == 0, translate = strcmp(url, "/v1/audio/translations") == 0;
        if (chat) x->endpoint = "/v1/chat/completions";
        if (completions) x->endpoint = "/v1/completions";
        if (transcribe || translate) {
            x->endpoint = transcribe ? "/v1/audio/transcriptions" : "/v1/audio/translations";
            x->body_limit = x->srv->config.max_audio_bytes; /* uploads are larger than JSON bodies */
        }
        bool declared_too_large = length && strtoull(length, NULL, 10) > x->body_limit && !x->metrics_only;
        if (declared_too_large && (chat || completions)) {
            x->body_too_large = true;
            return generation_route(x, chat);
        }
        if (declared_too_large && (transcribe || translate)) {
            x->body_too_large = true;
            return audio_route(x, translate);
        }
        return MHD_YES;
    }
    if (x->responded && !x->gen) { /* refused early: the rest of the body is not read */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        collect_body(x, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (x->gen) return generation_resume(x);
    if (x->asr_job) return transcription_resume(x);
    if (x->speech_job) return speech_resume(x);
    return dispatch(x);
}

/* ---- the end of a request ---- */

static void access_log(const http_exchange *x, enum MHD_RequestTerminationCode toe) {
    const generation *g = x->gen;
    double now = server_now();
    r1_log_field f[16];
    int n = 0;
    f[n++] = (r1_log_field){"request_id", x->request_id, 0};
    f[n++] = (r1_log_field){"subject", x->who.subject[0] ? x->who.subject : "-", 0};
    f[n++] = (r1_log_field){"method", x->method, 0};
    f[n++] = (r1_log_field){"endpoint", x->endpoint, 0};
    f[n++] = (r1_log_field){"path", x->path, 0};
    /* 499, as nginx logs it: the client closed the connection before the answer */
    bool gone = (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !x->stream_failed) || (g && g->client_gone);
    f[n++] = (r1_log_field){"status", NULL, gone ? 499 : x->status};
    f[n++] = (r1_log_field){"duration_ms", NULL, (double)(long long)((now - x->started) * 1e3 * 10) / 10};
    if (g) {
        f[n++] = (r1_log_field){"prompt_tokens", NULL, g->n_prompt};
        f[n++] = (r1_log_field){"cached_tokens", NULL, g->n_prompt_cached};
        f[n++] = (r1_log_field){"completion_tokens", NULL, g->n_generated};
        f[n++] = (r1_log_field){"reasoning_tokens", NULL, g->n_reasoning};
        if (g->first_token_at > 0)
            f[n++] = (r1_log_field){"ttft_ms", NULL, (double)(long long)((g->first_token_at - x->started) * 1e4) / 10};
        f[n++] = (r1_log_field){"finish", g->done ? finish_reason_name(g->finish) : "client_gone", 0};
    }
    if (x->audio_seconds > 0) f[n++] = (r1_log_field){"audio_seconds", NULL, (double)(long long)(x->audio_seconds * 100) / 100};
    if (gone) f[n++] = (r1_log_field){"client_gone", "true", 0};
    bool probe = strcmp(x->path, "/health") == 0 || strcmp(x->path, "/ready") == 0;
    r1_log_fields(probe ? R1_LOG_DEBUG : R1_LOG_INFO, "request", f, n);
}

/* The kind of failure a status stands for, for r1_errors_total. */
static const char *error_kind(const http_exchange *x, bool client_gone) {
    if (client_gone) return "client_gone";
    if (x->gen && x->gen->done && x->gen->finish == R1_FINISH_ERROR) return "engine";
    if (!x->error_code) return NULL; /* answered without an error body: /ready's 503 is an answer */
    switch (x->status) {
    case 400: return "invalid_request";
    case 404: case 405: return "not_found";
    case 413: return "too_large";
    case 500: return "engine";
    case 503: return strcmp(x->error_code, "server_busy") == 0 ? "busy" : "unavailable";
    default: return "other";
    }
}

static void count_request(const http_exchange *x, bool client_gone) {
    if (x->metrics_only) return; /* the separate metrics listener serves scrapers, not users */
    metrics *m = x->srv->metrics;
    int status = client_gone ? 499 : x->status;
    metrics_request(m, x->endpoint, status, server_now() - x->started);
    const char *kind = error_kind(x, client_gone);
    if (kind) metrics_error(m, kind);
    const generation *g = x->gen;
    if (g) metrics_generation(m, g->n_prompt, g->n_generated, g->n_reasoning);
}

void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    http_exchange *x = *con_cls;
    if (!x) return;
    speech_release(x); /* first: it gives the log its audio_seconds and says whether r1 cut the stream */
    if (x->stream_failed) {
        x->status = 500;
        x->error_code = "speech_failed";
    }
    bool client_gone = (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !x->stream_failed) ||
                       (x->gen && x->gen->client_gone);
    if (x->gen) {
        pthread_mutex_lock(&x->gen->lock);
        access_log(x, toe);
        count_request(x, client_gone);
        access_finish(x->srv->access, x, client_gone ? 499 : x->status);
        pthread_mutex_unlock(&x->gen->lock);
        generation_release_http(x->gen, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
    } else {
        access_log(x, toe);
        count_request(x, client_gone);
        access_finish(x->srv->access, x, client_gone ? 499 : x->status);
    }
    transcription_release(x);
    free(x->body);
    free(x);
    *con_cls = NULL;
}
