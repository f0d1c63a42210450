/*
 * threadpool.h - a persistent pool of worker threads.
 *
 * The forward pass runs hundreds of small parallel steps per token, so
 * threads are created once and reused: r1_threadpool_run() hands one task to
 * every thread (the caller is thread 0) and returns when all have finished.
 * Idle workers spin briefly (the next step usually follows within
 * microseconds), then sleep on a condition variable so an idle server uses
 * no CPU.
 */
#ifndef R1_BASE_THREADPOOL_H
#define R1_BASE_THREADPOOL_H

typedef struct r1_threadpool r1_threadpool;

/* The task: called once on each of n_threads threads with its index. */
typedef void (*r1_task_fn)(void *ctx, int thread_index, int n_threads);

/* n_threads <= 0 means one per online CPU. Returns NULL on failure. */
r1_threadpool *r1_threadpool_new(int n_threads);
void r1_threadpool_free(r1_threadpool *pool);
int r1_threadpool_size(const r1_threadpool *pool);

/* Runs fn on every thread and waits for all. Not re-entrant: one run at a
 * time per pool, from one calling thread. */
void r1_threadpool_run(r1_threadpool *pool, r1_task_fn fn, void *ctx);

/* The number of online CPUs (at least 1). */
int r1_cpu_count(void);

/* Splits n items into n_parts nearly equal contiguous ranges; part i gets
 * [*begin, *end). Ranges are aligned to `granule` items where possible. */
void r1_split_range(long n, int part, int n_parts, long granule, long *begin, long *end);

#endif
