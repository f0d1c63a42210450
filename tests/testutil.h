/*
 * testutil.h - helpers shared by the unit tests (cmocka).
 */
#ifndef R1_TESTS_TESTUTIL_H
#define R1_TESTS_TESTUTIL_H

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <cmocka.h>

/* The reference data folder: $R1_TESTDATA, else ../shared/testdata beside
 * the source tree. */
const char *test_testdata_dir(void);

/* Path of a file under the testdata folder (static buffer rotated 8 ways). */
const char *test_testdata_path(const char *relative);

/* True when the testdata folder (sub-folder `sub`) exists. When it does not,
 * prints a loud SKIPPED line with the reason, and fails the test instead when
 * R1_REQUIRE_TESTDATA=1. A test calls: if (!test_require_testdata("llm")) { skip(); } */
bool test_require_testdata(const char *sub);

/* Deterministic pseudo-random numbers (splitmix64) for test data. */
uint64_t test_rand_u64(uint64_t *state);
float test_rand_uniform(uint64_t *state, float lo, float hi); /* [lo, hi) */
float test_rand_normal(uint64_t *state);                       /* N(0,1) */

/* Reads a whole file; NULL if it cannot. *size gets its length; a NUL
 * follows the bytes, so a text file can be used as a string. Caller frees. */
void *test_read_file(const char *path, size_t *size);

/* Writes a buffer to a file, true on success. */
bool test_write_file(const char *path, const void *data, size_t size);

/* A uint32 metadata key to set when rewriting a model file. */
typedef struct test_key_override {
    const char *key;
    uint32_t value;
} test_key_override;

/* Rewrites the GGUF at src with the given keys replaced (or added), loads
 * it with r1_model_load, and puts the load error in message ("" when it
 * loads). For tests of malformed metadata. */
void test_load_with_overrides(const char *src, const test_key_override *o, int n, char *message, size_t cap);

#endif
