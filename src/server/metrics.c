/*
 * metrics.c - the server's counters and histograms, and their Prometheus
 * text exposition (see metrics.h; docs/METRICS.md has the list).
 *
 * Names follow Prometheus's conventions: an r1_ prefix, base units
 * (seconds, bytes, ratios), _total for counters, histograms with buckets
 * that fit LLM latencies (tens of milliseconds between tokens, seconds to
 * the first token, minutes for a whole answer).
 */
#include "server/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "server/gpu_stats.h"

#ifndef R1_COMMIT
#define R1_COMMIT "unknown"
#endif

/* ---- histograms ---- */

enum { MAX_BUCKETS = 20 };

typedef struct histogram {
    const double *bounds;          /* upper bounds, ascending; +Inf is implied */
    int n_bounds;
    uint64_t counts[MAX_BUCKETS + 1];
    uint64_t count;
    double sum;
} histogram;

static const double request_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600};
static const double ttft_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 20, 30, 60};
static const double itl_bounds[] = {0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5};
static const double queue_bounds[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
static const double step_bounds[] = {0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10};

#define BOUNDS(a) a, (int)(sizeof a / sizeof a[0])

static void histogram_init(histogram *h, const double *bounds, int n) {
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n_bounds = n;
}

static void observe(histogram *h, double v) {
    int i = 0;
    while (i < h->n_bounds && v > h->bounds[i]) i++;
    h->counts[i]++;
    h->count++;
    h->sum += v;
}

/* ---- labelled counters ---- */

enum { MAX_SERIES = 128, MAX_ENDPOINTS = 16, MAX_ERROR_KINDS = 32 };

typedef struct request_series {
    char endpoint[40];
    int status;
    uint64_t count;
} request_series;

typedef struct endpoint_histogram {
    char endpoint[40];
    histogram duration;
} endpoint_histogram;

typedef struct error_series {
    char kind[32];
    uint64_t count;
} error_series;

struct metrics {
    pthread_mutex_t lock;
    request_series requests[MAX_SERIES];
    int n_requests;
    endpoint_histogram durations[MAX_ENDPOINTS];
    int n_durations;
    error_series errors[MAX_ERROR_KINDS];
    int n_errors;
    uint64_t prompt_tokens, generation_tokens, reasoning_tokens;
    histogram ttft, itl, queue, batch_size, step_prefill, step_decode;
    double model_load_seconds;
    error_series auth_failures[8];
    int n_auth_failures;
    uint64_t rate_limited;
    uint64_t transcriptions;
    double audio_seconds, transcription_seconds;
    uint64_t speeches, speech_characters;
    double speech_audio_seconds, speech_seconds;
};

metrics *metrics_new(void) {
    metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    histogram_init(&m->ttft, BOUNDS(ttft_bounds));
    histogram_init(&m->itl, BOUNDS(itl_bounds));
    histogram_init(&m->queue, BOUNDS(queue_bounds));
    histogram_init(&m->batch_size, BOUNDS(batch_bounds));
    histogram_init(&m->step_prefill, BOUNDS(step_bounds));
    histogram_init(&m->step_decode, BOUNDS(step_bounds));
    return m;
}

void metrics_free(metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- updates ---- */

void metrics_request(metrics *m, const char *endpoint, int status, double seconds) {
    pthread_mutex_lock(&m->lock);
    request_series *r = NULL;
    for (int i = 0; i < m->n_requests && !r; i++)
        if (m->requests[i].status == status && strcmp(m->requests[i].endpoint, endpoint) == 0) r = &m->requests[i];
    if (!r && m->n_requests < MAX_SERIES) {
        r = &m->requests[m->n_requests++];
        snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
        r->status = status;
    }
    if (r) r->count++;
    endpoint_histogram *d = NULL;
    for (int i = 0; i < m->n_durations && !d; i++)
        if (strcmp(m->durations[i].endpoint, endpoint) == 0) d = &m->durations[i];
    if (!d && m->n_durations < MAX_ENDPOINTS) {
        d = &m->durations[m->n_durations++];
        snprintf(d->endpoint, sizeof d->endpoint, "%s", endpoint);
        histogram_init(&d->duration, BOUNDS(request_bounds));
    }
    if (d) observe(&d->duration, seconds);
    pthread_mutex_unlock(&m->lock);
}

void metrics_generation(metrics *m, int prompt_tokens, int generated_tokens, int reasoning_tokens) {
    pthread_mutex_lock(&m->lock);
    m->prompt_tokens += (uint64_t)prompt_tokens;
    m->generation_tokens += (uint64_t)generated_tokens;
    m->reasoning_tokens += (uint64_t)reasoning_tokens;
    pthread_mutex_unlock(&m->lock);
}

void metrics_transcription(metrics *m, double audio_seconds, double seconds) {
    pthread_mutex_lock(&m->lock);
    m->transcriptions++;
    m->audio_seconds += audio_seconds;
    m->transcription_seconds += seconds;
    pthread_mutex_unlock(&m->lock);
}

void metrics_speech(metrics *m, size_t characters, double audio_seconds, double seconds) {
    pthread_mutex_lock(&m->lock);
    m->speeches++;
    m->speech_characters += characters;
    m->speech_audio_seconds += audio_seconds;
    m->speech_seconds += seconds;
    pthread_mutex_unlock(&m->lock);
}

static void observe_locked(metrics *m, histogram *h, double v) {
    pthread_mutex_lock(&m->lock);
    observe(h, v);
    pthread_mutex_unlock(&m->lock);
}

void metrics_time_to_first_token(metrics *m, double s) { observe_locked(m, &m->ttft, s); }
void metrics_inter_token_latency(metrics *m, double s) { observe_locked(m, &m->itl, s); }
void metrics_queue_time(metrics *m, double s) { observe_locked(m, &m->queue, s); }

void metrics_engine_step(void *user, const r1_engine_step *step) {
    metrics *m = user;
    pthread_mutex_lock(&m->lock);
    observe(&m->batch_size, step->rows);
    /* a step that fed any prompt rows is a prefill step: it is slower */
    observe(step->prefill_rows > 0 ? &m->step_prefill : &m->step_decode, step->seconds);
    pthread_mutex_unlock(&m->lock);
}

void metrics_error(metrics *m, const char *kind) {
    pthread_mutex_lock(&m->lock);
    error_series *e = NULL;
    for (int i = 0; i < m->n_errors && !e; i++)
        if (strcmp(m->errors[i].kind, kind) == 0) e = &m->errors[i];
    if (!e && m->n_errors < MAX_ERROR_KINDS) {
        e = &m->errors[m->n_errors++];
        snprintf(e->kind, sizeof e->kind, "%s", kind);
    }
    if (e) e->count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_auth_failure(metrics *m, const char *reason) {
    pthread_mutex_lock(&m->lock);
    error_series *e = NULL;
    for (int i = 0; i < m->n_auth_failures && !e; i++)
        if (strcmp(m->auth_failures[i].kind, reason) == 0) e = &m->auth_failures[i];
    if (!e && m->n_auth_failures < 8) {
        e = &m->auth_failures[m->n_auth_failures++];
        snprintf(e->kind, sizeof e->kind, "%s", reason);
    }
    if (e) e->count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_rate_limited(metrics *m) {
    pthread_mutex_lock(&m->lock);
    m->rate_limited++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_model_loaded(metrics *m, double seconds) {
    pthread_mutex_lock(&m->lock);
    m->model_load_seconds = seconds;
    pthread_mutex_unlock(&m->lock);
}

/* ---- the text ---- */

typedef struct text {
    char *buf;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) break;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *p = realloc(t->buf, cap);
        if (!p) break;
        t->buf = p;
        t->cap = cap;
    }
    t->failed = true;
}

static void family(text *t, const char *name, const char *type, const char *help) {
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the format wants. */
static void escape_label(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (; *in && n + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') out[n++] = '\\', out[n++] = *in;
        else if (*in == '\n') out[n++] = '\\', out[n++] = 'n';
        else out[n++] = *in;
    }
    out[n] = '\0';
}

static void put_histogram(text *t, const char *name, const char *labels, const histogram *h) {
    uint64_t cumulative = 0;
    for (int i = 0; i < h->n_bounds; i++) {
        cumulative += h->counts[i];
        put(t, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels, h->bounds[i], (unsigned long long)cumulative);
    }
    put(t, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels, (unsigned long long)h->count);
    put(t, "%s_sum{%s} %.9g\n", name, labels, h->sum);
    put(t, "%s_count{%s} %llu\n", name, labels, (unsigned long long)h->count);
}

static void render_traffic(text *t, const metrics *m, const char *model) {
    family(t, "r1_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
    for (int i = 0; i < m->n_requests; i++)
        put(t, "r1_requests_total{%s,endpoint=\"%s\",status=\"%d\"} %llu\n", model, m->requests[i].endpoint,
            m->requests[i].status, (unsigned long long)m->requests[i].count);
    family(t, "r1_request_duration_seconds", "histogram", "Time from a request's headers to its last byte.");
    for (int i = 0; i < m->n_durations; i++) {
        char labels[512];
        snprintf(labels, sizeof labels, "%s,endpoint=\"%s\"", model, m->durations[i].endpoint);
        put_histogram(t, "r1_request_duration_seconds", labels, &m->durations[i].duration);
    }
    family(t, "r1_prompt_tokens_total", "counter", "Prompt tokens of finished generations.");
    put(t, "r1_prompt_tokens_total{%s} %llu\n", model, (unsigned long long)m->prompt_tokens);
    family(t, "r1_generation_tokens_total", "counter", "Tokens generated (reasoning included).");
    put(t, "r1_generation_tokens_total{%s} %llu\n", model, (unsigned long long)m->generation_tokens);
    family(t, "r1_reasoning_tokens_total", "counter", "Tokens generated inside R1's reasoning.");
    put(t, "r1_reasoning_tokens_total{%s} %llu\n", model, (unsigned long long)m->reasoning_tokens);
    family(t, "r1_transcriptions_total", "counter", "Audio uploads transcribed (or translated).");
    put(t, "r1_transcriptions_total{%s} %llu\n", model, (unsigned long long)m->transcriptions);
    family(t, "r1_transcribed_audio_seconds_total", "counter", "Seconds of audio transcribed.");
    put(t, "r1_transcribed_audio_seconds_total{%s} %.3f\n", model, m->audio_seconds);
    family(t, "r1_transcription_seconds_total", "counter",
           "Seconds spent transcribing (divided by the audio seconds: the real-time factor).");
    put(t, "r1_transcription_seconds_total{%s} %.3f\n", model, m->transcription_seconds);
    family(t, "r1_speech_total", "counter", "Texts spoken by /v1/audio/speech to their end.");
    put(t, "r1_speech_total{%s} %llu\n", model, (unsigned long long)m->speeches);
    family(t, "r1_speech_characters_total", "counter", "Characters of input spoken.");
    put(t, "r1_speech_characters_total{%s} %llu\n", model, (unsigned long long)m->speech_characters);
    family(t, "r1_speech_audio_seconds_total", "counter", "Seconds of audio synthesised.");
    put(t, "r1_speech_audio_seconds_total{%s} %.3f\n", model, m->speech_audio_seconds);
    family(t, "r1_speech_seconds_total", "counter",
           "Seconds spent synthesising (divided by the audio seconds: the real-time factor).");
    put(t, "r1_speech_seconds_total{%s} %.3f\n", model, m->speech_seconds);
}

static void render_experience(text *t, const metrics *m, const char *model) {
    family(t, "r1_time_to_first_token_seconds", "histogram", "Time from a request's arrival to its first token.");
    put_histogram(t, "r1_time_to_first_token_seconds", model, &m->ttft);
    family(t, "r1_inter_token_latency_seconds", "histogram", "Time between consecutive tokens of one answer.");
    put_histogram(t, "r1_inter_token_latency_seconds", model, &m->itl);
    family(t, "r1_request_queue_time_seconds", "histogram", "Time a request waited for a free sequence.");
    put_histogram(t, "r1_request_queue_time_seconds", model, &m->queue);
}

static void render_load(text *t, const metrics *m, const metrics_snapshot *s, const char *model) {
    const r1_engine_stats *e = &s->engine;
    family(t, "r1_requests_running", "gauge", "Requests holding a sequence of the engine.");
    put(t, "r1_requests_running{%s} %d\n", model, e->running);
    family(t, "r1_requests_waiting", "gauge", "Requests queued for a sequence.");
    put(t, "r1_requests_waiting{%s} %d\n", model, e->waiting);
    family(t, "r1_parallel_sequences", "gauge", "Sequences the engine decodes together at most (--parallel).");
    put(t, "r1_parallel_sequences{%s} %d\n", model, e->parallel);
    family(t, "r1_queue_capacity", "gauge", "Requests that may wait (--queue); more get 503.");
    put(t, "r1_queue_capacity{%s} %d\n", model, e->queue_capacity);
    family(t, "r1_batch_size", "histogram", "Rows computed per engine step (decoding tokens and prompt tokens).");
    put_histogram(t, "r1_batch_size", model, &m->batch_size);
    family(t, "r1_engine_step_seconds", "histogram", "Duration of an engine step; prefill: it fed prompt rows.");
    char labels[512];
    snprintf(labels, sizeof labels, "%s,phase=\"prefill\"", model);
    put_histogram(t, "r1_engine_step_seconds", labels, &m->step_prefill);
    snprintf(labels, sizeof labels, "%s,phase=\"decode\"", model);
    put_histogram(t, "r1_engine_step_seconds", labels, &m->step_decode);
    family(t, "r1_engine_steps_total", "counter", "Engine steps (forward passes).");
    put(t, "r1_engine_steps_total{%s} %llu\n", model, (unsigned long long)e->steps);
    family(t, "r1_kv_cache_usage_ratio", "gauge", "Share of the KV cache's positions in use (idle caches included).");
    put(t, "r1_kv_cache_usage_ratio{%s} %.6g\n", model,
        e->cache_positions ? (double)e->cache_positions_used / e->cache_positions : 0.0);
    family(t, "r1_kv_cache_running_usage_ratio", "gauge",
           "Share of the KV cache's positions held by running requests (idle caches are evictable).");
    put(t, "r1_kv_cache_running_usage_ratio{%s} %.6g\n", model,
        e->cache_positions ? (double)e->cache_positions_running / e->cache_positions : 0.0);
    family(t, "r1_kv_cache_positions", "gauge", "Size of the KV cache in positions.");
    put(t, "r1_kv_cache_positions{%s} %d\n", model, e->cache_positions);
    family(t, "r1_kv_cache_bytes", "gauge", "Memory the KV cache reserves, all positions (type: --kv-type).");
    put(t, "r1_kv_cache_bytes{%s,type=\"%s\"} %.0f\n", model, r1_kv_type_name(e->cache_type),
        (double)e->cache_positions * (double)e->cache_bytes_per_position);
    family(t, "r1_prefix_cache_queries_total", "counter", "Requests that looked for their prompt in the cache.");
    put(t, "r1_prefix_cache_queries_total{%s} %llu\n", model, (unsigned long long)e->prefix_queries);
    family(t, "r1_prefix_cache_hits_total", "counter", "Requests that found part of their prompt cached.");
    put(t, "r1_prefix_cache_hits_total{%s} %llu\n", model, (unsigned long long)e->prefix_hits);
    family(t, "r1_prefix_cache_tokens_total", "counter", "Prompt tokens taken from the cache instead of computed.");
    put(t, "r1_prefix_cache_tokens_total{%s} %llu\n", model, (unsigned long long)e->prompt_tokens_cached);
}

/* ---- the process ---- */

/* utime + stime of a /proc stat line, in seconds. */
static double stat_cpu_seconds(const char *path) {
    char line[1024];
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the name may contain spaces */
    unsigned long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time of the engine's threads (named r1-engine and r1-compute). */
static double engine_threads_cpu_seconds(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return 0;
    double total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(name, sizeof name, f)) name[0] = '\0';
        fclose(f);
        if (strncmp(name, "r1-engine", 9) != 0 && strncmp(name, "r1-compute", 10) != 0) continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        total += stat_cpu_seconds(path);
    }
    closedir(d);
    return total;
}

static void render_process(text *t) {
    family(t, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    put(t, "process_cpu_seconds_total %.3f\n", stat_cpu_seconds("/proc/self/stat"));
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2) size = resident = 0;
        fclose(f);
    }
    family(t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    put(t, "process_resident_memory_bytes %llu\n", resident * (unsigned long long)page);
    family(t, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    put(t, "process_virtual_memory_bytes %llu\n", size * (unsigned long long)page);
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));) fds += e->d_name[0] != '.';
    if (d) closedir(d);
    family(t, "process_open_fds", "gauge", "Number of open file descriptors.");
    put(t, "process_open_fds %d\n", fds > 0 ? fds - 1 : 0); /* minus the one reading the folder */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
        family(t, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        put(t, "process_max_fds %llu\n", (unsigned long long)lim.rlim_cur);
    }
    family(t, "r1_engine_threads_cpu_seconds_total", "counter",
           "CPU time of the engine's compute threads; its rate / threads is their utilisation.");
    put(t, "r1_engine_threads_cpu_seconds_total %.3f\n", engine_threads_cpu_seconds());
}

static void render_gpus(text *t) {
    gpu_stats gpus[8];
    int n = gpu_stats_read(gpus, 8);
    if (n <= 0) return; /* no GPU, no NVML: no metric rather than zeros */
    family(t, "r1_gpu_utilization_ratio", "gauge", "Share of time the GPU was busy (NVML).");
    for (int i = 0; i < n; i++) put(t, "r1_gpu_utilization_ratio{gpu=\"%d\"} %.2f\n", i, gpus[i].utilization);
    family(t, "r1_gpu_memory_used_bytes", "gauge", "GPU memory in use (NVML).");
    for (int i = 0; i < n; i++) put(t, "r1_gpu_memory_used_bytes{gpu=\"%d\"} %llu\n", i, gpus[i].memory_used);
    family(t, "r1_gpu_memory_total_bytes", "gauge", "GPU memory (NVML).");
    for (int i = 0; i < n; i++) put(t, "r1_gpu_memory_total_bytes{gpu=\"%d\"} %llu\n", i, gpus[i].memory_total);
}

static void render_health(text *t, const metrics *m, const metrics_snapshot *s, const char *model) {
    family(t, "r1_up", "gauge", "1 while the server process runs.");
    put(t, "r1_up{%s} 1\n", model);
    family(t, "r1_ready", "gauge", "1 when the server takes new requests (as GET /ready).");
    put(t, "r1_ready{%s} %d\n", model, s->ready ? 1 : 0);
    family(t, "r1_build_info", "gauge", "The running build: version and commit.");
    put(t, "r1_build_info{version=\"%s\",commit=\"%s\",kernels=\"%s\"} 1\n", R1_VERSION, R1_COMMIT, r1_kernel_isa());
    family(t, "r1_model_load_seconds", "gauge", "Time the model took to load.");
    put(t, "r1_model_load_seconds{%s} %.3f\n", model, m->model_load_seconds);
    family(t, "r1_errors_total", "counter", "Failed requests by kind (invalid_request, not_found, too_large, "
                                          "busy, unavailable, engine, client_gone).");
    for (int i = 0; i < m->n_errors; i++)
        put(t, "r1_errors_total{%s,kind=\"%s\"} %llu\n", model, m->errors[i].kind, (unsigned long long)m->errors[i].count);
    if (!s->auth_enabled) return; /* no authentication: no such counters, rather than zeros */
    family(t, "r1_auth_failures_total", "counter", "Refused credentials by reason (missing, malformed, invalid_token, "
                                                 "invalid_key, insufficient_scope).");
    for (int i = 0; i < m->n_auth_failures; i++)
        put(t, "r1_auth_failures_total{%s,reason=\"%s\"} %llu\n", model, m->auth_failures[i].kind,
            (unsigned long long)m->auth_failures[i].count);
    family(t, "r1_rate_limited_total", "counter", "Requests refused by a caller's rate limit (429).");
    put(t, "r1_rate_limited_total{%s} %llu\n", model, (unsigned long long)m->rate_limited);
}

char *metrics_render(metrics *m, const metrics_snapshot *s) {
    char escaped[300], model[320];
    escape_label(s->model, escaped, sizeof escaped);
    snprintf(model, sizeof model, "model=\"%s\"", escaped);
    text t = {0};
    pthread_mutex_lock(&m->lock);
    render_traffic(&t, m, model);
    render_experience(&t, m, model);
    if (s->have_engine) render_load(&t, m, s, model);
    render_health(&t, m, s, model);
    pthread_mutex_unlock(&m->lock);
    render_process(&t);
    render_gpus(&t);
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
