/*
 * auth_jwt.h - JWT bearer tokens (RFC 7519) verified as an OAuth 2
 * resource server does: the signature with cjose against keys from a JWKS
 * file chosen by `kid`, then the claims.
 *
 * Algorithms: RS256 (RSA keys of 2048 bits or more from the JWKS) and ES256
 * (P-256 keys from the JWKS); HS256 only when allow_hs256 is set, and then
 * only with the secret from its own file, never with a key of the JWKS (the
 * JWKS's "oct" keys are ignored). The header's alg must be one of these and
 * must match the key's type: "none" and algorithm confusion (HS256 signed
 * with an RSA public key's bytes) are refused before any signature check.
 * A header with "crit" is refused (no extension is understood); "jku",
 * "x5u" and embedded "jwk" are never followed.
 *
 * Claims: exp required; nbf and iat, when present, not in the future; all
 * three with `leeway_s` of clock skew. iss must equal the issuer; aud (a
 * string or an array of strings) must contain the audience; sub is
 * required. Scopes come from "scope" (a space-separated string) or, when
 * that is absent, "scp" (an array of strings, or a string).
 *
 * Keys rotate without downtime: auth_jwt_reload() reads the JWKS (and the
 * HS256 secret) again and swaps the key set in; requests being verified
 * keep the set they started with (sets are reference-counted). A bad new
 * file leaves the old keys in force and returns the error. The server calls
 * it on SIGHUP, and auth_jwt_reload_if_changed() from a timer (it stats the
 * files and reloads when one's mtime, size or inode changed).
 *
 * Every function is thread-safe. Failures carry a short description that is
 * safe to send to the client in WWW-Authenticate: it never contains the
 * token or any part of it.
 */
#ifndef R1_SERVER_AUTH_JWT_H
#define R1_SERVER_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "server/auth_scopes.h"

#define AUTH_JWT_MAX_TOKEN 8192   /* bytes of the compact token */
#define AUTH_JWT_MAX_HEADER 1024  /* decoded header bytes */
#define AUTH_JWT_MAX_PAYLOAD 4096 /* decoded payload bytes */
#define AUTH_JWT_MAX_JWKS (1 << 20)
#define AUTH_JWT_MAX_KEYS 64
#define AUTH_JWT_MAX_SUBJECT 256
#define AUTH_JWT_HS256_MIN_SECRET 32 /* bytes (RFC 7518 §3.2: at least the hash size) */

typedef struct auth_jwt_config {
    const char *jwks_path;         /* RS256/ES256 keys; may be NULL only with allow_hs256 */
    const char *issuer;            /* required: "iss" must equal it */
    const char *audience;          /* required: "aud" must contain it */
    int leeway_s;                  /* clock skew allowed on exp, nbf, iat: 0..3600 */
    bool allow_hs256;              /* accept HS256 tokens ... */
    const char *hs256_secret_path; /* ... signed with this file's secret (>= 32 bytes) */
} auth_jwt_config;

typedef struct auth_jwt_verifier auth_jwt_verifier;

/* Reads the keys; NULL with a message naming the file and problem. */
auth_jwt_verifier *auth_jwt_create(const auth_jwt_config *config, r1_error *err);
void auth_jwt_free(auth_jwt_verifier *v);

/* Reads the key files again and swaps the new set in. On failure the old
 * set stays in force and -1 comes back with the reason. */
int auth_jwt_reload(auth_jwt_verifier *v, r1_error *err);

/* Reloads when a key file changed since the last load attempt (a bad file
 * is tried once per change). 1: reloaded, 0: unchanged, -1: the changed
 * file was refused (old keys still in force). */
int auth_jwt_reload_if_changed(auth_jwt_verifier *v, r1_error *err);

/* One line for the start-up log: the key ids and algorithms in force,
 * e.g. "2 keys: k1 RS256, k2 ES256; HS256 on". Never any key material. */
void auth_jwt_describe(auth_jwt_verifier *v, char *buf, size_t cap);

typedef struct auth_jwt_result {
    /* success */
    char subject[AUTH_JWT_MAX_SUBJECT];
    char scopes[AUTH_MAX_SCOPES_TEXT]; /* space-separated; "" when none */
    int64_t expires_at;                /* exp, seconds since the epoch */
    char kid[128];                     /* the key that verified it ("" for HS256) */
    /* failure */
    const char *error;      /* "invalid_token" (RFC 6750), NULL on success */
    char description[128]; /* e.g. "token expired"; never the token */
} auth_jwt_result;

/* Verifies the compact token (len bytes, not NUL-terminated) at time now
 * (seconds since the epoch). 0 with the subject, scopes and expiry, or -1
 * with result->error and result->description. */
int auth_jwt_verify(auth_jwt_verifier *v, const char *token, size_t len, int64_t now, auth_jwt_result *result);

/* The key set alone, for the JWKS fuzz harness: parses a JWKS document,
 * 0 with the number of usable keys in *n_keys, or -1 with why. */
int auth_jwt_parse_jwks(const char *json, size_t len, int *n_keys, r1_error *err);

#endif
