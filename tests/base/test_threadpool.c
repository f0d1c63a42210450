/* test_threadpool.c - the persistent thread pool and range splitting. */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "testutil.h"

typedef struct counting_task {
    atomic_int calls;
    atomic_int seen_mask;
    long sum;
    long *partial;
} counting_task;

static void count_calls(void *arg, int thread, int n_threads) {
    counting_task *t = arg;
    (void)n_threads;
    atomic_fetch_add(&t->calls, 1);
    atomic_fetch_or(&t->seen_mask, 1 << thread);
}

static void test_every_thread_runs_once(void **state) {
    (void)state;
    for (int n = 1; n <= 5; n++) {
        r1_threadpool *pool = r1_threadpool_new(n);
        assert_non_null(pool);
        assert_int_equal(r1_threadpool_size(pool), n);
        for (int run = 0; run < 200; run++) {
            counting_task t = {0};
            r1_threadpool_run(pool, count_calls, &t);
            assert_int_equal(atomic_load(&t.calls), n);
            assert_int_equal(atomic_load(&t.seen_mask), (1 << n) - 1);
        }
        r1_threadpool_free(pool);
    }
}

static void sum_range(void *arg, int thread, int n_threads) {
    counting_task *t = arg;
    long begin, end, s = 0;
    r1_split_range(100000, thread, n_threads, 7, &begin, &end);
    for (long i = begin; i < end; i++) s += i;
    t->partial[thread] = s;
}

/* Work split by r1_split_range covers every item exactly once. */
static void test_parallel_sum(void **state) {
    (void)state;
    r1_threadpool *pool = r1_threadpool_new(3);
    long partial[3];
    counting_task t = {.partial = partial};
    r1_threadpool_run(pool, sum_range, &t);
    assert_int_equal(partial[0] + partial[1] + partial[2], 100000L * 99999L / 2);
    r1_threadpool_free(pool);
}

/* Workers that went to sleep (after their spin) wake for the next run. */
static void test_wakes_after_sleep(void **state) {
    (void)state;
    r1_threadpool *pool = r1_threadpool_new(2);
    for (int i = 0; i < 3; i++) {
        usleep(20000); /* longer than the spin: workers sleep */
        counting_task t = {0};
        r1_threadpool_run(pool, count_calls, &t);
        assert_int_equal(atomic_load(&t.calls), 2);
    }
    r1_threadpool_free(pool);
}

static void test_split_range(void **state) {
    (void)state;
    long b, e;
    for (int parts = 1; parts <= 6; parts++) {
        for (long n = 0; n < 50; n++) {
            long expect_begin = 0;
            for (int p = 0; p < parts; p++) {
                r1_split_range(n, p, parts, 4, &b, &e);
                assert_true(b == expect_begin || b == e);
                assert_true(b <= e && e <= n);
                if (b != e) {
                    assert_int_equal(b % 4, 0);
                    expect_begin = e;
                }
            }
            assert_int_equal(expect_begin, n);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_thread_runs_once),
        cmocka_unit_test(test_parallel_sum),
        cmocka_unit_test(test_wakes_after_sleep),
        cmocka_unit_test(test_split_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
