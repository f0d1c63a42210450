/*
 * tls.c - HTTPS for `r1 serve --tls-cert --tls-key [--tls-client-ca]`:
 * libmicrohttpd speaks TLS through GnuTLS, restricted to TLS 1.3 (a TLS 1.2
 * client is refused; MHD closes without an alert, so such clients report an
 * unexpected EOF). With a client CA, every connection must present a
 * certificate that CA signed (mutual TLS, e.g. for the load balancer);
 * others are closed before any request is handled.
 *
 * The certificate and key are handed to GnuTLS per handshake through MHD's
 * certificate callback, from the set loaded last: SIGHUP loads the files
 * again (tls_reload) and new handshakes use the new pair while open
 * connections go on with theirs. Old sets are kept until exit (reloads are
 * rare, and a handshake may still be using one).
 */
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>

#include <gnutls/abstract.h>
#include <pthread.h>
#include <string.h>

#include "base/log.h"
#include "server/server_internal.h"

enum { MAX_CHAIN = 8, MAX_SETS = 64 };

/* A certificate chain and its key, as GnuTLS wants them in a handshake. */
typedef struct tls_credentials {
    gnutls_pcert_st chain[MAX_CHAIN];
    unsigned int n_chain;
    gnutls_privkey_t key;
} tls_credentials;

static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;
static tls_credentials *sets[MAX_SETS]; /* every set loaded; the last is current */
static int n_sets;

static void credentials_free(tls_credentials *c) {
    for (unsigned int i = 0; i < c->n_chain; i++) gnutls_pcert_deinit(&c->chain[i]);
    if (c->key) gnutls_privkey_deinit(c->key);
    free(c);
}

static tls_credentials *credentials_load(const char *cert_pem, const char *key_pem, r1_error *err) {
    tls_credentials *c = calloc(1, sizeof *c);
    if (!c) return r1_error_set(err, "out of memory"), NULL;
    gnutls_datum_t cert = {(unsigned char *)cert_pem, (unsigned int)strlen(cert_pem)};
    gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned int)strlen(key_pem)};
    c->n_chain = MAX_CHAIN;
    int rc = gnutls_pcert_list_import_x509_raw(c->chain, &c->n_chain, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        c->n_chain = 0;
        credentials_free(c);
        return r1_error_set(err, "--tls-cert: not a PEM certificate chain of at most %d (%s)", MAX_CHAIN,
                            gnutls_strerror(rc)), NULL;
    }
    if ((rc = gnutls_privkey_init(&c->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        credentials_free(c);
        return r1_error_set(err, "--tls-key: not a PEM private key (%s)", gnutls_strerror(rc)), NULL;
    }
    return c;
}

/* MHD's certificate callback: the current set, for every handshake. */
static int hand_out_credentials(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int n_req_ca_dn,
                                const gnutls_pk_algorithm_t *algorithms, int n_algorithms, gnutls_pcert_st **chain,
                                unsigned int *n_chain, gnutls_privkey_t *key) {
    (void)session, (void)req_ca_dn, (void)n_req_ca_dn, (void)algorithms, (void)n_algorithms;
    pthread_mutex_lock(&sets_lock);
    tls_credentials *c = n_sets ? sets[n_sets - 1] : NULL;
    pthread_mutex_unlock(&sets_lock);
    if (!c) return -1;
    *chain = c->chain;
    *n_chain = c->n_chain;
    *key = c->key;
    return 0;
}

static int install_credentials(server *srv, r1_error *err) {
    tls_credentials *c = credentials_load(srv->tls_cert_pem, srv->tls_key_pem, err);
    if (!c) return -1;
    pthread_mutex_lock(&sets_lock);
    bool room = n_sets < MAX_SETS;
    if (room) sets[n_sets++] = c;
    pthread_mutex_unlock(&sets_lock);
    if (!room) {
        credentials_free(c);
        return r1_error_set(err, "more than %d certificate reloads; restart the server", MAX_SETS - 1);
    }
    return 0;
}

void *tls_certificate_callback(void) { return (void *)hand_out_credentials; }

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
        (c->tls_client_ca && !(srv->tls_ca_pem = read_pem(c->tls_client_ca, "--tls-client-ca", err))) ||
        install_credentials(srv, err) != 0) {
        tls_free(srv);
        return -1;
    }
    return 0;
}

void tls_reload(server *srv) {
    if (!srv->tls_cert_pem) return;
    r1_error err;
    char *cert = read_pem(srv->config.tls_cert, "--tls-cert", &err), *key = cert ? read_pem(srv->config.tls_key, "--tls-key", &err) : NULL;
    if (cert && key) {
        free(srv->tls_cert_pem);
        free(srv->tls_key_pem);
        srv->tls_cert_pem = cert;
        srv->tls_key_pem = key;
        cert = key = NULL;
        if (install_credentials(srv, &err) == 0) {
            r1_log_info("TLS: certificate reloaded from %s; new connections use it", srv->config.tls_cert);
            return;
        }
    }
    free(cert);
    free(key);
    r1_log_error("TLS: reload failed, keeping the current certificate: %s", err.message);
}

void tls_free(server *srv) {
    pthread_mutex_lock(&sets_lock);
    for (int i = 0; i < n_sets; i++) credentials_free(sets[i]);
    n_sets = 0;
    pthread_mutex_unlock(&sets_lock);
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
