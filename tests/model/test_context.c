/*
 * test_context.c - batches, sequences and the paged KV cache, on a small
 * generated model: a batch gives the same logits as feeding tokens one by
 * one; several sequences in one batch give the same logits as each alone;
 * truncating a sequence and feeding it again reproduces its logits; and
 * malformed batches are refused with a message, leaving the context usable.
 * The KV cache's types: what the default resolves to, and an f16 cache
 * keeps those properties and stays close to an f32 one; and the cache
 * alone: every (layer, head, position) row in its place through prefix
 * sharing and truncation, in f32 and f16.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/kv_cache.h"
#include "model/random_model.h"
#include "r1.h"
#include "tensor/fp16.h"
#include "testutil.h"

static char model_path[256];
static r1_model *model;
static int n_vocab;

static int setup(void **state) {
    (void)state;
    snprintf(model_path, sizeof model_path, "/tmp/r1-test-context-%d.gguf", (int)getpid());
    r1_error err;
    if (r1_model_generate(r1_model_shape_find("tiny-llama"), "q4_k_m", 3, model_path, 2, &err) != 0 ||
        r1_model_load(model_path, &model, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    r1_model_info info;
    r1_model_get_info(model, &info);
    n_vocab = info.n_vocab;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    r1_model_free(model);
    unlink(model_path);
    return 0;
}

static r1_context *new_context_with(int n_seq, int n_ctx, int n_batch, bool exact, r1_kv_type kv_type) {
    r1_context_params p = r1_context_default_params();
    p.n_threads = 2;
    p.n_seq_max = n_seq;
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.exact = exact;
    p.kv_type = kv_type;
    r1_context *ctx;
    r1_error err;
    if (r1_context_new(model, &p, &ctx, &err) != 0) fail_msg("%s", err.message);
    return ctx;
}

/* Float activations: batched products (tiled kernels) and single rows (dot
 * products) then round alike, so the comparisons can be tight; the cache
 * is then f32 unless asked otherwise. */
static r1_context *new_context(int n_seq, int n_ctx, int n_batch) {
    return new_context_with(n_seq, n_ctx, n_batch, true, R1_KV_DEFAULT);
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float worst = 0;
    for (int i = 0; i < n; i++) worst = fmaxf(worst, fabsf(a[i] - b[i]));
    return worst;
}

static const int32_t prompt[] = {5, 77, 300, 12, 9, 401, 250, 33, 7, 8, 99, 100, 101, 4, 18, 260, 261, 3, 2};
#define N_PROMPT ((int)(sizeof prompt / sizeof prompt[0]))

/* Feeds tokens[start .. start + n) to seq as one batch, at those
 * positions; copies every row's logits. */
static void feed_tokens(r1_context *ctx, int seq, const int32_t *tokens, int start, int n, float *logits_out) {
    int32_t pos[64], seqs[64];
    int8_t want[64];
    for (int i = 0; i < n; i++) pos[i] = start + i, seqs[i] = seq, want[i] = 1;
    r1_batch b = {n, tokens + start, pos, seqs, want};
    r1_error err;
    if (r1_decode(ctx, &b, &err) != 0) fail_msg("%s", err.message);
    for (int i = 0; i < n; i++) memcpy(logits_out + (long)i * n_vocab, r1_get_logits(ctx, i), n_vocab * sizeof(float));
}

static void feed(r1_context *ctx, int seq, int start, int n, float *logits_out) {
    feed_tokens(ctx, seq, prompt, start, n, logits_out);
}

static void test_batch_equals_one_by_one(void **state) {
    (void)state;
    float *batched = malloc(sizeof(float) * N_PROMPT * n_vocab), *single = malloc(sizeof(float) * N_PROMPT * n_vocab);
    r1_context *a = new_context(1, 64, 512), *b = new_context(1, 64, 512), *c = new_context(1, 64, 4);
    feed(a, 0, 0, N_PROMPT, batched);
    for (int i = 0; i < N_PROMPT; i++) feed(b, 0, i, 1, single + (long)i * n_vocab);
    assert_true(max_abs_diff(batched, single, N_PROMPT * n_vocab) < 1e-4f);
    feed(c, 0, 0, N_PROMPT, single); /* split into chunks of 4 rows */
    assert_true(max_abs_diff(batched, single, N_PROMPT * n_vocab) < 1e-4f);
    assert_int_equal(r1_seq_length(a, 0), N_PROMPT);
    r1_context_free(a);
    r1_context_free(b);
    r1_context_free(c);
    free(batched);
    free(single);
}

/* Three sequences of different lengths decoded together, interleaved. */
static void test_sequences_are_independent(void **state) {
    (void)state;
    int lengths[3] = {N_PROMPT, 7, 12};
    float *alone[3];
    for (int s = 0; s < 3; s++) {
        alone[s] = malloc(sizeof(float) * N_PROMPT * n_vocab);
        r1_context *ctx = new_context(1, 64, 512);
        feed(ctx, 0, 0, lengths[s], alone[s]);
        r1_context_free(ctx);
    }
    r1_context *ctx = new_context(3, 3 * 64, 512);
    int32_t tokens[64], pos[64], seqs[64];
    int n = 0;
    for (int i = 0; i < N_PROMPT; i++)
        for (int s = 0; s < 3; s++)
            if (i < lengths[s]) tokens[n] = prompt[i], pos[n] = i, seqs[n] = s, n++;
    int8_t want[64];
    memset(want, 1, sizeof want);
    r1_batch b = {n, tokens, pos, seqs, want};
    r1_error err;
    if (r1_decode(ctx, &b, &err) != 0) fail_msg("%s", err.message);
    for (int row = 0; row < n; row++)
        assert_true(max_abs_diff(r1_get_logits(ctx, row), alone[seqs[row]] + (long)pos[row] * n_vocab, n_vocab) < 1e-4f);
    r1_context_free(ctx);
    for (int s = 0; s < 3; s++) free(alone[s]);
}

/* Another prompt, of other tokens, long enough to continue past N_PROMPT. */
static const int32_t other[] = {40, 41, 300, 7, 7, 480, 3, 19, 222, 64, 65, 66, 500, 1, 2, 3, 150, 151, 152, 153,
                                90, 91, 92, 93, 94, 95, 96, 97};
#define N_OTHER ((int)(sizeof other / sizeof other[0]))

/* Checks row `row` of ctx's last batch against row `pos` of a prompt's
 * logits computed alone. */
static void expect_row(r1_context *ctx, int row, const float *alone, int pos, const char *what) {
    if (max_abs_diff(r1_get_logits(ctx, row), alone + (long)pos * n_vocab, n_vocab) >= 1e-4f)
        fail_msg("row %d (%s, position %d) differs from the prompt fed alone", row, what, pos);
}

/* Two prompts back to back in one batch, as a server's chunk may hold.
 * Attention takes rows in tiles of one sequence's consecutive positions;
 * here tiles straddle the boundary, once where the positions restart (18,
 * then 0) and once where they run on (18, then 19 of a sequence that had 19
 * positions cached), so that only the sequence tells the rows apart. */
static void test_prompts_back_to_back(void **state) {
    (void)state;
    float *prompt_alone = malloc(sizeof(float) * N_PROMPT * n_vocab);
    float *other_alone = malloc(sizeof(float) * N_OTHER * n_vocab);
    r1_context *ref = new_context(1, 64, 512);
    feed_tokens(ref, 0, prompt, 0, N_PROMPT, prompt_alone);
    r1_context_free(ref);
    ref = new_context(1, 64, 512);
    feed_tokens(ref, 0, other, 0, N_OTHER, other_alone);
    r1_context_free(ref);

    for (int continued = 0; continued < 2; continued++) {
        r1_context *ctx = new_context(2, 2 * 64, 512);
        int other_start = 0, other_n = 9;
        if (continued) {
            float *scratch = malloc(sizeof(float) * N_PROMPT * n_vocab);
            feed_tokens(ctx, 1, other, 0, N_PROMPT, scratch); /* positions 0 .. 18 cached */
            free(scratch);
            other_start = N_PROMPT, other_n = N_OTHER - N_PROMPT;
        }
        int32_t tokens[64], pos[64], seqs[64];
        int8_t want[64];
        int n = 0;
        for (int i = 0; i < N_PROMPT; i++) tokens[n] = prompt[i], pos[n] = i, seqs[n] = 0, n++;
        for (int i = other_start; i < other_start + other_n; i++) tokens[n] = other[i], pos[n] = i, seqs[n] = 1, n++;
        memset(want, 1, sizeof want);
        r1_batch b = {n, tokens, pos, seqs, want};
        r1_error err;
        if (r1_decode(ctx, &b, &err) != 0) fail_msg("%s", err.message);
        for (int row = 0; row < n; row++)
            expect_row(ctx, row, seqs[row] == 0 ? prompt_alone : other_alone, pos[row],
                       seqs[row] == 0 ? "the first prompt" : "the second prompt");
        r1_context_free(ctx);
    }
    free(prompt_alone);
    free(other_alone);
}

static void test_truncate_and_refeed(void **state) {
    (void)state;
    float *first = malloc(sizeof(float) * N_PROMPT * n_vocab), *again = malloc(sizeof(float) * N_PROMPT * n_vocab);
    r1_context *ctx = new_context(1, 32, 512); /* 2 blocks of 16 */
    feed(ctx, 0, 0, N_PROMPT, first);
    r1_seq_truncate(ctx, 0, 5);
    assert_int_equal(r1_seq_length(ctx, 0), 5);
    feed(ctx, 0, 5, N_PROMPT - 5, again);
    assert_true(max_abs_diff(first + 5L * n_vocab, again, (N_PROMPT - 5) * n_vocab) < 1e-4f);
    r1_seq_truncate(ctx, 0, 0);
    feed(ctx, 0, 0, N_PROMPT, again);
    assert_true(max_abs_diff(first, again, N_PROMPT * n_vocab) < 1e-4f);
    r1_context_free(ctx);
    free(first);
    free(again);
}

static void expect_refused(r1_context *ctx, r1_batch *b, const char *needle) {
    r1_error err;
    assert_int_equal(r1_decode(ctx, b, &err), -1);
    if (!strstr(err.message, needle)) fail_msg("message '%s' lacks '%s'", err.message, needle);
}

static void test_bad_batches_are_refused(void **state) {
    (void)state;
    r1_context *ctx = new_context(2, 32, 512);
    int32_t token = 1, pos = 0, seq = 0;
    r1_batch b = {1, &token, &pos, &seq, NULL};
    token = n_vocab;
    expect_refused(ctx, &b, "outside the vocabulary");
    token = -1;
    expect_refused(ctx, &b, "outside the vocabulary");
    token = 1, seq = 2;
    expect_refused(ctx, &b, "sequence 2 is outside");
    seq = 0, pos = 3;
    expect_refused(ctx, &b, "does not continue its cache");
    r1_batch empty = {0, &token, &pos, &seq, NULL};
    expect_refused(ctx, &empty, "empty batch");
    /* the cache holds 32 positions: 40 do not fit */
    int32_t tokens[40], poss[40], seqs[40] = {0};
    for (int i = 0; i < 40; i++) tokens[i] = 1, poss[i] = i;
    r1_batch big = {40, tokens, poss, seqs, NULL};
    expect_refused(ctx, &big, "beyond the context size");
    /* still usable after all that */
    pos = 0;
    r1_error err;
    assert_int_equal(r1_decode(ctx, &b, &err), 0);
    assert_non_null(r1_get_logits(ctx, 0));
    assert_null(r1_get_logits(ctx, 1));
    r1_context_free(ctx);
}

/* Two sequences share the block pool: filling one leaves no room. */
static void test_cache_full(void **state) {
    (void)state;
    r1_context *ctx = new_context(2, 32, 512);
    int32_t tokens[32], pos[32], seqs[32] = {0};
    for (int i = 0; i < 32; i++) tokens[i] = 1, pos[i] = i;
    r1_batch b = {32, tokens, pos, seqs, NULL};
    r1_error err;
    assert_int_equal(r1_decode(ctx, &b, &err), 0);
    int32_t t = 1, p = 0, s = 1;
    r1_batch other = {1, &t, &p, &s, NULL};
    expect_refused(ctx, &other, "KV cache full");
    r1_seq_truncate(ctx, 0, 0);
    assert_int_equal(r1_decode(ctx, &other, &err), 0);
    r1_context_free(ctx);
}

/* The default cache is f16, half the bytes of f32, except in exact mode;
 * either type can be asked for in either mode. */
static void test_kv_types(void **state) {
    (void)state;
    r1_context *fast = new_context_with(1, 32, 512, false, R1_KV_DEFAULT);
    r1_context *exact = new_context_with(1, 32, 512, true, R1_KV_DEFAULT);
    r1_context *exact_f16 = new_context_with(1, 32, 512, true, R1_KV_F16);
    r1_context *fast_f32 = new_context_with(1, 32, 512, false, R1_KV_F32);
    assert_int_equal(r1_context_kv_type(fast), R1_KV_F16);
    assert_int_equal(r1_context_kv_type(exact), R1_KV_F32);
    assert_int_equal(r1_context_kv_type(exact_f16), R1_KV_F16);
    assert_int_equal(r1_context_kv_type(fast_f32), R1_KV_F32);
    /* tiny-llama: 2 layers x 2 KV heads x 32 values, keys and values */
    assert_int_equal(r1_kv_bytes_per_token(exact), 2 * 2 * 64 * sizeof(float));
    assert_int_equal(2 * r1_kv_bytes_per_token(fast), r1_kv_bytes_per_token(exact));
    r1_context_free(fast);
    r1_context_free(exact);
    r1_context_free(exact_f16);
    r1_context_free(fast_f32);
    r1_error err;
    r1_context_params p = r1_context_default_params();
    p.kv_type = (r1_kv_type)7;
    r1_context *ctx = NULL;
    assert_int_equal(r1_context_new(model, &p, &ctx, &err), -1);
    assert_null(ctx);
    if (!strstr(err.message, "KV cache type")) fail_msg("message '%s' does not name the KV cache type", err.message);
    assert_string_equal(r1_kv_type_name(R1_KV_F16), "f16");
    r1_kv_type parsed;
    assert_int_equal(r1_kv_type_parse("f32", &parsed), 0);
    assert_int_equal(parsed, R1_KV_F32);
    assert_int_equal(r1_kv_type_parse("auto", &parsed), 0);
    assert_int_equal(parsed, R1_KV_DEFAULT);
    assert_int_equal(r1_kv_type_parse("fp16", &parsed), -1);
}

/* With an f16 cache: batches equal tokens one by one, and truncating and
 * feeding again reproduces the logits (every path reads the same halves);
 * and the logits stay within half-precision rounding of an f32 cache's. */
static void test_f16_cache(void **state) {
    (void)state;
    size_t bytes = sizeof(float) * N_PROMPT * n_vocab;
    float *batched = malloc(bytes), *single = malloc(bytes), *with_f32 = malloc(bytes);
    r1_context *a = new_context_with(1, 32, 512, true, R1_KV_F16), *b = new_context_with(1, 32, 512, true, R1_KV_F16);
    feed(a, 0, 0, N_PROMPT, batched);
    for (int i = 0; i < N_PROMPT; i++) feed(b, 0, i, 1, single + (long)i * n_vocab);
    assert_true(max_abs_diff(batched, single, N_PROMPT * n_vocab) < 1e-4f);
    r1_seq_truncate(a, 0, 5);
    feed(a, 0, 5, N_PROMPT - 5, single);
    assert_true(max_abs_diff(batched + 5L * n_vocab, single, (N_PROMPT - 5) * n_vocab) < 1e-4f);
    r1_context *f32 = new_context_with(1, 32, 512, true, R1_KV_F32);
    feed(f32, 0, 0, N_PROMPT, with_f32);
    float largest = 0.0f, diff = max_abs_diff(batched, with_f32, N_PROMPT * n_vocab);
    for (int i = 0; i < N_PROMPT * n_vocab; i++) largest = fmaxf(largest, fabsf(with_f32[i]));
    printf("  f16 cache against f32: logits differ by at most %.3g (largest |logit| %.3g)\n", diff, largest);
    /* halves carry 11 significant bits (relative rounding <= 2^-11); a
     * cache read back in the wrong place or order would differ by O(1) */
    assert_true(diff > 0.0f);
    assert_true(diff < 1e-2f * largest);
    r1_context_free(a);
    r1_context_free(b);
    r1_context_free(f32);
    free(batched);
    free(single);
    free(with_f32);
}

/* What row (layer, head, position) of a test cache holds: distinct values,
 * exact in half. */
static float cache_pattern(int layer, int head, int pos, int i) {
    return (float)(layer * 512 + head * 128 + pos * 4 + i % 4);
}

static void fill_row(r1_kv_cache *c, int layer, int head, int seq, int pos) {
    for (int i = 0; i < c->head_dim; i++) {
        float v = cache_pattern(layer, head, pos, i);
        uint16_t *kh = r1_kv_cache_key(c, layer, head, seq, pos), *vh = r1_kv_cache_value(c, layer, head, seq, pos);
        float *kf = r1_kv_cache_key(c, layer, head, seq, pos), *vf = r1_kv_cache_value(c, layer, head, seq, pos);
        if (c->type == R1_KV_F16) kh[i] = r1_f32_to_half(v), vh[i] = r1_f32_to_half(-v);
        else kf[i] = v, vf[i] = -v;
    }
}

/* Every row of seq's first n positions holds its pattern, keys and values. */
static void expect_rows(const r1_kv_cache *c, int seq, int n) {
    for (int layer = 0; layer < c->n_layer; layer++)
        for (int head = 0; head < c->n_heads; head++)
            for (int pos = 0; pos < n; pos++)
                for (int i = 0; i < c->head_dim; i++) {
                    const void *k = r1_kv_cache_key(c, layer, head, seq, pos);
                    const void *v = r1_kv_cache_value(c, layer, head, seq, pos);
                    float key = c->type == R1_KV_F16 ? r1_half_to_f32(((const uint16_t *)k)[i]) : ((const float *)k)[i];
                    float value = c->type == R1_KV_F16 ? r1_half_to_f32(((const uint16_t *)v)[i]) : ((const float *)v)[i];
                    float want = cache_pattern(layer, head, pos, i);
                    if (key != want || value != -want)
                        fail_msg("%s cache, seq %d layer %d head %d pos %d [%d]: key %g value %g, want %g",
                                 r1_kv_type_name(c->type), seq, layer, head, pos, i, key, value, want);
                }
}

/* The cache alone, both types, 3 layers x 2 heads: every (layer, head,
 * position) row lies apart from every other; sharing 17 positions shares a
 * block and copies a partial one, truncating into the shared block copies
 * it; the rows each sequence should keep are all there afterwards. */
static void test_cache_rows_share_and_truncate(void **state) {
    (void)state;
    const r1_kv_type types[] = {R1_KV_F32, R1_KV_F16};
    for (int k = 0; k < 2; k++) {
        r1_kv_cache c;
        r1_error err;
        if (r1_kv_cache_init(&c, 3, 2, 8, types[k], true, 64, 2, &err) != 0) fail_msg("%s", err.message);
        assert_int_equal(r1_kv_cache_reserve(&c, 0, 19, &err), 0);
        for (int layer = 0; layer < 3; layer++)
            for (int head = 0; head < 2; head++)
                for (int pos = 0; pos < 19; pos++) fill_row(&c, layer, head, 0, pos);
        c.seqs[0].length = 19;
        expect_rows(&c, 0, 19);
        assert_int_equal(r1_kv_cache_share(&c, 1, 0, 17, &err), 0);
        assert_int_equal(r1_kv_cache_truncate(&c, 0, 5), 5);
        expect_rows(&c, 0, 5);
        expect_rows(&c, 1, 17);
        r1_kv_cache_free(&c);
    }
}

/* Prefix sharing over an f16 cache with two KV heads: a shared whole block
 * plus a copied partial one, then truncating into the shared block (which
 * copies it first): every continuation reproduces the logits of the
 * sequence fed alone, and the other sequence's shared block is intact. */
static void test_f16_shared_prefix(void **state) {
    (void)state;
    size_t bytes = sizeof(float) * N_PROMPT * n_vocab;
    float *alone = malloc(bytes), *got = malloc(bytes);
    r1_context *ctx = new_context_with(2, 64, 512, true, R1_KV_F16);
    feed(ctx, 0, 0, N_PROMPT, alone);
    r1_error err;
    if (r1_seq_share_prefix(ctx, 1, 0, 17, &err) != 0) fail_msg("%s", err.message); /* block 0 shared, 1 copied */
    r1_seq_truncate(ctx, 0, 5); /* into the shared block 0: seq 0 gets a copy */
    assert_int_equal(r1_seq_length(ctx, 0), 5);
    feed(ctx, 0, 5, N_PROMPT - 5, got);
    assert_true(max_abs_diff(alone + 5L * n_vocab, got, (N_PROMPT - 5) * n_vocab) < 1e-4f);
    feed(ctx, 1, 17, N_PROMPT - 17, got);
    assert_true(max_abs_diff(alone + 17L * n_vocab, got, (N_PROMPT - 17) * n_vocab) < 1e-4f);
    r1_context_free(ctx);
    free(alone);
    free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_one_by_one),
        cmocka_unit_test(test_sequences_are_independent),
        cmocka_unit_test(test_prompts_back_to_back),
        cmocka_unit_test(test_truncate_and_refeed),
        cmocka_unit_test(test_bad_batches_are_refused),
        cmocka_unit_test(test_cache_full),
        cmocka_unit_test(test_kv_types),
        cmocka_unit_test(test_f16_cache),
        cmocka_unit_test(test_f16_shared_prefix),
        cmocka_unit_test(test_cache_rows_share_and_truncate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
