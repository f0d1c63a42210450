/* common.c - what several r1 sub-commands share (see commands.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"

int cli_open_model(const char *path, r1_load_mode load, const cli_key_options *key, const r1_context_params *params,
                   r1_model **model, r1_context **ctx) {
    r1_error err;
    r1_model_params mp = {.load = load, .key_file = key ? key->file : NULL, .key_command = key ? key->command : NULL};
    if (r1_model_load_ex(path, &mp, model, &err) != 0) {
        fprintf(stderr, "r1: %s\n", err.message);
        return -1;
    }
    if (r1_context_new(*model, params, ctx, &err) != 0) {
        fprintf(stderr, "r1: %s\n", err.message);
        r1_model_free(*model);
        *model = NULL;
        return -1;
    }
    return 0;
}

bool cli_load_option(const char *a, r1_load_mode *load) {
    if (strcmp(a, "--mmap") == 0) *load = R1_LOAD_MMAP;
    else if (strcmp(a, "--no-mmap") == 0) *load = R1_LOAD_COPY;
    else return false;
    return true;
}

bool cli_key_option(const char *a, const char *v, cli_key_options *key) {
    if (strcmp(a, "--key-file") == 0) key->file = v;
    else if (strcmp(a, "--key-command") == 0) key->command = v;
    else return false;
    return true;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cli_feed_prompt(r1_context *ctx, const int32_t *tokens, int n, bool all_logits, const char *who) {
    int32_t *pos = malloc((size_t)n * sizeof(int32_t)), *seq = calloc((size_t)n, sizeof(int32_t));
    int8_t *want = malloc((size_t)n);
    int rc = 0;
    if (!pos || !seq || !want) {
        fprintf(stderr, "%s: out of memory\n", who);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        pos[i] = i;
        want[i] = all_logits || i == n - 1;
    }
    r1_batch b = {n, tokens, pos, seq, want};
    r1_error err;
    if (rc == 0 && r1_decode(ctx, &b, &err) != 0) {
        fprintf(stderr, "%s: %s\n", who, err.message);
        rc = -1;
    }
    free(pos);
    free(seq);
    free(want);
    return rc;
}

int cli_feed_token(r1_context *ctx, int32_t token, int32_t pos, const char *who) {
    int32_t seq = 0;
    r1_batch b = {1, &token, &pos, &seq, NULL};
    r1_error err;
    if (r1_decode(ctx, &b, &err) != 0) {
        fprintf(stderr, "\n%s: %s\n", who, err.message);
        return -1;
    }
    return 0;
}
