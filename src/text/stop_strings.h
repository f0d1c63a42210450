/*
 * stop_strings.h - ending generation at user-given stop strings.
 *
 * Text arrives in chunks; a stop string may be split across them. The
 * matcher emits at once all text that can no longer be part of a stop
 * string, holds back a tail that could still become one, and once a stop
 * string appears emits what comes before it and reports the stop (the
 * stop string itself is not emitted, as in the OpenAI API).
 */
#ifndef R1_TEXT_STOP_STRINGS_H
#define R1_TEXT_STOP_STRINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "text/reasoning.h" /* r1_text_sink */

#define R1_MAX_STOP_STRINGS 16

typedef struct r1_stop_matcher {
    const char *stops[R1_MAX_STOP_STRINGS]; /* not copied: the caller keeps them */
    size_t n_stops;
    size_t longest;
    char *held;        /* tail that may start a stop string */
    size_t n_held;
    bool stopped;
} r1_stop_matcher;

/* Empty strings are ignored; more than R1_MAX_STOP_STRINGS: -1. */
int r1_stop_init(r1_stop_matcher *m, const char *const *stops, size_t n);
void r1_stop_free(r1_stop_matcher *m);

/* Feeds a chunk; returns true when a stop string has now appeared. After
 * that, further text is ignored. */
bool r1_stop_feed(r1_stop_matcher *m, const char *text, size_t len, r1_text_sink emit, void *user);

/* End of generation without a stop: emits the held tail. */
void r1_stop_flush(r1_stop_matcher *m, r1_text_sink emit, void *user);

#endif
