/*
 * auth_crypto.c - random bytes, prefetched HMAC-SHA256, hex, base64url and
 * secret files for the security modules (see auth_crypto.h).
 */
#include "server/auth_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SECRET_MAX_BYTES 65536

int auth_random(void *buf, size_t n, r1_error *err) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return r1_error_set(err, "getrandom: %s", strerror(errno));
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* ---- HMAC-SHA256 ---- */

struct auth_hmac {
    EVP_MAC_CTX *keyed; /* a template: duplicated per message, never updated */
};

static EVP_MAC *hmac_algorithm;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void) { hmac_algorithm = EVP_MAC_fetch(NULL, "HMAC", NULL); }

static EVP_MAC_CTX *hmac_keyed_ctx(const uint8_t *key, size_t key_len) {
    pthread_once(&hmac_once, hmac_fetch);
    if (!hmac_algorithm || key_len == 0) return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_algorithm);
    if (!ctx) return NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

auth_hmac *auth_hmac_new(const uint8_t *key, size_t key_len, r1_error *err) {
    auth_hmac *h = calloc(1, sizeof *h);
    if (!h) return r1_error_set(err, "out of memory"), NULL;
    h->keyed = hmac_keyed_ctx(key, key_len);
    if (!h->keyed) {
        free(h);
        r1_error_set(err, "HMAC-SHA256: cannot key the OpenSSL MAC");
        return NULL;
    }
    return h;
}

void auth_hmac_free(auth_hmac *h) {
    if (!h) return;
    EVP_MAC_CTX_free(h->keyed);
    free(h);
}

static int mac_into(EVP_MAC_CTX *c, const void *a, size_t a_len, const void *b, size_t b_len,
                    uint8_t out[AUTH_HMAC_LEN]) {
    size_t out_len = 0;
    int ok = (a_len == 0 || EVP_MAC_update(c, a, a_len) == 1) && (b_len == 0 || EVP_MAC_update(c, b, b_len) == 1) &&
             EVP_MAC_final(c, out, &out_len, AUTH_HMAC_LEN) == 1 && out_len == AUTH_HMAC_LEN;
    return ok ? 0 : -1;
}

int auth_hmac_mac(const auth_hmac *h, const void *a, size_t a_len, const void *b, size_t b_len,
                  uint8_t out[AUTH_HMAC_LEN]) {
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(h->keyed);
    if (!c) return -1;
    int rc = mac_into(c, a, a_len, b, b_len, out);
    EVP_MAC_CTX_free(c);
    return rc;
}

int auth_hmac_once(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[AUTH_HMAC_LEN]) {
    EVP_MAC_CTX *c = hmac_keyed_ctx(key, key_len);
    if (!c) return -1;
    int rc = mac_into(c, msg, msg_len, NULL, 0, out);
    EVP_MAC_CTX_free(c);
    return rc;
}

/* ---- text encodings ---- */

void auth_hex_encode(const uint8_t *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool auth_hex_decode(const char *text, size_t text_len, uint8_t *out, size_t n) {
    if (text_len != 2 * n) return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t auth_base64url_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

size_t auth_base64url_encode(const uint8_t *in, size_t n, char *out) {
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64URL[v >> 18];
        out[o++] = B64URL[(v >> 12) & 63];
        out[o++] = B64URL[(v >> 6) & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        out[o++] = B64URL[in[i] >> 2];
        out[o++] = B64URL[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        out[o++] = B64URL[v >> 10];
        out[o++] = B64URL[(v >> 4) & 63];
        out[o++] = B64URL[(v & 15) << 2];
    }
    out[o] = '\0';
    return o;
}

bool auth_is_base64url(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

/* ---- files ---- */

/* Reads all of fd (a regular file of at most max bytes) into a new buffer
 * with room for a NUL. */
static int read_fd(int fd, const char *path, size_t max, uint8_t **out, size_t *len, r1_error *err) {
    struct stat st;
    if (fstat(fd, &st) != 0) return r1_error_set(err, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return r1_error_set(err, "%s: not a regular file", path);
    if ((uint64_t)st.st_size > max) return r1_error_set(err, "%s: larger than %zu bytes", path, max);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) return r1_error_set(err, "%s: out of memory", path);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            OPENSSL_cleanse(buf, got);
            free(buf);
            return r1_error_set(err, "%s: %s", path, r < 0 ? strerror(errno) : "changed while being read");
        }
        got += (size_t)r;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

static int read_path(const char *path, size_t max, uint8_t **out, size_t *len, r1_error *err) {
    if (!path || !*path) return r1_error_set(err, "no file given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return r1_error_set(err, "%s: %s", path, strerror(errno));
    int rc = read_fd(fd, path, max, out, len, err);
    close(fd);
    return rc;
}

int auth_read_file(const char *path, size_t max_bytes, char **out, size_t *len, r1_error *err) {
    uint8_t *buf = NULL;
    if (read_path(path, max_bytes, &buf, len, err) != 0) return -1;
    *out = (char *)buf;
    return 0;
}

/* Length of the UTF-8 sequence that starts with lead byte b, 0 when b
 * cannot start one. */
static size_t utf8_sequence_length(uint8_t b) {
    if (b < 0x80) return 1;
    if (b >= 0xc2 && b <= 0xdf) return 2;
    if (b >= 0xe0 && b <= 0xef) return 3;
    if (b >= 0xf0 && b <= 0xf4) return 4;
    return 0;
}

/* True when the bytes read as text: sequences shaped like UTF-8 (a lead
 * byte and its continuation bytes; overlong forms and surrogates are not
 * told apart, which no key file needs) with no control characters other
 * than tab, CR and LF. A key typed or pasted into a file is text; 32 bytes
 * from /dev/urandom are with a chance of about 2e-11 (and also end in
 * whitespace about 7e-13), so their last byte is kept even when it
 * happens to be 0x0a. */
static bool secret_is_text(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_sequence_length(s[i]);
        if (n == 0 || n > len - i) return false;
        if (n == 1 && (s[i] == 0x7f || (s[i] < 0x20 && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')))
            return false;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80) return false;
        i += n;
    }
    return true;
}

static bool is_trailing_space(uint8_t c) { return c == '\n' || c == '\r' || c == ' ' || c == '\t'; }

int auth_secret_read(const char *path, size_t min_len, auth_secret *out, r1_error *err) {
    out->bytes = NULL;
    out->len = 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (read_path(path, SECRET_MAX_BYTES, &buf, &len, err) != 0) return -1;
    bool text = secret_is_text(buf, len);
    if (text)
        while (len > 0 && is_trailing_space(buf[len - 1])) buf[--len] = 0;
    if (len < min_len) {
        OPENSSL_cleanse(buf, len);
        free(buf);
        return r1_error_set(err, "%s: the key is %zu bytes%s; at least %zu are needed", path, len,
                            text ? " (text, less its trailing whitespace)" : "", min_len);
    }
    out->bytes = buf;
    out->len = len;
    return 0;
}

void auth_secret_free(auth_secret *s) {
    if (!s || !s->bytes) return;
    OPENSSL_cleanse(s->bytes, s->len);
    free(s->bytes);
    s->bytes = NULL;
    s->len = 0;
}
