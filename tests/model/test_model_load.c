/*
 * test_model_load.c - the llama/qwen2 loader refuses malformed metadata
 * with a message naming the key (the GGUF layer's own checks are in
 * test_gguf.c): a generated tiny model is rewritten with one bad key.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model/random_model.h"
#include "r1.h"
#include "testutil.h"

static char model_path[64];

static int setup(void **state) {
    (void)state;
    snprintf(model_path, sizeof model_path, "/tmp/r1-test-load-%d.gguf", (int)getpid());
    r1_error err;
    return r1_model_generate(r1_model_shape_find("tiny"), "q8_0", 1, model_path, 1, &err);
}

static int teardown(void **state) {
    (void)state;
    unlink(model_path);
    return 0;
}

static void expect_refused(const char *key, uint32_t value, const char *needle) {
    test_key_override o = {key, value};
    char message[512];
    test_load_with_overrides(model_path, &o, 1, message, sizeof message);
    if (!strstr(message, needle)) fail_msg("%s = %u: expected '%s', got '%s'", key, value, needle, message);
}

static void test_bad_metadata_is_refused(void **state) {
    (void)state;
    char message[512];
    test_load_with_overrides(model_path, NULL, 0, message, sizeof message);
    assert_string_equal(message, ""); /* the unchanged rewrite loads */
    expect_refused("qwen2.attention.head_count", 7, "not a multiple of the head count 7");
    expect_refused("qwen2.attention.head_count_kv", 3, "not a multiple of head_count_kv 3");
    expect_refused("qwen2.embedding_length", 0, "'qwen2.embedding_length' = 0 is out of range");
    expect_refused("qwen2.feed_forward_length", 100, "tensor 'blk.0.ffn_gate.weight' has shape");
    expect_refused("qwen2.rope.dimension_count", 33, "must be even and <= the head size");
    expect_refused("qwen2.block_count", 3, "missing tensor 'blk.2.attn_norm.weight'");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bad_metadata_is_refused)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
