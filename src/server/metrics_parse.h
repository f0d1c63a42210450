/*
 * metrics_parse.h - reading the Prometheus text format (what GET /metrics
 * answers) back into samples, for `r1 top` and the tests. Strict: a line
 * that is not a comment, blank, or `name{labels} value [timestamp]` is an
 * error naming its line.
 */
#ifndef R1_SERVER_METRICS_PARSE_H
#define R1_SERVER_METRICS_PARSE_H

#include <stddef.h>

#include "base/error.h"

typedef struct metric_sample {
    char name[128];
    char labels[512];   /* the text between the braces, as sent ("" when none) */
    double value;
} metric_sample;

typedef struct metric_set {
    metric_sample *samples;
    int n, cap;
} metric_set;

int metric_set_parse(const char *text, size_t len, metric_set *out, r1_error *err);
void metric_set_free(metric_set *s);

/* The sum of the samples called `name` whose labels contain `with`
 * (e.g. "status=\"200\""; NULL: all). NAN when there is none. */
double metric_set_sum(const metric_set *s, const char *name, const char *with);

/* The q-quantile of a histogram's observations between two scrapes
 * (`before` may be NULL: since the start), interpolated inside the bucket
 * as Prometheus's histogram_quantile does. NAN without observations. */
double metric_set_quantile(const metric_set *before, const metric_set *after, const char *histogram, double q);

#endif
