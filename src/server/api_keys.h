/*
 * api_keys.h - API keys for sites without an identity provider, kept in a
 * SQLite database (WAL mode, file mode 0600).
 *
 * A key is "r1-" followed by 43 base64url characters (32 bytes from
 * getrandom). Its first 8 characters after "r1-" are the key's id: not
 * secret, shown by `r1 keys list`, used to find the row; never starting
 * with '-', so that it can be typed as a command-line argument. The key itself is
 * never stored: each row holds a random 16-byte salt and HMAC-SHA256(salt,
 * key), compared in constant time (CRYPTO_memcmp). The keys are random and
 * long, so a fast hash is the right one (a slow password hash protects
 * guessable secrets; these are not).
 *
 * Each key carries a name (unique among keys not revoked), its scopes
 * (space-separated, see auth_scopes.h), optional limits (requests/min,
 * tokens/min, tokens/day; 0 = none of its own), its creation time and a
 * revoked flag. Revoking is immediate for every process with the database
 * open: api_keys_verify() reads the row each time.
 *
 * One api_keys handle may be used from many threads (calls are serialised
 * on its mutex); several processes may open the same file (the server and
 * `r1 keys` at once).
 */
#ifndef R1_SERVER_API_KEYS_H
#define R1_SERVER_API_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "server/auth_scopes.h"

#define API_KEY_PREFIX "r1-"
#define API_KEY_ID_LEN 8
#define API_KEY_TEXT_LEN 46 /* "r1-" + 43 */
#define API_KEY_NAME_MAX 64

typedef struct api_keys api_keys;

typedef struct api_key_limits {
    int64_t requests_per_min; /* 0: no limit of its own */
    int64_t tokens_per_min;
    int64_t tokens_per_day;
} api_key_limits;

typedef struct api_key_info {
    char id[API_KEY_ID_LEN + 1];
    char name[API_KEY_NAME_MAX + 1];
    char scopes[AUTH_MAX_SCOPES_TEXT];
    api_key_limits limits;
    int64_t created;    /* seconds since the epoch */
    bool revoked;
    int64_t revoked_at; /* 0 when not revoked */
} api_key_info;

/* Opens (creating when missing, with mode 0600) the database at path. */
api_keys *api_keys_open(const char *path, r1_error *err);
void api_keys_close(api_keys *db);

/* Creates a key. name: 1..64 of [A-Za-z0-9._@-]; scopes: a list
 * auth_scopes_normalize() accepts. key_out gets the key text (NUL-terminated,
 * API_KEY_TEXT_LEN + 1 bytes), to show once; info (may be NULL) the row. */
int api_keys_create(api_keys *db, const char *name, const char *scopes, const api_key_limits *limits, int64_t now,
                    char key_out[API_KEY_TEXT_LEN + 1], api_key_info *info, r1_error *err);

/* All keys, oldest first, in a new array (free() it); never the key text. */
int api_keys_list(api_keys *db, api_key_info **out, size_t *n, r1_error *err);

/* Revokes the key whose id is id_or_name, else the active key with that
 * name. info (may be NULL) gets the revoked row. 0 or -1 (not found,
 * already revoked, database error). */
int api_keys_revoke(api_keys *db, const char *id_or_name, int64_t now, api_key_info *info, r1_error *err);

/* The outcome of presenting a key. */
typedef enum api_key_status {
    API_KEY_VALID = 0,
    API_KEY_INVALID = -1, /* unknown, wrong or revoked: 401 (err says which, safe to send) */
    API_KEY_ERROR = -2,   /* the database failed: 500 (err says why, for the log) */
} api_key_status;

/* Checks a presented key (len bytes, not NUL-terminated); on success info
 * gets its row. The hash comparison takes the same time whether or not the
 * id exists and whatever bytes differ. */
api_key_status api_keys_verify(api_keys *db, const char *key, size_t len, api_key_info *info, r1_error *err);

/* True when the text has the shape of an r1 API key (to tell it from a
 * JWT in an Authorization header). */
bool api_key_looks_like(const char *key, size_t len);

#endif
