/*
 * sealed.c - reading sealed model files (see sealed.h): the header, the
 * checks in the order that gives the most useful message (structure, then
 * the key id, then the header tag, then the exact size, then the chunks),
 * and decryption into locked anonymous memory.
 *
 * The order matters for the messages: a wrong key is reported as such
 * (by its id) instead of as a failed tag, and sizes are only trusted after
 * the header tag has proven the header came from the key's holder.
 */
#include "model/sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/threadpool.h"
#include "model/sealed_internal.h"

#define HUGE_PAGE_BYTES ((size_t)2 << 20)

bool r1_seal_has_magic(const void *data, size_t size) {
    return size >= 8 && memcmp(data, R1_SEAL_MAGIC, 8) == 0;
}

int r1_seal_probe_file(const char *path) {
    uint8_t magic[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = pread(fd, magic, sizeof magic, 0);
    close(fd);
    return n == (ssize_t)sizeof magic && r1_seal_has_magic(magic, sizeof magic);
}

uint64_t r1_seal_file_size(const r1_seal_header *h) {
    return R1_SEAL_HEADER_BYTES + h->plain_size + h->n_chunks * R1_SEAL_TAG_BYTES;
}

/* ---- the header ---- */

static bool all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

/* The label must be printable ASCII then NUL padding: it is shown in
 * messages, so it must not be able to forge lines or escape sequences. */
static bool label_ok(const uint8_t *p) {
    size_t n = 0;
    while (n < R1_SEAL_LABEL_BYTES && p[n]) {
        if (p[n] < 0x20 || p[n] > 0x7e) return false;
        n++;
    }
    return n < R1_SEAL_LABEL_BYTES && all_zero(p + n, R1_SEAL_LABEL_BYTES - n);
}

static int check_sizes(const r1_seal_header *h, const char *name, r1_error *err) {
    uint32_t c = h->chunk_size;
    if (c < R1_SEAL_MIN_CHUNK || c > R1_SEAL_MAX_CHUNK || (c & (c - 1)) != 0)
        return r1_error_set(err, "%s: header: chunk size %" PRIu32 " is not a power of two from %u to %u", name, c,
                            R1_SEAL_MIN_CHUNK, R1_SEAL_MAX_CHUNK);
    /* Keeps every later size computation far from overflow (2^62 bytes). */
    if (h->plain_size > ((uint64_t)1 << 62))
        return r1_error_set(err, "%s: header: plaintext size %" PRIu64 " is impossible", name, h->plain_size);
    uint64_t want = h->plain_size == 0 ? 1 : (h->plain_size - 1) / c + 1;
    if (h->n_chunks != want)
        return r1_error_set(err, "%s: header: %" PRIu64 " chunks, but %" PRIu64 " bytes in chunks of %" PRIu32
                            " make %" PRIu64, name, h->n_chunks, h->plain_size, c, want);
    if (h->n_chunks >= 0xFFFFFFFFu) /* the 32-bit nonce counter; the last value is the header's */
        return r1_error_set(err, "%s: header: %" PRIu64 " chunks is more than the format allows", name, h->n_chunks);
    return 0;
}

static void decode_header(const uint8_t *raw, r1_seal_header *h) {
    memset(h, 0, sizeof *h);
    memcpy(h->raw, raw, R1_SEAL_HEADER_BYTES);
    h->version = seal_get_le32(raw + SEAL_OFF_VERSION);
    h->chunk_size = seal_get_le32(raw + SEAL_OFF_CHUNK_SIZE);
    h->plain_size = seal_get_le64(raw + SEAL_OFF_PLAIN_SIZE);
    h->n_chunks = seal_get_le64(raw + SEAL_OFF_N_CHUNKS);
    memcpy(h->sha256, raw + SEAL_OFF_SHA256, sizeof h->sha256);
    memcpy(h->key_id, raw + SEAL_OFF_KEY_ID, sizeof h->key_id);
    memcpy(h->nonce_prefix, raw + SEAL_OFF_NONCE, sizeof h->nonce_prefix);
    memcpy(h->label, raw + SEAL_OFF_LABEL, sizeof h->label);
    h->label[sizeof h->label - 1] = 0;
    memcpy(h->tag, raw + SEAL_OFF_TAG, sizeof h->tag);
}

int r1_seal_parse_header(const uint8_t *data, size_t size, const char *name, r1_seal_header *h, r1_error *err) {
    if (!r1_seal_has_magic(data, size))
        return r1_error_set(err, "%s: not a sealed model file (no R1SEAL magic)", name);
    if (size < R1_SEAL_HEADER_BYTES)
        return r1_error_set(err, "%s: file is %zu bytes, too small for a sealed header (%u bytes)", name, size,
                            R1_SEAL_HEADER_BYTES);
    decode_header(data, h);
    if (h->version != R1_SEAL_VERSION)
        return r1_error_set(err, "%s: sealed format version %" PRIu32 " is not supported (this r1 reads version %u)",
                            name, h->version, R1_SEAL_VERSION);
    uint32_t header_size = seal_get_le32(data + SEAL_OFF_HEADER_SIZE), flags = seal_get_le32(data + SEAL_OFF_FLAGS);
    if (header_size != R1_SEAL_HEADER_BYTES)
        return r1_error_set(err, "%s: header: header size %" PRIu32 ", expected %u", name, header_size,
                            R1_SEAL_HEADER_BYTES);
    if (flags != 0) return r1_error_set(err, "%s: header: unknown flags 0x%08" PRIx32, name, flags);
    if (check_sizes(h, name, err) != 0) return -1;
    if (!all_zero(data + SEAL_OFF_RESERVED, SEAL_OFF_TAG - SEAL_OFF_RESERVED))
        return r1_error_set(err, "%s: header: reserved bytes %u-%u are not zero", name, SEAL_OFF_RESERVED,
                            SEAL_OFF_TAG - 1);
    if (!label_ok(data + SEAL_OFF_LABEL))
        return r1_error_set(err, "%s: header: the key label is not printable text", name);
    return 0;
}

/* ---- checks before the chunks ---- */

static int check_key(const r1_seal_header *h, const r1_seal_key *key, const char *name, r1_error *err) {
    if (CRYPTO_memcmp(h->key_id, key->id, sizeof key->id) == 0) return 0;
    char have[2 * R1_SEAL_KEY_ID_BYTES + 1], want[sizeof have];
    r1_seal_key_id_hex(key->id, have);
    r1_seal_key_id_hex(h->key_id, want);
    return r1_error_set(err, "%s: wrong key (key id %s, the file was sealed with %s%s%s%s)", name, have, want,
                        h->label[0] ? ", labelled '" : "", h->label, h->label[0] ? "'" : "");
}

static int check_file_size(const r1_seal_header *h, uint64_t size, const char *name, r1_error *err) {
    uint64_t want = r1_seal_file_size(h), framed = (uint64_t)h->chunk_size + R1_SEAL_TAG_BYTES;
    if (size < want) {
        /* a chunk cut short counts as missing: it cannot be authenticated */
        uint64_t whole = (size - R1_SEAL_HEADER_BYTES) / framed;
        if (whole > h->n_chunks - 1) whole = h->n_chunks - 1;
        return r1_error_set(err, "%s: truncated: %" PRIu64 " of %" PRIu64 " chunks missing (the file is %" PRIu64
                            " bytes, its header says %" PRIu64 ")", name, h->n_chunks - whole, h->n_chunks, size, want);
    }
    if (size > want)
        return r1_error_set(err, "%s: %" PRIu64 " bytes after the last of the %" PRIu64 " chunks (appended or "
                            "duplicated data; the header says %" PRIu64 " bytes)", name, size - want, h->n_chunks, want);
    return 0;
}

int seal_check_before_chunks(const uint8_t *file, size_t size, const char *name, const r1_seal_key *key,
                             r1_seal_header *h, seal_crypto *c, r1_error *err) {
    if (r1_seal_parse_header(file, size, name, h, err) != 0 || check_key(h, key, name, err) != 0) return -1;
    if (seal_crypto_init(c, key, h, err) != 0) return r1_error_prefix(err, "%s", name);
    if (seal_header_tag(c, h->raw, h->tag, true) != 0) {
        seal_crypto_free(c);
        return r1_error_set(err, "%s: the header failed authentication (it was edited; the key id matches)", name);
    }
    if (seal_bind_header(c, h->raw) != 0) {
        seal_crypto_free(c);
        return r1_error_set(err, "%s: SHA-256 failed in OpenSSL", name);
    }
    if (check_file_size(h, size, name, err) != 0) {
        seal_crypto_free(c);
        return -1;
    }
    return 0;
}

/* ---- locked anonymous memory ---- */

void r1_secure_buffer_free(r1_secure_buffer *b) {
    if (b && b->data) munmap(b->data, b->map_size);
    if (b) memset(b, 0, sizeof *b);
}

/* A mapping of map_size bytes starting on a 2 MiB boundary, so that
 * transparent huge pages can back all of it. */
static void *map_aligned(size_t map_size) {
    uint8_t *p = mmap(NULL, map_size + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)p + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    size_t head = start - (uintptr_t)p, tail = HUGE_PAGE_BYTES - head;
    if (head) munmap(p, head);
    if (tail) munmap((uint8_t *)start + map_size, tail);
    return (void *)start;
}

static atomic_bool warned_mlock;

/* Locking keeps the plaintext out of swap. MLOCK_ONFAULT locks pages as
 * the decrypting threads first touch them instead of faulting the whole
 * range in on this thread first. Refused (RLIMIT_MEMLOCK without
 * CAP_IPC_LOCK) it is a warning: the model still works. */
static bool lock_pages(void *p, size_t size, const char *name) {
    if (mlock2(p, size, MLOCK_ONFAULT) == 0 || mlock(p, size) == 0) return true;
    if (!atomic_exchange(&warned_mlock, true))
        r1_log_warn("%s: cannot lock the decrypted model in memory (%s): it could be swapped out; raise "
                    "`ulimit -l` (RLIMIT_MEMLOCK) or grant CAP_IPC_LOCK", name, strerror(errno));
    return false;
}

static int secure_alloc(size_t size, const char *name, r1_secure_buffer *b, r1_error *err) {
    memset(b, 0, sizeof *b);
    size_t map_size = (size + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if (map_size == 0) map_size = HUGE_PAGE_BYTES; /* an empty model still gets a valid pointer */
    void *p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (p == MAP_FAILED) { /* no reserved huge pages: the usual case */
        p = map_aligned(map_size);
        if (!p) return r1_error_set(err, "%s: cannot allocate %zu bytes for the decrypted model", name, size);
        madvise(p, map_size, MADV_HUGEPAGE); /* a hint; fine if declined */
    }
    madvise(p, map_size, MADV_DONTDUMP); /* plaintext never goes into a core file */
    b->data = p;
    b->size = size;
    b->map_size = map_size;
    b->locked = lock_pages(p, map_size, name);
    return 0;
}

/* ---- decrypting ---- */

int seal_chunk_failure(const char *name, int64_t chunk, uint64_t n_chunks, r1_error *err) {
    return r1_error_set(err, "%s: chunk %" PRId64 " of %" PRIu64 " failed authentication (tampered, truncated, "
                        "or the wrong key)", name, chunk + 1, n_chunks);
}

static int decrypt_all(const seal_crypto *c, const uint8_t *file, const char *name, int n_threads,
                       r1_secure_buffer *out, r1_error *err) {
    if (c->plain_size > SIZE_MAX) return r1_error_set(err, "%s: too large for this machine", name);
    if (secure_alloc((size_t)c->plain_size, name, out, err) != 0) return -1;
    r1_threadpool *pool = r1_threadpool_new(n_threads);
    int64_t failed = pool ? seal_run_chunks(c, pool, false, 0, c->n_chunks, file + R1_SEAL_HEADER_BYTES, out->data)
                          : -2;
    r1_threadpool_free(pool);
    if (failed == -1 && mprotect(out->data, out->map_size, PROT_READ) == 0) return 0;
    r1_secure_buffer_free(out);
    if (failed == -2) return r1_error_set(err, "%s: cannot start the decryption threads", name);
    if (failed == -1) return r1_error_set(err, "%s: cannot make the decrypted model read-only", name);
    return seal_chunk_failure(name, failed, c->n_chunks, err);
}

int r1_seal_decrypt_buffer(const uint8_t *file, size_t size, const char *name, const r1_seal_key *key,
                           int n_threads, r1_secure_buffer *out, r1_error *err) {
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    r1_seal_header h;
    seal_crypto c;
    if (seal_check_before_chunks(file, size, name, key, &h, &c, err) != 0) return -1;
    int rc = decrypt_all(&c, file, name, n_threads, out, err);
    seal_crypto_free(&c);
    return rc;
}

int seal_map_file(const char *path, const uint8_t **map, size_t *size, r1_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r1_error_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return r1_error_set(err, "%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    *map = NULL;
    if (*size > 0) {
        void *p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return r1_error_set(err, "%s: cannot map: %s", path, strerror(e));
        }
        madvise(p, *size, MADV_SEQUENTIAL); /* each chunk is read once, front to back */
        *map = p;
    }
    close(fd);
    return 0;
}

int r1_seal_decrypt_file(const char *path, const r1_seal_key *key, int n_threads, r1_secure_buffer *out,
                         r1_error *err) {
    memset(out, 0, sizeof *out);
    const uint8_t *map;
    size_t size;
    if (seal_map_file(path, &map, &size, err) != 0) return -1;
    static const uint8_t empty[1];
    int rc = r1_seal_decrypt_buffer(map ? map : empty, size, path, key, n_threads, out, err);
    if (map) munmap((void *)map, size);
    return rc;
}
