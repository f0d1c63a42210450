/* test_sampler.c - greedy choice, truncation (top-k/p, min-p), penalties,
 * and reproducibility of seeded sampling. */
#include <math.h>
#include <string.h>

#include "r1.h"
#include "testutil.h"

static r1_sampler_params plain(float temperature, uint64_t seed) {
    r1_sampler_params p = r1_sampler_default_params();
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

static void test_greedy_takes_first_maximum(void **state) {
    (void)state;
    float logits[6] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f, 0.0f};
    r1_sampler_params p = plain(0.0f, 0);
    r1_sampler *s = r1_sampler_new(&p, 6);
    assert_int_equal(r1_sampler_sample(s, logits), 1);
    assert_int_equal(r1_argmax(logits, 6), 1);
    r1_sampler_free(s);
}

/* A vocabulary-sized row (the vectorised scan, tails of every length):
 * the first of two equal maxima, wherever they sit. */
static void test_argmax_on_long_rows(void **state) {
    (void)state;
    enum { N = 1037 };
    static float logits[N];
    uint64_t rng = 23;
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)(test_rand_u64(&rng) % N);
        for (int i = 0; i < n; i++) logits[i] = test_rand_uniform(&rng, -30.0f, 30.0f);
        int first = (int)(test_rand_u64(&rng) % (uint64_t)n), second = (int)(test_rand_u64(&rng) % (uint64_t)n);
        logits[first] = logits[second] = 31.0f;
        int want = first < second ? first : second;
        assert_int_equal(r1_argmax(logits, n), want);
    }
}

static void test_top_k_one_is_greedy(void **state) {
    (void)state;
    float logits[5] = {0.1f, 0.2f, 5.0f, 0.3f, 0.4f};
    r1_sampler_params p = plain(1.5f, 3);
    p.top_k = 1;
    r1_sampler *s = r1_sampler_new(&p, 5);
    for (int i = 0; i < 50; i++) assert_int_equal(r1_sampler_sample(s, logits), 2);
    r1_sampler_free(s);
}

/* At temperature 1 the draw frequencies follow softmax(logits). */
static void test_frequencies_follow_softmax(void **state) {
    (void)state;
    float logits[3] = {0.0f, 1.0f, 2.0f};
    double expect[3], z = 0;
    for (int i = 0; i < 3; i++) z += exp(logits[i]);
    for (int i = 0; i < 3; i++) expect[i] = exp(logits[i]) / z;
    r1_sampler_params p = plain(1.0f, 11);
    r1_sampler *s = r1_sampler_new(&p, 3);
    int counts[3] = {0};
    const int n = 20000;
    for (int i = 0; i < n; i++) counts[r1_sampler_sample(s, logits)]++;
    for (int i = 0; i < 3; i++) assert_true(fabs(counts[i] / (double)n - expect[i]) < 0.015);
    r1_sampler_free(s);
}

static void test_top_p_and_min_p_cut_the_tail(void **state) {
    (void)state;
    float logits[4] = {3.0f, 2.9f, -4.0f, -5.0f}; /* the last two hold < 0.2% */
    r1_sampler_params p = plain(1.0f, 5);
    p.top_p = 0.9f;
    r1_sampler *s = r1_sampler_new(&p, 4);
    for (int i = 0; i < 2000; i++) assert_true(r1_sampler_sample(s, logits) < 2);
    r1_sampler_free(s);
    p = plain(1.0f, 5);
    p.min_p = 0.5f;
    s = r1_sampler_new(&p, 4);
    for (int i = 0; i < 2000; i++) assert_true(r1_sampler_sample(s, logits) < 2);
    r1_sampler_free(s);
}

static void test_seeded_runs_repeat(void **state) {
    (void)state;
    float logits[64];
    uint64_t rng = 1;
    for (int i = 0; i < 64; i++) logits[i] = test_rand_normal(&rng);
    int32_t a[100], b[100], c[100];
    for (int run = 0; run < 3; run++) {
        r1_sampler_params p = plain(1.0f, run == 2 ? 8 : 7);
        r1_sampler *s = r1_sampler_new(&p, 64);
        int32_t *out = run == 0 ? a : run == 1 ? b : c;
        for (int i = 0; i < 100; i++) out[i] = r1_sampler_sample(s, logits);
        r1_sampler_free(s);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

static void test_repeat_penalty_discourages_repeats(void **state) {
    (void)state;
    float logits[3] = {2.0f, 1.9f, 0.0f};
    r1_sampler_params p = plain(0.0f, 0);
    p.repeat_penalty = 1.5f;
    r1_sampler *s = r1_sampler_new(&p, 3);
    assert_int_equal(r1_sampler_sample(s, logits), 0);
    r1_sampler_accept(s, 0); /* 2.0 / 1.5 = 1.33 < 1.9 */
    assert_int_equal(r1_sampler_sample(s, logits), 1);
    r1_sampler_free(s);

    p = plain(0.0f, 0);
    p.frequency_penalty = 0.06f;
    s = r1_sampler_new(&p, 3);
    r1_sampler_accept(s, 0);
    assert_int_equal(r1_sampler_sample(s, logits), 0); /* 2.0 - 0.06 > 1.9 */
    r1_sampler_accept(s, 0);
    assert_int_equal(r1_sampler_sample(s, logits), 1); /* 2.0 - 0.12 < 1.9 */
    r1_sampler_free(s);
}

/* repeat_last_n 0 switches the repetition window off (as in llama.cpp). */
static void test_repeat_window_zero_is_off(void **state) {
    (void)state;
    float logits[3] = {2.0f, 1.9f, 0.0f};
    r1_sampler_params p = plain(0.0f, 0);
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 0;
    r1_sampler *s = r1_sampler_new(&p, 3);
    r1_sampler_accept(s, 0);
    assert_int_equal(r1_sampler_sample(s, logits), 0);
    r1_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_takes_first_maximum),
        cmocka_unit_test(test_top_k_one_is_greedy),
        cmocka_unit_test(test_frequencies_follow_softmax),
        cmocka_unit_test(test_top_p_and_min_p_cut_the_tail),
        cmocka_unit_test(test_seeded_runs_repeat),
        cmocka_unit_test(test_argmax_on_long_rows),
        cmocka_unit_test(test_repeat_penalty_discourages_repeats),
        cmocka_unit_test(test_repeat_window_zero_is_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
