/*
 * test_metrics.c - the server's metrics page and the reader `r1 top` uses:
 * what is counted shows up under the documented names, histograms are
 * cumulative with a +Inf bucket, label values are escaped, the page reads
 * back into the same figures, quantiles interpolate as Prometheus does,
 * and malformed text is refused with its line number.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "server/metrics_parse.h"
#include "testutil.h"

static char *render(metrics *m, const char *model) {
    metrics_snapshot snap = {.model = model, .ready = true, .have_engine = true};
    snap.engine.running = 3;
    snap.engine.parallel = 32;
    snap.engine.cache_positions = 1000;
    snap.engine.cache_positions_used = 250;
    snap.engine.cache_type = R1_KV_F16;
    snap.engine.cache_bytes_per_position = 28672;
    char *page = metrics_render(m, &snap);
    assert_non_null(page);
    return page;
}

static void test_counted_things_read_back(void **state) {
    (void)state;
    metrics *m = metrics_new();
    metrics_request(m, "/v1/chat/completions", 200, 0.2);
    metrics_request(m, "/v1/chat/completions", 200, 0.3);
    metrics_request(m, "/v1/chat/completions", 400, 0.001);
    metrics_generation(m, 40, 15, 11);
    metrics_generation(m, 10, 5, 0);
    metrics_error(m, "invalid_request");
    for (int i = 0; i < 100; i++) metrics_time_to_first_token(m, 0.15); /* all in the (0.1, 0.2] bucket */
    r1_engine_step step = {.rows = 33, .decode_rows = 32, .prefill_rows = 1, .sequences = 33, .seconds = 0.07};
    metrics_engine_step(m, &step);
    char *page = render(m, "r\"1");
    metric_set s;
    r1_error err;
    assert_int_equal(metric_set_parse(page, strlen(page), &s, &err), 0);
    assert_true(metric_set_sum(&s, "r1_requests_total", "status=\"200\"") == 2);
    assert_true(metric_set_sum(&s, "r1_requests_total", NULL) == 3);
    assert_true(metric_set_sum(&s, "r1_generation_tokens_total", NULL) == 20);
    assert_true(metric_set_sum(&s, "r1_reasoning_tokens_total", NULL) == 11);
    assert_true(metric_set_sum(&s, "r1_prompt_tokens_total", NULL) == 50);
    assert_true(metric_set_sum(&s, "r1_errors_total", "kind=\"invalid_request\"") == 1);
    assert_true(metric_set_sum(&s, "r1_requests_running", NULL) == 3);
    assert_true(fabs(metric_set_sum(&s, "r1_kv_cache_usage_ratio", NULL) - 0.25) < 1e-9);
    assert_true(metric_set_sum(&s, "r1_kv_cache_bytes", "type=\"f16\"") == 1000.0 * 28672);
    assert_true(metric_set_sum(&s, "r1_engine_step_seconds_count", "phase=\"prefill\"") == 1);
    assert_true(metric_set_sum(&s, "r1_time_to_first_token_seconds_bucket", "le=\"+Inf\"") == 100);
    assert_true(metric_set_sum(&s, "r1_time_to_first_token_seconds_bucket", "le=\"0.1\"") == 0);
    /* 100 observations in (0.1, 0.2]: the median interpolates to 0.15 */
    assert_true(fabs(metric_set_quantile(NULL, &s, "r1_time_to_first_token_seconds", 0.5) - 0.15) < 1e-9);
    assert_true(isnan(metric_set_quantile(&s, &s, "r1_time_to_first_token_seconds", 0.5))); /* nothing new */
    assert_non_null(strstr(page, "model=\"r\\\"1\"")); /* the quote in the model name is escaped */
    assert_non_null(strstr(page, "# TYPE r1_time_to_first_token_seconds histogram"));
    assert_non_null(strstr(page, "r1_build_info{version=\""));
    metric_set_free(&s);
    free(page);
    metrics_free(m);
}

static void test_malformed_text_is_refused(void **state) {
    (void)state;
    const char *bad[] = {
        "ok 1\nbad line here\n",            /* no value after the name */
        "x{a=\"1\" 2\n",                    /* unclosed labels */
        "x{a=\"1\"} twelve\n",              /* not a number */
        "{a=\"1\"} 1\n",                    /* no name */
        "x 1\n9x 2\n",                      /* a name cannot start with a digit */
    };
    int lines[] = {2, 1, 1, 1, 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        metric_set s;
        r1_error err;
        assert_int_equal(metric_set_parse(bad[i], strlen(bad[i]), &s, &err), -1);
        char want[16];
        snprintf(want, sizeof want, "line %d", lines[i]);
        if (!strstr(err.message, want)) fail_msg("'%s': %s (wanted %s)", bad[i], err.message, want);
        assert_null(s.samples);
    }
    metric_set s;
    r1_error err;
    const char *good = "# HELP x y\n# TYPE x counter\nx 1\ny{le=\"+Inf\"} +Inf\n\nz 2 1700000000\n";
    assert_int_equal(metric_set_parse(good, strlen(good), &s, &err), 0);
    assert_int_equal(s.n, 3);
    metric_set_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counted_things_read_back),
        cmocka_unit_test(test_malformed_text_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
