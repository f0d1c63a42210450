/*
 * cmd_top.c - `r1 top`: a terminal view of a running replica, from its
 * GET /metrics, refreshed every second - what htop is to a process:
 * requests and tokens per second, sequences running and waiting, time to
 * first token and between tokens, batch size, KV cache, CPU, memory, GPU.
 *
 *   r1 top [--url http://127.0.0.1:8080] [--interval SECONDS] [--once]
 *
 * Rates and percentiles are over the last interval (the difference of two
 * scrapes), as Prometheus's rate() and histogram_quantile() compute them.
 */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "server/metrics_parse.h"

typedef struct buffer {
    char *data;
    size_t len;
} buffer;

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    buffer *b = user;
    size_t add = size * n;
    char *p = realloc(b->data, b->len + add + 1);
    if (!p) return 0;
    memcpy(p + b->len, data, add);
    b->data = p;
    b->len += add;
    p[b->len] = '\0';
    return add;
}

/* One scrape of url/metrics into *out. */
static int scrape(CURL *curl, const char *url, metric_set *out) {
    char full[1024];
    snprintf(full, sizeof full, "%s/metrics", url);
    buffer body = {0};
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    r1_error err;
    int result = -1;
    if (rc != CURLE_OK) fprintf(stderr, "r1 top: %s: %s\n", full, curl_easy_strerror(rc));
    else if (status != 200) fprintf(stderr, "r1 top: %s answered HTTP %ld\n", full, status);
    else if (metric_set_parse(body.data ? body.data : "", body.len, out, &err) != 0)
        fprintf(stderr, "r1 top: %s: not the Prometheus text format: %s\n", full, err.message);
    else result = 0;
    free(body.data);
    return result;
}

/* ---- figures from two scrapes ---- */

static double value(const metric_set *s, const char *name, const char *with) {
    double v = metric_set_sum(s, name, with);
    return isnan(v) ? 0 : v;
}

static double rate(const metric_set *a, const metric_set *b, const char *name, const char *with, double seconds) {
    return (value(b, name, with) - value(a, name, with)) / seconds;
}

static void seconds_text(double s, char *out, size_t cap) {
    if (isnan(s)) snprintf(out, cap, "   -   ");
    else if (s < 1) snprintf(out, cap, "%5.0f ms", s * 1e3);
    else snprintf(out, cap, "%6.2f s", s);
}

static void show_latency(const metric_set *a, const metric_set *b, const char *label, const char *histogram) {
    char p50[32], p95[32], p99[32];
    seconds_text(metric_set_quantile(a, b, histogram, 0.50), p50, sizeof p50);
    seconds_text(metric_set_quantile(a, b, histogram, 0.95), p95, sizeof p95);
    seconds_text(metric_set_quantile(a, b, histogram, 0.99), p99, sizeof p99);
    printf("%-14s p50 %s   p95 %s   p99 %s\n", label, p50, p95, p99);
}

static void show(const char *url, const metric_set *a, const metric_set *b, double dt) {
    const char *build = "?";
    for (int i = 0; i < b->n; i++)
        if (strcmp(b->samples[i].name, "r1_build_info") == 0) build = b->samples[i].labels;
    printf("r1 top - %s   %s   %s\n\n", url, value(b, "r1_ready", NULL) > 0 ? "READY" : "NOT READY", build);
    double ok = rate(a, b, "r1_requests_total", "status=\"2", dt), all = rate(a, b, "r1_requests_total", NULL, dt);
    printf("%-14s %8.1f/s   (2xx %.1f/s, other %.1f/s)   errors %.1f/s\n", "requests", all, ok, all - ok,
           rate(a, b, "r1_errors_total", NULL, dt));
    printf("%-14s %8.1f/s   (reasoning %.1f/s)   prompt %.1f/s\n", "tokens out",
           rate(a, b, "r1_generation_tokens_total", NULL, dt), rate(a, b, "r1_reasoning_tokens_total", NULL, dt),
           rate(a, b, "r1_prompt_tokens_total", NULL, dt));
    printf("%-14s %4.0f / %-4.0f sequences   waiting %.0f / %.0f\n", "running", value(b, "r1_requests_running", NULL),
           value(b, "r1_parallel_sequences", NULL), value(b, "r1_requests_waiting", NULL),
           value(b, "r1_queue_capacity", NULL));
    show_latency(a, b, "first token", "r1_time_to_first_token_seconds");
    show_latency(a, b, "between tokens", "r1_inter_token_latency_seconds");
    show_latency(a, b, "queue time", "r1_request_queue_time_seconds");
    double steps = rate(a, b, "r1_batch_size_count", NULL, dt), rows = rate(a, b, "r1_batch_size_sum", NULL, dt);
    printf("%-14s avg %.1f rows   %.1f steps/s\n", "batch", steps > 0 ? rows / steps : 0, steps);
    double queries = rate(a, b, "r1_prefix_cache_queries_total", NULL, dt), hits = rate(a, b, "r1_prefix_cache_hits_total", NULL, dt);
    printf("%-14s %5.1f %% of %.0f positions   prefix hits %.0f %%\n", "KV cache",
           100 * value(b, "r1_kv_cache_usage_ratio", NULL), value(b, "r1_kv_cache_positions", NULL),
           queries > 0 ? 100 * hits / queries : 0);
    printf("%-14s process %.0f %%   engine threads %.0f %%   memory %.0f MiB\n", "CPU",
           100 * rate(a, b, "process_cpu_seconds_total", NULL, dt),
           100 * rate(a, b, "r1_engine_threads_cpu_seconds_total", NULL, dt),
           value(b, "process_resident_memory_bytes", NULL) / (1u << 20));
    for (int gpu = 0; gpu < 16; gpu++) {
        char label[32];
        snprintf(label, sizeof label, "gpu=\"%d\"", gpu);
        double util = metric_set_sum(b, "r1_gpu_utilization_ratio", label);
        if (isnan(util)) break;
        printf("GPU %-10d %5.0f %%   memory %.1f / %.1f GiB\n", gpu, 100 * util,
               value(b, "r1_gpu_memory_used_bytes", label) / (1u << 30),
               value(b, "r1_gpu_memory_total_bytes", label) / (1u << 30));
    }
}

/* ---- the command ---- */

int cmd_top(int argc, char **argv) {
    const char *url = "http://127.0.0.1:8080";
    float interval = 1.0f;
    bool once = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--once") == 0) once = true;
        else if (strcmp(a, "--url") == 0 && (v = arg_value(argc, argv, &i))) url = v;
        else if (strcmp(a, "--interval") == 0 && (v = arg_value(argc, argv, &i))) {
            if (arg_float(a, v, &interval) != 0 || interval < 0.1f) return 2;
        } else {
            fprintf(stderr, "usage: r1 top [--url http://HOST:PORT] [--interval SECONDS] [--once]\n"
                            "  (the URL of a replica's metrics: its --metrics-port, or its main port)\n");
            return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ? 0 : 2;
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    metric_set before = {0}, after = {0};
    int status = curl && scrape(curl, url, &before) == 0 ? 0 : 1;
    bool tty = isatty(STDOUT_FILENO);
    while (status == 0) {
        usleep((useconds_t)(interval * 1e6f));
        if (scrape(curl, url, &after) != 0) {
            status = 1;
            break;
        }
        if (tty && !once) printf("\033[H\033[2J"); /* home, clear */
        show(url, &before, &after, interval);
        fflush(stdout);
        metric_set_free(&before);
        before = after;
        memset(&after, 0, sizeof after);
        if (once) break;
    }
    metric_set_free(&before);
    metric_set_free(&after);
    if (curl) curl_easy_cleanup(curl);
    curl_global_cleanup();
    return status;
}
