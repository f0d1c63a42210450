/*
 * vnni_peak.c - the arithmetic ceiling of one core for r1's integer matrix
 * products: how many AVX-512 VNNI dot products (vpdpbusd on 512-bit
 * registers, 64 multiply-adds of unsigned by signed bytes each) it retires
 * per second when nothing else gets in the way, and the same with one
 * operand broadcast from memory as the kernels do (gemm_x16_avx512.c).
 *
 * Twelve independent accumulators hide the instruction's latency, so the
 * loop measures throughput. Giga-operations per second count 2 per
 * multiply-add, as docs/PERFORMANCE.md does when it gives a kernel's share
 * of this ceiling.
 *
 * Not part of the CMake build (a measurement, not a test):
 *
 *   cc -O2 -pthread -mavx512f -mavx512vnni bench/vnni_peak.c -o BUILD/vnni_peak
 *   BUILD/vnni_peak [THREADS]     # run on a quiet machine
 *
 * With THREADS > 1 it also runs the register loop on that many threads at
 * once and prints their total (cores of a VM may share more than their
 * names suggest).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if !defined(__x86_64__) || !defined(__AVX512VNNI__)
int main(void) {
    fprintf(stderr, "vnni_peak: build with -mavx512f -mavx512vnni on x86-64\n");
    return 1;
}
#else

enum { ITERATIONS = 100000000, PER_ITERATION = 12 };

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static _Alignas(64) int32_t activations[16];

/* 12 vpdpbusd between registers. */
static double registers_only(void) {
    double t0 = now_seconds();
    for (long i = 0; i < ITERATIONS; i++)
        __asm__ volatile("vpdpbusd %%zmm30, %%zmm31, %%zmm0\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm1\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm2\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm3\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm4\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm5\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm6\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm7\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm8\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm9\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm10\n\t"
                         "vpdpbusd %%zmm30, %%zmm31, %%zmm11\n\t" ::
                             : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                               "xmm10", "xmm11");
    return now_seconds() - t0;
}

/* 12 vpdpbusd, each preceded by a 4-byte broadcast load (the kernels'
 * activation bytes). */
static double with_broadcasts(void) {
    double t0 = now_seconds();
    for (long i = 0; i < ITERATIONS; i++)
        __asm__ volatile("vpbroadcastd 0(%0), %%zmm20\n\t vpdpbusd %%zmm20, %%zmm31, %%zmm0\n\t"
                         "vpbroadcastd 4(%0), %%zmm21\n\t vpdpbusd %%zmm21, %%zmm31, %%zmm1\n\t"
                         "vpbroadcastd 8(%0), %%zmm22\n\t vpdpbusd %%zmm22, %%zmm31, %%zmm2\n\t"
                         "vpbroadcastd 12(%0), %%zmm23\n\t vpdpbusd %%zmm23, %%zmm31, %%zmm3\n\t"
                         "vpbroadcastd 16(%0), %%zmm20\n\t vpdpbusd %%zmm20, %%zmm31, %%zmm4\n\t"
                         "vpbroadcastd 20(%0), %%zmm21\n\t vpdpbusd %%zmm21, %%zmm31, %%zmm5\n\t"
                         "vpbroadcastd 24(%0), %%zmm22\n\t vpdpbusd %%zmm22, %%zmm31, %%zmm6\n\t"
                         "vpbroadcastd 28(%0), %%zmm23\n\t vpdpbusd %%zmm23, %%zmm31, %%zmm7\n\t"
                         "vpbroadcastd 32(%0), %%zmm20\n\t vpdpbusd %%zmm20, %%zmm31, %%zmm8\n\t"
                         "vpbroadcastd 36(%0), %%zmm21\n\t vpdpbusd %%zmm21, %%zmm31, %%zmm9\n\t"
                         "vpbroadcastd 40(%0), %%zmm22\n\t vpdpbusd %%zmm22, %%zmm31, %%zmm10\n\t"
                         "vpbroadcastd 44(%0), %%zmm23\n\t vpdpbusd %%zmm23, %%zmm31, %%zmm11\n\t" ::"r"(activations)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                           "xmm10", "xmm11", "xmm20", "xmm21", "xmm22", "xmm23");
    return now_seconds() - t0;
}

static void report(const char *what, double seconds) {
    double per_second = (double)ITERATIONS * PER_ITERATION / seconds;
    printf("%-34s %.2f G vpdpbusd/s = %.0f GOPS (int8, 2 per multiply-add)\n", what, per_second / 1e9,
           per_second * 64 * 2 / 1e9);
}

static void *registers_thread(void *unused) {
    (void)unused;
    registers_only();
    return NULL;
}

enum { MAX_THREADS = 64 };

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "vnni_peak: THREADS must be 1..%d\n", MAX_THREADS);
        return 2;
    }
    report("vpdpbusd zmm, registers:", registers_only());
    report("vpdpbusd zmm, broadcast operand:", with_broadcasts());
    if (threads == 1) return 0;
    pthread_t ids[MAX_THREADS];
    double t0 = now_seconds();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&ids[i], NULL, registers_thread, NULL) != 0) return 1;
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    double seconds = now_seconds() - t0;
    char what[64];
    snprintf(what, sizeof what, "vpdpbusd zmm, %d threads together:", threads);
    report(what, seconds / threads);
    return 0;
}
#endif
