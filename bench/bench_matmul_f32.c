/*
 * bench_matmul_f32.c - speed of r1_matmul with float activations and F32 /
 * F16 weights over a large batch (Whisper's encoder: 1500 frames), with the
 * tiled float product (gemm_f32) and without it (one dot_f32 per output, as
 * before gemm_f32 existed).
 *
 * Not part of the CMake build (a measurement, not a test). Build it against
 * a built libr1.a and run it on a quiet machine:
 *
 *   cc -O2 -std=c11 -Isrc -Iinclude bench/bench_matmul_f32.c BUILD/libr1.a \
 *      -lpthread -lm -o BUILD/bench_matmul_f32
 *   BUILD/bench_matmul_f32 [rows=1500] [k=1024] [n_out=1024] [repeats=3]
 *
 * Prints GFLOP/s (2 * rows * k * n_out per product) of every repeat for 1
 * and 2 threads, and the ratio of the medians.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/kernels.h"
#include "tensor/matmul.h"

enum { MAX_REPEATS = 9 };

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Uniform in [-1, 1) from a 64-bit LCG: enough for timing. */
static float next_value(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*state >> 40) / (float)(1u << 23) - 1.0f;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GFLOP/s of one product per repeat, in rate[]. */
static int time_products(const r1_kernel_set *set, int n_threads, const r1_tensor *w, const float *x, int rows,
                         float *y, int repeats, double *rate) {
    r1_compute c;
    if (r1_compute_init(&c, n_threads, true) != 0) return -1;
    c.kernels = set;
    double flops = 2.0 * rows * (double)w->ne[0] * (double)w->ne[1];
    for (int i = 0; i < repeats; i++) {
        double t0 = now_seconds();
        if (r1_matmul(&c, w, x, rows, y, w->ne[1]) != 0) return -1;
        rate[i] = flops / (now_seconds() - t0) / 1e9;
    }
    r1_compute_free(&c);
    return 0;
}

static double median(double *v, int n) {
    double s[MAX_REPEATS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), compare_doubles);
    return s[n / 2];
}

static void print_rates(const char *label, const double *rate, int n) {
    printf("  %-22s", label);
    for (int i = 0; i < n; i++) printf(" %7.1f", rate[i]);
    printf("  GFLOP/s\n");
}

static int bench_type(r1_type type, int rows, long k, long n_out, int repeats) {
    const r1_kernel_set *tiled = r1_kernels();
    r1_kernel_set dots = *tiled; /* the same kernels without gemm_f32: rows one by one */
    for (int t = 0; t < R1_TYPE_COUNT; t++) dots.format[t].gemm_f32 = NULL;
    r1_tensor w = {.name = "w", .type = type, .n_dims = 2, .ne = {k, n_out, 1, 1},
                   .row_bytes = r1_row_bytes(type, k)};
    uint8_t *wdata = malloc(w.row_bytes * (size_t)n_out);
    float *x = malloc(sizeof(float) * (size_t)rows * (size_t)k);
    float *y = malloc(sizeof(float) * (size_t)rows * (size_t)n_out);
    float *row = malloc(sizeof(float) * (size_t)k);
    if (!wdata || !x || !y || !row) return -1;
    uint64_t rng = 1;
    for (long r = 0; r < n_out; r++) {
        for (long i = 0; i < k; i++) row[i] = next_value(&rng);
        tiled->format[type].quantize(row, wdata + (size_t)r * w.row_bytes, k);
    }
    w.data = wdata;
    for (size_t i = 0; i < (size_t)rows * (size_t)k; i++) x[i] = next_value(&rng);
    printf("%s weights %ldx%ld x %d rows, kernels %s:\n", r1_type_get(type)->name, n_out, k, rows, tiled->name);
    for (int threads = 1; threads <= 2; threads++) {
        double before[MAX_REPEATS], after[MAX_REPEATS];
        if (time_products(&dots, threads, &w, x, rows, y, repeats, before) != 0 ||
            time_products(tiled, threads, &w, x, rows, y, repeats, after) != 0)
            return -1;
        char label[64];
        snprintf(label, sizeof label, "%d thread(s) dot_f32", threads);
        print_rates(label, before, repeats);
        snprintf(label, sizeof label, "%d thread(s) gemm_f32", threads);
        print_rates(label, after, repeats);
        printf("  %d thread(s): gemm_f32 / dot_f32 = %.2fx (medians)\n", threads,
               median(after, repeats) / median(before, repeats));
    }
    free(row);
    free(y);
    free(x);
    free(wdata);
    return 0;
}

int main(int argc, char **argv) {
    int rows = argc > 1 ? atoi(argv[1]) : 1500;
    long k = argc > 2 ? atol(argv[2]) : 1024, n_out = argc > 3 ? atol(argv[3]) : 1024;
    int repeats = argc > 4 ? atoi(argv[4]) : 3;
    if (rows < 1 || k < 1 || n_out < 1 || repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "usage: bench_matmul_f32 [rows>=1] [k>=1] [n_out>=1] [repeats 1..%d]\n", MAX_REPEATS);
        return 2;
    }
    if (bench_type(R1_TYPE_F16, rows, k, n_out, repeats) != 0 || bench_type(R1_TYPE_F32, rows, k, n_out, repeats) != 0) {
        fprintf(stderr, "bench_matmul_f32: out of memory or threads\n");
        return 1;
    }
    return 0;
}
