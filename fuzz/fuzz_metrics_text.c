/*
 * fuzz_metrics_text.c - libFuzzer harness for the Prometheus text reader
 * that `r1 top` runs on what a server answers: any bytes either parse into
 * samples whose names are valid and whose labels fit, or are refused with a
 * message; sums and quantiles over whatever parsed never crash.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    metric_set s;
    r1_error err;
    if (metric_set_parse((const char *)data, size, &s, &err) != 0) {
        if (err.message[0] == '\0') abort(); /* a refusal always says why */
        return 0;
    }
    for (int i = 0; i < s.n; i++)
        if (s.samples[i].name[0] == '\0' || strlen(s.samples[i].labels) >= sizeof s.samples[i].labels) abort();
    if (s.n > 0) {
        (void)metric_set_sum(&s, s.samples[0].name, NULL);
        (void)metric_set_quantile(NULL, &s, s.samples[0].name, 0.9);
        (void)metric_set_quantile(&s, &s, "r1_time_to_first_token_seconds", 0.5);
    }
    metric_set_free(&s);
    return 0;
}
