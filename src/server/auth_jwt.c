/*
 * auth_jwt.c - JWT verification with cjose: the JWKS key sets (parsed,
 * reference-counted, swapped on reload), the checks made before cjose sees
 * a token (shape, sizes, alg and key type, signature length), and the
 * claims (see auth_jwt.h for the rules).
 *
 * cjose 0.6.2 (Debian 12) trusts the caller for two things this file
 * therefore does first: the alg must fit the key's type, and the signature
 * must have the exact length of the algorithm's output (its HMAC compare
 * reads digest-length bytes of the signature whatever its length).
 */
#include "server/auth_jwt.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjose/cjose.h>
#include <jansson.h>

#include "server/auth_crypto.h"

typedef enum jwt_alg { ALG_RS256, ALG_ES256, ALG_HS256 } jwt_alg;
static const char *const ALG_NAMES[] = {"RS256", "ES256", "HS256"};

typedef struct jwt_key {
    char kid[128];
    jwt_alg alg;
    cjose_jwk_t *jwk;
    size_t sig_bytes; /* the signature length this key gives */
} jwt_key;

typedef struct key_set {
    atomic_int refs;
    int n;
    jwt_key keys[AUTH_JWT_MAX_KEYS];
    cjose_jwk_t *hs; /* the HS256 secret, when enabled */
} key_set;

typedef struct file_stamp {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_stamp;

struct auth_jwt_verifier {
    char *jwks_path, *issuer, *audience, *hs_path;
    int leeway;
    pthread_mutex_t lock; /* guards current */
    key_set *current;
    pthread_mutex_t reload_lock; /* one reload at a time; guards the stamps */
    file_stamp jwks_stamp, hs_stamp;
};

/* ---- key sets ---- */

static void key_set_release(key_set *ks) {
    if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1) return;
    for (int i = 0; i < ks->n; i++) cjose_jwk_release(ks->keys[i].jwk);
    if (ks->hs) cjose_jwk_release(ks->hs);
    free(ks);
}

static key_set *key_set_acquire(auth_jwt_verifier *v) {
    pthread_mutex_lock(&v->lock);
    key_set *ks = v->current;
    atomic_fetch_add(&ks->refs, 1);
    pthread_mutex_unlock(&v->lock);
    return ks;
}

static const char *str_member(json_t *o, const char *name) { return json_string_value(json_object_get(o, name)); }

/* key_ops, when present, must allow "verify". */
static bool key_ops_allow_verify(json_t *key) {
    json_t *ops = json_object_get(key, "key_ops");
    if (!ops) return true;
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op) {
        if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0) return true;
    }
    return false;
}

/* Which algorithm a JWKS entry is for, or -1 when it is not a signing key
 * this verifier uses (skipped). */
static int jwks_entry_alg(json_t *key) {
    const char *kty = str_member(key, "kty"), *alg = str_member(key, "alg"), *use = str_member(key, "use");
    if (!kty || (use && strcmp(use, "sig") != 0) || !key_ops_allow_verify(key)) return -1;
    if (strcmp(kty, "RSA") == 0 && (!alg || strcmp(alg, "RS256") == 0)) return ALG_RS256;
    const char *crv = str_member(key, "crv");
    if (strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0 && (!alg || strcmp(alg, "ES256") == 0))
        return ALG_ES256;
    return -1; /* "oct" (never from a JWKS), other curves and algorithms */
}

/* A strict base64url member of at most max_len characters, or NULL. */
static json_t *b64_member(json_t *key, const char *name, size_t max_len) {
    json_t *v = json_object_get(key, name);
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max_len && n % 4 != 1 && auth_is_base64url(s, n) ? v : NULL;
}

/* The members cjose needs, each checked first, in a new object: cjose
 * 0.6.2's base64 decoder aborts the process (an assert) on some malformed
 * values, e.g. "A=AA", so it only ever sees strict base64url. NULL after
 * setting err. */
static json_t *public_part(json_t *key, jwt_alg alg, const char *kid, r1_error *err) {
    static const char *const RSA_MEMBERS[] = {"n", "e"}, *const EC_MEMBERS[] = {"x", "y"};
    const char *const *members = alg == ALG_RS256 ? RSA_MEMBERS : EC_MEMBERS;
    size_t max_len = alg == ALG_RS256 ? 2732 : 43; /* 16384-bit moduli; P-256 coordinates */
    json_t *out = json_pack("{s:s}", "kty", alg == ALG_RS256 ? "RSA" : "EC");
    if (alg == ALG_ES256) json_object_set_new(out, "crv", json_string("P-256"));
    for (int m = 0; m < 2; m++) {
        json_t *v = b64_member(key, members[m], max_len);
        if (!v) {
            json_decref(out);
            return r1_error_set(err, "key '%s': \"%s\" is missing or not base64url (or too long)", kid, members[m]), NULL;
        }
        json_object_set(out, members[m], v);
    }
    return out;
}

/* Imports entry i into the set: 0 added, 1 skipped, -1 refused. */
static int jwks_add(key_set *ks, json_t *key, size_t i, r1_error *err) {
    if (!json_is_object(key)) return r1_error_set(err, "key %zu is not a JSON object", i);
    if (!json_is_string(json_object_get(key, "kty"))) return r1_error_set(err, "key %zu has no \"kty\"", i);
    const char *kid = str_member(key, "kid");
    if (json_object_get(key, "d"))
        return r1_error_set(err, "key %zu holds a private key (\"d\"); publish only the public part", i);
    int alg = jwks_entry_alg(key);
    if (alg < 0 || !kid || !*kid) return 1;
    if (strlen(kid) >= sizeof ks->keys[0].kid) return r1_error_set(err, "key %zu: kid longer than 127 bytes", i);
    for (int k = 0; k < ks->n; k++)
        if (strcmp(ks->keys[k].kid, kid) == 0) return r1_error_set(err, "kid '%s' appears twice", kid);
    if (ks->n == AUTH_JWT_MAX_KEYS) return r1_error_set(err, "more than %d signing keys", AUTH_JWT_MAX_KEYS);
    json_t *pub = public_part(key, (jwt_alg)alg, kid, err);
    if (!pub) return -1;
    cjose_err cerr;
    cjose_jwk_t *jwk = cjose_jwk_import_json((cjose_header_t *)pub, &cerr);
    json_decref(pub);
    if (!jwk) return r1_error_set(err, "key '%s': not a valid %s key (%s)", kid, ALG_NAMES[alg], cerr.message);
    size_t bits = cjose_jwk_get_keysize(jwk, &cerr);
    if (alg == ALG_RS256 && bits < 2048) {
        cjose_jwk_release(jwk);
        return r1_error_set(err, "key '%s': RSA keys must have at least 2048 bits, not %zu", kid, bits);
    }
    jwt_key *k = &ks->keys[ks->n++];
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    k->alg = (jwt_alg)alg;
    k->jwk = jwk;
    k->sig_bytes = alg == ALG_RS256 ? (bits + 7) / 8 : 64;
    return 0;
}

static int parse_jwks_into(const char *json, size_t len, key_set *ks, r1_error *err) {
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return r1_error_set(err, "not JSON (line %d: %s)", je.line, je.text);
    json_t *keys = json_object_get(root, "keys");
    int rc = 0;
    if (!json_is_array(keys)) rc = r1_error_set(err, "no \"keys\" array");
    else if (json_array_size(keys) > 4 * AUTH_JWT_MAX_KEYS) rc = r1_error_set(err, "too many keys");
    for (size_t i = 0; rc == 0 && i < json_array_size(keys); i++)
        if (jwks_add(ks, json_array_get(keys, i), i, err) < 0) rc = -1;
    if (rc == 0 && ks->n == 0) rc = r1_error_set(err, "no RS256 or ES256 signing key with a kid");
    json_decref(root);
    return rc;
}

static key_set *key_set_new(void) {
    key_set *ks = calloc(1, sizeof *ks);
    if (ks) atomic_init(&ks->refs, 1);
    return ks;
}

int auth_jwt_parse_jwks(const char *json, size_t len, int *n_keys, r1_error *err) {
    key_set *ks = key_set_new();
    if (!ks) return r1_error_set(err, "out of memory");
    int rc = parse_jwks_into(json, len, ks, err);
    *n_keys = ks->n;
    key_set_release(ks);
    return rc;
}

static int load_jwks(const char *path, key_set *ks, r1_error *err) {
    char *text = NULL;
    size_t len = 0;
    if (auth_read_file(path, AUTH_JWT_MAX_JWKS, &text, &len, err) != 0) return -1;
    int rc = parse_jwks_into(text, len, ks, err);
    free(text);
    return rc < 0 ? r1_error_prefix(err, "%s", path) : 0;
}

static int load_hs_secret(const char *path, key_set *ks, r1_error *err) {
    auth_secret s;
    if (auth_secret_read(path, AUTH_JWT_HS256_MIN_SECRET, &s, err) != 0)
        return r1_error_prefix(err, "HS256 secret");
    cjose_err cerr;
    ks->hs = cjose_jwk_create_oct_spec(s.bytes, s.len, &cerr);
    auth_secret_free(&s);
    if (!ks->hs) return r1_error_set(err, "%s: cannot make an HS256 key (%s)", path, cerr.message);
    return 0;
}

static void stamp_of(const char *path, file_stamp *st) {
    struct stat sb;
    memset(st, 0, sizeof *st);
    if (!path || stat(path, &sb) != 0) return;
    st->exists = true;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
}

static bool stamp_equal(const file_stamp *a, const file_stamp *b) {
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Builds a key set from the files; the caller holds reload_lock. */
static key_set *load_key_set(auth_jwt_verifier *v, r1_error *err) {
    stamp_of(v->jwks_path, &v->jwks_stamp);
    stamp_of(v->hs_path, &v->hs_stamp);
    key_set *ks = key_set_new();
    if (!ks) return r1_error_set(err, "out of memory"), NULL;
    if ((v->jwks_path && load_jwks(v->jwks_path, ks, err) != 0) ||
        (v->hs_path && load_hs_secret(v->hs_path, ks, err) != 0)) {
        key_set_release(ks);
        return NULL;
    }
    return ks;
}

static void swap_in(auth_jwt_verifier *v, key_set *ks) {
    pthread_mutex_lock(&v->lock);
    key_set *old = v->current;
    v->current = ks;
    pthread_mutex_unlock(&v->lock);
    key_set_release(old);
}

int auth_jwt_reload(auth_jwt_verifier *v, r1_error *err) {
    pthread_mutex_lock(&v->reload_lock);
    key_set *ks = load_key_set(v, err);
    if (ks) swap_in(v, ks);
    pthread_mutex_unlock(&v->reload_lock);
    return ks ? 0 : -1;
}

int auth_jwt_reload_if_changed(auth_jwt_verifier *v, r1_error *err) {
    pthread_mutex_lock(&v->reload_lock);
    file_stamp j, h;
    stamp_of(v->jwks_path, &j);
    stamp_of(v->hs_path, &h);
    bool changed = !stamp_equal(&j, &v->jwks_stamp) || !stamp_equal(&h, &v->hs_stamp);
    key_set *ks = changed ? load_key_set(v, err) : NULL;
    if (ks) swap_in(v, ks);
    pthread_mutex_unlock(&v->reload_lock);
    return !changed ? 0 : ks ? 1 : -1;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int check_config(const auth_jwt_config *c, r1_error *err) {
    if (!c->issuer || !*c->issuer) return r1_error_set(err, "JWT auth needs an issuer (--jwt-issuer)");
    if (!c->audience || !*c->audience) return r1_error_set(err, "JWT auth needs an audience (--jwt-audience)");
    if (c->leeway_s < 0 || c->leeway_s > 3600) return r1_error_set(err, "JWT leeway must be 0..3600 s");
    if (c->allow_hs256 && !c->hs256_secret_path) return r1_error_set(err, "HS256 needs its own secret file");
    if (!c->jwks_path && !c->allow_hs256) return r1_error_set(err, "JWT auth needs a JWKS file (--jwks)");
    return 0;
}

auth_jwt_verifier *auth_jwt_create(const auth_jwt_config *c, r1_error *err) {
    if (check_config(c, err) != 0) return NULL;
    auth_jwt_verifier *v = calloc(1, sizeof *v);
    if (!v) return r1_error_set(err, "out of memory"), NULL;
    v->jwks_path = dup_or_null(c->jwks_path);
    v->issuer = strdup(c->issuer);
    v->audience = strdup(c->audience);
    v->hs_path = c->allow_hs256 ? dup_or_null(c->hs256_secret_path) : NULL;
    v->leeway = c->leeway_s;
    pthread_mutex_init(&v->lock, NULL);
    pthread_mutex_init(&v->reload_lock, NULL);
    v->current = load_key_set(v, err);
    if (!v->current) {
        auth_jwt_free(v);
        return NULL;
    }
    return v;
}

void auth_jwt_free(auth_jwt_verifier *v) {
    if (!v) return;
    key_set_release(v->current);
    pthread_mutex_destroy(&v->lock);
    pthread_mutex_destroy(&v->reload_lock);
    free(v->jwks_path);
    free(v->issuer);
    free(v->audience);
    free(v->hs_path);
    free(v);
}

void auth_jwt_describe(auth_jwt_verifier *v, char *buf, size_t cap) {
    key_set *ks = key_set_acquire(v);
    size_t used = 0;
    int n = snprintf(buf, cap, "%d key%s", ks->n, ks->n == 1 ? "" : "s");
    for (int i = 0; i < ks->n && n >= 0 && (size_t)n < cap - used; i++) {
        used += (size_t)n;
        n = snprintf(buf + used, cap - used, "%s%.32s %s", i ? ", " : ": ", ks->keys[i].kid,
                     ALG_NAMES[ks->keys[i].alg]);
    }
    if (n >= 0 && (size_t)n < cap - used) {
        used += (size_t)n;
        snprintf(buf + used, cap - used, "; HS256 %s", ks->hs ? "on" : "off");
    }
    key_set_release(ks);
}

/* ---- verification ---- */

static int refuse(auth_jwt_result *r, const char *description) {
    r->error = "invalid_token";
    snprintf(r->description, sizeof r->description, "%s", description);
    return -1;
}

/* The three segments of a compact JWS. */
typedef struct jws_parts {
    const char *seg[3];
    size_t len[3];
} jws_parts;

static size_t b64_decoded_max(size_t n) { return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0); }

static int split_token(const char *t, size_t len, jws_parts *p, auth_jwt_result *r) {
    if (len == 0) return refuse(r, "empty token");
    if (len > AUTH_JWT_MAX_TOKEN) return refuse(r, "token too long");
    const char *dot1 = memchr(t, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - t)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - t)))
        return refuse(r, "malformed token: not three dot-separated parts");
    p->seg[0] = t, p->len[0] = (size_t)(dot1 - t);
    p->seg[1] = dot1 + 1, p->len[1] = (size_t)(dot2 - dot1 - 1);
    p->seg[2] = dot2 + 1, p->len[2] = len - (size_t)(dot2 + 1 - t);
    for (int i = 0; i < 3; i++)
        if (!auth_is_base64url(p->seg[i], p->len[i]) || p->len[i] % 4 == 1)
            return refuse(r, "malformed token: bad base64url");
    if (p->len[0] == 0 || p->len[1] == 0) return refuse(r, "malformed token: empty header or payload");
    if (b64_decoded_max(p->len[0]) > AUTH_JWT_MAX_HEADER) return refuse(r, "token header too large");
    if (b64_decoded_max(p->len[1]) > AUTH_JWT_MAX_PAYLOAD) return refuse(r, "token payload too large");
    return 0;
}

/* Decodes a base64url segment and parses it as a JSON object. */
static json_t *segment_json(const char *seg, size_t len) {
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    cjose_err cerr;
    if (!cjose_base64url_decode(seg, len, &raw, &raw_len, &cerr) || !raw) return NULL;
    json_t *j = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
    cjose_get_dealloc()(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The header's algorithm, or -1 after refusing. */
static int header_alg(json_t *hdr, auth_jwt_result *r) {
    json_t *alg_j = json_object_get(hdr, "alg");
    const char *alg = json_string_value(alg_j);
    if (!alg) return refuse(r, "malformed token: no alg");
    if (strcasecmp(alg, "none") == 0) return refuse(r, "alg none refused");
    if (json_object_get(hdr, "crit")) return refuse(r, "crit header parameters are not supported");
    json_t *kid = json_object_get(hdr, "kid");
    if (kid && !json_is_string(kid)) return refuse(r, "malformed token: kid is not a string");
    for (int a = 0; a < 3; a++)
        if (strcmp(alg, ALG_NAMES[a]) == 0) return a;
    return refuse(r, "unsupported alg (RS256, ES256 or HS256)");
}

/* The key for this header, or NULL after refusing. */
static const cjose_jwk_t *choose_key(const key_set *ks, json_t *hdr, jwt_alg alg, size_t *sig_bytes,
                                     auth_jwt_result *r) {
    if (alg == ALG_HS256) {
        if (!ks->hs) return refuse(r, "HS256 tokens are not accepted"), NULL;
        *sig_bytes = AUTH_HMAC_LEN;
        return ks->hs;
    }
    const char *kid = str_member(hdr, "kid");
    if (!kid) return refuse(r, "token has no kid"), NULL;
    for (int i = 0; i < ks->n; i++) {
        if (strcmp(ks->keys[i].kid, kid) != 0) continue;
        if (ks->keys[i].alg != alg) return refuse(r, "alg does not match the key"), NULL;
        *sig_bytes = ks->keys[i].sig_bytes;
        snprintf(r->kid, sizeof r->kid, "%s", kid);
        return ks->keys[i].jwk;
    }
    return refuse(r, "unknown kid"), NULL;
}

/* Checks the signature with cjose; the payload's claims, or NULL after
 * refusing. */
static json_t *verified_claims(const char *token, size_t len, const cjose_jwk_t *key, auth_jwt_result *r) {
    cjose_err cerr;
    cjose_jws_t *jws = cjose_jws_import(token, len, &cerr);
    if (!jws) return refuse(r, "malformed token"), NULL;
    json_t *claims = NULL;
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    if (!cjose_jws_verify(jws, key, &cerr)) refuse(r, "bad signature");
    else if (!cjose_jws_get_plaintext(jws, &plain, &plain_len, &cerr)) refuse(r, "malformed token");
    else if (!(claims = json_loadb((const char *)plain, plain_len, JSON_REJECT_DUPLICATES, NULL)) ||
             !json_is_object(claims)) {
        json_decref(claims);
        claims = NULL;
        refuse(r, "malformed token: payload is not a JSON object");
    }
    cjose_jws_release(jws);
    return claims;
}

/* A NumericDate claim: 1 present (in *t), 0 absent, -1 not a number. */
static int time_claim(json_t *claims, const char *name, double *t) {
    json_t *j = json_object_get(claims, name);
    if (!j) return 0;
    if (!json_is_number(j)) return -1;
    *t = json_number_value(j);
    return 1;
}

static int check_times(json_t *claims, int64_t now, int leeway, auth_jwt_result *r) {
    double exp = 0, nbf = 0, iat = 0;
    int has_exp = time_claim(claims, "exp", &exp), has_nbf = time_claim(claims, "nbf", &nbf),
        has_iat = time_claim(claims, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) return refuse(r, "malformed token: a time claim is not a number");
    if (!has_exp) return refuse(r, "token has no exp");
    if ((double)now >= exp + leeway) return refuse(r, "token expired");
    if (has_nbf && nbf > (double)now + leeway) return refuse(r, "token not yet valid (nbf)");
    if (has_iat && iat > (double)now + leeway) return refuse(r, "token issued in the future (iat)");
    r->expires_at = exp >= 9.2e18 ? INT64_MAX : (int64_t)exp;
    return 0;
}

static bool audience_matches(json_t *aud, const char *want) {
    if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
    size_t i;
    json_t *a;
    json_array_foreach(aud, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0) return true;
    }
    return false;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool scope_char(unsigned char c) { return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e); }

/* Appends the scope tokens of a space-separated string to out. */
static int add_scope_string(const char *s, char *out, size_t cap, auth_jwt_result *r) {
    size_t used = strlen(out);
    for (const char *p = s; *p;) {
        while (*p == ' ') p++;
        const char *start = p;
        while (*p && *p != ' ') {
            if (!scope_char((unsigned char)*p)) return refuse(r, "malformed scope claim");
            p++;
        }
        size_t n = (size_t)(p - start);
        if (n == 0) break;
        if (used + (used ? 1 : 0) + n + 1 > cap) return refuse(r, "scope claim too long");
        if (used) out[used++] = ' ';
        memcpy(out + used, start, n);
        used += n;
        out[used] = '\0';
    }
    return 0;
}

static int read_scopes(json_t *claims, auth_jwt_result *r) {
    json_t *scope = json_object_get(claims, "scope");
    if (!scope) scope = json_object_get(claims, "scp");
    if (!scope) return 0;
    if (json_is_string(scope)) return add_scope_string(json_string_value(scope), r->scopes, sizeof r->scopes, r);
    if (!json_is_array(scope)) return refuse(r, "malformed scope claim");
    size_t i;
    json_t *s;
    json_array_foreach(scope, i, s) {
        const char *text = json_string_value(s);
        if (!text || !*text || strchr(text, ' ')) return refuse(r, "malformed scope claim");
        if (add_scope_string(text, r->scopes, sizeof r->scopes, r) != 0) return -1;
    }
    return 0;
}

static int check_claims(const auth_jwt_verifier *v, json_t *claims, int64_t now, auth_jwt_result *r) {
    if (check_times(claims, now, v->leeway, r) != 0) return -1;
    const char *iss = str_member(claims, "iss");
    if (!iss || strcmp(iss, v->issuer) != 0) return refuse(r, "wrong issuer");
    json_t *aud = json_object_get(claims, "aud");
    if (!aud || !audience_matches(aud, v->audience)) return refuse(r, "wrong audience");
    const char *sub = str_member(claims, "sub");
    if (!sub || !*sub) return refuse(r, "token has no sub");
    if (strlen(sub) >= sizeof r->subject) return refuse(r, "sub too long");
    snprintf(r->subject, sizeof r->subject, "%s", sub);
    return read_scopes(claims, r);
}

static int verify_with(const auth_jwt_verifier *v, const key_set *ks, const char *token, size_t len, int64_t now,
                       auth_jwt_result *r) {
    jws_parts p;
    if (split_token(token, len, &p, r) != 0) return -1;
    json_t *hdr = segment_json(p.seg[0], p.len[0]);
    if (!hdr) return refuse(r, "malformed token: header is not a JSON object");
    int alg = header_alg(hdr, r);
    size_t sig_bytes = 0;
    const cjose_jwk_t *key = alg < 0 ? NULL : choose_key(ks, hdr, (jwt_alg)alg, &sig_bytes, r);
    json_decref(hdr);
    if (!key) return -1;
    if (p.len[2] != auth_base64url_len(sig_bytes)) return refuse(r, "bad signature");
    json_t *claims = verified_claims(token, len, key, r);
    if (!claims) return -1;
    int rc = check_claims(v, claims, now, r);
    json_decref(claims);
    return rc;
}

int auth_jwt_verify(auth_jwt_verifier *v, const char *token, size_t len, int64_t now, auth_jwt_result *result) {
    memset(result, 0, sizeof *result);
    key_set *ks = key_set_acquire(v);
    int rc = verify_with(v, ks, token, len, now, result);
    key_set_release(ks);
    if (rc != 0) {
        result->subject[0] = result->scopes[0] = result->kid[0] = '\0';
        result->expires_at = 0;
    }
    return rc;
}
