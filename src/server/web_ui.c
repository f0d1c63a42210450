/*
 * web_ui.c - the web page of `r1 serve`: GET / answers web/index.html,
 * GET /web/NAME the other files of web/ (the script, the style sheet, the
 * icon, the microphone's audio worklet). The files are compiled into the
 * binary (cmake/embed_web.cmake writes r1_web_assets), so the page needs
 * nothing on disk and always matches its server.
 *
 * The page holds no secrets, so it is served without credentials even
 * with --auth (auth_scopes.c); the API calls it makes carry the bearer
 * token the user typed. Its headers lock it down: a Content-Security-Policy
 * that allows only this origin's scripts, styles and connections (and
 * blob: audio, for the spoken answers), no framing, no MIME sniffing.
 * Caching: the paths carry no version, so the browser revalidates every
 * time (no-cache) and the ETag - a hash of the file - turns that into a
 * 304 without a body.
 */
#include <string.h>

#include "server/server_internal.h"

/* 'self' only: no inline script or style, so an answer that smuggles
 * markup into the page could not run it even if the page inserted it
 * as HTML (it does not: it sets textContent). blob: for media is the
 * spoken answer; connect-src 'self' is the API of this same server. */
static const char CSP[] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                          "media-src 'self' blob:; connect-src 'self'; worker-src 'self'; object-src 'none'; "
                          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/* By extension; the page's files are only of these kinds. */
static const char *content_type(const char *path) {
    const char *dot = strrchr(path, '.');
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
        {".png", "image/png"},                 {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

static const web_asset *find_asset(const char *path) {
    if (strcmp(path, "/") == 0) path = "/web/index.html";
    for (size_t i = 0; i < r1_web_asset_count; i++)
        if (strcmp(r1_web_assets[i].path, path) == 0) return &r1_web_assets[i];
    return NULL;
}

/* If-None-Match holds a list of ETags, or "*" (RFC 9110 13.1.2); a weak
 * one (W/"...") matches too, as the comparison for GET is the weak one. */
static bool client_has(struct MHD_Connection *conn, const char *etag) {
    const char *list = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    if (!list) return false;
    size_t n = strlen(etag);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (*p == '*') return true;
        if (strncmp(p, "W/", 2) == 0) p += 2;
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == '\t')) return true;
        while (*p && *p != ',') p++;
    }
    return false;
}

static void add_headers(struct MHD_Response *r, const web_asset *a, const http_exchange *x) {
    MHD_add_response_header(r, "Content-Type", content_type(a->path));
    MHD_add_response_header(r, "ETag", a->etag);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "Content-Security-Policy", CSP);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    /* the microphone button needs the microphone; nothing else does */
    MHD_add_response_header(r, "Permissions-Policy", "microphone=(self), camera=(), geolocation=()");
    MHD_add_response_header(r, "X-Request-Id", x->request_id);
}

enum MHD_Result web_ui_serve(http_exchange *x) {
    const web_asset *a = find_asset(x->path);
    if (!a) {
        api_error err;
        api_error_set(&err, 404, "invalid_request_error", "not_found", NULL, "no file %.100s in the web page",
                      x->path);
        return http_send_error(x, &err);
    }
    bool fresh = client_has(x->conn, a->etag);
    /* The bytes are static and live as long as the program: MHD sends them
     * in place. MHD leaves the body out for HEAD by itself. */
    struct MHD_Response *r = fresh ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
                                   : MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    add_headers(r, a, x);
    x->status = fresh ? 304 : 200;
    x->responded = true;
    enum MHD_Result ok = MHD_queue_response(x->conn, (unsigned)x->status, r);
    MHD_destroy_response(r);
    return ok;
}
