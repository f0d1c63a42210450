/*
 * audit_internal.h - the audit line format shared by the writer
 * (audit_log.c) and the verifier (audit_verify.c): the hmac suffix every
 * line ends with, and the few members read back from a line.
 */
#ifndef R1_SERVER_AUDIT_INTERNAL_H
#define R1_SERVER_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/auth_crypto.h"

#define AUDIT_SUFFIX_OPEN ",\"hmac\":\""
#define AUDIT_SUFFIX_LEN (9 + 2 * AUTH_HMAC_LEN + 2) /* ,"hmac":"<64 hex>"} */
#define AUDIT_MAX_LINE (16u << 20)

/* Splits a line (without its newline) into its canonical bytes (the first
 * *body_len bytes) and its hmac. False when the line does not end with a
 * lower-case `,"hmac":"<64 hex>"}` or does not start with '{'. */
bool audit_split_line(const char *line, size_t len, size_t *body_len, uint8_t mac[AUTH_HMAC_LEN]);

/* What a line says about its place in the chain. */
typedef struct audit_line_info {
    bool header;       /* a file header ("r1_audit") */
    int64_t file;      /* header: the file number */
    int64_t seq;       /* record: its seq; header: the seq of the file's first record */
    uint8_t prev[AUTH_HMAC_LEN]; /* header: the hmac it chains from */
} audit_line_info;

/* Parses the JSON of a line; false when it is not an audit header or record. */
bool audit_parse_line(const char *line, size_t len, audit_line_info *info);

#endif
