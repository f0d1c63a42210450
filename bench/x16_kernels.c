/*
 * x16_kernels.c - the speed of one interleaved product kernel alone
 * (gemm_x16_avx512.c, or gemm_x16_avx2.c under R1_ISA=avx2): a weight
 * matrix of random Q4_K, Q6_K or Q8_0 rows, interleaved as the loader
 * does, times a few prepared activation rows, in
 * a loop for about a second. It prints giga-operations per second (2 per
 * multiply-add, as bench/vnni_peak.c and docs/PERFORMANCE.md count them)
 * and the weight bytes read per second.
 *
 * Small matrices stay in L2 and show the kernel's arithmetic (64 rows of
 * 1536 values, 1 activation row: how fast decode could consume weights if
 * memory kept up); large ones stream from memory. Judge a kernel change by
 * `r1 bench` pairs of the whole model as well: a change that wins here can
 * lose there, where many kernels share the instruction caches.
 *
 * Not part of the CMake build (a measurement, not a test):
 *
 *   cc -O2 -std=c11 -Isrc -Iinclude bench/x16_kernels.c build/libr1.a -lm -lpthread -o x16_kernels
 *   ./x16_kernels TYPE WEIGHT_ROWS ACTIVATION_ROWS ROW_VALUES [SECONDS]
 *   ./x16_kernels q4_K 64 1 1536        # batch-1 product from L2
 *   ./x16_kernels q6_K 1536 512 8960    # ffn_down of the 1.5B shape, prefill
 *   R1_ISA=avx2 ./x16_kernels q4_K 64 16 1536   # the AVX2 set's kernel
 */
#define _DEFAULT_SOURCE /* clock_gettime and madvise under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "tensor/interleave.h"
#include "tensor/kernels.h"
#include "tensor/types.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "x16_kernels: out of memory (%zu bytes)\n", bytes);
        exit(1);
    }
    return p;
}

/* Memory in 2 MB pages where the kernel grants them, as the model loader
 * places weights: with 4 KB pages a matrix streamed from memory pays a TLB
 * miss every 4 KB, which the products in the model do not. */
static void *huge_page_malloc(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    size_t rounded = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
    if (!p) return xmalloc(bytes);
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

/* Rows of uniform values in [-1, 1), quantized by the scalar reference. */
static uint8_t *random_rows(r1_type type, int rows, int64_t n, uint64_t *state) {
    size_t row_bytes = r1_row_bytes(type, n);
    uint8_t *out = huge_page_malloc(row_bytes * (size_t)rows);
    float *values = xmalloc((size_t)n * sizeof(float));
    for (int r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) {
            *state ^= *state << 13; /* xorshift64 */
            *state ^= *state >> 7;
            *state ^= *state << 17;
            values[i] = (float)((double)(*state >> 11) / 4503599627370496.0 - 1.0);
        }
        r1_kernels_for(R1_ISA_SCALAR)->format[type].quantize(values, out + (size_t)r * row_bytes, n);
    }
    free(values);
    return out;
}

static int type_named(const char *name, r1_type *type) {
    const r1_type candidates[] = {R1_TYPE_Q4_K, R1_TYPE_Q6_K, R1_TYPE_Q8_0};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (strcmp(r1_type_get((uint32_t)candidates[i])->name, name) == 0) {
            *type = candidates[i];
            return 0;
        }
    return -1;
}

int main(int argc, char **argv) {
    r1_type type;
    if (argc < 5 || type_named(argv[1], &type) != 0) {
        fprintf(stderr, "usage: x16_kernels q4_K|q6_K|q8_0 WEIGHT_ROWS ACTIVATION_ROWS ROW_VALUES [SECONDS]\n");
        return 2;
    }
    const int w_rows = atoi(argv[2]), x_rows = atoi(argv[3]);
    const int64_t n = atol(argv[4]);
    const double seconds = argc > 5 ? atof(argv[5]) : 1.0;
    if (w_rows <= 0 || x_rows <= 0 || n <= 0 || !r1_x16_possible(type, n, w_rows)) {
        fprintf(stderr, "x16_kernels: WEIGHT_ROWS must be a multiple of 16 and ROW_VALUES of 256\n");
        return 2;
    }
    /* the kernel set r1 itself would choose (R1_ISA=avx2 lowers it) */
    r1_gemm_x16_fn gemm = r1_kernels()->format[type].gemm_x16;
    if (!gemm) {
        fprintf(stderr, "x16_kernels: the %s kernel set has no interleaved %s product\n", r1_kernels()->name,
                argv[1]);
        return 1;
    }

    uint64_t state = 88172645463325252ull;
    const r1_type x_type = r1_type_get((uint32_t)type)->dot_type;
    const size_t w_row_bytes = r1_row_bytes(type, n), x_row_bytes = r1_row_bytes(x_type, n);
    uint8_t *w = random_rows(type, w_rows, n, &state);
    uint8_t *x = random_rows(x_type, x_rows, n, &state);
    if (r1_x16_interleave(type, w, n, w_rows) != 0) {
        fprintf(stderr, "x16_kernels: out of memory interleaving\n");
        return 1;
    }
    const size_t prepared_bytes = r1_x16_activation_row_bytes(type, n);
    uint8_t *prepared = xmalloc(prepared_bytes * (size_t)x_rows);
    for (int c = 0; c < x_rows; c++) {
        memcpy(prepared + (size_t)c * prepared_bytes, x + (size_t)c * x_row_bytes, x_row_bytes);
        r1_x16_prepare_activation(type, prepared + (size_t)c * prepared_bytes, n);
    }
    float *y = xmalloc(sizeof(float) * (size_t)w_rows * (size_t)x_rows);

    long products = 0;
    double elapsed, t0 = now_seconds();
    do {
        gemm(w, 16 * w_row_bytes, w_rows / 16, prepared, prepared_bytes, x_rows, n, y, w_rows);
        products++;
    } while ((elapsed = now_seconds() - t0) < seconds);

    printf("%s %s %d x %lld weights x %d activation rows: %.1f GOPS, weights %.1f GB/s (%ld products)\n",
           r1_kernels()->name, argv[1], w_rows, (long long)n, x_rows, 2.0 * w_rows * x_rows * (double)n * products / elapsed / 1e9,
           (double)w_row_bytes * w_rows * products / elapsed / 1e9, products);
    free(y);
    free(prepared);
    free(x);
    free(w);
    return 0;
}
