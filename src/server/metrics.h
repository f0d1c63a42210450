/*
 * metrics.h - the server's Prometheus metrics: what the server counts as
 * requests go through it, and the text exposition of GET /metrics
 * (docs/METRICS.md lists every metric and the question it answers).
 *
 * Counters and histograms are updated from the HTTP threads and the engine
 * thread under one mutex (a few thousand updates a second at most); gauges
 * that the engine or the process already know (running, waiting, KV use,
 * CPU, memory, GPU) are read when /metrics is scraped.
 */
#ifndef R1_SERVER_METRICS_H
#define R1_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "r1.h"

typedef struct metrics metrics;

metrics *metrics_new(void);
void metrics_free(metrics *m);

/* A finished HTTP request: its endpoint (the route, not the raw path),
 * status and duration. */
void metrics_request(metrics *m, const char *endpoint, int status, double seconds);
/* A finished generation's tokens. */
void metrics_generation(metrics *m, int prompt_tokens, int generated_tokens, int reasoning_tokens);
void metrics_time_to_first_token(metrics *m, double seconds);
void metrics_inter_token_latency(metrics *m, double seconds);
void metrics_queue_time(metrics *m, double seconds);
/* An engine step (r1_engine_params.on_step). */
void metrics_engine_step(void *m, const r1_engine_step *step);
/* Something went wrong; kind is a short fixed word (see metrics.c). */
void metrics_error(metrics *m, const char *kind);
void metrics_model_loaded(metrics *m, double seconds);
/* One transcription done: its audio length and the time it took. */
void metrics_transcription(metrics *m, double audio_seconds, double seconds);
/* One text spoken to its end: its length, its audio and the time it took. */
void metrics_speech(metrics *m, size_t characters, double audio_seconds, double seconds);
/* A refused credential (reason: missing, malformed, invalid_token,
 * invalid_key, insufficient_scope), and a request refused by a rate limit. */
void metrics_auth_failure(metrics *m, const char *reason);
void metrics_rate_limited(metrics *m);

/* What the scrape reads from elsewhere. */
typedef struct metrics_snapshot {
    const char *model;       /* the alias */
    bool ready;
    bool have_engine;
    bool auth_enabled;       /* show the auth and rate-limit counters */
    r1_engine_stats engine;
} metrics_snapshot;

/* The exposition text (Prometheus text format 0.0.4), malloc'ed. */
char *metrics_render(metrics *m, const metrics_snapshot *snap);

#endif
