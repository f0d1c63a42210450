/*
 * sealed.h - sealed (encrypted-at-rest) model files.
 *
 * A sealed file is a model file encrypted with AES-256-GCM in fixed-size
 * chunks under a 256-bit key; docs/SEALED-MODELS.md gives the format byte
 * by byte and the threat model. In short: a 256-byte header (magic, version,
 * chunk size, plaintext size and SHA-256, key id, nonce prefix, key label)
 * authenticated by its own GCM tag, then the chunks, each with a 16-byte tag
 * and associated data binding the header's hash, the chunk's index and
 * whether it is the last, so no chunk can be edited, moved, dropped,
 * duplicated or cut without the reader saying which.
 *
 * Reading decrypts on a thread pool straight into anonymous memory that is
 * excluded from core dumps and locked where the OS allows, so the plaintext
 * never reaches a disk; the GGUF loader then parses it in place
 * (gguf_open_owned). Every failure is an r1_error of one line naming the
 * file and the problem; key bytes never appear in any message or log.
 */
#ifndef R1_MODEL_SEALED_H
#define R1_MODEL_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define R1_SEAL_MAGIC "R1SEAL\0\0"
#define R1_SEAL_VERSION 1u
#define R1_SEAL_HEADER_BYTES 256u
#define R1_SEAL_TAG_BYTES 16u
#define R1_SEAL_KEY_BYTES 32u
#define R1_SEAL_KEY_ID_BYTES 8u
#define R1_SEAL_LABEL_BYTES 128u /* text of at most 127 bytes, NUL-padded */
#define R1_SEAL_MIN_CHUNK (4u << 10)
#define R1_SEAL_MAX_CHUNK (1u << 30)
#define R1_SEAL_DEFAULT_CHUNK (4u << 20)

/* ---- keys ---- */

typedef struct r1_seal_key {
    uint8_t bytes[R1_SEAL_KEY_BYTES];
    uint8_t id[R1_SEAL_KEY_ID_BYTES]; /* derived from bytes; stored in headers */
} r1_seal_key;

/* Zeroes a key (also fine on a key never filled). */
void r1_seal_key_wipe(r1_seal_key *key);

/* A key from 32 raw bytes, or from text of 64 hex digits with an optional
 * trailing newline. `what` names the source in messages ("keys/prod.key",
 * "--key-command"); the key's bytes are never quoted. */
int r1_seal_key_parse(const uint8_t *data, size_t len, const char *what, r1_seal_key *key, r1_error *err);

/* Reads a key file (a regular file, a pipe or /dev/stdin). Warns when a
 * regular key file can be read by other users. */
int r1_seal_key_load_file(const char *path, r1_seal_key *key, r1_error *err);

/* Runs `command` with the shell (popen) and reads the key from its standard
 * output; it must exit with status 0. For a KMS or secret store client. */
int r1_seal_key_from_command(const char *command, r1_seal_key *key, r1_error *err);

/* Where a key may come from; the first that is set is used, and with none
 * set, the file named by the environment variable R1_MODEL_KEY_FILE. */
typedef struct r1_seal_key_source {
    const uint8_t *bytes; /* with len: the key itself (32 bytes, or 64 hex digits) */
    size_t len;
    const char *file;
    const char *command;
} r1_seal_key_source;

/* Returns 1 with *key filled, 0 when no source is set at all (and
 * R1_MODEL_KEY_FILE is unset or empty), -1 with err when a source fails. */
int r1_seal_key_resolve(const r1_seal_key_source *src, r1_seal_key *key, r1_error *err);

/* 32 bytes from the kernel's random generator (getrandom). */
int r1_seal_key_generate(r1_seal_key *key, r1_error *err);

/* The 16 hex digits of a key id, NUL-terminated. */
void r1_seal_key_id_hex(const uint8_t id[R1_SEAL_KEY_ID_BYTES], char out[2 * R1_SEAL_KEY_ID_BYTES + 1]);

/* ---- the header ---- */

typedef struct r1_seal_header {
    uint32_t version;
    uint32_t chunk_size;
    uint64_t plain_size;
    uint64_t n_chunks;   /* max(1, ceil(plain_size / chunk_size)) */
    uint8_t sha256[32];  /* of the plaintext */
    uint8_t key_id[R1_SEAL_KEY_ID_BYTES];
    uint8_t nonce_prefix[8];
    char label[R1_SEAL_LABEL_BYTES];
    uint8_t tag[R1_SEAL_TAG_BYTES];
    uint8_t raw[R1_SEAL_HEADER_BYTES]; /* the bytes as read */
} r1_seal_header;

/* True when the buffer starts with the sealed-file magic. */
bool r1_seal_has_magic(const void *data, size_t size);

/* 1 when the file at path starts with the magic, 0 when it does not (or
 * cannot be read: the caller's own open then says why). */
int r1_seal_probe_file(const char *path);

/* Parses and checks the header's structure (no key needed: magic, version,
 * sizes, counts, reserved bytes, label). `name` is used in messages. */
int r1_seal_parse_header(const uint8_t *data, size_t size, const char *name, r1_seal_header *h, r1_error *err);

/* The size a sealed file with this header must have. */
uint64_t r1_seal_file_size(const r1_seal_header *h);

/* ---- decrypting into memory ---- */

/* Plaintext in private anonymous memory: read-only once filled, excluded
 * from core dumps, locked in RAM when the OS allows (else a warning). */
typedef struct r1_secure_buffer {
    uint8_t *data;
    size_t size;     /* plaintext bytes */
    size_t map_size; /* the mapping (size rounded up); what munmap needs */
    bool locked;
} r1_secure_buffer;

/* Frees the buffer (unmapping gives the pages back to the kernel, which
 * zeroes them before any reuse). Fine on a zeroed struct. */
void r1_secure_buffer_free(r1_secure_buffer *b);

/* Checks and decrypts a whole sealed file held in memory (a mapping of the
 * file, or a test's buffer): header, key id, header tag, the exact size,
 * then every chunk on n_threads threads (<= 0: one per CPU). On success
 * *out holds the plaintext; on failure nothing is released. The plaintext
 * SHA-256 is not recomputed here: the GCM tags already authenticate every
 * byte (docs/SEALED-MODELS.md, "Why loading skips the SHA-256"). */
int r1_seal_decrypt_buffer(const uint8_t *file, size_t size, const char *name, const r1_seal_key *key,
                           int n_threads, r1_secure_buffer *out, r1_error *err);

/* The same for the file at path (mapped read-only while decrypting). */
int r1_seal_decrypt_file(const char *path, const r1_seal_key *key, int n_threads, r1_secure_buffer *out,
                         r1_error *err);

/* ---- whole-file operations (r1 model seal / open / verify) ---- */

typedef struct r1_seal_params {
    uint32_t chunk_size; /* 0: R1_SEAL_DEFAULT_CHUNK; else a power of two in [4 KiB, 1 GiB] */
    const char *label;   /* free text stored in the header (e.g. a KMS key name); NULL: none */
    int n_threads;       /* <= 0: one per CPU */
} r1_seal_params;

/* Seals the file at in_path into out_path (written under a temporary name
 * and renamed into place, so a failure leaves no partial file). */
int r1_seal_file(const char *in_path, const char *out_path, const r1_seal_key *key, const r1_seal_params *params,
                 r1_error *err);

/* Decrypts a sealed file chunk batch by chunk batch, checking everything
 * r1_seal_decrypt_file does plus the plaintext SHA-256 in the header.
 * With out_path, the plaintext is written there (mode 0600, temporary name
 * then rename); with NULL it is only checked. sha256 (may be NULL) gets the
 * plaintext's hash. */
int r1_seal_open_file(const char *in_path, const char *out_path, const r1_seal_key *key, int n_threads,
                      uint8_t sha256[32], r1_error *err);

/* SHA-256 of a whole (plain) file. */
int r1_sha256_file(const char *path, uint8_t sha256[32], r1_error *err);

#endif
