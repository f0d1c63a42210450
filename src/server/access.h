/*
 * access.h - who may call what, how often, and the record of it: the
 * server's glue around the security modules. For every request (but the
 * open probes /health and /ready): the bearer credential is checked (a JWT
 * against the JWKS, or an API key against the key store), then the scope
 * the endpoint needs (auth_scopes.c); generation requests then pass the
 * caller's rate limits; when the request ends its tokens are charged and
 * one line goes to the tamper-evident audit log.
 *
 * Refusals answer as RFC 6750 says (401 with WWW-Authenticate for a bad or
 * missing credential, 403 insufficient_scope, 400 for a malformed header)
 * and 429 with Retry-After and x-ratelimit-* headers, each with the
 * OpenAI-style error body.
 */
#ifndef R1_SERVER_ACCESS_H
#define R1_SERVER_ACCESS_H

#include <stdbool.h>

#include "base/error.h"
#include "server/rate_limit.h"
#include "server/server.h"

typedef struct access_control access_control;

/* What the server knows of the caller of one request. */
typedef struct caller {
    char subject[256];       /* JWT sub, or "key:" + key id; "" when auth is off */
    char scopes[1024];
    const char *method;      /* "jwt", "key", or NULL */
    rl_limits limits;
    bool holds_rate_slot;    /* rl_acquire admitted it: release at the end */
    int scope_slot;          /* 1 + index of the --rate-scope limit it holds; 0: none */
} caller;

/* NULL with *err set when a configured piece cannot start (bad JWKS, key
 * store, audit key...). */
access_control *access_open(const r1_server_config *config, r1_error *err);
void access_free(access_control *a);

/* SIGHUP: reread the JWKS (keeps the old keys if the new file is bad). */
void access_reload(access_control *a);
/* About once a second: reread the JWKS if its file changed. */
void access_tick(access_control *a);

struct http_exchange;

/* Authenticates and authorises the request; true to go on. On false the
 * refusal has been queued on the connection. */
bool access_check(access_control *a, struct http_exchange *x);
/* Rate limits of a generation request; true to go on, else 429 queued. */
bool access_admit(access_control *a, struct http_exchange *x);
/* The request ended: charge its tokens, write the audit line. */
void access_finish(access_control *a, struct http_exchange *x, int status);

bool access_enabled(const access_control *a);

#endif
