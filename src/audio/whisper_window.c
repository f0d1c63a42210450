/*
 * whisper_window.c - judging a decoded window (accept, retry hotter, or
 * silence) and cutting its tokens into timed segments (see
 * whisper_window.h).
 */
#include "audio/whisper_window.h"

#include <math.h>
#include <stdlib.h>

/* whisper.cpp looks at the last 32 tokens for repetition. */
enum { ENTROPY_TOKENS = 32 };

/* Entropy (nats) of the histogram of tokens[0..n), n <= ENTROPY_TOKENS. */
static double histogram_entropy(const int *tokens, int n) {
    double entropy = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = tokens[j] == tokens[i];
        if (seen) continue;
        int count = 0;
        for (int j = i; j < n; j++) count += tokens[j] == tokens[i];
        double p = (double)count / n;
        entropy -= p * log(p);
    }
    return entropy;
}

void whisper_window_stats_compute(const int *tokens, const float *logprobs, int n, float no_speech_prob,
                                  whisper_window_stats *out) {
    if (n < 0) n = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += logprobs[i];
    int tail = n < ENTROPY_TOKENS ? n : ENTROPY_TOKENS;
    out->n_tokens = n;
    out->avg_logprob = n > 0 ? sum / n : 0;
    out->entropy = tail > 0 ? histogram_entropy(tokens + (n - tail), tail) : 0;
    out->no_speech_prob = no_speech_prob;
}

whisper_fallback_params whisper_fallback_defaults(void) {
    whisper_fallback_params p = {
        .logprob_threshold = -1.0f,
        .entropy_threshold = 2.4f,
        .no_speech_threshold = 0.6f,
        .temperature_inc = 0.2f,
    };
    return p;
}

whisper_window_verdict whisper_judge_window(const whisper_window_stats *s, float temperature,
                                            const whisper_fallback_params *p, float *next_temperature) {
    if (next_temperature) *next_temperature = temperature;
    /* the tolerance lets 0 + 5 x 0.2 reach 1.0 despite float rounding */
    bool hotter_left = p->temperature_inc > 0 && temperature + p->temperature_inc <= 1.0f + 1e-4f;
    bool repetitive = s->n_tokens > ENTROPY_TOKENS && s->entropy < p->entropy_threshold;
    bool doubtful = s->avg_logprob < p->logprob_threshold;
    bool silent = s->no_speech_prob > p->no_speech_threshold;
    if (hotter_left && (repetitive || (doubtful && !silent))) {
        if (next_temperature) *next_temperature = temperature + p->temperature_inc;
        return WHISPER_WINDOW_RETRY;
    }
    if (silent && doubtful) return WHISPER_WINDOW_SILENCE;
    return WHISPER_WINDOW_ACCEPT;
}

/* ---- segments ---- */

typedef struct span_list {
    whisper_segment_span *spans;
    int cap, n;
} span_list;

static bool has_text(const whisper_vocab *v, const int *tokens, int first, int end) {
    for (int i = first; i < end; i++)
        if (tokens[i] < v->eot) return true;
    return false;
}

/* Adds a span unless it is empty or has no length. -1 when full. */
static int add_span(span_list *l, const whisper_vocab *v, const int *tokens, int first, int end, int64_t t0,
                    int64_t t1) {
    if (t1 <= t0 || !has_text(v, tokens, first, end)) return 0;
    if (l->n == l->cap) return -1;
    l->spans[l->n++] = (whisper_segment_span){.first = first, .end = end, .t0_cs = t0, .t1_cs = t1};
    return 0;
}

static bool is_timestamp(const whisper_vocab *v, int token) {
    return token >= v->timestamp_begin;
}

/* A timestamp token's offset from the window start, in cs (0.02 s each). */
static int64_t ts_cs(const whisper_vocab *v, int token) {
    return 2 * (int64_t)(token - v->timestamp_begin);
}

/* The tokens hold <|t1|><|t2|> pairs: a cut falls between the two
 * timestamps of each pair (t1 closes a segment, t2 opens the next), and
 * each slice runs from its first timestamp to its last. */
static int split_at_pairs(const whisper_vocab *v, const int *tokens, int n, int64_t offset, int64_t window,
                          span_list *l, int64_t *seek) {
    bool single_ending = n >= 2 && !is_timestamp(v, tokens[n - 2]) && is_timestamp(v, tokens[n - 1]);
    int last_cut = 0;
    int64_t previous_end = offset;
    for (int i = 1; i <= n; i++) {
        bool pair_cut = i < n && is_timestamp(v, tokens[i - 1]) && is_timestamp(v, tokens[i]);
        bool final_cut = i == n && single_ending;
        if (!pair_cut && !final_cut) continue;
        int64_t t0 = is_timestamp(v, tokens[last_cut]) ? offset + ts_cs(v, tokens[last_cut]) : previous_end;
        int64_t t1 = offset + ts_cs(v, tokens[i - 1]);
        if (add_span(l, v, tokens, last_cut, i, t0, t1) != 0) return -1;
        previous_end = t1;
        last_cut = i;
    }
    /* without a closing lone timestamp, the text after the last pair is
     * unfinished: decode it again from the pair's time */
    *seek = single_ending ? offset + window : offset + ts_cs(v, tokens[last_cut - 1]);
    return 0;
}

/* Timestamps, but never two in a row: one segment for the window, ending
 * at the last timestamp when that is not 0. */
static int one_timed_segment(const whisper_vocab *v, const int *tokens, int n, int64_t offset, int64_t window,
                             span_list *l, int64_t *seek) {
    int64_t duration = window;
    for (int i = n - 1; i >= 0; i--)
        if (is_timestamp(v, tokens[i])) {
            if (tokens[i] != v->timestamp_begin) duration = ts_cs(v, tokens[i]);
            break;
        }
    *seek = offset + window;
    return add_span(l, v, tokens, 0, n, offset, offset + duration);
}

static bool has_pair(const whisper_vocab *v, const int *tokens, int n) {
    for (int i = 1; i < n; i++)
        if (is_timestamp(v, tokens[i - 1]) && is_timestamp(v, tokens[i])) return true;
    return false;
}

int whisper_window_segments(const whisper_vocab *v, const int *tokens, int n, bool timestamps, int64_t offset_cs,
                            int64_t window_cs, whisper_segment_span *spans, int cap, int *n_spans, int64_t *seek_cs,
                            r1_error *err) {
    *n_spans = 0;
    *seek_cs = offset_cs + window_cs;
    if (n < 0 || window_cs <= 0)
        return r1_error_set(err, "whisper segments: %d tokens, window of %lld cs", n, (long long)window_cs);
    int used = 0;
    while (used < n && tokens[used] != v->eot) {
        if (tokens[used] < 0 || tokens[used] >= v->n_vocab)
            return r1_error_set(err, "whisper segments: token %d (position %d) is outside the vocab of %d", tokens[used],
                                used, v->n_vocab);
        used++;
    }
    span_list l = {.spans = spans, .cap = cap < 0 ? 0 : cap, .n = 0};
    int64_t seek = offset_cs + window_cs;
    int rc;
    if (!timestamps) rc = add_span(&l, v, tokens, 0, used, offset_cs, offset_cs + window_cs);
    else if (has_pair(v, tokens, used)) rc = split_at_pairs(v, tokens, used, offset_cs, window_cs, &l, &seek);
    else rc = one_timed_segment(v, tokens, used, offset_cs, window_cs, &l, &seek);
    if (rc != 0) return r1_error_set(err, "whisper segments: more than %d segments", cap);
    *n_spans = l.n;
    *seek_cs = seek > offset_cs ? seek : offset_cs + window_cs;
    return 0;
}
