/*
 * cmd_run.c - `r1 run`: generate tokens from a prompt of token ids.
 *
 *   r1 run -m MODEL.gguf -p "prompt text" [-n N] [options below]
 *   r1 run -m MODEL.gguf --tokens 1,2,3 -n N [--temp T] [--top-k K]
 *          [--top-p P] [--min-p M] [--repeat-penalty R] [--seed S]
 *          [-t THREADS] [--kv-type auto|f16|f32] [--exact] [--mmap|--no-mmap] [--ignore-eos]
 *
 * With -p the prompt is text (tokenized with the model's vocabulary, BOS
 * added as it says, special-token text such as <｜User｜> recognised) and the
 * continuation streams out as text, never half a UTF-8 character; with
 * --tokens the ids go in and the generated ids come out, space-separated.
 * A one-line summary (tokens, tokens/s) goes to stderr. Temperature 0 is greedy;
 * a seeded run gives the same tokens every time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "text_generation.h"

typedef struct run_options {
    const char *model_path;
    const char *prompt_text;
    const char *stops[16];
    size_t n_stops;
    int32_t *tokens;
    int n_tokens;
    int n_predict;
    bool ignore_eos;
    r1_context_params params;
    r1_load_mode load;
    cli_key_options key;
    r1_sampler_params sampling;
} run_options;

static void run_usage(void) {
    fprintf(stderr,
            "usage: r1 run -m MODEL.gguf (-p TEXT | --tokens 1,2,3) [-n N] [--temp T] [--top-k K] [--top-p P]\n"
            "              [--min-p M] [--repeat-penalty R] [--repeat-last-n N] [--seed S]\n"
            "              [-t THREADS] [--ctx-size N] [--kv-type auto|f16|f32] [--exact] [--ignore-eos]\n"
            "              [--mmap|--no-mmap]\n"
            "              [--key-file K | --key-command CMD] (sealed models)\n"
            "              [--stop TEXT]... (with -p: end at TEXT, which is not printed)\n");
}

static int parse_sampling_option(const char *a, const char *v, r1_sampler_params *s, bool *matched) {
    *matched = true;
    if (strcmp(a, "--temp") == 0) return arg_float(a, v, &s->temperature);
    if (strcmp(a, "--top-k") == 0) return arg_int(a, v, 0, 1 << 24, &s->top_k);
    if (strcmp(a, "--top-p") == 0) return arg_float(a, v, &s->top_p);
    if (strcmp(a, "--min-p") == 0) return arg_float(a, v, &s->min_p);
    if (strcmp(a, "--repeat-penalty") == 0) return arg_float(a, v, &s->repeat_penalty);
    if (strcmp(a, "--repeat-last-n") == 0) return arg_int(a, v, 0, 1 << 20, &s->repeat_last_n);
    if (strcmp(a, "--presence-penalty") == 0) return arg_float(a, v, &s->presence_penalty);
    if (strcmp(a, "--frequency-penalty") == 0) return arg_float(a, v, &s->frequency_penalty);
    if (strcmp(a, "--seed") == 0) return arg_u64(a, v, &s->seed);
    *matched = false;
    return 0;
}

static int parse_run_options(int argc, char **argv, run_options *o) {
    o->params = r1_context_default_params();
    o->sampling = r1_sampler_default_params();
    o->n_predict = 32;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        bool matched;
        if (strcmp(a, "--exact") == 0) { o->params.exact = true; continue; }
        if (cli_load_option(a, &o->load)) continue;
        if (strcmp(a, "--ignore-eos") == 0) { o->ignore_eos = true; continue; }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { run_usage(); exit(0); }
        if (!(v = arg_value(argc, argv, &i))) return -1;
        if (cli_key_option(a, v, &o->key)) continue;
        if (parse_sampling_option(a, v, &o->sampling, &matched) != 0) return -1;
        if (matched) continue;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model_path = v;
        else if (strcmp(a, "--tokens") == 0) { if (arg_token_list(a, v, &o->tokens, &o->n_tokens)) return -1; }
        else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0) o->prompt_text = v;
        else if (strcmp(a, "--stop") == 0) {
            if (o->n_stops == 16) { fprintf(stderr, "r1 run: at most 16 --stop strings\n"); return -1; }
            o->stops[o->n_stops++] = v;
        }
        else if (strcmp(a, "-n") == 0 || strcmp(a, "--n-predict") == 0) { if (arg_int(a, v, 0, 1 << 24, &o->n_predict)) return -1; }
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) { if (arg_int(a, v, 1, 1024, &o->params.n_threads)) return -1; }
        else if (strcmp(a, "--ctx-size") == 0 || strcmp(a, "-c") == 0) { if (arg_int(a, v, 1, 1 << 24, &o->params.n_ctx)) return -1; }
        else if (strcmp(a, "--kv-type") == 0) { if (arg_kv_type(a, v, &o->params.kv_type)) return -1; }
        else { fprintf(stderr, "r1 run: unknown option '%s'\n", a); run_usage(); return -1; }
    }
    if (!o->model_path || (!o->tokens == !o->prompt_text)) {
        fprintf(stderr, "r1 run: -m MODEL and one of -p TEXT or --tokens are required\n");
        run_usage();
        return -1;
    }
    return 0;
}

/* Samples, prints and feeds back up to n_predict tokens. Returns how many
 * were generated, or -1. */
static int generate(r1_context *ctx, r1_sampler *sampler, const run_options *o, const r1_model_info *info) {
    int generated = 0;
    for (int k = 0; k < o->n_predict; k++) {
        int32_t token = r1_sampler_sample(sampler, r1_get_logits(ctx, 0));
        r1_sampler_accept(sampler, token);
        printf(k ? " %d" : "%d", token);
        fflush(stdout);
        generated++;
        if (!o->ignore_eos && token == info->eos_token) break;
        if (k + 1 == o->n_predict) break;
        if (cli_feed_token(ctx, token, o->n_tokens + k, "r1 run") != 0) return -1;
    }
    printf("\n");
    return generated;
}

static void write_text(void *user, const char *text, size_t len) {
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

/* -p: text in, text out. */
static int run_text(r1_model *model, r1_context *ctx, r1_sampler *sampler, const run_options *o,
                    const r1_model_info *info) {
    r1_tokenizer *tok;
    r1_error err;
    if (r1_model_load_tokenizer(model, &tok, &err) != 0) {
        fprintf(stderr, "r1 run: %s\n", err.message);
        return -1;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = r1_tokenize(tok, o->prompt_text, strlen(o->prompt_text), true, true, &ids, &n_ids, &err);
    if (rc != 0 || n_ids == 0) {
        fprintf(stderr, "r1 run: %s\n", rc ? err.message : "the prompt is empty");
        rc = -1;
    }
    cli_generation g = {.ctx = ctx, .sampler = sampler, .tok = tok, .n_vocab = info->n_vocab,
                        .max_tokens = o->n_predict, .ignore_eos = o->ignore_eos, .on_text = write_text,
                        .stops = o->stops, .n_stops = o->n_stops};
    if (rc == 0) rc = cli_generate(&g, ids, (int)n_ids, "r1 run");
    if (rc == 0) {
        printf("\n");
        fflush(stdout);
        fprintf(stderr, "r1 run: prompt %zu tokens in %.3f s (%.1f tokens/s); generated %d tokens in %.3f s "
                "(%.1f tokens/s)%s; kernels %s\n", n_ids, g.prompt_seconds, n_ids / g.prompt_seconds, g.n_generated,
                g.generate_seconds, g.n_generated / g.generate_seconds,
                g.stopped_by_eog ? ", stopped at end of text" : g.stopped_by_string ? ", stopped at a stop string" : "",
                r1_kernel_isa());
    }
    cli_generation_free(&g);
    free(ids);
    r1_tokenizer_free(tok);
    return rc;
}

/* --tokens: ids in, ids out. */
static int run_ids(r1_context *ctx, r1_sampler *sampler, const run_options *o, const r1_model_info *info) {
    double t0 = cli_now();
    int rc = cli_feed_prompt(ctx, o->tokens, o->n_tokens, false, "r1 run");
    double t1 = cli_now();
    int generated = rc == 0 ? generate(ctx, sampler, o, info) : -1;
    double t2 = cli_now();
    if (generated < 0) return -1;
    fprintf(stderr, "r1 run: prompt %d tokens in %.3f s (%.1f tokens/s); generated %d tokens in %.3f s "
            "(%.1f tokens/s); kernels %s\n", o->n_tokens, t1 - t0, o->n_tokens / (t1 - t0), generated,
            t2 - t1, generated > 1 ? (generated - 1) / (t2 - t1) : 0.0, r1_kernel_isa());
    return 0;
}

int cmd_run(int argc, char **argv) {
    run_options o = {0};
    if (parse_run_options(argc, argv, &o) != 0) {
        free(o.tokens);
        return 2;
    }
    if (o.params.n_ctx <= 0) o.params.n_ctx = (o.tokens ? o.n_tokens : 4096) + o.n_predict + 1;
    r1_model *model;
    r1_context *ctx;
    if (cli_open_model(o.model_path, o.load, &o.key, &o.params, &model, &ctx) != 0) {
        free(o.tokens);
        return 1;
    }
    r1_model_info info;
    r1_model_get_info(model, &info);
    r1_sampler *sampler = r1_sampler_new(&o.sampling, info.n_vocab);
    int rc = !sampler ? -1 : o.prompt_text ? run_text(model, ctx, sampler, &o, &info) : run_ids(ctx, sampler, &o, &info);
    r1_sampler_free(sampler);
    r1_context_free(ctx);
    r1_model_free(model);
    free(o.tokens);
    return rc == 0 ? 0 : 1;
}
