/* test_tts_text.c - what the synthesiser is given: sentences cut where a
 * reader pauses (not inside 3.14, e.g. or Dr.), incomplete ones held back
 * while text still streams in, long runs cut; Mandarin and English
 * readings of years, dates and percentages; Markdown and broken UTF-8
 * never spoken. */
#include <stdlib.h>
#include <string.h>

#include "speech/tts_text.h"
#include "testutil.h"

/* The sentences of text, joined by "|" (final: the text is complete). */
static char *sentences(const char *text, bool final) {
    static char out[4096];
    out[0] = '\0';
    size_t len = strlen(text), pos = 0;
    while (pos < len) {
        size_t end = tts_sentence_end(text + pos, len - pos, final);
        if (end == 0) break;
        if (out[0]) strcat(out, "|");
        strncat(out, text + pos, end);
        pos += end;
    }
    return out;
}

static void test_sentence_ends(void **state) {
    (void)state;
    assert_string_equal(sentences("Hello there. How are you? Fine!", true), "Hello there. |How are you? |Fine!");
    assert_string_equal(sentences("Pi is 3.14 today. Yes.", true), "Pi is 3.14 today. |Yes.");
    assert_string_equal(sentences("Ask Dr. Smith, e.g. now. Then go.", true), "Ask Dr. Smith, e.g. now. |Then go.");
    assert_string_equal(sentences("J. R. R. Tolkien wrote it. The end.", true), "J. R. R. Tolkien wrote it. |The end.");
    assert_string_equal(sentences("Wait... what? \"Yes.\" No.", true), "Wait... |what? |\"Yes.\" |No.");
    assert_string_equal(sentences("今天天气很好。我们去公园吧！好", true), "今天天气很好。|我们去公园吧！|好");
    assert_string_equal(sentences("line one\nline two", true), "line one\n|line two");
    assert_string_equal(sentences("One.\n\n\nTwo.", true), "One.\n\n\n|Two.");
}

/* While an answer streams in, only complete sentences are let out. */
static void test_streaming_holds_back(void **state) {
    (void)state;
    assert_string_equal(sentences("The first one. The sec", false), "The first one. ");
    assert_string_equal(sentences("It costs 3.", false), ""); /* 3.5 or the end: not known yet */
    assert_string_equal(sentences("It costs 3. ", false), "It costs 3. ");
    assert_string_equal(sentences("好的。然后", false), "好的。");
    assert_string_equal(sentences("One.\n", false), "One.\n");
    assert_int_equal(tts_sentence_end("\n\n", 2, false), 0); /* blank lines wait for the next sentence */
    /* a character cut in two by the stream waits for its other bytes */
    assert_int_equal(tts_sentence_end("好的\xef\xbc", 8, false), 0);
    assert_int_equal(tts_sentence_end("好的\xef\xbc\x9f", 9, false), 9); /* ？ */
    assert_int_equal(tts_sentence_end("no end yet", 10, false), 0);
    assert_int_equal(tts_sentence_end("no end yet", 10, true), 10);
}

static void test_long_runs_are_cut(void **state) {
    (void)state;
    char text[2000] = "";
    for (int i = 0; i < 60; i++) strcat(text, "word word, ");
    size_t end = tts_sentence_end(text, strlen(text), false);
    assert_true(end > TTS_SOFT_SENTENCE_BYTES && end <= TTS_MAX_SENTENCE_BYTES);
    assert_memory_equal(text + end - 2, ", ", 2); /* at a comma */
    char han[1300] = "";
    for (int i = 0; i < 400; i++) strcat(han, "字"); /* no punctuation, no spaces */
    end = tts_sentence_end(han, strlen(han), false);
    assert_true(end > 0 && end <= TTS_MAX_SENTENCE_BYTES + 3 && end % 3 == 0); /* whole characters */
    /* spaces before a long run do not count toward its length: streamed
     * text cuts it at the same place as the whole text */
    char spaced[1400] = "          ";
    strcat(spaced, han);
    assert_int_equal(tts_sentence_end(spaced, strlen(spaced), false), 10 + end);
}

static char *normalized(const char *text, bool *mandarin) {
    char *s = tts_normalize(text, strlen(text), mandarin);
    assert_non_null(s);
    return s;
}

static void test_readings(void **state) {
    (void)state;
    bool mandarin;
    char *s = normalized("We meet on 2026-12-01 & talk.", &mandarin);
    assert_false(mandarin);
    assert_string_equal(s, "We meet on December 1, 2026  and  talk.");
    free(s);
    s = normalized("Not a date: 2026-13-01 or 12026-01-01.", &mandarin);
    assert_string_equal(s, "Not a date: 2026-13-01 or 12026-01-01.");
    free(s);
    s = normalized("2026年12月1日，湿度50%，增长12.5%。", &mandarin);
    assert_true(mandarin);
    assert_string_equal(s, "二零二六年12月1日，湿度百分之50，增长百分之12.5。");
    free(s);
    s = normalized("请打开 GPU server 的日志", &mandarin);
    assert_true(mandarin);
    assert_string_equal(s, "请打开 GPU server 的日志");
    free(s);
}

static void test_markdown_and_bad_bytes(void **state) {
    (void)state;
    bool mandarin;
    char *s = normalized("## **Bold** and `code` and [a link](http://x.y/z) | cell", &mandarin);
    assert_string_equal(s, "Bold and code and a link   cell");
    free(s);
    s = normalized("bad \xff\xfe bytes \xe4\xbd", &mandarin); /* invalid, then a cut character */
    assert_string_equal(s, "bad  bytes");
    free(s);
    s = normalized("a\xff\xb7\x90" "b \xf8\x88\x80\x80\x80" "c", &mandarin); /* bytes no UTF-8 starts with */
    assert_string_equal(s, "ab c");
    free(s);
    s = normalized("***", &mandarin);
    assert_string_equal(s, "");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentence_ends),       cmocka_unit_test(test_streaming_holds_back),
        cmocka_unit_test(test_long_runs_are_cut),   cmocka_unit_test(test_readings),
        cmocka_unit_test(test_markdown_and_bad_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
