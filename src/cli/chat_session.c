/* chat_session.c - one conversation through a chat template (chat_session.h). */
#include "chat_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "base/log.h"
#include "text/reasoning.h"

int chat_history_add(chat_history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        r1_chat_message *m = realloc(h->messages, cap * sizeof *m);
        char **o = m ? realloc(h->owned, cap * sizeof *o) : NULL;
        if (m) h->messages = m;
        if (!o) return -1;
        h->owned = o;
        h->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return -1;
    h->owned[h->n] = copy;
    h->messages[h->n++] = (r1_chat_message){role, copy};
    return 0;
}

void chat_history_clear(chat_history *h, size_t keep) {
    while (h->n > keep) free(h->owned[--h->n]);
}

void chat_model_defaults(chat_model_options *o) {
    *o = (chat_model_options){.max_tokens = 1024, .params = r1_context_default_params(),
                              .sampling = r1_sampler_default_params()};
    o->params.n_ctx = 4096;
    o->sampling.temperature = 0.6f; /* DeepSeek's recommendation for R1 */
    o->sampling.top_p = 0.95f;
}

/* One of the sampling options; rc as chat_model_option's. */
static int sampling_option(const char *a, const char *v, r1_sampler_params *sampling) {
    int rc = 0;
    if (strcmp(a, "--temp") == 0) rc = arg_float(a, v, &sampling->temperature);
    else if (strcmp(a, "--top-p") == 0) rc = arg_float(a, v, &sampling->top_p);
    else if (strcmp(a, "--top-k") == 0) rc = arg_int(a, v, 0, 1 << 24, &sampling->top_k);
    else if (strcmp(a, "--min-p") == 0) rc = arg_float(a, v, &sampling->min_p);
    else if (strcmp(a, "--seed") == 0) rc = arg_u64(a, v, &sampling->seed);
    else return 0;
    return rc == 0 ? 1 : -1;
}

int chat_model_option(const char *a, const char *v, chat_model_options *o) {
    int rc = 0;
    if (cli_key_option(a, v, &o->key)) return 1;
    if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model_path = v;
    else if (strcmp(a, "--system") == 0) o->system = v;
    else if (strcmp(a, "--chat-template") == 0) o->template_name = v;
    else if (strcmp(a, "-n") == 0) rc = arg_int(a, v, 1, 1 << 20, &o->max_tokens);
    else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) rc = arg_int(a, v, 1, 1024, &o->params.n_threads);
    else if (strcmp(a, "--ctx-size") == 0 || strcmp(a, "-c") == 0) rc = arg_int(a, v, 16, 1 << 24, &o->params.n_ctx);
    else if (strcmp(a, "--kv-type") == 0) rc = arg_kv_type(a, v, &o->params.kv_type);
    else return sampling_option(a, v, &o->sampling);
    return rc == 0 ? 1 : -1;
}

/* ---- showing a reply ---- */

typedef struct reply {
    bool tty;
    bool shown_reasoning, shown_answer;
    r1_reasoning_parser parser;
    const chat_turn_hooks *hooks;
    char *content;
    size_t len, cap;
} reply;

static void show_reasoning(void *user, const char *text, size_t len) {
    reply *r = user;
    if (!r->shown_reasoning) fputs(r->tty ? "\x1b[2m" : "[reasoning] ", stdout);
    r->shown_reasoning = true;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static void show_content(void *user, const char *text, size_t len) {
    reply *r = user;
    if (!r->shown_answer) fputs(r->tty ? "\x1b[0m" : r->shown_reasoning ? "\n[answer] " : "", stdout);
    r->shown_answer = true;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    if (r->hooks->on_content) r->hooks->on_content(r->hooks->user, text, len);
    if (r->len + len + 1 > r->cap) {
        size_t cap = (r->len + len + 1) * 2;
        char *p = realloc(r->content, cap);
        if (!p) return;
        r->content = p;
        r->cap = cap;
    }
    memcpy(r->content + r->len, text, len);
    r->content[r->len += len] = 0;
}

static void feed_reply(void *user, const char *text, size_t len) {
    reply *r = user;
    if (r->hooks->on_text) r->hooks->on_text(r->hooks->user, text, len);
    r1_reasoning_feed(&r->parser, text, len);
}

/* ---- one turn ---- */

/* The conversation so far as prompt tokens; *in_reasoning when the
 * template opened the <think> block itself. */
static int render_prompt(chat_session *s, int32_t **ids, size_t *n_ids, bool *in_reasoning) {
    r1_error err;
    char *prompt = r1_chat_render(s->template, s->history.messages, s->history.n, true, s->bos, &err);
    int rc = prompt ? r1_tokenize(s->tok, prompt, strlen(prompt), false, true, ids, n_ids, &err) : -1;
    if (rc != 0) fprintf(stderr, "%s: %s\n", s->who, err.message);
    size_t plen = prompt ? strlen(prompt) : 0;
    *in_reasoning = plen >= 8 && strstr(prompt + plen - 8, "<think>") != NULL;
    free(prompt);
    return rc;
}

int chat_session_turn(chat_session *s, const char *message, const chat_turn_hooks *hooks) {
    static const chat_turn_hooks none = {0};
    if (chat_history_add(&s->history, "user", message) != 0) return -1;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    bool in_reasoning;
    int rc = render_prompt(s, &ids, &n_ids, &in_reasoning);
    reply r = {.tty = s->tty_out, .hooks = hooks ? hooks : &none};
    r1_reasoning_init(&r.parser, in_reasoning, show_reasoning, show_content, &r);
    s->gen.on_text = feed_reply;
    s->gen.user = &r;
    if (rc == 0) rc = cli_generate(&s->gen, ids, (int)n_ids, s->who);
    if (rc == 0)
        r1_log_debug("turn: prompt %zu tokens (%d reused from the cache), reply %d tokens%s", n_ids,
                     s->gen.n_reused, s->gen.n_generated, s->gen.stopped_by_eog ? ", ended by the model" : "");
    r1_reasoning_finish(&r.parser);
    fputs(s->tty_out && r.shown_reasoning && !r.shown_answer ? "\x1b[0m\n" : "\n", stdout);
    fflush(stdout);
    if (rc == 0) rc = chat_history_add(&s->history, "assistant", r.content ? r.content : "");
    if (rc != 0) chat_history_clear(&s->history, s->history.n - 1); /* forget the message that failed */
    free(r.content);
    free(ids);
    return rc;
}

/* ---- setup ---- */

static int pick_template(chat_session *s, r1_model *model, const char *template_name) {
    r1_error err;
    if (r1_model_load_tokenizer(model, &s->tok, &err) != 0) {
        fprintf(stderr, "%s: %s\n", s->who, err.message);
        return -1;
    }
    const char *why = "chosen with --chat-template";
    int rc = template_name ? r1_chat_template_by_name(template_name, &s->template, &err)
                           : r1_chat_template_detect(r1_tokenizer_chat_template(s->tok), r1_tokenizer_pre(s->tok),
                                                     &s->template, &why, &err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", s->who, err.message);
        return -1;
    }
    r1_log_info("chat template %s (%s)", r1_chat_template_name(s->template), why);
    return 0;
}

int chat_session_start(chat_session *s, r1_model *model, r1_context *ctx, r1_sampler *sampler,
                       const char *template_name, const char *system, int max_tokens) {
    s->tty_out = isatty(STDOUT_FILENO);
    if (pick_template(s, model, template_name) != 0) return -1;
    size_t len = 0;
    int32_t bos = r1_token_bos(s->tok);
    const char *text = bos >= 0 ? r1_token_text(s->tok, bos, &len) : "";
    s->bos = strndup(text, len); /* vocabulary texts are not NUL-terminated */
    r1_model_info info;
    r1_model_get_info(model, &info);
    s->gen = (cli_generation){.ctx = ctx, .sampler = sampler, .tok = s->tok, .n_vocab = info.n_vocab,
                              .max_tokens = max_tokens};
    if (!s->bos || (system && chat_history_add(&s->history, "system", system) != 0)) {
        fprintf(stderr, "%s: out of memory\n", s->who);
        return -1;
    }
    return 0;
}

void chat_session_free(chat_session *s) {
    chat_history_clear(&s->history, 0);
    free(s->history.messages);
    free(s->history.owned);
    cli_generation_free(&s->gen);
    free(s->bos);
    r1_tokenizer_free(s->tok);
    s->bos = NULL;
    s->tok = NULL;
}
