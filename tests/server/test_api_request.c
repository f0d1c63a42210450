/*
 * test_api_request.c - the request body parser: good chat and completion
 * bodies with their defaults, and for every field the error a client gets
 * (status, param, code, message) when its type or range is wrong; JSON
 * syntax, duplicate keys, depth, UTF-8 and the error body's shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "server/api_request.h"
#include "testutil.h"

static const api_limits LIMITS = {
    .max_json_depth = 32, .max_messages = 8, .max_tokens_limit = 4096, .max_prompt_tokens_array = 16, .n_vocab = 1000};

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static int parse(bool chat, const char *body, api_generation_request *r, api_error *err) {
    return chat ? api_parse_chat_request(body, strlen(body), &LIMITS, r, err)
                : api_parse_completion_request(body, strlen(body), &LIMITS, r, err);
}

static void parse_ok(bool chat, const char *body, api_generation_request *r) {
    api_error err = {0};
    if (parse(chat, body, r, &err) != 0) fail_msg("refused %s: [%s] %s", body, err.param, err.message);
    assert_int_equal(r->chat, chat);
}

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

/* The body is refused with a 400 naming `param` (NULL: none), `code`
 * (NULL: any) and a message containing `message`; the request is zeroed. */
static void expect_error(bool chat, const char *body, const char *param, const char *code, const char *message) {
    api_generation_request r;
    memset(&r, 0xAB, sizeof r); /* need not be initialised */
    api_error err;
    memset(&err, 0, sizeof err);
    if (parse(chat, body, &r, &err) == 0) {
        api_generation_request_free(&r);
        fail_msg("accepted %s", body);
    }
    if (!all_zero(&r, sizeof r)) fail_msg("request not zeroed after refusing %s", body);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "invalid_request_error");
    if (strcmp(err.param, param ? param : "") != 0)
        fail_msg("%s: param '%s', expected '%s' (%s)", body, err.param, param ? param : "", err.message);
    if (code && (!err.code || strcmp(err.code, code) != 0))
        fail_msg("%s: code '%s', expected '%s' (%s)", body, err.code ? err.code : "(null)", code, err.message);
    if (!strstr(err.message, message)) fail_msg("%s: message '%s' lacks '%s'", body, err.message, message);
}

/* A chat body: a user message plus the given fields. */
static void expect_chat_field_error(const char *fields, const char *param, const char *code, const char *message) {
    char body[1024];
    snprintf(body, sizeof body, "{" USER_HI ",%s}", fields);
    expect_error(true, body, param, code, message);
}

/* ---- good bodies ---- */

static void test_chat_defaults(void **state) {
    (void)state;
    api_generation_request r;
    parse_ok(true, "{" USER_HI "}", &r);
    assert_int_equal(r.n_messages, 1);
    assert_string_equal(r.messages[0].role, "user");
    assert_string_equal(r.messages[0].content, "hi");
    assert_null(r.model);
    assert_null(r.user);
    assert_false(r.stream);
    assert_false(r.include_usage);
    assert_int_equal(r.max_tokens, -1);
    assert_true(r.sampling.temperature == 1.0f);
    assert_true(r.sampling.top_p == 1.0f);
    assert_int_equal(r.sampling.top_k, 0);
    assert_true(r.sampling.min_p == 0.0f);
    assert_true(r.sampling.repeat_penalty == 1.0f);
    assert_true(r.sampling.presence_penalty == 0.0f);
    assert_true(r.sampling.frequency_penalty == 0.0f);
    assert_false(r.seed_given);
    assert_int_equal(r.n_stops, 0);
    assert_false(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    assert_int_equal(r.n_logit_bias, 0);
    assert_false(r.ignore_eos);
    assert_null(r.prompt);
    api_generation_request_free(&r);
    assert_true(all_zero(&r, sizeof r));
    api_generation_request_free(&r); /* freeing twice is harmless */
}

static void test_chat_roles_and_content(void **state) {
    (void)state;
    api_generation_request r;
    parse_ok(true,
             "{\"model\":\"deepseek-r1\",\"messages\":["
             "{\"role\":\"developer\",\"content\":\"be brief\"},"
             "{\"role\":\"system\",\"content\":"
             "[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
             "{\"role\":\"user\",\"content\":\"caf\\u00e9 \xe2\x82\xac\",\"name\":\"bob\"},"
             "{\"role\":\"assistant\",\"content\":null},"
             "{\"role\":\"assistant\"},"
             "{\"role\":\"assistant\",\"content\":\"ok\",\"tool_calls\":[]},"
             "{\"role\":\"user\",\"content\":\"\"}]}",
             &r);
    assert_string_equal(r.model, "deepseek-r1");
    assert_int_equal(r.n_messages, 7);
    const char *roles[] = {"system", "system", "user", "assistant", "assistant", "assistant", "user"};
    const char *texts[] = {"be brief", "ab", "caf\xc3\xa9 \xe2\x82\xac", "", "", "ok", ""};
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(r.messages[i].role, roles[i]);
        assert_string_equal(r.messages[i].content, texts[i]);
    }
    api_generation_request_free(&r);
}

static void test_chat_every_field(void **state) {
    (void)state;
    api_generation_request r;
    parse_ok(true,
             "{" USER_HI ",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":100,"
             "\"max_completion_tokens\":50,\"temperature\":0.6,\"top_p\":0.95,\"top_k\":40,\"min_p\":0.05,"
             "\"presence_penalty\":-1.5,\"frequency_penalty\":2,\"repetition_penalty\":1.1,\"seed\":-1,"
             "\"stop\":[\"\\n\\n\",\"\",\"END\"],\"n\":1,\"logprobs\":true,\"top_logprobs\":20,"
             "\"logit_bias\":{\"5\":10,\"999\":-100,\"0\":0.5},\"user\":\"u-1\",\"ignore_eos\":true,"
             "\"tools\":[],\"tool_choice\":\"none\",\"function_call\":null,\"response_format\":{\"type\":\"text\"},"
             "\"parallel_tool_calls\":false,\"metadata\":{\"a\":\"b\"},\"store\":false,\"whatever\":[1,{}]}",
             &r);
    assert_true(r.stream);
    assert_true(r.include_usage);
    assert_int_equal(r.max_tokens, 50);
    assert_float_equal(r.sampling.temperature, 0.6, 1e-6);
    assert_float_equal(r.sampling.top_p, 0.95, 1e-6);
    assert_int_equal(r.sampling.top_k, 40);
    assert_float_equal(r.sampling.min_p, 0.05, 1e-6);
    assert_float_equal(r.sampling.presence_penalty, -1.5, 1e-6);
    assert_float_equal(r.sampling.frequency_penalty, 2, 1e-6);
    assert_float_equal(r.sampling.repeat_penalty, 1.1, 1e-6);
    assert_true(r.seed_given);
    assert_true(r.sampling.seed == UINT64_MAX);
    assert_int_equal(r.n_stops, 2);
    assert_string_equal(r.stops[0], "\n\n");
    assert_string_equal(r.stops[1], "END");
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 20);
    assert_int_equal(r.n_logit_bias, 3);
    float bias_of[1000] = {0};
    for (size_t i = 0; i < r.n_logit_bias; i++) bias_of[r.logit_bias[i].token] = r.logit_bias[i].bias;
    assert_float_equal(bias_of[5], 10, 0);
    assert_float_equal(bias_of[999], -100, 0);
    assert_float_equal(bias_of[0], 0.5, 0);
    assert_string_equal(r.user, "u-1");
    assert_true(r.ignore_eos);
    api_generation_request_free(&r);
}

static void test_nulls_mean_not_given(void **state) {
    (void)state;
    api_generation_request r;
    parse_ok(true,
             "{" USER_HI ",\"model\":null,\"stream\":null,\"stream_options\":null,\"max_tokens\":null,"
             "\"max_completion_tokens\":null,\"temperature\":null,\"top_p\":null,\"seed\":null,\"stop\":null,"
             "\"n\":null,\"logprobs\":null,\"top_logprobs\":null,\"logit_bias\":null,\"user\":null,"
             "\"tools\":null,\"tool_choice\":null,\"response_format\":null}",
             &r);
    assert_null(r.model);
    assert_int_equal(r.max_tokens, -1);
    assert_true(r.sampling.temperature == 1.0f);
    assert_false(r.seed_given);
    api_generation_request_free(&r);
}

static void test_integral_numbers(void **state) {
    (void)state;
    api_generation_request r;
    parse_ok(true, "{" USER_HI ",\"max_tokens\":1e2,\"n\":1.0,\"seed\":42,\"temperature\":0,\"top_p\":1}", &r);
    assert_int_equal(r.max_tokens, 100);
    assert_true(r.sampling.seed == 42);
    assert_true(r.sampling.temperature == 0.0f);
    api_generation_request_free(&r);
    parse_ok(true, "{" USER_HI ",\"seed\":9223372036854775807,\"max_tokens\":4096}", &r);
    assert_true(r.sampling.seed == (uint64_t)INT64_MAX);
    assert_int_equal(r.max_tokens, 4096);
    api_generation_request_free(&r);
}

static void test_brackets_in_strings_do_not_nest(void **state) {
    (void)state;
    char body[4096];
    int n = snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < 500; i++) body[n++] = i % 2 ? '{' : '[';
    snprintf(body + n, sizeof body - (size_t)n, "\\\" [\"}]}");
    api_generation_request r;
    parse_ok(true, body, &r);
    assert_int_equal(strlen(r.messages[0].content), 503); /* 500 brackets, a quote, a space, a bracket */
    api_generation_request_free(&r);
}

/* ---- completions ---- */

static void test_completion_prompts(void **state) {
    (void)state;
    api_generation_request r;
    parse_ok(false, "{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"logprobs\":3}", &r);
    assert_string_equal(r.prompt, "Once upon a time");
    assert_null(r.messages);
    assert_int_equal(r.max_tokens, 16);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 3);
    api_generation_request_free(&r);

    parse_ok(false, "{\"prompt\":[1,2,999,0],\"logprobs\":0,\"echo\":false,\"suffix\":null,\"best_of\":1}", &r);
    assert_null(r.prompt);
    assert_int_equal(r.n_prompt_tokens, 4);
    assert_int_equal(r.prompt_tokens[2], 999);
    assert_true(r.logprobs);
    assert_int_equal(r.top_logprobs, 0);
    api_generation_request_free(&r);

    parse_ok(false, "{\"prompt\":[\"only one\"]}", &r);
    assert_string_equal(r.prompt, "only one");
    assert_false(r.logprobs);
    api_generation_request_free(&r);

    parse_ok(false, "{\"prompt\":\"\",\"logprobs\":null}", &r);
    assert_string_equal(r.prompt, "");
    api_generation_request_free(&r);
}

static void test_completion_errors(void **state) {
    (void)state;
    expect_error(false, "{}", "prompt", "missing_required_parameter", "prompt is required");
    expect_error(false, "{\"prompt\":null}", "prompt", NULL, "prompt is required");
    expect_error(false, "{\"prompt\":5}", "prompt", "invalid_type", "got 5");
    expect_error(false, "{\"prompt\":[]}", "prompt", "invalid_value", "non-empty");
    expect_error(false, "{\"prompt\":[\"a\",\"b\"]}", "prompt", "unsupported_value",
                 "batched prompts are not supported");
    expect_error(false, "{\"prompt\":[[1,2],[3]]}", "prompt", NULL, "batched prompts are not supported");
    expect_error(false, "{\"prompt\":[1,2,1000]}", "prompt[2]", "invalid_value",
                 "prompt[2] must be a token id between 0 and 999, got 1000");
    expect_error(false, "{\"prompt\":[-1]}", "prompt[0]", "invalid_value", "got -1");
    expect_error(false, "{\"prompt\":[1,\"x\"]}", "prompt[1]", "invalid_type", "got \"x\"");
    expect_error(false, "{\"prompt\":[1,null]}", "prompt[1]", "invalid_type", "got null");
    expect_error(false, "{\"prompt\":[1,2.5]}", "prompt[1]", NULL, "got 2.5");
    expect_error(false, "{\"prompt\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}", "prompt", NULL, "at most 16");
    expect_error(false, "{\"prompt\":\"x\",\"echo\":true}", "echo", "unsupported_parameter", "echo");
    expect_error(false, "{\"prompt\":\"x\",\"echo\":1}", "echo", "invalid_type", "echo must be a boolean, got 1");
    expect_error(false, "{\"prompt\":\"x\",\"suffix\":\"end\"}", "suffix", "unsupported_parameter", "suffix");
    expect_error(false, "{\"prompt\":\"x\",\"best_of\":2}", "best_of", "unsupported_parameter", "best_of");
    expect_error(false, "{\"prompt\":\"x\",\"best_of\":0}", "best_of", "invalid_value", "got 0");
    expect_error(false, "{\"prompt\":\"x\",\"logprobs\":6}", "logprobs", "invalid_value", "between 0 and 5");
    expect_error(false, "{\"prompt\":\"x\",\"logprobs\":true}", "logprobs", "invalid_type", "got true");
    expect_error(false, "{\"prompt\":\"x\",\"n\":3}", "n", "unsupported_n", "only n=1 is supported");
    expect_error(false, "{\"prompt\":\"x\",\"tools\":[{}]}", "tools", "unsupported_parameter",
                 "tools are not supported");
}

/* ---- chat errors ---- */

static void test_messages_errors(void **state) {
    (void)state;
    expect_error(true, "{}", "messages", "missing_required_parameter", "messages is required");
    expect_error(true, "{\"messages\":\"hi\"}", "messages", "invalid_type", "got \"hi\"");
    expect_error(true, "{\"messages\":[]}", "messages", "invalid_value", "non-empty");
    expect_error(true, "{\"messages\":[1,2,3,4,5,6,7,8,9]}", "messages", NULL, "too many messages: 9, at most 8");
    expect_error(true, "{\"messages\":[\"hi\"]}", "messages[0]", "invalid_type", "got \"hi\"");
    expect_error(true, "{\"messages\":[{\"content\":\"hi\"}]}", "messages[0].role", "missing_required_parameter",
                 "messages[0].role is required");
    expect_error(true, "{" USER_HI ",\"x\":1,\"messages\":0}", NULL, "invalid_json", "duplicate");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"robot\",\"content\":\"b\"}]}",
                 "messages[1].role", "invalid_value", "got \"robot\"");
    expect_error(true, "{\"messages\":[{\"role\":7,\"content\":\"b\"}]}", "messages[0].role", "invalid_type", "got 7");
    expect_error(true, "{\"messages\":[{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c1\"}]}",
                 "messages[0].role", "unsupported_value", "tools are not supported");
    expect_error(true, "{\"messages\":[{\"role\":\"function\",\"content\":\"42\"}]}", "messages[0].role", NULL,
                 "tools are not supported");
    expect_error(true, "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\"}]}]}",
                 "messages[0].tool_calls", "unsupported_parameter", "tools are not supported");
    expect_error(true, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "missing_required_parameter",
                 "is required");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":3}]}", "messages[0].content", "invalid_type",
                 "got 3");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "messages[0].content", "invalid_value",
                 "non-empty");
    expect_error(true,
                 "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"look\"},"
                 "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/a.png\"}}]}]}",
                 "messages[0].content[1].type", "unsupported_value", "\"image_url\" is not supported");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":[\"hi\"]}]}", "messages[0].content[0]",
                 "invalid_type", "got \"hi\"");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]}",
                 "messages[0].content[0].type", "missing_required_parameter", "is required");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
                 "messages[0].content[0].text", "missing_required_parameter", "is required");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":[]}]}]}",
                 "messages[0].content[0].text", "invalid_type", "got an array");
}

typedef struct field_case {
    const char *fields;  /* added to a valid chat body */
    const char *param;
    const char *code;
    const char *message; /* a part of the message */
} field_case;

static void test_field_type_errors(void **state) {
    (void)state;
    static const field_case cases[] = {
        {"\"model\":5", "model", "invalid_type", "model must be a string, got 5"},
        {"\"stream\":\"yes\"", "stream", "invalid_type", "stream must be a boolean, got \"yes\""},
        {"\"stream\":true,\"stream_options\":[]", "stream_options", "invalid_type", "got an array"},
        {"\"stream\":true,\"stream_options\":{\"include_usage\":1}", "stream_options.include_usage", "invalid_type",
         "got 1"},
        {"\"max_tokens\":\"10\"", "max_tokens", "invalid_type",
         "max_tokens must be an integer between 1 and 4096, got \"10\""},
        {"\"max_tokens\":10.5", "max_tokens", NULL, "got 10.5"},
        {"\"max_completion_tokens\":true", "max_completion_tokens", "invalid_type", "got true"},
        {"\"temperature\":\"hot\"", "temperature", "invalid_type",
         "temperature must be a number between 0 and 2, got \"hot\""},
        {"\"top_p\":{}", "top_p", "invalid_type", "top_p must be a number between 0 and 1, got an object"},
        {"\"top_k\":4.5", "top_k", NULL, "top_k must be an integer between 0 and 2147483647, got 4.5"},
        {"\"min_p\":false", "min_p", "invalid_type", "got false"},
        {"\"presence_penalty\":\"1\"", "presence_penalty", "invalid_type", "between -2 and 2"},
        {"\"frequency_penalty\":[1]", "frequency_penalty", "invalid_type", "got an array"},
        {"\"repetition_penalty\":\"1.1\"", "repetition_penalty", "invalid_type", "a number > 0"},
        {"\"seed\":\"42\"", "seed", "invalid_type", "got \"42\""},
        {"\"seed\":1.5", "seed", NULL, "got 1.5"},
        {"\"stop\":5", "stop", "invalid_type", "a string or an array of strings"},
        {"\"stop\":[\"a\",5]", "stop[1]", "invalid_type", "stop[1] must be a string, got 5"},
        {"\"n\":\"1\"", "n", "invalid_type", "got \"1\""},
        {"\"logprobs\":1", "logprobs", "invalid_type", "logprobs must be a boolean, got 1"},
        {"\"logprobs\":true,\"top_logprobs\":\"3\"", "top_logprobs", "invalid_type", "got \"3\""},
        {"\"logit_bias\":[]", "logit_bias", "invalid_type", "got an array"},
        {"\"logit_bias\":{\"5\":\"up\"}", "logit_bias", "invalid_type", "got \"up\""},
        {"\"user\":1", "user", "invalid_type", "user must be a string, got 1"},
        {"\"ignore_eos\":\"true\"", "ignore_eos", "invalid_type", "got \"true\""},
        {"\"response_format\":\"json\"", "response_format", "invalid_type", "got \"json\""},
        {"\"response_format\":{}", "response_format.type", "missing_required_parameter", "is required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_chat_field_error(cases[i].fields, cases[i].param, cases[i].code, cases[i].message);
}

static void test_field_range_errors(void **state) {
    (void)state;
    static const field_case cases[] = {
        {"\"max_tokens\":0", "max_tokens", "invalid_value", "between 1 and 4096, got 0"},
        {"\"max_tokens\":4097", "max_tokens", "invalid_value", "got 4097"},
        {"\"max_completion_tokens\":-5", "max_completion_tokens", "invalid_value", "got -5"},
        {"\"max_tokens\":10,\"max_completion_tokens\":99999", "max_completion_tokens", NULL, "got 99999"},
        {"\"temperature\":2.5", "temperature", "invalid_value", "between 0 and 2, got 2.5"},
        {"\"temperature\":-0.1", "temperature", "invalid_value", "got -0.1"},
        {"\"top_p\":1.01", "top_p", "invalid_value", "got 1.01"},
        {"\"top_k\":-1", "top_k", "invalid_value", "got -1"},
        {"\"top_k\":3000000000", "top_k", "invalid_value", "got 3000000000"},
        {"\"min_p\":2", "min_p", "invalid_value", "got 2"},
        {"\"presence_penalty\":-2.5", "presence_penalty", "invalid_value", "got -2.5"},
        {"\"frequency_penalty\":3", "frequency_penalty", "invalid_value", "got 3"},
        {"\"repetition_penalty\":0", "repetition_penalty", "invalid_value", "got 0"},
        {"\"repetition_penalty\":1e300", "repetition_penalty", "invalid_value", "a number > 0"},
        {"\"seed\":1e30", "seed", "invalid_type", "seed must be a 64-bit integer, got 1e30"},
        {"\"top_logprobs\":21,\"logprobs\":true", "top_logprobs", "invalid_value", "between 0 and 20, got 21"},
        {"\"top_logprobs\":2", "top_logprobs", "invalid_value", "only allowed when logprobs is true"},
        {"\"top_logprobs\":2,\"logprobs\":false", "top_logprobs", NULL, "only allowed when logprobs is true"},
        {"\"stream_options\":{\"include_usage\":true}", "stream_options", "invalid_value",
         "only allowed when stream is true"},
        {"\"stream\":false,\"stream_options\":{}", "stream_options", NULL, "only allowed when stream is true"},
        {"\"stop\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\","
         "\"16\",\"17\"]",
         "stop", "invalid_value", "at most 16"},
        {"\"n\":2", "n", "unsupported_n", "only n=1 is supported"},
        {"\"n\":0", "n", "unsupported_n", "only n=1 is supported"},
        {"\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]", "tools", "unsupported_parameter",
         "tools are not supported by this server"},
        {"\"tool_choice\":\"auto\"", "tool_choice", "unsupported_parameter", "tools are not supported"},
        {"\"tool_choice\":{\"type\":\"function\"}", "tool_choice", "unsupported_parameter", "tools are not supported"},
        {"\"functions\":[{\"name\":\"f\"}]", "functions", "unsupported_parameter", "tools are not supported"},
        {"\"function_call\":\"auto\"", "function_call", "unsupported_parameter", "tools are not supported"},
        {"\"response_format\":{\"type\":\"json_object\"}", "response_format.type", "unsupported_parameter",
         "\"json_object\" is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_chat_field_error(cases[i].fields, cases[i].param, cases[i].code, cases[i].message);
}

static void test_logit_bias(void **state) {
    (void)state;
    expect_chat_field_error("\"logit_bias\":{\"abc\":1}", "logit_bias", "invalid_value", "\"abc\" is not a token id");
    expect_chat_field_error("\"logit_bias\":{\" 5\":1}", "logit_bias", NULL, "is not a token id");
    expect_chat_field_error("\"logit_bias\":{\"5x\":1}", "logit_bias", NULL, "is not a token id");
    expect_chat_field_error("\"logit_bias\":{\"\":1}", "logit_bias", NULL, "is not a token id");
    expect_chat_field_error("\"logit_bias\":{\"1000\":1}", "logit_bias", "invalid_value", "between 0 and 999");
    expect_chat_field_error("\"logit_bias\":{\"-1\":1}", "logit_bias", NULL, "between 0 and 999");
    expect_chat_field_error("\"logit_bias\":{\"99999999999999999999999\":1}", "logit_bias", NULL, "between 0 and 999");
    expect_chat_field_error("\"logit_bias\":{\"5\":100.5}", "logit_bias", "invalid_value",
                            "between -100 and 100 (for token 5), got 100.5");
    /* at most API_MAX_LOGIT_BIAS entries */
    char *body = malloc(16384);
    size_t n = (size_t)sprintf(body, "{" USER_HI ",\"logit_bias\":{");
    for (int i = 0; i <= API_MAX_LOGIT_BIAS; i++) n += (size_t)sprintf(body + n, "%s\"%d\":1", i ? "," : "", i);
    strcpy(body + n, "}}");
    expect_error(true, body, "logit_bias", "invalid_value", "at most 300");
    /* exactly the maximum is fine */
    char *cut = strstr(body, ",\"300\":1");
    strcpy(cut, "}}");
    api_generation_request r;
    parse_ok(true, body, &r);
    assert_int_equal(r.n_logit_bias, API_MAX_LOGIT_BIAS);
    api_generation_request_free(&r);
    free(body);
}

/* ---- the body as a whole ---- */

static void test_bad_json(void **state) {
    (void)state;
    expect_error(true, "", NULL, "invalid_json", "empty");
    expect_error(true, " \r\n\t", NULL, "invalid_json", "empty");
    expect_error(true, "[]", NULL, "invalid_json", "must be a JSON object, got an array");
    expect_error(true, "\"hello\"", NULL, "invalid_json", "got a string");
    expect_error(false, "42", NULL, "invalid_json", "got a number");
    expect_error(true, "null", NULL, "invalid_json", "got null");
    expect_error(true, "{" USER_HI "} x", NULL, "invalid_json", "line 1, column");
    expect_error(true, "{" USER_HI "}{}", NULL, "invalid_json", "not valid JSON");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],}", NULL, "invalid_json", "line 1");
    expect_error(true, "{\"messages\":\n[\n{\"role\":\"user\",\"content\":\"hi\"}", NULL, "invalid_json", "line 3");
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"role\":\"user\",\"content\":\"hi\"}]}", NULL,
                 "invalid_json", "duplicate");
    expect_error(true, "{" USER_HI ",\"seed\":99999999999999999999}", NULL, "invalid_json", "not valid JSON");
    expect_error(true, "{" USER_HI ",\"temperature\":1e999}", NULL, "invalid_json", "not valid JSON");
    expect_error(true, "{" USER_HI ",\"temperature\":NaN}", NULL, "invalid_json", "not valid JSON");
    /* embedded NUL: as an escape and as a raw byte */
    expect_error(true, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}", NULL, "invalid_json", "");
    static const char raw_nul[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\0b\"}]}";
    api_generation_request r;
    api_error err;
    assert_int_equal(api_parse_chat_request(raw_nul, sizeof raw_nul - 1, &LIMITS, &r, &err), -1);
    assert_string_equal(err.code, "invalid_json");
    /* a NULL body is an empty one */
    assert_int_equal(api_parse_chat_request(NULL, 0, &LIMITS, &r, &err), -1);
    assert_true(strstr(err.message, "empty") != NULL);
    /* the body is taken by length, not up to a NUL */
    const char *body = "{" USER_HI "}garbage";
    assert_int_equal(api_parse_chat_request(body, strlen("{" USER_HI "}"), &LIMITS, &r, &err), 0);
    api_generation_request_free(&r);
}

static void test_invalid_utf8(void **state) {
    (void)state;
    /* a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
    static const char *bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82"};
    for (size_t i = 0; i < 4; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"a%sb\"}]}", bad[i]);
        expect_error(true, body, NULL, "invalid_json", "not valid JSON");
        api_generation_request r;
        api_error err;
        assert_int_equal(parse(true, body, &r, &err), -1);
        char *json = api_error_json(&err); /* the message itself stays valid UTF-8 */
        assert_non_null(json);
        free(json);
    }
    /* a key with invalid UTF-8 */
    expect_error(true, "{" USER_HI ",\"\xff\":1}", NULL, "invalid_json", "not valid JSON");
}

static char *nested_body(int depth, const char *open, const char *close) {
    size_t lo = strlen(open), lc = strlen(close);
    char *body = malloc(64 + (size_t)depth * (lo + lc));
    size_t n = (size_t)sprintf(body, "{" USER_HI ",\"metadata\":");
    for (int i = 0; i < depth; i++, n += lo) memcpy(body + n, open, lo);
    for (int i = 0; i < depth; i++, n += lc) memcpy(body + n, close, lc);
    strcpy(body + n, "}");
    return body;
}

static void test_depth_limit(void **state) {
    (void)state;
    /* the body object is one level: 31 more nested arrays are allowed */
    char *body = nested_body(31, "[", "]");
    api_generation_request r;
    parse_ok(true, body, &r);
    api_generation_request_free(&r);
    free(body);
    body = nested_body(32, "[", "]");
    expect_error(true, body, NULL, "invalid_json", "deeper than 32 levels");
    free(body);
    body = nested_body(10000, "[", "]");
    expect_error(true, body, NULL, "invalid_json", "deeper than 32 levels");
    free(body);
    body = nested_body(10000, "{\"a\":", "}");
    expect_error(false, body, NULL, "invalid_json", "deeper than 32 levels");
    free(body);
    /* unclosed: 100000 opening brackets and nothing else */
    char *open = malloc(100001);
    memset(open, '[', 100000);
    open[100000] = '\0';
    expect_error(true, open, NULL, "invalid_json", "deeper than");
    free(open);
}

static void test_limits_zero_mean_none(void **state) {
    (void)state;
    api_limits none = {0};
    api_generation_request r;
    api_error err;
    const char *body = "{\"prompt\":[2147483647,0],\"max_tokens\":2147483647,\"logit_bias\":{\"123456\":1}}";
    if (api_parse_completion_request(body, strlen(body), &none, &r, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(r.prompt_tokens[0], INT32_MAX);
    assert_int_equal(r.max_tokens, INT32_MAX);
    api_generation_request_free(&r);
    /* the depth falls back to 32 */
    char *deep = nested_body(40, "[", "]");
    assert_int_equal(api_parse_chat_request(deep, strlen(deep), &none, &r, &err), -1);
    assert_true(strstr(err.message, "deeper than 32") != NULL);
    free(deep);
    /* NULL limits and a NULL err are tolerated */
    assert_int_equal(api_parse_chat_request("{" USER_HI "}", strlen("{" USER_HI "}"), NULL, &r, NULL), 0);
    api_generation_request_free(&r);
    assert_int_equal(api_parse_chat_request("[]", 2, NULL, &r, NULL), -1);
}

/* ---- errors ---- */

static void test_error_json_shape(void **state) {
    (void)state;
    api_error err;
    api_error_set(&err, 400, "invalid_request_error", "invalid_value", "temperature", "temperature %s", "too hot");
    char *text = api_error_json(&err);
    assert_non_null(text);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_object_size(root), 1);
    json_t *e = json_object_get(root, "error");
    assert_true(json_is_object(e));
    assert_int_equal(json_object_size(e), 4);
    assert_string_equal(json_string_value(json_object_get(e, "message")), "temperature too hot");
    assert_string_equal(json_string_value(json_object_get(e, "type")), "invalid_request_error");
    assert_string_equal(json_string_value(json_object_get(e, "param")), "temperature");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_value");
    json_decref(root);
    free(text);

    /* no param, no code: both null */
    assert_int_equal(api_error_set(&err, 404, "not_found_error", NULL, NULL, "no such model"), -1);
    assert_int_equal(err.status, 404);
    text = api_error_json(&err);
    root = json_loads(text, 0, &jerr);
    e = json_object_get(root, "error");
    assert_true(json_is_null(json_object_get(e, "param")));
    assert_true(json_is_null(json_object_get(e, "code")));
    assert_string_equal(json_string_value(json_object_get(e, "type")), "not_found_error");
    json_decref(root);
    free(text);
}

static void test_error_text_is_clean(void **state) {
    (void)state;
    api_error err;
    /* control characters and bytes that are not UTF-8 never reach the body */
    api_error_set(&err, 400, NULL, NULL, "p\xff", "line\none \xc3\xa9 \xe2\x82 \x80 end");
    assert_string_equal(err.message, "line one \xc3\xa9 ?? ? end"); /* one '?' per bad byte */
    assert_string_equal(err.param, "p?");
    assert_string_equal(err.type, "invalid_request_error");
    /* a message cut in the middle of a character */
    char long_text[600];
    memset(long_text, 'a', sizeof long_text);
    for (size_t i = 509; i + 2 < sizeof long_text; i += 2) memcpy(long_text + i, "\xc3\xa9", 2);
    long_text[sizeof long_text - 1] = '\0';
    api_error_set(&err, 400, NULL, NULL, NULL, "%s", long_text);
    char *text = api_error_json(&err);
    assert_non_null(text);
    free(text);
    /* a struct filled by hand, unterminated */
    memset(&err, 'x', sizeof err);
    err.type = NULL;
    err.code = NULL;
    text = api_error_json(&err);
    assert_non_null(text);
    free(text);
    text = api_error_json(NULL);
    assert_non_null(text);
    free(text);
    /* a parse error whose jansson text quotes the bad bytes */
    expect_error(true, "{\"messages\":\xff\xfe\n}", NULL, "invalid_json", "not valid JSON");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_defaults),
        cmocka_unit_test(test_chat_roles_and_content),
        cmocka_unit_test(test_chat_every_field),
        cmocka_unit_test(test_nulls_mean_not_given),
        cmocka_unit_test(test_integral_numbers),
        cmocka_unit_test(test_brackets_in_strings_do_not_nest),
        cmocka_unit_test(test_completion_prompts),
        cmocka_unit_test(test_completion_errors),
        cmocka_unit_test(test_messages_errors),
        cmocka_unit_test(test_field_type_errors),
        cmocka_unit_test(test_field_range_errors),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_limits_zero_mean_none),
        cmocka_unit_test(test_error_json_shape),
        cmocka_unit_test(test_error_text_is_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
