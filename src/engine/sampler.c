/*
 * sampler.c - choosing the next token from logits (r1_sampler in r1.h).
 *
 * The pipeline, in the usual order: repetition penalties on the logits of
 * recently emitted tokens, then (unless greedy) temperature, top-k, softmax,
 * top-p, min-p, and a draw from the remaining distribution with the
 * sampler's own seeded generator, so a seeded run is reproducible.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "r1.h"
#include "tensor/ops.h"

struct r1_sampler {
    r1_sampler_params params;
    int n_vocab;
    int32_t *history;       /* ring of the last repeat_last_n tokens */
    int history_len, history_next, history_cap;
    int *counts;            /* emitted count per token, for presence/frequency */
    float *work_logits;     /* [n_vocab] */
    int32_t *work_ids;      /* [n_vocab] */
    double *work_probs;     /* [n_vocab] */
    float *work_exp;        /* [n_vocab] */
    uint64_t rng;
};

r1_sampler_params r1_sampler_default_params(void) {
    r1_sampler_params p = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                           .repeat_penalty = 1.0f, .repeat_last_n = 64, .presence_penalty = 0.0f,
                           .frequency_penalty = 0.0f, .seed = 0};
    return p;
}

r1_sampler *r1_sampler_new(const r1_sampler_params *params, int n_vocab) {
    r1_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->params = *params;
    s->n_vocab = n_vocab;
    s->history_cap = params->repeat_last_n > 0 ? params->repeat_last_n : 1;
    s->history = calloc((size_t)s->history_cap, sizeof(int32_t));
    s->counts = calloc((size_t)n_vocab, sizeof(int));
    s->work_logits = malloc((size_t)n_vocab * sizeof(float));
    s->work_ids = malloc((size_t)n_vocab * sizeof(int32_t));
    s->work_probs = malloc((size_t)n_vocab * sizeof(double));
    s->work_exp = malloc((size_t)n_vocab * sizeof(float));
    s->rng = params->seed ^ 0x5DEECE66Dull;
    if (!s->history || !s->counts || !s->work_logits || !s->work_ids || !s->work_probs || !s->work_exp) {
        r1_sampler_free(s);
        return NULL;
    }
    return s;
}

void r1_sampler_free(r1_sampler *s) {
    if (!s) return;
    free(s->history);
    free(s->counts);
    free(s->work_logits);
    free(s->work_ids);
    free(s->work_probs);
    free(s->work_exp);
    free(s);
}

void r1_sampler_accept(r1_sampler *s, int32_t token) {
    if (token < 0 || token >= s->n_vocab) return;
    s->counts[token]++;
    if (s->params.repeat_last_n <= 0) return; /* 0: no repetition window */
    s->history[s->history_next] = token;
    s->history_next = (s->history_next + 1) % s->history_cap;
    if (s->history_len < s->history_cap) s->history_len++;
}

/* The first index of the largest value, in two passes that vectorise (a
 * loop that tracks value and index together stalls on its compare chain:
 * ~5% of the engine thread when serving 32 streams). */
int32_t r1_argmax(const float *x, int n) {
    float max = r1_max(x, n);
    for (int i = 0; i < n; i++)
        if (x[i] == max) return i;
    return 0; /* x[0] is NaN */
}

/* splitmix64: small, fast, and the same sequence on every platform. */
static double next_uniform(r1_sampler *s) {
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static void apply_penalties(r1_sampler *s, float *logits) {
    const r1_sampler_params *p = &s->params;
    if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0.0f) {
        /* Penalise each distinct recent token once. */
        for (int i = 0; i < s->history_len; i++) {
            int32_t t = s->history[i];
            bool seen = false;
            for (int j = 0; j < i && !seen; j++) seen = s->history[j] == t;
            if (seen) continue;
            logits[t] = logits[t] > 0 ? logits[t] / p->repeat_penalty : logits[t] * p->repeat_penalty;
        }
    }
    if (p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f)
        for (int t = 0; t < s->n_vocab; t++)
            if (s->counts[t] > 0)
                logits[t] -= p->presence_penalty + p->frequency_penalty * (float)s->counts[t];
}

/* Orders candidate ids by logit, descending; ties: lower id first. */
static bool ranks_before(const float *logits, int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

static int compare_by_logit(const void *a, const void *b, void *logits) {
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    if (ia == ib) return 0;
    return ranks_before(logits, ia, ib) ? -1 : 1;
}

/* Restores the heap property below slot i of a heap whose root is the
 * worst-ranked candidate. */
static void sift_down(int32_t *heap, int n, int i, const float *logits) {
    for (;;) {
        int worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_before(logits, heap[worst], heap[l])) worst = l;
        if (r < n && ranks_before(logits, heap[worst], heap[r])) worst = r;
        if (worst == i) return;
        int32_t t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

/* Puts the k best ids in work_ids[0..k), sorted best first, and returns k.
 * With a top-k limit this keeps a k-entry heap (one pass over the
 * vocabulary) instead of sorting all of it. */
static int top_candidates(r1_sampler *s, const float *logits, int k) {
    int n = s->n_vocab;
    if (k <= 0 || k > n) k = n;
    int32_t *ids = s->work_ids;
    if (k == n) {
        for (int i = 0; i < n; i++) ids[i] = i;
    } else {
        for (int i = 0; i < k; i++) ids[i] = i;
        for (int i = k / 2 - 1; i >= 0; i--) sift_down(ids, k, i, logits);
        for (int i = k; i < n; i++)
            if (ranks_before(logits, i, ids[0])) {
                ids[0] = i;
                sift_down(ids, k, 0, logits);
            }
    }
    qsort_r(ids, (size_t)k, sizeof(int32_t), compare_by_logit, (void *)logits);
    return k;
}

/* Draws from softmax(logits / T) over the whole vocabulary: no ordering
 * is needed when nothing cuts the tail (top_k, top_p and min_p off). */
static int32_t sample_whole_vocabulary(r1_sampler *s, float *logits, float temperature) {
    /* the weights exp(l/T - max/T), in place, by the vectorised exp: one
     * call of libm's exp per token of the vocabulary took ~1 ms per step */
    const float inverse = 1.0f / temperature;
    for (int i = 0; i < s->n_vocab; i++) logits[i] *= inverse;
    double total = r1_exp_shifted(logits, logits, s->n_vocab, r1_max(logits, s->n_vocab));
    double r = next_uniform(s) * total;
    for (int i = 0; i < s->n_vocab; i++) {
        r -= logits[i];
        if (r < 0) return i;
    }
    return s->n_vocab - 1;
}

/* How many candidates, best first, must be ranked to apply top-k, top-p and
 * min-p exactly. Ranking the whole vocabulary (150k ids) costs milliseconds
 * per token, so a short list is tried first: it suffices when the top-p cut
 * or the min-p cut falls inside it. Returns the count ranked (in work_ids). */
enum { SHORTLIST = 1024 };

/* sum over the vocabulary of exp((l - max) / T), by the vectorised exp. */
static double vocabulary_weight(r1_sampler *s, const float *logits, float max, float temperature) {
    const float inverse = 1.0f / temperature;
    for (int i = 0; i < s->n_vocab; i++) s->work_exp[i] = logits[i] * inverse;
    return r1_exp_shifted(s->work_exp, s->work_exp, s->n_vocab, max * inverse);
}

static int rank_candidates(r1_sampler *s, const float *logits) {
    const r1_sampler_params *p = &s->params;
    int k = p->top_k > 0 && p->top_k < s->n_vocab ? p->top_k : s->n_vocab;
    if (k <= SHORTLIST || p->top_k > 0) return top_candidates(s, logits, k);
    int n = top_candidates(s, logits, SHORTLIST);
    float max = logits[s->work_ids[0]], last = logits[s->work_ids[n - 1]];
    double total = 0.0, head = 0.0;
    total = vocabulary_weight(s, logits, max, p->temperature);
    for (int i = 0; i < n; i++) head += exp((double)(logits[s->work_ids[i]] - max) / p->temperature);
    bool top_p_inside = p->top_p < 1.0f && head / total >= p->top_p + 1e-9;
    bool min_p_inside = p->min_p > 0.0f && exp((double)(last - max) / p->temperature) < p->min_p;
    if (top_p_inside || min_p_inside) return n;
    return top_candidates(s, logits, k);
}

int32_t r1_sampler_sample(r1_sampler *s, const float *logits_in) {
    const r1_sampler_params *p = &s->params;
    float *logits = s->work_logits;
    memcpy(logits, logits_in, (size_t)s->n_vocab * sizeof(float));
    apply_penalties(s, logits);
    if (p->temperature <= 0.0f) return r1_argmax(logits, s->n_vocab);
    if (p->top_k <= 0 && p->top_p >= 1.0f && p->min_p <= 0.0f) return sample_whole_vocabulary(s, logits, p->temperature);

    int n = rank_candidates(s, logits);
    /* softmax over the candidates at temperature T, by rank; with a short
     * list, normalised over the whole vocabulary as if all were ranked */
    double *probs = s->work_probs;
    double max = logits[s->work_ids[0]] / p->temperature, sum = 0.0;
    bool all = n == s->n_vocab || p->top_k > 0; /* else a short list of the whole vocabulary */
    for (int i = 0; i < n; i++) {
        probs[i] = exp(logits[s->work_ids[i]] / p->temperature - max);
        sum += probs[i];
    }
    if (!all) sum = vocabulary_weight(s, logits, logits[s->work_ids[0]], p->temperature);
    for (int i = 0; i < n; i++) probs[i] /= sum;
    int keep = n;
    if (p->top_p < 1.0f) {
        double cumulative = 0.0;
        for (int i = 0; i < n; i++) {
            cumulative += probs[i];
            if (cumulative >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        int i = 1;
        while (i < keep && probs[i] >= p->min_p * probs[0]) i++;
        keep = i;
    }
    double total = 0.0;
    for (int i = 0; i < keep; i++) total += probs[i];
    double r = next_uniform(s) * total;
    int32_t chosen = s->work_ids[keep - 1];
    for (int i = 0; i < keep; i++) {
        r -= probs[i];
        if (r < 0) {
            chosen = s->work_ids[i];
            break;
        }
    }
    return chosen;
}
