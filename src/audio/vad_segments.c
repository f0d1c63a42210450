/*
 * vad_segments.c - speech segments from per-window speech probabilities,
 * by the rules of whisper.cpp's whisper_vad_segments_from_probs (itself
 * Silero's get_speech_timestamps), so that `--vad` cuts where whisper.cpp
 * cuts:
 *   - a segment starts at the first window with p >= threshold and ends at
 *     the first window of a pause with p < threshold - 0.15 (at least 0.01)
 *     that lasts min_silence_ms; segments of min_speech_ms or less are dropped;
 *   - a segment longer than max_speech_s is split at the last pause of more
 *     than 98 ms, or cut hard when there was none;
 *   - segments less than 200 ms apart are merged (except where the
 *     max_speech_s rule cut: whisper.cpp merges those back together, which
 *     undoes the limit);
 *   - each segment gets speech_pad_ms on both sides, or half the gap when two
 *     segments are closer than twice the pad.
 * Other differences: segment ends are clamped to the real audio length
 * (n_samples), where whisper.cpp clamps to the zero-padded length
 * n_probs * window (up to 511 samples more); and max_speech_s counts
 * fractions of a second (whisper.cpp truncates it to whole seconds, so 0.5
 * means no limit there), as Silero's own code does. A limit shorter than a
 * window plus both pads means no limit, as in whisper.cpp.
 * Positions are in samples at 16 kHz; "0" means "not set" for the pause
 * markers, as no pause can start at sample 0.
 */
#include "audio/vad.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define MERGE_GAP_MS 200
#define SPLIT_PAUSE_MS 98 /* from Silero's reference implementation */
#define NEG_THRESHOLD_DROP 0.15f
#define NO_LIMIT (1LL << 60)

typedef struct span {
    long long start, end;
    int split; /* ended by the max_speech_s rule: never merged with the next */
} span;

typedef struct span_list {
    span *items;
    int n, cap;
} span_list;

static int push(span_list *l, long long start, long long end, int split) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        span *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = (span){start, end, split};
    return 0;
}

static void remove_at(span_list *l, int i) {
    for (int k = i; k + 1 < l->n; k++) l->items[k] = l->items[k + 1];
    l->n--;
}

void vad_params_default(vad_params *p) {
    p->threshold = 0.5f;
    p->min_speech_ms = 250;
    p->min_silence_ms = 100;
    p->speech_pad_ms = 30;
    p->max_speech_s = FLT_MAX;
}

static long long ms_to_samples(int ms) {
    return (long long)VAD_SAMPLE_RATE * ms / 1000;
}

/* The longest a segment may grow before it is split, in samples. */
static long long max_speech_samples(const vad_params *p, int window) {
    if (!(p->max_speech_s > 0.0f && p->max_speech_s <= 100000.0f)) return NO_LIMIT;
    long long n = (long long)((double)VAD_SAMPLE_RATE * p->max_speech_s) - window - 2 * ms_to_samples(p->speech_pad_ms);
    return n < 0 ? NO_LIMIT : n;
}

/* The scan over windows: raw segments, before merging and padding. */
typedef struct scan {
    int in_speech, open; /* inside a segment; a segment is open at the end */
    long long start, pause_start, split_at, resume_at;
} scan;

static void close_scan(scan *s) {
    s->split_at = s->resume_at = s->pause_start = 0;
    s->in_speech = s->open = 0;
}

static int find_speech(const float *probs, int n_probs, int window, long long audio_len, const vad_params *p,
                       span_list *out) {
    float neg = p->threshold - NEG_THRESHOLD_DROP < 0.01f ? 0.01f : p->threshold - NEG_THRESHOLD_DROP;
    long long min_speech = ms_to_samples(p->min_speech_ms), min_silence = ms_to_samples(p->min_silence_ms);
    long long max_speech = max_speech_samples(p, window), split_pause = ms_to_samples(SPLIT_PAUSE_MS);
    scan s = {0};
    for (int i = 0; i < n_probs; i++) {
        float prob = probs[i];
        long long at = (long long)window * i;
        if (prob >= p->threshold && s.pause_start) { /* the pause was not long enough */
            s.pause_start = 0;
            if (s.resume_at < s.split_at) s.resume_at = at;
        }
        if (prob >= p->threshold && !s.in_speech) {
            s.in_speech = s.open = 1;
            s.start = at;
            continue;
        }
        if (s.in_speech && at - s.start > max_speech) {
            if (s.split_at) { /* split at the last long-enough pause */
                if (push(out, s.start, s.split_at, 1)) return -1;
                s.open = 1;
                if (s.resume_at < s.split_at) {
                    s.in_speech = s.open = 0;
                } else {
                    s.start = s.resume_at;
                }
                s.split_at = s.resume_at = s.pause_start = 0;
            } else { /* no pause: cut here */
                if (push(out, s.start, at, 1)) return -1;
                close_scan(&s);
                continue;
            }
        }
        if (prob < neg && s.in_speech) {
            if (!s.pause_start) s.pause_start = at;
            if (at - s.pause_start > split_pause) s.split_at = s.pause_start;
            if (at - s.pause_start < min_silence) continue;
            if (s.pause_start - s.start > min_speech && push(out, s.start, s.pause_start, 0)) return -1;
            close_scan(&s);
        }
    }
    if (s.open && audio_len - s.start > min_speech && push(out, s.start, audio_len, 0)) return -1;
    return 0;
}

/* Merges segments closer than MERGE_GAP_MS, then drops short ones. */
static void merge_and_filter(span_list *l, long long min_speech) {
    for (int i = 0; i + 1 < l->n;) {
        if (!l->items[i].split && l->items[i + 1].start - l->items[i].end < ms_to_samples(MERGE_GAP_MS)) {
            l->items[i].end = l->items[i + 1].end;
            remove_at(l, i + 1);
        } else {
            i++;
        }
    }
    for (int i = 0; i < l->n;) {
        if (l->items[i].end - l->items[i].start < min_speech)
            remove_at(l, i);
        else
            i++;
    }
}

static void pad_segments(span_list *l, long long pad, long long audio_len) {
    for (int i = 0; i < l->n; i++) {
        span *cur = &l->items[i];
        if (i == 0) cur->start = cur->start > pad ? cur->start - pad : 0;
        if (i + 1 < l->n) {
            span *next = &l->items[i + 1];
            long long gap = next->start - cur->end;
            long long grow = gap < 2 * pad ? gap / 2 : pad;
            cur->end = gap < 2 * pad ? cur->end + grow : (cur->end + pad < audio_len ? cur->end + pad : audio_len);
            next->start = next->start > grow ? next->start - grow : 0;
        } else {
            cur->end = cur->end + pad < audio_len ? cur->end + pad : audio_len;
        }
    }
}

static int valid_params(const vad_params *p) {
    return isfinite(p->threshold) && p->min_speech_ms >= 0 && p->min_silence_ms >= 0 && p->speech_pad_ms >= 0;
}

int vad_segments_from_probs(const float *probs, int n_probs, int window_samples, long n_samples, const vad_params *p,
                            vad_segment **segs, int *n_segs) {
    *segs = NULL;
    *n_segs = 0;
    if (n_probs < 0 || (n_probs > 0 && !probs) || window_samples <= 0 || n_samples < 0 || !p || !valid_params(p))
        return -1;
    long long audio_len = (long long)n_probs * window_samples;
    if (n_samples < audio_len) audio_len = n_samples;
    span_list l = {0};
    if (find_speech(probs, n_probs, window_samples, audio_len, p, &l)) {
        free(l.items);
        return -1;
    }
    merge_and_filter(&l, ms_to_samples(p->min_speech_ms));
    pad_segments(&l, ms_to_samples(p->speech_pad_ms), audio_len);
    if (l.n > 0 && !(*segs = malloc((size_t)l.n * sizeof **segs))) {
        free(l.items);
        return -1;
    }
    for (int i = 0; i < l.n; i++) {
        (*segs)[i].start = (double)l.items[i].start / VAD_SAMPLE_RATE;
        (*segs)[i].end = (double)l.items[i].end / VAD_SAMPLE_RATE;
    }
    *n_segs = l.n;
    free(l.items);
    return 0;
}
