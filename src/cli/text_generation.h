/*
 * text_generation.h - the generation loop that `r1 run -p` and `r1 chat`
 * share: sample, stop on an end-of-generation token, turn ids into text
 * without ever splitting a UTF-8 character, feed the token back.
 */
#ifndef R1_CLI_TEXT_GENERATION_H
#define R1_CLI_TEXT_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "r1.h"
#include "text/tokenizer.h"

typedef void (*cli_text_fn)(void *user, const char *text, size_t len);

typedef struct cli_generation {
    r1_context *ctx;
    r1_sampler *sampler;
    const r1_tokenizer *tok;
    int n_vocab;
    int max_tokens;
    bool ignore_eos;
    cli_text_fn on_text;
    void *user;
    const char *const *stops; /* stop strings (not emitted), or NULL */
    size_t n_stops;
    /* the tokens in sequence 0's cache, for prefix reuse (chat) */
    int32_t *cached;
    int n_cached, cap_cached;
    /* results of the last call */
    int n_reused;          /* prompt tokens found in the cache */
    int n_generated;
    bool stopped_by_eog;
    bool stopped_by_string;
    double prompt_seconds, generate_seconds;
} cli_generation;

/* Feeds prompt (reusing the longest cached prefix), then generates. */
int cli_generate(cli_generation *g, const int32_t *prompt, int n_prompt, const char *who);

void cli_generation_free(cli_generation *g);

#endif
