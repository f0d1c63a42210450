/*
 * test_reference.c - the engine against llama.cpp's outputs on the tiny
 * reference models in ../shared/testdata/llm (see its README).
 *
 * For every llama/qwen2 file, in both precision modes:
 *   - the prompt is fed as one batch and every row's logits are compared
 *     with the reference (fast mode: llama.cpp's own logits, since both
 *     quantize activations to 8 bits; exact mode on quantized files: the
 *     logits of the dequantized F32 model, `deq_logits`);
 *   - the reference's greedy tokens are fed back one per decode (teacher
 *     forcing, so every row stays comparable even after a near-tie) and each
 *     row is compared with `gen_logits`;
 *   - our argmax must equal the reference's greedy token at every step whose
 *     top-1 margin is larger than twice the tolerance (a smaller margin is a
 *     near-tie that a valid implementation may break either way).
 * The worst difference per file and mode is printed as a table.
 * Tolerances come from the spreads the README measured; see TOLERANCES in
 * docs/TESTING.md.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "r1.h"
#include "testutil.h"

typedef struct reference {
    char name[128];
    char type[16];          /* F32, F16, Q8_0, Q4_K_M, ... */
    int n_vocab;
    int n_prompt;
    int32_t prompt[256];
    int n_greedy;
    int32_t greedy[128];
    float margins[128];
    int32_t deq_greedy[128];
    bool has_deq;
    float *logits;          /* [n_prompt][n_vocab] */
    float *gen_logits;      /* [n_greedy-1][n_vocab] */
    float *deq_logits;      /* quantized files only */
    bool moe;               /* deepseek2: expert choice can flip */
    float quant_vs_deq;     /* llama.cpp's own quantized-vs-dequantized spread */
    float kv_f16_vs_f32;    /* llama.cpp's own f16-vs-f32 KV cache spread (0: not measured) */
} reference;

static float *read_floats(const char *file, size_t expected) {
    size_t size = 0;
    char relative[256];
    snprintf(relative, sizeof relative, "llm/%s", file);
    float *data = test_read_file(test_testdata_path(relative), &size);
    if (!data || size != expected * sizeof(float)) {
        free(data);
        fail_msg("reference file %s missing or of the wrong size", file);
    }
    return data;
}

static int json_int_array(json_t *root, const char *key, int32_t *out, int cap) {
    json_t *a = json_object_get(root, key);
    if (!json_is_array(a)) return 0;
    int n = (int)json_array_size(a);
    assert_true(n <= cap);
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

static void load_reference(const char *json_name, reference *r) {
    memset(r, 0, sizeof *r);
    json_error_t jerr;
    json_t *root = json_load_file(test_testdata_path(json_name), 0, &jerr);
    if (!root) fail_msg("%s: %s", json_name, jerr.text);
    snprintf(r->name, sizeof r->name, "%s", json_string_value(json_object_get(root, "model")));
    const char *type = json_string_value(json_object_get(root, "type"));
    snprintf(r->type, sizeof r->type, "%s", type ? type : "F32");
    r->n_vocab = (int)json_integer_value(json_object_get(root, "n_vocab"));
    r->n_prompt = json_int_array(root, "prompt_tokens", r->prompt, 256);
    r->n_greedy = json_int_array(root, "greedy_tokens", r->greedy, 128);
    json_t *margins = json_object_get(root, "greedy_top1_margins");
    for (int i = 0; i < r->n_greedy; i++)
        r->margins[i] = margins ? (float)json_number_value(json_array_get(margins, (size_t)i)) : INFINITY;
    r->has_deq = json_int_array(root, "deq_greedy_tokens", r->deq_greedy, 128) > 0;
    const char *arch = json_string_value(json_object_get(root, "arch"));
    r->moe = arch && strcmp(arch, "deepseek2") == 0;
    r->quant_vs_deq = (float)json_number_value(json_object_get(root, "quant_vs_deq_prompt_max_abs"));
    r->kv_f16_vs_f32 = (float)json_number_value(json_object_get(root, "kv_f16_vs_f32_prompt_max_abs"));
    r->logits = read_floats(json_string_value(json_object_get(root, "logits_file")),
                            (size_t)r->n_prompt * r->n_vocab);
    r->gen_logits = read_floats(json_string_value(json_object_get(root, "gen_logits_file")),
                                (size_t)(r->n_greedy - 1) * r->n_vocab);
    if (r->has_deq)
        r->deq_logits = read_floats(json_string_value(json_object_get(root, "deq_logits_file")),
                                    (size_t)r->n_prompt * r->n_vocab);
    json_decref(root);
}

static void free_reference(reference *r) {
    free(r->logits);
    free(r->gen_logits);
    free(r->deq_logits);
}

static float max_abs_diff(const float *a, const float *b, int n) {
    float worst = 0.0f;
    for (int i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    return worst;
}

/* Tolerance on logits (std ~2) for a file type and mode, from the README:
 * F32 ~1e-4; F16 ~1e-2 (llama.cpp rounds activations to F16 for F16
 * weights); quantized fast mode: activation-quantization amplification,
 * up to a few tenths; exact mode against deq_logits: tight. */
static float tolerance_for(const reference *r, bool exact) {
    if (strcmp(r->type, "F32") == 0) return 2e-4f;
    if (strcmp(r->type, "F16") == 0) return 2e-2f;
    if (exact) return 1e-3f;
    /* MoE: a rounding difference can flip one expert of the top-k, which
     * moves logits by as much as llama.cpp's own quantized-vs-dequantized
     * spread (README: up to ~2.7); allow that spread plus a quarter. */
    if (r->moe) return fmaxf(0.35f, 1.25f * r->quant_vs_deq);
    return 0.35f;
}

typedef struct check_result {
    float prompt_diff, gen_diff;
    int greedy_checked, greedy_skipped;
} check_result;

/* The model file a reference was made from. */
static r1_model *load_model_of(const reference *r) {
    char path[512];
    snprintf(path, sizeof path, "llm/%s", r->name);
    r1_error err;
    r1_model *model;
    if (r1_model_load(test_testdata_path(path), &model, &err) != 0) fail_msg("%s", err.message);
    return model;
}

/* Runs one file in one mode and with one KV cache type, and checks it;
 * fills res for the summary. The golden logits come from an f32 cache: an
 * f16 cache moves them by about the file's kv_f16_vs_f32 (llama.cpp's own
 * spread, README), so that much twice over is added to the tolerance. */
static void check_model(const reference *r, bool exact, int n_threads, r1_kv_type kv_type, check_result *res) {
    r1_error err;
    r1_model *model = load_model_of(r);
    r1_context_params cp = r1_context_default_params();
    cp.n_threads = n_threads;
    cp.exact = exact;
    cp.n_ctx = 256;
    cp.kv_type = kv_type;
    r1_context *ctx;
    if (r1_context_new(model, &cp, &ctx, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(r1_context_kv_type(ctx), kv_type);
    const char *mode = kv_type == R1_KV_F16 ? (exact ? "exact, f16 KV" : "fast, f16 KV") : exact ? "exact" : "fast";

    float tol = tolerance_for(r, exact) + (kv_type == R1_KV_F16 ? 2 * r->kv_f16_vs_f32 : 0.0f);
    bool against_deq = exact && r->has_deq;
    const float *prompt_ref = against_deq ? r->deq_logits : r->logits;
    int32_t pos[256], seq[256] = {0};
    int8_t want[256];
    for (int i = 0; i < r->n_prompt; i++) pos[i] = i, want[i] = 1;
    r1_batch b = {r->n_prompt, r->prompt, pos, seq, want};
    if (r1_decode(ctx, &b, &err) != 0) fail_msg("%s", err.message);
    memset(res, 0, sizeof *res);
    for (int i = 0; i < r->n_prompt; i++) {
        float d = max_abs_diff(r1_get_logits(ctx, i), prompt_ref + (long)i * r->n_vocab, r->n_vocab);
        if (d > res->prompt_diff) res->prompt_diff = d;
    }
    const int32_t *greedy = against_deq ? r->deq_greedy : r->greedy;
    const float *row = r1_get_logits(ctx, r->n_prompt - 1);
    float row_diff = max_abs_diff(row, prompt_ref + (long)(r->n_prompt - 1) * r->n_vocab, r->n_vocab);
    for (int k = 0; k < r->n_greedy; k++) {
        /* If our row is within row_diff of the reference's, the argmax can
         * only differ when the reference's top-1 margin is <= 2 * row_diff:
         * a near-tie that a valid implementation may break either way. The
         * dequantized references come without margins: every step counts. */
        bool near_tie = !against_deq && r->margins[k] <= 2 * row_diff;
        int32_t predicted = r1_argmax(row, r->n_vocab);
        if (near_tie) res->greedy_skipped++;
        else {
            res->greedy_checked++;
            if (predicted != greedy[k])
                fail_msg("%s (%s mode): greedy step %d predicts %d, reference %d (margin %.4f)", r->name, mode, k,
                         predicted, greedy[k], r->margins[k]);
        }
        if (k + 1 == r->n_greedy) break;
        int32_t p = r->n_prompt + k, s = 0, token = greedy[k];
        r1_batch one = {1, &token, &p, &s, NULL};
        if (r1_decode(ctx, &one, &err) != 0) fail_msg("%s", err.message);
        row = r1_get_logits(ctx, 0);
        row_diff = against_deq ? 0.0f : max_abs_diff(row, r->gen_logits + (long)k * r->n_vocab, r->n_vocab);
        if (row_diff > res->gen_diff) res->gen_diff = row_diff;
    }
    r1_context_free(ctx);
    r1_model_free(model);
    fflush(stdout);
    printf("  %-28s %-6s %-12s vs %-10s prompt max|d| %.3g  gen max|d| %s%.3g  tol %.3g  greedy %d/%d checked%s\n",
           r->name, r->type, mode, against_deq ? "deq_logits" : "logits", res->prompt_diff,
           against_deq ? "(n/a) " : "", res->gen_diff, tol, res->greedy_checked, r->n_greedy,
           res->greedy_skipped ? " (others near-ties)" : "");
    fflush(stdout);
    if (res->prompt_diff > tol || res->gen_diff > tol)
        fail_msg("%s (%s mode): logits differ by %.4g (prompt) / %.4g (generation), tolerance %.4g", r->name, mode,
                 res->prompt_diff, res->gen_diff, tol);
}

static const char *reference_files[] = {
    "shared-llama-f32.json",  "shared-llama-f16.json",   "shared-llama-q8_0.json",
    "shared-llama-q4_0.json", "shared-llama-q4_k_m.json", "shared-llama-q6_k.json",
    "shared-qwen2-f32.json",  "shared-qwen2-f16.json",   "shared-qwen2-q8_0.json",
    "shared-qwen2-q4_0.json", "shared-qwen2-q4_k_m.json", "shared-qwen2-q6_k.json",
    "stories260K-f32.json",
    "shared-deepseek2-f32.json", "shared-deepseek2-q8_0.json", "shared-deepseek2-q4_0.json",
    "shared-deepseek2-q4_k_m.json",
};

static void test_reference_files(void **state) {
    (void)state;
    if (!test_require_testdata("llm")) skip();
    printf("reference logits (llama.cpp c392e50), worst |difference| per file:\n");
    for (size_t i = 0; i < sizeof reference_files / sizeof reference_files[0]; i++) {
        char json[160];
        snprintf(json, sizeof json, "llm/%s", reference_files[i]);
        reference r;
        load_reference(json, &r);
        check_result fast, exact, half_cache;
        check_model(&r, false, 2, R1_KV_F32, &fast);
        check_model(&r, true, 1, R1_KV_F32, &exact);
        /* The default cache, where the file says how far llama.cpp's f16
         * cache moved its logits (not stories260K). For deepseek2 r1
         * caches the latents in f16, llama.cpp (this snapshot) the
         * expanded keys and values: the same rounding, other places. Not
         * on quantized deepseek2 files: there any rounding difference may
         * flip one of the top-k experts (up to ~2.7 on the logits, README),
         * and the f16 rounding does (2.3 on the q8_0 file's generation) */
        bool flips_experts = r.moe && strcmp(r.type, "F32") != 0;
        if (r.kv_f16_vs_f32 > 0 && !flips_experts) check_model(&r, false, 2, R1_KV_F16, &half_cache);
        free_reference(&r);
    }
}

/* Prompt logits of a file, computed with n_threads threads. */
static float *prompt_logits(const reference *r, int n_threads) {
    r1_error err;
    r1_model *model = load_model_of(r);
    r1_context_params cp = r1_context_default_params();
    cp.n_threads = n_threads;
    r1_context *ctx;
    if (r1_context_new(model, &cp, &ctx, &err) != 0) fail_msg("%s", err.message);
    int32_t pos[256], seq[256] = {0};
    int8_t want[256];
    for (int i = 0; i < r->n_prompt; i++) pos[i] = i, want[i] = 1;
    r1_batch b = {r->n_prompt, r->prompt, pos, seq, want};
    if (r1_decode(ctx, &b, &err) != 0) fail_msg("%s", err.message);
    size_t n = (size_t)r->n_prompt * r->n_vocab;
    float *out = malloc(n * sizeof(float));
    assert_non_null(out);
    for (int i = 0; i < r->n_prompt; i++)
        memcpy(out + (size_t)i * r->n_vocab, r1_get_logits(ctx, i), (size_t)r->n_vocab * sizeof(float));
    r1_context_free(ctx);
    r1_model_free(model);
    return out;
}

/* Each dot product is computed whole by one thread, so the thread count
 * must not change a single bit (as in the reference). */
static void test_threads_agree(void **state) {
    (void)state;
    if (!test_require_testdata("llm")) skip();
    const char *files[] = {"llm/shared-qwen2-q4_k_m.json", "llm/shared-llama-q8_0.json"};
    for (int f = 0; f < 2; f++) {
        reference r;
        load_reference(files[f], &r);
        float *one = prompt_logits(&r, 1), *three = prompt_logits(&r, 3);
        assert_memory_equal(one, three, (size_t)r.n_prompt * r.n_vocab * sizeof(float));
        free(one);
        free(three);
        free_reference(&r);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_files),
        cmocka_unit_test(test_threads_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
