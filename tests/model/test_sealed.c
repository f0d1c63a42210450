/*
 * test_sealed.c - sealed model files (model/sealed.h).
 *
 * Round trips are byte-exact at the sizes where chunking can go wrong (0, 1,
 * a chunk less one, a chunk, a chunk plus one, several chunks), through the
 * in-memory reader and the file writer. Every kind of damage - a cut
 * anywhere, a flipped byte in each header field, in the first, a middle and
 * the last chunk and in a tag, chunks swapped, duplicated or taken from
 * another sealing, a wrong key - is refused with a message naming the
 * problem (and the chunk). Keys parse from raw and hex forms only, and no
 * message ever quotes them. A model loaded from its sealed file gives
 * exactly the logits of the plain file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/random_model.h"
#include "model/sealed.h"
#include "model/sealed_internal.h"
#include "r1.h"
#include "testutil.h"

#define CHUNK 4096u

static char dir[128];

static const char *tmp_path(const char *name) {
    static char paths[4][256];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/r1-test-sealed-%d", (int)getpid());
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static r1_seal_key test_key(uint8_t seed) {
    uint8_t raw[32];
    for (int i = 0; i < 32; i++) raw[i] = (uint8_t)(seed * 31 + i * 7);
    r1_seal_key key;
    r1_error err;
    if (r1_seal_key_parse(raw, sizeof raw, "test key", &key, &err) != 0) fail_msg("%s", err.message);
    return key;
}

static uint8_t *random_bytes(size_t n, uint64_t seed) {
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)test_rand_u64(&seed);
    return p;
}

/* Seals data (n bytes) with chunks of `chunk`; returns the sealed bytes. */
static uint8_t *seal_bytes(const uint8_t *data, size_t n, uint32_t chunk, const r1_seal_key *key, int threads,
                           size_t *sealed_size) {
    const char *in = tmp_path("plain.bin"), *out = tmp_path("sealed.bin");
    assert_true(test_write_file(in, data, n));
    r1_seal_params p = {.chunk_size = chunk, .label = "test-label", .n_threads = threads};
    r1_error err;
    if (r1_seal_file(in, out, key, &p, &err) != 0) fail_msg("%s", err.message);
    uint8_t *sealed = test_read_file(out, sealed_size);
    assert_non_null(sealed);
    return sealed;
}

/* The refusal message of the in-memory reader, or "" when it decrypts. */
static const char *try_open(const uint8_t *file, size_t size, const r1_seal_key *key) {
    static r1_error err;
    r1_secure_buffer b;
    if (r1_seal_decrypt_buffer(file, size, "model.sealed", key, 2, &b, &err) != 0) return err.message;
    r1_secure_buffer_free(&b);
    return "";
}

static void expect_refused(const uint8_t *file, size_t size, const r1_seal_key *key, const char *want) {
    const char *msg = try_open(file, size, key);
    if (!strstr(msg, want)) fail_msg("expected a message with \"%s\", got \"%s\"", want, msg);
    assert_non_null(strstr(msg, "model.sealed: "));
    assert_null(strchr(msg, '\n'));
}

/* ---- round trips ---- */

static void round_trip(size_t n, int threads) {
    r1_seal_key key = test_key(1);
    uint8_t *plain = random_bytes(n, n + 1);
    size_t sealed_size;
    uint8_t *sealed = seal_bytes(plain, n, CHUNK, &key, threads, &sealed_size);
    uint64_t chunks = n == 0 ? 1 : (n - 1) / CHUNK + 1;
    assert_int_equal(sealed_size, R1_SEAL_HEADER_BYTES + n + chunks * R1_SEAL_TAG_BYTES);
    r1_secure_buffer b;
    r1_error err;
    if (r1_seal_decrypt_buffer(sealed, sealed_size, "rt", &key, threads, &b, &err) != 0) fail_msg("%s", err.message);
    assert_int_equal(b.size, n);
    assert_true(n == 0 || memcmp(b.data, plain, n) == 0);
    r1_secure_buffer_free(&b);
    /* the streaming opener writes the same bytes back */
    uint8_t sha[32];
    if (r1_seal_open_file(tmp_path("sealed.bin"), tmp_path("restored.bin"), &key, threads, sha, &err) != 0)
        fail_msg("%s", err.message);
    size_t restored_size;
    uint8_t *restored = test_read_file(tmp_path("restored.bin"), &restored_size);
    assert_int_equal(restored_size, n);
    assert_true(n == 0 || memcmp(restored, plain, n) == 0);
    free(restored);
    free(sealed);
    free(plain);
}

static void test_round_trip_sizes(void **state) {
    (void)state;
    const size_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17, 8 * CHUNK};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        round_trip(sizes[i], 2);
        round_trip(sizes[i], 3); /* more threads than some files have chunks */
    }
}

static void test_round_trip_default_chunk_and_batches(void **state) {
    (void)state;
    /* 12 MiB in 4 KiB chunks: 12 batches of 256 chunks through the double-buffered opener */
    r1_seal_key key = test_key(2);
    size_t n = 3 * CHUNK * 1024 + 5;
    uint8_t *plain = random_bytes(n, 9);
    size_t sealed_size;
    uint8_t *sealed = seal_bytes(plain, n, 0, &key, 0, &sealed_size);
    r1_seal_header h;
    r1_error err;
    assert_int_equal(r1_seal_parse_header(sealed, sealed_size, "x", &h, &err), 0);
    assert_int_equal(h.chunk_size, R1_SEAL_DEFAULT_CHUNK);
    assert_string_equal(h.label, "test-label");
    free(sealed);
    sealed = seal_bytes(plain, n, CHUNK, &key, 0, &sealed_size);
    if (r1_seal_open_file(tmp_path("sealed.bin"), tmp_path("restored.bin"), &key, 2, NULL, &err) != 0)
        fail_msg("%s", err.message);
    size_t got;
    uint8_t *restored = test_read_file(tmp_path("restored.bin"), &got);
    assert_int_equal(got, n);
    assert_memory_equal(restored, plain, n);
    free(restored);
    free(sealed);
    free(plain);
}

static void test_header_fields(void **state) {
    (void)state;
    r1_seal_key key = test_key(3);
    uint8_t *plain = random_bytes(3 * CHUNK, 5);
    size_t size;
    uint8_t *sealed = seal_bytes(plain, 3 * CHUNK, CHUNK, &key, 2, &size);
    r1_seal_header h;
    r1_error err;
    assert_int_equal(r1_seal_parse_header(sealed, size, "x", &h, &err), 0);
    assert_memory_equal(sealed, "R1SEAL\0\0", 8);
    assert_int_equal(h.version, 1);
    assert_int_equal(h.chunk_size, CHUNK);
    assert_int_equal(h.plain_size, 3 * CHUNK);
    assert_int_equal(h.n_chunks, 3);
    assert_memory_equal(h.key_id, key.id, sizeof key.id);
    assert_int_equal(r1_seal_file_size(&h), size);
    uint8_t sha[32];
    assert_int_equal(r1_sha256_file(tmp_path("plain.bin"), sha, &err), 0);
    assert_memory_equal(h.sha256, sha, 32);
    free(sealed);
    free(plain);
}

/* ---- damage ---- */

#define N_CHUNKS 6
#define PLAIN_SIZE (5 * CHUNK + 17)
#define FRAMED (CHUNK + R1_SEAL_TAG_BYTES)

static uint8_t *sealed_sample(const r1_seal_key *key, size_t *size) {
    uint8_t *plain = random_bytes(PLAIN_SIZE, 77);
    uint8_t *sealed = seal_bytes(plain, PLAIN_SIZE, CHUNK, key, 2, size);
    free(plain);
    assert_int_equal(*size, R1_SEAL_HEADER_BYTES + PLAIN_SIZE + N_CHUNKS * R1_SEAL_TAG_BYTES);
    return sealed;
}

static size_t chunk_offset(int i) { return R1_SEAL_HEADER_BYTES + (size_t)i * FRAMED; }

static void test_truncation(void **state) {
    (void)state;
    r1_seal_key key = test_key(4);
    size_t size;
    uint8_t *f = sealed_sample(&key, &size);
    assert_string_equal(try_open(f, size, &key), "");
    expect_refused(f, 0, &key, "not a sealed model file");
    expect_refused(f, 5, &key, "not a sealed model file");
    expect_refused(f, 100, &key, "file is 100 bytes, too small for a sealed header (256 bytes)");
    expect_refused(f, R1_SEAL_HEADER_BYTES, &key, "truncated: 6 of 6 chunks missing");
    expect_refused(f, chunk_offset(0) + 100, &key, "truncated: 6 of 6 chunks missing");
    expect_refused(f, chunk_offset(2), &key, "truncated: 4 of 6 chunks missing");
    expect_refused(f, chunk_offset(3) + 7, &key, "truncated: 3 of 6 chunks missing");
    expect_refused(f, chunk_offset(5), &key, "truncated: 1 of 6 chunks missing"); /* the whole last chunk */
    expect_refused(f, size - 1, &key, "truncated: 1 of 6 chunks missing");      /* one byte of the last tag */
    free(f);
}

static void flip_bits_and_expect(const uint8_t *f, size_t size, const r1_seal_key *key, size_t at, uint8_t mask,
                                 const char *want) {
    uint8_t *copy = malloc(size);
    memcpy(copy, f, size);
    copy[at] ^= mask;
    expect_refused(copy, size, key, want);
    free(copy);
}

static void flip_and_expect(const uint8_t *f, size_t size, const r1_seal_key *key, size_t at, const char *want) {
    flip_bits_and_expect(f, size, key, at, 0x01, want);
}

static void test_flipped_header_bytes(void **state) {
    (void)state;
    r1_seal_key key = test_key(5);
    size_t size;
    uint8_t *f = sealed_sample(&key, &size);
    flip_and_expect(f, size, &key, 0, "not a sealed model file");
    flip_and_expect(f, size, &key, SEAL_OFF_VERSION, "sealed format version 0 is not supported");
    flip_and_expect(f, size, &key, SEAL_OFF_HEADER_SIZE, "header size 257, expected 256");
    flip_and_expect(f, size, &key, SEAL_OFF_CHUNK_SIZE, "chunk size 4097 is not a power of two");
    flip_and_expect(f, size, &key, SEAL_OFF_FLAGS, "unknown flags 0x00000001");
    /* 20497 -> 20496 bytes: still 6 chunks, so only the header tag can tell */
    flip_and_expect(f, size, &key, SEAL_OFF_PLAIN_SIZE, "the header failed authentication");
    flip_bits_and_expect(f, size, &key, SEAL_OFF_PLAIN_SIZE + 1, 0x10,
                         "header: 6 chunks, but 16401 bytes in chunks of 4096 make 5");
    flip_and_expect(f, size, &key, SEAL_OFF_N_CHUNKS, "header: 7 chunks, but 20497 bytes in chunks of 4096 make 6");
    flip_and_expect(f, size, &key, SEAL_OFF_SHA256 + 31, "the header failed authentication");
    flip_and_expect(f, size, &key, SEAL_OFF_KEY_ID + 3, "wrong key");
    flip_and_expect(f, size, &key, SEAL_OFF_NONCE + 7, "the header failed authentication");
    flip_and_expect(f, size, &key, SEAL_OFF_LABEL, "the header failed authentication");
    flip_and_expect(f, size, &key, SEAL_OFF_LABEL + 20, "the key label is not printable text");
    flip_and_expect(f, size, &key, SEAL_OFF_RESERVED + 5, "reserved bytes 216-239 are not zero");
    flip_and_expect(f, size, &key, SEAL_OFF_TAG + 15, "the header failed authentication");
    free(f);
}

static void test_flipped_chunk_bytes(void **state) {
    (void)state;
    r1_seal_key key = test_key(6);
    size_t size;
    uint8_t *f = sealed_sample(&key, &size);
    const char *first = "chunk 1 of 6 failed authentication (tampered, truncated, or the wrong key)";
    flip_and_expect(f, size, &key, chunk_offset(0), first);
    flip_and_expect(f, size, &key, chunk_offset(0) + CHUNK - 1, first);
    flip_and_expect(f, size, &key, chunk_offset(0) + CHUNK, first); /* its tag */
    flip_and_expect(f, size, &key, chunk_offset(3) + 1000, "chunk 4 of 6 failed authentication");
    flip_and_expect(f, size, &key, chunk_offset(5), "chunk 6 of 6 failed authentication");
    flip_and_expect(f, size, &key, size - 1, "chunk 6 of 6 failed authentication"); /* the last tag */
    free(f);
}

static void test_reordered_and_duplicated_chunks(void **state) {
    (void)state;
    r1_seal_key key = test_key(7);
    size_t size;
    uint8_t *f = sealed_sample(&key, &size);
    uint8_t *g = malloc(size + FRAMED);
    /* chunks 2 and 3 swapped: the first of them to fail is named */
    memcpy(g, f, size);
    memcpy(g + chunk_offset(1), f + chunk_offset(2), FRAMED);
    memcpy(g + chunk_offset(2), f + chunk_offset(1), FRAMED);
    expect_refused(g, size, &key, "chunk 2 of 6 failed authentication");
    /* chunk 3 copied over chunk 4 */
    memcpy(g, f, size);
    memcpy(g + chunk_offset(3), f + chunk_offset(2), FRAMED);
    expect_refused(g, size, &key, "chunk 4 of 6 failed authentication");
    /* chunk 3 inserted again after itself: the file grows by one chunk */
    memcpy(g, f, chunk_offset(3));
    memcpy(g + chunk_offset(3), f + chunk_offset(2), FRAMED);
    memcpy(g + chunk_offset(4), f + chunk_offset(3), size - chunk_offset(3));
    expect_refused(g, size + FRAMED, &key, "4112 bytes after the last of the 6 chunks");
    /* the last chunk dropped */
    expect_refused(f, chunk_offset(5), &key, "truncated: 1 of 6 chunks missing");
    free(g);
    free(f);
}

static void test_chunks_from_another_sealing(void **state) {
    (void)state;
    r1_seal_key key = test_key(8);
    size_t size, size2;
    uint8_t *f = sealed_sample(&key, &size);
    uint8_t *f2 = sealed_sample(&key, &size2); /* same plaintext and key, a new random nonce prefix */
    assert_int_equal(size, size2);
    assert_memory_not_equal(f + SEAL_OFF_NONCE, f2 + SEAL_OFF_NONCE, 8);
    uint8_t *g = malloc(size);
    memcpy(g, f, size);
    memcpy(g + chunk_offset(2), f2 + chunk_offset(2), FRAMED);
    expect_refused(g, size, &key, "chunk 3 of 6 failed authentication");
    memcpy(g, f2, R1_SEAL_HEADER_BYTES); /* the other header over these chunks */
    memcpy(g + R1_SEAL_HEADER_BYTES, f + R1_SEAL_HEADER_BYTES, size - R1_SEAL_HEADER_BYTES);
    expect_refused(g, size, &key, "chunk 1 of 6 failed authentication");
    free(g);
    free(f2);
    free(f);
}

static void test_wrong_key(void **state) {
    (void)state;
    r1_seal_key key = test_key(9), other = test_key(10);
    size_t size;
    uint8_t *f = sealed_sample(&key, &size);
    char want[128], have[17], sealed_with[17];
    r1_seal_key_id_hex(other.id, have);
    r1_seal_key_id_hex(key.id, sealed_with);
    snprintf(want, sizeof want, "wrong key (key id %s, the file was sealed with %s, labelled 'test-label')", have,
             sealed_with);
    expect_refused(f, size, &other, want);
    /* a wrong key that claims the right id (a forged header field) still fails the header tag */
    memcpy(other.id, key.id, sizeof key.id);
    expect_refused(f, size, &other, "the header failed authentication");
    free(f);
}

/* A writer that put a wrong plaintext hash in an otherwise valid file: the
 * loader (tags only) accepts it, opening and verifying (which hash) refuse. */
static void test_wrong_plaintext_hash_is_caught_by_open(void **state) {
    (void)state;
    r1_seal_key key = test_key(11);
    size_t size;
    uint8_t *f = sealed_sample(&key, &size);
    r1_seal_header h;
    r1_error err;
    assert_int_equal(r1_seal_parse_header(f, size, "x", &h, &err), 0);
    f[SEAL_OFF_SHA256] ^= 0x80;
    seal_crypto c;
    assert_int_equal(seal_crypto_init(&c, &key, &h, &err), 0);
    uint8_t tag[16];
    assert_int_equal(seal_header_tag(&c, f, tag, false), 0);
    memcpy(f + SEAL_OFF_TAG, tag, 16);
    assert_int_equal(seal_bind_header(&c, f), 0);
    r1_secure_buffer plain;
    assert_int_equal(r1_seal_decrypt_buffer(f, size, "x", &key, 1, &plain, &err), -1); /* chunks bound to the old header */
    /* re-encrypt the chunks under the new header, as a faulty writer would
     * (sealed_sample left the plaintext in plain.bin) */
    size_t got;
    uint8_t *orig = test_read_file(tmp_path("plain.bin"), &got);
    assert_int_equal(got, PLAIN_SIZE);
    assert_int_equal(seal_run_chunks(&c, NULL, true, 0, N_CHUNKS, orig, f + R1_SEAL_HEADER_BYTES), -1);
    seal_crypto_free(&c);
    assert_int_equal(r1_seal_decrypt_buffer(f, size, "x", &key, 1, &plain, &err), 0);
    r1_secure_buffer_free(&plain);
    assert_true(test_write_file(tmp_path("bad-hash.sealed"), f, size));
    assert_int_equal(r1_seal_open_file(tmp_path("bad-hash.sealed"), NULL, &key, 2, NULL, &err), -1);
    assert_non_null(strstr(err.message, "SHA-256 differs from the one in the header"));
    free(orig);
    free(f);
}

/* ---- sealing's own refusals ---- */

static void test_seal_refusals(void **state) {
    (void)state;
    r1_seal_key key = test_key(12);
    r1_error err;
    assert_true(test_write_file(tmp_path("in.bin"), "hello", 5));
    r1_seal_params p = {.chunk_size = 5000};
    assert_int_equal(r1_seal_file(tmp_path("in.bin"), tmp_path("o.sealed"), &key, &p, &err), -1);
    assert_non_null(strstr(err.message, "chunk size 5000 is not a power of two"));
    p = (r1_seal_params){.chunk_size = 2048};
    assert_int_equal(r1_seal_file(tmp_path("in.bin"), tmp_path("o.sealed"), &key, &p, &err), -1);
    p = (r1_seal_params){.label = "tab\there"};
    assert_int_equal(r1_seal_file(tmp_path("in.bin"), tmp_path("o.sealed"), &key, &p, &err), -1);
    assert_non_null(strstr(err.message, "printable"));
    assert_int_equal(r1_seal_file(tmp_path("in.bin"), tmp_path("o.sealed"), &key, NULL, &err), 0);
    assert_int_equal(r1_seal_file(tmp_path("o.sealed"), tmp_path("o2.sealed"), &key, NULL, &err), -1);
    assert_non_null(strstr(err.message, "already a sealed file"));
    assert_int_equal(r1_seal_file(tmp_path("missing.bin"), tmp_path("o3.sealed"), &key, NULL, &err), -1);
    assert_non_null(strstr(err.message, "missing.bin: cannot open"));
    assert_int_equal(access(tmp_path("o3.sealed"), F_OK), -1);
    assert_int_equal(r1_seal_probe_file(tmp_path("o.sealed")), 1);
    assert_int_equal(r1_seal_probe_file(tmp_path("in.bin")), 0);
}

/* ---- keys ---- */

static void expect_key_refused(const char *data, size_t len, const char *want) {
    r1_seal_key key;
    r1_error err;
    assert_int_equal(r1_seal_key_parse((const uint8_t *)data, len, "k.key", &key, &err), -1);
    if (!strstr(err.message, want)) fail_msg("expected \"%s\" in \"%s\"", want, err.message);
    if (len >= 8) assert_null(strstr(err.message, "0123456789")); /* never quotes the key */
}

static void test_key_forms(void **state) {
    (void)state;
    r1_seal_key raw = test_key(13), hex;
    char text[80];
    for (int i = 0; i < 32; i++) snprintf(text + 2 * i, 3, "%02X", raw.bytes[i]);
    r1_error err;
    assert_int_equal(r1_seal_key_parse((const uint8_t *)text, 64, "k", &hex, &err), 0);
    assert_memory_equal(hex.bytes, raw.bytes, 32);
    assert_memory_equal(hex.id, raw.id, 8);
    strcat(text, "\n");
    assert_int_equal(r1_seal_key_parse((const uint8_t *)text, 65, "k", &hex, &err), 0);
    assert_memory_equal(hex.bytes, raw.bytes, 32);
    expect_key_refused("", 0, "a key is 32 raw bytes or 64 hex digits (and an optional newline); this one is 0 bytes");
    expect_key_refused("0123456789abcdef0123456789abcdef0", 33, "this one is 33 bytes");
    expect_key_refused("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", 64, "this one is 64 bytes");
    expect_key_refused("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg", 64,
                       "character 64 is not");
    r1_seal_key a = test_key(14), b = test_key(15);
    assert_memory_not_equal(a.id, b.id, 8);
    r1_seal_key_wipe(&a);
    for (int i = 0; i < 32; i++) assert_int_equal(a.bytes[i], 0);
}

static void test_key_sources(void **state) {
    (void)state;
    r1_seal_key want = test_key(16), got;
    r1_error err;
    assert_true(test_write_file(tmp_path("k.raw"), want.bytes, 32));
    chmod(tmp_path("k.raw"), 0600); /* else a warning says others can read it */
    assert_int_equal(r1_seal_key_load_file(tmp_path("k.raw"), &got, &err), 0);
    assert_memory_equal(got.bytes, want.bytes, 32);
    assert_int_equal(r1_seal_key_load_file(tmp_path("nope.key"), &got, &err), -1);
    assert_non_null(strstr(err.message, "nope.key: cannot open"));
    assert_int_equal(r1_seal_key_load_file(dir, &got, &err), -1);
    assert_non_null(strstr(err.message, "is a directory"));
    char cmd[512], hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", want.bytes[i]);
    snprintf(cmd, sizeof cmd, "echo %s", hex);
    assert_int_equal(r1_seal_key_from_command(cmd, &got, &err), 0);
    assert_memory_equal(got.bytes, want.bytes, 32);
    assert_int_equal(r1_seal_key_from_command("echo secret-token >/dev/null; exit 3", &got, &err), -1);
    assert_string_equal(err.message, "--key-command: exited with status 3");
    assert_int_equal(r1_seal_key_from_command("echo short", &got, &err), -1);
    assert_non_null(strstr(err.message, "--key-command output: a key is 32 raw bytes"));
    /* the order: bytes, file, command, then R1_MODEL_KEY_FILE */
    r1_seal_key_source none = {0}, from_file = {.file = tmp_path("k.raw"), .command = "exit 1"};
    unsetenv("R1_MODEL_KEY_FILE");
    assert_int_equal(r1_seal_key_resolve(&none, &got, &err), 0);
    assert_int_equal(r1_seal_key_resolve(&from_file, &got, &err), 1);
    setenv("R1_MODEL_KEY_FILE", tmp_path("k.raw"), 1);
    assert_int_equal(r1_seal_key_resolve(&none, &got, &err), 1);
    assert_memory_equal(got.bytes, want.bytes, 32);
    setenv("R1_MODEL_KEY_FILE", tmp_path("nope.key"), 1);
    assert_int_equal(r1_seal_key_resolve(&none, &got, &err), -1);
    assert_non_null(strstr(err.message, "R1_MODEL_KEY_FILE: key file"));
    unsetenv("R1_MODEL_KEY_FILE");
    r1_seal_key g1, g2;
    assert_int_equal(r1_seal_key_generate(&g1, &err), 0);
    assert_int_equal(r1_seal_key_generate(&g2, &err), 0);
    assert_memory_not_equal(g1.bytes, g2.bytes, 32);
}

/* ---- a model from its sealed file ---- */

static float *model_logits(const char *path, const r1_model_params *mp, const int32_t *tokens, int n, int *n_vocab) {
    r1_model *model;
    r1_error err;
    if (r1_model_load_ex(path, mp, &model, &err) != 0) fail_msg("%s", err.message);
    r1_model_info info;
    r1_model_get_info(model, &info);
    *n_vocab = info.n_vocab;
    r1_context_params cp = r1_context_default_params();
    cp.n_threads = 2;
    r1_context *ctx;
    if (r1_context_new(model, &cp, &ctx, &err) != 0) fail_msg("%s", err.message);
    int32_t pos[16], seq[16] = {0};
    int8_t want[16];
    for (int i = 0; i < n; i++) pos[i] = i, want[i] = 1;
    r1_batch b = {n, tokens, pos, seq, want};
    if (r1_decode(ctx, &b, &err) != 0) fail_msg("%s", err.message);
    float *out = malloc((size_t)n * (size_t)info.n_vocab * sizeof(float));
    for (int i = 0; i < n; i++)
        memcpy(out + (size_t)i * info.n_vocab, r1_get_logits(ctx, i), (size_t)info.n_vocab * sizeof(float));
    r1_context_free(ctx);
    r1_model_free(model);
    return out;
}

static void test_sealed_model_same_logits(void **state) {
    (void)state;
    const char *plain = tmp_path("tiny.gguf"), *sealed = tmp_path("tiny.sealed");
    r1_error err;
    if (r1_model_generate(r1_model_shape_find("tiny-llama"), "q4_k_m", 5, plain, 2, &err) != 0)
        fail_msg("%s", err.message);
    r1_seal_key key = test_key(17);
    r1_seal_params sp = {.chunk_size = 64 << 10};
    if (r1_seal_file(plain, sealed, &key, &sp, &err) != 0) fail_msg("%s", err.message);
    const int32_t tokens[] = {1, 17, 300, 42, 7, 99};
    int n_vocab, n_vocab2;
    r1_model_params plain_params = {.load = R1_LOAD_COPY};
    r1_model_params sealed_params = {.key = key.bytes, .key_len = 32, .n_threads = 2};
    float *a = model_logits(plain, &plain_params, tokens, 6, &n_vocab);
    float *b = model_logits(sealed, &sealed_params, tokens, 6, &n_vocab2);
    assert_int_equal(n_vocab, n_vocab2);
    assert_memory_equal(a, b, 6 * (size_t)n_vocab * sizeof(float));
    free(a);
    free(b);
    /* without a key, and with another, the loader says what is wrong */
    r1_model *m;
    unsetenv("R1_MODEL_KEY_FILE");
    assert_int_equal(r1_model_load(sealed, &m, &err), -1);
    char want[300];
    snprintf(want, sizeof want, "%s is a sealed model file: give its key (--key-file", sealed);
    assert_non_null(strstr(err.message, want));
    r1_seal_key other = test_key(18);
    r1_model_params wrong = {.key = other.bytes, .key_len = 32};
    assert_int_equal(r1_model_load_ex(sealed, &wrong, &m, &err), -1);
    assert_non_null(strstr(err.message, "wrong key"));
    /* a sealed file that does not hold a GGUF is refused by the GGUF reader */
    assert_true(test_write_file(tmp_path("junk.bin"), "not a model at all, just text", 29));
    assert_int_equal(r1_seal_file(tmp_path("junk.bin"), tmp_path("junk.sealed"), &key, NULL, &err), 0);
    assert_int_equal(r1_model_load_ex(tmp_path("junk.sealed"), &sealed_params, &m, &err), -1);
    assert_non_null(strstr(err.message, "junk.sealed"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_sizes),
        cmocka_unit_test(test_round_trip_default_chunk_and_batches),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_flipped_header_bytes),
        cmocka_unit_test(test_flipped_chunk_bytes),
        cmocka_unit_test(test_reordered_and_duplicated_chunks),
        cmocka_unit_test(test_chunks_from_another_sealing),
        cmocka_unit_test(test_wrong_key),
        cmocka_unit_test(test_wrong_plaintext_hash_is_caught_by_open),
        cmocka_unit_test(test_seal_refusals),
        cmocka_unit_test(test_key_forms),
        cmocka_unit_test(test_key_sources),
        cmocka_unit_test(test_sealed_model_same_logits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
