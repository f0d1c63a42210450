/*
 * fuzz_whisper_rules.c - libFuzzer harness for Whisper's token-level
 * decoding logic, fed what a broken or hostile model could produce.
 *
 * The input is used twice. As bytes cut into pieces of 1 to 4 bytes (the
 * length from the piece's first byte), for the UTF-8 assembler: the text must be
 * valid UTF-8 after every piece, and equal to the input when the input is
 * valid UTF-8. As 16-bit token ids (some beyond the vocab), for the
 * segment splitter (spans in order, inside the tokens, positive length,
 * seek past the window start) and for the logit rules applied after a few
 * prefixes (at least one token must stay possible: the
 * rules never leave the loop without a choice).
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   ./build-fuzz/fuzz_whisper_rules -max_total_time=60 fuzz/corpus-whisper_rules
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/whisper_rules.h"
#include "text/tokenizer.h"

enum { MAX_TOKENS = 64 };

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int k = r1_utf8_char_len(s + i, n - i);
        if (k <= 0) return false;
        i += (size_t)k;
    }
    return true;
}

static void fuzz_text(const uint8_t *data, size_t size) {
    whisper_text t;
    whisper_text_init(&t);
    size_t at = 0;
    while (at < size) {
        size_t piece = (size_t)(data[at] % 4) + 1;
        if (piece > size - at) piece = size - at;
        check(whisper_text_append(&t, (const char *)data + at, piece, NULL) == 0);
        check(whisper_text_append(&t, "", 0, NULL) == 0); /* an empty token */
        check(valid_utf8(t.data, t.len));
        at += piece;
    }
    check(whisper_text_finish(&t, NULL) == 0);
    check(valid_utf8(t.data, t.len) && strlen(t.data) <= t.len);
    if (valid_utf8((const char *)data, size)) check(t.len == size && memcmp(t.data, data, size) == 0);
    whisper_text_free(&t);
}

/* A multilingual vocab whose ordinary tokens are single bytes and pairs. */
static whisper_vocab *shared_vocab(void) {
    static whisper_vocab v;
    static bool ready;
    if (ready) return &v;
    v.n_vocab = 51865;
    v.n_text = 50257;
    v.text = calloc((size_t)v.n_vocab, sizeof(char *));
    v.len = calloc((size_t)v.n_vocab, sizeof(int));
    check(v.text && v.len);
    for (int id = 0; id < v.n_text; id++) {
        char bytes[2] = {(char)(id & 0xFF), (char)(id >> 8)};
        v.len[id] = id < 256 ? 1 : 2;
        v.text[id] = malloc(2);
        check(v.text[id] != NULL);
        memcpy(v.text[id], bytes, 2);
    }
    check(whisper_vocab_set_specials(&v, NULL) == 0);
    ready = true;
    return &v;
}

static void fuzz_segments(const whisper_vocab *v, const int *tokens, int n, bool timestamps) {
    whisper_segment_span spans[MAX_TOKENS];
    int n_spans = -1;
    int64_t seek = -1;
    if (whisper_window_segments(v, tokens, n, timestamps, 500, 3000, spans, MAX_TOKENS, &n_spans, &seek, NULL) != 0)
        return;
    check(seek > 500 && seek <= 3500);
    int previous_end = 0;
    for (int i = 0; i < n_spans; i++) {
        check(spans[i].first >= previous_end && spans[i].first < spans[i].end && spans[i].end <= n);
        check(spans[i].t0_cs < spans[i].t1_cs);
        previous_end = spans[i].end;
    }
}

static void fuzz_rules(const whisper_vocab *v, const whisper_rules *r, const int *tokens, int n, bool timestamps,
                       float *logits) {
    /* the start, the first pair decisions and the whole history */
    const int prefixes[] = {0, n < 1 ? n : 1, n < 2 ? n : 2, n};
    for (int k = 0; k < 4; k++) {
        int prefix = prefixes[k];
        for (int i = 0; i < v->n_vocab; i++) logits[i] = (float)((i * 7 + prefix) % 13) - 6.0f;
        whisper_rules_apply(r, logits, tokens, prefix, timestamps, 1.0f);
        bool any = false;
        for (int i = 0; i < v->n_vocab && !any; i++) any = !isinf(logits[i]);
        check(any);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_text(data, size);

    const whisper_vocab *v = shared_vocab();
    static whisper_rules *rules;
    static float *logits;
    if (!rules) {
        rules = whisper_rules_new(v, NULL);
        logits = malloc(sizeof(float) * (size_t)v->n_vocab);
        check(rules && logits);
    }
    int tokens[MAX_TOKENS];
    int n = 0;
    for (size_t i = 1; i + 1 < size && n < MAX_TOKENS; i += 2) {
        int raw = data[i] | data[i + 1] << 8;
        /* mostly timestamps and text near them; a few out of range */
        tokens[n++] = raw < 0xF000 ? v->eot - 20 + raw % (v->n_vocab - v->eot + 40) : raw;
    }
    bool timestamps = size > 0 && (data[0] & 1);
    fuzz_segments(v, tokens, n, timestamps);
    /* the rules take sampled tokens from the loop, always inside the vocab */
    int inside = 0;
    while (inside < n && tokens[inside] < v->n_vocab) inside++;
    fuzz_rules(v, rules, tokens, inside, timestamps, logits);
    return 0;
}
