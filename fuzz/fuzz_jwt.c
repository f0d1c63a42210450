/*
 * fuzz_jwt.c - libFuzzer harness for JWT verification and JWKS parsing
 * (src/server/auth_jwt.c). The first byte picks what the rest is:
 *   0  a compact token, verified against a fixed JWKS (an RSA-2048 key
 *      "k1" and a P-256 key "e1") with HS256 enabled (a fixed secret)
 *   1  a JWKS document, parsed
 *   2  a header and a payload (split at the first NUL byte), base64url-
 *      encoded here and HS256-signed with the fixed secret by OpenSSL
 *      directly, so that inputs pass the signature and reach the header
 *      rules and the claims
 * A verified token must have a subject and well-formed scopes; a refused
 * one must say "invalid_token" with a short printable description that
 * holds no part of the signature, and leave no subject. ASan catches
 * leaks and overreads (cjose's included) on every path.
 *
 * Build: cmake -S . -B build-fuzz -DR1_FUZZ=ON -DCMAKE_C_COMPILER=clang-14
 * Run:   fuzz/run-fuzz.sh [seconds] [testdata-dir] jwt
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "server/auth_jwt.h"

#define NOW 1800000000
static const char SECRET[] = "fuzz-secret-fuzz-secret-fuzz-secret!";

static auth_jwt_verifier *verifier;

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static size_t b64url(const uint8_t *in, size_t n, char *out) {
    int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    while (len > 0 && out[len - 1] == '=') len--;
    for (int i = 0; i < len; i++) out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[len] = 0;
    return (size_t)len;
}

static char *bn_text(EVP_PKEY *k, const char *param, int pad) {
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    int n = pad ? pad : BN_num_bytes(bn);
    uint8_t buf[512];
    BN_bn2binpad(bn, buf, n);
    BN_free(bn);
    char *s = malloc(4 * sizeof buf / 3 + 8);
    b64url(buf, (size_t)n, s);
    return s;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    check(f != NULL);
    fputs(text, f);
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char dir[] = "/tmp/r1-fuzz-jwt-XXXXXX", jwks[64], secret[64], doc[4096];
    check(mkdtemp(dir) != NULL);
    snprintf(jwks, sizeof jwks, "%s/jwks.json", dir);
    snprintf(secret, sizeof secret, "%s/hs.secret", dir);
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    char *n = bn_text(rsa, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_text(rsa, OSSL_PKEY_PARAM_RSA_E, 0);
    char *x = bn_text(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32), *y = bn_text(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
    snprintf(doc, sizeof doc,
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}", n, e, x, y);
    write_file(jwks, doc);
    write_file(secret, SECRET);
    auth_jwt_config c = {.jwks_path = jwks, .issuer = "iss", .audience = "aud", .leeway_s = 30,
                         .allow_hs256 = true, .hs256_secret_path = secret};
    r1_error err;
    verifier = auth_jwt_create(&c, &err);
    check(verifier != NULL);
    unlink(jwks), unlink(secret), rmdir(dir);
    free(n), free(e), free(x), free(y);
    EVP_PKEY_free(rsa), EVP_PKEY_free(ec);
    return 0;
}

static bool printable(const char *s) {
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e) return false;
    return true;
}

static void verify_token(const char *token, size_t len) {
    auth_jwt_result r;
    memset(&r, 0x5A, sizeof r);
    if (auth_jwt_verify(verifier, token, len, NOW, &r) == 0) {
        check(r.error == NULL && r.subject[0] != '\0');
        check(strlen(r.subject) < sizeof r.subject && strlen(r.scopes) < sizeof r.scopes);
        for (const char *p = r.scopes; *p; p++) check(*p == ' ' || (*p > 0x20 && *p < 0x7f && *p != '"' && *p != '\\'));
    } else {
        check(r.error != NULL && strcmp(r.error, "invalid_token") == 0);
        check(r.description[0] != '\0' && strlen(r.description) < sizeof r.description && printable(r.description));
        check(r.subject[0] == '\0' && r.scopes[0] == '\0');
        const char *dot = memrchr(token, '.', len);
        if (dot && len - (size_t)(dot + 1 - token) >= 8) /* the signature never shows */
            check(memmem(r.description, strlen(r.description), dot + 1, 8) == NULL);
    }
}

/* header NUL payload -> base64url, signed with the HS256 secret. */
static void signed_token(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t hlen = nul ? (size_t)(nul - data) : size, plen = nul ? size - hlen - 1 : 0;
    const uint8_t *payload = nul ? nul + 1 : (const uint8_t *)"";
    char *token = malloc(2 * size + 64);
    size_t n = b64url(data, hlen, token);
    token[n++] = '.';
    n += b64url(payload, plen, token + n);
    uint8_t mac[32];
    size_t mac_len = 0;
    check(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, SECRET, strlen(SECRET), (const uint8_t *)token, n, mac,
                    sizeof mac, &mac_len) != NULL);
    token[n++] = '.';
    n += b64url(mac, mac_len, token + n);
    verify_token(token, n);
    free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 16384) return 0;
    uint8_t mode = data[0] % 3;
    data++, size--;
    if (mode == 0) {
        char *copy = malloc(size ? size : 1); /* exactly size bytes: overreads show */
        memcpy(copy, data, size);
        verify_token(copy, size);
        free(copy);
    } else if (mode == 1) {
        int n = -1;
        r1_error err;
        char *copy = malloc(size ? size : 1);
        memcpy(copy, data, size);
        int rc = auth_jwt_parse_jwks(copy, size, &n, &err);
        check(rc == 0 ? n >= 1 && n <= AUTH_JWT_MAX_KEYS : err.message[0] != '\0');
        free(copy);
    } else {
        signed_token(data, size);
    }
    return 0;
}
