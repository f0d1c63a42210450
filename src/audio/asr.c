/*
 * asr.c - speech recognition as include/r1.h offers it: load a Whisper
 * model (and optionally a VAD model), turn audio files or uploads into 16
 * kHz samples, keep only the speech when asked, and run the decoding loop
 * of transcribe.c under the model's lock.
 *
 * Voice activity detection: the speech segments are cut out and joined
 * with 0.1 s of silence between them, the joined audio is transcribed, and
 * every segment time is mapped back to the original audio (the way
 * whisper.cpp does it), so silence costs no encoder time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio/asr_internal.h"
#include "audio/audio_file.h"
#include "audio/audio_isolated.h"
#include "audio/mel.h"
#include "base/helper_program.h"

#define VAD_GAP_SAMPLES (WHISPER_SAMPLE_RATE / 10)

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- loading ---- */

int r1_asr_load(const r1_asr_params *p, r1_asr **out, r1_error *err) {
    *out = NULL;
    if (!p->model_path) return r1_error_set(err, "no Whisper model given");
    r1_asr *a = calloc(1, sizeof *a);
    if (!a) return r1_error_set(err, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    if (p->audio_decoder && *p->audio_decoder) {
        snprintf(a->audio_decoder, sizeof a->audio_decoder, "%s", p->audio_decoder);
        if (!helper_program_runnable(a->audio_decoder)) {
            r1_error_set(err, "the audio decoder %s: %s", a->audio_decoder, strerror(errno));
            pthread_mutex_destroy(&a->lock);
            free(a);
            return -1;
        }
    }
    if (whisper_model_load(p->model_path, &a->model, err) != 0) {
        pthread_mutex_destroy(&a->lock);
        free(a);
        return -1;
    }
    int rc = r1_compute_init(&a->compute, p->n_threads, p->exact) == 0 ? 0
                                                                        : r1_error_set(err, "cannot start threads");
    if (rc == 0) rc = whisper_state_init(&a->state, &a->model, &a->compute, err);
    if (rc == 0 && !(a->rules = whisper_rules_new(&a->model.vocab, err))) rc = -1;
    if (rc == 0 && !(a->token_index = whisper_token_index_new(&a->model.vocab, err))) rc = -1;
    if (rc == 0 && p->vad_model_path && !(a->vad = vad_model_load(p->vad_model_path, err))) rc = -1;
    if (rc != 0) {
        r1_asr_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void r1_asr_free(r1_asr *a) {
    if (!a) return;
    vad_model_free(a->vad);
    whisper_token_index_free(a->token_index);
    whisper_rules_free(a->rules);
    whisper_state_free(&a->state);
    if (a->compute.pool) r1_compute_free(&a->compute);
    whisper_model_free(&a->model);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

const char *r1_asr_model_kind(const r1_asr *a) {
    return whisper_model_kind(&a->model);
}

bool r1_asr_multilingual(const r1_asr *a) {
    return a->model.vocab.multilingual;
}

bool r1_asr_knows_language(const r1_asr *a, const char *code) {
    if (!a->model.vocab.multilingual) return strcmp(code, "en") == 0;
    return whisper_language_index(&a->model.vocab, code) >= 0;
}

/* ---- transcripts ---- */

int asr_transcript_add(r1_transcript *t, double start, double end, const char *text, const int32_t *tokens,
                       int n_tokens, float avg_logprob, float no_speech_prob, float temperature, r1_error *err) {
    r1_transcript_segment *grown = realloc(t->segments, (size_t)(t->n_segments + 1) * sizeof *grown);
    if (!grown) return r1_error_set(err, "out of memory");
    t->segments = grown;
    r1_transcript_segment *s = &grown[t->n_segments];
    *s = (r1_transcript_segment){.start = start, .end = end, .avg_logprob = avg_logprob,
                                 .no_speech_prob = no_speech_prob, .temperature = temperature,
                                 .n_tokens = n_tokens};
    s->text = strdup(text);
    s->tokens = malloc((size_t)(n_tokens > 0 ? n_tokens : 1) * sizeof(int32_t));
    if (!s->text || !s->tokens) {
        free(s->text);
        free(s->tokens);
        return r1_error_set(err, "out of memory");
    }
    if (n_tokens > 0) memcpy(s->tokens, tokens, (size_t)n_tokens * sizeof(int32_t));
    t->n_segments++;
    return 0;
}

void r1_transcript_free(r1_transcript *t) {
    if (!t) return;
    for (int i = 0; i < t->n_segments; i++) {
        free(t->segments[i].text);
        free(t->segments[i].tokens);
    }
    free(t->segments);
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* The full text: segments joined, surrounding whitespace trimmed. */
static int join_text(r1_transcript *t, r1_error *err) {
    size_t total = 1;
    for (int i = 0; i < t->n_segments; i++) total += strlen(t->segments[i].text);
    char *text = malloc(total);
    if (!text) return r1_error_set(err, "out of memory");
    size_t len = 0;
    for (int i = 0; i < t->n_segments; i++) {
        size_t n = strlen(t->segments[i].text);
        memcpy(text + len, t->segments[i].text, n);
        len += n;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\n')) len--;
    text[len] = '\0';
    size_t lead = strspn(text, " \n");
    memmove(text, text + lead, len - lead + 1);
    t->text = text;
    return 0;
}

/* ---- voice activity ---- */

typedef struct speech_piece {
    long from, to;   /* samples of the original audio */
    long at;         /* where the piece starts in the joined audio */
} speech_piece;

typedef struct speech_map {
    speech_piece *pieces;
    int n;
} speech_map;

/* A time in the joined audio, as a time in the original. */
static double map_time(const speech_map *map, double t) {
    long sample = (long)(t * WHISPER_SAMPLE_RATE + 0.5);
    for (int i = map->n - 1; i >= 0; i--) {
        const speech_piece *p = &map->pieces[i];
        if (sample >= p->at) {
            long offset = sample - p->at, len = p->to - p->from;
            return (double)(p->from + (offset < len ? offset : len)) / WHISPER_SAMPLE_RATE;
        }
    }
    return t;
}

/* The speech of the audio, joined; *joined is NULL when there is none. */
static int find_speech(r1_asr *a, const float *samples, long n, float **joined, long *n_joined, speech_map *map,
                       r1_error *err) {
    float *probs = NULL;
    int n_probs = 0, n_segs = 0;
    vad_segment *segs = NULL;
    *joined = NULL;
    *n_joined = 0;
    int rc = a->vad ? vad_speech_probs(a->vad, samples, n, &probs, &n_probs, err)
                    : (vad_energy_probs(samples, n, &probs, &n_probs) == 0 ? 0 : r1_error_set(err, "out of memory"));
    vad_params params;
    vad_params_default(&params);
    if (rc == 0 && vad_segments_from_probs(probs, n_probs, VAD_WINDOW_SAMPLES, n, &params, &segs, &n_segs) != 0)
        rc = r1_error_set(err, "out of memory finding speech segments");
    free(probs);
    if (rc != 0 || n_segs == 0) {
        free(segs);
        return rc;
    }
    map->pieces = calloc((size_t)n_segs, sizeof *map->pieces);
    long total = 0;
    for (int i = 0; i < n_segs && map->pieces; i++) {
        speech_piece *p = &map->pieces[map->n++];
        p->from = (long)(segs[i].start * WHISPER_SAMPLE_RATE);
        p->to = (long)(segs[i].end * WHISPER_SAMPLE_RATE);
        if (p->from < 0) p->from = 0;
        if (p->to > n) p->to = n;
        if (p->to < p->from) p->to = p->from;
        p->at = total;
        total += p->to - p->from + VAD_GAP_SAMPLES;
    }
    free(segs);
    *joined = map->pieces ? calloc((size_t)total + 1, sizeof(float)) : NULL;
    if (!*joined) return r1_error_set(err, "out of memory joining the speech");
    for (int i = 0; i < map->n; i++) {
        const speech_piece *p = &map->pieces[i];
        memcpy(*joined + p->at, samples + p->from, (size_t)(p->to - p->from) * sizeof(float));
    }
    *n_joined = total;
    return 0;
}

static int transcribe_speech(r1_asr *a, const float *samples, long n, const r1_transcribe_options *o,
                             r1_transcript *out, r1_error *err) {
    float *joined;
    long n_joined;
    speech_map map = {0};
    int rc = find_speech(a, samples, n, &joined, &n_joined, &map, err);
    if (rc == 0 && joined) {
        /* segments are reported (on_segment) after their times are mapped */
        r1_transcribe_options inner = *o;
        inner.on_segment = NULL;
        rc = asr_transcribe_samples(a, joined, n_joined, &inner, out, err);
        for (int i = 0; rc == 0 && i < out->n_segments; i++) {
            r1_transcript_segment *s = &out->segments[i];
            s->start = map_time(&map, s->start);
            s->end = map_time(&map, s->end);
            if (o->on_segment) o->on_segment(o->user, s->start, s->end, s->text);
        }
    }
    free(joined);
    free(map.pieces);
    return rc;
}

/* ---- transcribing ---- */

int r1_asr_transcribe(r1_asr *a, const float *samples, long n, const r1_transcribe_options *options,
                      r1_transcript *out, r1_error *err) {
    r1_transcribe_options defaults = {0};
    const r1_transcribe_options *o = options ? options : &defaults;
    memset(out, 0, sizeof *out);
    out->duration = (double)n / WHISPER_SAMPLE_RATE;
    out->translated = o->translate;
    if (o->temperature < 0.0f || o->temperature > 1.0f)
        return r1_error_set(err, "temperature %g is outside 0..1", (double)o->temperature);
    if (o->translate && !a->model.vocab.multilingual)
        return r1_error_set(err, "this model knows only English: it cannot translate");
    double t0 = now_seconds();
    pthread_mutex_lock(&a->lock);
    int rc = o->vad ? transcribe_speech(a, samples, n, o, out, err) : asr_transcribe_samples(a, samples, n, o, out, err);
    pthread_mutex_unlock(&a->lock);
    if (rc == 0 && out->language[0] == '\0') { /* nothing decoded (silence): say what would have been used */
        const char *code = o->language && *o->language && strcmp(o->language, "auto") ? o->language : "en";
        snprintf(out->language, sizeof out->language, "%s", code);
    }
    if (rc == 0) rc = join_text(out, err);
    out->total_seconds = now_seconds() - t0;
    if (rc != 0) r1_transcript_free(out);
    return rc;
}

int r1_asr_transcribe_file(r1_asr *a, const char *path, const r1_transcribe_options *o, r1_transcript *out,
                           r1_error *err) {
    audio_pcm pcm;
    memset(out, 0, sizeof *out);
    if (audio_load_file(path, WHISPER_SAMPLE_RATE, &pcm, err) != 0) return R1_ASR_BAD_AUDIO;
    int rc = r1_asr_transcribe(a, pcm.samples, pcm.n_samples, o, out, err);
    audio_pcm_free(&pcm);
    return rc;
}

/* An upload to samples, in the child decoder when there is one. 0, or one
 * of R1_ASR_* with err (whose messages say "upload: ..."). */
static int decode_upload(r1_asr *a, const void *data, size_t size, const r1_transcribe_options *o, audio_pcm *pcm,
                         r1_error *err) {
    if (!a->audio_decoder[0])
        return audio_load_memory(data, size, WHISPER_SAMPLE_RATE, pcm, err) == 0 ? 0 : R1_ASR_BAD_AUDIO;
    audio_isolation iso = {.decoder_path = a->audio_decoder};
    if (o) iso.should_stop = o->should_stop, iso.user = o->user;
    switch (audio_load_memory_isolated(&iso, data, size, WHISPER_SAMPLE_RATE, AUDIO_MAX_SECONDS, pcm, err)) {
    case 0:
        return 0;
    case AUDIO_ISOLATED_STOPPED:
        return R1_ASR_STOPPED;
    case AUDIO_ISOLATED_FAILED:
        return R1_ASR_FAILED;
    default:
        return R1_ASR_BAD_AUDIO;
    }
}

int r1_asr_transcribe_memory(r1_asr *a, const void *data, size_t size, const char *name,
                             const r1_transcribe_options *o, r1_transcript *out, r1_error *err) {
    audio_pcm pcm;
    memset(out, 0, sizeof *out);
    int rc = decode_upload(a, data, size, o, &pcm, err);
    if (rc != 0) {
        if (name && strcmp(name, "upload") != 0) r1_error_prefix(err, "%s", name);
        return rc;
    }
    rc = r1_asr_transcribe(a, pcm.samples, pcm.n_samples, o, out, err);
    audio_pcm_free(&pcm);
    return rc;
}
