/*
 * cmd_eval.c - `r1 eval`: feed exact token ids, dump logits, print greedy
 * continuations. The tool for checking the engine against a reference.
 *
 *   r1 eval -m MODEL.gguf --tokens 1,2,3 [--logits FILE] [--gen-logits FILE]
 *           [--greedy N] [-t THREADS] [--exact] [--kv-type auto|f16|f32] [--mmap|--no-mmap]
 *
 * --logits writes float32 [n_tokens][n_vocab] (every prompt position, one
 * batch); --greedy N prints {"greedy_tokens": [...]} with N argmax tokens,
 * the first from the last prompt row; --gen-logits writes the logits after
 * each fed greedy token ([N-1][n_vocab]).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"

typedef struct eval_options {
    const char *model_path;
    const char *logits_path;
    const char *gen_logits_path;
    int32_t *tokens;
    int n_tokens;
    int greedy;
    r1_context_params params;
    r1_load_mode load;
    cli_key_options key;
} eval_options;

static void eval_usage(void) {
    fprintf(stderr,
            "usage: r1 eval -m MODEL.gguf --tokens 1,2,3 [--logits FILE] [--gen-logits FILE]\n"
            "               [--greedy N] [-t THREADS] [--exact] [--ctx-size N] [--kv-type auto|f16|f32]\n"
            "               [--mmap|--no-mmap]\n"
            "               [--key-file K | --key-command CMD] (sealed models)\n");
}

static int parse_eval_options(int argc, char **argv, eval_options *o) {
    o->params = r1_context_default_params();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (strcmp(a, "--exact") == 0) { o->params.exact = true; continue; }
        if (cli_load_option(a, &o->load)) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { eval_usage(); exit(0); }
        if (!(v = arg_value(argc, argv, &i))) return -1;
        if (cli_key_option(a, v, &o->key)) continue;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model_path = v;
        else if (strcmp(a, "--tokens") == 0) { if (arg_token_list(a, v, &o->tokens, &o->n_tokens)) return -1; }
        else if (strcmp(a, "--logits") == 0) o->logits_path = v;
        else if (strcmp(a, "--gen-logits") == 0) o->gen_logits_path = v;
        else if (strcmp(a, "--greedy") == 0) { if (arg_int(a, v, 0, 1 << 20, &o->greedy)) return -1; }
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) { if (arg_int(a, v, 1, 1024, &o->params.n_threads)) return -1; }
        else if (strcmp(a, "--ctx-size") == 0 || strcmp(a, "-c") == 0) { if (arg_int(a, v, 1, 1 << 24, &o->params.n_ctx)) return -1; }
        else if (strcmp(a, "--kv-type") == 0) { if (arg_kv_type(a, v, &o->params.kv_type)) return -1; }
        else { fprintf(stderr, "r1 eval: unknown option '%s'\n", a); eval_usage(); return -1; }
    }
    if (!o->model_path || !o->tokens) {
        fprintf(stderr, "r1 eval: -m MODEL and --tokens are required\n");
        eval_usage();
        return -1;
    }
    return 0;
}

static FILE *open_output(const char *path) {
    if (!path) return NULL;
    FILE *f = fopen(path, "wb");
    if (!f) perror(path);
    return f;
}

static int write_floats(FILE *f, const char *path, const float *x, size_t n) {
    if (fwrite(x, sizeof(float), n, f) != n) {
        fprintf(stderr, "r1 eval: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

/* Feeds the prompt in one batch, every row asking for logits. */
static int eval_prompt(r1_context *ctx, const eval_options *o, int n_vocab, int32_t *first_greedy) {
    int n = o->n_tokens;
    int rc = cli_feed_prompt(ctx, o->tokens, n, true, "r1 eval");
    FILE *f = rc == 0 ? open_output(o->logits_path) : NULL;
    if (rc == 0 && o->logits_path && !f) rc = -1;
    for (int i = 0; f && rc == 0 && i < n; i++) rc = write_floats(f, o->logits_path, r1_get_logits(ctx, i), (size_t)n_vocab);
    if (f && fclose(f) != 0) rc = -1;
    if (rc == 0) *first_greedy = r1_argmax(r1_get_logits(ctx, n - 1), n_vocab);
    return rc;
}

/* Greedy continuation: feeds each chosen token back, one per decode. */
static int eval_greedy(r1_context *ctx, const eval_options *o, int n_vocab, int32_t first) {
    FILE *f = open_output(o->gen_logits_path);
    if (o->gen_logits_path && !f) return -1;
    printf("{\"greedy_tokens\": [%d", first);
    int32_t token = first, rc = 0;
    for (int k = 1; k < o->greedy && rc == 0; k++) {
        if (cli_feed_token(ctx, token, o->n_tokens + k - 1, "r1 eval") != 0) {
            rc = -1;
            break;
        }
        const float *logits = r1_get_logits(ctx, 0);
        if (f) rc = write_floats(f, o->gen_logits_path, logits, (size_t)n_vocab);
        token = r1_argmax(logits, n_vocab);
        printf(", %d", token);
    }
    printf("]}\n");
    if (f && fclose(f) != 0) rc = -1;
    return rc;
}

int cmd_eval(int argc, char **argv) {
    eval_options o = {0};
    if (parse_eval_options(argc, argv, &o) != 0) {
        free(o.tokens);
        return 2;
    }
    if (o.params.n_ctx <= 0) o.params.n_ctx = o.n_tokens + o.greedy + 1;
    r1_model *model;
    r1_context *ctx;
    if (cli_open_model(o.model_path, o.load, &o.key, &o.params, &model, &ctx) != 0) {
        free(o.tokens);
        return 1;
    }
    r1_model_info info;
    r1_model_get_info(model, &info);
    int32_t first = 0;
    int rc = eval_prompt(ctx, &o, info.n_vocab, &first);
    if (rc == 0 && o.greedy > 0) rc = eval_greedy(ctx, &o, info.n_vocab, first);
    r1_context_free(ctx);
    r1_model_free(model);
    free(o.tokens);
    return rc == 0 ? 0 : 1;
}
