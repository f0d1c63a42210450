/*
 * auth_crypto.h - small cryptographic helpers shared by the security
 * modules (auth_jwt, api_keys, audit_log): random bytes from the kernel,
 * HMAC-SHA256 with a prefetched OpenSSL EVP_MAC (a keyed template context
 * is duplicated per message, 2.4x faster than the HMAC() one-shot), hex and
 * base64url text, and secret files (keys read from disk, wiped on free).
 *
 * Nothing here logs, and no error message ever contains secret bytes.
 */
#ifndef R1_SERVER_AUTH_CRYPTO_H
#define R1_SERVER_AUTH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define AUTH_HMAC_LEN 32 /* HMAC-SHA256 output bytes */

/* Fills buf with n bytes from getrandom(2). 0, or -1 with a message. */
int auth_random(void *buf, size_t n, r1_error *err);

/* A keyed HMAC-SHA256; thread-safe to use from many threads at once. */
typedef struct auth_hmac auth_hmac;

/* Keys a new HMAC (the key bytes are copied into OpenSSL's context).
 * NULL with a message on failure. */
auth_hmac *auth_hmac_new(const uint8_t *key, size_t key_len, r1_error *err);
void auth_hmac_free(auth_hmac *h);

/* out = HMAC(key, a || b); either part may be empty (NULL, 0). 0 or -1. */
int auth_hmac_mac(const auth_hmac *h, const void *a, size_t a_len, const void *b, size_t b_len,
                  uint8_t out[AUTH_HMAC_LEN]);

/* One-off HMAC under a key used once (e.g. a per-record salt). 0 or -1. */
int auth_hmac_once(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[AUTH_HMAC_LEN]);

/* Lower-case hex of n bytes into out (2n + 1 bytes with the NUL). */
void auth_hex_encode(const uint8_t *in, size_t n, char *out);

/* Decodes exactly 2n hex digits (either case) into n bytes; false if the
 * text is not exactly that. */
bool auth_hex_decode(const char *text, size_t text_len, uint8_t *out, size_t n);

/* Unpadded base64url (RFC 4648 §5) of n bytes into out, which must hold
 * auth_base64url_len(n) + 1 bytes. Returns the text length. */
size_t auth_base64url_len(size_t n);
size_t auth_base64url_encode(const uint8_t *in, size_t n, char *out);

/* True when every one of the n characters is in the base64url alphabet. */
bool auth_is_base64url(const char *s, size_t n);

/* A secret read from a file. A text file (UTF-8 without control
 * characters other than tab, CR, LF) loses any trailing CR, LF, space or
 * tab, so `echo secret > file` and editors' final newlines do not change
 * the key; any other file (random bytes, e.g. `head -c 32 /dev/urandom`)
 * is the key byte for byte. (Until 2026-12-01 every file lost its trailing
 * whitespace: a binary key that ended in such a byte now reads one byte
 * longer, and what it signed before verifies only with the old bytes.)
 * Wiped (OPENSSL_cleanse) when freed. */
typedef struct auth_secret {
    uint8_t *bytes;
    size_t len;
} auth_secret;

/* Reads a secret of at least min_len and at most 64 KiB. The error names
 * the file and the problem, never the contents. 0 or -1. */
int auth_secret_read(const char *path, size_t min_len, auth_secret *out, r1_error *err);
void auth_secret_free(auth_secret *s);

/* Reads a whole (non-secret) file of at most max_bytes into a new
 * NUL-terminated buffer; *len gets its length. 0 or -1 naming the file. */
int auth_read_file(const char *path, size_t max_bytes, char **out, size_t *len, r1_error *err);

#endif
