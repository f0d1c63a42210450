/*
 * rate_limit.c - per-subject request and token budgets in a striped hash
 * table with LRU eviction (see rate_limit.h).
 *
 * Each budget is kept as what has been *used*, which drains at the limit's
 * rate (limit per 60 000 ms) down to zero: a new subject starts at zero
 * whatever its limits, a subject at zero everywhere is "neutral" and can be
 * forgotten without changing any answer, and a change of limits applies at
 * once.
 */
#include "server/rate_limit.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth_crypto.h"

#define N_STRIPES 16
#define MS_PER_MIN 60000.0
#define MS_PER_DAY INT64_C(86400000)

typedef struct subject {
    struct subject *chain;            /* next in the hash bucket */
    struct subject *older, *newer;    /* the stripe's LRU list */
    uint64_t hash;
    rl_limits last;                   /* the limits last given, to drain by when idle */
    double req_used, tok_used;        /* drained to time `at` */
    int64_t at;
    int64_t day, day_used;            /* tokens used on day `day` (days since the epoch) */
    int64_t inflight;
    char name[];
} subject;

typedef struct stripe {
    pthread_mutex_t lock;
    subject **buckets;
    size_t mask, count, cap;
    subject *oldest, *newest;
} stripe;

struct rate_limiter {
    uint64_t seed;
    stripe stripes[N_STRIPES];
};

/* ---- the table ---- */

static uint64_t hash_of(const rate_limiter *rl, const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ rl->seed;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    h ^= h >> 33; /* a 64-bit finaliser: every bit of the stripe and bucket depends on every byte */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static stripe *stripe_of(rate_limiter *rl, uint64_t h) { return &rl->stripes[h % N_STRIPES]; }

static size_t subject_len(const char *s) { return strnlen(s, RL_MAX_SUBJECT - 1); }

static subject *find(stripe *st, uint64_t h, const char *name, size_t n) {
    for (subject *s = st->buckets[(h / N_STRIPES) & st->mask]; s; s = s->chain)
        if (s->hash == h && strncmp(s->name, name, n) == 0 && s->name[n] == '\0') return s;
    return NULL;
}

static void lru_unlink(stripe *st, subject *s) {
    if (s->older) s->older->newer = s->newer;
    else st->oldest = s->newer;
    if (s->newer) s->newer->older = s->older;
    else st->newest = s->older;
    s->older = s->newer = NULL;
}

static void lru_push_newest(stripe *st, subject *s) {
    s->older = st->newest;
    s->newer = NULL;
    if (st->newest) st->newest->newer = s;
    else st->oldest = s;
    st->newest = s;
}

static void remove_subject(stripe *st, subject *s) {
    subject **p = &st->buckets[(s->hash / N_STRIPES) & st->mask];
    while (*p != s) p = &(*p)->chain;
    *p = s->chain;
    lru_unlink(st, s);
    st->count--;
    free(s);
}

/* Drops the least recently used subject with nothing in flight. */
static bool evict_one_idle(stripe *st) {
    for (subject *s = st->oldest; s; s = s->newer) {
        if (s->inflight == 0) {
            remove_subject(st, s);
            return true;
        }
    }
    return false;
}

static subject *find_or_add(stripe *st, uint64_t h, const char *name, size_t n, int64_t now) {
    subject *s = find(st, h, name, n);
    if (s) return s;
    if (st->count >= st->cap && !evict_one_idle(st)) return NULL;
    s = calloc(1, sizeof *s + n + 1);
    if (!s) return NULL;
    memcpy(s->name, name, n);
    s->hash = h;
    s->at = now;
    s->day = now / MS_PER_DAY;
    s->chain = st->buckets[(h / N_STRIPES) & st->mask];
    st->buckets[(h / N_STRIPES) & st->mask] = s;
    lru_push_newest(st, s);
    st->count++;
    return s;
}

/* ---- budgets ---- */

static void drain(double *used, int64_t per_min, int64_t elapsed_ms) {
    *used = per_min > 0 ? *used - (double)elapsed_ms * (double)per_min / MS_PER_MIN : 0;
    if (*used < 0) *used = 0;
}

/* Brings the subject's budgets to time now under limits l. */
static void advance(subject *s, const rl_limits *l, int64_t now) {
    if (now > s->at) {
        drain(&s->req_used, l->requests_per_min, now - s->at);
        drain(&s->tok_used, l->tokens_per_min, now - s->at);
        s->at = now;
    }
    if (l->requests_per_min <= 0) s->req_used = 0;
    if (l->tokens_per_min <= 0) s->tok_used = 0;
    if (now / MS_PER_DAY != s->day) {
        s->day = now / MS_PER_DAY;
        s->day_used = 0;
    }
    s->last = *l;
}

static bool neutral(subject *s, int64_t now) {
    rl_limits l = s->last;
    advance(s, &l, now);
    return s->inflight == 0 && s->req_used == 0 && s->tok_used == 0 && s->day_used == 0;
}

/* Drops up to two neutral subjects from the old end of the list. */
static void trim(stripe *st, int64_t now) {
    for (int i = 0; i < 2 && st->oldest && st->oldest != st->newest; i++) {
        if (!neutral(st->oldest, now)) break;
        remove_subject(st, st->oldest);
    }
}

/* Milliseconds for `excess` units to drain at per_min. */
static int64_t drain_ms(double excess, int64_t per_min) {
    if (excess <= 0 || per_min <= 0) return 0;
    return (int64_t)ceil(excess * MS_PER_MIN / (double)per_min);
}

static int64_t until_midnight_ms(int64_t now) { return (now / MS_PER_DAY + 1) * MS_PER_DAY - now; }

static int64_t floor_left(int64_t limit, double used) {
    double left = floor((double)limit - used);
    return left < 0 ? 0 : (int64_t)left;
}

static void fill_figures(const subject *s, const rl_limits *l, int64_t now, bool day_first, rl_verdict *v) {
    v->limit_requests = l->requests_per_min;
    v->remaining_requests = l->requests_per_min > 0 ? floor_left(l->requests_per_min, s->req_used) : 0;
    v->reset_requests_ms = drain_ms(s->req_used, l->requests_per_min);
    bool per_day = l->tokens_per_day > 0 && (day_first || l->tokens_per_min <= 0);
    if (per_day) {
        v->limit_tokens = l->tokens_per_day;
        v->remaining_tokens = s->day_used >= l->tokens_per_day ? 0 : l->tokens_per_day - s->day_used;
        v->reset_tokens_ms = s->day_used > 0 ? until_midnight_ms(now) : 0;
    } else {
        v->limit_tokens = l->tokens_per_min;
        v->remaining_tokens = l->tokens_per_min > 0 ? floor_left(l->tokens_per_min, s->tok_used) : 0;
        v->reset_tokens_ms = drain_ms(s->tok_used, l->tokens_per_min);
    }
}

static int64_t whole_seconds(int64_t ms) { return ms <= 1000 ? 1 : (ms + 999) / 1000; }

/* The first limit that refuses a request now: its reason and wait, or NULL. */
static const char *refusal(const subject *s, const rl_limits *l, int64_t now, int64_t *wait_ms) {
    if (l->max_concurrent > 0 && s->inflight >= l->max_concurrent) {
        *wait_ms = 1000;
        return "concurrent requests";
    }
    if (l->requests_per_min > 0 && s->req_used + 1 > (double)l->requests_per_min) {
        *wait_ms = drain_ms(s->req_used + 1 - (double)l->requests_per_min, l->requests_per_min);
        return "requests per minute";
    }
    if (l->tokens_per_day > 0 && s->day_used >= l->tokens_per_day) {
        *wait_ms = until_midnight_ms(now);
        return "tokens per day";
    }
    if (l->tokens_per_min > 0 && s->tok_used + 1 > (double)l->tokens_per_min) {
        *wait_ms = drain_ms(s->tok_used + 1 - (double)l->tokens_per_min, l->tokens_per_min);
        return "tokens per minute";
    }
    return NULL;
}

static void refuse_full(const rl_limits *l, rl_verdict *v) {
    v->allowed = false;
    v->reason = "too many subjects";
    v->retry_after_s = 1;
    v->limit_requests = l->requests_per_min;
    v->limit_tokens = l->tokens_per_min > 0 ? l->tokens_per_min : l->tokens_per_day;
}

bool rl_acquire(rate_limiter *rl, const char *name, const rl_limits *l, int64_t now, rl_verdict *v) {
    memset(v, 0, sizeof *v);
    size_t n = subject_len(name);
    uint64_t h = hash_of(rl, name, n);
    stripe *st = stripe_of(rl, h);
    pthread_mutex_lock(&st->lock);
    subject *s = find_or_add(st, h, name, n, now);
    if (!s) {
        pthread_mutex_unlock(&st->lock);
        refuse_full(l, v);
        return false;
    }
    advance(s, l, now);
    int64_t wait_ms = 0;
    v->reason = refusal(s, l, now, &wait_ms);
    v->allowed = v->reason == NULL;
    if (v->allowed) {
        s->inflight++;
        if (l->requests_per_min > 0) s->req_used += 1;
    } else {
        v->retry_after_s = whole_seconds(wait_ms);
    }
    fill_figures(s, l, now, v->reason && strcmp(v->reason, "tokens per day") == 0, v);
    lru_unlink(st, s);
    lru_push_newest(st, s);
    trim(st, now);
    pthread_mutex_unlock(&st->lock);
    return v->allowed;
}

void rl_release(rate_limiter *rl, const char *name, const rl_limits *l, int64_t tokens, int64_t now) {
    size_t n = subject_len(name);
    uint64_t h = hash_of(rl, name, n);
    stripe *st = stripe_of(rl, h);
    pthread_mutex_lock(&st->lock);
    subject *s = find(st, h, name, n); /* never evicted while a request is in flight */
    if (s) {
        advance(s, l, now);
        if (s->inflight > 0) s->inflight--;
        if (tokens > 0 && l->tokens_per_min > 0) s->tok_used += (double)tokens;
        if (tokens > 0 && l->tokens_per_day > 0) s->day_used += tokens;
        lru_unlink(st, s);
        lru_push_newest(st, s);
    }
    pthread_mutex_unlock(&st->lock);
}

/* ---- life cycle ---- */

rate_limiter *rl_create(size_t max_subjects, r1_error *err) {
    if (max_subjects < N_STRIPES) return r1_error_set(err, "rate limiter: at least %d subjects", N_STRIPES), NULL;
    rate_limiter *rl = calloc(1, sizeof *rl);
    if (!rl) return r1_error_set(err, "out of memory"), NULL;
    if (auth_random(&rl->seed, sizeof rl->seed, err) != 0) {
        free(rl);
        return NULL;
    }
    size_t per = (max_subjects + N_STRIPES - 1) / N_STRIPES, buckets = 16;
    while (buckets < per) buckets *= 2;
    for (int i = 0; i < N_STRIPES; i++) {
        stripe *st = &rl->stripes[i];
        pthread_mutex_init(&st->lock, NULL);
        st->cap = per;
        st->mask = buckets - 1;
        st->buckets = calloc(buckets, sizeof *st->buckets);
        if (!st->buckets) {
            rl_free(rl);
            return r1_error_set(err, "out of memory"), NULL;
        }
    }
    return rl;
}

void rl_free(rate_limiter *rl) {
    if (!rl) return;
    for (int i = 0; i < N_STRIPES; i++) {
        stripe *st = &rl->stripes[i];
        while (st->oldest) remove_subject(st, st->oldest);
        free(st->buckets);
        pthread_mutex_destroy(&st->lock);
    }
    free(rl);
}

size_t rl_subject_count(rate_limiter *rl) {
    size_t total = 0;
    for (int i = 0; i < N_STRIPES; i++) {
        pthread_mutex_lock(&rl->stripes[i].lock);
        total += rl->stripes[i].count;
        pthread_mutex_unlock(&rl->stripes[i].lock);
    }
    return total;
}

size_t rl_format_duration(int64_t ms, char *buf, size_t cap) {
    if (ms < 0) ms = 0;
    int n;
    if (ms == 0) n = snprintf(buf, cap, "0s");
    else if (ms < 1000) n = snprintf(buf, cap, "%" PRId64 "ms", ms);
    else {
        int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
        char sec[32];
        if (frac == 0) snprintf(sec, sizeof sec, "%" PRId64 "s", s);
        else {
            snprintf(sec, sizeof sec, "%" PRId64 ".%03" PRId64, s, frac);
            size_t len = strlen(sec);
            while (sec[len - 1] == '0') sec[--len] = '\0';
            snprintf(sec + len, sizeof sec - len, "s");
        }
        if (h) n = snprintf(buf, cap, "%" PRId64 "h%" PRId64 "m%s", h, m, sec);
        else if (m) n = snprintf(buf, cap, "%" PRId64 "m%s", m, sec);
        else n = snprintf(buf, cap, "%s", sec);
    }
    if (n < 0) return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
