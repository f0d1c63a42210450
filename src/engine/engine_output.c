/*
 * engine_output.c - from a sequence's logits to the text its client sees:
 * logit bias, sampling, log-probabilities, incremental detokenization (never
 * half a UTF-8 character), stop strings, the reasoning/answer split, and the
 * request's callback with one event per step.
 *
 * Text flows detokenizer -> stop-string matcher -> reasoning parser -> the
 * step's reasoning or content buffer. Stop strings are matched on the whole
 * generated text (as OpenAI does), before the split.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tensor/ops.h"

/* ---- collecting a step's text ---- */

static void append(char **buf, size_t *len, size_t *cap, bool *failed, const char *text, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2;
        char *p = realloc(*buf, want);
        if (!p) {
            *failed = true;
            return;
        }
        *buf = p;
        *cap = want;
    }
    memcpy(*buf + *len, text, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void to_reasoning(void *user, const char *text, size_t n) {
    engine_slot *s = user;
    append(&s->reasoning_text, &s->reasoning_len, &s->reasoning_cap, &s->text_failed, text, n);
}

static void to_content(void *user, const char *text, size_t n) {
    engine_slot *s = user;
    append(&s->content_text, &s->content_len, &s->content_cap, &s->text_failed, text, n);
}

/* What the stop matcher lets through goes to the reasoning parser, or
 * straight to the content when the request does not split. */
static void after_stops(void *user, const char *text, size_t n) {
    engine_slot *s = user;
    if (s->request->params.split_reasoning) r1_reasoning_feed(&s->reasoning, text, n);
    else to_content(user, text, n);
}

/* ---- per-request state ---- */

int engine_slot_output_begin(r1_engine *e, engine_slot *slot, r1_error *err) {
    const r1_generation_params *p = &slot->request->params;
    slot->sampler = r1_sampler_new(&p->sampling, e->n_vocab);
    if (!slot->sampler) return r1_error_set(err, "out of memory creating a sampler");
    if ((p->n_bias > 0 || p->top_logprobs >= 0) && !slot->logits_scratch) {
        slot->logits_scratch = malloc((size_t)e->n_vocab * sizeof(float));
        if (!slot->logits_scratch) return r1_error_set(err, "out of memory");
    }
    r1_detok_stream_init(&slot->detok, e->tok);
    r1_stop_init(&slot->stops, p->stops, (size_t)p->n_stops);
    r1_reasoning_init(&slot->reasoning, p->starts_in_reasoning, to_reasoning, to_content, slot);
    slot->n_generated = slot->n_reasoning = 0;
    slot->reasoning_len = slot->content_len = 0;
    slot->text_failed = false;
    return 0;
}

void engine_slot_output_end(engine_slot *slot) {
    r1_sampler_free(slot->sampler);
    slot->sampler = NULL;
    r1_detok_stream_free(&slot->detok);
    r1_stop_free(&slot->stops);
}

/* ---- log-probabilities ---- */

/* log-softmax normaliser of the logits: max + log(sum exp(l - max)), over
 * the vectorised max and exp (0.06 ms for 151,936 logits against 0.56 ms
 * with libm's double exp; the two normalisers differ by ~7e-6). The exps
 * go to scratch (n floats). */
static double log_normaliser(const float *logits, int n, float *scratch) {
    float max = r1_max(logits, n);
    return max + log((double)r1_exp_shifted(scratch, logits, n, max));
}

/* The k most likely tokens, best first (insertion into a short sorted list). */
static int top_tokens(const float *logits, int n_vocab, int k, double norm, r1_token_logprob *out) {
    int n = 0;
    if (k <= 0) return 0;
    for (int t = 0; t < n_vocab; t++) {
        if (n == k && logits[t] <= out[k - 1].logprob) continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && out[i - 1].logprob < logits[t]) {
            out[i] = out[i - 1];
            i--;
        }
        out[i].token = t;
        out[i].logprob = logits[t];
    }
    for (int i = 0; i < n; i++) out[i].logprob = (float)(out[i].logprob - norm);
    return n;
}

/* ---- one step ---- */

static void send_event(r1_engine *e, engine_slot *slot, r1_generation_event *ev) {
    (void)e;
    ev->reasoning = slot->reasoning_len ? slot->reasoning_text : NULL;
    ev->reasoning_len = slot->reasoning_len;
    ev->content = slot->content_len ? slot->content_text : NULL;
    ev->content_len = slot->content_len;
    ev->n_prompt = slot->request->n_prompt;
    ev->n_prompt_cached = slot->n_prompt_cached;
    ev->n_generated = slot->n_generated;
    ev->n_reasoning = slot->n_reasoning;
    ev->queue_seconds = slot->request->queue_seconds;
    slot->request->callback(slot->request->user, ev);
    slot->reasoning_len = slot->content_len = 0;
}

static const float *apply_bias(engine_slot *slot, const float *logits, int n_vocab) {
    const r1_generation_params *p = &slot->request->params;
    if (p->n_bias == 0) return logits;
    memcpy(slot->logits_scratch, logits, (size_t)n_vocab * sizeof(float));
    for (int i = 0; i < p->n_bias; i++) slot->logits_scratch[p->bias_tokens[i]] += p->bias_values[i];
    return slot->logits_scratch;
}

void engine_slot_choose(r1_engine *e, engine_slot *slot, const float *logits) {
    const r1_generation_params *p = &slot->request->params;
    int32_t token = r1_sampler_sample(slot->sampler, apply_bias(slot, logits, e->n_vocab));
    r1_sampler_accept(slot->sampler, token);
    slot->chosen = (r1_generation_event){.token = token};
    if (p->top_logprobs >= 0) {
        /* the sampler is done with the biased logits: the scratch is free */
        double norm = log_normaliser(logits, e->n_vocab, slot->logits_scratch);
        slot->chosen.sampled.token = token;
        slot->chosen.sampled.logprob = (float)(logits[token] - norm);
        slot->chosen.n_top = top_tokens(logits, e->n_vocab, p->top_logprobs, norm, slot->chosen_top);
        slot->chosen.top = slot->chosen_top;
    }
}

r1_finish_reason engine_slot_emit(r1_engine *e, engine_slot *slot) {
    const r1_generation_params *p = &slot->request->params;
    const int32_t token = slot->chosen.token;
    slot->next_token = token;
    slot->n_generated++;
    if (p->split_reasoning && slot->reasoning.in_reasoning) slot->n_reasoning++;

    r1_finish_reason finish = R1_FINISH_NONE;
    if (!p->ignore_eos && r1_token_is_eog(e->tok, token)) {
        finish = R1_FINISH_STOP;
    } else {
        const char *text;
        size_t len;
        r1_error err;
        if (r1_detok_stream_feed(&slot->detok, token, &text, &len, &err) == 0 && len &&
            r1_stop_feed(&slot->stops, text, len, after_stops, slot))
            finish = R1_FINISH_STOP;
    }
    if (finish == R1_FINISH_NONE && slot->n_generated >= p->max_tokens) finish = R1_FINISH_LENGTH;
    if (finish == R1_FINISH_NONE && slot->n_tokens >= e->params.n_ctx_seq) finish = R1_FINISH_LENGTH;
    send_event(e, slot, &slot->chosen);
    return finish;
}

void engine_slot_finish(r1_engine *e, engine_slot *slot, r1_finish_reason finish, const char *error) {
    const char *text;
    size_t len;
    r1_error err;
    if (!slot->stops.stopped && r1_detok_stream_flush(&slot->detok, &text, &len, &err) == 0 && len)
        r1_stop_feed(&slot->stops, text, len, after_stops, slot);
    if (!slot->stops.stopped) r1_stop_flush(&slot->stops, after_stops, slot);
    if (slot->request->params.split_reasoning) r1_reasoning_finish(&slot->reasoning);
    if (slot->text_failed && finish != R1_FINISH_CANCELLED) {
        finish = R1_FINISH_ERROR;
        error = "out of memory collecting the generated text";
    }
    r1_generation_event ev = {.token = -1, .done = true, .finish = finish, .error = error};
    send_event(e, slot, &ev);
}
