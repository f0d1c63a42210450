/*
 * chat_session.h - a conversation with a model through its chat template,
 * shared by `r1 chat` (typed turns) and `r1 voice` (spoken turns): the
 * history, one turn (render, tokenize, generate reusing the cached prefix,
 * show the reasoning apart from the answer), and its setup.
 *
 * The reasoning is shown dimmed on a terminal, or after a "[reasoning]"
 * marker (and the answer after "[answer]") when stdout is not one; it is
 * not sent back to the model with the history (DeepSeek's template drops
 * it).
 */
#ifndef R1_CLI_CHAT_SESSION_H
#define R1_CLI_CHAT_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "commands.h"
#include "r1.h"
#include "text/chat_template.h"
#include "text_generation.h"

typedef struct chat_history {
    r1_chat_message *messages;
    char **owned; /* the strings, freed with the history */
    size_t n, cap;
} chat_history;

int chat_history_add(chat_history *h, const char *role, const char *content);
/* Forgets every message after the first `keep`. */
void chat_history_clear(chat_history *h, size_t keep);

/* The options about the model and its generation that `r1 chat` and
 * `r1 voice` share: -m, --system, --chat-template, -n, -t, --ctx-size,
 * --temp, --top-p, --top-k, --min-p, --seed, --key-file, --key-command. */
typedef struct chat_model_options {
    const char *model_path;
    const char *system;
    const char *template_name;
    int max_tokens;
    r1_load_mode load;
    cli_key_options key;
    r1_context_params params;
    r1_sampler_params sampling; /* R1's recommended: temperature 0.6, top-p 0.95 */
} chat_model_options;

void chat_model_defaults(chat_model_options *o);
/* Option a with value v: 1 when it was one of them, 0 when not, -1 for a
 * bad value (printed). */
int chat_model_option(const char *a, const char *v, chat_model_options *o);

/* What a caller may add to a turn (all may be NULL). */
typedef struct chat_turn_hooks {
    cli_text_fn on_text;    /* every piece of generated text, reasoning included, as it comes */
    cli_text_fn on_content; /* the answer's text (after the reasoning), as it comes */
    void *user;
} chat_turn_hooks;

typedef struct chat_session {
    const char *who; /* "r1 chat": prefixes the messages */
    r1_chat_template template;
    char *bos;
    r1_tokenizer *tok;
    cli_generation gen;
    chat_history history;
    bool tty_out;
} chat_session;

/* Loads the tokenizer, picks the template (template_name, or detected from
 * the model), prepares the generation; adds the system message if any.
 * 0, or -1 with the error printed. */
int chat_session_start(chat_session *s, r1_model *model, r1_context *ctx, r1_sampler *sampler,
                       const char *template_name, const char *system, int max_tokens);
/* One turn: the user's message, the reply shown on stdout and added to the
 * history. -1 when it failed (printed): the history is as before. */
int chat_session_turn(chat_session *s, const char *message, const chat_turn_hooks *hooks);
void chat_session_free(chat_session *s);

#endif
