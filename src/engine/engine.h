/*
 * engine.h - the insides of r1_engine (r1.h), shared by engine.c (the
 * thread, the queue, admission and the step loop) and engine_output.c
 * (what happens to the logits of a sequence: sampling, log-probabilities,
 * text, reasoning split, stop strings, the callback).
 */
#ifndef R1_ENGINE_ENGINE_H
#define R1_ENGINE_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "r1.h"
#include "text/reasoning.h"
#include "text/stop_strings.h"
#include "text/tokenizer.h"

/* A submitted generation. Shared by the submitter and the engine thread;
 * freed when both have released it. */
struct r1_request {
    atomic_int refs;
    atomic_bool cancelled;
    int32_t *prompt;
    int n_prompt;
    r1_generation_params params;   /* stops and bias point into the copies below */
    char **stop_copies;
    const char **stop_list;
    int32_t *bias_tokens;
    float *bias_values;
    r1_generation_callback callback;
    void *user;
    double submitted_at;           /* seconds, monotonic */
    double queue_seconds;          /* set when admitted */
    struct r1_request *next;       /* in the waiting queue */
};

typedef enum slot_phase {
    SLOT_IDLE = 0,   /* no request; the cache may still hold its last tokens */
    SLOT_PREFILL,    /* feeding the prompt */
    SLOT_DECODE      /* feeding back one sampled token per step */
} slot_phase;

/* One sequence of the context, and the request it serves. */
typedef struct engine_slot {
    int seq;                       /* sequence id in the context */
    slot_phase phase;
    r1_request *request;
    /* the tokens whose keys and values the cache holds for this sequence */
    int32_t *tokens;
    int n_tokens, cap_tokens;
    uint64_t last_used;            /* step of the last use, for evicting idle caches */
    int n_prompt_cached;           /* prompt tokens reused from the cache */
    int32_t next_token;            /* DECODE: sampled, to be fed this step */
    int logits_row;                /* row of this step's logits, or -1 */
    int reserved_blocks;           /* admission: cache blocks promised to it */
    /* output state */
    r1_sampler *sampler;
    float *logits_scratch;         /* n_vocab floats: the biased logits, then the log-probabilities' exps */
    r1_detok_stream detok;
    r1_stop_matcher stops;
    r1_reasoning_parser reasoning;
    r1_generation_event chosen;    /* this step's token and log-probabilities (engine_slot_choose) */
    r1_token_logprob chosen_top[R1_MAX_TOP_LOGPROBS];
    char *reasoning_text, *content_text;   /* this step's text, for the event */
    size_t reasoning_len, content_len, reasoning_cap, content_cap;
    bool text_failed;              /* out of memory collecting text */
    int n_generated, n_reasoning;
} engine_slot;

struct r1_engine {
    r1_model *model;
    const r1_tokenizer *tok;
    r1_context *ctx;
    r1_engine_params params;
    int n_vocab;

    engine_slot *slots;            /* params.n_parallel */
    engine_slot **sampling;        /* a step's slots that sample, params.n_parallel at most */
    int reserved_blocks;           /* sum over running slots */
    int cache_blocks;

    /* what the submitters and the engine thread share, under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    r1_request *queue_head, *queue_tail;
    int n_waiting;
    int n_admitted;                /* requests holding a slot; with n_waiting, bounds what is accepted */
    bool stopping;
    r1_engine_stats stats;

    pthread_t thread;
    uint64_t step;
    /* per-step batch arrays, n_batch rows */
    int32_t *batch_token, *batch_pos, *batch_seq;
    int8_t *batch_logits;
    float *logprob_scratch;        /* n_vocab, for log-softmax */
};

/* engine_output.c */
int engine_slot_output_begin(r1_engine *e, engine_slot *slot, r1_error *err);
void engine_slot_output_end(engine_slot *slot);
/* A step's output for one sequence, in two halves: choosing the token
 * (bias, sampler, log-probabilities) touches only the slot, so the engine
 * runs it for every sequence of a step at once on the compute threads;
 * emitting it (text, stop strings, the request's event) runs on the
 * engine thread, sequence after sequence. */
void engine_slot_choose(r1_engine *e, engine_slot *slot, const float *logits);
/* Returns the finish reason (R1_FINISH_NONE to go on). */
r1_finish_reason engine_slot_emit(r1_engine *e, engine_slot *slot);
/* Flushes held-back text and sends the final event. */
void engine_slot_finish(r1_engine *e, engine_slot *slot, r1_finish_reason finish, const char *error);

#endif
