/*
 * tls.c - HTTPS for `r1 serve --tls-cert --tls-key [--tls-client-ca]`:
 * libmicrohttpd speaks TLS through GnuTLS, restricted to TLS 1.3 (a TLS 1.2
 * client is refused; MHD closes without an alert, so such clients report an
 * unexpected EOF). With a client CA, every connection must present a
 * certificate that CA signed (mutual TLS, e.g. for the load balancer);
 * others are closed before any request is handled.
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/log.h"
#include "server/server_internal.h"

static char *read_pem(const char *path, const char *what, r1_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return r1_error_set(err, "%s %s: cannot open it", what, path), NULL;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = (len + 4096 + 1) * 2;
            char *p = realloc(text, cap);
            if (!p) break;
            text = p;
        }
        size_t n = fread(text + len, 1, 4096, f);
        len += n;
        if (n < 4096) break;
    }
    fclose(f);
    if (!text || len == 0 || len > (1u << 20)) {
        free(text);
        return r1_error_set(err, "%s %s: empty, unreadable or larger than 1 MiB", what, path), NULL;
    }
    text[len] = '\0';
    return text;
}

int tls_load(server *srv, r1_error *err) {
    const r1_server_config *c = &srv->config;
    if (!c->tls_cert && !c->tls_key && !c->tls_client_ca) return 0;
    if (!c->tls_cert || !c->tls_key) return r1_error_set(err, "TLS needs both --tls-cert and --tls-key");
    if (!(srv->tls_cert_pem = read_pem(c->tls_cert, "--tls-cert", err)) ||
        !(srv->tls_key_pem = read_pem(c->tls_key, "--tls-key", err)) ||
        (c->tls_client_ca && !(srv->tls_ca_pem = read_pem(c->tls_client_ca, "--tls-client-ca", err)))) {
        tls_free(srv);
        return -1;
    }
    return 0;
}

void tls_free(server *srv) {
    free(srv->tls_cert_pem);
    free(srv->tls_key_pem); /* a private key: not logged, freed at once */
    free(srv->tls_ca_pem);
    srv->tls_cert_pem = srv->tls_key_pem = srv->tls_ca_pem = NULL;
}

bool tls_client_allowed(server *srv, struct MHD_Connection *conn) {
    if (!srv->tls_ca_pem) return true;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!info || !info->tls_session) return false;
    gnutls_session_t session = (gnutls_session_t)info->tls_session;
    unsigned int n_certs = 0, status = 0;
    if (!gnutls_certificate_get_peers(session, &n_certs) || n_certs == 0) {
        r1_log_warn("mTLS: a client without a certificate was refused");
        return false;
    }
    if (gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS || status != 0) {
        r1_log_warn("mTLS: a client certificate not signed by --tls-client-ca was refused (status 0x%x)", status);
        return false;
    }
    return true;
}
