/*
 * test_tokenizer.c - the tokenizers (src/text) against outside references.
 *
 *  - vocab/NAME.gguf.inp + .out: llama.cpp's own test vectors for its vocab-only
 *    GGUF files (46 strings each, parse_special off, no BOS);
 *  - strings/NAME.jsonl: 275 strings per vocabulary with the ids of Hugging
 *    Face `tokenizers` in three modes (no special parsing, special
 *    parsing, with BOS), and HF's decode of them.
 *  Both must match exactly. Where llama.cpp and HF disagree (README of the
 *  testdata: DeepSeek-V3 keeps '~' inside a punctuation run, R1-Distill-
 *  Qwen normalizes to NFC) the jsonl files hold HF's ids and we follow HF,
 *  the upstream Python tokenizer; the llama.cpp .out files never contain
 *  such strings.
 *
 * Also: detokenize(tokenize(s)) gives s back (its NFC form for Qwen), the
 * streaming detokenizer only ever hands out whole UTF-8 characters, invalid
 * UTF-8 input is tokenized losslessly, several threads can share one
 * tokenizer, and broken vocabularies fail with a message naming the key.
 * Prints the speed of tokenizing 1 MB of mixed Chinese/English text.
 */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/gguf.h"
#include "text/tokenizer.h"

/* ---- helpers ---- */

typedef struct loaded {
    gguf_file *file;
    r1_tokenizer *tok;
} loaded;

static loaded load_vocab(const char *relative) {
    loaded l = {NULL, NULL};
    r1_error err = {{0}};
    const char *path = test_testdata_path(relative);
    if (gguf_open(path, &l.file, &err) != 0) fail_msg("%s", err.message);
    if (r1_tokenizer_load(l.file, &l.tok, &err) != 0) fail_msg("%s", err.message);
    return l;
}

static void unload(loaded *l) {
    r1_tokenizer_free(l->tok);
    gguf_close(l->file);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A whole file plus a terminating NUL (test_read_file adds none). */
static char *read_text_file(const char *relative) {
    size_t size;
    char *data = test_read_file(test_testdata_path(relative), &size);
    if (!data) fail_msg("cannot read %s", relative);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    free(data);
    return text;
}

static bool same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s [", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? ", " : "", ids[i]);
    fprintf(stderr, "]\n");
}

/* Tokenizes and compares; prints both lists on a mismatch. */
static bool tokenizes_to(const r1_tokenizer *t, const char *text, size_t len, bool bos, bool special,
                         const int32_t *expected, size_t n_expected, const char *what) {
    int32_t *ids;
    size_t n;
    r1_error err = {{0}};
    if (r1_tokenize(t, text, len, bos, special, &ids, &n, &err) != 0) fail_msg("%s", err.message);
    bool ok = same_ids(ids, n, expected, n_expected);
    if (!ok) {
        fprintf(stderr, "  MISMATCH %s: \"%.*s\"\n", what, (int)(len > 120 ? 120 : len), text);
        print_ids("expected", expected, n_expected);
        print_ids("got     ", ids, n);
    }
    free(ids);
    return ok;
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int clen = r1_utf8_char_len(s + i, n - i);
        if (clen <= 0) return false;
        i += (size_t)clen;
    }
    return true;
}

/* Feeds ids one at a time: every chunk must be whole UTF-8 characters and
 * (for valid text) all chunks together must equal the full detokenization. */
static bool stream_matches(const r1_tokenizer *t, const int32_t *ids, size_t n, const char *full, size_t full_len) {
    r1_detok_stream s;
    r1_detok_stream_init(&s, t);
    r1_error err = {{0}};
    char *joined = malloc(3 * full_len + 16);
    size_t used = 0;
    bool ok = joined != NULL;
    for (size_t i = 0; ok && i <= n; i++) {
        const char *chunk;
        size_t len;
        int rc = i < n ? r1_detok_stream_feed(&s, ids[i], &chunk, &len, &err)
                       : r1_detok_stream_flush(&s, &chunk, &len, &err);
        ok = rc == 0 && valid_utf8(chunk, len) && used + len <= 3 * full_len + 16;
        if (ok) memcpy(joined + used, chunk, len);
        used += len;
    }
    ok = ok && used == full_len && memcmp(joined, full, full_len) == 0;
    free(joined);
    r1_detok_stream_free(&s);
    return ok;
}

/* ---- llama.cpp vectors: vocab/ggml-vocab-NAME.gguf(.inp/.out) ---- */

#define SEPARATOR "\n__ggml_vocab_test__\n"

/* Next .out line parsed into ids; false at the end. */
static bool next_out_line(char **cursor, int32_t *ids, size_t *n) {
    if (!**cursor) return false;
    char *end = strchr(*cursor, '\n');
    if (end) *end = '\0';
    *n = 0;
    for (char *p = *cursor, *q; *p; p = q) {
        long v = strtol(p, &q, 10);
        if (q == p) break;
        ids[(*n)++] = (int32_t)v;
    }
    *cursor = end ? end + 1 : *cursor + strlen(*cursor);
    return true;
}

/* Checks every string of inp_name against out_name with vocabulary t;
 * returns the number that failed and prints the count. */
static int check_vectors(const r1_tokenizer *t, const char *inp_name, const char *out_name) {
    char path[512];
    snprintf(path, sizeof path, "tokenizer/vocab/%s", inp_name);
    char *inp = read_text_file(path);
    snprintf(path, sizeof path, "tokenizer/vocab/%s", out_name);
    char *out = read_text_file(path);
    int32_t *ids = malloc((strlen(out) + 1) * sizeof *ids);
    char *text = inp, *cursor = out;
    int passed = 0, failed = 0;
    size_t n;
    while (next_out_line(&cursor, ids, &n)) {
        char *sep = strstr(text, SEPARATOR);
        assert_non_null(sep);
        if (tokenizes_to(t, text, (size_t)(sep - text), false, false, ids, n, out_name)) passed++;
        else failed++;
        text = sep + strlen(SEPARATOR);
    }
    fprintf(stderr, "  %-40s %d passed, %d failed\n", out_name, passed, failed);
    free(ids);
    free(inp);
    free(out);
    return failed;
}

static void test_llamacpp_vectors(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    static const char *const vocabs[] = {"deepseek-llm", "deepseek-coder", "llama-spm", "gpt-2",
                                         "deepseek-r1",  "deepseek-r1-qwen", "llama-bpe", "falcon",
                                         "starcoder",    "phi-3"};
    int failed = 0;
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        char gguf[256], inp[256], out[256];
        snprintf(gguf, sizeof gguf, "tokenizer/vocab/ggml-vocab-%s.gguf", vocabs[v]);
        snprintf(inp, sizeof inp, "ggml-vocab-%s.gguf.inp", vocabs[v]);
        snprintf(out, sizeof out, "ggml-vocab-%s.gguf.out", vocabs[v]);
        loaded l = load_vocab(gguf);
        failed += check_vectors(l.tok, inp, out);
        if (strcmp(vocabs[v], "deepseek-r1-qwen") == 0) /* same vocabulary as Qwen2 */
            failed += check_vectors(l.tok, "ggml-vocab-qwen2.gguf.inp", "ggml-vocab-qwen2.gguf.out");
        unload(&l);
    }
    assert_int_equal(failed, 0);
}

/* ---- HF vectors: strings/NAME.jsonl ---- */

static size_t json_ids(const json_t *array, int32_t *ids) {
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) ids[i] = (int32_t)json_integer_value(v);
    return json_array_size(array);
}

typedef struct string_counts {
    int ids, parse_special, with_bos, roundtrip, stream, total;
} string_counts;

static void check_string(const r1_tokenizer *t, const json_t *obj, int32_t *buf, string_counts *c) {
    const json_t *text_v = json_object_get(obj, "text");
    const char *text = json_string_value(text_v);
    size_t len = json_string_length(text_v);
    size_t n = json_ids(json_object_get(obj, "ids"), buf);
    c->ids += tokenizes_to(t, text, len, false, false, buf, n, "ids");
    n = json_ids(json_object_get(obj, "ids_with_bos"), buf);
    c->with_bos += tokenizes_to(t, text, len, true, true, buf, n, "ids_with_bos");
    n = json_ids(json_object_get(obj, "ids_parse_special"), buf);
    c->parse_special += tokenizes_to(t, text, len, false, true, buf, n, "ids_parse_special");

    /* HF's decode is the text itself, or its NFC form for Qwen. */
    const json_t *decoded = json_object_get(obj, "decoded");
    char *out;
    size_t out_len;
    r1_error err = {{0}};
    if (r1_detokenize(t, buf, n, &out, &out_len, &err) != 0) fail_msg("%s", err.message);
    bool round = out_len == json_string_length(decoded) && memcmp(out, json_string_value(decoded), out_len) == 0;
    if (json_is_true(json_object_get(obj, "roundtrip")))
        round = round && out_len == len && memcmp(out, text, len) == 0;
    if (!round) fprintf(stderr, "  ROUNDTRIP MISMATCH %s\n", json_string_value(json_object_get(obj, "id")));
    c->roundtrip += round;
    c->stream += stream_matches(t, buf, n, out, out_len);
    c->total++;
    free(out);
}

static void check_jsonl(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tokenizer/vocab/ggml-vocab-%s.gguf", name);
    loaded l = load_vocab(path);
    snprintf(path, sizeof path, "tokenizer/strings/%s.jsonl", name);
    FILE *f = fopen(test_testdata_path(path), "r");
    assert_non_null(f);
    string_counts c = {0};
    static int32_t buf[1 << 16];
    char line[1 << 16];
    while (fgets(line, sizeof line, f)) {
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        if (!obj) fail_msg("%s: %s", path, jerr.text);
        check_string(l.tok, obj, buf, &c);
        json_decref(obj);
    }
    fclose(f);
    fprintf(stderr, "  %-24s %d strings: ids %d, ids_parse_special %d, ids_with_bos %d, round trip %d, stream %d\n",
            name, c.total, c.ids, c.parse_special, c.with_bos, c.roundtrip, c.stream);
    unload(&l);
    assert_true(c.total > 0);
    assert_int_equal(c.ids, c.total);
    assert_int_equal(c.parse_special, c.total);
    assert_int_equal(c.with_bos, c.total);
    assert_int_equal(c.roundtrip, c.total);
    assert_int_equal(c.stream, c.total);
}

static void test_hf_strings_deepseek_r1(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    check_jsonl("deepseek-r1");
}

static void test_hf_strings_deepseek_r1_qwen(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    check_jsonl("deepseek-r1-qwen");
}

static void test_hf_strings_llama_bpe(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    check_jsonl("llama-bpe");
}

/* ---- SentencePiece: stories260K ---- */

static void test_stories260k(void **state) {
    (void)state;
    if (!test_require_testdata("llm")) skip();
    loaded l = load_vocab("llm/stories260K-f32.gguf");
    const int32_t expected[] = {1, 403, 407, 261, 378};
    const char *text = "Once upon a time";
    assert_true(tokenizes_to(l.tok, text, strlen(text), true, false, expected, 5, "stories260K"));
    assert_string_equal(r1_tokenizer_model(l.tok), "llama");
    assert_int_equal(r1_token_bos(l.tok), 1);
    assert_int_equal(r1_token_eos(l.tok), 2);
    assert_true(r1_token_is_eog(l.tok, 2));
    char *out;
    size_t len;
    r1_error err = {{0}};
    assert_int_equal(r1_detokenize(l.tok, expected + 1, 4, &out, &len, &err), 0);
    assert_string_equal(out, text); /* the leading space SentencePiece adds is removed again */
    free(out);
    unload(&l);
}

/* ---- pieces, queries, streaming ---- */

static void test_queries(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    loaded l = load_vocab("tokenizer/vocab/ggml-vocab-deepseek-r1.gguf");
    const r1_tokenizer *t = l.tok;
    assert_string_equal(r1_tokenizer_pre(t), "deepseek-v3");
    assert_int_equal(r1_tokenizer_n_vocab(t), 129280);
    assert_int_equal(r1_token_bos(t), 0);
    assert_int_equal(r1_token_eos(t), 1);
    assert_true(r1_tokenizer_adds_bos(t));
    assert_true(r1_token_is_eog(t, 1));
    assert_false(r1_token_is_eog(t, 0));
    assert_int_equal(r1_token_get_type(t, 0), R1_TOKEN_CONTROL);
    assert_int_equal(r1_token_get_type(t, 128798), R1_TOKEN_USER_DEFINED); /* <think> */
    assert_int_equal(r1_token_get_type(t, 1000), R1_TOKEN_NORMAL);
    assert_int_equal(r1_token_get_type(t, -1), R1_TOKEN_UNDEFINED);
    size_t len, tlen;
    const char *piece = r1_token_piece(t, 128798, &len);
    assert_true(len == 7 && memcmp(piece, "<think>", 7) == 0);
    piece = r1_token_piece(t, 223, &len); /* "Ġ" in the vocabulary, a space as text */
    assert_true(len == 1 && piece[0] == ' ');
    assert_null(r1_token_piece(t, 129280, &len));
    const char *text = r1_token_text(t, 223, &tlen);
    assert_true(tlen == 2 && memcmp(text, "\xc4\xa0", 2) == 0);
    size_t template_len;
    char *expected = test_read_file(test_testdata_path("tokenizer/chat/deepseek-r1.jinja"), &template_len);
    assert_non_null(r1_tokenizer_chat_template(t));
    assert_true(strlen(r1_tokenizer_chat_template(t)) == template_len &&
                memcmp(r1_tokenizer_chat_template(t), expected, template_len) == 0);
    free(expected);
    unload(&l);

    l = load_vocab("tokenizer/vocab/ggml-vocab-llama-bpe.gguf");
    assert_true(r1_tokenizer_adds_bos(l.tok)); /* no add_bos_token key: Llama-3 adds BOS */
    assert_true(r1_token_is_eog(l.tok, 128009)); /* <|eot_id|> */
    assert_true(r1_token_is_eog(l.tok, 128001)); /* <|end_of_text|> */
    assert_non_null(r1_tokenizer_chat_template(l.tok));
    assert_true(strncmp(r1_tokenizer_chat_template(l.tok), "{% set loop_messages", 20) == 0);
    unload(&l);

    l = load_vocab("tokenizer/vocab/ggml-vocab-gpt-2.gguf");
    assert_false(r1_tokenizer_adds_bos(l.tok));
    unload(&l);
}

static void test_stream_holds_back_partial_characters(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    loaded l = load_vocab("tokenizer/vocab/ggml-vocab-llama-spm.gguf");
    const char *llama = "\xf0\x9f\xa6\x99"; /* U+1F999, not in the vocabulary: four byte tokens */
    int32_t *ids;
    size_t n;
    r1_error err = {{0}};
    assert_int_equal(r1_tokenize(l.tok, llama, 4, false, false, &ids, &n, &err), 0);
    assert_true(n == 5); /* "▁" then <0xF0> <0x9F> <0xA6> <0x99> */
    r1_detok_stream s;
    r1_detok_stream_init(&s, l.tok);
    const char *chunk;
    size_t len;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r1_detok_stream_feed(&s, ids[i], &chunk, &len, &err), 0);
        if (i + 1 < n) assert_int_equal(len, 0);
    }
    assert_true(len == 4 && memcmp(chunk, llama, 4) == 0);
    /* a character cut short for good becomes U+FFFD at flush */
    assert_int_equal(r1_detok_stream_feed(&s, ids[1], &chunk, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_int_equal(r1_detok_stream_flush(&s, &chunk, &len, &err), 0);
    assert_true(len == 3 && memcmp(chunk, "\xef\xbf\xbd", 3) == 0);
    assert_int_equal(r1_detok_stream_feed(&s, 99999, &chunk, &len, &err), -1);
    assert_non_null(strstr(err.message, "outside the vocabulary"));
    r1_detok_stream_free(&s);
    free(ids);
    unload(&l);
}

/* ---- invalid UTF-8 ---- */

/* Random bytes, biased towards UTF-8 lead and continuation bytes. */
static void random_bytes(uint64_t *rng, char *buf, size_t n) {
    static const unsigned char alphabet[] = {'a',  ' ',  '<',  '|',  '\n', 0x80, 0xBF,
                                             0xC3, 0xE4, 0xF0, 0xFF, 0xED, 0xA0, '\''};
    for (size_t i = 0; i < n; i++) {
        uint64_t r = test_rand_u64(rng);
        buf[i] = (char)(r % 3 == 0 ? alphabet[(r >> 8) % sizeof alphabet] : (unsigned char)(r >> 16));
    }
}

static void test_invalid_utf8(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    static const char *const vocabs[] = {"deepseek-r1", "llama-bpe", "llama-spm", "deepseek-r1-qwen"};
    uint64_t rng = 42;
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        char path[256];
        snprintf(path, sizeof path, "tokenizer/vocab/ggml-vocab-%s.gguf", vocabs[v]);
        loaded l = load_vocab(path);
        bool lossless = strcmp(vocabs[v], "deepseek-r1-qwen") != 0; /* NFC may change valid runs */
        for (int round = 0; round < 200; round++) {
            char text[96];
            size_t len = (size_t)(test_rand_u64(&rng) % sizeof text);
            random_bytes(&rng, text, len);
            int32_t *ids;
            size_t n;
            char *out;
            size_t out_len;
            r1_error err = {{0}};
            assert_int_equal(r1_tokenize(l.tok, text, len, false, true, &ids, &n, &err), 0);
            assert_int_equal(r1_detokenize(l.tok, ids, n, &out, &out_len, &err), 0);
            if (lossless) assert_true(out_len == len && memcmp(out, text, len) == 0);
            r1_detok_stream s;
            r1_detok_stream_init(&s, l.tok);
            for (size_t i = 0; i <= n; i++) {
                const char *chunk;
                size_t clen;
                if (i < n) assert_int_equal(r1_detok_stream_feed(&s, ids[i], &chunk, &clen, &err), 0);
                else assert_int_equal(r1_detok_stream_flush(&s, &chunk, &clen, &err), 0);
                assert_true(valid_utf8(chunk, clen));
            }
            r1_detok_stream_free(&s);
            free(out);
            free(ids);
        }
        unload(&l);
    }
}

/* ---- bad vocabularies ---- */

static void expect_load_error(gguf_writer *w, const char *fragment) {
    void *data;
    size_t size;
    r1_error err = {{0}};
    assert_int_equal(gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err), 0);
    gguf_file *f;
    assert_int_equal(gguf_open_memory(data, size, "vocab.gguf", &f, &err), 0);
    r1_tokenizer *t = (r1_tokenizer *)1;
    assert_int_equal(r1_tokenizer_load(f, &t, &err), -1);
    assert_null(t);
    if (!strstr(err.message, fragment) || strncmp(err.message, "vocab.gguf: ", 12) != 0)
        fail_msg("message '%s' lacks '%s'", err.message, fragment);
    fprintf(stderr, "  refused: %s\n", err.message);
    gguf_close(f);
    free(data);
}

static void test_bad_vocabularies(void **state) {
    (void)state;
    const char *const tokens[] = {"a", "b", "ab"};
    const char *const merges[] = {"a b"};
    gguf_writer *w = gguf_writer_new();
    expect_load_error(w, "tokenizer.ggml.model is missing");
    gguf_writer_set_string(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_string(w, "tokenizer.ggml.pre", "qwen2");
    expect_load_error(w, "tokenizer.ggml.tokens is missing");
    gguf_writer_set_array_strings(w, "tokenizer.ggml.tokens", tokens, 3);
    expect_load_error(w, "tokenizer.ggml.merges is missing");
    gguf_writer_set_array_strings(w, "tokenizer.ggml.merges", merges, 1);
    gguf_writer_set_string(w, "tokenizer.ggml.pre", "klingon");
    expect_load_error(w, "tokenizer.ggml.pre: unknown pre-tokenizer 'klingon'");
    gguf_writer_set_string(w, "tokenizer.ggml.pre", "qwen2");
    gguf_writer_set_string(w, "tokenizer.ggml.model", "bert");
    expect_load_error(w, "unsupported tokenizer 'bert'");
    gguf_writer_set_string(w, "tokenizer.ggml.model", "gpt2");
    const int32_t types[] = {1, 1};
    gguf_writer_set_array_i32(w, "tokenizer.ggml.token_type", types, 2);
    expect_load_error(w, "tokenizer.ggml.token_type: 2 entries for 3 tokens");
    const char *const dup[] = {"a", "b", "a"};
    gguf_writer_set_array_strings(w, "tokenizer.ggml.tokens", dup, 3);
    gguf_writer_set_array_i32(w, "tokenizer.ggml.token_type", (const int32_t[]){1, 1, 1}, 3);
    expect_load_error(w, "duplicate token 'a'");

    /* and the small vocabulary itself works */
    gguf_writer_set_array_strings(w, "tokenizer.ggml.tokens", tokens, 3);
    void *data;
    size_t size;
    r1_error err = {{0}};
    assert_int_equal(gguf_writer_write_memory(w, NULL, NULL, &data, &size, &err), 0);
    gguf_file *f;
    r1_tokenizer *t;
    assert_int_equal(gguf_open_memory(data, size, "vocab.gguf", &f, &err), 0);
    assert_int_equal(r1_tokenizer_load(f, &t, &err), 0);
    gguf_close(f); /* the tokenizer keeps its own copies */
    const int32_t expected[] = {2, 0};
    assert_true(tokenizes_to(t, "aba", 3, true, true, expected, 2, "tiny vocabulary"));
    r1_tokenizer_free(t);
    free(data);
    gguf_writer_free(w);
}

/* ---- threads ---- */

typedef struct thread_job {
    const r1_tokenizer *tok;
    const char *text;
    size_t len;
    const int32_t *expected;
    size_t n_expected;
    bool ok;
} thread_job;

static void *tokenize_repeatedly(void *arg) {
    thread_job *job = arg;
    job->ok = true;
    for (int i = 0; i < 20 && job->ok; i++) {
        int32_t *ids;
        size_t n;
        r1_error err;
        job->ok = r1_tokenize(job->tok, job->text, job->len, true, true, &ids, &n, &err) == 0 &&
                  same_ids(ids, n, job->expected, job->n_expected);
        free(ids);
    }
    return NULL;
}

/* ---- 1 MB of mixed text ---- */

static char *mixed_text(size_t size, size_t *len) {
    static const char *const parts[] = {
        "DeepSeek-R1 is a reasoning model. ",
        "深度求索发布了推理模型，它在数学、代码和自然语言推理任务上表现出色。",
        "The quick brown fox jumps over the lazy dog 1234567890 times!\n",
        "机器学习是人工智能的一个分支，研究计算机如何从数据中学习。",
        "    for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }\n",
        "東京の天気は晴れです。 Ünïcödé façade naïve café — “quotes” ‘too’. ",
        "<think>\n让我们一步一步地思考这个问题。</think>\n\n",
    };
    char *text = malloc(size + 256);
    size_t n = 0;
    uint64_t rng = 7;
    while (n < size) {
        const char *part = parts[test_rand_u64(&rng) % (sizeof parts / sizeof parts[0])];
        memcpy(text + n, part, strlen(part));
        n += strlen(part);
    }
    text[n] = '\0';
    *len = n;
    return text;
}

static void test_one_megabyte_and_threads(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer")) skip();
    static const char *const vocabs[] = {"deepseek-r1", "deepseek-r1-qwen", "llama-bpe"};
    size_t len;
    char *text = mixed_text(1 << 20, &len);
    for (size_t v = 0; v < sizeof vocabs / sizeof vocabs[0]; v++) {
        char path[256];
        snprintf(path, sizeof path, "tokenizer/vocab/ggml-vocab-%s.gguf", vocabs[v]);
        loaded l = load_vocab(path);
        int32_t *ids;
        size_t n;
        r1_error err = {{0}};
        double t0 = now_seconds();
        assert_int_equal(r1_tokenize(l.tok, text, len, true, true, &ids, &n, &err), 0);
        double seconds = now_seconds() - t0;
        fprintf(stderr, "  TIMING %-18s %.2f MB of mixed Chinese/English text -> %zu tokens in %.3f s (%.1f MB/s)\n",
                vocabs[v], (double)len / (1 << 20), n, seconds, (double)len / (1 << 20) / seconds);
        char *out;
        size_t out_len;
        assert_int_equal(r1_detokenize(l.tok, ids + 1, n - 1, &out, &out_len, &err), 0);
        assert_true(out_len == len && memcmp(out, text, len) == 0);
        free(out);

        /* four threads on one tokenizer, each on its own slice, checked
         * against the single-threaded result */
        pthread_t threads[4];
        thread_job jobs[4];
        int32_t *expected[4];
        for (int k = 0; k < 4; k++) {
            size_t slice = 4096 + (size_t)k * 1000;
            const char *start = text + (size_t)k * 50000;
            size_t n_expected;
            assert_int_equal(r1_tokenize(l.tok, start, slice, true, true, &expected[k], &n_expected, &err), 0);
            jobs[k] = (thread_job){l.tok, start, slice, expected[k], n_expected, false};
            assert_int_equal(pthread_create(&threads[k], NULL, tokenize_repeatedly, &jobs[k]), 0);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(threads[k], NULL);
            assert_true(jobs[k].ok);
            free(expected[k]);
        }
        free(ids);
        unload(&l);
    }
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llamacpp_vectors),
        cmocka_unit_test(test_hf_strings_deepseek_r1),
        cmocka_unit_test(test_hf_strings_deepseek_r1_qwen),
        cmocka_unit_test(test_hf_strings_llama_bpe),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_stream_holds_back_partial_characters),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bad_vocabularies),
        cmocka_unit_test(test_one_megabyte_and_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
