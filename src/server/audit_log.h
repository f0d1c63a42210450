/*
 * audit_log.h - the tamper-evident audit log: one JSON line per request,
 * each carrying an HMAC-SHA256 that chains it to the line before, so that
 * editing, deleting, reordering or inserting a line is detected by
 * `r1 audit verify` (audit_verify_files) and located.
 *
 * Format. Every file starts with a header line, then one record per line:
 *   {"r1_audit":1,"file":2,"seq":1042,"prev":"<64 hex>","time":"...","hmac":"<64 hex>"}
 *   {"seq":1042,"time":"2026-11-30T21:09:05.123Z","request_id":"...","subject":"...",
 *    "auth":"jwt","scopes":"chat","endpoint":"/v1/chat/completions","model":"...",
 *    "prompt_tokens":12,"completion_tokens":34,"status":200,"latency_ms":812,"hmac":"<64 hex>"}
 * (strings a caller leaves NULL are written as null; "prompt" and
 * "completion" follow "latency_ms" only when content logging is on).
 *
 * The chain. A line's canonical bytes are the line's bytes before its final
 * `,"hmac":"<64 hex>"}` (the exact bytes written, not a re-serialisation;
 * "hmac" is always the last member). Its hmac is
 *     HMAC-SHA256(key, prev || canonical bytes)
 * where prev is the 32-byte hmac of the line before it in the file, and for
 * the header line the 32 bytes its "prev" names: zeros in the first file,
 * and after a rotation the hmac of the last line of the previous file. So a
 * rotated file verifies alone, and files given in order verify as one chain
 * (each header's "prev" must be the previous file's last hmac, "file"
 * numbers and "seq" numbers must continue). "seq" counts records across
 * files from 1 and tells a removed line from an edited or a moved one.
 *
 * Limits of any such chain: removing lines at the very end of the newest
 * file is only visible against an outside record of the last hmac (the
 * server can log it), and whoever holds the key can rewrite the chain.
 *
 * Rotation by size: when a record would take the file past max_bytes, the
 * file is renamed PATH.NNNNNN (its file number, 6 digits) and a new PATH
 * starts with a header chained to the old file's last hmac; verify the
 * whole history with `r1 audit verify PATH.* PATH` (the glob sorts them).
 * Reopening an existing PATH continues its chain; when its last line is
 * incomplete (a crash mid-write) a new file is started instead, chained to
 * the last complete line, and the torn line stays for verify to report.
 *
 * Writes are one write(2) per line on an O_APPEND descriptor, under a
 * mutex (audit_append is thread-safe); fsync policy: every line, every N
 * lines, or never (the kernel's page cache; survives a crash of r1, not of
 * the machine).
 */
#ifndef R1_SERVER_AUDIT_LOG_H
#define R1_SERVER_AUDIT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define AUDIT_KEY_MIN 32 /* bytes in the key file */

typedef enum audit_fsync {
    AUDIT_FSYNC_EVERY_LINE,
    AUDIT_FSYNC_EVERY_N, /* every fsync_every lines, and at close and rotation */
    AUDIT_FSYNC_NEVER,   /* only at close and rotation */
} audit_fsync;

typedef struct audit_config {
    const char *path;     /* the current file */
    const char *key_file; /* the HMAC key: >= 32 bytes */
    audit_fsync fsync;
    int fsync_every;      /* for AUDIT_FSYNC_EVERY_N, >= 1 */
    uint64_t max_bytes;   /* rotate past this size; 0: never */
    bool content;         /* write prompt and completion text (--audit-content) */
} audit_config;

typedef struct audit_entry {
    int64_t time_ms;         /* wall clock, ms since the epoch */
    const char *request_id;
    const char *subject;     /* JWT sub or key id; NULL when auth is off */
    const char *auth;        /* "jwt", "key", or NULL */
    const char *scopes;      /* the scope that allowed the request */
    const char *endpoint;
    const char *model;
    int64_t prompt_tokens, completion_tokens;
    int status;
    int64_t latency_ms;
    const char *prompt;      /* written only with config.content */
    const char *completion;
} audit_entry;

typedef struct audit_log audit_log;

/* Opens (or creates, mode 0600) the log and reads the key. NULL with why. */
audit_log *audit_open(const audit_config *config, r1_error *err);

/* Appends one record. Thread-safe. -1 when the line could not be written
 * (the chain stays consistent: the next line chains from the last written). */
int audit_append(audit_log *log, const audit_entry *entry, r1_error *err);

/* The hmac of the last line written, as 64 hex digits (for the server's own
 * log: an outside anchor against removal at the end). */
void audit_last_hmac(audit_log *log, char hex[65]);

/* Flushes to disk and closes; -1 when the final fsync failed. */
int audit_close(audit_log *log, r1_error *err);

typedef struct audit_report {
    int64_t lines;     /* lines verified, headers included (what wc -l counts) */
    int64_t records;   /* records verified (headers not counted) */
    int files;         /* files read */
    int bad_file;      /* index into paths of the first bad file, -1 when all is well */
    int64_t bad_line;  /* 1-based line number in that file */
    char reason[256];  /* why, e.g. "hmac mismatch (edited, or a line before it was removed)" */
    char note[256];    /* "" or a remark that does not fail (e.g. the chain starts at file 3) */
} audit_report;

/* Verifies files in chain order under key. 0: intact; 1: broken (report
 * says where and why); -1: a file could not be read (report->reason). */
int audit_verify_files(const char *const *paths, int n, const uint8_t *key, size_t key_len, audit_report *report);

/* One file. */
int audit_verify(const char *path, const uint8_t *key, size_t key_len, audit_report *report);

#endif
