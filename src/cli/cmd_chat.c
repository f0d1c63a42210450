/*
 * cmd_chat.c - `r1 chat`: a conversation with a model, using its chat
 * template, with R1's reasoning shown apart from the answer.
 *
 *   r1 chat -m MODEL.gguf [--system TEXT] [--chat-template NAME] [-n MAX]
 *           [--temp T --top-p P --top-k K --min-p M --seed S] [-t THREADS]
 *           [--ctx-size N] [--kv-type auto|f16|f32] [--mmap|--no-mmap] [--stop TEXT]...
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
#include "commands.h"
#include "chat_session.h"

typedef struct chat_options {
    chat_model_options model;
    const char *stops[16];
    size_t n_stops;
} chat_options;

static void chat_usage(void) {
    fprintf(stderr, "usage: r1 chat -m MODEL.gguf [--system TEXT] [--chat-template deepseek-r1|chatml|llama3]\n"
                    "               [-n MAX_TOKENS] [--temp T] [--top-p P] [--top-k K] [--min-p M] [--seed S]\n"
                    "               [-t THREADS] [--ctx-size N] [--kv-type auto|f16|f32] [--mmap|--no-mmap]\n"
                    "               [--stop TEXT]...\n"
                    "               [--key-file K | --key-command CMD] (sealed models)\n");
}

static int parse_chat_options(int argc, char **argv, chat_options *o) {
    chat_model_defaults(&o->model);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_load_option(a, &o->model.load)) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { chat_usage(); exit(0); }
        if (!(v = arg_value(argc, argv, &i))) return -1;
        int known = chat_model_option(a, v, &o->model);
        if (known < 0) return -1;
        if (known) continue;
        if (strcmp(a, "--stop") == 0) {
            if (o->n_stops == 16) { fprintf(stderr, "r1 chat: at most 16 --stop strings\n"); return -1; }
            o->stops[o->n_stops++] = v;
        }
        else { fprintf(stderr, "r1 chat: unknown option '%s'\n", a); chat_usage(); return -1; }
    }
    if (!o->model.model_path) { chat_usage(); return -1; }
    return 0;
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
            chat_history_clear(&s->history, n_system);
            printf("(conversation cleared)\n");
            continue;
        }
        if (chat_session_turn(s, line, NULL) != 0)
            fprintf(stderr, "r1 chat: this turn failed (see above); the conversation goes on without it "
                            "(/clear starts a new one)\n");
    }
    free(line);
    return 0;
}

int cmd_chat(int argc, char **argv) {
    chat_options o = {0};
    if (parse_chat_options(argc, argv, &o) != 0) return 2;
    chat_model_options *m = &o.model;
    r1_model *model;
    r1_context *ctx;
    if (cli_open_model(m->model_path, m->load, &m->key, &m->params, &model, &ctx) != 0) return 1;
    r1_model_info info;
    r1_model_get_info(model, &info);
    r1_sampler *sampler = r1_sampler_new(&m->sampling, info.n_vocab);
    chat_session s = {.who = "r1 chat"};
    int rc = sampler ? chat_session_start(&s, model, ctx, sampler, m->template_name, m->system, m->max_tokens) : -1;
    s.gen.stops = o.stops;
    s.gen.n_stops = o.n_stops;
    if (rc == 0) rc = chat_loop(&s, s.history.n);
    chat_session_free(&s);
    r1_sampler_free(sampler);
    r1_context_free(ctx);
    r1_model_free(model);
    return rc == 0 ? 0 : 1;
}
