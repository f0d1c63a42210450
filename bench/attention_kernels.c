/*
 * attention_kernels.c - the speed of attention's two products alone
 * (attention.h, through the engine's kernel set): the scores and the value
 * sums of one KV head's query heads over n cached positions, with the rows
 * stored as f32 and as f16, in a loop over many copies of the cache so
 * that the rows come from memory as in a long context's decode (or from
 * cache with one copy).
 *
 * ROW_STRIDE is the distance between consecutive positions' rows, in
 * values: 128 (= the head size) is the KV cache's layout (one head's rows
 * one after the other, kv_cache.h); 256 the layout before, where the rows
 * of the two KV heads of the 1.5B shape alternated.
 *
 * Not part of the CMake build (a measurement, not a test):
 *
 *   cc -O2 -std=c11 -Isrc -Iinclude bench/attention_kernels.c build/libr1.a -lm -lpthread -o attention_kernels
 *   ./attention_kernels [POSITIONS=2048] [HEADS=6] [ROW_STRIDE=128] [COPIES=64]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tensor/attention.h"
#include "tensor/fp16.h"
#include "tensor/kernels.h"

enum { HEAD_DIM = 128, ROUNDS = 3 };

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t bytes) {
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static int arg(int argc, char **argv, int i, int fallback) { return argc > i ? atoi(argv[i]) : fallback; }

int main(int argc, char **argv) {
    const int n = arg(argc, argv, 1, 2048), n_q = arg(argc, argv, 2, 6), stride = arg(argc, argv, 3, 128),
              copies = arg(argc, argv, 4, 64);
    if (n < 1 || n_q < 1 || stride < HEAD_DIM || copies < 1) {
        fprintf(stderr, "usage: attention_kernels [POSITIONS] [HEADS] [ROW_STRIDE >= %d] [COPIES]\n", HEAD_DIM);
        return 2;
    }
    const size_t copy_values = (size_t)n * stride;
    float *f32 = xmalloc(copy_values * copies * sizeof(float));
    uint16_t *f16 = xmalloc(copy_values * copies * sizeof(uint16_t));
    for (size_t i = 0; i < copy_values * copies; i++) {
        f32[i] = 0.01f * (float)(i % 97) - 0.5f;
        f16[i] = r1_f32_to_half(f32[i]);
    }
    const float **rows = xmalloc(sizeof(float *) * (size_t)n);
    const uint16_t **half_rows = xmalloc(sizeof(uint16_t *) * (size_t)n);
    float *q = xmalloc(sizeof(float) * (size_t)n_q * HEAD_DIM), *out = xmalloc(sizeof(float) * (size_t)n_q * HEAD_DIM);
    float *scores = xmalloc(sizeof(float) * (size_t)n_q * n);
    for (int i = 0; i < n_q * HEAD_DIM; i++) q[i] = 0.001f * (float)i;
    const r1_kernel_set *k = r1_kernels();
    printf("%d positions, %d query heads of %d, rows %d values apart, %d cop%s of the cache, kernels %s\n", n, n_q,
           HEAD_DIM, stride, copies, copies == 1 ? "y" : "ies", k->name);
    for (int round = 0; round < ROUNDS; round++)
        for (int half = 0; half < 2; half++) {
            double t0 = now_seconds();
            const int calls = 64;
            for (int call = 0; call < calls; call++) {
                size_t base = (size_t)(call % copies) * copy_values;
                for (int t = 0; t < n; t++) {
                    rows[t] = f32 + base + (size_t)t * stride;
                    half_rows[t] = f16 + base + (size_t)t * stride;
                }
                if (half) {
                    k->attention_scores_f16(scores, n, q, n_q, half_rows, n, HEAD_DIM, 0.088f);
                    k->attention_values_f16(out, scores, n, n_q, half_rows, n, HEAD_DIM);
                } else {
                    k->attention_scores(scores, n, q, n_q, rows, n, HEAD_DIM, 0.088f);
                    k->attention_values(out, scores, n, n_q, rows, n, HEAD_DIM);
                }
            }
            double per_call = (now_seconds() - t0) / calls;
            double bytes = 2.0 * n * HEAD_DIM * (half ? 2 : 4); /* keys and values */
            printf("%s: %6.1f us per KV head, cache rows read at %.1f GB/s\n", half ? "f16" : "f32", 1e6 * per_call,
                   bytes / per_call / 1e9);
        }
    printf("(checksum %g)\n", (double)out[0]);
    free(f32);
    free(f16);
    free(rows);
    free(half_rows);
    free(q);
    free(out);
    free(scores);
    return 0;
}
