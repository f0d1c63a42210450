/*
 * access.c - authentication, authorisation, rate limits and the audit log
 * around each request (see access.h), over auth_jwt.c, api_keys.c,
 * auth_scopes.c, rate_limit.c and audit_log.c.
 */
#include "server/access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "server/api_keys.h"
#include "server/audit_log.h"
#include "server/auth_jwt.h"
#include "server/auth_scopes.h"
#include "server/server_internal.h"

#define MAX_SCOPE_LIMITS 8

/* --rate-scope: requests per minute per caller, on the endpoints of one
 * scope, counted apart from the caller's own limits (subject "SUB#scope") */
typedef struct scope_limit {
    char scope[32];
    rl_limits limits;
} scope_limit;

struct access_control {
    bool jwt_mode, keys_mode;
    auth_jwt_verifier *jwt;
    api_keys *keys;
    rate_limiter *limiter;
    rl_limits default_limits;
    scope_limit scope_limits[MAX_SCOPE_LIMITS];
    int n_scope_limits;
    audit_log *audit;
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_audit(access_control *a, const r1_server_config *c, r1_error *err) {
    if (!c->audit_log) return 0;
    if (!c->audit_key_file) return r1_error_set(err, "--audit-log needs --audit-key-file (the HMAC key)");
    audit_config ac = {.path = c->audit_log, .key_file = c->audit_key_file, .max_bytes = c->audit_max_bytes,
                       .content = c->audit_content};
    ac.fsync = c->audit_fsync_every == 1 ? AUDIT_FSYNC_EVERY_LINE
               : c->audit_fsync_every == 0 ? AUDIT_FSYNC_NEVER : AUDIT_FSYNC_EVERY_N;
    ac.fsync_every = c->audit_fsync_every > 0 ? c->audit_fsync_every : 1;
    a->audit = audit_open(&ac, err);
    return a->audit ? 0 : -1;
}

static int open_credentials(access_control *a, const r1_server_config *c, r1_error *err) {
    a->jwt_mode = strcmp(c->auth, "jwt") == 0;
    a->keys_mode = strcmp(c->auth, "keys") == 0;
    if (!a->jwt_mode && !a->keys_mode && strcmp(c->auth, "none") != 0)
        return r1_error_set(err, "--auth expects none, jwt or keys, got '%s'", c->auth);
    if (a->jwt_mode) {
        if (!c->jwt_issuer || !c->jwt_audience)
            return r1_error_set(err, "--auth jwt needs --jwt-issuer and --jwt-audience");
        auth_jwt_config jc = {.jwks_path = c->jwks, .issuer = c->jwt_issuer, .audience = c->jwt_audience,
                              .leeway_s = c->jwt_leeway_s, .allow_hs256 = c->jwt_hs256_secret != NULL,
                              .hs256_secret_path = c->jwt_hs256_secret};
        a->jwt = auth_jwt_create(&jc, err);
        if (!a->jwt) return -1;
        char described[256];
        auth_jwt_describe(a->jwt, described, sizeof described);
        r1_log_info("auth: JWT bearer tokens (%s)", described);
    }
    if (a->keys_mode) {
        const char *path = c->keys_db ? c->keys_db : getenv("R1_KEYS_DB") ? getenv("R1_KEYS_DB") : "r1-keys.db";
        a->keys = api_keys_open(path, err);
        if (!a->keys) return -1;
        r1_log_info("auth: API keys from %s", path);
    }
    return 0;
}

/* "audio.speech=30,chat=600" into a->scope_limits. */
static int parse_scope_limits(access_control *a, const char *text, r1_error *err) {
    for (const char *p = text; p && *p;) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *eq = memchr(p, '=', (size_t)(end - p));
        char scope[32];
        char *number_end;
        long long n = eq ? strtoll(eq + 1, &number_end, 10) : 0;
        if (!eq || (size_t)(eq - p) >= sizeof scope || number_end != end || n <= 0)
            return r1_error_set(err, "--rate-scope expects SCOPE=REQUESTS_PER_MINUTE[,...], got '%s'", text);
        memcpy(scope, p, (size_t)(eq - p));
        scope[eq - p] = '\0';
        if (!auth_scope_known(scope)) return r1_error_set(err, "--rate-scope: unknown scope '%s'", scope);
        if (a->n_scope_limits == MAX_SCOPE_LIMITS) return r1_error_set(err, "--rate-scope: too many scopes");
        scope_limit *l = &a->scope_limits[a->n_scope_limits++];
        snprintf(l->scope, sizeof l->scope, "%s", scope);
        l->limits = (rl_limits){.requests_per_min = n};
        p = comma ? comma + 1 : end;
    }
    return 0;
}

access_control *access_open(const r1_server_config *c, r1_error *err) {
    access_control *a = calloc(1, sizeof *a);
    if (!a) return r1_error_set(err, "out of memory"), NULL;
    a->default_limits = (rl_limits){c->rate_requests_per_min, c->rate_tokens_per_min, c->rate_tokens_per_day,
                                    c->rate_concurrent};
    if (parse_scope_limits(a, c->rate_scope, err) != 0 || open_credentials(a, c, err) != 0 || open_audit(a, c, err) != 0 ||
        !(a->limiter = rl_create(65536, err))) {
        access_free(a);
        return NULL;
    }
    if (!a->jwt_mode && !a->keys_mode) r1_log_warn("auth: none - anyone who reaches the port may call the API");
    return a;
}

void access_free(access_control *a) {
    if (!a) return;
    auth_jwt_free(a->jwt);
    api_keys_close(a->keys);
    rl_free(a->limiter);
    if (a->audit) {
        char hex[65];
        audit_last_hmac(a->audit, hex);
        r1_log_info("audit log closed; last hmac %s", hex); /* an anchor outside the file */
        r1_error err;
        if (audit_close(a->audit, &err) != 0) r1_log_error("audit log: %s", err.message);
    }
    free(a);
}

bool access_enabled(const access_control *a) { return a && (a->jwt_mode || a->keys_mode); }

void access_reload(access_control *a) {
    r1_error err;
    if (a && a->jwt) {
        if (auth_jwt_reload(a->jwt, &err) != 0) r1_log_error("auth: JWKS reload failed, keeping the old keys: %s", err.message);
        else r1_log_info("auth: JWKS reloaded");
    }
}

void access_tick(access_control *a) {
    r1_error err;
    if (a && a->jwt && auth_jwt_reload_if_changed(a->jwt, &err) < 0)
        r1_log_error("auth: the changed JWKS is not usable, keeping the old keys: %s", err.message);
}

/* ---- refusals ---- */

static bool refuse(http_exchange *x, int status, const char *code, const char *www_error, const char *description,
                   const char *scope, const char *reason) {
    char www[512];
    auth_www_authenticate(www, sizeof www, www_error, description, scope);
    x->www_authenticate = status == 401 || status == 403 ? www : NULL;
    api_error err;
    api_error_set(&err, status, status == 403 ? "permission_error" : "authentication_error", code, NULL, "%s",
                  description ? description : "authentication required");
    metrics_auth_failure(x->srv->metrics, reason);
    http_send_error(x, &err);
    x->www_authenticate = NULL;
    return false;
}

static bool verify_jwt(access_control *a, http_exchange *x, const char *token, size_t len) {
    auth_jwt_result r;
    if (auth_jwt_verify(a->jwt, token, len, (int64_t)time(NULL), &r) != 0)
        return refuse(x, 401, "invalid_token", "invalid_token", r.description, NULL, "invalid_token");
    snprintf(x->who.subject, sizeof x->who.subject, "%s", r.subject);
    snprintf(x->who.scopes, sizeof x->who.scopes, "%s", r.scopes);
    x->who.method = "jwt";
    x->who.limits = a->default_limits;
    return true;
}

/* An API key's own limits replace the defaults where it sets them. */
static bool verify_key(access_control *a, http_exchange *x, const char *token, size_t len) {
    api_key_info info;
    r1_error err;
    api_key_status st = api_keys_verify(a->keys, token, len, &info, &err);
    if (st == API_KEY_ERROR) {
        r1_log_error("auth: key store: %s", err.message);
        api_error e;
        api_error_set(&e, 500, "server_error", "key_store", NULL, "the key store failed");
        http_send_error(x, &e);
        return false;
    }
    if (st != API_KEY_VALID) return refuse(x, 401, "invalid_api_key", "invalid_token", err.message, NULL, "invalid_key");
    snprintf(x->who.subject, sizeof x->who.subject, "key:%s", info.id);
    snprintf(x->who.scopes, sizeof x->who.scopes, "%s", info.scopes);
    x->who.method = "key";
    x->who.limits = a->default_limits;
    if (info.limits.requests_per_min) x->who.limits.requests_per_min = info.limits.requests_per_min;
    if (info.limits.tokens_per_min) x->who.limits.tokens_per_min = info.limits.tokens_per_min;
    if (info.limits.tokens_per_day) x->who.limits.tokens_per_day = info.limits.tokens_per_day;
    return true;
}

bool access_check(access_control *a, http_exchange *x) {
    x->who.limits = a->default_limits;
    const char *scope = NULL;
    if (!access_enabled(a) || x->metrics_only || !auth_endpoint_scope(x->path, &scope)) return true;
    const char *header = MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND, "Authorization"), *token;
    size_t len;
    switch (auth_bearer_token(header, &token, &len)) {
    case AUTH_BEARER_MISSING:
        return refuse(x, 401, "missing_token", NULL, "this endpoint needs an Authorization: Bearer credential", NULL,
                      "missing");
    case AUTH_BEARER_MALFORMED: {
        api_error err;
        api_error_set(&err, 400, "invalid_request_error", "invalid_request", NULL, "a malformed Authorization header");
        metrics_auth_failure(x->srv->metrics, "malformed");
        http_send_error(x, &err);
        return false;
    }
    case AUTH_BEARER_OK: break;
    }
    if (!(a->jwt_mode ? verify_jwt(a, x, token, len) : verify_key(a, x, token, len))) return false;
    if (scope && !auth_scopes_has(x->who.scopes, scope)) {
        char description[128];
        snprintf(description, sizeof description, "this endpoint needs the scope \"%s\"", scope);
        return refuse(x, 403, "insufficient_scope", "insufficient_scope", description, scope, "insufficient_scope");
    }
    return true;
}

/* ---- rate limits ---- */

static void add_ratelimit_headers(http_exchange *x, const rl_verdict *v) {
    char text[64];
    if (v->limit_requests > 0) {
        snprintf(x->ratelimit[0], sizeof x->ratelimit[0], "%lld", (long long)v->limit_requests);
        snprintf(x->ratelimit[1], sizeof x->ratelimit[1], "%lld", (long long)v->remaining_requests);
        rl_format_duration(v->reset_requests_ms, text, sizeof text);
        snprintf(x->ratelimit[2], sizeof x->ratelimit[2], "%s", text);
    }
    if (v->limit_tokens > 0) {
        snprintf(x->ratelimit[3], sizeof x->ratelimit[3], "%lld", (long long)v->limit_tokens);
        snprintf(x->ratelimit[4], sizeof x->ratelimit[4], "%lld", (long long)v->remaining_tokens);
        rl_format_duration(v->reset_tokens_ms, text, sizeof text);
        snprintf(x->ratelimit[5], sizeof x->ratelimit[5], "%s", text);
    }
}

static bool refuse_rate(http_exchange *x, const rl_verdict *v, const char *scope) {
    x->retry_after_s = (int)v->retry_after_s;
    metrics_rate_limited(x->srv->metrics);
    api_error err;
    api_error_set(&err, 429, "rate_limit_exceeded", "rate_limit_exceeded", NULL,
                  "rate limit reached (%s%s%s); retry in %lld s", v->reason, scope ? " for the scope " : "",
                  scope ? scope : "", (long long)v->retry_after_s);
    http_send_error(x, &err);
    return false;
}

/* The --rate-scope limit of the endpoint x calls, or -1. */
static int find_scope_limit(const access_control *a, const http_exchange *x) {
    const char *scope = NULL;
    if (a->n_scope_limits == 0 || !auth_endpoint_scope(x->path, &scope) || !scope) return -1;
    for (int i = 0; i < a->n_scope_limits; i++)
        if (strcmp(a->scope_limits[i].scope, scope) == 0) return i;
    return -1;
}

static void scope_subject(const access_control *a, const http_exchange *x, int limit, char *out, size_t cap) {
    snprintf(out, cap, "%s#%s", x->who.subject[0] ? x->who.subject : "anonymous", a->scope_limits[limit].scope);
}

bool access_admit(access_control *a, http_exchange *x) {
    const rl_limits *l = &x->who.limits;
    const char *subject = x->who.subject[0] ? x->who.subject : "anonymous";
    rl_verdict v;
    if (l->requests_per_min || l->tokens_per_min || l->tokens_per_day || l->max_concurrent) {
        bool ok = rl_acquire(a->limiter, subject, l, wall_ms(), &v);
        add_ratelimit_headers(x, &v);
        if (!ok) return refuse_rate(x, &v, NULL);
        x->who.holds_rate_slot = true;
    }
    int limit = find_scope_limit(a, x);
    if (limit < 0) return true;
    char key[RL_MAX_SUBJECT + 40];
    scope_subject(a, x, limit, key, sizeof key);
    if (!rl_acquire(a->limiter, key, &a->scope_limits[limit].limits, wall_ms(), &v)) {
        if (x->who.holds_rate_slot) rl_release(a->limiter, subject, l, 0, wall_ms());
        x->who.holds_rate_slot = false;
        add_ratelimit_headers(x, &v);
        return refuse_rate(x, &v, a->scope_limits[limit].scope);
    }
    if (!x->who.holds_rate_slot) add_ratelimit_headers(x, &v);
    x->who.scope_slot = limit + 1;
    return true;
}

void access_finish(access_control *a, http_exchange *x, int status) {
    const generation *g = x->gen;
    int64_t tokens = g ? g->n_prompt + g->n_generated : 0;
    if (x->who.holds_rate_slot) {
        const char *subject = x->who.subject[0] ? x->who.subject : "anonymous";
        rl_release(a->limiter, subject, &x->who.limits, tokens, wall_ms());
        x->who.holds_rate_slot = false;
    }
    if (x->who.scope_slot > 0) {
        int limit = x->who.scope_slot - 1;
        char key[RL_MAX_SUBJECT + 40];
        scope_subject(a, x, limit, key, sizeof key);
        rl_release(a->limiter, key, &a->scope_limits[limit].limits, 0, wall_ms());
        x->who.scope_slot = 0;
    }
    if (!a->audit || strcmp(x->endpoint, "/health") == 0 || strcmp(x->endpoint, "/ready") == 0) return;
    audit_entry e = {.time_ms = wall_ms(), .request_id = x->request_id,
                     .subject = x->who.subject[0] ? x->who.subject : NULL, .auth = x->who.method,
                     .scopes = x->who.scopes[0] ? x->who.scopes : NULL, .endpoint = x->endpoint,
                     .model = x->srv->alias, .prompt_tokens = g ? g->n_prompt : 0,
                     .completion_tokens = g ? g->n_generated : 0, .status = status,
                     .latency_ms = (int64_t)((server_now() - x->started) * 1e3)};
    if (g) e.completion = g->content;
    r1_error err;
    if (audit_append(a->audit, &e, &err) != 0) r1_log_error("audit log: %s", err.message);
}
