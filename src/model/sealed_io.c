/*
 * sealed_io.c - whole-file operations on sealed models (see sealed.h):
 * sealing a file, opening one back to plaintext or only checking it, and
 * the SHA-256 of a plain file.
 *
 * Files are streamed in batches of chunks through two staging buffers:
 * while the pool encrypts or decrypts batch k into one, the calling thread
 * first hashes and writes batch k-1 from the other (SHA-256 is sequential,
 * so it overlaps the parallel part instead of following it), then joins in.
 * Memory stays at two batches (at most 16 MiB or 256 chunks each, but one
 * chunk per thread when chunks are larger) whatever the model's size; small
 * batches stay in the L3 cache between being decrypted and being hashed and
 * copied out (64 MiB batches made `verify` ~25 % slower here). Outputs are written under
 * a temporary name beside the target and renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/threadpool.h"
#include "model/sealed_internal.h"

#define BATCH_BYTES ((uint64_t)16 << 20)
/* Small chunks make smaller batches: hashing and writing then start sooner. */
#define BATCH_MAX_CHUNKS 256u

/* ---- output files ---- */

typedef struct out_file {
    const char *path;
    char tmp[4096];
    int fd;
} out_file;

static int out_open(out_file *o, const char *path, mode_t mode, r1_error *err) {
    static atomic_uint counter;
    o->path = path;
    o->fd = -1;
    int n = snprintf(o->tmp, sizeof o->tmp, "%s.tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    if (n < 0 || (size_t)n >= sizeof o->tmp) return r1_error_set(err, "%s: path too long", path);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (o->fd < 0) return r1_error_set(err, "%s: cannot create %s: %s", path, o->tmp, strerror(errno));
    return 0;
}

static int out_write(out_file *o, const void *data, size_t n, r1_error *err) {
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return r1_error_set(err, "%s: write failed: %s", o->path, strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* rc == 0: flush, close and rename into place; else remove the temporary. */
static int out_finish(out_file *o, int rc, r1_error *err) {
    if (o->fd < 0) return rc;
    if (rc == 0 && fsync(o->fd) != 0) rc = r1_error_set(err, "%s: fsync failed: %s", o->path, strerror(errno));
    if (close(o->fd) != 0 && rc == 0) rc = r1_error_set(err, "%s: close failed: %s", o->path, strerror(errno));
    if (rc == 0 && rename(o->tmp, o->path) != 0)
        rc = r1_error_set(err, "%s: cannot rename %s into place: %s", o->path, o->tmp, strerror(errno));
    if (rc != 0) unlink(o->tmp);
    o->fd = -1;
    return rc;
}

/* ---- batches ---- */

static uint64_t batch_chunks(uint32_t chunk_size, r1_threadpool *pool) {
    uint64_t n = BATCH_BYTES / chunk_size, threads = (uint64_t)r1_threadpool_size(pool);
    if (n > BATCH_MAX_CHUNKS) n = BATCH_MAX_CHUNKS;
    return n < threads ? threads : n;
}

/* Plaintext bytes in chunks [first, end). */
static uint64_t span_bytes(const seal_crypto *c, uint64_t first, uint64_t end) {
    uint64_t a = first * c->chunk_size, b = end * c->chunk_size;
    if (b > c->plain_size) b = c->plain_size;
    return b > a ? b - a : 0;
}

/* Takes a finished batch (hash it, write it): 0, or -1 with err. */
typedef int (*drain_fn)(void *user, const uint8_t *data, uint64_t n, r1_error *err);

typedef struct pipeline {
    const seal_crypto *c;
    bool encrypt;
    const uint8_t *src; /* all the input: plaintext (encrypt) or the framed chunks (decrypt) */
    const char *name;   /* for messages */
    drain_fn drain;
    void *user;
    r1_error *err;
    const uint8_t *pending; /* the batch waiting for drain, or NULL */
    uint64_t pending_bytes;
    int drain_rc;
} pipeline;

/* Runs on the calling thread beside the pool's work on the next batch. */
static void drain_pending(void *arg) {
    pipeline *p = arg;
    if (p->pending && p->drain_rc == 0) p->drain_rc = p->drain(p->user, p->pending, p->pending_bytes, p->err);
    p->pending = NULL;
}

static int process_batches(pipeline *p, r1_threadpool *pool, uint64_t batch, uint8_t *bufs[2]) {
    const seal_crypto *c = p->c;
    uint64_t framed = (uint64_t)c->chunk_size + R1_SEAL_TAG_BYTES, in_step = p->encrypt ? c->chunk_size : framed;
    for (uint64_t first = 0, k = 0; first < c->n_chunks; first += batch, k++) {
        uint64_t end = first + batch < c->n_chunks ? first + batch : c->n_chunks;
        int64_t failed = seal_run_chunks_beside(c, pool, p->encrypt, first, end, p->src + first * in_step,
                                                bufs[k % 2], drain_pending, p);
        if (p->drain_rc != 0) return -1;
        if (failed != -1)
            return p->encrypt ? r1_error_set(p->err, "%s: AES-256-GCM failed in OpenSSL", p->name)
                              : seal_chunk_failure(p->name, failed, c->n_chunks, p->err);
        p->pending = bufs[k % 2];
        p->pending_bytes = span_bytes(c, first, end) + (p->encrypt ? (end - first) * R1_SEAL_TAG_BYTES : 0);
    }
    drain_pending(p);
    return p->drain_rc;
}

static int run_pipeline(pipeline *p, int n_threads) {
    r1_threadpool *pool = r1_threadpool_new(n_threads);
    uint64_t batch = batch_chunks(p->c->chunk_size, pool);
    size_t size = (size_t)(batch * ((uint64_t)p->c->chunk_size + R1_SEAL_TAG_BYTES));
    uint8_t *bufs[2] = {pool ? malloc(size) : NULL, pool ? malloc(size) : NULL};
    int rc = bufs[0] && bufs[1] ? process_batches(p, pool, batch, bufs)
                                : r1_error_set(p->err, "%s: out of memory for the staging buffers", p->name);
    for (int i = 0; i < 2; i++) {
        if (bufs[i] && !p->encrypt) OPENSSL_cleanse(bufs[i], size); /* plaintext */
        free(bufs[i]);
    }
    r1_threadpool_free(pool);
    return rc;
}

static int sha256_buffer(const seal_crypto *c, const uint8_t *data, uint64_t size, uint8_t out[32]) {
    unsigned int n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex2(md, c->sha256, NULL) && (size == 0 || EVP_DigestUpdate(md, data, size)) &&
              EVP_DigestFinal_ex(md, out, &n);
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

/* ---- sealing ---- */

static int check_seal_params(const r1_seal_params *p, uint32_t *chunk, const char **label, r1_error *err) {
    *chunk = p && p->chunk_size ? p->chunk_size : R1_SEAL_DEFAULT_CHUNK;
    *label = p && p->label ? p->label : "";
    if (*chunk < R1_SEAL_MIN_CHUNK || *chunk > R1_SEAL_MAX_CHUNK || (*chunk & (*chunk - 1)) != 0)
        return r1_error_set(err, "chunk size %" PRIu32 " is not a power of two from %u to %u", *chunk,
                            R1_SEAL_MIN_CHUNK, R1_SEAL_MAX_CHUNK);
    size_t n = strlen(*label);
    if (n >= R1_SEAL_LABEL_BYTES) return r1_error_set(err, "the key label is %zu bytes; at most %u", n, R1_SEAL_LABEL_BYTES - 1);
    for (size_t i = 0; i < n; i++)
        if ((uint8_t)(*label)[i] < 0x20 || (uint8_t)(*label)[i] > 0x7e)
            return r1_error_set(err, "the key label must be printable ASCII");
    return 0;
}

static void encode_header(r1_seal_header *h) {
    uint8_t *r = h->raw;
    memset(r, 0, R1_SEAL_HEADER_BYTES);
    memcpy(r, R1_SEAL_MAGIC, 8);
    seal_put_le32(r + SEAL_OFF_VERSION, R1_SEAL_VERSION);
    seal_put_le32(r + SEAL_OFF_HEADER_SIZE, R1_SEAL_HEADER_BYTES);
    seal_put_le32(r + SEAL_OFF_CHUNK_SIZE, h->chunk_size);
    seal_put_le64(r + SEAL_OFF_PLAIN_SIZE, h->plain_size);
    seal_put_le64(r + SEAL_OFF_N_CHUNKS, h->n_chunks);
    memcpy(r + SEAL_OFF_SHA256, h->sha256, sizeof h->sha256);
    memcpy(r + SEAL_OFF_KEY_ID, h->key_id, sizeof h->key_id);
    memcpy(r + SEAL_OFF_NONCE, h->nonce_prefix, sizeof h->nonce_prefix);
    memcpy(r + SEAL_OFF_LABEL, h->label, strlen(h->label));
    memcpy(r + SEAL_OFF_TAG, h->tag, sizeof h->tag);
}

/* Fills the header for `size` plaintext bytes at `plain` and makes *c
 * ready for the chunks. The plaintext hash comes first because the header,
 * hash included, is bound into every chunk. */
static int build_header(const uint8_t *plain, uint64_t size, const r1_seal_key *key, uint32_t chunk,
                        const char *label, r1_seal_header *h, seal_crypto *c, r1_error *err) {
    memset(h, 0, sizeof *h);
    h->version = R1_SEAL_VERSION;
    h->chunk_size = chunk;
    h->plain_size = size;
    h->n_chunks = size == 0 ? 1 : (size - 1) / chunk + 1;
    if (h->n_chunks >= 0xFFFFFFFFu) return r1_error_set(err, "too many chunks: use a larger chunk size");
    memcpy(h->key_id, key->id, sizeof h->key_id);
    snprintf(h->label, sizeof h->label, "%s", label);
    if (getrandom(h->nonce_prefix, sizeof h->nonce_prefix, 0) != (ssize_t)sizeof h->nonce_prefix)
        return r1_error_set(err, "getrandom failed: %s", strerror(errno));
    if (seal_crypto_init(c, key, h, err) != 0) return -1;
    bool ok = sha256_buffer(c, plain, size, h->sha256) == 0;
    encode_header(h);
    ok = ok && seal_header_tag(c, h->raw, h->tag, false) == 0;
    memcpy(h->raw + SEAL_OFF_TAG, h->tag, sizeof h->tag);
    if (ok && seal_bind_header(c, h->raw) == 0) return 0;
    seal_crypto_free(c);
    return r1_error_set(err, "AES-256-GCM or SHA-256 failed in OpenSSL");
}

static int write_batch(void *user, const uint8_t *data, uint64_t n, r1_error *err) {
    return out_write(user, data, n, err);
}

static int seal_mapped(const uint8_t *plain, uint64_t size, const char *in_path, const char *out_path,
                       const r1_seal_key *key, const r1_seal_params *params, r1_error *err) {
    uint32_t chunk;
    const char *label;
    if (check_seal_params(params, &chunk, &label, err) != 0) return -1;
    if (r1_seal_has_magic(plain, size)) return r1_error_set(err, "%s: already a sealed file", in_path);
    r1_seal_header h;
    seal_crypto c;
    if (build_header(plain, size, key, chunk, label, &h, &c, err) != 0) return r1_error_prefix(err, "%s", out_path);
    out_file o;
    int rc = out_open(&o, out_path, 0644, err);
    if (rc == 0) rc = out_write(&o, h.raw, R1_SEAL_HEADER_BYTES, err);
    pipeline pl = {.c = &c, .encrypt = true, .src = plain, .name = out_path, .drain = write_batch, .user = &o,
                   .err = err};
    if (rc == 0) rc = run_pipeline(&pl, params ? params->n_threads : 0);
    rc = out_finish(&o, rc, err);
    seal_crypto_free(&c);
    return rc;
}

int r1_seal_file(const char *in_path, const char *out_path, const r1_seal_key *key, const r1_seal_params *params,
                 r1_error *err) {
    const uint8_t *map;
    size_t size;
    if (seal_map_file(in_path, &map, &size, err) != 0) return -1;
    static const uint8_t empty[1];
    int rc = seal_mapped(map ? map : empty, size, in_path, out_path, key, params, err);
    if (map) munmap((void *)map, size);
    return rc;
}

/* ---- opening and verifying ---- */

/* Where a decrypted batch goes: into the hash, and to the file when open. */
typedef struct open_sink {
    EVP_MD_CTX *md;
    out_file *o;
    const char *name;
} open_sink;

static int hash_and_write_batch(void *user, const uint8_t *data, uint64_t n, r1_error *err) {
    open_sink *s = user;
    if (n > 0 && !EVP_DigestUpdate(s->md, data, n)) return r1_error_set(err, "%s: SHA-256 failed", s->name);
    return s->o->fd >= 0 ? out_write(s->o, data, n, err) : 0;
}

static int check_plain_hash(const r1_seal_header *h, EVP_MD_CTX *md, const char *name, uint8_t out[32],
                            r1_error *err) {
    uint8_t got[32];
    unsigned int n;
    if (!EVP_DigestFinal_ex(md, got, &n)) return r1_error_set(err, "%s: SHA-256 failed", name);
    if (out) memcpy(out, got, sizeof got);
    if (CRYPTO_memcmp(got, h->sha256, sizeof got) != 0)
        return r1_error_set(err, "%s: the decrypted model's SHA-256 differs from the one in the header "
                            "(sealed by a faulty writer?)", name);
    return 0;
}

static int open_mapped(const uint8_t *file, size_t size, const char *in_path, const char *out_path,
                       const r1_seal_key *key, int n_threads, uint8_t sha256[32], r1_error *err) {
    r1_seal_header h;
    seal_crypto c;
    if (seal_check_before_chunks(file, size, in_path, key, &h, &c, err) != 0) return -1;
    out_file o = {.fd = -1};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = md && EVP_DigestInit_ex2(md, c.sha256, NULL) ? 0 : r1_error_set(err, "%s: SHA-256 failed", in_path);
    if (rc == 0 && out_path) rc = out_open(&o, out_path, 0600, err);
    open_sink sink = {.md = md, .o = &o, .name = in_path};
    pipeline pl = {.c = &c, .encrypt = false, .src = file + R1_SEAL_HEADER_BYTES, .name = in_path,
                   .drain = hash_and_write_batch, .user = &sink, .err = err};
    if (rc == 0) rc = run_pipeline(&pl, n_threads);
    if (rc == 0) rc = check_plain_hash(&h, md, in_path, sha256, err);
    rc = out_finish(&o, rc, err);
    EVP_MD_CTX_free(md);
    seal_crypto_free(&c);
    return rc;
}

int r1_seal_open_file(const char *in_path, const char *out_path, const r1_seal_key *key, int n_threads,
                      uint8_t sha256[32], r1_error *err) {
    const uint8_t *map;
    size_t size;
    if (seal_map_file(in_path, &map, &size, err) != 0) return -1;
    static const uint8_t empty[1];
    int rc = open_mapped(map ? map : empty, size, in_path, out_path, key, n_threads, sha256, err);
    if (map) munmap((void *)map, size);
    return rc;
}

int r1_sha256_file(const char *path, uint8_t sha256[32], r1_error *err) {
    const uint8_t *map;
    size_t size;
    if (seal_map_file(path, &map, &size, err) != 0) return -1;
    EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    unsigned int n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = sha && md && EVP_DigestInit_ex2(md, sha, NULL) && (size == 0 || EVP_DigestUpdate(md, map, size)) &&
              EVP_DigestFinal_ex(md, sha256, &n);
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha);
    if (map) munmap((void *)map, size);
    return ok ? 0 : r1_error_set(err, "%s: SHA-256 failed in OpenSSL", path);
}
