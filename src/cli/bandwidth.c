/*
 * bandwidth.c - memory read bandwidth (see bandwidth.h).
 *
 * Each thread sums its own slice of a large buffer with wide loads and
 * several independent accumulators, so the loop is limited by memory, not
 * by the adds. The sum is kept so the compiler cannot drop the reads.
 */
#include "bandwidth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/threadpool.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) static uint64_t sum_words_avx2(const uint64_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, s);
    uint64_t total = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; i++) total += p[i];
    return total;
}
#endif

static uint64_t sum_words(const uint64_t *p, size_t n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return sum_words_avx2(p, n);
#endif
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
    for (; i < n; i++) a += p[i];
    return a + b + c + d;
}

typedef struct read_task {
    const uint64_t *buffer;
    size_t words;
    volatile uint64_t sink[64];
} read_task;

static void read_slice(void *arg, int thread, int n_threads) {
    read_task *t = arg;
    long begin, end;
    r1_split_range((long)t->words, thread, n_threads, 64, &begin, &end);
    t->sink[thread % 64] = sum_words(t->buffer + begin, (size_t)(end - begin));
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double measure_read_bandwidth(int n_threads, int passes) {
    const size_t bytes = (size_t)1 << 30;
    uint64_t *buffer = aligned_alloc(64, bytes);
    r1_threadpool *pool = r1_threadpool_new(n_threads);
    if (!buffer || !pool) {
        free(buffer);
        r1_threadpool_free(pool);
        return 0.0;
    }
    memset(buffer, 1, bytes); /* touch every page before timing */
    read_task task = {.buffer = buffer, .words = bytes / sizeof(uint64_t)};
    double best = 1e30;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = seconds_now();
        r1_threadpool_run(pool, read_slice, &task);
        double dt = seconds_now() - t0;
        if (dt < best) best = dt;
    }
    r1_threadpool_free(pool);
    free(buffer);
    return (double)bytes / best;
}
