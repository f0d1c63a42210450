/*
 * server.c - the life of `r1 serve`: listen first (so probes see the
 * process at once), load the model (/ready says "loading" meanwhile), serve,
 * and on SIGTERM or SIGINT drain: /ready turns 503, the listening socket is
 * closed so new connections are refused, running requests finish (up to the
 * drain deadline), then exit 0. A second signal exits at once.
 *
 * The main thread owns signals (blocked everywhere else, taken with
 * sigtimedwait) and, between them, runs the watchdog that cancels the
 * generations of clients that went away.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "server/server_internal.h"

r1_server_config r1_server_default_config(void) {
    r1_server_config c = {.host = "127.0.0.1", .port = 8080, .metrics_port = -1, .n_http_threads = 4, .n_parallel = 32, .queue = 256,
                          .n_batch = 512, .prefill_chunk = 128, .load_mode = "auto", .kv_type = "auto", .max_body_bytes = 4u << 20,
                          .max_connections = 1024, .idle_timeout_s = 120, .drain_timeout_s = 60,
                          .retry_after_s = 2, .auth = "none", .jwt_leeway_s = 30, .audit_fsync_every = 1,
                          .audit_max_bytes = (size_t)256 << 20, .asr_queue = 8,
                          .max_audio_bytes = (size_t)25 << 20, .tts_workers = 1, .tts_queue = 16,
                          .max_speech_chars = 4096};
    return c;
}

double server_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- loading ---- */

static void default_alias(server *srv) {
    if (srv->config.alias) {
        snprintf(srv->alias, sizeof srv->alias, "%s", srv->config.alias);
        return;
    }
    const char *base = strrchr(srv->config.model_path, '/');
    base = base ? base + 1 : srv->config.model_path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".gguf") == 0) n -= 5;
    snprintf(srv->alias, sizeof srv->alias, "%.*s", (int)n, base);
}

/* One line with every setting, for whoever reads the log after an
 * incident (nothing secret is among them yet; keys and tokens will be
 * logged as "(redacted)"). */
static void log_configuration(const server *srv) {
    const r1_server_config *c = &srv->config;
    r1_log_field f[] = {
        {"model", c->model_path, 0}, {"alias", srv->alias, 0}, {"host", c->host, 0}, {"port", NULL, c->port},
        {"metrics_port", NULL, c->metrics_port}, {"threads", NULL, c->n_threads}, {"http_threads", NULL, c->n_http_threads},
        {"parallel", NULL, c->n_parallel}, {"ctx_size", NULL, c->ctx_size}, {"kv_cache_tokens", NULL, c->kv_cache_tokens},
        {"queue", NULL, c->queue}, {"batch_size", NULL, c->n_batch}, {"prefill_chunk", NULL, c->prefill_chunk},
        {"exact", c->exact ? "true" : "false", 0}, {"kv_type", c->kv_type, 0}, {"load", c->load_mode, 0},
        {"chat_template", c->chat_template ? c->chat_template : "auto", 0},
        {"max_body_bytes", NULL, (double)c->max_body_bytes}, {"max_connections", NULL, c->max_connections},
        {"max_connections_per_ip", NULL, c->max_connections_per_ip}, {"idle_timeout_s", NULL, c->idle_timeout_s},
        {"drain_timeout_s", NULL, c->drain_timeout_s}, {"log_prompts", c->log_prompts ? "true" : "false", 0},
        {"auth", c->auth, 0}, {"jwks", c->jwks ? c->jwks : "-", 0},
        {"jwt_hs256_secret", c->jwt_hs256_secret ? "(redacted)" : "-", 0}, {"keys_db", c->keys_db ? c->keys_db : "-", 0},
        {"rate_requests_per_min", NULL, c->rate_requests_per_min}, {"rate_tokens_per_min", NULL, c->rate_tokens_per_min},
        {"rate_tokens_per_day", NULL, c->rate_tokens_per_day}, {"rate_concurrent", NULL, c->rate_concurrent},
        {"rate_scope", c->rate_scope ? c->rate_scope : "-", 0},
        {"verify", c->verify ? c->verify : "off", 0}, {"manifest", c->manifest ? c->manifest : "-", 0},
        {"audit_log", c->audit_log ? c->audit_log : "-", 0}, {"audit_key_file", c->audit_key_file ? "(redacted)" : "-", 0},
        {"tls_cert", c->tls_cert ? c->tls_cert : "-", 0}, {"tls_key", c->tls_key ? "(redacted)" : "-", 0},
        {"tls_client_ca", c->tls_client_ca ? c->tls_client_ca : "-", 0},
        {"model_key", c->model_key_file || c->model_key_command ? "(redacted)" : "-", 0},
        {"whisper_model", c->whisper_model ? c->whisper_model : "-", 0}, {"vad_model", c->vad_model ? c->vad_model : "-", 0},
        {"asr_queue", NULL, c->asr_queue}, {"max_audio_bytes", NULL, (double)c->max_audio_bytes},
        {"tts_workers", NULL, c->tts_workers}, {"tts_queue", NULL, c->tts_queue},
        {"max_speech_chars", NULL, c->max_speech_chars}, {"tts_worker", c->tts_worker ? c->tts_worker : "-", 0},
        {"audio_decoder", c->audio_decoder ? c->audio_decoder : "-", 0},
    };
    r1_log_fields(R1_LOG_INFO, "configuration", f, (int)(sizeof f / sizeof f[0]));
}

static int choose_template(server *srv, r1_error *err) {
    const char *why = "chosen with --chat-template";
    int rc = srv->config.chat_template
                 ? r1_chat_template_by_name(srv->config.chat_template, &srv->template, err)
                 : r1_chat_template_detect(r1_tokenizer_chat_template(srv->tok), r1_tokenizer_pre(srv->tok),
                                           &srv->template, &why, err);
    if (rc == 0) r1_log_info("chat template %s (%s)", r1_chat_template_name(srv->template), why);
    int32_t bos = r1_token_bos(srv->tok);
    size_t len = 0;
    const char *text = bos >= 0 ? r1_token_text(srv->tok, bos, &len) : "";
    srv->bos_text = strndup(text, len);
    return rc == 0 && srv->bos_text ? 0 : -1;
}

static int load_model(server *srv) {
    r1_error err;
    const r1_server_config *c = &srv->config;
    double t0 = server_now();
    r1_model_params mp = {.load = strcmp(c->load_mode, "mmap") == 0   ? R1_LOAD_MMAP
                                  : strcmp(c->load_mode, "copy") == 0 ? R1_LOAD_COPY
                                                                      : R1_LOAD_AUTO,
                          .key_file = c->model_key_file, .key_command = c->model_key_command};
    r1_engine_params ep = r1_engine_default_params();
    ep.n_threads = c->n_threads;
    ep.n_parallel = c->n_parallel;
    ep.n_ctx_seq = c->ctx_size;
    ep.n_cache_positions = c->kv_cache_tokens;
    ep.n_queue = c->queue;
    ep.n_batch = c->n_batch;
    ep.n_prefill_chunk = c->prefill_chunk;
    ep.exact = c->exact;
    if (r1_kv_type_parse(c->kv_type, &ep.kv_type) != 0) ep.kv_type = R1_KV_DEFAULT; /* cmd_serve checked it */
    ep.on_step = metrics_engine_step;
    ep.on_step_user = srv->metrics;
    if (c->verify && strcmp(c->verify, "off") != 0 && c->verify_model &&
        c->verify_model(c->model_path, c->verify, c->manifest, &err) != 0) {
        r1_log_error("refusing to serve %s: %s", c->model_path, err.message);
        return -1;
    }
    if (r1_model_load_ex(c->model_path, &mp, &srv->model, &err) != 0 ||
        r1_model_load_tokenizer(srv->model, &srv->tok, &err) != 0 || choose_template(srv, &err) != 0 ||
        r1_engine_start(srv->model, srv->tok, &ep, &srv->engine, &err) != 0) {
        r1_log_error("cannot serve %s: %s", c->model_path, err.message);
        return -1;
    }
    if (transcription_service_start(srv, &err) != 0) {
        r1_log_error("cannot serve speech: %s", err.message);
        return -1;
    }
    if (speech_service_start(srv, &err) != 0) {
        r1_log_error("cannot serve /v1/audio/speech: %s (or start with --tts-workers 0)", err.message);
        return -1;
    }
    r1_model_info info;
    r1_model_get_info(srv->model, &info);
    srv->n_vocab = info.n_vocab;
    srv->created = (long long)time(NULL);
    metrics_model_loaded(srv->metrics, server_now() - t0);
    r1_engine_stats st;
    r1_engine_get_stats(srv->engine, &st);
    r1_log_info("model %s loaded in %.2f s as \"%s\": %s %s, %d sequences in parallel, %d positions each, "
                "KV cache of %d positions (%s, %.1f MiB), kernels %s",
                c->model_path, server_now() - t0, srv->alias, info.arch, info.file_type, st.parallel,
                r1_engine_ctx_seq(srv->engine), st.cache_positions, r1_kv_type_name(st.cache_type),
                (double)st.cache_positions * (double)st.cache_bytes_per_position / (1 << 20), r1_kernel_isa());
    return 0;
}

/* ---- listening ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    size_t n = strlen(message);
    while (n > 0 && message[n - 1] == '\n') message[--n] = '\0';
    r1_log_warn("http: %s", message);
}

/* Starts one daemon on host:port; *bound gets the port it got. */
static struct MHD_Daemon *start_daemon(server *srv, listener *l, int port, int n_threads, int *bound) {
    const r1_server_config *c = &srv->config;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *addr = NULL;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    int rc = getaddrinfo(c->host, port_text, &hints, &addr);
    if (rc != 0) {
        r1_log_error("--host %s: not a numeric IPv4 or IPv6 address (%s)", c->host, gai_strerror(rc));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (addr->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_OptionItem options[20];
    int n = 0;
    if (srv->tls_cert_pem && !l->metrics_only) { /* the metrics listener stays plain, for scrapers inside */
        flags |= MHD_USE_TLS;
        /* the pair comes per handshake from tls.c, so SIGHUP can replace it */
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, tls_certificate_callback()};
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3"};
        if (srv->tls_ca_pem) options[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->tls_ca_pem};
    }
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, srv};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, addr->ai_addr};
    if (n_threads > 1) /* with one, the polling thread does it all (MHD warns about a pool of 1) */
        options[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, n_threads, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, c->max_connections, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->max_connections_per_ip, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, c->idle_timeout_s, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 * 1024, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, srv};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    options[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, http_handle, l, MHD_OPTION_ARRAY,
                                            options, MHD_OPTION_END);
    freeaddrinfo(addr);
    if (!d) {
        r1_log_error("cannot listen on %s port %d: %s", c->host, port, strerror(errno));
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound = info ? info->port : port;
    return d;
}

static int start_http(server *srv) {
    const r1_server_config *c = &srv->config;
    bool v6 = strchr(c->host, ':') != NULL;
    srv->api_listener = (listener){srv, false};
    srv->metrics_listener = (listener){srv, true};
    srv->daemon = start_daemon(srv, &srv->api_listener, c->port, c->n_http_threads, &srv->port);
    if (!srv->daemon) return -1;
    r1_log_info("listening on %s://%s%s%s:%d%s", srv->tls_cert_pem ? "https" : "http", v6 ? "[" : "", c->host,
                v6 ? "]" : "", srv->port, srv->tls_ca_pem ? " (client certificates required)" : "");
    if (c->metrics_port >= 0) {
        int port;
        srv->metrics_daemon = start_daemon(srv, &srv->metrics_listener, c->metrics_port, 1, &port);
        if (!srv->metrics_daemon) return -1;
        r1_log_info("metrics on http://%s%s%s:%d/metrics", v6 ? "[" : "", c->host, v6 ? "]" : "", port);
    }
    return 0;
}

/* ---- signals and the drain ---- */

static int wait_signal(const sigset_t *set, double seconds) {
    struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    int sig = sigtimedwait(set, NULL, &t);
    return sig > 0 ? sig : 0;
}

static int busy(server *srv) {
    r1_engine_stats st;
    r1_engine_get_stats(srv->engine, &st);
    pthread_mutex_lock(&srv->lock);
    int n = srv->n_generations;
    pthread_mutex_unlock(&srv->lock);
    return n + st.waiting + transcription_busy(srv) + speech_busy(srv);
}

/* Stops taking work, lets the running requests finish. 0, or -1 when a
 * second signal asked to stop at once. */
static int drain(server *srv, const sigset_t *signals, int sig) {
    atomic_store(&srv->draining, true);
    r1_log_info("%s: draining (up to %d s): not ready, no new connections", strsignal(sig), srv->config.drain_timeout_s);
    MHD_socket listener = MHD_quiesce_daemon(srv->daemon);
    if (listener != MHD_INVALID_SOCKET) close(listener);
    double deadline = server_now() + srv->config.drain_timeout_s;
    while (srv->engine && busy(srv) > 0 && server_now() < deadline) {
        int again = wait_signal(signals, 0.05);
        if (again) {
            r1_log_warn("%s again: exiting now", strsignal(again));
            return -1;
        }
        generation_check_clients(srv);
    }
    if (srv->engine && busy(srv) > 0) r1_log_warn("drain deadline reached: cancelling %d requests", busy(srv));
    return 0;
}

static void shut_down(server *srv) {
    r1_engine_stop(srv->engine); /* cancels what is left: every generation gets its end */
    srv->engine = NULL;
    /* give the last bytes of cancelled streams a moment to go out */
    for (int i = 0; i < 100; i++) {
        pthread_mutex_lock(&srv->lock);
        int left = srv->n_generations;
        pthread_mutex_unlock(&srv->lock);
        if (left == 0) break;
        usleep(10000);
    }
    transcription_service_stop(srv); /* resumes every connection it held: MHD may then stop */
    speech_service_stop(srv);
    if (srv->daemon) MHD_stop_daemon(srv->daemon);
    speech_service_free(srv);
    if (srv->metrics_daemon) MHD_stop_daemon(srv->metrics_daemon);
    metrics_free(srv->metrics);
    access_free(srv->access);
    tls_free(srv);
    r1_tokenizer_free(srv->tok);
    r1_model_free(srv->model);
    free(srv->bos_text);
    pthread_mutex_destroy(&srv->lock);
}

int r1_server_run(const r1_server_config *config) {
    server srv_storage = {.config = *config}, *srv = &srv_storage;
    pthread_mutex_init(&srv->lock, NULL);
    r1_log_set_json(config->log_json);
    default_alias(srv);
    srv->metrics = metrics_new();
    if (!srv->metrics) return 1;
    /* Signals go to the main thread only: block them before any thread starts. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_configuration(srv);
    r1_error err;
    if (tls_load(srv, &err) != 0 || !(srv->access = access_open(config, &err))) {
        r1_log_error("cannot start: %s", err.message);
        shut_down(srv);
        return 1;
    }
    if (start_http(srv) != 0) {
        shut_down(srv);
        return 1;
    }
    if (load_model(srv) != 0) {
        shut_down(srv);
        return 1;
    }
    atomic_store(&srv->ready, true);
    r1_log_info("ready");
    int sig;
    for (long tick = 1;; tick++) {
        sig = wait_signal(&signals, 0.1);
        if (sig == SIGHUP) { /* keys and certificates rotate without a restart */
            access_reload(srv->access);
            tls_reload(srv);
        }
        else if (sig) break;
        generation_check_clients(srv);
        if (tick % 10 == 0) access_tick(srv->access); /* the JWKS file changed? */
    }
    if (drain(srv, &signals, sig) != 0) _exit(1);
    shut_down(srv);
    r1_log_info("stopped");
    return 0;
}
