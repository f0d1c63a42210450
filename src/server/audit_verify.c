/*
 * audit_verify.c - checking an audit log's hmac chain across one or more
 * files, and saying where it breaks and the likely cause (see audit_log.h
 * for the format).
 *
 * The first line whose hmac does not follow from the line before is the
 * break. Its likely cause comes from the lines after it:
 *   - it verifies after some later line       -> lines out of order
 *   - the next line continues from the last good line -> a line inserted
 *   - its seq is the one expected            -> edited (or a line removed)
 *   - its seq is past the one expected        -> lines removed (or reordered,
 *                                               when the expected seq shows up later)
 *   - its seq is before the one expected      -> moved, repeated or inserted
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server/audit_internal.h"
#include "server/audit_log.h"

typedef struct chain {
    bool started;
    uint8_t last[AUTH_HMAC_LEN];
    int64_t next_seq, file_no;
    const char *prev_path;
} chain;

typedef struct reader {
    FILE *f;
    char *buf;
    size_t cap;
    int64_t no; /* line number of the line last read */
} reader;

/* One line without its newline: 1 got (*newline says whether it ended in
 * one), 0 at the end. */
static int next_line(reader *r, char **line, size_t *len, bool *newline) {
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n <= 0) return 0;
    r->no++;
    *newline = r->buf[n - 1] == '\n';
    *len = (size_t)n - (*newline ? 1 : 0);
    *line = r->buf;
    return 1;
}

static int broken(audit_report *rep, int file, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int broken(audit_report *rep, int file, int64_t line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->reason, sizeof rep->reason, fmt, ap);
    va_end(ap);
    rep->bad_file = file;
    rep->bad_line = line;
    return 1;
}

/* Does line (split at body) carry the hmac it should after prev? */
static bool follows(const auth_hmac *mac, const uint8_t prev[AUTH_HMAC_LEN], const char *line, size_t body,
                    const uint8_t stored[AUTH_HMAC_LEN]) {
    uint8_t computed[AUTH_HMAC_LEN];
    return auth_hmac_mac(mac, prev, AUTH_HMAC_LEN, line, body, computed) == 0 &&
           CRYPTO_memcmp(computed, stored, AUTH_HMAC_LEN) == 0;
}

/* ---- diagnosis of a break ---- */

typedef struct bad_line {
    bool shaped;   /* an audit record (hmac suffix, JSON with a seq) */
    char *text;    /* a copy: the reader's buffer moves on */
    size_t body;
    uint8_t stored[AUTH_HMAC_LEN];
    int64_t seq, no;
} bad_line;

typedef struct later_facts {
    int64_t belongs_after; /* line number the bad line verifies after, 0: none */
    bool next_continues;   /* the next line follows the last good line */
    bool expected_later;   /* the expected seq appears further on */
} later_facts;

static void scan_later(reader *r, const auth_hmac *mac, const chain *c, const bad_line *b, later_facts *f) {
    char *line;
    size_t len, body;
    bool nl;
    uint8_t stored[AUTH_HMAC_LEN];
    audit_line_info li;
    while (next_line(r, &line, &len, &nl)) {
        if (!audit_split_line(line, len, &body, stored)) continue;
        if (r->no == b->no + 1 && follows(mac, c->last, line, body, stored)) f->next_continues = true;
        if (b->shaped && !f->belongs_after && follows(mac, stored, b->text, b->body, b->stored))
            f->belongs_after = r->no;
        if (audit_parse_line(line, len, &li) && !li.header && li.seq == c->next_seq) f->expected_later = true;
    }
}

static int diagnose(reader *r, const auth_hmac *mac, const chain *c, const bad_line *b, int file, audit_report *rep) {
    later_facts f = {0};
    scan_later(r, mac, c, b, &f);
    int64_t s = b->seq, e = c->next_seq;
    if (f.belongs_after)
        return broken(rep, file, b->no, "hmac mismatch: out of order (this line belongs after line %lld)",
                      (long long)f.belongs_after);
    if (f.next_continues)
        return broken(rep, file, b->no,
                      "hmac mismatch: a line was inserted here (the next line continues the chain from the line before it)");
    if (!b->shaped) return broken(rep, file, b->no, "not an audit record (inserted or damaged)");
    if (s == e) return broken(rep, file, b->no, "hmac mismatch (edited, or a line before it was removed)");
    if (s > e && f.expected_later)
        return broken(rep, file, b->no, "hmac mismatch: out of order (seq %lld where %lld was expected)", (long long)s,
                      (long long)e);
    if (s > e)
        return broken(rep, file, b->no, "hmac mismatch: seq %lld where %lld was expected (%lld line(s) removed before it)",
                      (long long)s, (long long)e, (long long)(s - e));
    return broken(rep, file, b->no, "hmac mismatch: seq %lld where %lld was expected (a line moved, repeated or inserted)",
                  (long long)s, (long long)e);
}

/* ---- lines ---- */

static int check_record(reader *r, const auth_hmac *mac, chain *c, char *line, size_t len, int file,
                        audit_report *rep) {
    bad_line b = {.no = r->no};
    audit_line_info li;
    b.shaped = audit_split_line(line, len, &b.body, b.stored) && audit_parse_line(line, len, &li) && !li.header;
    b.seq = b.shaped ? li.seq : -1;
    if (b.shaped && follows(mac, c->last, line, b.body, b.stored)) {
        if (li.seq != c->next_seq)
            return broken(rep, file, r->no, "seq %lld where %lld was expected (written out of order)",
                          (long long)li.seq, (long long)c->next_seq);
        memcpy(c->last, b.stored, AUTH_HMAC_LEN);
        c->next_seq++;
        rep->records++;
        return 0;
    }
    b.text = malloc(len + 1);
    if (!b.text) return broken(rep, file, r->no, "out of memory");
    memcpy(b.text, line, len);
    b.text[len] = 0;
    int rc = diagnose(r, mac, c, &b, file, rep);
    free(b.text);
    return rc;
}

static bool all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static int continues(const chain *c, const audit_line_info *li, int file, audit_report *rep) {
    if (memcmp(li->prev, c->last, AUTH_HMAC_LEN) != 0)
        return broken(rep, file, 1, "does not continue %s (lines removed at its end, or a file missing or out of order)",
                      c->prev_path);
    if (li->file != c->file_no + 1)
        return broken(rep, file, 1, "file number %lld where %lld was expected (a file missing or out of order)",
                      (long long)li->file, (long long)c->file_no + 1);
    if (li->seq != c->next_seq)
        return broken(rep, file, 1, "seq %lld where %lld was expected", (long long)li->seq, (long long)c->next_seq);
    return 0;
}

static int check_header(const auth_hmac *mac, chain *c, const char *line, size_t len, int file, audit_report *rep) {
    size_t body;
    uint8_t stored[AUTH_HMAC_LEN];
    audit_line_info li;
    if (!audit_split_line(line, len, &body, stored) || !audit_parse_line(line, len, &li) || !li.header)
        return broken(rep, file, 1, "not an r1 audit log (the first line is not a file header)");
    if (!follows(mac, li.prev, line, body, stored))
        return broken(rep, file, 1, "hmac mismatch on the file header (wrong key, or the header was edited)");
    if (c->started && continues(c, &li, file, rep) != 0) return 1;
    if (!c->started && (li.file != 1 || !all_zero(li.prev, AUTH_HMAC_LEN)))
        snprintf(rep->note, sizeof rep->note, "the chain starts at file %lld (seq %lld); earlier files were not given",
                 (long long)li.file, (long long)li.seq);
    memcpy(c->last, stored, AUTH_HMAC_LEN);
    c->next_seq = li.seq;
    c->file_no = li.file;
    c->started = true;
    return 0;
}

static int verify_file(const char *path, int file, const auth_hmac *mac, chain *c, audit_report *rep) {
    reader r = {.f = fopen(path, "r")};
    if (!r.f) {
        snprintf(rep->reason, sizeof rep->reason, "%s: %s", path, strerror(errno));
        rep->bad_file = file;
        return -1;
    }
    rep->files++;
    char *line;
    size_t len;
    bool nl;
    int rc = 0;
    while (rc == 0 && next_line(&r, &line, &len, &nl)) {
        if (!nl) rc = broken(rep, file, r.no, "incomplete line (the writer stopped mid-line)");
        else if (len > AUDIT_MAX_LINE) rc = broken(rep, file, r.no, "line too long");
        else if (r.no == 1) rc = check_header(mac, c, line, len, file, rep);
        else rc = check_record(&r, mac, c, line, len, file, rep);
        if (rc == 0) rep->lines++;
    }
    if (rc == 0 && r.no == 0) rc = broken(rep, file, 1, "empty file (no header line)");
    c->prev_path = path;
    free(r.buf);
    fclose(r.f);
    return rc;
}

int audit_verify_files(const char *const *paths, int n, const uint8_t *key, size_t key_len, audit_report *rep) {
    memset(rep, 0, sizeof *rep);
    rep->bad_file = -1;
    r1_error err;
    auth_hmac *mac = auth_hmac_new(key, key_len, &err);
    if (!mac) {
        snprintf(rep->reason, sizeof rep->reason, "%.200s", err.message);
        return -1;
    }
    chain c = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = verify_file(paths[i], i, mac, &c, rep);
    auth_hmac_free(mac);
    return rc;
}

int audit_verify(const char *path, const uint8_t *key, size_t key_len, audit_report *rep) {
    const char *paths[1] = {path};
    return audit_verify_files(paths, 1, key, key_len, rep);
}
