/*
 * test_audit_log.c - the tamper-evident audit log (src/server/audit_log.c,
 * audit_verify.c): the documented hmac recomputed here with OpenSSL; an
 * intact log verifies; an edited, deleted, reordered, inserted or replayed
 * line, a torn last line and a wrong key are each found at the right line
 * with the right cause; rotation by size chains the files (and a missing,
 * misordered or end-truncated file is found); reopening continues the
 * chain (and a torn tail starts a new file); content only when configured;
 * key files of random bytes and of text; many threads appending at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "server/audit_log.h"
#include "testutil.h"

static char dir[256], log_path[300], key_path[300];
static const char *KEY = "audit-key-0123456789abcdef0123456789";

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/r1-test-audit-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(log_path, sizeof log_path, "%s/audit.log", dir);
    snprintf(key_path, sizeof key_path, "%s/audit.key", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* Each test starts with an empty folder and the key file. */
static int per_test(void **state) {
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*", dir);
    assert_int_equal(system(cmd), 0);
    assert_true(test_write_file(key_path, KEY, strlen(KEY)));
    return 0;
}

static audit_log *open_log(uint64_t max_bytes, bool content, audit_fsync policy) {
    audit_config c = {.path = log_path, .key_file = key_path, .fsync = policy, .fsync_every = 3,
                      .max_bytes = max_bytes, .content = content};
    r1_error err = {{0}};
    audit_log *log = audit_open(&c, &err);
    if (!log) fail_msg("open: %s", err.message);
    return log;
}

static void append(audit_log *log, int i) {
    char rid[32];
    snprintf(rid, sizeof rid, "req-%d", i);
    audit_entry e = {.time_ms = 1800000000123LL + i, .request_id = rid, .subject = "alice", .auth = "jwt",
                     .scopes = "chat", .endpoint = "/v1/chat/completions", .model = "r1",
                     .prompt_tokens = 10 + i, .completion_tokens = 20, .status = 200, .latency_ms = 5,
                     .prompt = "hello\nworld", .completion = "hi"};
    r1_error err = {{0}};
    if (audit_append(log, &e, &err) != 0) fail_msg("append: %s", err.message);
}

/* Appends n records to the log as it is (continuing any chain on disk). */
static void append_records(int first, int n) {
    audit_log *log = open_log(0, false, AUDIT_FSYNC_NEVER);
    for (int i = first; i < first + n; i++) append(log, i);
    assert_int_equal(audit_close(log, NULL), 0);
}

static int per_test(void **state);

/* A new log of n records. */
static void write_records(int n) {
    per_test(NULL);
    append_records(0, n);
}

static void rotated(int64_t n, char *out, size_t cap) { snprintf(out, cap, "%.290s.%06lld", log_path, (long long)n); }

/* The rotated files in order, then the current one; returns the count. */
static int all_files(char names[][320], const char **paths, int max) {
    int n = 0;
    for (int i = 1; n < max - 1; i++) {
        rotated(i, names[n], sizeof names[n]);
        if (access(names[n], F_OK) != 0) break;
        paths[n] = names[n];
        n++;
    }
    paths[n++] = log_path;
    return n;
}

/* ---- lines of a file ---- */

typedef struct lines {
    char *text[64];
    int n;
} lines;

static lines read_lines(const char *path) {
    lines l = {.n = 0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[8192];
    while (fgets(buf, sizeof buf, f)) {
        assert_true(l.n < 64);
        l.text[l.n++] = strdup(buf);
    }
    fclose(f);
    return l;
}

static void write_lines(const char *path, lines *l) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < l->n; i++) fputs(l->text[i], f);
    fclose(f);
    for (int i = 0; i < l->n; i++) free(l->text[i]);
}

static void free_lines(lines *l) {
    for (int i = 0; i < l->n; i++) free(l->text[i]);
}

/* Verifies paths and expects ok (want NULL) or a break at file/line with
 * want in the reason. */
static audit_report verify(const char *const *paths, int n, const char *key, int bad_file, int64_t bad_line,
                           const char *want) {
    audit_report rep;
    int rc = audit_verify_files(paths, n, (const uint8_t *)key, strlen(key), &rep);
    if (!want && rc != 0) fail_msg("broken at file %d line %lld: %s", rep.bad_file, (long long)rep.bad_line, rep.reason);
    if (want) {
        if (rc != 1) fail_msg("rc %d (%s), expected a break: %s", rc, rep.reason, want);
        if (rep.bad_file != bad_file || rep.bad_line != bad_line || !strstr(rep.reason, want))
            fail_msg("file %d line %lld '%s'; expected file %d line %lld '%s'", rep.bad_file, (long long)rep.bad_line,
                     rep.reason, bad_file, (long long)bad_line, want);
    }
    return rep;
}

static audit_report verify_one(const char *key, int64_t bad_line, const char *want) {
    const char *paths[1] = {log_path};
    return verify(paths, 1, key, 0, bad_line, want);
}

/* ---- the format ---- */

static void test_intact_and_format(void **state) {
    (void)state;
    write_records(10);
    audit_report rep = verify_one(KEY, 0, NULL);
    assert_int_equal(rep.lines, 11);
    assert_int_equal(rep.records, 10);
    assert_int_equal(rep.files, 1);
    assert_string_equal(rep.note, "");
    lines l = read_lines(log_path);
    assert_int_equal(l.n, 11);
    /* the header, then records with the documented members */
    json_t *h = json_loads(l.text[0], 0, NULL), *r = json_loads(l.text[1], 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(h, "r1_audit")), 1);
    assert_int_equal(json_integer_value(json_object_get(h, "file")), 1);
    assert_int_equal(json_integer_value(json_object_get(h, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(h, "prev")),
                        "0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(json_integer_value(json_object_get(r, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "time")), "2027-01-15T08:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(r, "request_id")), "req-0");
    assert_string_equal(json_string_value(json_object_get(r, "subject")), "alice");
    assert_string_equal(json_string_value(json_object_get(r, "scopes")), "chat");
    assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
    assert_null(json_object_get(r, "prompt")); /* content off */
    /* the hmac, recomputed from the documented rule: HMAC(key, prev || bytes before ,"hmac") */
    uint8_t prev[32], mac[32];
    size_t mac_len = 0;
    const char *hh = json_string_value(json_object_get(h, "hmac"));
    for (int i = 0; i < 32; i++) sscanf(hh + 2 * i, "%2hhx", &prev[i]);
    const char *line = l.text[1];
    size_t body = (size_t)(strstr(line, ",\"hmac\":\"") - line);
    unsigned char *input = malloc(32 + body);
    memcpy(input, prev, 32);
    memcpy(input + 32, line, body);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, KEY, strlen(KEY), input, 32 + body, mac, 32, &mac_len));
    char hex[65];
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", mac[i]);
    assert_string_equal(json_string_value(json_object_get(r, "hmac")), hex);
    free(input);
    json_decref(h);
    json_decref(r);
    free_lines(&l);
}

/* ---- tampering ---- */

static void test_edited(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    char *p = strstr(l.text[4], "\"status\":200");
    memcpy(p, "\"status\":500", 12);
    write_lines(log_path, &l);
    verify_one(KEY, 5, "hmac mismatch (edited, or a line before it was removed)");
}

static void test_deleted(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    free(l.text[4]);
    memmove(&l.text[4], &l.text[5], sizeof l.text[0] * (size_t)(l.n - 5));
    l.n--;
    write_lines(log_path, &l);
    verify_one(KEY, 5, "seq 5 where 4 was expected (1 line(s) removed before it)");
}

static void test_deleted_two(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    free(l.text[4]), free(l.text[5]);
    memmove(&l.text[4], &l.text[6], sizeof l.text[0] * (size_t)(l.n - 6));
    l.n -= 2;
    write_lines(log_path, &l);
    verify_one(KEY, 5, "2 line(s) removed");
}

static void test_reordered(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    char *t = l.text[4];
    l.text[4] = l.text[5];
    l.text[5] = t;
    write_lines(log_path, &l);
    verify_one(KEY, 5, "out of order (this line belongs after line 6)");
}

static void test_moved_far(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    char *t = l.text[2]; /* seq 2 moved to the end */
    memmove(&l.text[2], &l.text[3], sizeof l.text[0] * (size_t)(l.n - 3));
    l.text[l.n - 1] = t;
    write_lines(log_path, &l);
    verify_one(KEY, 3, "out of order");
}

static void test_inserted(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    /* a forged line in the format, seq 5 and a made-up hmac */
    char forged[1024];
    snprintf(forged, sizeof forged,
             "{\"seq\":5,\"time\":\"2027-01-15T08:00:00.127Z\",\"request_id\":\"req-x\",\"subject\":\"mallory\","
             "\"status\":200,\"hmac\":\"%064d\"}\n", 0);
    memmove(&l.text[6], &l.text[5], sizeof l.text[0] * (size_t)(l.n - 5));
    l.text[5] = strdup(forged);
    l.n++;
    write_lines(log_path, &l);
    verify_one(KEY, 6, "a line was inserted here");
}

static void test_replayed(void **state) {
    (void)state;
    write_records(10);
    lines l = read_lines(log_path);
    memmove(&l.text[7], &l.text[6], sizeof l.text[0] * (size_t)(l.n - 6));
    l.text[6] = strdup(l.text[2]); /* a genuine line again, further on */
    l.n++;
    write_lines(log_path, &l);
    verify_one(KEY, 7, "a line was inserted here");
}

static void test_damaged_lines(void **state) {
    (void)state;
    write_records(6);
    lines l = read_lines(log_path);
    free(l.text[3]);
    l.text[3] = strdup("not json at all\n");
    write_lines(log_path, &l);
    verify_one(KEY, 4, "not an audit record");

    write_records(6);
    l = read_lines(log_path);
    char *h = strstr(l.text[2], ",\"hmac\":\"") + 9;
    for (int i = 0; i < 64; i++) h[i] = (char)(h[i] >= 'a' ? h[i] - 32 : h[i]); /* upper-case hex */
    write_lines(log_path, &l);
    verify_one(KEY, 3, "not an audit record");

    write_records(6);
    l = read_lines(log_path);
    l.text[l.n - 1][strlen(l.text[l.n - 1]) - 20] = '\0'; /* torn at the end */
    write_lines(log_path, &l);
    verify_one(KEY, 7, "incomplete line");

    write_records(3);
    l = read_lines(log_path);
    free(l.text[0]);
    l.text[0] = strdup("{\"seq\":0}\n");
    write_lines(log_path, &l);
    verify_one(KEY, 1, "not an r1 audit log");
    test_write_file(log_path, "", 0);
    verify_one(KEY, 1, "empty file");
}

static void test_wrong_key(void **state) {
    (void)state;
    write_records(3);
    verify_one("another-key-another-key-another-key", 1, "wrong key");
    audit_report rep;
    assert_int_equal(audit_verify("/nonexistent/audit.log", (const uint8_t *)KEY, strlen(KEY), &rep), -1);
    assert_non_null(strstr(rep.reason, "/nonexistent/audit.log"));
}

/* ---- rotation and reopening ---- */

static void test_rotation(void **state) {
    (void)state;
    audit_log *log = open_log(1200, false, AUDIT_FSYNC_EVERY_LINE);
    for (int i = 0; i < 12; i++) append(log, i);
    audit_close(log, NULL);
    char names[16][320];
    const char *all[16];
    int n = all_files(names, all, 16);
    assert_true(n >= 3);
    const char *f1 = all[0], *f2 = all[1];
    struct stat st;
    assert_int_equal(stat(f1, &st), 0);
    assert_true(st.st_size <= 1200);
    assert_int_equal(stat(f2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    audit_report rep = verify(all, n, KEY, 0, 0, NULL);
    assert_int_equal(rep.records, 12);
    assert_int_equal(rep.files, n);
    /* one rotated file alone verifies, with a note */
    const char *second[1] = {f2};
    rep = verify(second, 1, KEY, 0, 0, NULL);
    assert_non_null(strstr(rep.note, "the chain starts at file 2"));
    /* a file missing from the middle, or given out of order */
    const char *gap[2] = {f1, all[2]};
    verify(gap, 2, KEY, 1, 1, "does not continue");
    const char *swapped[2] = {f2, f1};
    verify(swapped, 2, KEY, 1, 1, "does not continue");
    /* the last line of the first file removed: seen at the second's header */
    lines l = read_lines(f1);
    free(l.text[--l.n]);
    write_lines(f1, &l);
    verify(all, n, KEY, 1, 1, "does not continue");
}

static void test_reopen_continues(void **state) {
    (void)state;
    write_records(3);
    append_records(3, 0); /* open and close: nothing added */
    audit_log *log = open_log(0, false, AUDIT_FSYNC_EVERY_N);
    for (int i = 3; i < 8; i++) append(log, i);
    char hex[65];
    audit_last_hmac(log, hex);
    audit_close(log, NULL);
    audit_report rep = verify_one(KEY, 0, NULL);
    assert_int_equal(rep.records, 8);
    lines l = read_lines(log_path);
    assert_int_equal(l.n, 9);
    assert_non_null(strstr(l.text[8], "\"seq\":8"));
    assert_non_null(strstr(l.text[8], hex));
    free_lines(&l);
}

static void test_reopen_after_torn_tail(void **state) {
    (void)state;
    write_records(4);
    lines l = read_lines(log_path);
    l.text[l.n - 1][30] = '\0'; /* the writer died mid-line */
    write_lines(log_path, &l);
    audit_log *log = open_log(0, false, AUDIT_FSYNC_NEVER);
    append(log, 99);
    audit_close(log, NULL);
    char f1[320];
    rotated(1, f1, sizeof f1);
    const char *old[1] = {f1}, *both[2] = {f1, log_path};
    verify(old, 1, KEY, 0, 5, "incomplete line");
    verify(both, 2, KEY, 0, 5, "incomplete line");
    /* the new file chains from the last complete line: seq 4 comes again */
    const char *cur[1] = {log_path};
    audit_report rep = verify(cur, 1, KEY, 0, 0, NULL);
    assert_int_equal(rep.records, 1);
    l = read_lines(log_path);
    assert_non_null(strstr(l.text[0], "\"file\":2,\"seq\":4"));
    free_lines(&l);
}

static void test_resume_from_rotated(void **state) {
    (void)state;
    audit_log *log = open_log(900, false, AUDIT_FSYNC_NEVER);
    for (int i = 0; i < 6; i++) append(log, i);
    audit_close(log, NULL);
    unlink(log_path); /* as if lost between rename and create */
    log = open_log(900, false, AUDIT_FSYNC_NEVER);
    append(log, 6);
    audit_close(log, NULL);
    lines l = read_lines(log_path);
    assert_non_null(strstr(l.text[0], "\"seq\":"));
    json_t *h = json_loads(l.text[0], 0, NULL);
    int64_t file_no = json_integer_value(json_object_get(h, "file"));
    json_decref(h);
    free_lines(&l);
    assert_true(file_no >= 2);
    char f[320];
    rotated(file_no - 1, f, sizeof f);
    const char *pair[2] = {f, log_path};
    verify(pair, 2, KEY, 0, 0, NULL);
}

/* ---- content, errors, threads ---- */

static void test_content(void **state) {
    (void)state;
    audit_log *log = open_log(0, true, AUDIT_FSYNC_NEVER);
    append(log, 0);
    audit_entry odd = {.time_ms = 1, .request_id = "bad\xff", .endpoint = "/v1/completions",
                       .prompt = "line1\nline2\"quoted\"", .status = 400};
    assert_int_equal(audit_append(log, &odd, NULL), 0);
    audit_close(log, NULL);
    verify_one(KEY, 0, NULL);
    lines l = read_lines(log_path);
    assert_int_equal(l.n, 3); /* newlines in content stay inside their line */
    json_t *r1 = json_loads(l.text[1], 0, NULL), *r2 = json_loads(l.text[2], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(r1, "prompt")), "hello\nworld");
    assert_string_equal(json_string_value(json_object_get(r1, "completion")), "hi");
    assert_string_equal(json_string_value(json_object_get(r2, "request_id")), "(not UTF-8)");
    assert_true(json_is_null(json_object_get(r2, "subject")));
    assert_true(json_is_null(json_object_get(r2, "completion")));
    json_decref(r1);
    json_decref(r2);
    free_lines(&l);
}

static void test_open_errors(void **state) {
    (void)state;
    r1_error err = {{0}};
    assert_true(test_write_file(key_path, "short-key\n", 10));
    audit_config c = {.path = log_path, .key_file = key_path};
    assert_null(audit_open(&c, &err));
    assert_non_null(strstr(err.message, "at least 32"));
    assert_null(strstr(err.message, "short-key"));
    assert_true(test_write_file(key_path, KEY, strlen(KEY)));
    assert_true(test_write_file(log_path, "garbage\n", 8));
    assert_null(audit_open(&c, &err));
    assert_non_null(strstr(err.message, "not an r1 audit log"));
    c.path = "/nonexistent/dir/audit.log";
    assert_null(audit_open(&c, &err));
    assert_non_null(strstr(err.message, "/nonexistent/dir/audit.log"));
}

/* A key file of random bytes is the key byte for byte, even when its last
 * byte is a newline (a 32-byte key from /dev/urandom ends in 0x0a one time
 * in 256, and used to lose that byte and fall below the minimum); a text
 * key loses its trailing newline. */
static void test_key_file_forms(void **state) {
    (void)state;
    uint8_t binary[32];
    for (int i = 0; i < 32; i++) binary[i] = (uint8_t)(i * 37 + 200);
    binary[5] = 0;
    binary[31] = '\n';
    assert_true(test_write_file(key_path, (const char *)binary, sizeof binary));
    append_records(0, 3);
    const char *paths[1] = {log_path};
    audit_report rep;
    assert_int_equal(audit_verify_files(paths, 1, binary, sizeof binary, &rep), 0);
    assert_int_equal(audit_verify_files(paths, 1, binary, sizeof binary - 1, &rep), 1);
    assert_non_null(strstr(rep.reason, "wrong key"));

    /* printable bytes but one control character: not text, kept whole */
    per_test(NULL);
    const char *with_control = "abcdefghijklmnopqrstuvwxyz01234\x01\n";
    assert_true(test_write_file(key_path, with_control, strlen(with_control)));
    append_records(0, 3);
    verify_one(with_control, 0, NULL);
    assert_int_equal(audit_verify_files(paths, 1, (const uint8_t *)with_control, strlen(with_control) - 1, &rep), 1);

    per_test(NULL);
    char text[64];
    snprintf(text, sizeof text, "%s \r\n", KEY);
    assert_true(test_write_file(key_path, text, strlen(text)));
    append_records(0, 3);
    verify_one(KEY, 0, NULL);

    /* non-ASCII text (UTF-8) with a trailing tab: text, the tab goes */
    per_test(NULL);
    const char *utf8_key = "cl\xc3\xa9-secr\xc3\xa8te-\xe5\xaf\x86\xe9\x92\xa5-0123456789abcdef";
    snprintf(text, sizeof text, "%s\t", utf8_key);
    assert_true(test_write_file(key_path, text, strlen(text)));
    append_records(0, 3);
    verify_one(utf8_key, 0, NULL);
}

typedef struct writer {
    audit_log *log;
    int base;
} writer;

static void *write_many(void *arg) {
    writer *w = arg;
    for (int i = 0; i < 150; i++) append(w->log, w->base + i);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    audit_log *log = open_log(20000, false, AUDIT_FSYNC_EVERY_N);
    writer w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (writer){log, i * 1000};
        pthread_create(&th[i], NULL, write_many, &w[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    audit_close(log, NULL);
    char names[64][320];
    const char *paths[64];
    int n = all_files(names, paths, 64);
    audit_report rep = verify(paths, n, KEY, 0, 0, NULL);
    assert_int_equal(rep.records, 600);
    assert_true(n > 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_intact_and_format, per_test),
        cmocka_unit_test_setup(test_edited, per_test),
        cmocka_unit_test_setup(test_deleted, per_test),
        cmocka_unit_test_setup(test_deleted_two, per_test),
        cmocka_unit_test_setup(test_reordered, per_test),
        cmocka_unit_test_setup(test_moved_far, per_test),
        cmocka_unit_test_setup(test_inserted, per_test),
        cmocka_unit_test_setup(test_replayed, per_test),
        cmocka_unit_test_setup(test_damaged_lines, per_test),
        cmocka_unit_test_setup(test_wrong_key, per_test),
        cmocka_unit_test_setup(test_rotation, per_test),
        cmocka_unit_test_setup(test_reopen_continues, per_test),
        cmocka_unit_test_setup(test_reopen_after_torn_tail, per_test),
        cmocka_unit_test_setup(test_resume_from_rotated, per_test),
        cmocka_unit_test_setup(test_content, per_test),
        cmocka_unit_test_setup(test_open_errors, per_test),
        cmocka_unit_test_setup(test_key_file_forms, per_test),
        cmocka_unit_test_setup(test_threads, per_test),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
