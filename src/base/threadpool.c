/*
 * threadpool.c - the persistent worker pool (see threadpool.h).
 *
 * A run publishes (fn, ctx) and bumps `generation`; workers notice the new
 * generation, run the task and decrement `pending`; the caller runs its own
 * share and then waits for `pending` to reach zero. Waking sleeping workers
 * costs a mutex and a broadcast, so it is done only when some worker has
 * actually gone to sleep (`sleepers`). The seq_cst order of "sleepers++ then
 * read generation" (worker) against "generation++ then read sleepers"
 * (caller) guarantees that one of the two sides sees the other: no lost
 * wake-up.
 */
#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* Spin iterations before a worker sleeps: roughly a millisecond. */
#define SPIN_ITERATIONS 20000

typedef struct worker {
    r1_threadpool *pool;
    int index;
    pthread_t thread;
} worker;

struct r1_threadpool {
    int n_threads;
    worker *workers;           /* n_threads - 1 entries; thread 0 is the caller */
    r1_task_fn fn;
    void *ctx;
    atomic_uint generation;
    atomic_int pending;
    atomic_int sleepers;
    atomic_bool stopping;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

int r1_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void r1_split_range(long n, int part, int n_parts, long granule, long *begin, long *end) {
    if (granule < 1) granule = 1;
    long units = (n + granule - 1) / granule;
    long per = units / n_parts, extra = units % n_parts;
    long first = part * per + (part < extra ? part : extra);
    long count = per + (part < extra ? 1 : 0);
    long b = first * granule, e = (first + count) * granule;
    *begin = b < n ? b : n;
    *end = e < n ? e : n;
}

/* Waits until the generation differs from `seen`: spin, then sleep. */
static unsigned wait_for_work(r1_threadpool *pool, unsigned seen) {
    for (int i = 0; i < SPIN_ITERATIONS; i++) {
        unsigned g = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (g != seen || atomic_load(&pool->stopping)) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&pool->generation)) == seen && !atomic_load(&pool->stopping))
        pthread_cond_wait(&pool->wake, &pool->mutex);
    atomic_fetch_sub(&pool->sleepers, 1);
    pthread_mutex_unlock(&pool->mutex);
    return g;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    r1_threadpool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_work(pool, seen);
        if (atomic_load(&pool->stopping)) break;
        pool->fn(pool->ctx, w->index, pool->n_threads);
        atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_release);
    }
    return NULL;
}

r1_threadpool *r1_threadpool_new(int n_threads) {
    if (n_threads <= 0) n_threads = r1_cpu_count();
    r1_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pool->workers = calloc((size_t)n_threads, sizeof(worker));
    if (!pool->workers || pthread_mutex_init(&pool->mutex, NULL) != 0) {
        free(pool->workers);
        free(pool);
        return NULL;
    }
    if (pthread_cond_init(&pool->wake, NULL) != 0) {
        pthread_mutex_destroy(&pool->mutex);
        free(pool->workers);
        free(pool);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        worker *w = &pool->workers[i - 1];
        w->pool = pool;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pool->n_threads = i; /* keep the ones that started */
            break;
        }
        pthread_setname_np(w->thread, "r1-compute"); /* for top, and the server's CPU metrics */
    }
    return pool;
}

void r1_threadpool_free(r1_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stopping, true);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->n_threads; i++) pthread_join(pool->workers[i - 1].thread, NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool->workers);
    free(pool);
}

int r1_threadpool_size(const r1_threadpool *pool) { return pool ? pool->n_threads : 1; }

void r1_threadpool_run(r1_threadpool *pool, r1_task_fn fn, void *ctx) {
    if (!pool || pool->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store(&pool->pending, pool->n_threads - 1);
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    fn(ctx, 0, pool->n_threads);
    /* Spin for the other threads' shares, but not for long: on a machine
     * busier than its cores, the thread we wait for may be waiting for
     * this core, and yielding lets it run instead of burning a time slice. */
    for (int spins = 0; atomic_load_explicit(&pool->pending, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_ITERATIONS) cpu_relax();
        else sched_yield();
    }
}
