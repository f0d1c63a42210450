/*
 * engine.c - the engine thread (r1_engine in r1.h): a bounded queue of
 * requests, admission into the context's sequences ("slots"), and the step
 * loop of continuous batching.
 *
 * One step: drop cancelled requests, admit waiting ones while a slot and
 * enough cache are free, put one row per decoding sequence and chunks of
 * the prompts being prefilled into one batch, run it, and let every
 * sequence that got logits sample its next token (engine_output.c).
 *
 * Admission never over-commits the cache: a request is admitted only when
 * the blocks for its whole prompt + max_tokens are unpromised, so a running
 * sequence never finds the cache full. Finished sequences keep their cache
 * (idle slots) so a follow-up request with the same beginning - the next
 * turn of a chat, or another user with the same system prompt - reuses it;
 * idle caches are evicted, least recently used first, when room is needed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "engine/engine.h"
#include "model/context.h"  /* r1_run_rows */
#include "model/kv_cache.h" /* R1_KV_BLOCK_TOKENS */

r1_engine_params r1_engine_default_params(void) {
    r1_engine_params p = {.n_threads = 0, .n_parallel = 32, .n_ctx_seq = 0, .n_cache_positions = 0,
                          .n_queue = 256, .n_batch = 512, .n_prefill_chunk = 128, .exact = false,
                          .kv_type = R1_KV_DEFAULT};
    return p;
}

r1_generation_params r1_generation_default_params(void) {
    r1_generation_params p = {.sampling = r1_sampler_default_params(), .max_tokens = 256, .top_logprobs = -1};
    return p;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int blocks_for(int positions) { return (positions + R1_KV_BLOCK_TOKENS - 1) / R1_KV_BLOCK_TOKENS; }

/* ---- requests ---- */

static void request_free(r1_request *r) {
    for (int i = 0; r->stop_copies && i < r->params.n_stops; i++) free(r->stop_copies[i]);
    free(r->stop_copies);
    free(r->stop_list);
    free(r->bias_tokens);
    free(r->bias_values);
    free(r->prompt);
    free(r);
}

void r1_request_release(r1_request *r) {
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) request_free(r);
}

void r1_request_cancel(r1_request *r) {
    if (r) atomic_store(&r->cancelled, true);
}

/* Copies what the caller owns so the request outlives the call. */
static r1_request *request_new(const int32_t *prompt, int n_prompt, const r1_generation_params *p) {
    r1_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->refs, 2); /* the submitter's and the engine's */
    atomic_init(&r->cancelled, false);
    r->params = *p;
    r->n_prompt = n_prompt;
    r->prompt = malloc((size_t)n_prompt * sizeof(int32_t));
    bool ok = r->prompt != NULL;
    if (ok) memcpy(r->prompt, prompt, (size_t)n_prompt * sizeof(int32_t));
    if (ok && p->n_stops > 0) {
        r->stop_copies = calloc((size_t)p->n_stops, sizeof(char *));
        r->stop_list = calloc((size_t)p->n_stops, sizeof(char *));
        ok = r->stop_copies && r->stop_list;
        for (int i = 0; ok && i < p->n_stops; i++) ok = (r->stop_list[i] = r->stop_copies[i] = strdup(p->stops[i]));
        r->params.stops = (const char *const *)r->stop_list;
    }
    if (ok && p->n_bias > 0) {
        r->bias_tokens = malloc((size_t)p->n_bias * sizeof(int32_t));
        r->bias_values = malloc((size_t)p->n_bias * sizeof(float));
        ok = r->bias_tokens && r->bias_values;
        if (ok) {
            memcpy(r->bias_tokens, p->bias_tokens, (size_t)p->n_bias * sizeof(int32_t));
            memcpy(r->bias_values, p->bias_values, (size_t)p->n_bias * sizeof(float));
        }
        r->params.bias_tokens = r->bias_tokens;
        r->params.bias_values = r->bias_values;
    }
    if (!ok) {
        request_free(r);
        return NULL;
    }
    return r;
}

static int check_request(const r1_engine *e, const int32_t *prompt, int n_prompt, const r1_generation_params *p,
                         r1_error *err) {
    if (n_prompt < 1) return r1_error_set(err, "the prompt is empty");
    for (int i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= e->n_vocab)
            return r1_error_set(err, "prompt token %d (id %d) is outside the vocabulary [0, %d)", i, prompt[i],
                                e->n_vocab);
    if (p->max_tokens < 1) return r1_error_set(err, "max_tokens must be at least 1");
    if ((long)n_prompt + p->max_tokens > e->params.n_ctx_seq)
        return r1_error_set(err, "%d prompt tokens + %d max_tokens exceed the context size %d", n_prompt,
                            p->max_tokens, e->params.n_ctx_seq);
    if (p->n_stops < 0 || p->n_stops > R1_MAX_STOP_STRINGS)
        return r1_error_set(err, "at most %d stop strings", R1_MAX_STOP_STRINGS);
    if (p->top_logprobs > R1_MAX_TOP_LOGPROBS)
        return r1_error_set(err, "top_logprobs is at most %d", R1_MAX_TOP_LOGPROBS);
    for (int i = 0; i < p->n_bias; i++)
        if (p->bias_tokens[i] < 0 || p->bias_tokens[i] >= e->n_vocab)
            return r1_error_set(err, "logit bias for token %d, outside the vocabulary", p->bias_tokens[i]);
    return 0;
}

/* What is accepted is bounded as a whole, running and waiting together:
 * a request that arrives while a slot is free waits for the engine thread
 * to admit it, so counting only the queue would refuse everything with
 * n_queue 0. Requests may still wait beyond n_queue while slots are free
 * but the cache is not: the sum is what stays bounded. */
static bool engine_full_locked(const r1_engine *e) {
    return e->n_waiting + e->n_admitted >= e->params.n_parallel + e->params.n_queue;
}

int r1_engine_submit(r1_engine *e, const int32_t *prompt, int n_prompt, const r1_generation_params *p,
                     r1_generation_callback callback, void *user, r1_request **out, r1_error *err) {
    *out = NULL;
    if (check_request(e, prompt, n_prompt, p, err) != 0) return -1;
    r1_request *r = request_new(prompt, n_prompt, p);
    if (!r) return r1_error_set(err, "out of memory queueing a request");
    r->callback = callback;
    r->user = user;
    r->submitted_at = now_seconds();
    pthread_mutex_lock(&e->lock);
    int rc = 0;
    if (e->stopping) rc = r1_error_set(err, "the engine is stopping");
    else if (engine_full_locked(e)) {
        rc = R1_ENGINE_BUSY;
        r1_error_set(err, "busy: %d running and %d waiting", e->n_admitted, e->n_waiting);
    } else {
        if (e->queue_tail) e->queue_tail->next = r;
        else e->queue_head = r;
        e->queue_tail = r;
        e->n_waiting++;
        e->stats.waiting = e->n_waiting;
        pthread_cond_signal(&e->wake);
    }
    pthread_mutex_unlock(&e->lock);
    if (rc != 0) {
        request_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- slots ---- */

static int slot_remember(engine_slot *s, const int32_t *tokens, int n) {
    if (n == 0) return 0; /* a prefill step may give a slot no rows; memcpy wants real pointers */
    if (s->n_tokens + n > s->cap_tokens) {
        int cap = (s->n_tokens + n) * 2;
        int32_t *p = realloc(s->tokens, (size_t)cap * sizeof(int32_t));
        if (!p) return -1;
        s->tokens = p;
        s->cap_tokens = cap;
    }
    memcpy(s->tokens + s->n_tokens, tokens, (size_t)n * sizeof(int32_t));
    s->n_tokens += n;
    return 0;
}

static void publish_stats(r1_engine *e);

/* Ends a slot's request: the slot turns idle (keeping its cache for later
 * reuse) and the stats say so before the final event goes out, so whoever
 * sees the end also sees the slot free. */
static void finish_slot(r1_engine *e, engine_slot *s, r1_finish_reason finish, const char *error) {
    s->phase = SLOT_IDLE;
    s->last_used = e->step;
    e->reserved_blocks -= s->reserved_blocks;
    s->reserved_blocks = 0;
    pthread_mutex_lock(&e->lock);
    e->n_admitted--;
    pthread_mutex_unlock(&e->lock);
    publish_stats(e);
    engine_slot_finish(e, s, finish, error);
    engine_slot_output_end(s);
    r1_request_release(s->request);
    s->request = NULL;
}

/* A request that never got a slot still gets its one final event. */
static void finish_unadmitted(r1_request *r, r1_finish_reason finish, const char *error) {
    r1_generation_event ev = {.token = -1, .done = true, .finish = finish, .error = error, .n_prompt = r->n_prompt};
    r->callback(r->user, &ev);
    r1_request_release(r);
}

static void forget_cache(r1_engine *e, engine_slot *s) {
    r1_seq_truncate(e->ctx, s->seq, 0);
    s->n_tokens = 0;
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* Picks the slot for a request and fills its cache with the longest
 * cached beginning of the prompt found in any sequence: in place when that
 * sequence is idle and most of its cache is reused, else by sharing its
 * blocks with another slot - an empty one first, then the least recently
 * used - so a short match does not wipe a long cached conversation. */
static engine_slot *place_request(r1_engine *e, r1_request *r) {
    engine_slot *best = NULL, *target = NULL;
    int best_len = 0;
    for (int i = 0; i < e->params.n_parallel; i++) {
        engine_slot *s = &e->slots[i];
        /* at least one prompt token must be fed to get logits */
        int n = common_prefix(s->tokens, s->n_tokens, r->prompt, r->n_prompt - 1);
        if (n > best_len) best_len = n, best = s;
        if (s->phase != SLOT_IDLE) continue;
        if (!target || (target->n_tokens > 0 && (s->n_tokens == 0 || s->last_used < target->last_used))) target = s;
    }
    bool reuse_in_place = best && best->phase == SLOT_IDLE && 2 * best_len >= best->n_tokens;
    if (reuse_in_place) target = best;
    if (target != best) {
        forget_cache(e, target);
        r1_error err;
        if (best && r1_seq_share_prefix(e->ctx, target->seq, best->seq, best_len, &err) == 0)
            slot_remember(target, best->tokens, best_len);
        else
            best_len = 0;
    }
    target->n_tokens = r1_seq_truncate(e->ctx, target->seq, best_len);
    target->n_prompt_cached = target->n_tokens;
    return target;
}

static bool has_idle_slot(const r1_engine *e) {
    for (int i = 0; i < e->params.n_parallel; i++)
        if (e->slots[i].phase == SLOT_IDLE) return true;
    return false;
}

static void start_request(r1_engine *e, r1_request *r) {
    r->queue_seconds = now_seconds() - r->submitted_at;
    engine_slot *s = place_request(e, r);
    s->request = r;
    s->phase = SLOT_PREFILL;
    s->logits_row = -1;
    s->reserved_blocks = blocks_for(r->n_prompt + r->params.max_tokens) + 1;
    e->reserved_blocks += s->reserved_blocks;
    pthread_mutex_lock(&e->lock); /* r1_engine_get_stats reads them from other threads */
    e->stats.prefix_queries++;
    if (s->n_prompt_cached > 0) e->stats.prefix_hits++;
    e->stats.prompt_tokens_cached += (uint64_t)s->n_prompt_cached;
    pthread_mutex_unlock(&e->lock);
    r1_error err;
    if (engine_slot_output_begin(e, s, &err) != 0) finish_slot(e, s, R1_FINISH_ERROR, err.message);
}

/* Moves waiting requests into free slots while the cache can hold them. */
static void admit_waiting(r1_engine *e) {
    while (has_idle_slot(e)) {
        pthread_mutex_lock(&e->lock);
        r1_request *r = e->queue_head;
        bool cancelled = r && atomic_load(&r->cancelled); /* read once: it may turn true at any time */
        bool fits = r && (cancelled || e->reserved_blocks + blocks_for(r->n_prompt + r->params.max_tokens) + 1 <=
                                           e->cache_blocks);
        if (fits) {
            e->queue_head = r->next;
            if (!e->queue_head) e->queue_tail = NULL;
            e->n_waiting--;
            if (!cancelled) e->n_admitted++;
        }
        pthread_mutex_unlock(&e->lock);
        if (!fits) return;
        if (cancelled) finish_unadmitted(r, R1_FINISH_CANCELLED, NULL);
        else start_request(e, r);
    }
}

static void drop_cancelled(r1_engine *e) {
    for (int i = 0; i < e->params.n_parallel; i++) {
        engine_slot *s = &e->slots[i];
        if (s->phase != SLOT_IDLE && atomic_load(&s->request->cancelled)) finish_slot(e, s, R1_FINISH_CANCELLED, NULL);
    }
}

/* ---- one step ---- */

static void add_row(r1_engine *e, int *n, int32_t token, int pos, int seq, bool logits) {
    e->batch_token[*n] = token;
    e->batch_pos[*n] = pos;
    e->batch_seq[*n] = seq;
    e->batch_logits[*n] = logits;
    (*n)++;
}

/* Makes room in the cache for `positions` new ones by evicting idle caches. */
static void evict_for(r1_engine *e, int positions) {
    while (r1_kv_cache_free_positions(e->ctx) < positions) {
        engine_slot *victim = NULL;
        for (int i = 0; i < e->params.n_parallel; i++) {
            engine_slot *s = &e->slots[i];
            if (s->phase == SLOT_IDLE && s->n_tokens > 0 && (!victim || s->last_used < victim->last_used)) victim = s;
        }
        if (!victim) return;
        forget_cache(e, victim);
    }
}

/* Decoding rows first (one each), then prompt chunks, oldest first. While
 * others decode, a prompt advances at most n_prefill_chunk rows a step. */
static int build_batch(r1_engine *e, int *prefill_take) {
    int n = 0, n_logits = 0;
    bool decoding = false;
    for (int i = 0; i < e->params.n_parallel; i++) {
        engine_slot *s = &e->slots[i];
        s->logits_row = -1;
        prefill_take[i] = 0;
        if (s->phase != SLOT_DECODE) continue;
        s->logits_row = n_logits++;
        add_row(e, &n, s->next_token, s->n_tokens, s->seq, true);
        decoding = true;
    }
    int budget = e->params.n_batch - n;
    if (decoding && budget > e->params.n_prefill_chunk) budget = e->params.n_prefill_chunk;
    for (int i = 0; i < e->params.n_parallel && budget > 0; i++) {
        engine_slot *s = &e->slots[i];
        if (s->phase != SLOT_PREFILL) continue;
        int left = s->request->n_prompt - s->n_tokens, take = left < budget ? left : budget;
        for (int k = 0; k < take; k++) {
            bool last = k == left - 1;
            add_row(e, &n, s->request->prompt[s->n_tokens + k], s->n_tokens + k, s->seq, last);
            if (last) s->logits_row = n_logits++;
        }
        prefill_take[i] = take;
        budget -= take;
    }
    return n;
}

/* Tells the on_step observer what this step did. */
static void report_step(r1_engine *e, int n, const int *prefill_take, double started) {
    if (!e->params.on_step) return;
    r1_engine_step step = {.rows = n, .seconds = now_seconds() - started};
    for (int i = 0; i < e->params.n_parallel; i++) {
        step.prefill_rows += prefill_take[i];
        step.sequences += prefill_take[i] > 0;
    }
    step.decode_rows = n - step.prefill_rows;
    step.sequences += step.decode_rows;
    e->params.on_step(e->params.on_step_user, &step);
}

/* Sequences [begin, end) of e->sampling choose their next token, on a
 * compute thread: with 32 sequences, sampling one after another on the
 * engine thread took ~4 % of a 2-thread step while the other thread
 * waited, and the share grows with the cores, as the step shrinks and the
 * sampling does not. */
static void choose_tokens(r1_context *ctx, void *arg, int begin, int end) {
    r1_engine *e = arg;
    for (int k = begin; k < end; k++) {
        engine_slot *s = e->sampling[k];
        engine_slot_choose(e, s, r1_get_logits(ctx, s->logits_row));
    }
}

static void run_step(r1_engine *e, int *prefill_take) {
    double started = now_seconds();
    int n = build_batch(e, prefill_take);
    if (n == 0) return;
    evict_for(e, n + R1_KV_BLOCK_TOKENS * e->params.n_parallel);
    r1_batch batch = {n, e->batch_token, e->batch_pos, e->batch_seq, e->batch_logits};
    r1_error err;
    e->step++;
    if (r1_decode(e->ctx, &batch, &err) != 0) {
        r1_log_error("engine step failed: %s", err.message);
        for (int i = 0; i < e->params.n_parallel; i++) {
            engine_slot *s = &e->slots[i];
            if (s->phase != SLOT_IDLE && (s->phase == SLOT_DECODE || prefill_take[i] > 0))
                finish_slot(e, s, R1_FINISH_ERROR, err.message);
        }
        return;
    }
    int n_sampling = 0;
    for (int i = 0; i < e->params.n_parallel; i++) {
        engine_slot *s = &e->slots[i];
        if (s->phase == SLOT_IDLE) continue;
        s->last_used = e->step;
        int rc = s->phase == SLOT_DECODE ? slot_remember(s, &s->next_token, 1)
                                          : slot_remember(s, s->request->prompt + s->n_tokens, prefill_take[i]);
        if (rc != 0) {
            finish_slot(e, s, R1_FINISH_ERROR, "out of memory");
            forget_cache(e, s);
            continue;
        }
        if (s->logits_row < 0) continue;
        s->phase = SLOT_DECODE;
        e->sampling[n_sampling++] = s;
    }
    r1_run_rows(e->ctx, n_sampling, choose_tokens, e);
    for (int k = 0; k < n_sampling; k++) {
        r1_finish_reason finish = engine_slot_emit(e, e->sampling[k]);
        if (finish != R1_FINISH_NONE) finish_slot(e, e->sampling[k], finish, NULL);
    }
    report_step(e, n, prefill_take, started);
}

/* ---- the thread ---- */

static void publish_stats(r1_engine *e) {
    int running = 0, running_positions = 0;
    for (int i = 0; i < e->params.n_parallel; i++)
        if (e->slots[i].phase != SLOT_IDLE) {
            running++;
            running_positions += e->slots[i].n_tokens;
        }
    pthread_mutex_lock(&e->lock);
    e->stats.running = running;
    e->stats.cache_positions_running = running_positions;
    e->stats.waiting = e->n_waiting;
    e->stats.cache_positions_used = r1_kv_cache_positions(e->ctx) - r1_kv_cache_free_positions(e->ctx);
    e->stats.steps = e->step;
    pthread_mutex_unlock(&e->lock);
}

static bool any_running(const r1_engine *e) {
    for (int i = 0; i < e->params.n_parallel; i++)
        if (e->slots[i].phase != SLOT_IDLE) return true;
    return false;
}

static void cancel_everything(r1_engine *e) {
    for (int i = 0; i < e->params.n_parallel; i++)
        if (e->slots[i].phase != SLOT_IDLE) finish_slot(e, &e->slots[i], R1_FINISH_CANCELLED, NULL);
    pthread_mutex_lock(&e->lock);
    r1_request *r = e->queue_head;
    e->queue_head = e->queue_tail = NULL;
    e->n_waiting = 0;
    pthread_mutex_unlock(&e->lock);
    while (r) {
        r1_request *next = r->next;
        finish_unadmitted(r, R1_FINISH_CANCELLED, NULL);
        r = next;
    }
}

static void *engine_main(void *arg) {
    r1_engine *e = arg;
    int *prefill_take = calloc((size_t)e->params.n_parallel, sizeof(int));
    for (;;) {
        pthread_mutex_lock(&e->lock);
        while (!e->stopping && !e->queue_head && !any_running(e)) pthread_cond_wait(&e->wake, &e->lock);
        bool stopping = e->stopping;
        pthread_mutex_unlock(&e->lock);
        if (stopping || !prefill_take) break;
        drop_cancelled(e);
        admit_waiting(e);
        run_step(e, prefill_take);
        publish_stats(e);
    }
    cancel_everything(e);
    publish_stats(e);
    free(prefill_take);
    return NULL;
}

/* ---- life cycle ---- */

static void engine_free(r1_engine *e) {
    for (int i = 0; e->slots && i < e->params.n_parallel; i++) {
        free(e->slots[i].tokens);
        free(e->slots[i].logits_scratch);
        free(e->slots[i].reasoning_text);
        free(e->slots[i].content_text);
    }
    free(e->slots);
    free(e->batch_token);
    free(e->batch_pos);
    free(e->batch_seq);
    free(e->batch_logits);
    free(e->sampling);
    r1_context_free(e->ctx);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    free(e);
}

static void complete_params(r1_engine_params *p, const r1_model_info *info) {
    r1_engine_params d = r1_engine_default_params();
    if (p->n_parallel <= 0) p->n_parallel = d.n_parallel;
    if (p->n_ctx_seq <= 0) p->n_ctx_seq = info->n_ctx_train < 4096 ? info->n_ctx_train : 4096;
    if (p->n_cache_positions <= 0) p->n_cache_positions = p->n_parallel * p->n_ctx_seq;
    if (p->n_cache_positions < p->n_ctx_seq) p->n_cache_positions = p->n_ctx_seq;
    if (p->n_queue < 0) p->n_queue = d.n_queue;
    if (p->n_batch <= 0) p->n_batch = d.n_batch;
    if (p->n_batch < p->n_parallel) p->n_batch = p->n_parallel; /* every decoding sequence fits a step */
    if (p->n_prefill_chunk <= 0) p->n_prefill_chunk = d.n_prefill_chunk;
}

int r1_engine_start(r1_model *model, const r1_tokenizer *tok, const r1_engine_params *params, r1_engine **out,
                    r1_error *err) {
    *out = NULL;
    r1_engine *e = calloc(1, sizeof *e);
    if (!e) return r1_error_set(err, "out of memory");
    r1_model_info info;
    r1_model_get_info(model, &info);
    e->model = model;
    e->tok = tok;
    e->n_vocab = info.n_vocab;
    e->params = params ? *params : r1_engine_default_params();
    complete_params(&e->params, &info);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    r1_context_params cp = r1_context_default_params();
    cp.n_threads = e->params.n_threads;
    cp.n_ctx = e->params.n_cache_positions;
    cp.n_seq_max = e->params.n_parallel;
    cp.n_batch = e->params.n_batch;
    cp.exact = e->params.exact;
    cp.kv_type = e->params.kv_type;
    if (r1_context_new(model, &cp, &e->ctx, err) != 0) {
        engine_free(e);
        return -1;
    }
    e->cache_blocks = r1_kv_cache_positions(e->ctx) / R1_KV_BLOCK_TOKENS;
    size_t rows = (size_t)e->params.n_batch;
    e->slots = calloc((size_t)e->params.n_parallel, sizeof *e->slots);
    e->batch_token = malloc(rows * sizeof(int32_t));
    e->batch_pos = malloc(rows * sizeof(int32_t));
    e->batch_seq = malloc(rows * sizeof(int32_t));
    e->batch_logits = malloc(rows);
    e->sampling = calloc((size_t)e->params.n_parallel, sizeof *e->sampling);
    if (!e->slots || !e->batch_token || !e->batch_pos || !e->batch_seq || !e->batch_logits || !e->sampling) {
        engine_free(e);
        return r1_error_set(err, "out of memory");
    }
    for (int i = 0; i < e->params.n_parallel; i++) e->slots[i].seq = i;
    e->stats.parallel = e->params.n_parallel;
    e->stats.queue_capacity = e->params.n_queue;
    e->stats.cache_positions = r1_kv_cache_positions(e->ctx);
    e->stats.cache_type = r1_context_kv_type(e->ctx);
    e->stats.cache_bytes_per_position = r1_kv_bytes_per_token(e->ctx);
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        engine_free(e);
        return r1_error_set(err, "cannot start the engine thread");
    }
    pthread_setname_np(e->thread, "r1-engine");
    *out = e;
    return 0;
}

void r1_engine_stop(r1_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    engine_free(e);
}

int r1_engine_ctx_seq(const r1_engine *e) { return e->params.n_ctx_seq; }

void r1_engine_get_stats(r1_engine *e, r1_engine_stats *stats) {
    pthread_mutex_lock(&e->lock);
    *stats = e->stats;
    stats->full = engine_full_locked(e);
    pthread_mutex_unlock(&e->lock);
}
