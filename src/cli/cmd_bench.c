/*
 * cmd_bench.c - `r1 bench`: how fast this machine runs a model.
 *
 *   r1 bench -m MODEL.gguf [-p 512] [-n 128] [-t THREADS] [-b 1,4,16,32]
 *            [-r REPS] [--json] [--exact] [--kv-type auto|f16|f32] [--mmap|--no-mmap]
 *
 * Measures, each over REPS repetitions (median and range reported):
 *   prefill   p prompt tokens fed as one batch (tokens/s)
 *   decode    n tokens decoded one at a time on an empty sequence (tokens/s;
 *             as llama-bench's tg figure), and again after the p-token
 *             prompt (decode_after_prompt: attention over a longer context)
 *   batched   B sequences decoding together, one token each per step
 *             (aggregate tokens/s), for each B; each sequence is fed the
 *             best token of its own logits (greedy), so every step pays for
 *             every row's output projection (~15 % of a token's arithmetic
 *             on the 1.5B shape) as a server's does
 * and puts decode beside its physical limit: the machine's memory read
 * bandwidth divided by the weight bytes read per token. The bandwidth is
 * measured just before each repetition's decode, since on a shared machine
 * it moves from minute to minute; the median is the floor's, the range is
 * printed beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "bandwidth.h"
#include "base/threadpool.h"
#include "commands.h"

#define MAX_BATCHES 16
#define BATCHED_PROMPT 16  /* tokens of context per sequence before batched decode */
#define BATCHED_STEPS 16   /* decode steps timed for each batch size */

typedef struct bench_options {
    const char *model_path;
    int n_prompt, n_decode, reps;
    int batches[MAX_BATCHES], n_batches;
    bool json;
    r1_context_params params;
    r1_load_mode load;
    cli_key_options key;
} bench_options;

typedef struct stats {
    double median, min, max;
} stats;

static void bench_usage(void) {
    fprintf(stderr, "usage: r1 bench -m MODEL.gguf [-p 512] [-n 128] [-t THREADS] [-b 1,4,16,32] [-r 3]\n"
                    "                [--json] [--exact] [--kv-type auto|f16|f32] [--mmap|--no-mmap]\n"
                    "                [--key-file K | --key-command CMD]\n");
}

static int parse_bench_options(int argc, char **argv, bench_options *o) {
    o->params = r1_context_default_params();
    o->n_prompt = 512, o->n_decode = 128, o->reps = 3;
    int defaults[] = {1, 4, 16, 32};
    memcpy(o->batches, defaults, sizeof defaults);
    o->n_batches = 4;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--json") == 0) { o->json = true; continue; }
        if (strcmp(a, "--exact") == 0) { o->params.exact = true; continue; }
        if (cli_load_option(a, &o->load)) continue;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { bench_usage(); exit(0); }
        if (!(v = arg_value(argc, argv, &i))) return -1;
        if (cli_key_option(a, v, &o->key)) continue;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model_path = v;
        else if (strcmp(a, "-p") == 0) { if (arg_int(a, v, 1, 1 << 16, &o->n_prompt)) return -1; }
        else if (strcmp(a, "-n") == 0) { if (arg_int(a, v, 1, 1 << 16, &o->n_decode)) return -1; }
        else if (strcmp(a, "-r") == 0) { if (arg_int(a, v, 1, 100, &o->reps)) return -1; }
        else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) { if (arg_int(a, v, 1, 1024, &o->params.n_threads)) return -1; }
        else if (strcmp(a, "--kv-type") == 0) { if (arg_kv_type(a, v, &o->params.kv_type)) return -1; }
        else if (strcmp(a, "-b") == 0) {
            int32_t *list;
            int n;
            if (arg_token_list(a, v, &list, &n)) return -1;
            bool ok = n <= MAX_BATCHES;
            for (int k = 0; k < n && ok; k++) ok = list[k] >= 1 && list[k] <= 1024;
            if (!ok) {
                fprintf(stderr, "r1 bench: -b takes at most %d batch sizes, each in 1..1024, got '%s'\n", MAX_BATCHES, v);
                free(list);
                return -1;
            }
            o->n_batches = n;
            memcpy(o->batches, list, (size_t)n * sizeof(int));
            free(list);
        } else { fprintf(stderr, "r1 bench: unknown option '%s'\n", a); bench_usage(); return -1; }
    }
    if (!o->model_path) { bench_usage(); return -1; }
    return 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static stats summarize(double *values, int n) {
    qsort(values, (size_t)n, sizeof(double), compare_doubles);
    stats s = {n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2, values[0], values[n - 1]};
    return s;
}

/* A deterministic spread of token ids over the vocabulary. */
static int32_t bench_token(int i, int n_vocab) { return (int32_t)(((long)i * 7919 + 13) % n_vocab); }

/* Feeds n rows; logits NULL gives logits for the last row only, as for a
 * prompt. */
static int decode_rows(r1_context *ctx, int n, const int32_t *tokens, const int32_t *pos, const int32_t *seq,
                       const int8_t *logits) {
    r1_batch b = {n, tokens, pos, seq, logits};
    r1_error err;
    if (r1_decode(ctx, &b, &err) != 0) {
        fprintf(stderr, "r1 bench: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* n single-token decodes on sequence 0 from position `start`: tokens/s. */
static int decode_steps(r1_context *ctx, int start, int n, int n_vocab, double *rate) {
    double t0 = cli_now();
    for (int k = 0; k < n; k++) {
        int32_t token = bench_token(start + k, n_vocab), p = start + k, s = 0;
        if (decode_rows(ctx, 1, &token, &p, &s, NULL) != 0) return -1;
    }
    *rate = n / (cli_now() - t0);
    return 0;
}

/* One repetition: decode on an empty sequence, prefill, decode after the
 * prompt; rates in tokens/s. */
static int bench_prefill_decode(r1_context *ctx, const bench_options *o, int n_vocab, double *prefill, double *decode,
                                double *decode_after) {
    int n = o->n_prompt;
    int32_t *tokens = malloc((size_t)n * sizeof(int32_t)), *pos = malloc((size_t)n * sizeof(int32_t));
    int32_t *seq = calloc((size_t)n, sizeof(int32_t));
    int rc = tokens && pos && seq ? 0 : -1;
    for (int i = 0; rc == 0 && i < n; i++) tokens[i] = bench_token(i, n_vocab), pos[i] = i;
    r1_seq_truncate(ctx, 0, 0);
    if (rc == 0) rc = decode_steps(ctx, 0, o->n_decode, n_vocab, decode);
    r1_seq_truncate(ctx, 0, 0);
    double t0 = cli_now();
    if (rc == 0) rc = decode_rows(ctx, n, tokens, pos, seq, NULL);
    *prefill = n / (cli_now() - t0);
    if (rc == 0) rc = decode_steps(ctx, n, o->n_decode, n_vocab, decode_after);
    free(tokens);
    free(pos);
    free(seq);
    return rc;
}

/* One repetition of batched decode with B sequences: aggregate tokens/s.
 * The sequences decode greedily, as a server's would with temperature 0:
 * each step asks for the logits of all B rows and feeds every sequence the
 * best token of its own, so the output projection and the choice are
 * measured for every sequence, not only the last. */
static int bench_batched(r1_context *ctx, int B, int n_vocab, double *rate) {
    int n = B * BATCHED_PROMPT;
    int32_t *tokens = malloc((size_t)n * sizeof(int32_t)), *pos = malloc((size_t)n * sizeof(int32_t));
    int32_t *seq = malloc((size_t)n * sizeof(int32_t));
    int8_t *every_row = malloc((size_t)B);
    int rc = tokens && pos && seq && every_row ? 0 : -1;
    for (int s = 0; s <= B; s++) r1_seq_truncate(ctx, s, 0);
    for (int i = 0; rc == 0 && i < n; i++)
        tokens[i] = bench_token(i, n_vocab), pos[i] = i % BATCHED_PROMPT, seq[i] = 1 + i / BATCHED_PROMPT;
    if (rc == 0) rc = decode_rows(ctx, n, tokens, pos, seq, NULL); /* context, not timed */
    for (int s = 0; rc == 0 && s < B; s++) tokens[s] = bench_token(s, n_vocab), seq[s] = 1 + s, every_row[s] = 1;
    double t0 = cli_now();
    for (int step = 0; rc == 0 && step < BATCHED_STEPS; step++) {
        for (int s = 0; s < B; s++) pos[s] = BATCHED_PROMPT + step;
        rc = decode_rows(ctx, B, tokens, pos, seq, every_row);
        for (int s = 0; rc == 0 && s < B; s++) {
            const float *logits = r1_get_logits(ctx, s);
            if (!logits) {
                fprintf(stderr, "r1 bench: no logits for sequence %d of a batched step\n", s + 1);
                rc = -1;
            } else {
                tokens[s] = r1_argmax(logits, n_vocab);
            }
        }
    }
    *rate = (double)B * BATCHED_STEPS / (cli_now() - t0);
    free(tokens);
    free(pos);
    free(seq);
    free(every_row);
    return rc;
}

static void print_json(const bench_options *o, const r1_model_info *info, stats pf, stats dc, stats da,
                       const stats *batched, stats bw, int threads) {
    double bandwidth = bw.median, floor = bandwidth / (double)info->bytes_per_token;
    printf("{\"model\": \"%s\", \"model_type\": \"%s\", \"arch\": \"%s\", \"n_params\": %llu, \"threads\": %d, "
           "\"kernels\": \"%s\", \"exact\": %s, \"kv_type\": \"%s\", \"n_prompt\": %d, \"n_decode\": %d, \"repetitions\": %d, "
           "\"prefill_tokens_per_s\": %.3f, \"prefill_range\": [%.3f, %.3f], "
           "\"decode_tokens_per_s\": %.3f, \"decode_range\": [%.3f, %.3f], "
           "\"decode_after_prompt_tokens_per_s\": %.3f, \"batched\": [",
           o->model_path, info->file_type, info->arch, (unsigned long long)info->n_params, threads, r1_kernel_isa(),
           o->params.exact ? "true" : "false", r1_kv_type_name(o->params.kv_type), o->n_prompt, o->n_decode, o->reps,
           pf.median, pf.min, pf.max,
           dc.median, dc.min, dc.max, da.median);
    for (int k = 0; k < o->n_batches; k++)
        printf("%s{\"batch\": %d, \"tokens_per_s\": %.3f, \"range\": [%.3f, %.3f]}", k ? ", " : "", o->batches[k],
               batched[k].median, batched[k].min, batched[k].max);
    printf("], \"weight_bytes_per_token\": %llu, ", (unsigned long long)info->bytes_per_token);
    if (bw.min <= 0.0) /* a 1 GiB buffer could not be had: no floor to compare with */
        printf("\"bandwidth_bytes_per_s\": null, \"decode_floor_tokens_per_s\": null, \"decode_floor_fraction\": null}\n");
    else
        printf("\"bandwidth_bytes_per_s\": %.0f, \"bandwidth_range\": [%.0f, %.0f], \"decode_floor_tokens_per_s\": %.3f, "
               "\"decode_floor_fraction\": %.4f}\n",
               bandwidth, bw.min, bw.max, floor, dc.median / floor);
}

static void print_table(const bench_options *o, const r1_model_info *info, stats pf, stats dc, stats da,
                        const stats *batched, stats bw, int threads) {
    double bandwidth = bw.median, floor = bandwidth / (double)info->bytes_per_token;
    printf("model %s (%s %s, %.2f B params), %d threads, kernels %s%s, KV cache %s\n", o->model_path, info->arch,
           info->file_type, info->n_params / 1e9, threads, r1_kernel_isa(), o->params.exact ? ", exact" : "",
           r1_kv_type_name(o->params.kv_type));
    printf("  prefill %-4d   %8.2f tokens/s  (range %.2f - %.2f, %d reps)\n", o->n_prompt, pf.median, pf.min, pf.max, o->reps);
    printf("  decode  %-4d   %8.2f tokens/s  (range %.2f - %.2f)\n", o->n_decode, dc.median, dc.min, dc.max);
    printf("  decode  %-4d   %8.2f tokens/s  (range %.2f - %.2f) after the %d-token prompt\n", o->n_decode, da.median,
           da.min, da.max, o->n_prompt);
    for (int k = 0; k < o->n_batches; k++)
        printf("  batched B=%-3d  %8.2f tokens/s  (range %.2f - %.2f; %.2fx B=1 decode)\n", o->batches[k],
               batched[k].median, batched[k].min, batched[k].max, batched[k].median / dc.median);
    if (bw.min <= 0.0) {
        printf("  weights read per token %.3f GB; memory read bandwidth not measured (no 1 GiB buffer)\n",
               info->bytes_per_token / 1e9);
        return;
    }
    printf("  weights read per token %.3f GB; memory read bandwidth %.1f GB/s (range %.1f - %.1f, read before each"
           " decode); decode floor %.2f tokens/s; decode at %.1f%% of the floor\n",
           info->bytes_per_token / 1e9, bandwidth / 1e9, bw.min / 1e9, bw.max / 1e9, floor,
           100.0 * dc.median / floor);
}

int cmd_bench(int argc, char **argv) {
    bench_options o = {0};
    if (parse_bench_options(argc, argv, &o) != 0) return 2;
    int max_batch = 1;
    for (int k = 0; k < o.n_batches; k++) max_batch = o.batches[k] > max_batch ? o.batches[k] : max_batch;
    o.params.n_seq_max = max_batch + 1;
    o.params.n_ctx = o.n_prompt + o.n_decode + max_batch * (BATCHED_PROMPT + BATCHED_STEPS + 16) + 64;
    o.params.n_batch = o.n_prompt > max_batch * BATCHED_PROMPT ? o.n_prompt : max_batch * BATCHED_PROMPT;
    r1_model *model;
    r1_context *ctx;
    if (cli_open_model(o.model_path, o.load, &o.key, &o.params, &model, &ctx) != 0) return 1;
    o.params.kv_type = r1_context_kv_type(ctx); /* what the default resolved to, for the report */
    r1_model_info info;
    r1_model_get_info(model, &info);
    int threads = o.params.n_threads > 0 ? o.params.n_threads : r1_cpu_count();
    double pf[100], dc[100], da[100], bt[MAX_BATCHES][100], bw[100];
    int rc = 0;
    for (int r = 0; rc == 0 && r < o.reps; r++) {
        bw[r] = measure_read_bandwidth(threads, 3);
        rc = bench_prefill_decode(ctx, &o, info.n_vocab, &pf[r], &dc[r], &da[r]);
        for (int k = 0; rc == 0 && k < o.n_batches; k++) rc = bench_batched(ctx, o.batches[k], info.n_vocab, &bt[k][r]);
        if (!o.json && rc == 0) fprintf(stderr, "r1 bench: repetition %d of %d done\n", r + 1, o.reps);
    }
    r1_context_free(ctx);
    if (rc == 0) {
        stats batched[MAX_BATCHES];
        for (int k = 0; k < o.n_batches; k++) batched[k] = summarize(bt[k], o.reps);
        stats p = summarize(pf, o.reps), d = summarize(dc, o.reps), after = summarize(da, o.reps);
        stats bandwidth = summarize(bw, o.reps);
        if (o.json) print_json(&o, &info, p, d, after, batched, bandwidth, threads);
        else print_table(&o, &info, p, d, after, batched, bandwidth, threads);
    }
    r1_model_free(model);
    return rc == 0 ? 0 : 1;
}
