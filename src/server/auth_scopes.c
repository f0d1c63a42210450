/*
 * auth_scopes.c - the endpoint -> scope table, scope lists, bearer
 * credentials and WWW-Authenticate values (see auth_scopes.h).
 */
#include "server/auth_scopes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const SCOPES[] = {AUTH_SCOPE_CHAT, AUTH_SCOPE_AUDIO_TRANSCRIBE, AUTH_SCOPE_AUDIO_SPEECH,
                                     AUTH_SCOPE_MODELS_READ, AUTH_SCOPE_ADMIN};
#define N_SCOPES (sizeof SCOPES / sizeof SCOPES[0])

typedef struct endpoint_rule {
    const char *path;
    bool prefix; /* path is a folder: anything below it */
    const char *scope;
} endpoint_rule;

static const endpoint_rule RULES[] = {
    {"/v1/chat/completions", false, AUTH_SCOPE_CHAT},
    {"/v1/completions", false, AUTH_SCOPE_CHAT},
    {"/v1/audio/transcriptions", false, AUTH_SCOPE_AUDIO_TRANSCRIBE},
    {"/v1/audio/translations", false, AUTH_SCOPE_AUDIO_TRANSCRIBE},
    {"/v1/audio/speech", false, AUTH_SCOPE_AUDIO_SPEECH},
    {"/v1/models", false, AUTH_SCOPE_MODELS_READ},
    {"/v1/models/", true, AUTH_SCOPE_MODELS_READ},
    {"/metrics", false, AUTH_SCOPE_ADMIN},
    {"/admin/", true, AUTH_SCOPE_ADMIN},
};

bool auth_endpoint_scope(const char *path, const char **scope) {
    *scope = NULL;
    if (strcmp(path, "/health") == 0 || strcmp(path, "/ready") == 0) return false;
    /* the web page (web_ui.c): static files with no secret in them; its
     * API calls carry the token the user typed */
    if (strcmp(path, "/") == 0 || (strncmp(path, "/web/", 5) == 0 && path[5] && !strchr(path + 5, '/'))) return false;
    for (size_t i = 0; i < sizeof RULES / sizeof RULES[0]; i++) {
        const endpoint_rule *r = &RULES[i];
        bool match = r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
        if (match) {
            *scope = r->scope;
            break;
        }
    }
    return true;
}

const char *const *auth_scope_names(size_t *n) {
    *n = N_SCOPES;
    return SCOPES;
}

static int scope_index(const char *name, size_t len) {
    for (size_t i = 0; i < N_SCOPES; i++)
        if (strlen(SCOPES[i]) == len && memcmp(SCOPES[i], name, len) == 0) return (int)i;
    return -1;
}

bool auth_scope_known(const char *scope) { return scope_index(scope, strlen(scope)) >= 0; }

bool auth_scopes_has(const char *scopes, const char *scope) {
    size_t want = strlen(scope);
    if (!scopes || want == 0) return false;
    for (const char *p = scopes; *p;) {
        while (*p == ' ') p++;
        const char *start = p;
        while (*p && *p != ' ') p++;
        if ((size_t)(p - start) == want && memcmp(start, scope, want) == 0) return true;
    }
    return false;
}

int auth_scopes_normalize(const char *in, char *out, size_t cap, r1_error *err) {
    bool seen[N_SCOPES] = {0};
    for (const char *p = in; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ' ' && *p != ',') p++;
        if (p == start) break;
        int i = scope_index(start, (size_t)(p - start));
        if (i < 0) {
            return r1_error_set(err, "unknown scope '%.*s' (known: chat, audio.transcribe, audio.speech, "
                                     "models.read, admin)", (int)(p - start > 64 ? 64 : p - start), start);
        }
        seen[i] = true;
    }
    size_t used = 0;
    if (cap) out[0] = '\0';
    for (size_t i = 0; i < N_SCOPES; i++) {
        if (!seen[i]) continue;
        int n = snprintf(out + used, cap - used, "%s%s", used ? " " : "", SCOPES[i]);
        if (n < 0 || (size_t)n >= cap - used) return r1_error_set(err, "scope list too long");
        used += (size_t)n;
    }
    if (used == 0) return r1_error_set(err, "no scopes given");
    return 0;
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
static bool b64token(const char *s, size_t n) {
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
        if (!ok) break;
    }
    if (i == 0) return false;
    while (i < n && s[i] == '=') i++;
    return i == n;
}

auth_bearer auth_bearer_token(const char *authorization, const char **token, size_t *len) {
    *token = NULL;
    *len = 0;
    if (!authorization) return AUTH_BEARER_MISSING;
    const char *p = authorization;
    while (*p == ' ' || *p == '\t') p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\0')) return AUTH_BEARER_MISSING;
    p += 6;
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (!b64token(p, n)) return AUTH_BEARER_MALFORMED;
    *token = p;
    *len = n;
    return AUTH_BEARER_OK;
}

/* Appends text to buf as the inside of a quoted-string (RFC 9110 §5.6.4). */
static size_t put_quoted(char *buf, size_t cap, size_t used, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p && used + 3 < cap; p++) {
        if (*p == '"' || *p == '\\') buf[used++] = '\\';
        buf[used++] = (*p < 0x20 || *p >= 0x7f) ? '?' : (char)*p;
    }
    buf[used] = '\0';
    return used;
}

static size_t put_raw(char *buf, size_t cap, size_t used, const char *text) {
    int n = snprintf(buf + used, cap - used, "%s", text);
    if (n < 0) return used;
    return used + ((size_t)n < cap - used ? (size_t)n : cap - used - 1);
}

static size_t put_param(char *buf, size_t cap, size_t used, const char *name, const char *value) {
    used = put_raw(buf, cap, used, ", ");
    used = put_raw(buf, cap, used, name);
    used = put_raw(buf, cap, used, "=\"");
    used = put_quoted(buf, cap, used, value);
    return put_raw(buf, cap, used, "\"");
}

size_t auth_www_authenticate(char *buf, size_t cap, const char *error, const char *description, const char *scope) {
    if (cap == 0) return 0;
    buf[0] = '\0';
    size_t used = put_raw(buf, cap, 0, "Bearer realm=\"r1\"");
    if (!error) return used;
    used = put_param(buf, cap, used, "error", error);
    if (description) used = put_param(buf, cap, used, "error_description", description);
    if (scope) used = put_param(buf, cap, used, "scope", scope);
    return used;
}
