/*
 * api_keys.c - the API-key store in SQLite: schema, create, list, revoke,
 * and the constant-time check of a presented key (see api_keys.h).
 */
#include "server/api_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "server/auth_crypto.h"

#define SALT_LEN 16
#define KEY_RANDOM_BYTES 32
#define SCHEMA_VERSION 1

struct api_keys {
    sqlite3 *db;
    pthread_mutex_t lock; /* serialises the handle and its cached statement */
    sqlite3_stmt *find;   /* the row of one id, for verify */
};

static const char *SCHEMA =
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " id TEXT PRIMARY KEY,"           /* the key's first 8 characters after r1- */
    " name TEXT NOT NULL,"
    " scopes TEXT NOT NULL,"          /* space-separated */
    " requests_per_min INTEGER NOT NULL DEFAULT 0,"
    " tokens_per_min INTEGER NOT NULL DEFAULT 0,"
    " tokens_per_day INTEGER NOT NULL DEFAULT 0,"
    " salt BLOB NOT NULL,"
    " hash BLOB NOT NULL,"            /* HMAC-SHA256(salt, key) */
    " created INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0,"
    " revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX IF NOT EXISTS api_keys_active_name ON api_keys(name) WHERE revoked = 0;";

#define COLUMNS "id, name, scopes, requests_per_min, tokens_per_min, tokens_per_day, created, revoked, revoked_at"

static int db_error(api_keys *k, r1_error *err, const char *what) {
    return r1_error_set(err, "key database: %s: %s", what, sqlite3_errmsg(k->db));
}

/* Copies the COLUMNS of the current row into info. */
static void row_info(sqlite3_stmt *st, api_key_info *info) {
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(info->name, sizeof info->name, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(info->scopes, sizeof info->scopes, "%s", (const char *)sqlite3_column_text(st, 2));
    info->limits.requests_per_min = sqlite3_column_int64(st, 3);
    info->limits.tokens_per_min = sqlite3_column_int64(st, 4);
    info->limits.tokens_per_day = sqlite3_column_int64(st, 5);
    info->created = sqlite3_column_int64(st, 6);
    info->revoked = sqlite3_column_int64(st, 7) != 0;
    info->revoked_at = sqlite3_column_int64(st, 8);
}

/* ---- open ---- */

static int check_version(api_keys *k, r1_error *err) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(k->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(k, err, "reading its version");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) return r1_error_set(err, "key database: made by a newer r1 (schema %d)", version);
    if (version < SCHEMA_VERSION &&
        sqlite3_exec(k->db, "PRAGMA user_version = 1", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(k, err, "setting its version");
    return 0;
}

static int init_db(api_keys *k, r1_error *err) {
    sqlite3_busy_timeout(k->db, 5000);
    if (sqlite3_exec(k->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;", NULL, NULL, NULL) != SQLITE_OK)
        return db_error(k, err, "setting WAL mode");
    if (sqlite3_exec(k->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) return db_error(k, err, "creating the table");
    if (check_version(k, err) != 0) return -1;
    const char *find = "SELECT " COLUMNS ", salt, hash FROM api_keys WHERE id = ?1";
    if (sqlite3_prepare_v3(k->db, find, -1, SQLITE_PREPARE_PERSISTENT, &k->find, NULL) != SQLITE_OK)
        return db_error(k, err, "preparing a query");
    return 0;
}

api_keys *api_keys_open(const char *path, r1_error *err) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* so that a new file is private */
    if (fd < 0) return r1_error_set(err, "%s: %s", path, strerror(errno)), NULL;
    close(fd);
    api_keys *k = calloc(1, sizeof *k);
    if (!k) return r1_error_set(err, "out of memory"), NULL;
    pthread_mutex_init(&k->lock, NULL);
    int rc = sqlite3_open_v2(path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (k->db) db_error(k, err, "opening");
        else r1_error_set(err, "key database: out of memory");
    }
    if (rc != SQLITE_OK || init_db(k, err) != 0) {
        r1_error_prefix(err, "%s", path);
        api_keys_close(k);
        return NULL;
    }
    return k;
}

void api_keys_close(api_keys *k) {
    if (!k) return;
    sqlite3_finalize(k->find);
    sqlite3_close(k->db);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* ---- create ---- */

static int check_name(const char *name, r1_error *err) {
    size_t n = strlen(name);
    if (n == 0 || n > API_KEY_NAME_MAX) return r1_error_set(err, "a key name has 1 to %d characters", API_KEY_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '@' || c == '-';
        if (!ok) return r1_error_set(err, "a key name may hold letters, digits and . _ @ - only");
    }
    return 0;
}

static int check_limits(const api_key_limits *l, r1_error *err) {
    if (l && (l->requests_per_min < 0 || l->tokens_per_min < 0 || l->tokens_per_day < 0))
        return r1_error_set(err, "limits cannot be negative");
    return 0;
}

static bool active_name_exists(api_keys *k, const char *name) {
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(k->db, "SELECT 1 FROM api_keys WHERE name = ?1 AND revoked = 0", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

/* Makes a new key text and its salted hash. */
static int new_key(char key[API_KEY_TEXT_LEN + 1], uint8_t salt[SALT_LEN], uint8_t hash[AUTH_HMAC_LEN],
                   r1_error *err) {
    uint8_t random[KEY_RANDOM_BYTES];
    memcpy(key, API_KEY_PREFIX, 3);
    /* The id (the key's first characters) is typed on command lines, where
     * one starting with '-' reads as an option: draw again (1 draw in 64). */
    do {
        if (auth_random(random, sizeof random, err) != 0) return -1;
        auth_base64url_encode(random, sizeof random, key + 3);
    } while (key[3] == '-');
    if (auth_random(salt, SALT_LEN, err) != 0) return -1;
    OPENSSL_cleanse(random, sizeof random);
    if (auth_hmac_once(salt, SALT_LEN, key, API_KEY_TEXT_LEN, hash) != 0)
        return r1_error_set(err, "HMAC-SHA256 failed");
    return 0;
}

/* Inserts one row; SQLITE_DONE, SQLITE_CONSTRAINT (the id exists) or an error. */
static int insert_row(api_keys *k, const char *key, const char *name, const char *scopes, const api_key_limits *l,
                      const uint8_t *salt, const uint8_t *hash, int64_t now) {
    static const char *sql = "INSERT INTO api_keys (id, name, scopes, requests_per_min, tokens_per_min, "
                             "tokens_per_day, salt, hash, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(k->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(st, 1, key + 3, API_KEY_ID_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, scopes, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, l ? l->requests_per_min : 0);
    sqlite3_bind_int64(st, 5, l ? l->tokens_per_min : 0);
    sqlite3_bind_int64(st, 6, l ? l->tokens_per_day : 0);
    sqlite3_bind_blob(st, 7, salt, SALT_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, hash, AUTH_HMAC_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, now);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc;
}

static int create_locked(api_keys *k, const char *name, const char *scopes, const api_key_limits *l, int64_t now,
                         char key[API_KEY_TEXT_LEN + 1], r1_error *err) {
    for (int attempt = 0; attempt < 4; attempt++) {
        uint8_t salt[SALT_LEN], hash[AUTH_HMAC_LEN];
        if (new_key(key, salt, hash, err) != 0) return -1;
        int rc = insert_row(k, key, name, scopes, l, salt, hash, now);
        if (rc == SQLITE_DONE) return 0;
        OPENSSL_cleanse(key, API_KEY_TEXT_LEN + 1);
        if (rc != SQLITE_CONSTRAINT) return db_error(k, err, "adding the key");
        if (active_name_exists(k, name))
            return r1_error_set(err, "a key named '%s' exists (revoke it first, or pick another name)", name);
        /* else the random id was taken: draw again */
    }
    return r1_error_set(err, "could not draw an unused key id");
}

static int find_by_id(api_keys *k, const char *id, api_key_info *info);

int api_keys_create(api_keys *k, const char *name, const char *scopes, const api_key_limits *limits, int64_t now,
                    char key_out[API_KEY_TEXT_LEN + 1], api_key_info *info, r1_error *err) {
    char canonical[AUTH_MAX_SCOPES_TEXT];
    key_out[0] = '\0';
    if (check_name(name, err) != 0 || check_limits(limits, err) != 0 ||
        auth_scopes_normalize(scopes, canonical, sizeof canonical, err) != 0)
        return -1;
    pthread_mutex_lock(&k->lock);
    int rc = create_locked(k, name, canonical, limits, now, key_out, err);
    if (rc == 0 && info) {
        char id[API_KEY_ID_LEN + 1];
        snprintf(id, sizeof id, "%s", key_out + 3);
        find_by_id(k, id, info);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

/* ---- list, revoke ---- */

int api_keys_list(api_keys *k, api_key_info **out, size_t *n, r1_error *err) {
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&k->lock);
    int rc = sqlite3_prepare_v2(k->db, "SELECT " COLUMNS " FROM api_keys ORDER BY created, rowid", -1, &st, NULL);
    size_t cap = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            api_key_info *grown = realloc(*out, cap * sizeof **out);
            if (!grown) break;
            *out = grown;
        }
        row_info(st, &(*out)[(*n)++]);
        rc = SQLITE_OK;
    }
    int result = rc == SQLITE_DONE ? 0 : db_error(k, err, "listing the keys");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&k->lock);
    if (result != 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return result;
}

/* 1 with the row the query (one text parameter) selects, 0 when none. */
static int find_row(api_keys *k, const char *sql, const char *value, api_key_info *info) {
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(k->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            row_info(st, info);
            found = 1;
        }
    }
    sqlite3_finalize(st);
    return found;
}

static int find_by_id(api_keys *k, const char *id, api_key_info *info) {
    return find_row(k, "SELECT " COLUMNS " FROM api_keys WHERE id = ?1", id, info);
}

static int revoke_locked(api_keys *k, const char *id_or_name, int64_t now, api_key_info *info, r1_error *err) {
    bool by_id = find_by_id(k, id_or_name, info);
    if (!by_id && !find_row(k, "SELECT " COLUMNS " FROM api_keys WHERE name = ?1 AND revoked = 0", id_or_name, info))
        return r1_error_set(err, "no key with the id or name '%.64s' (revoked keys are found by id)", id_or_name);
    if (info->revoked) return r1_error_set(err, "key %s ('%s') is already revoked", info->id, info->name);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(k->db, "UPDATE api_keys SET revoked = 1, revoked_at = ?2 WHERE id = ?1 AND revoked = 0",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, info->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return db_error(k, err, "revoking the key");
    if (sqlite3_changes(k->db) != 1) return r1_error_set(err, "key %s was revoked meanwhile", info->id);
    info->revoked = true;
    info->revoked_at = now;
    return 0;
}

int api_keys_revoke(api_keys *k, const char *id_or_name, int64_t now, api_key_info *info, r1_error *err) {
    api_key_info local;
    pthread_mutex_lock(&k->lock);
    int rc = revoke_locked(k, id_or_name, now, info ? info : &local, err);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

/* ---- verify ---- */

bool api_key_looks_like(const char *key, size_t len) {
    return len == API_KEY_TEXT_LEN && memcmp(key, API_KEY_PREFIX, 3) == 0 && auth_is_base64url(key + 3, len - 3);
}

/* Reads the salt and hash of the found row; false (and zeroes) when the
 * row's blobs are not of the right size. */
static bool row_secret(sqlite3_stmt *st, uint8_t salt[SALT_LEN], uint8_t hash[AUTH_HMAC_LEN]) {
    const void *s = sqlite3_column_blob(st, 9), *h = sqlite3_column_blob(st, 10);
    if (!s || !h || sqlite3_column_bytes(st, 9) != SALT_LEN || sqlite3_column_bytes(st, 10) != AUTH_HMAC_LEN) {
        memset(salt, 0, SALT_LEN);
        memset(hash, 0, AUTH_HMAC_LEN);
        return false;
    }
    memcpy(salt, s, SALT_LEN);
    memcpy(hash, h, AUTH_HMAC_LEN);
    return true;
}

api_key_status api_keys_verify(api_keys *k, const char *key, size_t len, api_key_info *info, r1_error *err) {
    memset(info, 0, sizeof *info);
    if (!api_key_looks_like(key, len)) return r1_error_set(err, "malformed API key"), API_KEY_INVALID;
    uint8_t salt[SALT_LEN] = {0}, stored[AUTH_HMAC_LEN] = {0}, computed[AUTH_HMAC_LEN];
    bool found = false;
    pthread_mutex_lock(&k->lock);
    sqlite3_reset(k->find);
    sqlite3_bind_text(k->find, 1, key + 3, API_KEY_ID_LEN, SQLITE_TRANSIENT);
    int rc = sqlite3_step(k->find);
    if (rc == SQLITE_ROW) {
        row_info(k->find, info);
        found = row_secret(k->find, salt, stored);
    }
    api_key_status status = rc == SQLITE_ROW || rc == SQLITE_DONE ? API_KEY_VALID : API_KEY_ERROR;
    if (status == API_KEY_ERROR) db_error(k, err, "looking up a key");
    sqlite3_reset(k->find);
    pthread_mutex_unlock(&k->lock);
    if (status == API_KEY_ERROR) return status;
    /* The same work whether or not the id exists (an all-zero salt and hash otherwise). */
    bool same = auth_hmac_once(salt, SALT_LEN, key, len, computed) == 0 &&
                CRYPTO_memcmp(computed, stored, AUTH_HMAC_LEN) == 0;
    if (!found || !same) status = API_KEY_INVALID, r1_error_set(err, "invalid API key");
    else if (info->revoked) status = API_KEY_INVALID, r1_error_set(err, "API key revoked");
    if (status != API_KEY_VALID) memset(info, 0, sizeof *info);
    return status;
}
