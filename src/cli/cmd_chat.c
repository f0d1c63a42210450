/*
 * cmd_chat.c - `r1 chat`: a conversation with a model, using its chat
 * template, with R1's reasoning shown apart from the answer.
 *
 *   r1 chat -m MODEL.gguf [--system TEXT] [--chat-template NAME] [-n MAX]
 *           [--temp T --top-p P --top-k K --min-p M --seed S] [-t THREADS]
 *           [--ctx-size N] [--mmap|--no-mmap] [--stop TEXT]...
 *
 * Each line typed is a user message; /clear forgets the conversation,
 * /exit (or end of input) leaves. The reasoning is shown dimmed on a
 * terminal, or after a "[reasoning]" marker (and the answer after
 * "[answer]") when stdout is not one, and it is not sent back to the model
 * with the history (DeepSeek's template drops it). With stdin not a
 * terminal, every line is a message: the chat can be scripted and tested.
 * Each turn reuses the cached tokens of the previous ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "base/log.h"
#include "commands.h"
#include "text/chat_template.h"
#include "text/reasoning.h"
#include "text_generation.h"

typedef struct chat_options {
    const char *model_path;
    const char *system;
    const char *template_name;
    const char *stops[16];
    size_t n_stops;
    int max_tokens;
    r1_load_mode load;
    cli_key_options key;
    r1_context_params params;
    r1_sampler_params sampling;
} chat_options;

static void chat_usage(void) {
    fprintf(stderr, "usage: r1 chat -m MODEL.gguf [--system TEXT] [--chat-template deepseek-r1|chatml|llama3]\n"
                    "               [-n MAX_TOKENS] [--temp T] [--top-p P] [--top-k K] [--min-p M] [--seed S]\n"
                    "               [-t THREADS] [--ctx-size N] [--mmap|--no-mmap] [--stop TEXT]...\n"
                    "               [--key-file K | --key-command CMD] (sealed models)\n");
}

static int parse_chat_options(int argc, char **argv, chat_options *o) {
    o->params = r1_context_default_params();
    o->params.n_ctx = 4096;
    o->sampling = r1_sampler_default_params();
    o->sampling.temperature = 0.6f; /* DeepSeek's recommendation for R1 */
    o->sampling.top_p = 0.95f;
    o->max_tokens = 1024;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_load_option(a, &o->load)) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { chat_usage(); exit(0); }
        if (!(v = arg_value(argc, argv, &i))) return -1;
        if (cli_key_option(a, v, &o->key)) continue;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model_path = v;
        else if (strcmp(a, "--system") == 0) o->system = v;
        else if (strcmp(a, "--chat-template") == 0) o->template_name = v;
        else if (strcmp(a, "--stop") == 0) {
            if (o->n_stops == 16) { fprintf(stderr, "r1 chat: at most 16 --stop strings\n"); return -1; }
            o->stops[o->n_stops++] = v;
        }
        else if (strcmp(a, "-n") == 0) { if (arg_int(a, v, 1, 1 << 20, &o->max_tokens)) return -1; }
        else if (strcmp(a, "--temp") == 0) { if (arg_float(a, v, &o->sampling.temperature)) return -1; }
        else if (strcmp(a, "--top-p") == 0) { if (arg_float(a, v, &o->sampling.top_p)) return -1; }
        else if (strcmp(a, "--top-k") == 0) { if (arg_int(a, v, 0, 1 << 24, &o->sampling.top_k)) return -1; }
        else if (strcmp(a, "--min-p") == 0) { if (arg_float(a, v, &o->sampling.min_p)) return -1; }
        else if (strcmp(a, "--seed") == 0) { if (arg_u64(a, v, &o->sampling.seed)) return -1; }
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) { if (arg_int(a, v, 1, 1024, &o->params.n_threads)) return -1; }
        else if (strcmp(a, "--ctx-size") == 0 || strcmp(a, "-c") == 0) { if (arg_int(a, v, 16, 1 << 24, &o->params.n_ctx)) return -1; }
        else { fprintf(stderr, "r1 chat: unknown option '%s'\n", a); chat_usage(); return -1; }
    }
    if (!o->model_path) { chat_usage(); return -1; }
    return 0;
}

/* ---- the conversation ---- */

typedef struct history {
    r1_chat_message *messages;
    char **owned; /* the strings, freed with the history */
    size_t n, cap;
} history;

static int history_add(history *h, const char *role, const char *content) {
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

static void history_clear(history *h, size_t keep) {
    while (h->n > keep) free(h->owned[--h->n]);
}

/* ---- showing a reply ---- */

typedef struct reply {
    bool tty;
    bool shown_reasoning, shown_answer;
    r1_reasoning_parser parser;
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

static void feed_reply(void *user, const char *text, size_t len) { r1_reasoning_feed(&((reply *)user)->parser, text, len); }

/* ---- one turn ---- */

typedef struct chat_session {
    r1_chat_template template;
    const char *bos;
    const r1_tokenizer *tok;
    cli_generation gen;
    history history;
    bool tty_out;
} chat_session;

static int chat_turn(chat_session *s, const char *line) {
    r1_error err;
    if (history_add(&s->history, "user", line) != 0) return -1;
    char *prompt = r1_chat_render(s->template, s->history.messages, s->history.n, true, s->bos, &err);
    if (!prompt) {
        fprintf(stderr, "r1 chat: %s\n", err.message);
        history_clear(&s->history, s->history.n - 1);
        return -1;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = r1_tokenize(s->tok, prompt, strlen(prompt), false, true, &ids, &n_ids, &err);
    if (rc != 0) fprintf(stderr, "r1 chat: %s\n", err.message);
    size_t plen = strlen(prompt);
    bool in_reasoning = plen >= 8 && strstr(prompt + plen - 8, "<think>") != NULL;
    reply r = {.tty = s->tty_out};
    r1_reasoning_init(&r.parser, in_reasoning, show_reasoning, show_content, &r);
    s->gen.on_text = feed_reply;
    s->gen.user = &r;
    if (rc == 0) rc = cli_generate(&s->gen, ids, (int)n_ids, "r1 chat");
    if (rc == 0)
        r1_log_debug("turn: prompt %zu tokens (%d reused from the cache), reply %d tokens%s", n_ids,
                     s->gen.n_reused, s->gen.n_generated,
                     s->gen.stopped_by_eog ? ", ended by the model" : "");
    r1_reasoning_finish(&r.parser);
    fputs(s->tty_out && r.shown_reasoning && !r.shown_answer ? "\x1b[0m\n" : "\n", stdout);
    fflush(stdout);
    if (rc == 0) rc = history_add(&s->history, "assistant", r.content ? r.content : "");
    else {
        history_clear(&s->history, s->history.n - 1); /* forget the message that failed */
        fprintf(stderr, "r1 chat: this turn failed (see above); the conversation goes on without it "
                        "(/clear starts a new one)\n");
        rc = 0;
    }
    free(r.content);
    free(ids);
    free(prompt);
    return rc;
}

static int chat_loop(chat_session *s, size_t n_system) {
    bool tty_in = isatty(STDIN_FILENO);
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (tty_in) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (strcmp(line, "/exit") == 0) break;
        if (strcmp(line, "/clear") == 0) {
            history_clear(&s->history, n_system);
            printf("(conversation cleared)\n");
            continue;
        }
        if (chat_turn(s, line) != 0) fprintf(stderr, "r1 chat: message not added\n");
    }
    free(line);
    return 0;
}

static int start_session(chat_session *s, r1_model *model, const chat_options *o, r1_tokenizer **tok) {
    r1_error err;
    if (r1_model_load_tokenizer(model, tok, &err) != 0) {
        fprintf(stderr, "r1 chat: %s\n", err.message);
        return -1;
    }
    const char *why = "chosen with --chat-template";
    int rc = o->template_name ? r1_chat_template_by_name(o->template_name, &s->template, &err)
                              : r1_chat_template_detect(r1_tokenizer_chat_template(*tok), r1_tokenizer_pre(*tok),
                                                        &s->template, &why, &err);
    if (rc != 0) {
        fprintf(stderr, "r1 chat: %s\n", err.message);
        return -1;
    }
    r1_log_info("chat template %s (%s)", r1_chat_template_name(s->template), why);
    s->tok = *tok;
    s->tty_out = isatty(STDOUT_FILENO);
    return 0;
}

int cmd_chat(int argc, char **argv) {
    chat_options o = {0};
    if (parse_chat_options(argc, argv, &o) != 0) return 2;
    r1_model *model;
    r1_context *ctx;
    if (cli_open_model(o.model_path, o.load, &o.key, &o.params, &model, &ctx) != 0) return 1;
    r1_model_info info;
    r1_model_get_info(model, &info);
    r1_tokenizer *tok = NULL;
    chat_session s = {0};
    int rc = start_session(&s, model, &o, &tok);
    char *bos_copy = NULL;
    if (rc == 0) {
        size_t len = 0;
        int32_t bos = r1_token_bos(tok);
        const char *text = bos >= 0 ? r1_token_text(tok, bos, &len) : "";
        bos_copy = strndup(text, len); /* vocabulary texts are not NUL-terminated */
        s.bos = bos_copy ? bos_copy : "";
    }
    r1_sampler *sampler = r1_sampler_new(&o.sampling, info.n_vocab);
    s.gen = (cli_generation){.ctx = ctx, .sampler = sampler, .tok = tok, .n_vocab = info.n_vocab,
                             .max_tokens = o.max_tokens, .stops = o.stops, .n_stops = o.n_stops};
    if (rc == 0 && o.system) rc = history_add(&s.history, "system", o.system);
    if (rc == 0 && sampler) rc = chat_loop(&s, s.history.n);
    history_clear(&s.history, 0);
    free(s.history.messages);
    free(s.history.owned);
    cli_generation_free(&s.gen);
    free(bos_copy);
    r1_sampler_free(sampler);
    r1_tokenizer_free(tok);
    r1_context_free(ctx);
    r1_model_free(model);
    return rc == 0 ? 0 : 1;
}
