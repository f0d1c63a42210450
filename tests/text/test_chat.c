/*
 * test_chat.c - chat templates against the reference renderings in
 * ../shared/testdata/tokenizer/chat (Python jinja2 with transformers'
 * settings), hand-checked ChatML and Llama-3 renderings, template
 * detection, and the streaming reasoning splitter fed at every possible
 * chunk boundary.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/chat_template.h"
#include "text/reasoning.h"

#define DS_BOS "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static void test_reference_conversations(void **state) {
    (void)state;
    if (!test_require_testdata("tokenizer/chat")) skip();
    json_error_t jerr;
    json_t *all = json_load_file(test_testdata_path("tokenizer/chat/conversations.json"), 0, &jerr);
    if (!all) fail_msg("conversations.json: %s", jerr.text);
    size_t i;
    json_t *conv;
    json_array_foreach(all, i, conv) {
        json_t *msgs = json_object_get(conv, "messages");
        size_t n = json_array_size(msgs);
        r1_chat_message *m = calloc(n, sizeof *m);
        for (size_t k = 0; k < n; k++) {
            m[k].role = json_string_value(json_object_get(json_array_get(msgs, k), "role"));
            m[k].content = json_string_value(json_object_get(json_array_get(msgs, k), "content"));
        }
        r1_error err;
        char *text = r1_chat_render(R1_CHAT_DEEPSEEK_R1, m, n, json_is_true(json_object_get(conv, "add_generation_prompt")),
                                    json_string_value(json_object_get(conv, "bos_token")), &err);
        assert_non_null(text);
        assert_string_equal(text, json_string_value(json_object_get(conv, "rendered")));
        printf("  %s: rendered exactly\n", json_string_value(json_object_get(conv, "name")));
        free(text);
        free(m);
    }
    json_decref(all);
}

static void test_deepseek_tool_outputs_and_system(void **state) {
    (void)state;
    r1_chat_message m[] = {{"system", "A"}, {"user", "q"}, {"tool", "out1"}, {"tool", "out2"}, {"assistant", "ans"},
                           {"system", "B"}};
    r1_error err;
    char *text = r1_chat_render(R1_CHAT_DEEPSEEK_R1, m, 6, true, DS_BOS, &err);
    /* the last system message is the system prompt; tool outputs are
     * grouped, and the assistant turn after them closes the group */
    const char *expect = DS_BOS "B<\xef\xbd\x9cUser\xef\xbd\x9c>q"
                         "<\xef\xbd\x9ctool\xe2\x96\x81outputs\xe2\x96\x81" "begin\xef\xbd\x9c>"
                         "<\xef\xbd\x9ctool\xe2\x96\x81output\xe2\x96\x81" "begin\xef\xbd\x9c>out1"
                         "<\xef\xbd\x9ctool\xe2\x96\x81output\xe2\x96\x81" "end\xef\xbd\x9c>\n"
                         "<\xef\xbd\x9ctool\xe2\x96\x81output\xe2\x96\x81" "begin\xef\xbd\x9c>out2"
                         "<\xef\xbd\x9ctool\xe2\x96\x81output\xe2\x96\x81" "end\xef\xbd\x9c>"
                         "<\xef\xbd\x9ctool\xe2\x96\x81outputs\xe2\x96\x81" "end\xef\xbd\x9c>ans"
                         "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
                         "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\n";
    assert_string_equal(text, expect);
    free(text);
}

static void test_chatml_and_llama3(void **state) {
    (void)state;
    r1_chat_message m[] = {{"system", "Be brief."}, {"user", " Hi \n"}, {"assistant", "Hello."}, {"user", "Bye"}};
    r1_error err;
    char *chatml = r1_chat_render(R1_CHAT_CHATML, m, 4, true, "", &err);
    assert_string_equal(chatml, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi \n<|im_end|>\n"
                                "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                                "<|im_start|>assistant\n");
    char *llama = r1_chat_render(R1_CHAT_LLAMA3, m, 4, true, "<|begin_of_text|>", &err);
    assert_string_equal(llama, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                               "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                               "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
                               "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
                               "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(chatml);
    free(llama);
    r1_chat_message bad[] = {{"wizard", "x"}};
    assert_null(r1_chat_render(R1_CHAT_CHATML, bad, 1, true, "", &err));
    assert_non_null(strstr(err.message, "role 'wizard'"));
}

static void test_detection(void **state) {
    (void)state;
    r1_chat_template t;
    const char *why;
    r1_error err;
    size_t size;
    char *jinja = test_require_testdata("tokenizer/chat")
                      ? test_read_file(test_testdata_path("tokenizer/chat/deepseek-r1.jinja"), &size)
                      : NULL;
    if (jinja) {
        jinja = realloc(jinja, size + 1);
        jinja[size] = 0;
        assert_int_equal(r1_chat_template_detect(jinja, NULL, &t, &why, &err), 0);
        assert_int_equal(t, R1_CHAT_DEEPSEEK_R1);
        free(jinja);
    }
    assert_int_equal(r1_chat_template_detect("{% for m in messages %}<|im_start|>", NULL, &t, &why, &err), 0);
    assert_int_equal(t, R1_CHAT_CHATML);
    assert_int_equal(r1_chat_template_detect(NULL, "deepseek-r1-qwen", &t, &why, &err), 0);
    assert_int_equal(t, R1_CHAT_DEEPSEEK_R1);
    assert_int_equal(r1_chat_template_detect(NULL, "llama-bpe", &t, &why, &err), 0);
    assert_int_equal(t, R1_CHAT_LLAMA3);
    assert_int_equal(r1_chat_template_detect(NULL, "gpt-2", &t, &why, &err), 0);
    assert_int_equal(t, R1_CHAT_CHATML);
    assert_int_equal(r1_chat_template_detect("{{ something else }}", NULL, &t, &why, &err), -1);
    assert_non_null(strstr(err.message, "--chat-template"));
    assert_int_equal(r1_chat_template_by_name("llama3", &t, &err), 0);
    assert_int_equal(r1_chat_template_by_name("vicuna", &t, &err), -1);
}

/* ---- reasoning ---- */

typedef struct collected {
    char reasoning[512], content[512];
    size_t n_reasoning, n_content;
} collected;

static void to_reasoning(void *user, const char *text, size_t len) {
    collected *c = user;
    memcpy(c->reasoning + c->n_reasoning, text, len);
    c->n_reasoning += len;
}

static void to_content(void *user, const char *text, size_t len) {
    collected *c = user;
    memcpy(c->content + c->n_content, text, len);
    c->n_content += len;
}

/* Feeds text split at every pair of cut points; each split must give the
 * same reasoning and content. */
static void check_split(const char *text, bool starts_in_reasoning, const char *reasoning, const char *content) {
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++)
        for (size_t b = a; b <= len; b++) {
            collected c = {0};
            r1_reasoning_parser p;
            r1_reasoning_init(&p, starts_in_reasoning, to_reasoning, to_content, &c);
            r1_reasoning_feed(&p, text, a);
            r1_reasoning_feed(&p, text + a, b - a);
            r1_reasoning_feed(&p, text + b, len - b);
            r1_reasoning_finish(&p);
            if (c.n_reasoning != strlen(reasoning) || memcmp(c.reasoning, reasoning, c.n_reasoning) ||
                c.n_content != strlen(content) || memcmp(c.content, content, c.n_content))
                fail_msg("split %zu/%zu of '%s': reasoning '%.*s', content '%.*s'", a, b, text, (int)c.n_reasoning,
                         c.reasoning, (int)c.n_content, c.content);
        }
}

static void test_reasoning_split(void **state) {
    (void)state;
    /* the template opened <think>: output starts inside the reasoning */
    check_split("Let me add: 2+2=4.\n</think>\n\nThe answer is 4.", true, "Let me add: 2+2=4.\n", "The answer is 4.");
    /* the model opens the tag itself */
    check_split("<think>hmm</think>\n\nok", false, "hmm", "ok");
    /* no reasoning at all */
    check_split("plain answer <b>bold</b>", false, "", "plain answer <b>bold</b>");
    /* a lone '<' and a partial tag that never completes stay in the text */
    check_split("a < b and </thin", true, "a < b and </thin", "");
    /* unfinished reasoning (stopped by length) */
    check_split("still thinking", true, "still thinking", "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_conversations),
        cmocka_unit_test(test_deepseek_tool_outputs_and_system),
        cmocka_unit_test(test_chatml_and_llama3),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_reasoning_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
