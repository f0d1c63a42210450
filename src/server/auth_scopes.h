/*
 * auth_scopes.h - who may call what. The one table of endpoint -> scope
 * (docs/SECURITY.md prints it), scope lists (space-separated, as OAuth 2
 * writes them: "chat models.read"), the Authorization header's bearer
 * credential, and the WWW-Authenticate values of RFC 6750 for 401 and 403.
 *
 *   /v1/chat/completions, /v1/completions      chat
 *   /v1/audio/transcriptions, /translations    audio.transcribe
 *   /v1/audio/speech                           audio.speech
 *   /v1/models, /v1/models/{id}                models.read
 *   /metrics, /admin/...                       admin
 *   /health, /ready                            open (exact paths only)
 *   /, /web/NAME                               open (the web page's files)
 *   anything else                              any authenticated caller
 *
 * Scopes do not imply one another: `admin` does not grant `chat`.
 */
#ifndef R1_SERVER_AUTH_SCOPES_H
#define R1_SERVER_AUTH_SCOPES_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define AUTH_SCOPE_CHAT "chat"
#define AUTH_SCOPE_AUDIO_TRANSCRIBE "audio.transcribe"
#define AUTH_SCOPE_AUDIO_SPEECH "audio.speech"
#define AUTH_SCOPE_MODELS_READ "models.read"
#define AUTH_SCOPE_ADMIN "admin"

#define AUTH_MAX_SCOPES_TEXT 1024 /* a scope list's text, with the NUL */

/* What path (no query string) needs. Returns false when the endpoint is
 * open to everyone (/health and /ready, exact match). Otherwise true, with
 * *scope the scope required, or NULL when any authenticated caller may go
 * on (paths outside the table: authenticated first, so that callers
 * without credentials learn nothing of which paths exist, then 404). */
bool auth_endpoint_scope(const char *path, const char **scope);

/* The scopes r1 knows, in table order; *n gets the count. */
const char *const *auth_scope_names(size_t *n);
bool auth_scope_known(const char *scope);

/* True when the space-separated list holds scope exactly. */
bool auth_scopes_has(const char *scopes, const char *scope);

/* Reads a list separated by commas and/or spaces ("chat,models.read") into
 * the canonical space-separated form, in table order without repeats. Every
 * name must be a known scope and at least one must be given. 0 or -1. */
int auth_scopes_normalize(const char *in, char *out, size_t cap, r1_error *err);

/* The bearer credential of an Authorization header value. */
typedef enum auth_bearer {
    AUTH_BEARER_OK,        /* *token, *len point into the header value */
    AUTH_BEARER_MISSING,   /* no header, or another scheme: 401 without error= */
    AUTH_BEARER_MALFORMED, /* "Bearer" with no or a badly formed credential: 400 invalid_request */
} auth_bearer;

auth_bearer auth_bearer_token(const char *authorization, const char **token, size_t *len);

/* Writes a WWW-Authenticate value into buf (always NUL-terminated, cut to
 * cap) and returns its length:
 *   error NULL                 Bearer realm="r1"
 *   "invalid_token", desc      Bearer realm="r1", error="invalid_token", error_description="desc"
 *   "insufficient_scope", sc   Bearer realm="r1", error="insufficient_scope", scope="sc"
 * description and scope may each be NULL (left out). Quotes and backslashes
 * in them are escaped, other control and non-ASCII bytes become '?', so the
 * value can never end the quoted string or the header line. */
size_t auth_www_authenticate(char *buf, size_t cap, const char *error, const char *description, const char *scope);

#endif
