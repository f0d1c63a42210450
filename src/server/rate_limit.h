/*
 * rate_limit.h - per-subject limits (a subject is a JWT `sub` or an API key
 * id): requests per minute, tokens per minute, tokens per day and
 * concurrent requests, with the figures of OpenAI's x-ratelimit-* headers
 * and Retry-After.
 *
 *   requests/min  a token bucket of that many requests, refilled evenly
 *                 over a minute (a burst of the whole minute's worth is
 *                 allowed, then one request per 60/N seconds)
 *   tokens/min    a bucket of that many tokens, refilled evenly over a
 *                 minute; charged after the request with the tokens it
 *                 used (it may go below zero); a request is refused while
 *                 less than one token is left
 *   tokens/day    tokens used since 00:00 UTC; refused once the day's
 *                 budget is spent, until the next UTC midnight
 *   concurrent    requests admitted and not yet released
 *
 * Limits are given with each call (so they may come from the key, or from
 * the scope, and change while the server runs); 0 means no such limit.
 * Time is passed in (milliseconds, any epoch for the minute buckets; the
 * day budget counts days of the Unix epoch), so tests need no sleeping.
 *
 * State lives in memory, per replica: a restart forgets it, and N replicas
 * behind a load balancer allow N times the limits. Subjects sit in a hash
 * table of 16 stripes, each with its own mutex; memory is bounded by
 * max_subjects: an idle subject whose state is back to neutral (buckets
 * full, nothing used today) is dropped when seen at the old end of its
 * stripe's LRU list, and when a stripe is full the least recently used
 * subject with no request in flight is dropped (which can only favour it).
 */
#ifndef R1_SERVER_RATE_LIMIT_H
#define R1_SERVER_RATE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define RL_MAX_SUBJECT 256 /* longer subjects are cut (JWT sub and key ids are shorter) */

typedef struct rl_limits {
    int64_t requests_per_min;
    int64_t tokens_per_min;
    int64_t tokens_per_day;
    int64_t max_concurrent;
} rl_limits;

/* The answer to rl_acquire, with what the response headers need. */
typedef struct rl_verdict {
    bool allowed;
    const char *reason;    /* refused: "requests per minute", "tokens per minute",
                              "tokens per day", "concurrent requests", "too many subjects" */
    int64_t retry_after_s; /* refused: whole seconds to wait, >= 1 (Retry-After) */
    /* x-ratelimit-*-requests: limit 0 = no request limit (send none of the three) */
    int64_t limit_requests, remaining_requests, reset_requests_ms;
    /* x-ratelimit-*-tokens: the tokens-per-minute figures, or per day when
     * only that is set or it is what refused the request */
    int64_t limit_tokens, remaining_tokens, reset_tokens_ms;
} rl_verdict;

typedef struct rate_limiter rate_limiter;

/* max_subjects: how many subjects are remembered at most (>= 16). */
rate_limiter *rl_create(size_t max_subjects, r1_error *err);
void rl_free(rate_limiter *rl);

/* Admits one request of subject at now_ms, or refuses it. When allowed it
 * holds a request from the minute's budget and a concurrency slot: call
 * rl_release exactly once when the request ends, whatever its outcome. A
 * refused request holds nothing. Returns verdict->allowed. */
bool rl_acquire(rate_limiter *rl, const char *subject, const rl_limits *limits, int64_t now_ms, rl_verdict *verdict);

/* Ends an admitted request: frees its concurrency slot and charges the
 * tokens it used (prompt + completion) to the minute's and day's budgets. */
void rl_release(rate_limiter *rl, const char *subject, const rl_limits *limits, int64_t tokens, int64_t now_ms);

/* How many subjects are remembered now (for tests and metrics). */
size_t rl_subject_count(rate_limiter *rl);

/* A duration as OpenAI writes x-ratelimit-reset-* (Go's notation, to the
 * millisecond): "0s", "20ms", "1s", "1.5s", "6m0s", "1h2m3s". Returns the
 * length written into buf (always NUL-terminated). */
size_t rl_format_duration(int64_t ms, char *buf, size_t cap);

#endif
