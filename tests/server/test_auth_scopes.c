/*
 * test_auth_scopes.c - the endpoint -> scope table, scope lists, the
 * Authorization header's bearer credential and the WWW-Authenticate values
 * (src/server/auth_scopes.c).
 */
#include <string.h>

#include "server/auth_scopes.h"
#include "testutil.h"

static void expect_scope(const char *path, bool needs_auth, const char *scope) {
    const char *got = "unset";
    bool auth = auth_endpoint_scope(path, &got);
    if (auth != needs_auth) fail_msg("%s: needs auth %d, expected %d", path, auth, needs_auth);
    if ((got == NULL) != (scope == NULL) || (got && strcmp(got, scope) != 0))
        fail_msg("%s: scope %s, expected %s", path, got ? got : "(none)", scope ? scope : "(none)");
}

static void test_endpoint_table(void **state) {
    (void)state;
    expect_scope("/v1/chat/completions", true, "chat");
    expect_scope("/v1/completions", true, "chat");
    expect_scope("/v1/audio/transcriptions", true, "audio.transcribe");
    expect_scope("/v1/audio/translations", true, "audio.transcribe");
    expect_scope("/v1/audio/speech", true, "audio.speech");
    expect_scope("/v1/models", true, "models.read");
    expect_scope("/v1/models/deepseek-r1", true, "models.read");
    expect_scope("/metrics", true, "admin");
    expect_scope("/admin/drain", true, "admin");
    expect_scope("/health", false, NULL);
    expect_scope("/ready", false, NULL);
    /* the web page's files: no secrets in them */
    expect_scope("/", false, NULL);
    expect_scope("/web/app.js", false, NULL);
    expect_scope("/web/", true, NULL);
    expect_scope("/web/../metrics", true, NULL);
    expect_scope("/web/a/b.js", true, NULL);
    /* open only on the exact paths */
    expect_scope("/health/", true, NULL);
    expect_scope("/health/../metrics", true, NULL);
    expect_scope("/readyz", true, NULL);
    expect_scope("/v1/chat/completions/", true, NULL);
    expect_scope("/nothing", true, NULL);
    expect_scope("", true, NULL);
}

static void test_scope_lists(void **state) {
    (void)state;
    assert_true(auth_scopes_has("chat models.read", "chat"));
    assert_true(auth_scopes_has("chat models.read", "models.read"));
    assert_true(auth_scopes_has("  chat   admin ", "admin"));
    assert_false(auth_scopes_has("chat models.read", "models"));
    assert_false(auth_scopes_has("chatty", "chat"));
    assert_false(auth_scopes_has("admin", "chat")); /* no implied scopes */
    assert_false(auth_scopes_has("", "chat"));
    assert_false(auth_scopes_has(NULL, "chat"));
    assert_true(auth_scope_known("audio.speech"));
    assert_false(auth_scope_known("audio"));
    size_t n = 0;
    const char *const *names = auth_scope_names(&n);
    assert_int_equal(n, 5);
    assert_string_equal(names[0], "chat");
}

static void test_normalize(void **state) {
    (void)state;
    char out[AUTH_MAX_SCOPES_TEXT];
    r1_error err = {{0}};
    assert_int_equal(auth_scopes_normalize("models.read,chat", out, sizeof out, &err), 0);
    assert_string_equal(out, "chat models.read");
    assert_int_equal(auth_scopes_normalize(" admin, chat chat ,audio.speech", out, sizeof out, &err), 0);
    assert_string_equal(out, "chat audio.speech admin");
    assert_int_equal(auth_scopes_normalize("chat,models.raed", out, sizeof out, &err), -1);
    assert_non_null(strstr(err.message, "unknown scope 'models.raed'"));
    assert_int_equal(auth_scopes_normalize(" , ", out, sizeof out, &err), -1);
    assert_non_null(strstr(err.message, "no scopes"));
    char small[6];
    assert_int_equal(auth_scopes_normalize("chat,admin", small, sizeof small, &err), -1);
}

static void expect_bearer(const char *header, auth_bearer want, const char *token) {
    const char *t = NULL;
    size_t len = 0;
    auth_bearer got = auth_bearer_token(header, &t, &len);
    if (got != want) fail_msg("'%s': %d, expected %d", header ? header : "(null)", got, want);
    if (token) {
        assert_int_equal(len, strlen(token));
        assert_memory_equal(t, token, len);
    } else {
        assert_null(t);
    }
}

static void test_bearer(void **state) {
    (void)state;
    expect_bearer("Bearer abc.def-ghi_jkl", AUTH_BEARER_OK, "abc.def-ghi_jkl");
    expect_bearer("bearer r1-AAAA", AUTH_BEARER_OK, "r1-AAAA");
    expect_bearer("  BEARER   tok==  ", AUTH_BEARER_OK, "tok==");
    expect_bearer(NULL, AUTH_BEARER_MISSING, NULL);
    expect_bearer("", AUTH_BEARER_MISSING, NULL);
    expect_bearer("Basic dXNlcjpwYXNz", AUTH_BEARER_MISSING, NULL);
    expect_bearer("Bearerx abc", AUTH_BEARER_MISSING, NULL);
    expect_bearer("Bearer", AUTH_BEARER_MALFORMED, NULL);
    expect_bearer("Bearer ", AUTH_BEARER_MALFORMED, NULL);
    expect_bearer("Bearer a b", AUTH_BEARER_MALFORMED, NULL);
    expect_bearer("Bearer a\"b", AUTH_BEARER_MALFORMED, NULL);
    expect_bearer("Bearer =abc", AUTH_BEARER_MALFORMED, NULL);
    expect_bearer("Bearer ab=c", AUTH_BEARER_MALFORMED, NULL);
}

static void test_www_authenticate(void **state) {
    (void)state;
    char buf[256];
    size_t n = auth_www_authenticate(buf, sizeof buf, NULL, NULL, NULL);
    assert_string_equal(buf, "Bearer realm=\"r1\"");
    assert_int_equal(n, strlen(buf));
    auth_www_authenticate(buf, sizeof buf, "invalid_token", "token expired", NULL);
    assert_string_equal(buf, "Bearer realm=\"r1\", error=\"invalid_token\", error_description=\"token expired\"");
    auth_www_authenticate(buf, sizeof buf, "insufficient_scope", NULL, "chat");
    assert_string_equal(buf, "Bearer realm=\"r1\", error=\"insufficient_scope\", scope=\"chat\"");
    auth_www_authenticate(buf, sizeof buf, "invalid_token", "say \"hi\" \\ bye\r\nX-Evil: 1\x01\xc3\xa9", NULL);
    assert_string_equal(buf, "Bearer realm=\"r1\", error=\"invalid_token\", "
                             "error_description=\"say \\\"hi\\\" \\\\ bye??X-Evil: 1???\"");
    char tiny[24];
    n = auth_www_authenticate(tiny, sizeof tiny, "invalid_token", "a long description", NULL);
    assert_int_equal(n, strlen(tiny));
    assert_true(n < sizeof tiny);
    assert_null(strchr(tiny, '\n'));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_table), cmocka_unit_test(test_scope_lists),
        cmocka_unit_test(test_normalize),      cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_www_authenticate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
