/* text_generation.c - the shared generation loop (see text_generation.h). */
#include "text_generation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "text/stop_strings.h"

static int remember(cli_generation *g, int32_t token) {
    if (g->n_cached == g->cap_cached) {
        int cap = g->cap_cached ? 2 * g->cap_cached : 256;
        int32_t *p = realloc(g->cached, (size_t)cap * sizeof(int32_t));
        if (!p) return -1;
        g->cached = p;
        g->cap_cached = cap;
    }
    g->cached[g->n_cached++] = token;
    return 0;
}

/* Decodes prompt[from..n) after truncating the cache to `from` tokens. */
static int feed_prompt(cli_generation *g, const int32_t *prompt, int from, int n, const char *who) {
    r1_seq_truncate(g->ctx, 0, from);
    g->n_cached = from;
    int count = n - from;
    int32_t *pos = malloc((size_t)count * sizeof(int32_t)), *seq = calloc((size_t)count, sizeof(int32_t));
    int rc = pos && seq ? 0 : -1;
    for (int i = 0; rc == 0 && i < count; i++) pos[i] = from + i;
    r1_batch b = {count, prompt + from, pos, seq, NULL};
    r1_error err;
    if (rc == 0 && r1_decode(g->ctx, &b, &err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err.message);
        rc = -1;
    }
    for (int i = from; rc == 0 && i < n; i++) rc = remember(g, prompt[i]);
    free(pos);
    free(seq);
    return rc;
}

/* Text goes through the stop-string matcher on its way out. */
static int emit_token(cli_generation *g, r1_detok_stream *stream, r1_stop_matcher *stops, int32_t token,
                      const char *who) {
    const char *text;
    size_t len;
    r1_error err;
    if (r1_detok_stream_feed(stream, token, &text, &len, &err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err.message);
        return -1;
    }
    if (len) g->stopped_by_string = r1_stop_feed(stops, text, len, g->on_text, g->user);
    return 0;
}

int cli_generate(cli_generation *g, const int32_t *prompt, int n_prompt, const char *who) {
    int common = 0;
    while (common < g->n_cached && common < n_prompt - 1 && g->cached[common] == prompt[common]) common++;
    g->n_reused = common;
    double t0 = cli_now();
    if (feed_prompt(g, prompt, common, n_prompt, who) != 0) return -1;
    double t1 = cli_now();
    r1_detok_stream stream;
    r1_detok_stream_init(&stream, g->tok);
    r1_stop_matcher stops;
    if (r1_stop_init(&stops, g->stops, g->n_stops) != 0) {
        fprintf(stderr, "%s: at most %d stop strings\n", who, R1_MAX_STOP_STRINGS);
        r1_detok_stream_free(&stream);
        return -1;
    }
    g->n_generated = 0;
    g->stopped_by_eog = g->stopped_by_string = false;
    int rc = 0;
    for (int k = 0; k < g->max_tokens && rc == 0 && !g->stopped_by_string; k++) {
        int32_t token = r1_sampler_sample(g->sampler, r1_get_logits(g->ctx, 0));
        r1_sampler_accept(g->sampler, token);
        g->n_generated++;
        if (!g->ignore_eos && r1_token_is_eog(g->tok, token)) {
            g->stopped_by_eog = true;
            break;
        }
        rc = emit_token(g, &stream, &stops, token, who);
        if (rc == 0 && k + 1 < g->max_tokens && !g->stopped_by_string) {
            rc = cli_feed_token(g->ctx, token, g->n_cached, who);
            if (rc == 0) rc = remember(g, token);
        }
    }
    const char *text;
    size_t len;
    r1_error err;
    if (rc == 0 && !g->stopped_by_string && r1_detok_stream_flush(&stream, &text, &len, &err) == 0 && len)
        r1_stop_feed(&stops, text, len, g->on_text, g->user);
    r1_stop_flush(&stops, g->on_text, g->user);
    r1_stop_free(&stops);
    r1_detok_stream_free(&stream);
    g->prompt_seconds = t1 - t0;
    g->generate_seconds = cli_now() - t1;
    return rc;
}

void cli_generation_free(cli_generation *g) {
    free(g->cached);
    g->cached = NULL;
    g->n_cached = g->cap_cached = 0;
}
