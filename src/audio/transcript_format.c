/*
 * transcript_format.c - a transcript in OpenAI's response formats (used by
 * `r1 transcribe --format` and POST /v1/audio/transcriptions):
 *   text          the text and a newline
 *   json          {"text": ...}
 *   verbose_json  task, language (its English name), duration, text, and
 *                 the segments with their times, tokens and figures
 *   srt, vtt      subtitles, one cue per segment
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/asr_internal.h"

/* A growing string. */
typedef struct text_buffer {
    char *data;
    size_t len, cap;
    bool failed;
} text_buffer;

static void put(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(text_buffer *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
}

/* hh:mm:ss followed by sep and milliseconds */
static void put_time(text_buffer *b, double seconds, char sep) {
    long ms = (long)(seconds * 1000.0 + 0.5);
    put(b, "%02ld:%02ld:%02ld%c%03ld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, sep, ms % 1000);
}

/* A segment's text for a subtitle: without the leading space. */
static const char *cue_text(const r1_transcript_segment *s) {
    const char *t = s->text;
    while (*t == ' ') t++;
    return t;
}

static char *subtitles(const r1_transcript *t, bool vtt) {
    text_buffer b = {0};
    if (vtt) put(&b, "WEBVTT\n\n");
    for (int i = 0; i < t->n_segments; i++) {
        const r1_transcript_segment *s = &t->segments[i];
        if (!vtt) put(&b, "%d\n", i + 1);
        put_time(&b, s->start, vtt ? '.' : ',');
        put(&b, " --> ");
        put_time(&b, s->end, vtt ? '.' : ',');
        put(&b, "\n%s\n\n", cue_text(s));
    }
    if (!b.data) put(&b, "%s", "");
    if (b.failed) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

static const char *language_name(const char *code) {
    for (int i = 0; whisper_language_code(i); i++)
        if (strcmp(whisper_language_code(i), code) == 0) return whisper_language_name(i);
    return code;
}

static json_t *segment_json(const r1_transcript_segment *s, int id) {
    json_t *tokens = json_array();
    for (int i = 0; i < s->n_tokens; i++) json_array_append_new(tokens, json_integer(s->tokens[i]));
    return json_pack("{s:i, s:f, s:f, s:s, s:o, s:f, s:f, s:f}", "id", id, "start", s->start, "end", s->end,
                     "text", s->text, "tokens", tokens, "temperature", (double)s->temperature, "avg_logprob",
                     (double)s->avg_logprob, "no_speech_prob", (double)s->no_speech_prob);
}

static char *json_text(const r1_transcript *t, bool verbose) {
    json_t *root;
    if (!verbose) {
        root = json_pack("{s:s}", "text", t->text ? t->text : "");
    } else {
        json_t *segments = json_array();
        for (int i = 0; i < t->n_segments; i++) json_array_append_new(segments, segment_json(&t->segments[i], i));
        root = json_pack("{s:s, s:s, s:f, s:s, s:o}", "task", t->translated ? "translate" : "transcribe", "language", language_name(t->language),
                         "duration", t->duration, "text", t->text ? t->text : "", "segments", segments);
    }
    if (!root) return NULL;
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(root);
    return text;
}

char *r1_transcript_format(const r1_transcript *t, const char *format, r1_error *err) {
    char *out = NULL;
    if (!format || strcmp(format, "json") == 0) out = json_text(t, false);
    else if (strcmp(format, "verbose_json") == 0) out = json_text(t, true);
    else if (strcmp(format, "srt") == 0) out = subtitles(t, false);
    else if (strcmp(format, "vtt") == 0) out = subtitles(t, true);
    else if (strcmp(format, "text") == 0) {
        size_t n = t->text ? strlen(t->text) : 0;
        out = malloc(n + 2);
        if (out) {
            if (n) memcpy(out, t->text, n);
            out[n] = '\n';
            out[n + 1] = '\0';
        }
    } else {
        r1_error_set(err, "unknown format '%s' (expected text, json, verbose_json, srt or vtt)", format);
        return NULL;
    }
    if (!out) r1_error_set(err, "out of memory formatting the transcript");
    return out;
}
