/*
 * transcribe.c - the Whisper decoding loop: audio is cut into 30-second
 * windows of log-mel; each window is encoded once, then decoded token by
 * token under the rules of whisper_rules.h, retried at a higher
 * temperature when the result repeats itself or is improbable, and split
 * into timed segments. The next window starts where the last complete
 * segment ended, and the text so far conditions it (as OpenAI's
 * transcribe.py and whisper.cpp do).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/asr_internal.h"
#include "audio/mel.h"

#define WINDOW_FRAMES 3000      /* 30 s of mel frames; one frame = 1 cs */
#define MIN_WINDOW_FRAMES 10    /* a tail shorter than 0.1 s is not decoded */
#define MAX_INITIAL_TIMESTAMP_S 1.0f

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- one try at one window ---- */

typedef struct window_try {
    int32_t *tokens;   /* sampled, eot included when reached */
    float *logprobs;
    int n;
    float no_speech_prob;
} window_try;

typedef struct loop {
    r1_asr *asr;
    const r1_transcribe_options *o;
    const whisper_vocab *v;
    int n_vocab;
    float *logits, *work;       /* [n_vocab] */
    int32_t *past;              /* earlier windows' tokens, conditioning the next */
    int n_past;
    int language_token;         /* -1 for English-only models */
    int64_t encoded_at;         /* the window the state holds, -1: none */
    uint64_t rng;
} loop;

static uint64_t next_random(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Picks the next token from filtered logits: the argmax at temperature 0,
 * else a draw from their softmax; *logprob gets its log-probability. */
static int pick_token(loop *L, const float *x, float temperature, float *logprob) {
    int n = L->n_vocab, best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += isinf(x[i]) ? 0.0 : exp((double)(x[i] - x[best]));
    int chosen = best;
    if (temperature > 0.0f) {
        double r = (double)(next_random(&L->rng) >> 11) / 9007199254740992.0 * sum, acc = 0.0;
        for (int i = 0; i < n; i++) {
            if (isinf(x[i])) continue;
            acc += exp((double)(x[i] - x[best]));
            chosen = i;
            if (acc > r) break;
        }
    }
    *logprob = (float)((double)(x[chosen] - x[best]) - log(sum));
    return chosen;
}

/* The prompt of a window: earlier text (at most half the context), then
 * sot, language, task, and notimestamps when asked. */
static int build_prompt(const loop *L, int32_t *prompt, int cap) {
    const whisper_vocab *v = L->v;
    int n = 0, keep = L->n_past;
    int limit = L->asr->model.hp.n_text_ctx / 2 - 1;
    if (keep > limit) keep = limit;
    if (keep > 0) {
        prompt[n++] = v->prev;
        memcpy(prompt + n, L->past + L->n_past - keep, (size_t)keep * sizeof(int32_t));
        n += keep;
    }
    prompt[n++] = v->sot;
    if (L->language_token >= 0) {
        prompt[n++] = L->language_token;
        prompt[n++] = L->o->translate ? v->translate : v->transcribe;
    }
    if (L->o->no_timestamps) prompt[n++] = v->notimestamps;
    (void)cap;
    return n;
}

static int decode_window(loop *L, float temperature, window_try *t, r1_error *err) {
    whisper_state *s = &L->asr->state;
    const whisper_hparams *hp = &L->asr->model.hp;
    int32_t prompt[512];
    int n_prompt = build_prompt(L, prompt, 512);
    int max_sampled = L->o->max_tokens > 0 && L->o->max_tokens < hp->n_text_ctx / 2 ? L->o->max_tokens
                                                                                    : hp->n_text_ctx / 2;
    if (max_sampled > hp->n_text_ctx - n_prompt) max_sampled = hp->n_text_ctx - n_prompt;
    whisper_decode_rewind(s, 0);
    if (whisper_decode(s, prompt, n_prompt, NULL, L->logits, err) != 0) return -1;
    t->no_speech_prob = whisper_no_speech_prob(L->v, L->logits);
    t->n = 0;
    while (t->n < max_sampled) {
        if (L->o->should_stop && L->o->should_stop(L->o->user))
            return r1_error_set(err, "stopped before the end"), R1_ASR_STOPPED;
        for (int i = 0; i < L->n_vocab; i++) L->work[i] = temperature > 0 ? L->logits[i] / temperature : L->logits[i];
        whisper_rules_apply(L->asr->rules, L->work, t->tokens, t->n, !L->o->no_timestamps, MAX_INITIAL_TIMESTAMP_S);
        int32_t token = pick_token(L, L->work, temperature, &t->logprobs[t->n]);
        t->tokens[t->n++] = token;
        if (token == L->v->eot || s->n_past >= hp->n_text_ctx) break;
        if (whisper_decode(s, &token, 1, NULL, L->logits, err) != 0) return -1;
    }
    return 0;
}

/* ---- segments ---- */

static int add_segments(loop *L, const window_try *t, float temperature, int64_t offset_cs, int64_t window_cs,
                        double duration, r1_transcript *out, int64_t *seek_cs, r1_error *err) {
    whisper_segment_span spans[256];
    int n_spans = 0, n = t->n;
    whisper_window_stats stats;
    whisper_window_stats_compute(t->tokens, t->logprobs, t->n, t->no_speech_prob, &stats);
    if (n > 256) n = 256;
    if (whisper_window_segments(L->v, t->tokens, n, !L->o->no_timestamps, offset_cs, window_cs, spans, 256, &n_spans,
                                seek_cs, err) != 0)
        return -1;
    for (int i = 0; i < n_spans; i++) {
        whisper_text text;
        whisper_text_init(&text);
        int32_t ids[256];
        int n_ids = 0;
        for (int j = spans[i].first; j < spans[i].end; j++) {
            if (t->tokens[j] >= L->v->eot) continue;
            ids[n_ids++] = t->tokens[j];
            if (whisper_text_append_token(&text, L->v, t->tokens[j], err) != 0) {
                whisper_text_free(&text);
                return -1;
            }
        }
        if (whisper_text_finish(&text, err) != 0) {
            whisper_text_free(&text);
            return -1;
        }
        double start = spans[i].t0_cs / 100.0, end = spans[i].t1_cs / 100.0;
        if (end > duration) end = duration;
        if (start > end) start = end;
        int rc = asr_transcript_add(out, start, end, text.data ? text.data : "", ids, n_ids, (float)stats.avg_logprob,
                                    t->no_speech_prob, temperature, err);
        if (rc == 0 && L->o->on_segment) L->o->on_segment(L->o->user, start, end, text.data ? text.data : "");
        whisper_text_free(&text);
        if (rc != 0) return -1;
    }
    return 0;
}

/* Earlier text for the next window: this window's tokens (not eot), or
 * nothing after a high-temperature try (its text is not to be trusted). */
static void remember(loop *L, const window_try *t, float temperature) {
    if (temperature > 0.5f) {
        L->n_past = 0;
        return;
    }
    for (int i = 0; i < t->n; i++) {
        if (t->tokens[i] == L->v->eot) break;
        if (L->n_past == L->asr->model.hp.n_text_ctx) {
            int drop = L->n_past / 2;
            memmove(L->past, L->past + drop, (size_t)(L->n_past - drop) * sizeof(int32_t));
            L->n_past -= drop;
        }
        L->past[L->n_past++] = t->tokens[i];
    }
}

/* ---- language ---- */

static int choose_language(loop *L, const whisper_mel *mel, r1_transcript *out, r1_error *err) {
    const whisper_vocab *v = L->v;
    if (!v->multilingual) {
        L->language_token = -1;
        snprintf(out->language, sizeof out->language, "en");
        out->language_probability = 1.0f;
        return 0;
    }
    const char *code = L->o->language;
    if (code && *code && strcmp(code, "auto") != 0) {
        int index = whisper_language_index(v, code);
        if (index < 0) return r1_error_set(err, "unknown language '%s' (expected a code such as en, zh, de)", code);
        L->language_token = v->lang_first + index;
        snprintf(out->language, sizeof out->language, "%s", code);
        out->language_probability = 1.0f;
        return 0;
    }
    /* detect from the first window */
    whisper_state *s = &L->asr->state;
    double t0 = now_seconds();
    if (whisper_encode(s, mel->data, mel->n_len, mel->n_len, 0, err) != 0) return -1;
    out->encode_seconds += now_seconds() - t0;
    L->encoded_at = 0;
    int32_t sot = v->sot;
    if (whisper_decode(s, &sot, 1, NULL, L->logits, err) != 0) return -1;
    float p = 0.0f;
    int index = whisper_detect_language(v, L->logits, &p, NULL);
    if (index < 0) index = 0;
    L->language_token = v->lang_first + index;
    snprintf(out->language, sizeof out->language, "%s", whisper_language_code(index));
    out->language_probability = p;
    return 0;
}

/* ---- the loop ---- */

static int run_windows(loop *L, const whisper_mel *mel, double duration, r1_transcript *out, r1_error *err) {
    whisper_fallback_params fallback = whisper_fallback_defaults();
    int n_text_ctx = L->asr->model.hp.n_text_ctx;
    window_try t = {.tokens = malloc((size_t)n_text_ctx * sizeof(int32_t)),
                    .logprobs = malloc((size_t)n_text_ctx * sizeof(float))};
    int rc = (t.tokens && t.logprobs) ? 0 : r1_error_set(err, "out of memory");
    int64_t seek = 0, end = mel->n_len_original;
    while (rc == 0 && end - seek >= MIN_WINDOW_FRAMES) {
        int64_t window = end - seek < WINDOW_FRAMES ? end - seek : WINDOW_FRAMES;
        double t0 = now_seconds();
        if (L->encoded_at != seek &&
            whisper_encode(&L->asr->state, mel->data, mel->n_len, mel->n_len, (int)seek, err) != 0) {
            rc = -1;
            break;
        }
        L->encoded_at = -1;
        double t1 = now_seconds();
        out->encode_seconds += t1 - t0;
        out->n_windows++;
        float temperature = L->o->temperature, next = temperature;
        whisper_window_verdict verdict = WHISPER_WINDOW_ACCEPT;
        for (;;) {
            rc = decode_window(L, temperature, &t, err);
            if (rc != 0) break;
            whisper_window_stats stats;
            whisper_window_stats_compute(t.tokens, t.logprobs, t.n, t.no_speech_prob, &stats);
            verdict = whisper_judge_window(&stats, temperature, &fallback, &next);
            if (verdict != WHISPER_WINDOW_RETRY || L->o->no_fallback) break;
            out->n_fallbacks++;
            temperature = next;
        }
        out->decode_seconds += now_seconds() - t1;
        if (rc != 0) break;
        if (verdict == WHISPER_WINDOW_SILENCE) {
            seek += window;
            continue;
        }
        int64_t seek_next = seek + window;
        rc = add_segments(L, &t, temperature, seek, window, duration, out, &seek_next, err);
        remember(L, &t, temperature);
        seek = seek_next > seek ? seek_next : seek + window;
    }
    free(t.tokens);
    free(t.logprobs);
    return rc;
}

static int condition_on_prompt(loop *L, r1_error *err) {
    const char *prompt = L->o->prompt;
    if (!prompt || !*prompt) return 0;
    int limit = L->asr->model.hp.n_text_ctx / 2 - 1;
    int n = whisper_tokenize(L->asr->token_index, prompt, strlen(prompt), L->past, L->asr->model.hp.n_text_ctx, err);
    if (n < 0) return -1;
    if (n > limit) { /* keep the end of a long prompt, as the model would see it */
        memmove(L->past, L->past + (n - limit), (size_t)limit * sizeof(int32_t));
        n = limit;
    }
    L->n_past = n;
    return 0;
}

int asr_transcribe_samples(r1_asr *asr, const float *samples, long n_samples, const r1_transcribe_options *o,
                           r1_transcript *out, r1_error *err) {
    const whisper_model *m = &asr->model;
    loop L = {.asr = asr, .o = o, .v = &m->vocab, .n_vocab = m->hp.n_vocab, .rng = o->seed ? o->seed : 1,
              .encoded_at = -1};
    L.logits = malloc((size_t)L.n_vocab * sizeof(float));
    L.work = malloc((size_t)L.n_vocab * sizeof(float));
    L.past = malloc((size_t)m->hp.n_text_ctx * sizeof(int32_t));
    whisper_mel mel = {0};
    int rc = (L.logits && L.work && L.past) ? 0 : r1_error_set(err, "out of memory");
    double t0 = now_seconds(), duration = (double)n_samples / WHISPER_SAMPLE_RATE;
    if (rc == 0)
        rc = whisper_mel_compute(samples, n_samples, m->mel_filters, m->hp.n_mels, m->n_fft_bins,
                                 r1_threadpool_size(asr->compute.pool), &mel, err);
    out->mel_seconds += now_seconds() - t0;
    if (rc == 0) rc = condition_on_prompt(&L, err);
    if (rc == 0) rc = choose_language(&L, &mel, out, err);
    if (rc == 0) rc = run_windows(&L, &mel, duration, out, err);
    whisper_mel_free(&mel);
    free(L.logits);
    free(L.work);
    free(L.past);
    return rc;
}
