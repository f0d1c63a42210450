/* test_speech_request.c - the body of POST /v1/audio/speech: a full and a
 * minimal request are read with their defaults; each wrong field is refused
 * with OpenAI's status, code and param, in the order a user fixes them;
 * characters, not bytes, are counted against the limit. */
#include <stdlib.h>
#include <string.h>

#include "server/speech_request.h"
#include "testutil.h"

static int parse(const char *body, speech_request *r, api_error *e) {
    return speech_request_parse(body, strlen(body), 20, r, e);
}

static void test_accepted(void **state) {
    (void)state;
    speech_request r;
    api_error e;
    assert_int_equal(parse("{\"model\":\"tts-1\",\"input\":\"Hello.\",\"voice\":\"nova\",\"response_format\":\"opus\","
                           "\"speed\":1.5,\"stream_format\":\"audio\",\"user\":\"ignored\"}", &r, &e), 0);
    assert_string_equal(r.input, "Hello.");
    assert_string_equal(r.voice, "nova");
    assert_string_equal(r.format, "opus");
    assert_true(r.speed == 1.5f);
    speech_request_free(&r);
    assert_int_equal(parse("{\"model\":\"gpt-4o-mini-tts\",\"input\":\"你好，世界\",\"voice\":\"alloy\"}", &r, &e), 0);
    assert_string_equal(r.format, "wav"); /* the default here (OpenAI's mp3 is not offered) */
    assert_true(r.speed == 1.0f);
    assert_int_equal(r.input_chars, 5);
    speech_request_free(&r);
    /* 20 Han characters are 60 bytes and within a limit of 20 characters */
    assert_int_equal(parse("{\"model\":\"tts-1\",\"voice\":\"echo\",\"input\":"
                           "\"一二三四五六七八九十一二三四五六七八九十\"}", &r, &e), 0);
    speech_request_free(&r);
}

static void expect_refused(const char *body, int status, const char *code, const char *param) {
    speech_request r;
    api_error e;
    if (parse(body, &r, &e) == 0) fail_msg("accepted: %s", body);
    assert_null(r.input);
    assert_int_equal(e.status, status);
    assert_string_equal(e.code, code);
    assert_string_equal(e.param, param);
    assert_true(strlen(e.message) > 10);
}

static void test_refused(void **state) {
    (void)state;
    expect_refused("", 400, "invalid_json", "");
    expect_refused("[1,2]", 400, "invalid_json", "");
    expect_refused("{\"model\":\"tts-1\",\"model\":\"tts-1\"}", 400, "invalid_json", ""); /* duplicate key */
    expect_refused("{\"input\":\"hi\",\"voice\":\"alloy\"}", 400, "missing_required_parameter", "model");
    expect_refused("{\"model\":\"tts-2\",\"input\":\"hi\",\"voice\":\"alloy\"}", 404, "model_not_found", "model");
    expect_refused("{\"model\":\"tts-1\",\"voice\":\"alloy\"}", 400, "missing_required_parameter", "input");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\"}", 400, "missing_required_parameter", "voice");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"\",\"voice\":\"alloy\"}", 400, "invalid_value", "input");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"123456789012345678901\",\"voice\":\"alloy\"}", 400,
                   "invalid_value", "input");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"bob\"}", 400, "invalid_value", "voice");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"alloy\",\"response_format\":\"mp3\"}", 400,
                   "unsupported_value", "response_format");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"alloy\",\"response_format\":\"ogg\"}", 400,
                   "invalid_value", "response_format");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"alloy\",\"response_format\":7}", 400,
                   "invalid_type", "");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"alloy\",\"speed\":0.1}", 400, "invalid_value",
                   "speed");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"alloy\",\"stream_format\":\"sse\"}", 400,
                   "unsupported_value", "stream_format");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"hi\",\"voice\":\"alloy\",\"instructions\":\"calm\"}", 400,
                   "unsupported_parameter", "instructions");
    expect_refused("{\"model\":\"tts-1\",\"input\":\"a\\u0000b\",\"voice\":\"alloy\"}", 400, "invalid_json", "");
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_accepted), cmocka_unit_test(test_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
