/*
 * test_multipart.c - multipart/form-data bodies (src/server/multipart.c) as
 * real clients send them, written out byte for byte: curl -F, the OpenAI
 * Node client (form-data-encoder), the OpenAI Python client (httpx); the
 * boundary from Content-Type (quoted, other parameters, case); binary data
 * holding CR, LF, "--" and near-delimiters; empty parts and forms; bare LF
 * bodies, preamble, epilogue, padding; and every refusal with its message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/multipart.h"
#include "testutil.h"

static void parse_ok(const char *body, size_t size, const char *boundary, multipart_form *form) {
    r1_error err = {{0}};
    if (multipart_parse((const uint8_t *)body, size, boundary, form, &err) != 0) fail_msg("%s", err.message);
}

static void expect_error(const char *body, size_t size, const char *boundary, const char *message) {
    multipart_form form;
    r1_error err = {{0}};
    assert_int_equal(multipart_parse((const uint8_t *)body, size, boundary, &form, &err), -1);
    assert_string_equal(err.message, message);
    assert_int_equal(form.n_parts, 0);
    assert_null(form.parts);
    assert_null(form.storage);
}

static void expect_text(const multipart_part *p, const char *text) {
    assert_non_null(p);
    assert_int_equal(p->size, strlen(text));
    assert_memory_equal(p->data, text, p->size);
}

static void boundary_of(const char *content_type, char *boundary) {
    r1_error err = {{0}};
    if (multipart_boundary_from_content_type(content_type, boundary, MULTIPART_MAX_BOUNDARY + 1, &err) != 0)
        fail_msg("%s: %s", content_type, err.message);
}

/* Four bytes of a WAV header, then bytes that look like line ends,
 * delimiters and NULs. */
static const char wav_bytes[] = "RIFF\r\n--\r\n\n--\0\r\r\n-";

/* curl -F file=@x.wav -F model=whisper-1 (curl 7.88) */
static void test_curl(void **state) {
    (void)state;
    static const char body[] =
        "--------------------------d74496d66958873e\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"x.wav\"\r\n"
        "Content-Type: application/octet-stream\r\n"
        "\r\n"
        "RIFF\r\n--\r\n\n--\0\r\r\n-\r\n"
        "--------------------------d74496d66958873e\r\n"
        "Content-Disposition: form-data; name=\"model\"\r\n"
        "\r\n"
        "whisper-1\r\n"
        "--------------------------d74496d66958873e--\r\n";
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    boundary_of("multipart/form-data; boundary=------------------------d74496d66958873e", boundary);
    assert_string_equal(boundary, "------------------------d74496d66958873e");
    multipart_form form;
    parse_ok(body, sizeof body - 1, boundary, &form);
    assert_int_equal(form.n_parts, 2);
    const multipart_part *file = multipart_find(&form, "file");
    assert_non_null(file);
    assert_string_equal(file->filename, "x.wav");
    assert_string_equal(file->content_type, "application/octet-stream");
    assert_int_equal(file->size, sizeof wav_bytes - 1);
    assert_memory_equal(file->data, wav_bytes, file->size);
    assert_ptr_equal(file->data, (const uint8_t *)strstr(body, "RIFF")); /* zero-copy */
    const multipart_part *model = multipart_find(&form, "model");
    expect_text(model, "whisper-1");
    assert_null(model->filename);
    assert_null(model->content_type);
    assert_null(multipart_find(&form, "language"));
    multipart_form_free(&form);
    assert_null(form.parts);
}

/* The OpenAI Node client (v4, form-data-encoder) with timestamp granularities. */
static void test_openai_node(void **state) {
    (void)state;
    static const char body[] =
        "--form-data-boundary-a8mpqf0hyvj9kxrl\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"speech.wav\"\r\n"
        "Content-Type: audio/wav\r\n"
        "\r\n"
        "RIFF\r\n--\r\n\n--\0\r\r\n-\r\n"
        "--form-data-boundary-a8mpqf0hyvj9kxrl\r\n"
        "Content-Disposition: form-data; name=\"model\"\r\n"
        "\r\n"
        "whisper-1\r\n"
        "--form-data-boundary-a8mpqf0hyvj9kxrl\r\n"
        "Content-Disposition: form-data; name=\"response_format\"\r\n"
        "\r\n"
        "verbose_json\r\n"
        "--form-data-boundary-a8mpqf0hyvj9kxrl\r\n"
        "Content-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n"
        "\r\n"
        "word\r\n"
        "--form-data-boundary-a8mpqf0hyvj9kxrl\r\n"
        "Content-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n"
        "\r\n"
        "segment\r\n"
        "--form-data-boundary-a8mpqf0hyvj9kxrl--\r\n\r\n";
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    boundary_of("multipart/form-data; boundary=form-data-boundary-a8mpqf0hyvj9kxrl", boundary);
    multipart_form form;
    parse_ok(body, sizeof body - 1, boundary, &form);
    assert_int_equal(form.n_parts, 5);
    const multipart_part *file = multipart_find(&form, "file");
    assert_string_equal(file->filename, "speech.wav");
    assert_string_equal(file->content_type, "audio/wav");
    assert_int_equal(file->size, sizeof wav_bytes - 1);
    assert_memory_equal(file->data, wav_bytes, file->size);
    expect_text(multipart_find(&form, "response_format"), "verbose_json");
    const multipart_part *g[4];
    assert_int_equal(multipart_find_all(&form, "timestamp_granularities[]", g, 4), 2);
    expect_text(g[0], "word");
    expect_text(g[1], "segment");
    assert_int_equal(multipart_find_all(&form, "timestamp_granularities[]", g, 1), 2); /* counts past cap */
    expect_text(g[0], "word");
    assert_int_equal(multipart_find_all(&form, "prompt", g, 4), 0);
    multipart_form_free(&form);
}

/* The OpenAI Python client (httpx): fields first, then the file. */
static void test_openai_python(void **state) {
    (void)state;
    static const char body[] =
        "--3c4a5bcbf31e9c4f8a1e6f0b2b9d7e21\r\n"
        "Content-Disposition: form-data; name=\"model\"\r\n"
        "\r\n"
        "whisper-1\r\n"
        "--3c4a5bcbf31e9c4f8a1e6f0b2b9d7e21\r\n"
        "Content-Disposition: form-data; name=\"language\"\r\n"
        "\r\n"
        "zh\r\n"
        "--3c4a5bcbf31e9c4f8a1e6f0b2b9d7e21\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"\xe4\xbc\x9a\xe8\xae\xae.wav\"\r\n"
        "Content-Type: audio/x-wav\r\n"
        "\r\n"
        "RIFF\r\n--\r\n\n--\0\r\r\n-\r\n"
        "--3c4a5bcbf31e9c4f8a1e6f0b2b9d7e21--\r\n";
    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    boundary_of("multipart/form-data; boundary=3c4a5bcbf31e9c4f8a1e6f0b2b9d7e21", boundary);
    multipart_form form;
    parse_ok(body, sizeof body - 1, boundary, &form);
    assert_int_equal(form.n_parts, 3);
    expect_text(multipart_find(&form, "language"), "zh");
    const multipart_part *file = multipart_find(&form, "file");
    assert_string_equal(file->filename, "\xe4\xbc\x9a\xe8\xae\xae.wav"); /* UTF-8 as sent */
    assert_int_equal(file->size, sizeof wav_bytes - 1);
    assert_memory_equal(file->data, wav_bytes, file->size);
    multipart_form_free(&form);
}

static void test_boundary_from_content_type(void **state) {
    (void)state;
    char b[MULTIPART_MAX_BOUNDARY + 1];
    boundary_of("multipart/form-data; boundary=\"simple boundary\"", b);
    assert_string_equal(b, "simple boundary");
    boundary_of("Multipart/Form-Data;charset=utf-8;  BOUNDARY = \"a:b=c;d\" ", b);
    assert_string_equal(b, "a:b=c;d");
    boundary_of("multipart/form-data; boundary=\"q\\\"uote\"", b);
    assert_string_equal(b, "q\"uote");
    boundary_of("multipart/form-data; boundary=x;", b);
    assert_string_equal(b, "x");
    char b70[71], ct[128];
    memset(b70, 'a', 70);
    b70[70] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b70);
    boundary_of(ct, b);
    assert_string_equal(b, b70);

    static const struct {
        const char *content_type, *message;
    } bad[] = {
        {NULL, "multipart: the request has no Content-Type"},
        {"application/json", "multipart: Content-Type is 'application/json', not multipart/form-data"},
        {"multipart/mixed; boundary=x", "multipart: Content-Type is 'multipart/mixed', not multipart/form-data"},
        {"multipart/form-data", "multipart: Content-Type has no boundary parameter"},
        {"multipart/form-data; charset=utf-8", "multipart: Content-Type has no boundary parameter"},
        {"multipart/form-data; boundary=\"\"", "multipart: the boundary has 0 characters, RFC 2046 allows 1 to 70"},
        {"multipart/form-data; boundary=", "multipart: the boundary has 0 characters, RFC 2046 allows 1 to 70"},
        {"multipart/form-data; boundary=\"abc", "multipart: Content-Type: an unterminated quoted string"},
        {"multipart/form-data; boundary=\"ab \"", "multipart: the boundary ends in a space"},
        {"multipart/form-data; boundary=\"a\tb\"", "multipart: the boundary holds a character that is not printable ASCII"},
        {"multipart/form-data; boundary", "multipart: Content-Type: a parameter without '='"},
        {"multipart/form-data boundary=x", "multipart: Content-Type: expected ';' between parameters"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r1_error err = {{0}};
        if (multipart_boundary_from_content_type(bad[i].content_type, b, sizeof b, &err) != -1)
            fail_msg("accepted: %s", bad[i].content_type);
        assert_string_equal(err.message, bad[i].message);
    }
    char long_ct[128];
    snprintf(long_ct, sizeof long_ct, "multipart/form-data; boundary=%sb", b70);
    r1_error err = {{0}};
    assert_int_equal(multipart_boundary_from_content_type(long_ct, b, sizeof b, &err), -1);
    assert_string_equal(err.message, "multipart: the boundary has 71 characters, RFC 2046 allows 1 to 70");
    char small[4];
    assert_int_equal(multipart_boundary_from_content_type("multipart/form-data; boundary=abcd", small, 4, &err), -1);
    assert_string_equal(err.message, "multipart: the boundary does not fit in 4 bytes");
}

/* Data that holds the delimiter's look-alikes stays whole. */
static void test_binary_data(void **state) {
    (void)state;
    static const char data[] =
        "\r\n--b0undar\r\n"     /* a prefix of the delimiter */
        "\r\n--b0undaryX\r\n"   /* the delimiter followed by neither '--' nor a line end */
        "x--b0undary\r\n"       /* not at a line start */
        "\n--b0undary-\r\n"     /* one '-' only */
        "\r\n\r\n\0\0--\r";     /* ends in CR: the CR of the delimiter line is another one */
    char body[512];
    size_t n = 0;
    const char *head = "--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n\r\n";
    memcpy(body + n, head, strlen(head)), n += strlen(head);
    memcpy(body + n, data, sizeof data - 1), n += sizeof data - 1;
    memcpy(body + n, "\r\n--b0undary--", 14), n += 14;
    multipart_form form;
    parse_ok(body, n, "b0undary", &form);
    assert_int_equal(form.n_parts, 1);
    assert_int_equal(form.parts[0].size, sizeof data - 1);
    assert_memory_equal(form.parts[0].data, data, sizeof data - 1);
    multipart_form_free(&form);
}

static void test_empty_parts_and_forms(void **state) {
    (void)state;
    static const char body[] =
        "--xyz\r\n"
        "Content-Disposition: form-data; name=\"prompt\"\r\n"
        "\r\n"
        "\r\n"
        "--xyz\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n"
        "Content-Type: application/octet-stream\r\n"
        "\r\n"
        "--xyz\r\n" /* the blank line's line end doubles as the delimiter's */
        "Content-Disposition: form-data; name=\"\"\r\n"
        "\r\n"
        "x\r\n"
        "--xyz--";
    multipart_form form;
    parse_ok(body, sizeof body - 1, "xyz", &form);
    assert_int_equal(form.n_parts, 3);
    expect_text(multipart_find(&form, "prompt"), "");
    const multipart_part *file = multipart_find(&form, "file");
    assert_int_equal(file->size, 0);
    assert_non_null(file->filename);
    assert_string_equal(file->filename, "");
    expect_text(multipart_find(&form, ""), "x");
    multipart_form_free(&form);

    parse_ok("--xyz--\r\n", 9, "xyz", &form);
    assert_int_equal(form.n_parts, 0);
    assert_null(multipart_find(&form, "file"));
    multipart_form_free(&form);
}

/* Preamble, epilogue, padding after delimiters, bare LF, header case,
 * escaped quotes, ignored headers and parameters. */
static void test_tolerated_forms(void **state) {
    (void)state;
    static const char body[] =
        "This is the preamble.\r\n--bb\r\n" /* "--bb" is not the delimiter */
        "--b  \t\r\n"
        "content-disposition: FORM-DATA; NAME=a; filename*=UTF-8''%e4%bc%9a.wav; filename=\"say \\\"hi\\\".wav\"\r\n"
        "CONTENT-TYPE:   audio/wav ; rate=16000  \r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "\r\n"
        "one\r\n"
        "--b\n"
        "Content-Disposition: form-data; name=\"lf\"\n"
        "\n"
        "two\n"
        "--b--  epilogue\r\n--b\r\nContent-Disposition: form-data; name=\"late\"\r\n\r\nx\r\n--b--\r\n";
    multipart_form form;
    parse_ok(body, sizeof body - 1, "b", &form);
    assert_int_equal(form.n_parts, 2);
    const multipart_part *a = multipart_find(&form, "a");
    expect_text(a, "one");
    assert_string_equal(a->filename, "say \"hi\".wav");
    assert_string_equal(a->content_type, "audio/wav ; rate=16000");
    expect_text(multipart_find(&form, "lf"), "two");
    assert_null(multipart_find(&form, "late"));
    multipart_form_free(&form);
}

static void test_missing_boundaries(void **state) {
    (void)state;
    static const char truncated[] =
        "--xyz\r\n"
        "Content-Disposition: form-data; name=\"model\"\r\n"
        "\r\n"
        "whisper-1\r\n"
        "--xyz\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
        "\r\n"
        "RIFF....";
    expect_error(truncated, sizeof truncated - 1, "xyz",
                 "multipart: no closing boundary (part 2 runs to the end of the body)");
    static const char no_close[] = "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--xyz";
    expect_error(no_close, sizeof no_close - 1, "xyz",
                 "multipart: no closing boundary (part 1 runs to the end of the body)");
    expect_error(truncated, sizeof truncated - 1, "other", "multipart: the boundary was not found in the body");
    expect_error("", 0, "xyz", "multipart: the body is empty");
    expect_error(NULL, 0, "xyz", "multipart: the body is empty");
    expect_error("--xyz\r\n", 7, "xyz", "multipart: part 1: the body ends inside the headers (no blank line)");
    expect_error("--xyz", 5, "xyz", "multipart: the boundary was not found in the body");
    expect_error("x", 1, "", "multipart: the boundary has 0 characters, RFC 2046 allows 1 to 70");
}

static size_t append_part(char *body, size_t n, int i) {
    return n + (size_t)sprintf(body + n, "--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\n%d\r\n", i, i);
}

static void test_part_limit(void **state) {
    (void)state;
    char *body = malloc(128 * (MULTIPART_MAX_PARTS + 2));
    size_t n = 0;
    for (int i = 0; i < MULTIPART_MAX_PARTS; i++) n = append_part(body, n, i);
    memcpy(body + n, "--b--", 5);
    multipart_form form;
    parse_ok(body, n + 5, "b", &form);
    assert_int_equal(form.n_parts, MULTIPART_MAX_PARTS);
    expect_text(multipart_find(&form, "f63"), "63");
    multipart_form_free(&form);
    n = append_part(body, n, MULTIPART_MAX_PARTS);
    memcpy(body + n, "--b--", 5);
    expect_error(body, n + 5, "b", "multipart: more than 64 parts");
    free(body);
}

static void test_header_limit(void **state) {
    (void)state;
    size_t cap = 2 * MULTIPART_MAX_HEADER_BYTES;
    char *body = malloc(cap);
    const char *head = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Padding: ";
    const char *tail = "\r\n\r\nx\r\n--b--";
    /* header block of exactly the limit (counting the blank line) is fine; one more byte is not */
    size_t fixed = strlen(head) - 5 + 2 + 2; /* header lines from after "--b\r\n", their CRLF, the blank line */
    for (int extra = 0; extra <= 1; extra++) {
        size_t pad = MULTIPART_MAX_HEADER_BYTES - fixed + (size_t)extra, n = 0;
        memcpy(body, head, strlen(head)), n = strlen(head);
        memset(body + n, 'p', pad), n += pad;
        memcpy(body + n, tail, strlen(tail)), n += strlen(tail);
        if (extra == 0) {
            multipart_form form;
            parse_ok(body, n, "b", &form);
            expect_text(multipart_find(&form, "a"), "x");
            multipart_form_free(&form);
        } else {
            expect_error(body, n, "b", "multipart: part 1: the headers are longer than 8192 bytes");
        }
    }
    free(body);
}

static void test_bad_headers(void **state) {
    (void)state;
    static const struct {
        const char *headers, *message;
    } bad[] = {
        {"Content-Type: text/plain\r\n", "multipart: part 2 has no Content-Disposition header"},
        {"Content-Disposition: form-data; filename=\"a.wav\"\r\n", "multipart: part 2 has no Content-Disposition name"},
        {"Content-Disposition: form-data\r\n", "multipart: part 2 has no Content-Disposition name"},
        {"Content-Disposition: attachment; name=\"a\"\r\n",
         "multipart: part 2: Content-Disposition is 'attachment', not form-data"},
        {"Content-Disposition: form-data; name=\"a\"; name=\"b\"\r\n", "multipart: part 2 has two name parameters"},
        {"Content-Disposition: form-data; name=a; filename=x; filename=y\r\n",
         "multipart: part 2 has two filename parameters"},
        {"Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"\r\n",
         "multipart: part 2 has two Content-Disposition headers"},
        {"Content-Disposition: form-data; name=\"a\"\r\nContent-Type: a\r\nContent-Type: b\r\n",
         "multipart: part 2 has two Content-Type headers"},
        {"Content-Disposition: form-data; name=\"a\r\n",
         "multipart: part 2: Content-Disposition: an unterminated quoted string"},
        {"Content-Disposition: form-data; name=\"a\" x\r\n",
         "multipart: part 2: Content-Disposition: expected ';' between parameters"},
        {"Content-Disposition: form-data; =a\r\n", "multipart: part 2: Content-Disposition: a parameter without a name"},
        {"Content-Disposition: form-data; name\r\n", "multipart: part 2: Content-Disposition: a parameter without '='"},
        {"Content-Disposition form-data; name=a\r\n", "multipart: part 2: a header line without ':'"},
        {"Content-Disposition: form-data;\r\n name=a\r\n", "multipart: part 2: folded header lines are not supported"},
        {"Content-Disposition: form-data; name=\"a\rb\"\r\n", "multipart: part 2: a header holds a control character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[512];
        size_t n = (size_t)sprintf(body, "--b\r\nContent-Disposition: form-data; name=\"ok\"\r\n\r\nfine\r\n--b\r\n");
        memcpy(body + n, bad[i].headers, strlen(bad[i].headers)), n += strlen(bad[i].headers);
        n += (size_t)sprintf(body + n, "\r\nx\r\n--b--\r\n");
        expect_error(body, n, "b", bad[i].message);
    }
    static const char nul[] = "--b\r\nContent-Disposition: form-data; name=\"a\0b\"\r\n\r\nx\r\n--b--";
    expect_error(nul, sizeof nul - 1, "b", "multipart: part 1: a header holds a control character");
}

/* Random bytes and mangled copies of a good body: refused or parsed, never
 * a crash (ASan runs watch the reads), and every part inside the body. */
static void test_garbage(void **state) {
    (void)state;
    static const char good[] =
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\nRIFF\r\n--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
        "whisper-1\r\n--b--\r\n";
    uint64_t rng = 42;
    uint8_t body[sizeof good];
    int parsed = 0;
    for (int round = 0; round < 20000; round++) {
        size_t n = sizeof good - 1;
        memcpy(body, good, n);
        int edits = 1 + (int)(test_rand_u64(&rng) % 4);
        for (int e = 0; e < edits; e++) body[test_rand_u64(&rng) % n] = (uint8_t)test_rand_u64(&rng);
        if (round % 2) n = test_rand_u64(&rng) % (n + 1);
        if (round % 1000 == 999)
            for (size_t i = 0; i < n; i++) body[i] = (uint8_t)test_rand_u64(&rng);
        multipart_form form;
        r1_error err = {{0}};
        if (multipart_parse(body, n, "b", &form, &err) == 0) {
            parsed++;
            for (int i = 0; i < form.n_parts; i++) {
                assert_true(form.parts[i].data >= body && form.parts[i].data + form.parts[i].size <= body + n);
                assert_non_null(form.parts[i].name);
            }
            multipart_form_free(&form);
        } else {
            assert_true(strncmp(err.message, "multipart: ", 11) == 0);
        }
    }
    printf("garbage: %d of 20000 mangled bodies still parsed\n", parsed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curl),
        cmocka_unit_test(test_openai_node),
        cmocka_unit_test(test_openai_python),
        cmocka_unit_test(test_boundary_from_content_type),
        cmocka_unit_test(test_binary_data),
        cmocka_unit_test(test_empty_parts_and_forms),
        cmocka_unit_test(test_tolerated_forms),
        cmocka_unit_test(test_missing_boundaries),
        cmocka_unit_test(test_part_limit),
        cmocka_unit_test(test_header_limit),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
