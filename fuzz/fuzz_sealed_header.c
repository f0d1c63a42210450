/*
 * fuzz_sealed_header.c - libFuzzer harness for the sealed-file reader:
 * header parsing, the key-id and header-tag checks, the size and chunk
 * framing, and chunk decryption (model/sealed.h).
 *
 * The key is fixed (bytes 0, 1, ..., 31), and fuzz/corpus-sealed holds files
 * sealed with it, so mutations of their chunks and lengths reach the
 * framing and the chunk code behind a valid header. Checked promises: a
 * refusal is one line naming the input; a success means the header parses,
 * the size is exactly what the header implies, and every plaintext byte
 * can be read; the key parser never accepts a length other than 32, 64 or
 * 64 plus a newline.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   fuzz/run-fuzz.sh [seconds] [testdata] sealed
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/sealed.h"

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static volatile uint64_t sink; /* keeps the touching reads alive */

static void check_message(const r1_error *err) {
    check(strncmp(err->message, "fuzz: ", 6) == 0);
    check(strchr(err->message, '\n') == NULL);
}

static void check_key_parser(const uint8_t *data, size_t size) {
    r1_seal_key key;
    r1_error err;
    if (r1_seal_key_parse(data, size, "fuzz", &key, &err) == 0)
        check(size == 32 || size == 64 || size == 65 || size == 66);
    else
        check_message(&err);
}

static const r1_seal_key *fixed_key(void) {
    static r1_seal_key key;
    static int ready;
    if (!ready) {
        uint8_t raw[R1_SEAL_KEY_BYTES];
        for (unsigned i = 0; i < sizeof raw; i++) raw[i] = (uint8_t)i;
        r1_error err;
        check(r1_seal_key_parse(raw, sizeof raw, "fixed", &key, &err) == 0);
        ready = 1;
    }
    return &key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size <= 80) check_key_parser(data, size);
    r1_seal_header h;
    r1_error err;
    int parsed = r1_seal_parse_header(data, size, "fuzz", &h, &err);
    if (parsed != 0) check_message(&err);
    r1_secure_buffer plain;
    if (r1_seal_decrypt_buffer(data, size, "fuzz", fixed_key(), 1, &plain, &err) != 0) {
        check_message(&err);
        return 0;
    }
    check(parsed == 0 && size == r1_seal_file_size(&h) && plain.size == h.plain_size);
    for (size_t i = 0; i < plain.size; i += 997) sink += plain.data[i];
    if (plain.size) sink += plain.data[plain.size - 1];
    r1_secure_buffer_free(&plain);
    return 0;
}
