/*
 * sealed_internal.h - what the sealed-file reader (sealed.c) and writer
 * (sealed_io.c) share: the prefetched algorithms and per-file values
 * (seal_crypto), the chunk geometry, and running GCM over a range of chunks
 * on a thread pool (seal_run_chunks).
 */
#ifndef R1_MODEL_SEALED_INTERNAL_H
#define R1_MODEL_SEALED_INTERNAL_H

#include <openssl/evp.h>

#include "model/sealed.h"

/* Header offsets (docs/SEALED-MODELS.md has the table). */
#define SEAL_OFF_VERSION 8
#define SEAL_OFF_HEADER_SIZE 12
#define SEAL_OFF_CHUNK_SIZE 16
#define SEAL_OFF_FLAGS 20
#define SEAL_OFF_PLAIN_SIZE 24
#define SEAL_OFF_N_CHUNKS 32
#define SEAL_OFF_SHA256 40
#define SEAL_OFF_KEY_ID 72
#define SEAL_OFF_NONCE 80
#define SEAL_OFF_LABEL 88
#define SEAL_OFF_RESERVED 216
#define SEAL_OFF_TAG 240
#define SEAL_NONCE_BYTES 12
/* Chunk counters run 0 .. n_chunks-1; this value is the header tag's. */
#define SEAL_HEADER_COUNTER 0xFFFFFFFFu

/* Algorithms fetched once per file (OpenSSL 3 re-fetches on every call of
 * the EVP_aes_256_gcm()-style shortcuts), the key, and the values that go
 * into every chunk's nonce and associated data. */
typedef struct seal_crypto {
    EVP_CIPHER *gcm;
    EVP_MD *sha256;
    uint8_t key[R1_SEAL_KEY_BYTES];
    uint8_t nonce_prefix[8];
    uint8_t header_hash[32];
    uint32_t chunk_size;
    uint64_t plain_size;
    uint64_t n_chunks;
} seal_crypto;

int seal_crypto_init(seal_crypto *c, const r1_seal_key *key, const r1_seal_header *h, r1_error *err);
void seal_crypto_free(seal_crypto *c);

/* The header tag over raw[0 .. SEAL_OFF_TAG): computed into tag (verify
 * false) or checked against it (verify true). Returns 0, or -1. */
int seal_header_tag(const seal_crypto *c, const uint8_t *raw, uint8_t tag[R1_SEAL_TAG_BYTES], bool verify);

/* SHA-256 of the whole header (tag included), bound into every chunk. */
int seal_bind_header(seal_crypto *c, const uint8_t raw[R1_SEAL_HEADER_BYTES]);

/* Plaintext bytes in chunk i (the last may be short, or 0 for an empty file). */
uint64_t seal_chunk_len(const seal_crypto *c, uint64_t i);

/* Encrypts or decrypts chunks [first, end) on the pool's threads, from src
 * to dst. The plaintext of chunk i sits at (i - first) * chunk_size in its
 * buffer, the ciphertext and then the tag at (i - first) * (chunk_size +
 * 16) in the other ("framed", the file's layout). Returns -1 when every
 * chunk succeeds, else the lowest chunk index that failed (authentication
 * on decrypt; an OpenSSL failure on encrypt). */
typedef struct r1_threadpool r1_threadpool;
int64_t seal_run_chunks(const seal_crypto *c, r1_threadpool *pool, bool encrypt, uint64_t first, uint64_t end,
                        const uint8_t *src, uint8_t *dst);

/* The same, with side(side_arg) run first on the calling thread, which then
 * joins in the chunks: lets the caller hash and write the previous batch
 * while the other threads work on this one. */
typedef void (*seal_side_fn)(void *side_arg);
int64_t seal_run_chunks_beside(const seal_crypto *c, r1_threadpool *pool, bool encrypt, uint64_t first, uint64_t end,
                               const uint8_t *src, uint8_t *dst, seal_side_fn side, void *side_arg);

/* Everything before the chunks (sealed.c): the header's structure, the
 * key id, the header tag, the exact file size. On success *c is ready for
 * the chunks (the caller frees it); on failure nothing is left to free. */
int seal_check_before_chunks(const uint8_t *file, size_t size, const char *name, const r1_seal_key *key,
                             r1_seal_header *h, seal_crypto *c, r1_error *err);

/* "NAME: chunk K of N failed authentication (...)", K counted from 1. */
int seal_chunk_failure(const char *name, int64_t chunk, uint64_t n_chunks, r1_error *err);

/* Maps a whole file read-only (*map NULL for an empty file). */
int seal_map_file(const char *path, const uint8_t **map, size_t *size, r1_error *err);

/* Little-endian fields. */
void seal_put_le32(uint8_t *p, uint32_t v);
void seal_put_le64(uint8_t *p, uint64_t v);
uint32_t seal_get_le32(const uint8_t *p);
uint64_t seal_get_le64(const uint8_t *p);

#endif
