/*
 * fuzz_tokenize.c - libFuzzer harness for the tokenizer and the streaming
 * detokenizer: any bytes in (the first byte picks special-token parsing and
 * BOS), tokenize, detokenize, and stream the ids back one at a time. Every
 * streamed chunk must be valid UTF-8 and, for valid input, the stream must
 * equal the one-shot detokenization.
 *
 * The vocabulary comes from $R1_FUZZ_VOCAB (a GGUF with tokenizer keys, e.g.
 * ../shared/testdata/tokenizer/vocab/ggml-vocab-deepseek-r1.gguf); without
 * it, the generated tiny model's stand-in vocabulary is used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/random_model.h"
#include "text/tokenizer.h"

static r1_tokenizer *tokenizer;

static const char *vocab_path(void) {
    const char *env = getenv("R1_FUZZ_VOCAB");
    if (env && *env) return env;
    static char path[64];
    snprintf(path, sizeof path, "/tmp/r1-fuzz-vocab-%d.gguf", (int)getpid());
    r1_error err;
    if (r1_model_generate(r1_model_shape_find("tiny"), "q8_0", 1, path, 1, &err) != 0) {
        fprintf(stderr, "fuzz_tokenize: %s\n", err.message);
        abort();
    }
    return path;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    gguf_file *f;
    r1_error err;
    if (gguf_open(vocab_path(), &f, &err) != 0 || r1_tokenizer_load(f, &tokenizer, &err) != 0) {
        fprintf(stderr, "fuzz_tokenize: %s\n", err.message);
        abort();
    }
    gguf_close(f);
    return 0;
}

static void check_stream(const int32_t *ids, size_t n, const char *whole, size_t whole_len) {
    r1_detok_stream s;
    r1_detok_stream_init(&s, tokenizer);
    char *joined = malloc(whole_len * 3 + 16 * n + 16);
    size_t len = 0;
    r1_error err;
    const char *chunk;
    size_t chunk_len;
    for (size_t i = 0; i < n; i++) {
        if (r1_detok_stream_feed(&s, ids[i], &chunk, &chunk_len, &err) != 0) abort();
        for (size_t k = 0; k < chunk_len;) { /* every chunk is whole characters */
            int c = r1_utf8_char_len(chunk + k, chunk_len - k);
            if (c <= 0) abort();
            k += (size_t)c;
        }
        memcpy(joined + len, chunk, chunk_len);
        len += chunk_len;
    }
    if (r1_detok_stream_flush(&s, &chunk, &chunk_len, &err) != 0) abort();
    memcpy(joined + len, chunk, chunk_len);
    len += chunk_len;
    /* for valid UTF-8 the stream equals the one-shot text */
    bool valid = true;
    for (size_t k = 0; k < whole_len && valid;) {
        int c = r1_utf8_char_len(whole + k, whole_len - k);
        valid = c > 0;
        k += c > 0 ? (size_t)c : 0;
    }
    if (valid && (len != whole_len || memcmp(joined, whole, len) != 0)) abort();
    free(joined);
    r1_detok_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    bool parse_special = data[0] & 1, add_bos = data[0] & 2;
    int32_t *ids = NULL;
    size_t n = 0;
    r1_error err;
    if (r1_tokenize(tokenizer, (const char *)data + 1, size - 1, add_bos, parse_special, &ids, &n, &err) != 0)
        return 0;
    char *text = NULL;
    size_t len = 0;
    if (r1_detokenize(tokenizer, ids, n, &text, &len, &err) == 0) check_stream(ids, n, text, len);
    free(text);
    free(ids);
    return 0;
}
