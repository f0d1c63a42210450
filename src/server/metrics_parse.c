/*
 * metrics_parse.c - the Prometheus text format, read back (see
 * metrics_parse.h).
 */
#include "server/metrics_parse.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

/* The braces' content: labels name="value" separated by commas, values
 * with \\, \" and \n escapes. Returns the index after '}', or -1. */
static long parse_labels(const char *line, size_t n, size_t start) {
    size_t i = start;
    bool in_value = false;
    for (; i < n; i++) {
        char c = line[i];
        if (in_value) {
            if (c == '\\') i++;
            else if (c == '"') in_value = false;
        } else if (c == '"') {
            in_value = true;
        } else if (c == '}') {
            return (long)i + 1;
        } else if (!(name_char(c, false) || c == '=' || c == ',' || c == ' ')) {
            return -1;
        }
    }
    return -1;
}

static int parse_value(const char *text, double *out) {
    if (strcmp(text, "+Inf") == 0) return *out = INFINITY, 0;
    if (strcmp(text, "-Inf") == 0) return *out = -INFINITY, 0;
    if (strcmp(text, "NaN") == 0) return *out = NAN, 0;
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && (*end == '\0' || *end == ' ') ? 0 : -1;
}

static int add_sample(metric_set *s, const metric_sample *m) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        metric_sample *p = realloc(s->samples, (size_t)cap * sizeof *p);
        if (!p) return -1;
        s->samples = p;
        s->cap = cap;
    }
    s->samples[s->n++] = *m;
    return 0;
}

static int parse_line(const char *line, size_t n, int number, metric_set *out, r1_error *err) {
    metric_sample m = {0};
    size_t i = 0;
    while (i < n && name_char(line[i], i == 0)) i++;
    if (i == 0 || i >= sizeof m.name) return r1_error_set(err, "line %d: no metric name", number);
    memcpy(m.name, line, i);
    if (i < n && line[i] == '{') {
        long end = parse_labels(line, n, i + 1);
        if (end < 0) return r1_error_set(err, "line %d: malformed labels", number);
        size_t len = (size_t)end - i - 2;
        if (len >= sizeof m.labels) return r1_error_set(err, "line %d: labels longer than %zu bytes", number, sizeof m.labels - 1);
        memcpy(m.labels, line + i + 1, len);
        i = (size_t)end;
    }
    if (i >= n || line[i] != ' ') return r1_error_set(err, "line %d: no value after the metric name", number);
    char value[64];
    size_t len = n - i - 1;
    if (len == 0 || len >= sizeof value) return r1_error_set(err, "line %d: malformed value", number);
    memcpy(value, line + i + 1, len);
    value[len] = '\0';
    if (parse_value(value, &m.value) != 0) return r1_error_set(err, "line %d: '%s' is not a number", number, value);
    return add_sample(out, &m) == 0 ? 0 : r1_error_set(err, "out of memory");
}

int metric_set_parse(const char *text, size_t len, metric_set *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    int number = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t n = nl ? (size_t)(nl - (text + start)) : len - start;
        number++;
        if (memchr(text + start, '\0', n)) {
            metric_set_free(out);
            return r1_error_set(err, "line %d: a NUL byte", number);
        }
        if (n > 0 && text[start] != '#' && parse_line(text + start, n, number, out, err) != 0) {
            metric_set_free(out);
            return -1;
        }
        start += n + 1;
    }
    return 0;
}

void metric_set_free(metric_set *s) {
    free(s->samples);
    memset(s, 0, sizeof *s);
}

double metric_set_sum(const metric_set *s, const char *name, const char *with) {
    double sum = 0;
    bool any = false;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->samples[i].name, name) == 0 && (!with || strstr(s->samples[i].labels, with))) {
            sum += s->samples[i].value;
            any = true;
        }
    return any ? sum : NAN;
}

/* The bucket bound of a sample's le label; NAN when it has none. */
static double bucket_bound(const metric_sample *m) {
    const char *le = strstr(m->labels, "le=\"");
    if (!le) return NAN;
    double v;
    char text[64];
    size_t n = strcspn(le + 4, "\"");
    if (n >= sizeof text) return NAN;
    memcpy(text, le + 4, n);
    text[n] = '\0';
    return parse_value(text, &v) == 0 ? v : NAN;
}

enum { MAX_BUCKETS = 64 };

/* Cumulative counts by bound, summed over all series of the histogram. */
static int gather_buckets(const metric_set *s, const char *bucket_name, double *bounds, double *counts) {
    int n = 0;
    for (int i = 0; s && i < s->n; i++) {
        if (strcmp(s->samples[i].name, bucket_name) != 0) continue;
        double le = bucket_bound(&s->samples[i]);
        if (isnan(le)) continue;
        int k = 0;
        while (k < n && bounds[k] != le) k++;
        if (k == n) {
            if (n == MAX_BUCKETS) continue;
            bounds[n] = le;
            counts[n++] = 0;
        }
        counts[k] += s->samples[i].value;
    }
    /* sort by bound (few buckets: insertion sort) */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && bounds[k] < bounds[k - 1]; k--) {
            double b = bounds[k], c = counts[k];
            bounds[k] = bounds[k - 1], counts[k] = counts[k - 1];
            bounds[k - 1] = b, counts[k - 1] = c;
        }
    return n;
}

double metric_set_quantile(const metric_set *before, const metric_set *after, const char *histogram, double q) {
    char name[160];
    snprintf(name, sizeof name, "%s_bucket", histogram);
    double bounds[MAX_BUCKETS], counts[MAX_BUCKETS], b0[MAX_BUCKETS], c0[MAX_BUCKETS];
    int n = gather_buckets(after, name, bounds, counts);
    int n0 = gather_buckets(before, name, b0, c0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n0; k++)
            if (b0[k] == bounds[i]) counts[i] -= c0[k];
    if (n == 0 || counts[n - 1] <= 0) return NAN;
    double rank = q * counts[n - 1];
    for (int i = 0; i < n; i++) {
        if (counts[i] < rank) continue;
        if (isinf(bounds[i])) return i > 0 ? bounds[i - 1] : NAN; /* above the highest finite bound */
        double lower = i > 0 ? bounds[i - 1] : 0, below = i > 0 ? counts[i - 1] : 0;
        double in_bucket = counts[i] - below;
        return in_bucket > 0 ? lower + (bounds[i] - lower) * (rank - below) / in_bucket : bounds[i];
    }
    return NAN;
}
