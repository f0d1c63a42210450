/* stop_strings.c - stop strings across chunk boundaries (see stop_strings.h). */
#include "text/stop_strings.h"

#include <stdlib.h>
#include <string.h>

int r1_stop_init(r1_stop_matcher *m, const char *const *stops, size_t n) {
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(stops[i]);
        if (len == 0) continue;
        if (m->n_stops == R1_MAX_STOP_STRINGS) return -1;
        m->stops[m->n_stops++] = stops[i];
        if (len > m->longest) m->longest = len;
    }
    if (m->longest > 0 && !(m->held = malloc(m->longest))) return -1;
    return 0;
}

void r1_stop_free(r1_stop_matcher *m) {
    free(m->held);
    memset(m, 0, sizeof *m);
}

/* The earliest position in text where a stop string starts, or len. */
static size_t first_stop(const r1_stop_matcher *m, const char *text, size_t len) {
    size_t best = len;
    for (size_t s = 0; s < m->n_stops; s++) {
        size_t k = strlen(m->stops[s]);
        for (size_t i = 0; i + k <= len && i < best; i++)
            if (memcmp(text + i, m->stops[s], k) == 0) {
                best = i;
                break;
            }
    }
    return best;
}

/* Length of the longest tail of text that begins some stop string. */
static size_t tail_to_hold(const r1_stop_matcher *m, const char *text, size_t len) {
    size_t keep = 0;
    for (size_t s = 0; s < m->n_stops; s++) {
        size_t k = strlen(m->stops[s]);
        for (size_t t = k - 1 < len ? k - 1 : len; t > keep; t--)
            if (memcmp(text + len - t, m->stops[s], t) == 0) {
                keep = t;
                break;
            }
    }
    return keep;
}

bool r1_stop_feed(r1_stop_matcher *m, const char *text, size_t len, r1_text_sink emit, void *user) {
    if (m->stopped) return true;
    if (m->n_stops == 0) {
        if (len) emit(user, text, len);
        return false;
    }
    /* the held tail and the new text, joined */
    char *joined = malloc(m->n_held + len + 1);
    if (!joined) return false; /* out of memory: keep going without matching this chunk */
    memcpy(joined, m->held, m->n_held);
    memcpy(joined + m->n_held, text, len);
    size_t n = m->n_held + len, stop = first_stop(m, joined, n);
    if (stop < n) {
        if (stop) emit(user, joined, stop);
        m->stopped = true;
        m->n_held = 0;
    } else {
        size_t keep = tail_to_hold(m, joined, n);
        if (n - keep) emit(user, joined, n - keep);
        memcpy(m->held, joined + n - keep, keep);
        m->n_held = keep;
    }
    free(joined);
    return m->stopped;
}

void r1_stop_flush(r1_stop_matcher *m, r1_text_sink emit, void *user) {
    if (!m->stopped && m->n_held) emit(user, m->held, m->n_held);
    m->n_held = 0;
}
