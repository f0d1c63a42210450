/*
 * test_rate_limit.c - per-subject limits (src/server/rate_limit.c) on an
 * injected clock: requests per minute (burst, steady refill, Retry-After),
 * tokens per minute charged after the request, tokens per UTC day,
 * concurrent requests, subjects apart, limits changed on the fly, the
 * x-ratelimit-* figures and their duration text, bounded memory with idle
 * subjects dropped, and many threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "server/rate_limit.h"
#include "testutil.h"

#define T0 (INT64_C(1800000000) * 1000) /* a whole-minute, mid-day instant */
#define MIN 60000

static rate_limiter *new_rl(size_t n) {
    r1_error err = {{0}};
    rate_limiter *rl = rl_create(n, &err);
    if (!rl) fail_msg("%s", err.message);
    return rl;
}

static void test_requests_per_minute(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    rl_limits l = {.requests_per_min = 6};
    rl_verdict v;
    for (int i = 0; i < 6; i++) {
        assert_true(rl_acquire(rl, "alice", &l, T0, &v));
        rl_release(rl, "alice", &l, 0, T0);
        assert_int_equal(v.limit_requests, 6);
        assert_int_equal(v.remaining_requests, 5 - i);
    }
    assert_false(rl_acquire(rl, "alice", &l, T0, &v));
    assert_string_equal(v.reason, "requests per minute");
    assert_int_equal(v.retry_after_s, 10); /* one request per 10 s comes back */
    assert_int_equal(v.remaining_requests, 0);
    assert_int_equal(v.reset_requests_ms, 60000);
    /* other subjects are unaffected */
    assert_true(rl_acquire(rl, "bob", &l, T0, &v));
    rl_release(rl, "bob", &l, 0, T0);
    /* 9.999 s later: still refused; 10 s: one more */
    assert_false(rl_acquire(rl, "alice", &l, T0 + 9999, &v));
    assert_int_equal(v.retry_after_s, 1);
    assert_true(rl_acquire(rl, "alice", &l, T0 + 10000, &v));
    rl_release(rl, "alice", &l, 0, T0 + 10000);
    assert_false(rl_acquire(rl, "alice", &l, T0 + 10000, &v));
    /* after a full minute idle, the whole burst again */
    for (int i = 0; i < 6; i++) {
        assert_true(rl_acquire(rl, "alice", &l, T0 + 2 * MIN, &v));
        rl_release(rl, "alice", &l, 0, T0 + 2 * MIN);
    }
    rl_free(rl);
}

static void test_refused_holds_nothing(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    rl_limits l = {.requests_per_min = 1};
    rl_verdict v;
    assert_true(rl_acquire(rl, "a", &l, T0, &v));
    rl_release(rl, "a", &l, 0, T0);
    for (int i = 0; i < 100; i++) assert_false(rl_acquire(rl, "a", &l, T0 + i * 100, &v));
    /* the refusals did not push the refill back */
    assert_true(rl_acquire(rl, "a", &l, T0 + MIN, &v));
    rl_free(rl);
}

static void test_tokens_per_minute(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    rl_limits l = {.tokens_per_min = 1000};
    rl_verdict v;
    assert_true(rl_acquire(rl, "alice", &l, T0, &v));
    assert_int_equal(v.limit_tokens, 1000);
    assert_int_equal(v.remaining_tokens, 1000);
    rl_release(rl, "alice", &l, 900, T0);
    assert_true(rl_acquire(rl, "alice", &l, T0, &v)); /* 100 left: admitted ... */
    assert_int_equal(v.remaining_tokens, 100);
    rl_release(rl, "alice", &l, 400, T0); /* ... and may overspend */
    assert_false(rl_acquire(rl, "alice", &l, T0, &v));
    assert_string_equal(v.reason, "tokens per minute");
    assert_int_equal(v.remaining_tokens, 0);
    /* 300 over, need 1 back: 301 tokens at 1000/min = 18.06 s */
    assert_int_equal(v.retry_after_s, 19);
    assert_int_equal(v.reset_tokens_ms, 78000); /* 1300 tokens to drain */
    assert_false(rl_acquire(rl, "alice", &l, T0 + 18000, &v));
    assert_true(rl_acquire(rl, "alice", &l, T0 + 18060, &v));
    rl_release(rl, "alice", &l, 0, T0 + 18060);
    rl_free(rl);
}

static void test_tokens_per_day(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    rl_limits l = {.tokens_per_day = 100000, .tokens_per_min = 1000000};
    rl_verdict v;
    int64_t midnight = (T0 / 86400000 + 1) * 86400000;
    assert_true(rl_acquire(rl, "alice", &l, T0, &v));
    assert_int_equal(v.limit_tokens, 1000000); /* per minute reported while it binds nothing */
    rl_release(rl, "alice", &l, 100000, T0);
    assert_false(rl_acquire(rl, "alice", &l, T0 + 5 * MIN, &v));
    assert_string_equal(v.reason, "tokens per day");
    assert_int_equal(v.limit_tokens, 100000);
    assert_int_equal(v.remaining_tokens, 0);
    assert_int_equal(v.reset_tokens_ms, midnight - (T0 + 5 * MIN));
    assert_int_equal(v.retry_after_s, (midnight - (T0 + 5 * MIN) + 999) / 1000);
    assert_false(rl_acquire(rl, "alice", &l, midnight - 1, &v));
    assert_true(rl_acquire(rl, "alice", &l, midnight, &v));
    rl_release(rl, "alice", &l, 10, midnight);
    /* only a daily limit: it is what the headers show */
    rl_limits day_only = {.tokens_per_day = 500};
    assert_true(rl_acquire(rl, "bob", &day_only, T0, &v));
    assert_int_equal(v.limit_tokens, 500);
    assert_int_equal(v.remaining_tokens, 500);
    rl_release(rl, "bob", &day_only, 120, T0);
    assert_true(rl_acquire(rl, "bob", &day_only, T0, &v));
    assert_int_equal(v.remaining_tokens, 380);
    rl_release(rl, "bob", &day_only, 0, T0);
    rl_free(rl);
}

static void test_concurrency(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    rl_limits l = {.max_concurrent = 2};
    rl_verdict v;
    assert_true(rl_acquire(rl, "alice", &l, T0, &v));
    assert_true(rl_acquire(rl, "alice", &l, T0, &v));
    assert_false(rl_acquire(rl, "alice", &l, T0, &v));
    assert_string_equal(v.reason, "concurrent requests");
    assert_int_equal(v.retry_after_s, 1);
    assert_true(rl_acquire(rl, "bob", &l, T0, &v));
    rl_release(rl, "alice", &l, 0, T0 + 5);
    assert_true(rl_acquire(rl, "alice", &l, T0 + 5, &v));
    rl_release(rl, "alice", &l, 0, T0);
    rl_release(rl, "alice", &l, 0, T0);
    rl_release(rl, "bob", &l, 0, T0);
    rl_release(rl, "nobody", &l, 0, T0); /* harmless */
    rl_free(rl);
}

static void test_no_limits_and_changes(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    rl_limits none = {0}, tight = {.requests_per_min = 2};
    rl_verdict v;
    for (int i = 0; i < 1000; i++) {
        assert_true(rl_acquire(rl, "alice", &none, T0, &v));
        rl_release(rl, "alice", &none, 1000, T0);
    }
    assert_int_equal(v.limit_requests, 0);
    assert_int_equal(v.limit_tokens, 0);
    /* a limit given later starts from nothing used */
    assert_true(rl_acquire(rl, "alice", &tight, T0, &v));
    assert_true(rl_acquire(rl, "alice", &tight, T0, &v));
    assert_false(rl_acquire(rl, "alice", &tight, T0, &v));
    /* a higher limit applies at once */
    rl_limits loose = {.requests_per_min = 10};
    assert_true(rl_acquire(rl, "alice", &loose, T0, &v));
    assert_int_equal(v.remaining_requests, 7);
    /* time going backwards changes nothing */
    assert_true(rl_acquire(rl, "alice", &loose, T0 - 5000, &v));
    rl_free(rl);
}

static void test_eviction(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(64); /* 4 per stripe */
    rl_limits l = {.requests_per_min = 1};
    rl_verdict v;
    char name[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "user-%d", i);
        assert_true(rl_acquire(rl, name, &l, T0, &v));
        rl_release(rl, name, &l, 0, T0);
        assert_true(rl_subject_count(rl) <= 64);
    }
    /* a long idle time later, neutral subjects drain away as others come */
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof name, "late-%d", i);
        assert_true(rl_acquire(rl, name, &l, T0 + 10 * MIN, &v));
        rl_release(rl, name, &l, 0, T0 + 10 * MIN);
    }
    assert_true(rl_subject_count(rl) <= 64);
    /* subjects with requests in flight are never dropped */
    rl_limits c1 = {.max_concurrent = 1};
    assert_true(rl_acquire(rl, "holder", &c1, T0 + 20 * MIN, &v));
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof name, "churn-%d", i);
        rl_acquire(rl, name, &l, T0 + 20 * MIN, &v);
        rl_release(rl, name, &l, 0, T0 + 20 * MIN);
    }
    assert_false(rl_acquire(rl, "holder", &c1, T0 + 20 * MIN, &v));
    assert_string_equal(v.reason, "concurrent requests");
    rl_release(rl, "holder", &c1, 0, T0 + 20 * MIN);
    rl_free(rl);
}

static void test_full_of_busy_subjects(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(16); /* one per stripe */
    rl_limits l = {.max_concurrent = 5};
    rl_verdict v;
    char name[32];
    int refused = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "busy-%d", i);
        if (!rl_acquire(rl, name, &l, T0, &v)) {
            assert_string_equal(v.reason, "too many subjects");
            assert_int_equal(v.retry_after_s, 1);
            refused++;
        }
    }
    assert_int_equal(refused, 1000 - 16);
    assert_int_equal(rl_subject_count(rl), 16);
    rl_free(rl);
}

static void test_long_subject(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(100);
    char a[600], b[600];
    memset(a, 'x', sizeof a - 1), a[sizeof a - 1] = 0;
    memcpy(b, a, sizeof b);
    b[500] = 'y'; /* differs only past the cut: the same subject */
    rl_limits l = {.requests_per_min = 1};
    rl_verdict v;
    assert_true(rl_acquire(rl, a, &l, T0, &v));
    assert_false(rl_acquire(rl, b, &l, T0, &v));
    rl_free(rl);
}

static void expect_duration(int64_t ms, const char *want) {
    char buf[32];
    size_t n = rl_format_duration(ms, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_durations(void **state) {
    (void)state;
    expect_duration(0, "0s");
    expect_duration(-5, "0s");
    expect_duration(20, "20ms");
    expect_duration(999, "999ms");
    expect_duration(1000, "1s");
    expect_duration(1500, "1.5s");
    expect_duration(1250, "1.25s");
    expect_duration(60000, "1m0s");
    expect_duration(360000, "6m0s");
    expect_duration(90500, "1m30.5s");
    expect_duration(3723000, "1h2m3s");
    expect_duration(86400000, "24h0m0s");
    char tiny[4];
    assert_int_equal(rl_format_duration(3723000, tiny, sizeof tiny), 3);
}

typedef struct worker {
    rate_limiter *rl;
    int id, admitted;
} worker;

static void *hammer(void *arg) {
    worker *w = arg;
    rl_limits l = {.requests_per_min = 50, .max_concurrent = 3};
    char name[16];
    for (int i = 0; i < 4000; i++) {
        snprintf(name, sizeof name, "s%d", i % 8);
        rl_verdict v;
        if (rl_acquire(w->rl, name, &l, T0, &v)) {
            w->admitted++;
            rl_release(w->rl, name, &l, 1, T0);
        }
    }
    return NULL;
}

/* Four threads over eight subjects at one instant: exactly 50 requests
 * per subject get through, whatever the interleaving. */
static void test_threads(void **state) {
    (void)state;
    rate_limiter *rl = new_rl(1000);
    worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){rl, i, 0};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += w[i].admitted;
    }
    /* concurrency refusals turn some attempts away, but 500 attempts per
     * subject use up its 50 */
    assert_int_equal(total, 8 * 50);
    rl_free(rl);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_per_minute), cmocka_unit_test(test_refused_holds_nothing),
        cmocka_unit_test(test_tokens_per_minute),   cmocka_unit_test(test_tokens_per_day),
        cmocka_unit_test(test_concurrency),         cmocka_unit_test(test_no_limits_and_changes),
        cmocka_unit_test(test_eviction),            cmocka_unit_test(test_full_of_busy_subjects),
        cmocka_unit_test(test_long_subject),        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
