/* common.c - what several r1 sub-commands share (see commands.h). */
#include <stdio.h>
#include <time.h>

#include "commands.h"

int cli_open_model(const char *path, const r1_context_params *params, r1_model **model, r1_context **ctx) {
    r1_error err;
    if (r1_model_load(path, model, &err) != 0) {
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

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
