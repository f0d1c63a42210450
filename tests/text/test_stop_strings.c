/* test_stop_strings.c - stop strings split over every chunk boundary. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "text/stop_strings.h"

typedef struct sink {
    char text[256];
    size_t len;
} sink;

static void collect(void *user, const char *text, size_t len) {
    sink *s = user;
    memcpy(s->text + s->len, text, len);
    s->len += len;
}

/* Feeds text cut at every pair of points; all must give `expect` and the
 * same stopped verdict. */
static void check(const char *const *stops, size_t n_stops, const char *text, const char *expect, bool stopped) {
    size_t len = strlen(text);
    for (size_t a = 0; a <= len; a++)
        for (size_t b = a; b <= len; b++) {
            r1_stop_matcher m;
            assert_int_equal(r1_stop_init(&m, stops, n_stops), 0);
            sink s = {0};
            bool hit = r1_stop_feed(&m, text, a, collect, &s);
            hit = r1_stop_feed(&m, text + a, b - a, collect, &s) || hit;
            hit = r1_stop_feed(&m, text + b, len - b, collect, &s) || hit;
            if (!hit) r1_stop_flush(&m, collect, &s);
            if (hit != stopped || s.len != strlen(expect) || memcmp(s.text, expect, s.len) != 0)
                fail_msg("cuts %zu/%zu of '%s': got '%.*s' (stopped %d)", a, b, text, (int)s.len, s.text, hit);
            r1_stop_free(&m);
        }
}

static void test_stop_strings(void **state) {
    (void)state;
    const char *one[] = {"STOP"};
    check(one, 1, "hello STOP world", "hello ", true);
    check(one, 1, "no stop here, STO", "no stop here, STO", false);
    check(one, 1, "STOP", "", true);
    const char *two[] = {"\n\nUser:", "END", ""};
    check(two, 3, "answer\n\nUser: more", "answer", true);
    check(two, 3, "a\n\nb END c", "a\n\nb ", true);
    check(two, 3, "plain", "plain", false);
    const char *none[] = {""};
    check(none, 1, "anything", "anything", false);
    const char *utf8[] = {"\xe3\x80\x82"}; /* the ideographic full stop */
    check(utf8, 1, "\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82\xe5\x86\x8d", "\xe4\xbd\xa0\xe5\xa5\xbd", true);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stop_strings)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
