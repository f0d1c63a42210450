/*
 * whisper_rules.c - the logit rules of Whisper's decoding loop (which
 * tokens may come next), language detection and the no-speech probability.
 * See whisper_rules.h for the rules themselves.
 */
#include "audio/whisper_rules.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct whisper_rules {
    const whisper_vocab *vocab;
    int blank;          /* token " ", or -1 */
    int *suppress;      /* sorted: every token suppressed at every step */
    int n_suppress;
    int *non_speech;    /* sorted: the non-speech part of suppress */
    int n_non_speech;
};

/* Symbols OpenAI's tokenizer lists as annotations rather than speech. */
static const char *const NON_SPEECH_SYMBOLS[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^", "_", "`", "{", "|",
    "}", "~", "「", "」", "『", "』", "<<", ">>", "<<<", ">>>", "--", "---", "-(", "-[", "('", "(\"", "((", "))",
    "(((", ")))", "[[", "]]", "{{", "}}", "♪♪", "♪♪♪",
};

/* Musical signs (U+2640..U+267F): suppressed even when they take several
 * tokens, through their first token, which they share with nothing that
 * is speech. */
static const char *const MUSICAL_SIGNS[] = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};

/* Ordinary tokens are those below eot (and stored in the file). */
static int n_ordinary(const whisper_vocab *v) {
    return v->n_text < v->eot ? v->n_text : v->eot;
}

/* The first ordinary token whose text is exactly bytes[0..n), or -1. */
static int find_token(const whisper_vocab *v, const char *bytes, size_t n) {
    int count = n_ordinary(v);
    for (int id = 0; id < count; id++)
        if (v->text[id] && (size_t)v->len[id] == n && memcmp(v->text[id], bytes, n) == 0) return id;
    return -1;
}

/* The token of the longest leading piece of bytes[0..n) that is at least
 * min_len long (a BPE encoding's first token, as far as the texts alone
 * can tell), or -1. */
static int find_longest_prefix(const whisper_vocab *v, const char *bytes, size_t n, size_t min_len) {
    for (size_t k = n; k >= min_len && k > 0; k--) {
        int id = find_token(v, bytes, k);
        if (id >= 0) return id;
    }
    return -1;
}

/* Adds id to the set list[0..*n) (capacity enough by construction). */
static void add_unique(int *list, int *n, int id) {
    if (id < 0) return;
    for (int i = 0; i < *n; i++)
        if (list[i] == id) return;
    list[(*n)++] = id;
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Adds the token of text, and of " " + text, when each is one token;
 * with musical, the first token of a longer encoding too. */
static void add_symbol(const whisper_vocab *v, int *list, int *n, const char *text, bool musical) {
    char spaced[16] = " ";
    size_t len = strlen(text);
    memcpy(spaced + 1, text, len);
    add_unique(list, n, musical ? find_longest_prefix(v, text, len, 1) : find_token(v, text, len));
    /* the piece must reach past the space, or it would be " " itself */
    add_unique(list, n, musical ? find_longest_prefix(v, spaced, len + 1, 2) : find_token(v, spaced, len + 1));
}

static int build_non_speech(whisper_rules *r) {
    const whisper_vocab *v = r->vocab;
    int n_symbols = (int)(sizeof NON_SPEECH_SYMBOLS / sizeof NON_SPEECH_SYMBOLS[0]);
    int n_signs = (int)(sizeof MUSICAL_SIGNS / sizeof MUSICAL_SIGNS[0]);
    r->non_speech = malloc(sizeof(int) * (size_t)(2 * (n_symbols + n_signs) + 2));
    if (!r->non_speech) return -1;
    int n = 0;
    add_unique(r->non_speech, &n, find_token(v, " -", 2));
    add_unique(r->non_speech, &n, find_token(v, " '", 2));
    for (int i = 0; i < n_symbols; i++) add_symbol(v, r->non_speech, &n, NON_SPEECH_SYMBOLS[i], false);
    for (int i = 0; i < n_signs; i++) add_symbol(v, r->non_speech, &n, MUSICAL_SIGNS[i], true);
    qsort(r->non_speech, (size_t)n, sizeof(int), compare_ints);
    r->n_non_speech = n;
    return 0;
}

/* Every token never sampled: the specials that steer the decoder, the
 * language tokens (all ids between sot and translate, present in
 * English-only vocabs too) and the non-speech tokens. */
static int build_suppress(whisper_rules *r) {
    const whisper_vocab *v = r->vocab;
    int n_languages = v->translate - v->lang_first;
    r->suppress = malloc(sizeof(int) * (size_t)(r->n_non_speech + n_languages + 8));
    if (!r->suppress) return -1;
    int n = 0;
    int specials[] = {v->sot, v->translate, v->transcribe, v->solm, v->prev, v->nosp, v->notimestamps};
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) r->suppress[n++] = specials[i];
    for (int i = 0; i < n_languages; i++) r->suppress[n++] = v->lang_first + i;
    for (int i = 0; i < r->n_non_speech; i++) r->suppress[n++] = r->non_speech[i];
    qsort(r->suppress, (size_t)n, sizeof(int), compare_ints);
    r->n_suppress = n;
    return 0;
}

whisper_rules *whisper_rules_new(const whisper_vocab *v, r1_error *err) {
    if (!v || !v->text || !v->len || v->n_vocab <= v->timestamp_begin || v->timestamp_begin <= v->notimestamps ||
        v->sot <= v->eot || v->lang_first <= v->sot) {
        r1_error_set(err, "whisper rules: the vocab has no special ids (call whisper_vocab_set_specials first)");
        return NULL;
    }
    whisper_rules *r = calloc(1, sizeof *r);
    if (!r) {
        r1_error_set(err, "whisper rules: out of memory");
        return NULL;
    }
    r->vocab = v;
    r->blank = find_token(v, " ", 1);
    if (build_non_speech(r) != 0 || build_suppress(r) != 0) {
        whisper_rules_free(r);
        r1_error_set(err, "whisper rules: out of memory");
        return NULL;
    }
    return r;
}

void whisper_rules_free(whisper_rules *r) {
    if (!r) return;
    free(r->suppress);
    free(r->non_speech);
    free(r);
}

int whisper_rules_blank_token(const whisper_rules *r) {
    return r->blank;
}

int whisper_rules_non_speech(const whisper_rules *r, const int **ids) {
    *ids = r->non_speech;
    return r->n_non_speech;
}

/* ---- applying the rules ---- */

static void suppress_range(float *logits, int begin, int end) {
    for (int i = begin; i < end; i++) logits[i] = -INFINITY;
}

/* Pairs and order of timestamps, given what was sampled so far. */
static void timestamp_sequence_rules(const whisper_vocab *v, float *logits, const int *sampled, int n) {
    int tb = v->timestamp_begin;
    bool last_is_ts = n >= 1 && sampled[n - 1] >= tb;
    /* before the first token counts as a timestamp: the first one opens
     * a segment, so text follows it */
    bool penultimate_is_ts = n < 2 || sampled[n - 2] >= tb;
    if (last_is_ts) {
        if (penultimate_is_ts) suppress_range(logits, tb, v->n_vocab); /* text (or eot) next */
        else suppress_range(logits, 0, v->eot);                        /* a timestamp (or eot) next */
    }

    int last_ts = -1;
    for (int i = n - 1; i >= 0 && last_ts < 0; i--)
        if (sampled[i] >= tb) last_ts = sampled[i];
    if (last_ts < 0) return;
    /* a new segment may start where the last ended; anything else must
     * move forward, so no segment is empty and the window advances */
    int first_allowed = (last_is_ts && !penultimate_is_ts) ? last_ts : last_ts + 1;
    if (first_allowed > v->n_vocab) first_allowed = v->n_vocab;
    suppress_range(logits, tb, first_allowed);
}

static void initial_timestamp_rule(const whisper_vocab *v, float *logits, float max_initial_timestamp_s) {
    suppress_range(logits, 0, v->timestamp_begin);
    /* 30 s or more (or NaN) limits nothing */
    if (max_initial_timestamp_s > 0 && max_initial_timestamp_s < 30.0f) {
        int last_allowed = v->timestamp_begin + (int)lroundf(max_initial_timestamp_s / 0.02f);
        suppress_range(logits, last_allowed + 1, v->n_vocab);
    }
}

/* log(sum(exp(x[i]))) over [begin, end); -INFINITY when all are. */
static double log_sum_exp(const float *x, int begin, int end) {
    float max = -INFINITY;
    for (int i = begin; i < end; i++)
        if (x[i] > max) max = x[i];
    if (max == -INFINITY) return -INFINITY;
    double sum = 0;
    for (int i = begin; i < end; i++) sum += exp((double)x[i] - max);
    return log(sum) + max;
}

/* The timestamps' total probability against the best other token's: the
 * softmax normaliser cancels, so logits compare directly. */
static void force_timestamp_rule(const whisper_vocab *v, float *logits) {
    int tb = v->timestamp_begin;
    double ts_mass = log_sum_exp(logits, tb, v->n_vocab);
    float best_other = -INFINITY;
    for (int i = 0; i < tb; i++)
        if (logits[i] > best_other) best_other = logits[i];
    if (ts_mass > best_other) suppress_range(logits, 0, tb);
}

void whisper_rules_apply(const whisper_rules *r, float *logits, const int *sampled, int n_sampled, bool timestamps,
                         float max_initial_timestamp_s) {
    const whisper_vocab *v = r->vocab;
    if (n_sampled <= 0) {
        n_sampled = 0;
        logits[v->eot] = -INFINITY;
        if (r->blank >= 0) logits[r->blank] = -INFINITY;
    }
    for (int i = 0; i < r->n_suppress; i++) logits[r->suppress[i]] = -INFINITY;
    if (!timestamps) {
        suppress_range(logits, v->timestamp_begin, v->n_vocab);
        return;
    }
    timestamp_sequence_rules(v, logits, sampled, n_sampled);
    if (n_sampled == 0) initial_timestamp_rule(v, logits, max_initial_timestamp_s);
    force_timestamp_rule(v, logits);
}

/* ---- language and silence ---- */

int whisper_detect_language(const whisper_vocab *v, const float *logits, float *probability, float *all_probs) {
    if (probability) *probability = 0;
    if (!v->multilingual || v->n_languages <= 0) return -1;
    const float *lang = logits + v->lang_first;
    int best = 0;
    for (int i = 1; i < v->n_languages; i++)
        if (lang[i] > lang[best]) best = i;
    if (!isfinite(lang[best])) { /* no usable logits: no probabilities either */
        if (all_probs) memset(all_probs, 0, sizeof(float) * (size_t)v->n_languages);
        return best;
    }
    double sum = 0;
    for (int i = 0; i < v->n_languages; i++) sum += exp((double)lang[i] - lang[best]);
    if (probability) *probability = (float)(1.0 / sum);
    if (all_probs)
        for (int i = 0; i < v->n_languages; i++) all_probs[i] = (float)(exp((double)lang[i] - lang[best]) / sum);
    return best;
}

float whisper_no_speech_prob(const whisper_vocab *v, const float *logits) {
    double log_total = log_sum_exp(logits, 0, v->n_vocab);
    if (!isfinite(log_total)) return 0;
    return (float)exp((double)logits[v->nosp] - log_total);
}
