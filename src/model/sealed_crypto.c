/*
 * sealed_crypto.c - AES-256-GCM for sealed files (see sealed_internal.h):
 * the header tag, the per-chunk nonce and associated data, and the
 * parallel loop over chunks.
 *
 * Nonces: the file's random 64-bit prefix then a 32-bit counter (the chunk
 * index; 0xFFFFFFFF for the header tag). Within a file every nonce is
 * distinct by construction; across files under one key, two files repeat
 * nonces only if their random prefixes collide (~2^-64 per pair).
 * Associated data of chunk i: SHA-256 of the header || i (u64 LE) || 1 if
 * i is the last chunk else 0. A chunk moved, copied from another file or
 * from another position, or a file cut at a chunk boundary, fails its tag.
 */
#include "model/sealed_internal.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <string.h>

#include "base/threadpool.h"

#define AAD_BYTES (32 + 8 + 1)

void seal_put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void seal_put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t seal_get_le32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

uint64_t seal_get_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int seal_crypto_init(seal_crypto *c, const r1_seal_key *key, const r1_seal_header *h, r1_error *err) {
    memset(c, 0, sizeof *c);
    c->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!c->gcm || !c->sha256) {
        seal_crypto_free(c);
        return r1_error_set(err, "AES-256-GCM or SHA-256 is not available from OpenSSL");
    }
    memcpy(c->key, key->bytes, sizeof c->key);
    memcpy(c->nonce_prefix, h->nonce_prefix, sizeof c->nonce_prefix);
    c->chunk_size = h->chunk_size;
    c->plain_size = h->plain_size;
    c->n_chunks = h->n_chunks;
    return 0;
}

void seal_crypto_free(seal_crypto *c) {
    EVP_CIPHER_free(c->gcm);
    EVP_MD_free(c->sha256);
    OPENSSL_cleanse(c, sizeof *c);
}

uint64_t seal_chunk_len(const seal_crypto *c, uint64_t i) {
    uint64_t start = i * c->chunk_size;
    if (start >= c->plain_size) return 0;
    uint64_t left = c->plain_size - start;
    return left < c->chunk_size ? left : c->chunk_size;
}

/* One GCM message with ctx already keyed: encrypt (tag out) or decrypt
 * (tag checked in constant time by OpenSSL). len is at most 1 GiB (the
 * largest chunk), so the int lengths of the EVP API hold it. */
static bool gcm_message(EVP_CIPHER_CTX *ctx, bool encrypt, const uint8_t nonce[SEAL_NONCE_BYTES],
                        const uint8_t *aad, int aad_len, const uint8_t *in, uint8_t *out, uint64_t len,
                        uint8_t tag[R1_SEAL_TAG_BYTES]) {
    int n;
    uint8_t scratch[32];
    if (!EVP_CipherInit_ex2(ctx, NULL, NULL, nonce, encrypt, NULL)) return false;
    if (!EVP_CipherUpdate(ctx, NULL, &n, aad, aad_len)) return false;
    if (len > 0 && !EVP_CipherUpdate(ctx, out, &n, in, (int)len)) return false;
    if (!encrypt && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, R1_SEAL_TAG_BYTES, tag)) return false;
    if (EVP_CipherFinal_ex(ctx, scratch, &n) <= 0) return false;
    return !encrypt || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, R1_SEAL_TAG_BYTES, tag) > 0;
}

static EVP_CIPHER_CTX *keyed_context(const seal_crypto *c, bool encrypt) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx && !EVP_CipherInit_ex2(ctx, c->gcm, c->key, NULL, encrypt, NULL)) {
        EVP_CIPHER_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

static void make_nonce(const seal_crypto *c, uint32_t counter, uint8_t nonce[SEAL_NONCE_BYTES]) {
    memcpy(nonce, c->nonce_prefix, 8);
    seal_put_le32(nonce + 8, counter);
}

/* The header tag is GMAC: GCM over no plaintext with the header as the
 * associated data, so the file needs one primitive and one key. */
int seal_header_tag(const seal_crypto *c, const uint8_t *raw, uint8_t tag[R1_SEAL_TAG_BYTES], bool verify) {
    EVP_CIPHER_CTX *ctx = keyed_context(c, !verify);
    uint8_t nonce[SEAL_NONCE_BYTES], copy[R1_SEAL_TAG_BYTES];
    make_nonce(c, SEAL_HEADER_COUNTER, nonce);
    memcpy(copy, tag, sizeof copy);
    bool ok = ctx && gcm_message(ctx, !verify, nonce, raw, SEAL_OFF_TAG, NULL, NULL, 0, copy);
    if (ok && !verify) memcpy(tag, copy, sizeof copy);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int seal_bind_header(seal_crypto *c, const uint8_t raw[R1_SEAL_HEADER_BYTES]) {
    unsigned int n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex2(md, c->sha256, NULL) && EVP_DigestUpdate(md, raw, R1_SEAL_HEADER_BYTES) &&
              EVP_DigestFinal_ex(md, c->header_hash, &n);
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static bool process_chunk(EVP_CIPHER_CTX *ctx, const seal_crypto *c, bool encrypt, uint64_t i, const uint8_t *src,
                          uint8_t *dst) {
    uint8_t nonce[SEAL_NONCE_BYTES], aad[AAD_BYTES], tag[R1_SEAL_TAG_BYTES];
    uint64_t len = seal_chunk_len(c, i);
    make_nonce(c, (uint32_t)i, nonce);
    memcpy(aad, c->header_hash, 32);
    seal_put_le64(aad + 32, i);
    aad[40] = i + 1 == c->n_chunks;
    if (!encrypt) memcpy(tag, src + len, sizeof tag); /* the framed side: ciphertext, then its tag */
    if (!gcm_message(ctx, encrypt, nonce, aad, AAD_BYTES, src, dst, len, tag)) return false;
    if (encrypt) memcpy(dst + len, tag, sizeof tag);
    return true;
}

/* Shared by the threads of one seal_run_chunks: chunks are handed out one
 * at a time from `next`, so a slow thread does not hold up the others. */
typedef struct chunk_job {
    const seal_crypto *c;
    bool encrypt;
    uint64_t first, end;
    const uint8_t *src;
    uint8_t *dst;
    seal_side_fn side;
    void *side_arg;
    atomic_uint_fast64_t next;
    atomic_uint_fast64_t lowest_failed; /* UINT64_MAX: none */
} chunk_job;

static void record_failure(chunk_job *job, uint64_t i) {
    uint_fast64_t seen = atomic_load(&job->lowest_failed);
    while (i < seen && !atomic_compare_exchange_weak(&job->lowest_failed, &seen, i)) {
    }
}

static void chunk_task(void *arg, int thread_index, int n_threads) {
    (void)n_threads;
    chunk_job *job = arg;
    if (thread_index == 0 && job->side) job->side(job->side_arg);
    const seal_crypto *c = job->c;
    uint64_t plain_step = c->chunk_size, framed_step = (uint64_t)c->chunk_size + R1_SEAL_TAG_BYTES;
    uint64_t src_step = job->encrypt ? plain_step : framed_step, dst_step = job->encrypt ? framed_step : plain_step;
    EVP_CIPHER_CTX *ctx = keyed_context(c, job->encrypt);
    for (;;) {
        uint64_t i = atomic_fetch_add(&job->next, 1);
        /* After a failure the remaining chunks are skipped; all chunks
         * below i were handed out already and finish, so the lowest failing
         * index is still found. */
        if (i >= job->end || atomic_load(&job->lowest_failed) != UINT64_MAX) break;
        uint64_t k = i - job->first;
        if (!ctx || !process_chunk(ctx, c, job->encrypt, i, job->src + k * src_step, job->dst + k * dst_step))
            record_failure(job, i);
    }
    EVP_CIPHER_CTX_free(ctx);
}

int64_t seal_run_chunks(const seal_crypto *c, r1_threadpool *pool, bool encrypt, uint64_t first, uint64_t end,
                        const uint8_t *src, uint8_t *dst) {
    return seal_run_chunks_beside(c, pool, encrypt, first, end, src, dst, NULL, NULL);
}

int64_t seal_run_chunks_beside(const seal_crypto *c, r1_threadpool *pool, bool encrypt, uint64_t first, uint64_t end,
                               const uint8_t *src, uint8_t *dst, seal_side_fn side, void *side_arg) {
    chunk_job job = {.c = c, .encrypt = encrypt, .first = first, .end = end, .src = src, .dst = dst,
                     .side = side, .side_arg = side_arg};
    atomic_init(&job.next, first);
    atomic_init(&job.lowest_failed, UINT64_MAX);
    r1_threadpool_run(pool, chunk_task, &job);
    uint64_t failed = atomic_load(&job.lowest_failed);
    return failed == UINT64_MAX ? -1 : (int64_t)failed;
}
