/*
 * sealed_key.c - the keys of sealed model files (see sealed.h): parsing
 * (32 raw bytes or 64 hex digits), key files, key commands, the
 * environment fallback, generation and key ids.
 *
 * Key material is only ever copied into r1_seal_key structs and scratch
 * buffers that are wiped (OPENSSL_cleanse, which the optimiser cannot drop)
 * before they go out of scope. Messages say how long or malformed an input
 * was, never what it contained.
 */
#include "model/sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"

/* More than any valid key text (64 digits + "\r\n"): reading one byte past
 * the longest valid form tells "too long" apart without reading more. */
#define KEY_READ_CAP 72

/* Domain separation: a key id is not the plain SHA-256 of the key, so it
 * cannot be matched against hashes of the key published for other uses. */
static const char KEY_ID_DOMAIN[] = "r1-seal-key-id-v1";

void r1_seal_key_wipe(r1_seal_key *key) {
    if (key) OPENSSL_cleanse(key, sizeof *key);
}

void r1_seal_key_id_hex(const uint8_t id[R1_SEAL_KEY_ID_BYTES], char out[2 * R1_SEAL_KEY_ID_BYTES + 1]) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < R1_SEAL_KEY_ID_BYTES; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * R1_SEAL_KEY_ID_BYTES] = 0;
}

static int derive_key_id(r1_seal_key *key, r1_error *err) {
    uint8_t digest[32];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_MD *sha = EVP_MD_fetch(NULL, "SHA256", NULL);
    int ok = ctx && sha && EVP_DigestInit_ex2(ctx, sha, NULL) &&
             EVP_DigestUpdate(ctx, KEY_ID_DOMAIN, sizeof KEY_ID_DOMAIN - 1) &&
             EVP_DigestUpdate(ctx, key->bytes, sizeof key->bytes) && EVP_DigestFinal_ex(ctx, digest, &n);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(sha);
    if (!ok) return r1_error_set(err, "SHA-256 is not available from OpenSSL");
    memcpy(key->id, digest, sizeof key->id);
    return 0;
}

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hex_key(const uint8_t *text, const char *what, r1_seal_key *key, r1_error *err) {
    for (unsigned i = 0; i < R1_SEAL_KEY_BYTES; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            r1_seal_key_wipe(key);
            return r1_error_set(err, "%s: a 64-character key must be hex digits, and character %u is not", what,
                                hi < 0 ? 2 * i + 1 : 2 * i + 2);
        }
        key->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int r1_seal_key_parse(const uint8_t *data, size_t len, const char *what, r1_seal_key *key, r1_error *err) {
    memset(key, 0, sizeof *key);
    size_t text_len = len;
    if (text_len > 0 && data[text_len - 1] == '\n') text_len--;
    if (text_len > 0 && text_len == 2 * R1_SEAL_KEY_BYTES + 1 && data[text_len - 1] == '\r') text_len--;
    if (len == R1_SEAL_KEY_BYTES) {
        memcpy(key->bytes, data, R1_SEAL_KEY_BYTES);
    } else if (text_len == 2 * R1_SEAL_KEY_BYTES) {
        if (parse_hex_key(data, what, key, err) != 0) return -1;
    } else {
        return r1_error_set(err, "%s: a key is 32 raw bytes or 64 hex digits (and an optional newline); "
                            "this one is %zu%s bytes", what, len > KEY_READ_CAP ? (size_t)KEY_READ_CAP : len,
                            len > KEY_READ_CAP ? "+" : "");
    }
    return derive_key_id(key, err);
}

/* Reads up to cap bytes from fd (to the end, or cap). */
static ssize_t read_up_to(int fd, uint8_t *buf, size_t cap) {
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* A key readable by others is as good as published: say so, but load it
 * (the operator may have reasons, e.g. a tmpfs only root can reach). */
static void warn_if_shared(const char *path, const struct stat *st) {
    if (S_ISREG(st->st_mode) && (st->st_mode & 077))
        r1_log_warn("key file %s can be read by other users (mode %04o): chmod 600 it", path,
                    (unsigned)(st->st_mode & 07777));
}

int r1_seal_key_load_file(const char *path, r1_seal_key *key, r1_error *err) {
    memset(key, 0, sizeof *key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r1_error_set(err, "key file %s: cannot open: %s", path, strerror(errno));
    struct stat st;
    bool have_stat = fstat(fd, &st) == 0;
    if (have_stat && S_ISDIR(st.st_mode)) {
        close(fd);
        return r1_error_set(err, "key file %s: is a directory", path);
    }
    if (have_stat) warn_if_shared(path, &st);
    uint8_t buf[KEY_READ_CAP + 1];
    ssize_t n = read_up_to(fd, buf, sizeof buf);
    int read_errno = errno;
    close(fd);
    int rc;
    if (n < 0) {
        rc = r1_error_set(err, "key file %s: cannot read: %s", path, strerror(read_errno));
    } else {
        char what[300];
        snprintf(what, sizeof what, "key file %s", path);
        rc = r1_seal_key_parse(buf, (size_t)n, what, key, err);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

/* The command's output, read to its end so the command never dies of
 * SIGPIPE, keeping only the first bytes. */
static ssize_t read_command_output(FILE *p, uint8_t *buf, size_t cap) {
    size_t got = 0;
    uint8_t spill[256];
    for (;;) {
        size_t n = got < cap ? fread(buf + got, 1, cap - got, p) : fread(spill, 1, sizeof spill, p);
        if (n == 0) break;
        got += n;
    }
    OPENSSL_cleanse(spill, sizeof spill);
    return ferror(p) ? -1 : (ssize_t)got;
}

/* The command's text is not quoted in messages: it may carry a token. */
int r1_seal_key_from_command(const char *command, r1_seal_key *key, r1_error *err) {
    memset(key, 0, sizeof *key);
    fflush(NULL); /* the child must not re-emit our buffered output */
    FILE *p = popen(command, "re");
    if (!p) return r1_error_set(err, "--key-command: cannot run it: %s", strerror(errno));
    uint8_t buf[KEY_READ_CAP + 1];
    ssize_t n = read_command_output(p, buf, sizeof buf);
    int status = pclose(p);
    int rc;
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = WIFSIGNALED(status) ? r1_error_set(err, "--key-command: killed by signal %d", WTERMSIG(status))
             : status == -1      ? r1_error_set(err, "--key-command: cannot wait for it: %s", strerror(errno))
                                 : r1_error_set(err, "--key-command: exited with status %d", WEXITSTATUS(status));
    } else if (n < 0) {
        rc = r1_error_set(err, "--key-command: cannot read its output");
    } else {
        rc = r1_seal_key_parse(buf, (size_t)n, "--key-command output", key, err);
    }
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int r1_seal_key_resolve(const r1_seal_key_source *src, r1_seal_key *key, r1_error *err) {
    int rc;
    if (src && src->bytes) rc = r1_seal_key_parse(src->bytes, src->len, "the key given", key, err);
    else if (src && src->file) rc = r1_seal_key_load_file(src->file, key, err);
    else if (src && src->command) rc = r1_seal_key_from_command(src->command, key, err);
    else {
        const char *env = getenv("R1_MODEL_KEY_FILE");
        if (!env || !*env) return 0;
        rc = r1_seal_key_load_file(env, key, err);
        if (rc != 0) r1_error_prefix(err, "R1_MODEL_KEY_FILE");
    }
    return rc == 0 ? 1 : -1;
}

int r1_seal_key_generate(r1_seal_key *key, r1_error *err) {
    memset(key, 0, sizeof *key);
    size_t got = 0;
    while (got < sizeof key->bytes) {
        ssize_t n = getrandom(key->bytes + got, sizeof key->bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return r1_error_set(err, "getrandom failed: %s", strerror(errno));
        got += (size_t)n;
    }
    return derive_key_id(key, err);
}
